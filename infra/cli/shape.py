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

from infra.cli.output import console, emit_json, table
from infra.cli.run import run_task
from infra.cli.state import actor, state
from infra.db import connect
from infra.errors import PlanRejected

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
    changes = [c for c in details.get("changes") or [] if c["action"] != "no-op"]
    if changes:
        console.print(
            table(
                "Changes",
                ["instance", "action", "before", "after", "USD/month"],
                [
                    (
                        c["instance"],
                        c["action"],
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
        console.print(f"approve with: locxia infra approve {details['terraform_run']}")


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


@app.command("status")
def status(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many runs.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Latest Terraform runs (newest first) and open drift findings.

    Example: locxia infra status --json
    """
    from pipelines.shape.records import latest

    settings = state(ctx).settings
    with connect(settings.require_database_url()) as conn:
        runs = latest(conn, limit)
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
    if as_json:
        emit_json({"runs": runs, "drift": drift_rows})
        return
    console.print(
        table(
            "Terraform runs",
            ["id", "purpose", "status", "decision", "by", "approved by", "USD/month", "started"],
            [
                (
                    r["id"],
                    r["purpose"],
                    r["status"],
                    r["decision"],
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
