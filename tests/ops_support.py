"""Helpers for operations tests: the hub as a real process (`hub serve`), ports, probes."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hub.settings import DEFAULT_POLICY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


class HubProcess:
    """`hub serve` as a child process with its stderr in a file (read it with `.log()`)."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, port: int) -> None:
        self.port = port
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--port", str(port), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while http_status(self.url + "/readyz") != 200:
            assert self.proc.poll() is None, f"hub exited {self.proc.returncode}:\n{self.log()[-3000:]}"
            assert time.monotonic() < deadline, f"hub not ready:\n{self.log()[-3000:]}"
            time.sleep(0.2)

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log.close()


StartHub = Callable[..., HubProcess]


def sample(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    total = 0.0
    for line in text.splitlines():
        m = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if m and ",".join(sorted((m.group(1) or "").split(","))) == want:
            total += float(m.group(2))
    return total


def write_rest_connector(directory: Path, policy_file: Path, url: str, **policy: Any) -> None:
    """A YAML-only `partner_benefits` REST connector by NINO at `url`, and a policy granting it to caseworkers.

    ``policy`` adds resilience settings (timeout, retry, ...) to the connector's file.
    """
    doc = {
        "kind": "rest",
        "description": "Benefit awards held by a partner department (test upstream)",
        "owner": "partner-liaison@example.gov.uk",
        "match": "nino",
        "lawful_basis": "public_task",
        "purpose": "child-maintenance",
        "consent_required": False,
        "settings": {
            "url": f"{url}/benefits/{{key}}",
            "fields": {"award_type": {"path": "award.type", "type": "str", "required": True}},
        },
        **policy,
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "partner_benefits.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    grants = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    grants["grants"].append(
        {
            "role": "caseworker",
            "purpose": "child-maintenance",
            "connector": "partner_benefits",
            "read": ["Person.partnerBenefits", "PartnerBenefitsRecord.*"],
        }
    )
    policy_file.write_text(yaml.safe_dump(grants), encoding="utf-8")
