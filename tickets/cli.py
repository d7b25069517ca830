"""The ``triage`` command: the engine's commands plus the server's (serve, db, users, corrections).

Server modules are imported inside the commands, so ``triage classify`` starts without loading
the web framework or the database driver.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from triage import cli as engine_cli

app = typer.Typer(
    name="triage",
    help="Triage Desk: customer-service ticketing and smart triage.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
engine_cli.register(app)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
users_app = typer.Typer(help="Staff users and their tokens.", no_args_is_help=True)
corrections_app = typer.Typer(help="Triage corrections made by agents.", no_args_is_help=True)
report_app = typer.Typer(help="Supervisor reports.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data for a first look.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(corrections_app, name="corrections")
app.add_typer(report_app, name="report")
app.add_typer(demo_app, name="demo")
err = Console(stderr=True)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default TRIAGE_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default TRIAGE_PORT)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (use PostgreSQL for more than 1)")] = 1,
    upgrade_db: Annotated[bool, typer.Option("--upgrade-db", help="Apply pending migrations first")] = False,
) -> None:
    """Start the HTTP server on the configured database with the configured (or shipped) model."""
    import uvicorn

    from tickets.api.app import prepare_database
    from tickets.config import get_settings
    from tickets.db import make_engine
    from tickets.errors import SchemaOutOfDate

    settings = get_settings()
    if workers > 1 and settings.database_url.startswith("sqlite"):
        err.print("[red]error:[/red] several workers need PostgreSQL (set TRIAGE_DATABASE_URL); SQLite is one process")
        raise typer.Exit(2)
    engine = make_engine(settings.database_url)
    try:
        prepare_database(engine, settings.database_url, upgrade_schema=upgrade_db)
    except SchemaOutOfDate as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    uvicorn.run(
        "tickets.api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level="info",
        access_log=False,
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    from tickets.config import get_settings
    from tickets.db import upgrade

    upgrade(get_settings().database_url, revision)
    err.print(f"database upgraded to {revision}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision and the code's."""
    from tickets.config import get_settings
    from tickets.db import current_revision, head_revision, make_engine

    engine = make_engine(get_settings().database_url)
    print(f"database: {current_revision(engine)}  code: {head_revision()}")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Option(help="Display name")],
    role: Annotated[str, typer.Option(help="agent | supervisor | integration | admin")],
) -> None:
    """Create a user and print its token once (only a hash is stored)."""
    from tickets.auth import create_user
    from tickets.config import get_settings
    from tickets.db import make_engine, session_scope, upgrade
    from tickets.errors import DomainError

    settings = get_settings()
    upgrade(settings.database_url)
    try:
        with session_scope(make_engine(settings.database_url)) as session:
            user, token = create_user(session, name, role, _now())
            user_id = user.id
    except DomainError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    err.print(f"user {user_id} ({role}) created; keep this token, it is not shown again:")
    print(token)


@users_app.command("revoke")
def users_revoke(user_id: Annotated[int, typer.Argument()]) -> None:
    """Revoke a user's token; it stops working on the next request."""
    from tickets.auth import revoke_user
    from tickets.config import get_settings
    from tickets.db import make_engine, session_scope
    from tickets.errors import DomainError

    try:
        with session_scope(make_engine(get_settings().database_url)) as session:
            revoke_user(session, user_id, _now())
    except DomainError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    err.print(f"user {user_id} revoked")


@corrections_app.command("export")
def corrections_export(
    out: Annotated[Path | None, typer.Option(help="JSONL file to write (default: stdout)")] = None,
) -> None:
    """Write agents' reroute corrections as JSONL training data for `triage train`."""
    from tickets import service
    from tickets.config import get_settings
    from tickets.db import make_engine, session_scope

    with session_scope(make_engine(get_settings().database_url)) as session:
        rows = [
            json.dumps({"text": c.text, "label": c.corrected_intent, "faq": None}, ensure_ascii=False)
            for c in service.corrections(session)
        ]
    text = "\n".join(rows) + ("\n" if rows else "")
    if out:
        out.write_text(text, encoding="utf-8")
        err.print(f"{len(rows)} corrections written to {out}")
    else:
        sys.stdout.write(text)


@report_app.command("sla")
def report_sla(
    start: Annotated[
        str | None, typer.Option("--from", help="Date (2026-11-01) or ISO time; default 7 days ago")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Date or ISO time (exclusive); default now")] = None,
    group_by: Annotated[str, typer.Option(help="channel | queue | agent | day")] = "channel",
    output: Annotated[str, typer.Option("--format", help="table | csv | json")] = "table",
) -> None:
    """First-response SLA compliance per group, as the API's /api/v1/reports/sla."""
    from rich.table import Table

    from tickets import reports
    from tickets.config import get_settings
    from tickets.db import make_engine, read_only
    from tickets.errors import DomainError

    if group_by not in ("channel", "queue", "agent", "day") or output not in ("table", "csv", "json"):
        err.print("[red]error:[/red] --group-by is channel|queue|agent|day and --format is table|csv|json")
        raise typer.Exit(2)
    settings = get_settings()
    try:
        period = reports.period_from(start, end, _now(), settings.report_zone)
    except DomainError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    with read_only(make_engine(settings.database_url)) as connection:
        rows = reports.sla_report(connection, period, group_by)  # type: ignore[arg-type]
    if output == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    elif output == "csv":
        sys.stdout.write(reports.to_csv(rows, group_by))  # type: ignore[arg-type]
    else:
        table = Table(group_by, *reports.SLA_COLUMNS, title=f"SLA {period.start:%Y-%m-%d} – {period.end:%Y-%m-%d}")
        for row in rows:
            table.add_row(str(row[group_by]), *("-" if row[c] is None else str(row[c]) for c in reports.SLA_COLUMNS))
        Console().print(table)


@demo_app.command("seed")
def demo_seed(
    tickets: Annotated[int, typer.Option(min=1, max=200_000, help="How many tickets to create")] = 2000,
    days: Annotated[int, typer.Option(min=1, max=365, help="Spread over this many past days")] = 14,
) -> None:
    """Fill the database with realistic history (channels, queues, agents, breaches, ratings)."""
    from rich.progress import Progress

    from tickets import demo
    from tickets.config import get_settings
    from tickets.db import make_engine, upgrade
    from tickets.sla.policy import load_policies
    from tickets.sla.tracking import SlaTracker
    from triage import load_model

    settings = get_settings()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    model = load_model(settings.model_dir)
    sla = SlaTracker(load_policies(settings.sla_policy_file))
    with Progress(console=err) as bar:
        task = bar.add_task("seeding", total=tickets)
        counts = demo.seed(
            engine, model, sla, tickets, _now(), days=days, progress=lambda done: bar.update(task, completed=done)
        )
    err.print(f"seeded: {counts}")
    err.print("log in as a supervisor with a token from `triage users add --name 主管 --role supervisor`")


def main() -> None:
    app()
