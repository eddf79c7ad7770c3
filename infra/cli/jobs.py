"""``locxia jobs`` and ``locxia runs``: what is planned, run a task now, what ran."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from infra.cli.errors import name_of, usage, usage_errors
from infra.cli.output import console, emit_json, table
from infra.cli.run import failure_line, run_task
from infra.cli.state import state
from infra.db import connect
from infra.errors import InputError, JobError
from infra.jobs.model import RunResult

app = typer.Typer(help="Planned jobs and registered tasks; run a task now.", no_args_is_help=True)
runs_app = typer.Typer(
    help="Recorded runs (ops.runs): what ran, when, how it ended.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def parse_args(pairs: list[str]) -> dict[str, Any]:
    """``["a=1", "b=x"]`` → ``{"a": 1, "b": "x"}``: values are JSON when they parse as JSON.

    Raises:
        InputError: an item is not ``key=value`` or the key is not an identifier.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.isidentifier():
            raise InputError(f"--arg {pair!r}: expected key=value with a Python-style key")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _check_types(task: str, args: dict[str, Any]) -> None:
    """A value of the wrong type is a usage error (exit 2), caught before a run is recorded.

    An unknown task is left to the run itself, which names the tasks that exist (exit 1).
    """
    from infra.jobs.runner import argument_type_errors

    try:
        fn = _registry().resolve(task)
    except JobError:
        return
    wrong = argument_type_errors(fn, args)
    if wrong:
        raise InputError(f"--arg: {'; '.join(wrong)}")


def _registry() -> Any:
    from infra.jobs import Registry

    return Registry.from_entry_points()


@app.command("tasks")
def list_tasks(as_json: JsonOpt = False) -> None:
    """List the tasks jobs can run (from every installed plugin)."""
    registry = _registry()
    rows = [
        {"task": t.name, "plugin": p.name, "summary": t.summary}
        for p in registry.plugins.values()
        for t in p.tasks
    ]
    if as_json:
        emit_json(rows)
        return
    console.print(
        table(
            "Tasks",
            ["task", "plugin", "summary"],
            [(r["task"], r["plugin"], r["summary"]) for r in rows],
        )
    )


@app.command("list")
def list_jobs(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show the jobs the service would schedule now (plugins + params.schedules)."""
    from infra.jobs import PlanContext
    from infra.jobs.runner import utcnow

    settings = state(ctx).settings
    registry = _registry()
    with connect(settings.require_database_url()) as conn:
        plan = registry.plan(PlanContext(settings, conn, utcnow()))
    rows = [
        {
            "job": j.id,
            "task": j.task,
            "when": j.trigger.describe(),
            "owner": j.owner,
            "args": dict(j.args),
        }
        for j in plan.jobs
    ]
    if as_json:
        emit_json({"jobs": rows, "failures": plan.failures})
        return
    console.print(
        table(
            "Planned jobs",
            ["job", "task", "when", "owner", "args"],
            [
                (
                    r["job"],
                    r["task"],
                    r["when"],
                    r["owner"],
                    json.dumps(r["args"]) if r["args"] else None,
                )
                for r in rows
            ],
        )
    )
    for owner, error in plan.failures.items():
        console.print(f"[red]could not plan {owner}:[/red] {error}")


@app.command("run")
def run_now(
    ctx: typer.Context,
    task: Annotated[
        str,
        typer.Argument(help="Task name (see `locxia jobs tasks`).", parser=name_of("task name")),
    ],
    arg: Annotated[
        list[str] | None, typer.Option("--arg", "-a", help="key=value (JSON values allowed).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run one task now, in this process, recorded in ops.runs like a scheduled run."""
    with usage_errors(ctx):
        args = parse_args(arg or [])
        _check_types(task, args)

    def show(result: RunResult) -> None:
        if as_json:
            emit_json(
                {
                    "run_id": result.run_id,
                    "status": result.status,
                    "error": result.error,
                    "details": dict(result.details),
                }
            )
        else:
            console.print(f"run {result.run_id}: [bold]{result.status}[/bold]")
            if result.details:
                console.print_json(json.dumps(dict(result.details), default=str))

    show(run_task(ctx, task, args, on_failure=show))


@app.command("trigger")
def trigger_job(
    ctx: typer.Context,
    job: Annotated[
        str,
        typer.Argument(help="Planned job id (see `locxia jobs list`).", parser=name_of("job name")),
    ],
    wait: Annotated[bool, typer.Option(help="Wait for the run to end and show it.")] = True,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait at most.")] = 600,
    as_json: JsonOpt = False,
) -> None:
    """Ask the running service to run a planned job once now (its schedule is unchanged).

    Unlike `jobs run`, the run happens inside `locxia serve` (the leader), with its
    credentials and resources. Fails when no service is running.
    """
    from infra.jobs.trigger import request_run, wait_for_run

    settings = state(ctx).settings
    with connect(settings.require_database_url(), autocommit=True) as conn:
        after = request_run(conn, job)
        if not wait:
            console.print(f"job {job}: run requested")
            return
        with console.status(f"waiting for {job}…"):
            run = wait_for_run(conn, job, after, timeout)
    if as_json:
        emit_json(run)
    else:
        console.print(
            f"job {job}: run {run['id']} [bold]{run['status']}[/bold]"
            + (f" — {run['error']}" if run["error"] else "")
        )
    if run["status"] != "success":
        ended = RunResult(run["id"], "failed", {}, run["error"] or run["status"])
        raise JobError(failure_line(job, ended))


@runs_app.command("list")
def list_runs(
    ctx: typer.Context,
    job: Annotated[
        str | None, typer.Option(help="Only this job (prefix match).", parser=name_of("job name"))
    ] = None,
    status: Annotated[
        str | None, typer.Option(help="Only this status.", parser=name_of("run status"))
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="At most this many.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Show the latest runs, newest first."""
    if status is not None and status not in ("running", "success", "failed", "interrupted"):
        raise usage(ctx, f"--status {status!r}: expected running, success, failed or interrupted")
    settings = state(ctx).settings
    with connect(settings.require_database_url()) as conn:
        rows = conn.execute(
            "SELECT id, job_id, task, trigger, status, started_at,"
            " extract(epoch FROM ended_at - started_at), error, cost_usd FROM ops.runs"
            " WHERE (%(job)s::text IS NULL OR job_id LIKE %(job)s || '%%')"
            " AND (%(status)s::text IS NULL OR status = %(status)s)"
            " ORDER BY id DESC LIMIT %(limit)s",
            {"job": job, "status": status, "limit": limit},
        ).fetchall()
    keys = ["id", "job", "task", "trigger", "status", "started_at", "seconds", "error", "cost_usd"]
    if as_json:
        # cost_usd: API spend + compute share (docs/unit-economics.md); null until priced
        emit_json([{**dict(zip(keys, row, strict=True)), "cost_usd": _usd(row[8])} for row in rows])
        return
    console.print(
        table(
            "Runs",
            keys,
            [
                (
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5].strftime("%Y-%m-%d %H:%M:%S"),
                    None if r[6] is None else f"{float(r[6]):.3f}",
                    r[7],
                    None if r[8] is None else f"{float(r[8]):.6f}",
                )
                for r in rows
            ],
        )
    )


def _usd(value: Any) -> float | None:
    """A numeric amount as a JSON number (None stays null)."""
    return None if value is None else float(value)


@runs_app.command("show")
def show_run(
    ctx: typer.Context,
    run_id: Annotated[int, typer.Argument(help="Run id (see `locxia runs list`).")],
) -> None:
    """Show one run with its details JSON (always JSON)."""
    settings = state(ctx).settings
    with connect(settings.require_database_url()) as conn:
        cur = conn.execute("SELECT * FROM ops.runs WHERE id = %s", (run_id,))
        row = cur.fetchone()
        names = [c.name for c in cur.description or []]
    if row is None:
        raise InputError(f"no run with id {run_id}")
    emit_json(dict(zip(names, row, strict=True)))
