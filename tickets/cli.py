"""The ``triage`` command: the engine's commands plus the server's (serve, db, users...)."""

from __future__ import annotations

import typer

from triage import cli as engine_cli

app = typer.Typer(
    name="triage",
    help="Triage Desk: customer-service ticketing and smart triage.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
engine_cli.register(app)


def main() -> None:
    app()
