"""Connectors at the composition root: reading `HUB_CONNECTORS_DIR`, the shared session and registry,
and the demo sandbox that `hub serve --demo` starts.

Start-up policy: a connector whose YAML is invalid stops the hub with an error naming the file and key
(`ConnectorConfigError`): that is a mistake in the repository. A connector whose *secrets* are missing from
the environment is a deployment matter of one source, so the hub starts with that connector disabled (its
fields are typed as usual and answer CONNECTOR_DISABLED; /readyz stays ok) and logs an error naming the
file, key and variable; `hub connectors check` exits 1 for it. In dev only, the sandbox's credentials stand
in for `SOCIAL_CLIENT_ID` / `SOCIAL_CLIENT_SECRET` when they are unset.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from connectors import ConnectorConfigError, ConnectorRegistry, Source, create_session, load_specs
from connectors.cache import RecordCache
from connectors.errors import ConfigProblem
from connectors.registry import ConnectorSpec, build_connector
from connectors.switches import Switch, Switches
from graph.driver import Graph
from hub.embedded import EmbeddedError, pdeathsig_preexec
from hub.settings import Settings

__all__ = [
    "DEV_SECRETS",
    "DemoSandbox",
    "DemoSandboxes",
    "connector_environ",
    "link_demo_people",
    "load_connector_specs",
    "open_registry",
    "running_connectors",
    "schema_specs",
]

log = logging.getLogger(__name__)

# The sandbox's own defaults (`python -m connectors.sandbox`): never valid against a real upstream.
DEV_SECRETS: Mapping[str, str] = {
    "SOCIAL_CLIENT_ID": "sandbox-client",
    "SOCIAL_CLIENT_SECRET": "sandbox-secret",
    "PAYMENTS_CLIENT_ID": "sandbox-client",
    "PAYMENTS_CLIENT_SECRET": "sandbox-secret",
    "EARNINGS_API_KEY": "sandbox-api-key",
    "PARTNER_GRAPHQL_TOKEN": "sandbox-api-key",
}
DEMO_SOCIAL_PORT = 8101  # config/connectors/social.yaml points here
DEMO_PAYMENTS_PORT = 8102  # bank_payments.yaml
DEMO_EARNINGS_PORT = 8103  # employer_earnings.yaml
DEMO_PARTNER_PORT = 8104  # partner_household.yaml
DEMO_PUSH_EVERY = 45  # seconds between payments the demo bank pushes
DEMO_WEBHOOK_ENV = "HUB_WEBHOOK_SECRET_BANK_PAYMENTS"
DEV_WEBHOOK_SECRET = "whsec_c2FuZGJveC1iYW5rLXdlYmhvb2stc2VjcmV0LTAx"  # dev only, like DEV_SECRETS
DEMO_LINKED_PEOPLE = 25
DEMO_SEED = 42  # `hub serve --demo` seeds with this


def connector_environ(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if environ is None else environ)
    if settings.dev:
        for name, value in DEV_SECRETS.items():
            env.setdefault(name, value)
    return env


class _AnySecret(dict[str, str]):
    """An environment in which every variable is set: for building the schema without any secrets."""

    def get(self, key: str, default: str | None = None) -> str:  # type: ignore[override]
        return super().get(key) or "unset"


def load_connector_specs(settings: Settings, *, strict: bool = False) -> list[ConnectorSpec]:
    """Every connector in `settings.connectors_dir`, validated; raises `ConnectorConfigError` (file, key).

    Unless ``strict``, a connector whose only problems are unset secrets comes back disabled (see above).
    """
    environ = connector_environ(settings)
    try:
        return load_specs(settings.connectors_dir, environ=environ)
    except ConnectorConfigError as exc:
        if strict or not all(_unset_secret(p) for p in exc.problems):
            raise
        unset = exc.problems
    specs = load_specs(settings.connectors_dir, environ=_AnySecret(environ))
    out: list[ConnectorSpec] = []
    for spec in specs:
        problems = [p for p in unset if p.file == spec.file]
        if problems:
            log.error(
                "connector %s disabled until its secrets are set: %s",
                spec.config.name,
                "; ".join(str(p) for p in problems),
            )
            blocked = "its secrets are not set: " + "; ".join(f"{p.key}: {p.message}" for p in problems)
            spec = ConnectorSpec(spec.file, spec.kind, spec.config.model_copy(update={"enabled": False}), blocked)
        out.append(spec)
    return out


def _unset_secret(problem: ConfigProblem) -> bool:
    return problem.message.startswith("environment variable ") and "is not set" in problem.message


def schema_specs(settings: Settings) -> list[ConnectorSpec]:
    """The specs for printing the schema: validated, but secrets need not be present (nothing connects)."""
    return load_specs(settings.connectors_dir, environ=_AnySecret(os.environ))


def open_registry(
    specs: list[ConnectorSpec], session: aiohttp.ClientSession, redis: aioredis.Redis | None
) -> ConnectorRegistry:
    cache = RecordCache(redis) if redis is not None else None
    switches = Switches(redis) if redis is not None else None  # on/off shared by every replica
    return ConnectorRegistry(
        Source(build_connector(spec, session=session), cache=cache, switches=switches, blocked=spec.blocked)
        for spec in specs
    )


@contextlib.asynccontextmanager
async def running_connectors(
    specs: list[ConnectorSpec], redis: aioredis.Redis | None, graph: Graph | None = None
) -> AsyncIterator[ConnectorRegistry]:
    """One session and one registry for the process; both closed on exit.

    With ``graph``, stewards' last decisions are put back into Redis where it lost them (a flushed or new
    Redis): the graph keeps the record, Redis the live switch every replica reads.
    """
    session = create_session()
    try:
        registry = open_registry(specs, session, redis)
        if graph is not None and redis is not None:
            await restore_switches(registry, graph, Switches(redis))
        try:
            yield registry
        finally:
            await registry.aclose()
    finally:
        await session.close()


async def restore_switches(registry: ConnectorRegistry, graph: Graph, switches: Switches) -> int:
    """For each connector Redis holds no switch for, the latest recorded decision (if any); how many restored.

    Never stops start-up: a graph or Redis failure here is logged and the YAML holds until a steward acts.
    """
    from graph.connector_decisions import decisions_for

    names = registry.names
    try:
        latest = await decisions_for(graph, names, limit=1)
        restored = 0
        for name, found in zip(names, latest, strict=True):
            if found:
                d = found[0]
                switch = Switch(d.action == "enable", d.at, d.actor, d.reason)
                restored += await switches.restore(name, switch)
    except Exception as exc:  # noqa: BLE001 - availability first; the failure is visible in the log
        log.warning("connector switches not restored from the graph (%s)", type(exc).__name__)
        return 0
    if restored:
        log.info("restored %d connector switch(es) from the graph's record of decisions", restored)
    return restored


class DemoSandbox:
    """One sandbox upstream as a child process (`python -m connectors.sandbox --kind …`) on the port the demo
    YAML in `config/connectors/` names. If something already listens there (another hub's demo sandbox), it
    is left to answer instead.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int = DEMO_SOCIAL_PORT,
        ready_timeout: float = 15.0,
        *,
        kind: str = "social",
        extra: Sequence[str] = (),
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.ready_timeout = ready_timeout
        self.kind = kind
        self.extra = list(extra)
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> DemoSandbox:
        if _accepts(self.port):
            # Most likely another hub's demo sandbox; the demo is not worth failing start-up for.
            log.warning(
                "port %d is in use: not starting the demo %s sandbox (using what listens there)", self.port, self.kind
            )
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.data_dir / f"{self.kind}-sandbox.log"
        log_file = log_path.open("ab")
        args = [sys.executable, "-m", "connectors.sandbox", "--kind", self.kind, "--port", str(self.port)]
        args += ["--client-id", DEV_SECRETS["SOCIAL_CLIENT_ID"], "--client-secret", DEV_SECRETS["SOCIAL_CLIENT_SECRET"]]
        args += ["--api-key", DEV_SECRETS["EARNINGS_API_KEY"], *self.extra]
        self.process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            args,
            stdout=log_file,
            stderr=log_file,
            preexec_fn=pdeathsig_preexec(),  # noqa: PLW1509
        )
        log_file.close()
        deadline = time.monotonic() + self.ready_timeout
        while not _accepts(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise EmbeddedError(f"the {self.kind} sandbox did not start; see {log_path}")
            time.sleep(0.05)
        log.info("%s sandbox listening on 127.0.0.1:%d", self.kind, self.port)
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class DemoSandboxes:
    """Every demo upstream (`make serve`): the social network, the bank, the earnings API, the partner's GraphQL.

    The bank pushes a "payment received" webhook for one mandated account every `DEMO_PUSH_EVERY` seconds to
    this hub, signed with the dev webhook secret (set for the hub process too, unless one is configured).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> DemoSandboxes:
        secret = os.environ.setdefault(DEMO_WEBHOOK_ENV, DEV_WEBHOOK_SECRET)
        hub = f"http://{self.settings.host}:{self.settings.port}/webhooks/bank_payments"
        bank = ["--hub-url", hub, "--webhook-secret", secret, "--push-every", str(DEMO_PUSH_EVERY)]
        # A little of a real upstream's weather: latency everywhere, and the bank fails one request in 50
        # (retries absorb it; the steward's `connectors` view shows it in errorRate).
        bank += ["--latency", "0.05", "--error-rate", "0.02"]
        data = self.settings.data_dir
        try:
            for kind, port, extra in (
                ("social", DEMO_SOCIAL_PORT, ()),
                ("payments", DEMO_PAYMENTS_PORT, bank),
                ("earnings", DEMO_EARNINGS_PORT, ()),
                (
                    "partner",
                    DEMO_PARTNER_PORT,
                    ("--api-key", DEV_SECRETS["PARTNER_GRAPHQL_TOKEN"], "--latency", "0.03"),
                ),
            ):
                self._stack.enter_context(DemoSandbox(data, port, kind=kind, extra=extra))
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self._stack.close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


async def link_demo_people(settings: Settings, people: int = DEMO_LINKED_PEOPLE) -> list[str]:
    """Link the first seeded people to sandbox profiles and record their consent (idempotent); their ids."""
    from graph.consent import grant_consent
    from graph.errors import NotFound
    from graph.identity import link_identity
    from hub.app import connect_graph
    from hub.seed import _SLOTS, person_id

    specs = [s for s in load_connector_specs(settings) if s.config.name == "social"]
    if not specs:
        return []
    purpose = specs[0].config.purpose
    graph = connect_graph(settings)
    linked: list[str] = []
    try:
        # The seed's id space: household h, member k is slot (seed % 100) * 10_000_000 + h * 8 + k; not every
        # member slot of a household is used.
        base = (DEMO_SEED % 100) * 10_000_000
        for slot in range(base, base + settings.demo_people * _SLOTS):
            if len(linked) >= people:
                break
            pid = person_id(DEMO_SEED, slot)
            try:
                await link_identity(
                    graph, pid, "social", f"demo-{slot - base:05d}", method="demo", linked_by="hub-demo"
                )
            except NotFound:
                continue
            await grant_consent(graph, pid, "social", purpose)
            linked.append(pid)
        await _link_demo_bank_accounts(settings, graph, base)
    finally:
        await graph.close()
    return linked


async def _link_demo_bank_accounts(settings: Settings, graph: Graph, base: int) -> int:
    """Paying parents of the demo cases: a sandbox bank account each (linked, consented, and mandated at the
    sandbox bank to their case, so its payments and pushed webhooks name the case). Idempotent."""
    import aiohttp

    from graph.consent import grant_consent
    from graph.identity import link_identity
    from graph.maintenance import cases_for_person
    from graph.money import Role
    from hub.seed import _SLOTS, person_id

    specs = [s for s in load_connector_specs(settings) if s.config.name == "bank_payments"]
    if not specs:
        return 0
    ids = [person_id(DEMO_SEED, slot) for slot in range(base, base + settings.demo_people * _SLOTS)]
    payers: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for pid, cases in zip(chunk, await cases_for_person(graph, chunk), strict=True):
            for pc in cases:
                if pc.role is Role.PAYING:
                    payers[pid] = pc.case.id
    async with aiohttp.ClientSession() as session:
        for n, (pid, case_id) in enumerate(sorted(payers.items())):
            account = f"demo-acc-{n:04d}"
            await link_identity(graph, pid, "bank_payments", account, method="demo", linked_by="hub-demo")
            await grant_consent(graph, pid, "bank_payments", specs[0].config.purpose)
            try:
                async with session.post(
                    f"http://127.0.0.1:{DEMO_PAYMENTS_PORT}/_sandbox/mandates",
                    json={"account": account, "caseId": case_id},
                ) as response:
                    response.raise_for_status()
            except aiohttp.ClientError as exc:
                log.warning("the demo bank did not take a mandate (%s): its payments will not name cases", exc)
                break
    return len(payers)
