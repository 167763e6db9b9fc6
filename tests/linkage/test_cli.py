"""`hub identities model`: the model in use, level by level; a clear error when there is none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hub.linkage import save_model


def hub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], capture_output=True, text=True, timeout=60, env=os.environ
    )


def config_for(tmp_path: Path) -> Path:
    config = tmp_path / "linkage.yaml"
    config.write_text(f"thresholds: {{auto_link_bits: 22, review_bits: 11}}\nmodels_dir: {tmp_path / 'models'}\n")
    return config


def test_no_model_yet(tmp_path: Path) -> None:
    result = hub("identities", "model", "--config", str(config_for(tmp_path)))
    assert result.returncode == 1 and "train one first" in result.stderr


def test_the_model_in_use_is_described(tmp_path: Path, trained) -> None:  # type: ignore[no-untyped-def]
    config = config_for(tmp_path)
    save_model(trained.document, tmp_path / "models")
    result = hub("identities", "model", "--config", str(config))
    assert result.returncode == 0, result.stderr
    levels = json.loads(result.stdout)
    assert {lv["comparison"] for lv in levels} >= {"given_name", "family_name", "date_of_birth", "postcode"}
