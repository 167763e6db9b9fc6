"""The `hub` command: serve, seed, schema."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from rich.console import Console

from hub.logs import configure_logging
from hub.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from connectors.registry import ConnectorSpec
    from graph.driver import Graph
    from graph.linkage.model import LinkageModel
    from hub.linkage import LinkageConfig

T = TypeVar("T")
app = typer.Typer(help="Citizen Hub: the person graph served as GraphQL.", no_args_is_help=True)
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def _exit_on_sigterm() -> None:
    """Turn SIGTERM into a normal exit so `finally` blocks stop the embedded servers."""

    def handler(signum: int, frame: object) -> NoReturn:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, handler)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings: 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings: 8000).")] = None,
    demo: Annotated[bool, typer.Option(help="Seed demo people on first start (idempotent).")] = False,
    workers: Annotated[
        int, typer.Option(min=1, max=64, envvar="HUB_WORKERS", help="Worker processes sharing the port.")
    ] = 1,
) -> None:
    """Serve /graphql; start the embedded graph and cache when NEO4J_URI / REDIS_URL are unset."""
    import uvicorn

    from connectors import ConnectorConfigError
    from hub.app import create_app
    from hub.documents import DocumentError
    from hub.embedded import EmbeddedError
    from hub.linkage import LinkageSetupError
    from hub.server import DrainingServer
    from hub.services import running_services
    from hub.tracing import configure_tracing
    from schema.policy import PolicyError

    settings = _settings()
    _exit_on_sigterm()
    configure_logging(settings.log_level, json_output=settings.log_json)
    try:
        with running_services(settings, demo=demo) as live:
            if demo and live.demo_people:
                _seed(live, live.demo_people, 42)
                _seed_demo_cases(live)
                if live.dev and live.demo_connectors:
                    _link_demo_people(live)
                _seed_demo_identities(live)  # demo-queue: a model and a review queue to look at
            try:
                application = create_app(live)
            except (PolicyError, DocumentError, ConnectorConfigError, LinkageSetupError) as exc:
                err.print(f"[red]error:[/red] {exc}")
                raise typer.Exit(2) from None
            base = f"http://{host or live.host}:{port or live.port}"  # issue 8: the pages
            err.print(f"pages: {base}/me (citizen), {base}/console (steward)")
            if live.dev_tokens:
                err.print(f"dev sign-in (a seeded parent or a steward): {base}/dev/sign-in")
            if workers > 1:  # issue 10: N worker processes on one socket
                _serve_workers(live, host or live.host, port or live.port, workers)
                return
            configure_tracing()
            config = uvicorn.Config(
                application,
                host=host or live.host,
                port=port or live.port,
                loop="uvloop",
                http="httptools",
                log_config=None,  # keep the structured logging configured above
                access_log=False,
                timeout_graceful_shutdown=int(live.shutdown_grace),
            )
            DrainingServer(config, application, drain_delay=live.shutdown_delay).run()
    except EmbeddedError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass


def _serve_workers(live: Settings, host: str, port: int, workers: int) -> None:
    """Run `workers` processes on one socket (hub.server.Workers); they read the live endpoints from the env."""

    import uvicorn

    from hub.server import Workers, multiprocess_metrics_dir

    endpoints = {
        "NEO4J_URI": live.neo4j_uri,
        "NEO4J_USER": live.neo4j_user,
        "NEO4J_PASSWORD": live.neo4j_password.get_secret_value() if live.neo4j_password else None,
        "NEO4J_DATABASE": live.neo4j_database,
        "REDIS_URL": live.redis_url,
    }
    os.environ.update({k: v for k, v in endpoints.items() if v})
    with multiprocess_metrics_dir():
        config = uvicorn.Config(
            "hub.server:worker_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(live.shutdown_grace),
        )
        Workers(config, drain_delay=live.shutdown_delay).run()


def _seed(settings: Settings, people: int, seed_value: int) -> None:
    from graph.migrations import migrate
    from hub.seed import seed_with_progress

    async def work(graph: Graph) -> tuple[int, int, float]:
        await migrate(graph)
        return await seed_with_progress(graph, people, seed_value, err)

    written, skipped, elapsed = _with_graph(settings, work)
    err.print(
        f"seeded {written:,} people ({skipped:,} already present) in {elapsed:.1f} s"
        + (f", {written / elapsed:,.0f} people/s" if written else "")
    )


def _seed_demo_cases(settings: Settings) -> None:
    from hub.seed import seed_demo_cases

    async def work(graph: Graph) -> int:
        return await seed_demo_cases(graph, settings.demo_people, 42)

    created = _with_graph(settings, work)
    if created:
        err.print(f"{created} demo child-maintenance cases opened, with payment histories")


def _with_graph(settings: Settings, work: Callable[[Graph], Awaitable[T]]) -> T:
    """Run `work` against the configured graph, or the embedded one (attached or started); errors exit 1."""
    from graph.errors import GraphError
    from hub.app import connect_graph
    from hub.embedded import EmbeddedError
    from hub.services import running_services

    async def run(live: Settings) -> T:
        graph = connect_graph(live)
        try:
            return await work(graph)
        finally:
            await graph.close()

    try:
        if settings.neo4j_uri:
            return asyncio.run(run(settings))
        with running_services(settings, cache=False) as live:
            return asyncio.run(run(live))
    except (EmbeddedError, GraphError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


@app.command("seed")
def seed_command(
    people: Annotated[int, typer.Option(min=1, help="How many people (rounded up to whole households).")] = 1000,
    seed: Annotated[int, typer.Option(min=0, max=99, help="Seed: the same seed gives the same people.")] = 42,
) -> None:
    """Seed synthetic UK citizens and households (deterministic, idempotent, resumable)."""
    from hub.embedded import EmbeddedError
    from hub.services import running_services

    settings = _settings()
    _exit_on_sigterm()
    try:
        with running_services(settings, cache=False) as live:
            _seed(live, people, seed)
    except EmbeddedError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


@app.command()
def token(
    role: Annotated[
        list[str] | None, typer.Option(help="Staff role(s): caseworker, partner, steward, auditor.")
    ] = None,
    person: Annotated[
        str | None, typer.Option(help="A citizen token for this person id (links a dev sign-in).")
    ] = None,
    purpose: Annotated[str | None, typer.Option(help="A partner's purpose (caseworkers send X-Purpose).")] = None,
    department: Annotated[str | None, typer.Option(help="A partner's department, e.g. HMRC.")] = None,
    vot: Annotated[str, typer.Option(help="Vector of trust for a citizen, e.g. Cl.Cm.P2.")] = "Cl.Cm.P2",
    ttl: Annotated[int, typer.Option(min=60, max=86400, help="Lifetime in seconds.")] = 3600,
    subject: Annotated[str, typer.Option(help="Staff subject (who appears in the audit trail).")] = "dev-user",
) -> None:
    """Mint a token signed with the local dev key (dev mode only)."""
    from hub.auth import dev_citizen_subject, ensure_dev_keys, mint_token

    settings = _settings()
    if not settings.dev_tokens:
        err.print("[red]error:[/red] hub token is for local development only (HUB_ENV=dev with the dev key pair)")
        raise typer.Exit(2)
    if bool(role) == bool(person):
        err.print("[red]error:[/red] give either --role (staff) or --person (a citizen)")
        raise typer.Exit(2)
    private, _ = ensure_dev_keys(settings.data_dir)
    common = {"issuer": settings.auth_issuer, "audience": settings.auth_audience, "ttl": ttl}
    if person:
        sub = dev_citizen_subject(person)
        _link_dev_citizen(settings, person, sub)
        minted = mint_token(private.read_bytes(), subject=sub, vot=vot, **common)  # type: ignore[arg-type]
    else:
        minted = mint_token(
            private.read_bytes(),
            subject=subject,
            roles=role,
            department=department,
            purpose=purpose,
            **common,  # type: ignore[arg-type]
        )
    sys.stdout.write(minted + "\n")
    err.print("send it as [bold]Authorization: Bearer <token>[/bold]; staff also send [bold]X-Purpose[/bold]")


def _link_dev_citizen(settings: Settings, person_id: str, subject: str) -> None:
    from graph.identity import link_identity

    async def work(graph: Graph) -> None:
        await link_identity(
            graph, person_id, settings.auth_citizen_source, subject, method="dev-sign-in", linked_by="hub token"
        )

    _with_graph(settings, work)


@app.command("export")
def export_command(
    person: Annotated[str, typer.Option(help="The person's hub id.")],
    output: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
) -> None:
    """Subject access: everything held about a person as one JSON document (the export is audited)."""
    import getpass
    import uuid

    import orjson

    from connectors import ConnectorConfigError
    from graph.audit import Actor, record_access
    from graph.errors import GraphError
    from graph.export import subject_access
    from hub.app import connect_graph, connect_redis
    from hub.connectors import load_connector_specs, running_connectors
    from hub.embedded import EmbeddedError
    from hub.services import running_services
    from schema.connectors.loaders import ConnectorRequest

    async def run(live: Settings) -> dict[str, object]:
        graph, redis = connect_graph(live), connect_redis(live)
        try:
            document = await subject_access(graph, person)
            # Connector records held in the cache, as the GraphQL export reports them.
            async with running_connectors(load_connector_specs(live), redis) as registry:
                nino = document["person"].get("nino")
                document["connectorData"] = await ConnectorRequest(registry, graph).held_about(person, nino)
            actor = Actor(
                subject=f"cli:{getpass.getuser()}", role="operator", department=None, purpose="subject-access"
            )
            await record_access(graph, actor, f"export-{uuid.uuid4()}", {person: ["subjectAccessExport"]})
            return document
        finally:
            await redis.aclose()
            await graph.close()

    try:
        with running_services(_settings()) as live:
            document = asyncio.run(run(live))
    except (EmbeddedError, GraphError, ConnectorConfigError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
    if output:
        output.write_bytes(data)
        err.print(f"wrote {output}")
    else:
        sys.stdout.buffer.write(data)


identities_app = typer.Typer(help="Identity resolution: the probabilistic linkage model.", no_args_is_help=True)
app.add_typer(identities_app, name="identities")


@identities_app.command("train")
def identities_train(
    sample: Annotated[Path, typer.Argument(help="A source's extract, JSON lines, to train against the core record.")],
    config: Annotated[Path | None, typer.Option(help="Linkage settings (default config/linkage.yaml).")] = None,
    current: Annotated[bool, typer.Option(help="Make the new model the one in use.")] = True,
) -> None:
    """Fit the Fellegi-Sunter model with Splink (DuckDB) and save it, versioned."""
    from hub.linkage import LinkageSetupError, Sample, load_config, train_from_graph

    try:
        cfg = load_config(config) if config else load_config()
    except LinkageSetupError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None

    async def work(graph: Graph) -> tuple[Path, dict[str, object], Sample]:
        return await train_from_graph(graph, sample, cfg, make_current=current)

    try:
        path, document, read = _with_graph(_settings(), work)
    except LinkageSetupError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    for line, reason in read.refused:
        err.print(f"[yellow]refused[/yellow] {sample}:{line}: {reason}")
    err.print(f"model {document['version']} saved to {path}")


def _linkage_model(config: Path | None) -> tuple[LinkageConfig, LinkageModel]:
    """The linkage settings and the model in use; a clear error (exit 1) when either is missing or wrong."""
    from hub.linkage import LinkageSetupError, load_config, load_current_model

    try:
        cfg = load_config(config) if config else load_config()
        return cfg, load_current_model(cfg.models_dir)
    except LinkageSetupError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


@identities_app.command("model")
def identities_model(
    config: Annotated[Path | None, typer.Option(help="Linkage settings (default config/linkage.yaml).")] = None,
) -> None:
    """Describe the model in use: every comparison level with its m, u and match weight."""
    import orjson

    _, model = _linkage_model(config)

    sys.stdout.buffer.write(orjson.dumps(model.describe(), option=orjson.OPT_INDENT_2) + b"\n")


# issue 12: bulk linking of a source's extract
@identities_app.command("link")
def identities_link(
    extract: Annotated[Path, typer.Argument(help="The source's extract: one JSON object per line, each with an id.")],
    connector: Annotated[str, typer.Option(help="The connector (source) the ids belong to.")],
    config: Annotated[Path | None, typer.Option(help="Linkage settings (default config/linkage.yaml).")] = None,
    restart: Annotated[bool, typer.Option(help="Ignore the checkpoint: read the file from the start.")] = False,
    checkpoint: Annotated[Path | None, typer.Option(help="Checkpoint file (default under the data dir).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Records resolved at once.")] = 4,
    show: Annotated[int, typer.Option(min=0, help="Refused lines to print (all are in the checkpoint).")] = 50,
) -> None:
    """Link an external extract to the core record: progress bar, resumable, idempotent; counts at the end."""
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    from graph.linkage.resolver import Resolver
    from hub.linkage import LinkageSetupError
    from hub.linking import BulkReport, default_checkpoint, link_file, summary

    settings = _settings()
    known = [spec.config.name for spec in _connector_specs(settings)]
    if connector not in known:
        err.print(f"[red]error:[/red] no connector named {connector!r} (configured: {', '.join(known) or 'none'})")
        raise typer.Exit(2)
    cfg, model = _linkage_model(config)
    where = checkpoint or default_checkpoint(settings.data_dir, connector, extract)
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn())

    async def work(graph: Graph) -> BulkReport:
        resolver = Resolver(graph, model, cfg.thresholds, actor=f"bulk:{connector}")
        with Progress(*columns, TextColumn("{task.fields[counts]}"), console=err, transient=False) as bar:
            task = bar.add_task(f"linking {extract.name}", total=None, counts="")

            def advance(report: BulkReport, size: int) -> None:
                bar.update(task, completed=report.offset, total=size, counts=f"{report.counts.rows:,} rows")

            return await link_file(
                resolver,
                extract,
                connector,
                checkpoint=where,
                restart=restart,
                concurrency=concurrency,
                progress=advance,
            )

    try:
        report = _with_graph(settings, work)
    except LinkageSetupError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    if report.resumed_from:
        state = "already complete" if report.rows_this_run == 0 else "resumed"
        err.print(f"{state}: line {report.resumed_from:,} had been reached before (checkpoint {where})")
    for line, reason in report.refused[:show]:
        err.print(f"[yellow]refused[/yellow] {escape(str(extract))}:{line}: {escape(reason)}", soft_wrap=True)
    if len(report.refused) > show:
        err.print(f"... and {len(report.refused) - show:,} more refused lines (listed in {where})", soft_wrap=True)
    rate = f"; {report.rows_this_run:,} rows in {report.seconds:.1f} s ({report.rate:,.0f}/s)" if report.seconds else ""
    print(f"{connector}: " + ", ".join(summary(report)) + rate)


audit_app = typer.Typer(help="The audit trail of personal-data reads.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every audit hash chain: an edited or deleted record is reported (exit 1)."""
    from graph.audit import verify_chains

    problems = _with_graph(_settings(), verify_chains)
    for problem in problems:
        err.print(f"[red]tampered:[/red] {problem}")
    if problems:
        raise typer.Exit(1)
    err.print("audit trail intact")


def _link_demo_people(settings: Settings) -> None:
    from hub.connectors import link_demo_people

    linked = asyncio.run(link_demo_people(settings))
    if linked:
        err.print(
            f"{len(linked)} demo people linked to sandbox social profiles, with consent "
            f'(try person(id: "{linked[0]}") {{ socialProfile {{ headline }} }})'
        )


connectors_app = typer.Typer(help="Connectors to external sources (config/connectors/*.yaml).", no_args_is_help=True)
app.add_typer(connectors_app, name="connectors")


def _connector_specs(settings: Settings) -> list[ConnectorSpec]:
    from connectors import ConnectorConfigError
    from hub.connectors import load_connector_specs

    try:
        return load_connector_specs(settings, strict=True)
    except ConnectorConfigError as exc:
        for problem in exc.problems:
            err.print(f"[red]error:[/red] {problem}")
        raise typer.Exit(1) from None


@connectors_app.command("list")
def connectors_list() -> None:
    """Each connector, one tab-separated line: name, kind, enabled, owner, purpose, consent, match, Person field."""
    from schema.connectors.fields import field_name

    rows = [("name", "kind", "enabled", "owner", "purpose", "consent", "match", "field")]
    for spec in _connector_specs(_settings()):
        c = spec.config
        match = (c.match or spec.kind.match_keys[0]).value
        consent = "required" if c.consent_required else "no"
        field = field_name(c, spec.kind)
        rows.append((c.name, c.kind, str(c.enabled).lower(), c.owner, c.purpose, consent, match, field))
    sys.stdout.write("".join("\t".join(row) + "\n" for row in rows))


@connectors_app.command("check")
def connectors_check() -> None:
    """Validate every connector file (YAML, kinds, keys, secrets in the environment); exit 1 naming file and key."""
    specs = _connector_specs(_settings())
    err.print(f"{len(specs)} connector(s) valid: {', '.join(s.config.name for s in specs) or 'none'}")


@connectors_app.command("test")
def connectors_test(
    name: Annotated[str, typer.Argument(help="The connector's name.")],
    person: Annotated[str, typer.Option(help="The person's hub id.")],
) -> None:
    """A sample fetch for one person, as the hub would make it (consent and identity links apply)."""
    import orjson

    from hub.connectors import open_registry
    from schema.connectors.loaders import ConnectorRequest

    settings = _settings()
    specs = [s for s in _connector_specs(settings) if s.config.name == name]
    if not specs:
        err.print(f"[red]error:[/red] no connector named {name!r}")
        raise typer.Exit(2)

    async def work(graph: Graph) -> dict[str, object]:
        from connectors import create_session
        from graph.person import get_people

        [found] = await get_people(graph, [person])
        if found is None:
            return {"error": {"code": "NOT_FOUND", "message": f"no person {person}"}}
        async with create_session() as session:
            registry = open_registry(specs, session, None)  # no cache: a test shows the upstream's answer
            try:
                outcome = await ConnectorRequest(registry, graph).loader(name).load((found.id, found.nino))
            finally:
                await registry.aclose()
        p = outcome.provenance
        return {
            "connector": name,
            "person": found.id,
            "value": outcome.value.model_dump(mode="json") if outcome.value is not None else None,
            "provenance": None
            if p is None
            else {
                "connector": p.connector,
                "fetchedAt": p.fetched_at.isoformat(),
                "stale": p.stale,
                "cached": p.cached,
                "matchConfidence": outcome.confidence,
            },
            "error": None
            if outcome.error is None
            else {"code": outcome.error.code.value, "message": outcome.error.message},
        }

    result = _with_graph(settings, work)
    sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    if result.get("error"):
        raise typer.Exit(1)


@app.command()
def schema(
    federation: Annotated[
        bool,
        typer.Option(
            "--federation",
            help="The Apollo Federation 2 subgraph SDL (@link, @key) that a gateway composes; Router "
            "authorization directives too when HUB_FEDERATION_AUTH_DIRECTIVES is on.",
        ),
    ] = False,
) -> None:
    """Print the GraphQL schema (SDL) as clients see it, or the subgraph SDL with --federation."""
    from connectors import ConnectorConfigError
    from hub.connectors import schema_specs
    from schema import build_schema

    settings = _settings()
    try:
        specs = schema_specs(settings)  # typed connector fields; no secrets needed, nothing is called
    except ConnectorConfigError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    if federation:
        built = build_schema(federation_auth_directives=settings.federation_auth_directives, connectors=specs)
        sdl = built.subgraph_sdl()
    else:
        sdl = build_schema(connectors=specs).as_str()
    sys.stdout.write(sdl.rstrip("\n") + "\n")


# issue 10: N replicas behind HAProxy, the production shape on one machine.
@app.command("cluster")
def cluster_command(
    replicas: Annotated[int, typer.Option(min=1, max=16, help="Hub replicas behind HAProxy.")] = 3,
    host: Annotated[str | None, typer.Option(help="HAProxy's bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="HAProxy's port (default from settings: 8000).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes per replica.")] = 1,
    demo: Annotated[bool, typer.Option(help="Seed demo people on first start (idempotent).")] = False,
) -> None:
    """Run replicas of `hub serve` behind HAProxy over one graph and one cache; SIGHUP restarts them one by one."""
    from hub.auth import ensure_dev_keys
    from hub.cluster import Cluster, ClusterError
    from hub.embedded import EmbeddedError
    from hub.services import running_services

    settings = _settings()
    configure_logging(settings.log_level, json_output=settings.log_json)
    stop: list[int] = []
    restart: list[int] = []
    signal.signal(signal.SIGTERM, lambda s, f: stop.append(s))
    signal.signal(signal.SIGINT, lambda s, f: stop.append(s))
    signal.signal(signal.SIGHUP, lambda s, f: restart.append(s))
    try:
        with running_services(settings, demo=demo) as live:
            if demo and live.demo_people:
                _seed(live, live.demo_people, 42)
                _seed_demo_cases(live)
            if live.dev and not (live.auth_jwks_file or live.auth_jwks_url):
                ensure_dev_keys(live.data_dir)  # once, before the replicas race to create it
            with Cluster(live, replicas=replicas, host=host or live.host, port=port or live.port, workers=workers) as c:
                err.print(f"{replicas} replicas behind HAProxy at {c.url}/graphql (logs: {c.directory})")
                err.print(f"rolling restart: kill -HUP {os.getpid()}; stop: Ctrl-C")
                while not stop:
                    time.sleep(0.2)
                    if restart:
                        restart.clear()
                        took = c.rolling_restart()
                        err.print("rolling restart done: " + ", ".join(f"{t:.1f} s" for t in took))
    except (ClusterError, EmbeddedError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


# Issue 13: bulk import of an extract of the core record.
@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="JSON Lines: one person per line (see hub/importer.py).")],
    batch: Annotated[int, typer.Option(min=1, max=50_000, help="People per transaction.")] = 2000,
    checkpoint: Annotated[
        Path | None, typer.Option(help="Checkpoint file (default: under the data dir, named after FILE).")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Bad rows, as JSON Lines (default: beside the checkpoint).")
    ] = None,
    restart: Annotated[bool, typer.Option(help="Ignore a checkpoint and start from the first line.")] = False,
) -> None:
    """Import people (validated row by row; bad rows reported by line) — resumable and idempotent."""
    from hub.importer import ImportFailed, Outcome, default_checkpoint, import_with_progress

    settings = _settings()
    _exit_on_sigterm()
    checkpoint_path = checkpoint or default_checkpoint(settings.data_dir, file)
    report_path = report or checkpoint_path.with_name(checkpoint_path.name.replace(".checkpoint.json", ".bad.jsonl"))
    out = Console()

    async def work(graph: Graph) -> Outcome:
        return await import_with_progress(
            graph, file, checkpoint_path, report_path, out, batch_size=batch, restart=restart
        )

    try:
        outcome = _with_graph(settings, work)
    except ImportFailed as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    cp = outcome.checkpoint
    if outcome.already_done:
        out.print(f"{file} was imported before (checkpoint {checkpoint_path}); --restart imports it again")
    if outcome.resumed_at_line is not None:
        out.print(f"resumed after line {outcome.resumed_at_line:,}")
    for bad in outcome.bad_rows[:20]:
        out.print(f"[red]line {bad.line}[/red]: {bad.reason}", highlight=False, soft_wrap=True)
    rate = cp.rows / cp.seconds if cp.seconds else 0.0
    out.print(
        f"imported {cp.rows:,} people ({cp.created:,} new, {cp.present:,} already present), {cp.links:,} links, "
        f"in {cp.seconds:.1f} s ({rate:,.0f} people/s); {cp.bad + cp.link_errors:,} bad rows"
        + (f", listed in {report_path}" if cp.bad + cp.link_errors else ""),
        highlight=False,
        soft_wrap=True,
    )
    if cp.bad + cp.link_errors:
        raise typer.Exit(3)


# demo-queue: `serve --demo` trains a linkage model if none is in use and resolves a demo register's records
def _seed_demo_identities(settings: Settings) -> None:
    from hub.demo_identities import SOURCE, DemoIdentities, seed_demo_identities
    from hub.linkage import LinkageSetupError, load_config

    try:
        cfg = load_config(settings.linkage_config)
    except LinkageSetupError:
        return  # create_app names the bad file and stops

    async def work(graph: Graph) -> DemoIdentities:
        return await seed_demo_identities(graph, cfg)

    try:
        done = _with_graph(settings, work)
    except LinkageSetupError as exc:
        err.print(f"[yellow]demo identities skipped:[/yellow] {exc}")
        return
    if done.trained:
        err.print(f"linkage model {done.trained} trained for the demo in {done.train_seconds:.1f} s ({cfg.models_dir})")
    if set(done.outcomes) - {"NO_LINK"}:  # a no-link writes nothing, so a re-run says nothing
        counts = ", ".join(f"{n} {outcome.lower().replace('_', ' ')}" for outcome, n in sorted(done.outcomes.items()))
        err.print(f"{SOURCE}: {sum(done.outcomes.values())} demo records resolved ({counts}); see /console")


if __name__ == "__main__":
    app()
