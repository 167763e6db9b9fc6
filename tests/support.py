"""Helpers shared by tests (importable: `pythonpath = ["tests"]`)."""

from __future__ import annotations

import contextlib
import random
import shutil
import string
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from graph.nino import PREFIXES


def random_nino(rng: random.Random | None = None) -> str:
    rng = rng or random.SystemRandom()
    return f"{rng.choice(PREFIXES)}{rng.randrange(1_000_000):06d}{rng.choice('ABCD')}"


def unique_family() -> str:
    """A family name no other test uses (letters only, as names must be)."""
    return "Test" + "".join(random.SystemRandom().choice(string.ascii_lowercase) for _ in range(12))


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve an aiohttp app (a real upstream for tests) on a free loopback port; yields its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


NPM_CI_TIMEOUT = 600.0


def npm_ci(folder: Path, why: str) -> Path:
    """`npm ci` in `folder` (the pinned packages of its package-lock.json); returns its node_modules.

    Fails, never skips, without npm or the registry: `why` says what the packages are for.
    """
    import pytest

    if shutil.which("node") is None:
        pytest.fail(f"{why} need Node.js 20+ on PATH (apt-get install nodejs npm)")
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(f"{why} need npm on PATH to install the pinned packages of {folder.name}/")
    started = time.perf_counter()
    try:
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=NPM_CI_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"npm ci in {folder} took over {NPM_CI_TIMEOUT:.0f} s: is the npm registry reachable?")
    if result.returncode != 0:
        pytest.fail(
            f"npm ci in {folder} failed (exit {result.returncode}): is the npm registry reachable?\n"
            + result.stderr[-3000:]
        )
    print(f"npm ci in {folder.name}/: {time.perf_counter() - started:.1f} s")  # shown with -s / -rP
    return folder / "node_modules"
