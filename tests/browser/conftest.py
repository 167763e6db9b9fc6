"""Browser fixtures: Debian's Chromium driven by Playwright, against a real hub served by uvicorn on loopback.

The hub runs over the session's real ArcadeDB and valkey, in dev mode on a dev key pair of its own, so
its pages' dev sign-in works exactly as under `make serve`. The pages' npm packages (govuk-frontend,
graphql-ws, axe-core) are installed from web/package-lock.json with `npm ci`. Chromium is Debian's
(`/usr/bin/chromium`): Playwright's own browser download cannot be reached here. Without it the fixture
installs it with apt-get when it can (root), and otherwise fails saying how; these tests never skip.

Every page's screenshot is kept under `.data/artifacts/browser/` (git-ignored; the path is printed).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from live_support import serve, webhook_secret
from support import npm_ci

from connectors.sandbox import SandboxState, SocialSandbox
from hub.auth import ensure_dev_keys, mint_token
from hub.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
ARTIFACTS = ROOT / ".data" / "artifacts" / "browser"
CHROMIUM = Path(os.environ.get("HUB_TEST_CHROMIUM", "/usr/bin/chromium"))
APT_TIMEOUT = 900
WEBHOOK_CONNECTOR = "payments"
BREAKER_RESET = 8  # seconds; longer than the console's 5 s refresh, so an open breaker is seen open
# axe-core rule tags for WCAG 2.0, 2.1 and 2.2, levels A and AA.
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def _install_chromium() -> None:
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        pytest.fail(
            f"the browser tests need Debian's Chromium at {CHROMIUM}: run `apt-get install -y chromium` as root "
            "(.ci/run does), or point HUB_TEST_CHROMIUM at a Chromium binary"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "chromium"]):
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=APT_TIMEOUT, env=env)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{' '.join(command)} took over {APT_TIMEOUT} s: is the Debian mirror reachable?")
        if result.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed (exit {result.returncode}):\n{result.stderr[-2000:]}")


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        _install_chromium()
    if not CHROMIUM.exists():
        pytest.fail(f"apt-get installed chromium but {CHROMIUM} is not there")
    return CHROMIUM


@pytest.fixture(scope="session")
def web_modules() -> Path:
    return npm_ci(WEB, "the pages and their browser tests")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"browser screenshots: {ARTIFACTS}")
    return ARTIFACTS


@pytest.fixture(scope="session")
def webhook_signing_secret() -> Iterator[str]:
    with webhook_secret(WEBHOOK_CONNECTOR) as value:
        yield value


@pytest.fixture(scope="session")
async def social() -> AsyncIterator[SocialSandbox]:
    """The social-profile sandbox: a real HTTP upstream for the hub's `social` connector."""
    async with SocialSandbox(SandboxState()) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def web_settings(settings: Settings, social: SocialSandbox, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Dev settings on a dev key pair of their own (so the dev sign-in exists) over the session's servers,
    with config/connectors/social.yaml pointed at the sandbox."""
    connectors = tmp_path_factory.mktemp("web-connectors")
    document = yaml.safe_load((ROOT / "config" / "connectors" / "social.yaml").read_text(encoding="utf-8"))
    document["settings"]["base_url"] = social.url
    # Two failed calls open the breaker, for BREAKER_RESET seconds: the console test watches it cycle.
    document.update(retry={"attempts": 1}, breaker={"failure_threshold": 2, "reset_timeout": BREAKER_RESET})
    (connectors / "social.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    dev = settings.model_copy(
        update={"auth_jwks_file": None, "data_dir": tmp_path_factory.mktemp("web-hub"), "connectors_dir": connectors}
    )
    assert dev.dev_tokens
    return dev


@pytest.fixture(scope="session")
def hub_url(web_settings: Settings, web_modules: Path, webhook_signing_secret: str) -> Iterator[str]:
    """The dev hub, served by uvicorn on a free loopback port."""
    with serve(web_settings) as url:
        yield url


@pytest.fixture(scope="session")
def hub_token(web_settings: Settings) -> Any:
    """hub_token(roles=[...], subject=...) -> a token that hub accepts (signed with its dev key)."""
    private, _ = ensure_dev_keys(web_settings.data_dir)

    def mint(roles: list[str] | None = None, subject: str = "staff-1", **kw: Any) -> str:
        return mint_token(
            private.read_bytes(),
            issuer=web_settings.auth_issuer,
            audience=web_settings.auth_audience,
            subject=subject,
            roles=roles,
            **kw,
        )

    return mint


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), headless=True)
        try:
            yield launched
        finally:
            await launched.close()


class PageProblems(list[str]):
    """Script errors and failed loads a page reported: a page test fails on any."""


@pytest.fixture
async def page(browser: Any, request: pytest.FixtureRequest, artifacts: Path) -> AsyncIterator[Any]:
    """A fresh browser context and page with axe-core preloaded; its screenshot is saved at teardown.

    axe is added as an init script (through the DevTools protocol), so the pages' Content-Security-Policy
    stays in force for everything else.
    """
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    await context.add_init_script(path=str(WEB / "node_modules" / "axe-core" / "axe.min.js"))
    page = await context.new_page()
    problems = PageProblems()
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.problems = problems
    try:
        yield page
    finally:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        shot = artifacts / f"{name}.png"
        try:
            await page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
        finally:
            await context.close()


@pytest.fixture(scope="session")
def axe() -> Any:
    """axe(page) -> axe-core's WCAG 2.2 A/AA violations on the page as it stands, and their description."""

    async def scan(page: Any) -> tuple[list[dict[str, Any]], str]:
        result = await page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
            WCAG_AA,
        )
        violations: list[dict[str, Any]] = result["violations"]
        text = "\n".join(
            f"{v['impact']}: {v['id']} ({v['help']}): " + "; ".join(str(n["target"][0]) for n in v["nodes"][:5])
            for v in violations
        )
        return violations, text

    return scan


@pytest.fixture(scope="session")
def linkage_model() -> Any:
    """A linkage model trained with Splink on a small generated set (as tests/linkage trains a larger one)."""
    from bench.linkage import generate, train_on
    from hub.linkage import TrainingOptions

    return train_on(generate(800, 31, external=300, hard_cases=5), TrainingOptions(seed=31)).model
