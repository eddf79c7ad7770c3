"""``locxia infra``: plan, apply, approve and inspect Terraform runs of params.instances.

Every command runs the same task as the scheduled job, through the recorded runner, so a run
started here appears in ``ops.runs`` and ``ops.terraform_runs`` like a scheduled one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.markup import escape

from infra.cli.errors import name_of
from infra.cli.output import console, emit_json, table
from infra.cli.run import run_task
from infra.cli.state import actor, state
from infra.db import connect
from infra.errors import PlanRejected
from pipelines.shape.model import instance_name

app = typer.Typer(
    help="Shape AWS from params.instances through Terraform: plan, apply, approve, status, drift.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
AsOpt = Annotated[
    str | None, typer.Option("--as", help="Who is acting (recorded; default: OS user).")
]


def _run_task(ctx: typer.Context, task: str, args: dict[str, Any]) -> dict[str, Any]:
    with console.status(f"{task}: Terraform is working…"):
        return dict(run_task(ctx, task, args).details)


def _show(details: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(details)
        return
    if details.get("skipped"):
        console.print(f"nothing to do: {details['skipped']}")
        return
    console.print(
        f"terraform run [bold]{details['terraform_run']}[/bold]: {details['status']}"
        f" (decision: {details.get('decision')})"
    )
    changes = [
        c for c in details.get("changes") or [] if c["action"] != "no-op" or c.get("importing")
    ]
    imports = sum(1 for c in changes if c.get("importing"))
    if imports:
        console.print(f"{imports} to import (instances AWS has and Terraform's state had not)")
    if changes:
        console.print(
            table(
                "Changes",
                ["instance", "action", "before", "after", "USD/month"],
                [
                    (
                        c["instance"],
                        c["action"] + (" (import)" if c.get("importing") else ""),
                        _shape(c["before"]),
                        _shape(c["after"]),
                        f"{c['monthly_before']} → {c['monthly_after']}",
                    )
                    for c in changes
                ],
            )
        )
    if details.get("monthly_before") is not None:
        console.print(f"monthly cost: {details['monthly_before']} → {details['monthly_after']} USD")
    for reason in details.get("reasons") or []:
        colour = "red" if reason["level"] == "refuse" else "yellow"
        console.print(f"[{colour}]{reason['rule']}:[/{colour}] {reason['message']}")
    if details.get("status") == "held":
        run = details["terraform_run"]
        if _only_timed(details.get("reasons") or []):
            console.print(f"waits as said above; to apply at once: locxia infra approve {run}")
        else:
            console.print(f"approve with: locxia infra approve {run}")


def _only_timed(reasons: list[Mapping[str, Any]]) -> bool:
    from pipelines.shape.downtime import only_timed

    return only_timed(reasons)


def _plan_counts(summary: Mapping[str, Any] | None) -> str | None:
    """``2 to import, 1 to update`` from a run's ``plan_summary`` (None before planning)."""
    if not summary:
        return None
    order = ("import", "create", "update", "replace", "delete", "power")
    parts = [f"{summary[k]} to {k}" for k in order if summary.get(k)]
    return ", ".join(parts) or "no changes"


def _approver(run: Mapping[str, Any]) -> str | None:
    """``login`` or ``login (as label)``; a label alone for approvals recorded before 0053."""
    login, label = run.get("approved_login"), run.get("approved_by")
    if login is None:
        return label
    return login if label in (None, login) else f"{login} (as {label})"


def _shape(side: dict[str, Any] | None) -> str | None:
    if side is None:
        return None
    return f"{side['instance_class']} {side['storage_gb']} GB {side['state']}"


@app.command("plan")
def plan(ctx: typer.Context, as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """Plan params.instances now and show changes, cost and guardrails; never applies.

    Example: locxia infra plan --json
    """
    _show(_run_task(ctx, "shape.plan", {"requested_by": actor(ctx, as_user)}), as_json)


@app.command("apply")
def apply(
    ctx: typer.Context,
    force: Annotated[
        bool, typer.Option(help="Plan even if the inputs equal the last conclusive run's.")
    ] = True,
    as_user: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plan and apply what policy allows; hold the rest for `locxia infra approve`.

    Refused plans (deleting a protected instance, shrinking storage, no final snapshot...)
    are recorded and never applied.

    Example: locxia infra apply
    """
    details = _run_task(
        ctx, "shape.reconcile", {"force": force, "requested_by": actor(ctx, as_user)}
    )
    _show(details, as_json)
    if details.get("status") == "rejected":
        raise rejection(details)


@app.command("approve")
def approve(
    ctx: typer.Context,
    run: Annotated[int, typer.Argument(help="Held terraform run id (see `infra status`).")],
    as_user: Annotated[
        str | None,
        typer.Option(
            "--as", help="A label recorded beside your login (default: OS user); not an identity."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a held plan as your database login, then apply it exactly as planned.

    The database records the approval (ops.approve_plan): your login needs the
    locxia_approver role and must not have changed an instance the plan changes. A login
    that may also apply (the service's) applies it now; otherwise the service applies it at
    its next reconcile.

    Example: locxia infra approve 42 --as "alice (on call)"
    """
    from pipelines.shape import approval

    label = actor(ctx, as_user)
    with connect(state(ctx).settings.require_database_url(), autocommit=True) as conn:
        approved = approval.record(conn, run, label)
        can_apply = approval.may_apply(conn)
    if can_apply:
        _show(_run_task(ctx, "shape.approve", {"run": run}), as_json)
        return
    if as_json:
        emit_json(
            {"terraform_run": run, "status": "held", "approved_login": approved.login,
             "approved_by": approved.label, "applied_by": "service"}
        )  # fmt: skip
        return
    console.print(
        escape(
            f"terraform run {run} approved by login {approved.login} (as {approved.label});"
            " the service applies it at its next reconcile (`locxia infra status` shows it)"
        ),
        highlight=False,
    )


@app.command("rebuild")
def rebuild_cmd(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help="The RDS instance (params.instances name).",
            parser=name_of("instance name", instance_name),
        ),
    ],
    from_snapshot: Annotated[
        str,
        typer.Option(
            "--from-snapshot",
            help="DB snapshot to restore it from.",
            parser=name_of("snapshot name"),
        ),
    ],
    as_user: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Request a rebuild of NAME from a snapshot; another login approves it.

    The snapshot must exist and be available. Once approved (`locxia infra approve-rebuild
    ID`), the next reconcile replaces exactly this instance, restored from the snapshot.

    Example: locxia infra rebuild work-db --from-snapshot work-db-before-upgrade
    """
    from infra.aws import AwsClients
    from pipelines.shape import rebuild

    settings = state(ctx).settings
    with connect(settings.require_database_url(), autocommit=True) as conn:
        rebuild.check_instance(conn, name)  # the database first: nothing to ask AWS otherwise
        rebuild.check_snapshot(AwsClients(settings).client("rds", role="read"), from_snapshot, name)
        made = rebuild.request(conn, name, from_snapshot, actor(ctx, as_user))
    if as_json:
        emit_json({"rebuild": made.id, "instance": name, "snapshot": from_snapshot,
                   "requested_login": made.login, "status": "requested"})  # fmt: skip
        return
    console.print(
        escape(
            f"rebuild {made.id} of {name} from {from_snapshot} requested by login {made.login};"
            f" another approver login approves it with `locxia infra approve-rebuild {made.id}`"
        ),
        highlight=False,
    )


@app.command("approve-rebuild")
def approve_rebuild(
    ctx: typer.Context,
    request: Annotated[int, typer.Argument(help="Rebuild request id (see `infra status`).")],
    as_user: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a rebuild request as your login (locxia_approver, not the requester).

    Example: locxia infra approve-rebuild 3 --as "alice (on call)"
    """
    from pipelines.shape import rebuild

    with connect(state(ctx).settings.require_database_url(), autocommit=True) as conn:
        login = rebuild.approve(conn, request, actor(ctx, as_user))
    if as_json:
        emit_json({"rebuild": request, "status": "approved", "approved_login": login})
        return
    console.print(
        escape(f"rebuild {request} approved by login {login}; the next reconcile carries it out"),
        highlight=False,
    )


@app.command("status")
def status(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many runs.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Latest Terraform runs (newest first), back-off, power events and open drift findings.

    Example: locxia infra status --json
    """
    from pipelines.shape import backoff, power
    from pipelines.shape.records import latest

    settings = state(ctx).settings
    with connect(settings.require_database_url()) as conn:
        runs = latest(conn, limit)
        held = backoff.waiting(conn)
        events = power.recent(conn, limit)
        from pipelines.shape import rebuild, snapshots

        rebuilds = rebuild.latest(conn, limit)
        finals = snapshots.taken(conn, limit)
        versions = [
            dict(zip(["instance", "wanted_major", "actual_version", "observed_at"], r, strict=True))
            for r in conn.execute(
                "SELECT instance, wanted_major, actual_version, observed_at"
                " FROM ops.engine_versions ORDER BY instance"
            ).fetchall()
        ]
        drift = conn.execute(
            "SELECT instance, attribute, expected, actual, source, detected_at"
            " FROM ops.drift_findings WHERE resolved_at IS NULL ORDER BY instance, attribute"
        ).fetchall()
    drift_rows = [
        dict(
            zip(
                ["instance", "attribute", "expected", "actual", "source", "detected_at"],
                r,
                strict=True,
            )
        )
        for r in drift
    ]
    backoffs = [
        {
            "inputs_hash": b.inputs_hash,
            "failures": b.failures,
            "run": b.last_run_id,
            "last_error": b.last_error,
            "next_try_at": b.next_try_at,
            "reason": b.reason,
        }
        for b in held
    ]
    if as_json:
        emit_json(
            {"runs": runs, "backoff": backoffs, "power": events, "drift": drift_rows,
             "rebuilds": rebuilds, "final_snapshots": finals, "engine_versions": versions}
        )  # fmt: skip
        return
    for b in held:
        console.print(
            f"[yellow]inputs {escape(b.inputs_hash[:12])}:[/yellow] {escape(b.reason)}"
            " (retry now: locxia infra retry)",
            highlight=False,
        )
    console.print(
        table(
            "Terraform runs",
            [
                "id",
                "purpose",
                "status",
                "decision",
                "plan",
                "by",
                "approved by",
                "USD/month",
                "started",
            ],
            [
                (
                    r["id"],
                    r["purpose"],
                    r["status"],
                    r["decision"],
                    _plan_counts(r.get("plan_summary")),
                    r["requested_by"],
                    _approver(r),
                    None
                    if r["monthly_cost_before"] is None
                    else f"{r['monthly_cost_before']} → {r['monthly_cost_after']}",
                    r["started_at"].isoformat(timespec="seconds"),
                )
                for r in runs
            ],
        )
    )
    if events:
        console.print(
            table(
                "Power events",
                ["at", "instance", "from", "action", "reason", "result", "error"],
                [
                    (
                        e["at"].isoformat(timespec="seconds"),
                        e["instance"],
                        e["from_state"],
                        e["action"],
                        e["reason"],
                        e["result"]
                        if e["next_try_at"] is None
                        else f"{e['result']} (try {e['attempt']}; next at"
                        f" {e['next_try_at'].isoformat(timespec='seconds')})",
                        e["error"],
                    )
                    for e in events
                ],
            )
        )
    _status_extras(rebuilds, finals, versions)
    for r in runs:
        if r["status"] == "held":
            for reason in r["reasons"] or []:
                console.print(
                    escape(f"run {r['id']} held: {reason['rule']}: {reason['message']}"),
                    highlight=False,
                )
    if drift_rows:
        console.print(
            table(
                "Open drift",
                ["instance", "attribute", "expected", "actual", "source"],
                [
                    (d["instance"], d["attribute"], d["expected"], d["actual"], d["source"])
                    for d in drift_rows
                ],
            )
        )


@app.command("retry")
def retry(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Plan failing inputs again at the next tick instead of waiting out their back-off.

    After a failed plan or apply the tick waits 1, 2, 4 … 60 minutes before planning the same
    inputs again (`infra status` shows why and until when); this forgets that wait. Running it
    when nothing waits changes nothing. Needs the service's login or the locxia_approver role.

    Example: locxia infra retry
    """
    from pipelines.shape import backoff

    with connect(state(ctx).settings.require_database_url(), autocommit=True) as conn:
        cleared = backoff.clear(conn)
    if as_json:
        emit_json({"cleared": cleared})
        return
    if cleared:
        console.print(
            f"back-off cleared ({cleared} failing inputs); the next reconcile plans them again"
        )
    else:
        console.print("nothing was waiting: no failed reconcile is backing off")


def _status_extras(
    rebuilds: list[dict[str, Any]], finals: list[dict[str, Any]], versions: list[dict[str, Any]]
) -> None:
    """Rebuild requests, final snapshots taken and engine versions, when there are any."""
    if versions:
        console.print(
            table(
                "Engine versions (AWS)",
                ["instance", "major wanted", "running"],
                [(v["instance"], v["wanted_major"], v["actual_version"]) for v in versions],
            )
        )
    if rebuilds:
        console.print(
            table(
                "Rebuilds",
                ["id", "instance", "snapshot", "status", "requested by", "approved by", "run"],
                [
                    (
                        r["id"],
                        r["instance"],
                        r["snapshot_identifier"],
                        r["status"],
                        r["requested_login"],
                        r["approved_login"],
                        r["terraform_run_id"],
                    )
                    for r in rebuilds
                ],  # fmt: skip
            )
        )
    if finals:
        console.print(
            table(
                "Final snapshots taken",
                ["instance", "snapshot", "run", "taken"],
                [
                    (
                        f["instance"],
                        f["snapshot_identifier"],
                        f["terraform_run"],
                        f["taken_at"].isoformat(timespec="seconds"),
                    )
                    for f in finals
                ],  # fmt: skip
            )
        )


@app.command("drift")
def drift(ctx: typer.Context, as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """Check drift now: refresh-only plan and describe every instance; record findings.

    Example: locxia infra drift
    """
    details = _run_task(ctx, "shape.drift", {"requested_by": actor(ctx, as_user)})
    if as_json:
        emit_json(details)
        return
    console.print(json.dumps(details, indent=2, default=str))


def rejection(details: Mapping[str, Any]) -> PlanRejected:
    """The error a rejected reconcile ends ``locxia infra apply`` with: what refused, where."""
    from pipelines.shape.guardrails import Finding, refusal

    run_id = details.get("terraform_run")
    findings = [Finding.from_json(f) for f in details.get("reasons") or []]
    return refusal(findings, run_id) or PlanRejected([], "by the guardrails", run_id)
