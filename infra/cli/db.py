"""``locxia db``: create and upgrade the schema, and show where it stands."""

from __future__ import annotations

from typing import Annotated

import typer

from infra.cli.output import console, emit_json, table
from infra.cli.state import state
from infra.db import connect, migrate
from infra.errors import MigrationError

app = typer.Typer(
    help="Schema migrations of the Locxia database ($LOCXIA_DATABASE_URL).",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.command()
def upgrade(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Apply every pending migration, in order, each in its own transaction.

    Idempotent: a second run applies nothing. Needs a role allowed to CREATE EXTENSION
    postgis and CREATE ROLE (the owner of the service's database).
    """
    from infra.db.setup import upgrade_database

    settings = state(ctx).settings
    with connect(settings.require_database_url(), application_name="locxia:migrate") as conn:
        report = upgrade_database(conn)
    applied = [{"version": m.version, "name": m.name} for m in report.applied]
    if as_json:
        emit_json({"applied": applied, "reference_rows": report.reference_rows})
        return
    for mig in report.applied:
        console.print(f"applied [bold]{mig.version:04d}[/bold] {mig.name}")
    if report.reference_rows:
        console.print(f"loaded {report.reference_rows} reference row(s) (price catalog)")
    if not applied:
        console.print("database is up to date (nothing to apply)")


@app.command()
def status(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when a migration is pending or modified.")
    ] = False,
) -> None:
    """Show applied and pending migrations."""
    settings = state(ctx).settings
    with connect(settings.require_database_url(), application_name="locxia:migrate") as conn:
        rows = migrate.status(conn)
    if as_json:
        emit_json(
            [
                {"version": r.version, "name": r.name, "state": r.state, "applied_at": r.applied_at}
                for r in rows
            ]
        )
    else:
        styled = {"applied": "green", "pending": "yellow", "modified": "red", "unknown": "red"}
        console.print(
            table(
                "Migrations",
                ["version", "name", "state", "applied at"],
                [
                    (
                        f"{r.version:04d}",
                        r.name,
                        f"[{styled[r.state]}]{r.state}[/]",
                        r.applied_at and r.applied_at.isoformat(timespec="seconds"),
                    )
                    for r in rows
                ],
            )
        )
    not_ok = [r for r in rows if r.state != "applied"]
    if check and not_ok:
        raise MigrationError(
            f"{len(not_ok)} migration(s) not applied cleanly: "
            + ", ".join(f"{r.version:04d} {r.state}" for r in not_ok)
        )
