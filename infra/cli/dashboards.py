"""``locxia dashboards``: build the dashboards' JSON, push them to Grafana, prove every panel."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from infra.cli.errors import UPGRADE_HINT, name_of, usage
from infra.cli.output import console, emit_json, table
from infra.cli.state import state
from infra.errors import ConfigError, DashboardError, DatabaseError

if TYPE_CHECKING:
    from infra.settings import Settings

app = typer.Typer(
    help="Grafana dashboards as code: regenerate the JSON, push it, prove every panel.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _boards() -> list[dict[str, Any]]:
    from dashboards.grafana.build import DefinitionError, all_dashboards

    try:
        return all_dashboards()
    except DefinitionError as exc:
        raise DashboardError(str(exc)) from exc


@app.command()
def build(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Directory to write (default: dashboards/generated)."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if the files are stale.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Regenerate the dashboards' JSON and the Grafana provisioning files.

    The output is stable (sorted keys, fixed uids and panel ids): it changes only when a
    dashboard does, so the generated files are committed and reviewed like code.

    Examples:
      locxia dashboards build            # write dashboards/generated/
      locxia dashboards build --check    # exit 1 when the committed files are stale
    """
    from dashboards.grafana.build import GENERATED_DIR, DefinitionError, stale_files, write

    target = out or GENERATED_DIR
    try:
        changed = stale_files(target) if check else write(target)
    except DefinitionError as exc:
        raise DashboardError(str(exc)) from exc
    if as_json:
        emit_json({"directory": str(target), "changed": changed, "check": check})
    elif not changed:
        console.print(f"{target}: up to date")
    else:
        verb = "stale" if check else "wrote"
        for path in changed:
            console.print(f"{verb} {target / path}")
    if check and changed:
        raise DashboardError(
            f"{len(changed)} generated file(s) are stale in {target}: run `locxia dashboards build`"
        )


def _datasource_spec(settings: Settings) -> dict[str, Any]:
    from dashboards.grafana.provisioning import DatasourceLogin, datasource_spec

    url = settings.grafana_database_url
    if not url:
        raise ConfigError(
            "LOCXIA_GRAFANA_DATABASE_URL is not set: the PostgreSQL login Grafana uses, a member"
            " of locxia_grafana (e.g. postgresql://grafana:secret@db:5432/locxia)",
            setting="LOCXIA_GRAFANA_DATABASE_URL",
        )
    try:
        return datasource_spec(DatasourceLogin.from_url(url))
    except ValueError as exc:
        raise ConfigError(
            f"invalid setting LOCXIA_GRAFANA_DATABASE_URL: {exc}",
            setting="LOCXIA_GRAFANA_DATABASE_URL",
        ) from exc


@app.command()
def push(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only read Grafana and show what would change.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create or update the datasource, the Locxia folder and every dashboard in Grafana.

    Idempotent: objects already as wanted are left alone, so a second push changes nothing.
    Needs LOCXIA_GRAFANA_URL, LOCXIA_GRAFANA_TOKEN (a service account with the Admin role)
    and LOCXIA_GRAFANA_DATABASE_URL (the PostgreSQL login of the datasource).

    Examples:
      locxia dashboards push --dry-run
      LOCXIA_GRAFANA_TOKEN=glsa_... locxia dashboards push
    """
    from dashboards.grafana.common import FOLDER_TITLE, FOLDER_UID
    from dashboards.grafana.push import GrafanaPusher

    settings = state(ctx).settings
    spec = _datasource_spec(settings)
    boards = _boards()
    pusher = GrafanaPusher.from_settings(settings)
    changes = pusher.plan(spec, (FOLDER_UID, FOLDER_TITLE), boards)
    if not dry_run:
        pusher.apply(changes)
    rows = [{"kind": c.kind, "uid": c.uid, "title": c.title, "action": c.action} for c in changes]
    if as_json:
        emit_json({"grafana": pusher.url, "dry_run": dry_run, "changes": rows})
        return
    title = f"Grafana {pusher.url}" + (" (dry run: nothing written)" if dry_run else "")
    console.print(
        table(title, ["kind", "uid", "title", "action"], [tuple(r.values()) for r in rows])
    )


def _check_connection(settings: Settings) -> Any:
    from infra.db import connect

    url = settings.grafana_database_url or settings.require_database_url()
    conn = connect(url, application_name="locxia:dashboards-check")
    # Before the role: on a database never migrated, neither the views nor (often) the role
    # exist, and granting the role would not help.
    row = conn.execute("SELECT to_regnamespace('reporting') IS NULL").fetchone()
    if row is None or row[0]:
        conn.close()
        raise DatabaseError(f"the database has no reporting views: {UPGRADE_HINT}")
    try:
        conn.execute("SET ROLE locxia_grafana")
        conn.rollback()
    except Exception as exc:
        conn.close()
        raise DatabaseError(
            "cannot act as locxia_grafana to check the dashboards: grant it to this login "
            "(GRANT locxia_grafana TO ...) or set LOCXIA_GRAFANA_DATABASE_URL to Grafana's login"
        ) from exc
    return conn


@app.command()
def check(
    ctx: typer.Context,
    last: Annotated[
        str | None,
        typer.Option(
            "--last", help="Time range ending now, e.g. 24h or 7d (default: each dashboard's)."
        ),
    ] = None,
    dashboard: Annotated[
        list[str] | None,
        typer.Option(
            "--dashboard", "-d", help="Only this dashboard uid.", parser=name_of("dashboard uid")
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run every panel's SQL against the database as locxia_grafana, as Grafana would.

    Macros ($__timeFilter, $__timeGroupAlias, $__interval...) and variables ("All" selected)
    are expanded the way Grafana expands them; a panel fails when its SQL errors, returns no
    rows, or lacks what its type needs (a sorted `time` column for time series, a number for
    a stat). Uses LOCXIA_GRAFANA_DATABASE_URL when set, else LOCXIA_DATABASE_URL.

    Examples:
      locxia dashboards check
      locxia dashboards check --last 24h -d locxia-orchestrator --json
    """
    from dashboards.grafana.check import PgRunner, check_dashboard
    from dashboards.grafana.macros import MacroError, TimeRange

    boards = _boards()
    if dashboard:
        unknown = sorted(set(dashboard) - {b["uid"] for b in boards})
        if unknown:
            known = ", ".join(b["uid"] for b in boards)
            raise usage(ctx, f"--dashboard: unknown uid(s) {', '.join(unknown)} (known: {known})")
        boards = [b for b in boards if b["uid"] in dashboard]
    try:
        wanted = TimeRange.last(last) if last else None
    except MacroError as exc:
        raise usage(ctx, f"--last {last!r}: {exc}") from exc
    outcomes = []
    with _check_connection(state(ctx).settings) as conn:
        runner = PgRunner(conn)
        for board in boards:
            try:
                time_range = wanted or TimeRange.from_grafana(
                    board["time"]["from"], board["time"]["to"]
                )
            except MacroError as exc:
                raise DashboardError(f"dashboard {board['uid']}: time range: {exc}") from exc
            outcomes.extend(check_dashboard(runner, board, time_range))
    _report(outcomes, as_json)


def _report(outcomes: list[Any], as_json: bool) -> None:
    failed = [o for o in outcomes if not o.ok]
    if as_json:
        emit_json(
            [
                {
                    "dashboard": o.query.dashboard,
                    "title": o.query.title,
                    "kind": o.query.kind,
                    "rows": o.rows,
                    "columns": list(o.columns),
                    "problems": list(o.problems),
                    "sql": o.sql,
                }
                for o in outcomes
            ]
        )
    else:
        console.print(
            table(
                "Panels",
                ["dashboard", "query", "kind", "rows", "result"],
                [
                    (
                        o.query.dashboard,
                        o.query.title,
                        o.query.kind,
                        o.rows,
                        "[green]ok[/green]" if o.ok else f"[red]{'; '.join(o.problems)}[/red]",
                    )
                    for o in outcomes
                ],
            )
        )
        console.print(f"{len(outcomes) - len(failed)}/{len(outcomes)} queries hold up")
    if failed:
        details = "; ".join(f"{o.query.dashboard}/{o.query.title}: {o.problems[0]}" for o in failed)
        raise DashboardError(f"{len(failed)} of {len(outcomes)} queries fail: {details}")
