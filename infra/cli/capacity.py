"""``locxia capacity``: the capacity windows raised for runs, and restoring one by hand.

A window is the capacity a run declared in ``params.run_capacity`` (Dask workers of an EC2
type, a database class), raised before the run and restored after it (docs/shape.md,
"Capacity windows"). The service restores a window whose run died by itself on its next
sweep; ``restore`` does it now, e.g. after approving a held restore plan.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from infra.cli.output import console, emit_json, table
from infra.cli.state import state
from infra.db import connect
from infra.errors import InputError

app = typer.Typer(
    help="Capacity windows: Dask workers and database classes raised for a run and restored"
    " after (declared in params.run_capacity). Example: locxia capacity list",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
WindowArg = Annotated[int, typer.Argument(min=1, help="Window id (see `locxia capacity list`).")]


def _when(value: datetime | None) -> str | None:
    return None if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


def _get(ctx: typer.Context, window_id: int) -> dict[str, Any]:
    from infra import capacity

    settings = state(ctx).settings
    with connect(settings.require_database_url()) as conn:
        window = capacity.get(conn, window_id)
    if window is None:
        raise InputError(f"no capacity window {window_id} (see `locxia capacity list`)")
    return window


@app.command("list")
def list_windows(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Newest N.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The newest windows: run, state, workers, plan's monthly delta, cost.

    Example: locxia capacity list --limit 10
    """
    from infra import capacity

    settings = state(ctx).settings
    with connect(settings.require_database_url()) as conn:
        windows = capacity.listing(conn, limit)
    if as_json:
        emit_json([capacity.as_json(w) for w in windows])
        return
    rows = [
        [
            w["id"],
            w["run_id"],
            w["job_id"],
            w["state"],
            len(w["added"]),
            ", ".join(w["previous"]) or None,
            (w["plan"] or {}).get("monthly_delta"),
            _when(w["opened_at"]),
            _when(w["restored_at"]),
            w["cost_usd"],
        ]
        for w in windows
    ]
    columns = ["id", "run", "job", "state", "workers", "database", "plan Δ USD/month",
               "opened", "restored", "cost USD"]  # fmt: skip
    console.print(table("Capacity windows", columns, rows))


@app.command("show")
def show(ctx: typer.Context, window_id: WindowArg, as_json: JsonOpt = False) -> None:
    """One window: what was declared, the rows it added or changed, plans, times, cost.

    Example: locxia capacity show 12 --json
    """
    from infra import capacity

    window = capacity.as_json(_get(ctx, window_id))
    if as_json:
        emit_json(window)
        return
    plan = window.get("plan") or {}
    lines = [
        ["run", f"{window['run_id']} ({window['job_id']})"],
        ["declared by", window["declared_by"]],
        ["state", window["state"]],
        ["workers added", ", ".join(window["added"]) or None],
        [
            "classes changed",
            ", ".join(
                f"{n}: {v['instance_class'][0]} → {v['instance_class'][1]}"
                for n, v in window["previous"].items()
            )
            or None,
        ],  # fmt: skip
        ["raise plans", ", ".join(map(str, window["raise_runs"])) or None],
        ["restore plans", ", ".join(map(str, window["restore_runs"])) or None],
        [
            "plan monthly USD",
            f"{plan.get('monthly_before')} → {plan.get('monthly_after')}"
            f" (Δ {plan.get('monthly_delta')})"
            if plan
            else None,
        ],  # fmt: skip
        ["opened", window["opened_at"]],
        ["available", window["available_at"]],
        ["restored", window["restored_at"]],
        ["reason", window["reason"]],
        ["error", window["error"]],
        ["cost USD", window["cost_usd"]],
    ]
    console.print(table(f"Capacity window {window_id}", ["", ""], lines))


@app.command("restore")
def restore(ctx: typer.Context, window_id: WindowArg, as_json: JsonOpt = False) -> None:
    """Restore a window now: remove its workers, put classes back, reconcile, price it.

    Harmless on a restored window. Refused while the window's run is still running (the
    run restores it when it ends). Exit 1 when the restore cannot complete (the window is
    then `failed` with why; the service tries again on its sweeps).

    Example: locxia capacity restore 12
    """
    from infra import capacity
    from infra.errors import CapacityError
    from infra.jobs import Registry
    from infra.jobs.runner import Runner

    window = _get(ctx, window_id)
    settings = state(ctx).settings
    runner = Runner(settings, Registry.from_entry_points())
    try:
        conn = connect(settings.require_database_url(), autocommit=True)
        try:
            row = conn.execute(
                "SELECT status FROM ops.runs WHERE id = %s", (window["run_id"],)
            ).fetchone()
            if row is not None and row[0] == "running":
                raise CapacityError(
                    f"capacity window {window_id} serves run {window['run_id']}, still running;"
                    " it is restored when the run ends"
                )
            out = capacity.Windows(settings, now=runner.now).restore(
                conn,
                window_id,
                runner.window_reconcile(window_id),
                "restored by hand (locxia capacity restore)",
                wait_lock=False,
            )
        finally:
            conn.close()
    finally:
        runner.close()
    out.pop("cost_basis", None)
    if as_json:
        emit_json(capacity.as_json(out))
    elif out.get("state") == "restored":
        console.print(f"capacity window {window_id} restored (cost {out.get('cost_usd')} USD)")
    if out.get("state") != "restored":
        if out.get("busy"):
            raise CapacityError(f"capacity window {window_id}: {out['busy']}; try again later")
        raise CapacityError(str(out.get("error") or f"capacity window {window_id} not restored"))
