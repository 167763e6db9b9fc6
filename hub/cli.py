"""The `hub` command: serve, seed, schema."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hub.logs import configure_logging
from hub.settings import Settings, SettingsError, load_settings

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
) -> None:
    """Serve /graphql; start the embedded graph and cache when NEO4J_URI / REDIS_URL are unset."""
    import uvicorn

    from hub.app import create_app
    from hub.documents import DocumentError
    from hub.embedded import EmbeddedError
    from hub.server import DrainingServer
    from hub.services import running_services
    from schema.policy import PolicyError

    settings = _settings()
    _exit_on_sigterm()
    configure_logging(settings.log_level, json_output=settings.log_json)
    try:
        with running_services(settings) as live:
            if demo and live.demo_people:
                _seed(live, live.demo_people, 42)
            try:
                application = create_app(live)
            except (PolicyError, DocumentError) as exc:
                err.print(f"[red]error:[/red] {exc}")
                raise typer.Exit(2) from None
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
            DrainingServer(config, application).run()
    except EmbeddedError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass


def _seed(settings: Settings, people: int, seed_value: int) -> None:
    from graph.errors import GraphUnavailable
    from graph.migrations import migrate
    from hub.app import connect_graph
    from hub.seed import seed

    columns = (
        TextColumn("seeding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns, console=err) as progress:
        task = progress.add_task("seed", total=people, rate="")

        def advance(n: int) -> None:
            # Whole households: the last one may take the count a little past the target.
            done = progress.tasks[0].completed + n
            progress.update(task, completed=done, total=max(people, done))
            rate = progress.tasks[0].completed / max(time.perf_counter() - started, 1e-9)
            progress.update(task, rate=f"{rate:,.0f} people/s")

        async def run() -> tuple[int, int]:
            graph = connect_graph(settings)
            try:
                await migrate(graph)
                return await seed(graph, people, seed_value, progress=advance)
            finally:
                await graph.close()

        try:
            written, skipped = asyncio.run(run())
        except GraphUnavailable as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
    elapsed = time.perf_counter() - started
    err.print(
        f"seeded {written:,} people ({skipped:,} already present) in {elapsed:.1f} s"
        + (f", {written / elapsed:,.0f} people/s" if written else "")
    )


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
    from hub.auth import ensure_dev_keys, mint_token

    settings = _settings()
    if not settings.dev or settings.auth_jwks_url or settings.auth_jwks_file:
        err.print("[red]error:[/red] hub token is for local development only (HUB_ENV=dev with the dev key pair)")
        raise typer.Exit(2)
    if bool(role) == bool(person):
        err.print("[red]error:[/red] give either --role (staff) or --person (a citizen)")
        raise typer.Exit(2)
    private, _ = ensure_dev_keys(settings.data_dir)
    common = {"issuer": settings.auth_issuer, "audience": settings.auth_audience, "ttl": ttl}
    if person:
        sub = f"urn:fdc:gov.uk:2022:dev-{person}"
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
    from graph.errors import GraphError
    from graph.identity import link_identity
    from hub.app import connect_graph
    from hub.embedded import EmbeddedError
    from hub.services import running_services

    async def run(live: Settings) -> None:
        graph = connect_graph(live)
        try:
            await link_identity(
                graph, person_id, live.auth_citizen_source, subject, method="dev-sign-in", linked_by="hub token"
            )
        finally:
            await graph.close()

    try:
        with running_services(settings, cache=False) as live:
            asyncio.run(run(live))
    except (EmbeddedError, GraphError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


@app.command("export")
def export_command(
    person: Annotated[str, typer.Option(help="The person's hub id.")],
    output: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
) -> None:
    """Subject access: everything held about a person as one JSON document (the export is audited)."""
    import getpass
    import uuid

    import orjson

    from graph.audit import Actor, record_access
    from graph.errors import GraphError
    from graph.export import subject_access
    from hub.app import connect_graph
    from hub.embedded import EmbeddedError
    from hub.services import running_services

    async def run(live: Settings) -> dict[str, object]:
        graph = connect_graph(live)
        try:
            document = await subject_access(graph, person)
            actor = Actor(
                subject=f"cli:{getpass.getuser()}", role="operator", department=None, purpose="subject-access"
            )
            await record_access(graph, actor, f"export-{uuid.uuid4()}", {person: ["subjectAccessExport"]})
            return document
        finally:
            await graph.close()

    try:
        with running_services(_settings(), cache=False) as live:
            document = asyncio.run(run(live))
    except (EmbeddedError, GraphError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
    if output:
        output.write_bytes(data)
        err.print(f"wrote {output}")
    else:
        sys.stdout.buffer.write(data)


audit_app = typer.Typer(help="The audit trail of personal-data reads.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every audit hash chain: an edited or deleted record is reported (exit 1)."""
    from graph.audit import verify_chains
    from graph.errors import GraphError
    from hub.app import connect_graph
    from hub.embedded import EmbeddedError
    from hub.services import running_services

    async def run(live: Settings) -> list[str]:
        graph = connect_graph(live)
        try:
            return await verify_chains(graph)
        finally:
            await graph.close()

    try:
        with running_services(_settings(), cache=False) as live:
            problems = asyncio.run(run(live))
    except (EmbeddedError, GraphError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    for problem in problems:
        err.print(f"[red]tampered:[/red] {problem}")
    if problems:
        raise typer.Exit(1)
    err.print("audit trail intact")


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
    from schema import build_schema

    if federation:
        sdl = build_schema(federation_auth_directives=_settings().federation_auth_directives).subgraph_sdl()
    else:
        sdl = build_schema().as_str()
    sys.stdout.write(sdl.rstrip("\n") + "\n")


if __name__ == "__main__":
    app()
