"""``locxia params``: list, edit, audit and undo the instances people want (params.instances)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from infra.cli.errors import name_of, usage_errors
from infra.cli.output import console, emit_history, emit_json, table
from infra.cli.state import actor, state
from infra.db import connect
from pipelines.shape.model import instance_name

app = typer.Typer(
    help="The instances that should exist (params.instances): list, set, history, revert.",
    no_args_is_help=True,
)

# An empty, blank or malformed name is a usage error (2), before anything is read.
INSTANCE_NAME = name_of("instance name", instance_name)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
AsOpt = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="A label recorded in the history beside your database login (default: OS user).",
    ),
]


def _catalog(conn: Any, region: str) -> Any:
    from infra.prices import PriceCatalog

    return PriceCatalog.load(conn, region)


@app.command("list")
def list_instances(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show every instance row and what it means right now (schedule windows applied).

    Example: locxia params list --json
    """
    from infra.jobs.runner import utcnow
    from pipelines.shape.model import effective
    from pipelines.shape.store import load_specs

    settings = state(ctx).settings
    with connect(settings.require_database_url()) as conn:
        specs, errors = load_specs(conn)
    now = utcnow()
    rows = []
    for spec in specs:
        want = effective(spec, now)
        rows.append(
            {
                **spec.row(),
                "effective_state": want.state,
                "effective_class": want.instance_class,
                "open_window": want.window,
            }
        )
    if as_json:
        emit_json({"instances": rows, "invalid_rows": errors})
        return
    columns = [
        "name", "kind", "state", "class", "storage", "engine", "protected", "windows (UTC)", "now"
    ]  # fmt: skip
    console.print(
        table(
            "Instances (params.instances)",
            columns,
            [
                (
                    r["name"],
                    r["kind"],
                    r["state"],
                    r["instance_class"],
                    f"{r['storage_gb']} GB {r['storage_type']}",
                    r["engine"] and f"{r['engine']} {r['engine_version']}",
                    "yes" if r["protected"] else "no",
                    _windows(r),
                    f"{r['effective_state']} {r['effective_class']}"
                    + (f" ({r['open_window']})" if r["open_window"] else ""),
                )
                for r in rows
            ],
        )
    )
    for error in errors:
        console.print(f"[red]invalid row:[/red] {error}")


def _windows(row: dict[str, Any]) -> str | None:
    """``maint sun:03:00-sun:04:00, backup 01:00-01:30``: what the row sets, if anything."""
    parts = [
        f"{label} {row[column]}"
        for label, column in (("maint", "maintenance_window"), ("backup", "backup_window"))
        if row.get(column)
    ]
    return ", ".join(parts) or None


@app.command("set")
def set_instance(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="Instance name (created when new).", parser=INSTANCE_NAME)
    ],
    assignments: Annotated[list[str], typer.Argument(help="column=value pairs.")],
    as_user: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create or change one instance; validated, then recorded in the history as you.

    Columns: kind state instance_class (or class) storage_gb (or storage) storage_type
    iops throughput
    engine engine_version multi_az protected tags schedule timezone maintenance_window
    backup_window note; tag.KEY=VALUE sets one tag. Windows are UTC, AWS's formats
    (maintenance_window=sun:03:00-sun:04:00, backup_window=01:00-01:30; empty clears).

    Examples:
      locxia params set work-db instance_class=db.r6g.2xlarge

      locxia params set work-db kind=rds class=db.t4g.large storage=100 engine=postgres
      engine_version=16 protected=true

      locxia params set work-db 'schedule=[{"days": "mon-fri", "start": "20:00",
      "end": "06:00", "instance_class": "db.r6g.2xlarge"}]'

      locxia params set batch-vm state=absent --as alice
    """
    from infra.jobs.runner import utcnow
    from pipelines.shape import store

    who = actor(ctx, as_user)
    with usage_errors(ctx):
        changes = store.parse_assignments(assignments)
    settings = state(ctx).settings
    with connect(settings.require_database_url(), application_name="locxia:params") as conn:
        catalog = _catalog(conn, settings.aws_region)
        conn.rollback()
        change = store.set_instance(conn, name, changes, actor=who, catalog=catalog, now=utcnow())
    before = change.before.row() if change.before else None
    after = change.after.row()
    diff = {k: [None if before is None else before.get(k), v] for k, v in after.items()}
    diff = {k: v for k, v in diff.items() if v[0] != v[1]}
    if as_json:
        emit_json({"name": name, "created": before is None, "changed": diff, "by": who})
        return
    if not diff:
        console.print(f"{name}: nothing changed")
        return
    console.print(f"{name}: {'created' if before is None else 'changed'} by {who}")
    for column, (old, new) in diff.items():
        console.print(f"  {column}: {_show(old)} → [bold]{_show(new)}[/bold]")


@app.command("history")
def show_history(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Instance name.", parser=INSTANCE_NAME)],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Who changed what on one instance, newest first (ids are for `params revert`).

    "login" is the database login that made the change (recorded by the database; "(not
    recorded)" before migration 0053); "as" is the --as label it gave, when different.

    Example: locxia params history work-db
    """
    from pipelines.shape.store import history

    settings = state(ctx).settings
    with connect(settings.require_database_url()) as conn:
        entries = history(conn, name, limit)
    emit_history(name, entries, _show, as_json)


@app.command("revert")
def revert_change(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Instance name.", parser=INSTANCE_NAME)],
    change: Annotated[
        int | None, typer.Option("--change", help="History id to undo (default: the latest).")
    ] = None,
    as_user: AsOpt = None,
) -> None:
    """Put an instance back as it was before a change (itself a new, audited change).

    Every rule still applies: undoing a storage increase is refused (storage never shrinks).

    Example: locxia params revert work-db --change 42
    """
    from infra.jobs.runner import utcnow
    from pipelines.shape import store

    who = actor(ctx, as_user)
    settings = state(ctx).settings
    with connect(settings.require_database_url(), application_name="locxia:params") as conn:
        catalog = _catalog(conn, settings.aws_region)
        conn.rollback()
        result = store.revert(conn, name, change, actor=who, catalog=catalog, now=utcnow())
    console.print(f"{name}: reverted by {who}")
    before = result.before.row() if result.before else {}
    for column, value in result.after.row().items():
        if before.get(column) != value:
            console.print(f"  {column}: {_show(before.get(column))} → [bold]{_show(value)}[/bold]")


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return "-" if value is None else str(value)
