"""Reconcile: rows → desired state now → tfvars → plan → guardrails → cost → apply or hold.

One reconcile at a time per database: the session lock ``shape`` of :mod:`infra.db.locks`
(free again as soon as the holding process dies; no other login can take it) guards the
Terraform working directory; a second caller gets
:class:`~infra.errors.ReconcileBusy` at once instead of queueing behind a long apply.

The scheduled job ticks every ``LOCXIA_RECONCILE_SECONDS`` and is cheap when nothing changed:
it renders the tfvars (one SELECT), hashes them, and stops there when the newest conclusive
run (applied, no changes, held, rejected) had the same hash. A held run of the same inputs
whose approval the database recorded (``ops.approve_plan``, :mod:`pipelines.shape.approval`)
is applied instead: that is how an approver login without the service's privileges gets its
approval applied. Schedule windows change the
rendered document when they open or close, so they need no extra trigger.

A tick whose reconcile fails is not re-planned every tick: the inputs hash backs off (1, 2, 4 …
60 minutes, :mod:`pipelines.shape.backoff`) until it succeeds, the inputs change or a person
clears it. Power (stop/start) is kept by :mod:`pipelines.shape.power` on every tick, outside
this class; the ``around_apply`` hook lets it start a stopped database a plan modifies.

A run held only by timed guardrails (:mod:`pipelines.shape.downtime`: a change that causes
downtime outside its maintenance window, a storage change in AWS's cooldown) is planned again on
the first tick where they have cleared, with the same inputs.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypedDict

import psycopg

from infra import notify
from infra.aws import AwsClients
from infra.db import connect, locks
from infra.errors import (
    ApprovalRefused,
    ConfigError,
    InputError,
    LocxiaError,
    PlanRejected,
    ReconcileBusy,
)
from infra.prices import PriceCatalog
from infra.settings import Settings
from pipelines.shape import adopt, backoff, downtime, rebuild, records, snapshots, tfvars
from pipelines.shape.cost import ChangeJson, preview
from pipelines.shape.drift import DriftCounts
from pipelines.shape.guardrails import (
    Finding,
    FindingJson,
    Policy,
    check_changes,
    cost_increase,
    create_existing,
    decide,
    refusal,
    too_many_changes,
)
from pipelines.shape.model import Desired, effective
from pipelines.shape.plan import Plan, parse
from pipelines.shape.runner import Backend, EmbeddedTerraform, Terraform, backend_for
from pipelines.shape.store import load_specs
from pipelines.shape.tfvars import backend_role
from pipelines.shape.validation import check_catalog, check_scheduler

PLAN_DIR = ".locxia"
_INIT_MARKER = "locxia.init"

Mode = Literal["plan", "apply"]


class PostApply(TypedDict, total=False):
    """What followed an apply: RDS power changes and drift counts, or the error that stopped it.

    The apply stands either way; empty when nothing ran after it.
    """

    power: dict[str, str]
    drift: DriftCounts
    error: str
    final_snapshots: list[str]
    rebuilds_done: list[int]
    engine_versions: dict[str, str]


class ReconcileResult(TypedDict):
    """What ``shape.reconcile``, ``shape.plan`` and ``shape.approve`` record.

    ``terraform_run`` is the ``ops.terraform_runs`` id; ``skipped`` says why nothing was
    planned; costs are decimal strings. ``locxia infra`` prints these keys.
    """

    terraform_run: int | None
    status: str
    decision: str | None
    reasons: list[FindingJson]
    changes: list[ChangeJson]
    monthly_before: str | None
    monthly_after: str | None
    skipped: str | None
    post_apply: PostApply


#: Called after a successful apply with the settings, the desired instances and the run id.
AfterApply = Callable[[Settings, Mapping[str, Desired], int], PostApply]
#: Wraps the apply (settings, the run's changes, the desired instances, the run id): what must
#: hold while Terraform applies, e.g. a stopped database it modifies started and available.
AroundApply = Callable[
    [Settings, Sequence[ChangeJson], Mapping[str, Desired], int], AbstractContextManager[object]
]
#: Describes the named RDS instances (status, pending modifications) for the storage cooldown.
DescribeRds = Callable[[Settings, list[str]], Mapping[str, downtime.RdsStatus]]


def _notify_held(rec: psycopg.Connection[Any], result: Outcome, now: datetime) -> None:
    """``plan_held``: a plan waits for a person with ``locxia_approver`` (one per run)."""
    why = "; ".join(r["message"] for r in result.reasons) or "needs approval"
    notify.emit(
        rec,
        "plan_held",
        f"terraform_run:{result.run_id}",
        f"Plan {result.run_id} is held for approval",
        f"{why}\nMonthly cost {result.monthly_before} → {result.monthly_after} USD."
        f" Approve with `locxia infra approve {result.run_id}`.",
        {"terraform_run": result.run_id, "reasons": result.reasons, "changes": result.changes},
        now,
    )


@dataclass(frozen=True)
class Outcome:
    """What one reconcile did (also the details of its ``ops.runs`` row)."""

    run_id: int | None
    status: str
    decision: str | None = None
    reasons: list[FindingJson] = field(default_factory=list)
    changes: list[ChangeJson] = field(default_factory=list)
    monthly_before: str | None = None
    monthly_after: str | None = None
    skipped: str | None = None
    post_apply: PostApply = field(default_factory=lambda: PostApply())

    def as_dict(self) -> ReconcileResult:
        """JSON-ready form."""
        return {
            "terraform_run": self.run_id,
            "status": self.status,
            "decision": self.decision,
            "reasons": self.reasons,
            "changes": self.changes,
            "monthly_before": self.monthly_before,
            "monthly_after": self.monthly_after,
            "skipped": self.skipped,
            "post_apply": self.post_apply,
        }


def try_shape_lock(conn: psycopg.Connection[Any]) -> bool:
    """Take the shape lock on ``conn`` (autocommit) if free; True when taken.

    Held for the whole of every reconcile, approval and drift check, and free again as soon as
    their session ends: holding it proves none of them is running.
    """
    return locks.try_lock(conn, locks.SHAPE)


def release_shape_lock(conn: psycopg.Connection[Any]) -> None:
    """Release the shape lock taken by :func:`try_shape_lock` on ``conn``."""
    locks.unlock(conn, locks.SHAPE)


def terraform_dir(settings: Settings) -> Path:
    """The root module directory.

    Raises:
        ConfigError: ``LOCXIA_TERRAFORM_DIR`` is not set.
    """
    if settings.terraform_dir is None:
        raise ConfigError(
            "LOCXIA_TERRAFORM_DIR is not set (the root module to plan, e.g. terraform/live)",
            setting="LOCXIA_TERRAFORM_DIR",
        )
    return settings.terraform_dir


class Reconciler:
    """Plans and applies ``params.instances`` through Terraform, recording every run."""

    def __init__(
        self,
        settings: Settings,
        *,
        now: Callable[[], datetime],
        backend: Backend | None = None,
        after_apply: AfterApply | None = None,
        around_apply: AroundApply | None = None,
        describe_rds: DescribeRds | None = None,
    ) -> None:
        self.settings = settings
        self.describe_rds = describe_rds
        self.now = now
        self.workdir = terraform_dir(settings)
        self._own_backend = backend is None
        self.backend = backend or backend_for(settings)
        self.tf = Terraform(settings, self.workdir, self.backend)
        self.after_apply = after_apply
        self.around_apply = around_apply
        self.policy = Policy(
            settings.shape_max_changes, Decimal(str(settings.shape_auto_apply_usd))
        )

    def close(self) -> None:
        """Stop the warm Terraform worker this reconciler started, if any."""
        if self._own_backend and isinstance(self.backend, EmbeddedTerraform):
            self.backend.close()

    def _connect(self, autocommit: bool = False) -> psycopg.Connection[Any]:
        return connect(
            self.settings.require_database_url(),
            autocommit=autocommit,
            application_name="locxia:shape",
        )

    @contextmanager
    def locked(self) -> Iterator[psycopg.Connection[Any]]:
        """Hold the shape lock; yields an autocommit connection for run records.

        Raises:
            ReconcileBusy: another reconcile or drift check holds it.
        """
        conn = self._connect(autocommit=True)
        try:
            if not try_shape_lock(conn):
                raise ReconcileBusy("another reconcile or drift check is running; try later")
            try:
                yield conn
            finally:
                release_shape_lock(conn)
        finally:
            conn.close()

    # --- inputs ----------------------------------------------------------------------------
    def desired(self) -> tuple[list[Desired], PriceCatalog]:
        """Every row, validated against the catalog, with schedule windows applied now.

        Raises:
            InputError: any row is invalid (planning without it would delete its instance).
        """
        with self._connect() as conn:
            specs, errors = load_specs(conn)
            catalog = PriceCatalog.load(conn, self.settings.aws_region)
        for spec in specs:
            try:
                check_catalog(spec, catalog)
                check_scheduler(spec, self.settings)
            except InputError as exc:
                errors.append(str(exc))
        if errors:
            raise InputError("invalid rows, nothing planned: " + "; ".join(errors))
        now = self.now()
        return [effective(spec, now) for spec in specs], catalog

    # --- the run ---------------------------------------------------------------------------
    def run(
        self,
        *,
        mode: Mode,
        requested_by: str,
        job_run_id: int | None = None,
        force: bool = False,
    ) -> Outcome:
        """Plan, decide, and with ``mode="apply"`` apply what policy allows.

        Args:
            mode: ``plan`` is a dry run (recorded, never applied); ``apply`` applies when the
                guardrails allow and holds the plan for approval otherwise.
            requested_by: who asked (``scheduler`` or a person).
            job_run_id: the ``ops.runs`` row this work belongs to.
            force: plan even when the inputs equal the last conclusive run's, or when their
                last reconciles failed and their back-off still runs (a person asking).

        Raises:
            ReconcileBusy: another reconcile is running.
            InputError: a row is invalid.
            TerraformError: Terraform failed (the run is recorded as failed, and with
                ``mode="apply"`` counted against the inputs hash's back-off).
        """
        with self.locked() as rec:
            desired, catalog = self.desired()
            document = self._render(rec, desired)
            digest = tfvars.inputs_hash(document)
            approved = records.approved_held(rec, digest) if mode == "apply" else None
            if approved is not None:  # approved by a login without the service's privileges
                return self._apply_approved(rec, approved)
            if mode == "apply" and not force:
                held = backoff.gate(rec, digest, self.now())
                if held is not None:  # failed lately: not planned again before its next try
                    return Outcome(held.last_run_id, "failed", skipped=held.reason)
                last = records.last_conclusive(rec)
                if last is not None and last["inputs_hash"] == digest:
                    if self._timed_hold_cleared(rec, last["id"], desired):
                        records.supersede_run(rec, last["id"])
                    else:
                        return Outcome(
                            last["id"],
                            last["status"],
                            skipped=f"inputs unchanged since run {last['id']}",
                        )
            discovery = self._discover(rec, document)
            if discovery.found:  # recorded in ops.adoptions: imports in the tfvars now
                document = self._render(rec, desired)
                digest = tfvars.inputs_hash(document)
            records.supersede_held(rec, digest)
            run_id = records.create(
                rec,
                purpose="reconcile",
                requested_by=requested_by,
                inputs_hash=digest,
                inputs=document,
                job_run_id=job_run_id,
            )
            try:
                outcome = self._plan_and_act(
                    rec, run_id, mode, desired, document, catalog, discovery
                )
            except LocxiaError as exc:
                records.update(rec, run_id, status="failed", error=str(exc), ended_at="now")
                if mode == "apply":
                    backoff.failed(rec, digest, run_id, str(exc), self.now())
                raise
            if mode == "apply":
                backoff.succeeded(rec, digest)
            return outcome

    def _plan_and_act(
        self,
        rec: psycopg.Connection[Any],
        run_id: int,
        mode: Mode,
        desired: list[Desired],
        document: dict[str, Any],
        catalog: PriceCatalog,
        discovery: adopt.Discovery,
    ) -> Outcome:
        started = time.perf_counter()
        tfvars.write(self.workdir, document)
        planfile = self.planfile_for(run_id)
        self.ensure_init()
        outcome = self.tf.plan(planfile)
        plan = parse(self.tf.show_json(planfile))
        by_name = {d.name: d for d in desired}
        before_power = _powers(records.last_applied_inputs(rec))
        after_power = {d.name: d.state for d in desired if d.state != "absent"}
        power_changes = {
            d.name
            for d in desired
            if d.spec.kind == "rds"
            and d.state != "absent"
            and before_power.get(d.name, "present") != d.state
            and d.name in before_power
        }
        cost = preview(plan, catalog, before_power, after_power, self.now())
        findings: list[Finding] = check_changes(plan, by_name, rebuild.approved(rec))
        findings += create_existing(plan, self._existing(rec, plan, discovery))
        findings += downtime.check(plan, by_name, self.timing(rec, downtime.storage_changes(plan)))
        findings += [
            f
            for f in (
                too_many_changes(plan, self.policy, power_changes),
                cost_increase(cost, self.policy),
            )
            if f is not None
        ]
        decision = decide(findings, outcome.has_changes or bool(power_changes))
        status = {
            "no_changes": "no_changes",
            "rejected": "rejected",
            "needs_approval": "held",
            "auto_apply": "applying",
        }[decision]
        if mode == "plan" and decision in ("needs_approval", "auto_apply"):
            status = "planned"
        records.update(
            rec,
            run_id,
            status=status,
            decision=decision,
            reasons=[f.as_json() for f in findings],
            plan_summary={**plan.summary(), "power": len(power_changes)},
            changes=[c.as_json() for c in cost.changes],
            plan_json=None,
            plan_file=planfile.read_bytes() if status == "held" else None,
            monthly_cost_before=cost.monthly_before,
            monthly_cost_after=cost.monthly_after,
            decided_at="now",
            plan_seconds=time.perf_counter() - started,
            ended_at=None if status in ("applying", "held") else "now",
        )
        result = Outcome(
            run_id,
            status,
            decision,
            [f.as_json() for f in findings],
            [c.as_json() for c in cost.changes],
            str(cost.monthly_before),
            str(cost.monthly_after),
        )
        if status == "applying":
            return self._apply(rec, run_id, planfile, by_name, result)
        if status == "held":
            _notify_held(rec, result, self.now())
        planfile.unlink(missing_ok=True)
        return result

    def _apply(
        self,
        rec: psycopg.Connection[Any],
        run_id: int,
        planfile: Path,
        desired: Mapping[str, Desired],
        result: Outcome,
    ) -> Outcome:
        started = time.perf_counter()
        records.update(rec, run_id, status="applying")
        around = (
            nullcontext()
            if self.around_apply is None
            else self.around_apply(self.settings, result.changes, desired, run_id)
        )
        try:
            with around:
                log = self.tf.apply(planfile)
        except LocxiaError as exc:
            records.update(
                rec,
                run_id,
                status="failed",
                error=str(exc),
                apply_log=str(exc),
                apply_seconds=time.perf_counter() - started,
                ended_at="now",
            )
            raise
        finally:
            planfile.unlink(missing_ok=True)
        adopt.mark_imported(rec, _imports(records.get(rec, run_id, "inputs")), run_id)
        post = self._record_deletions(rec, run_id, result.changes)
        if self.after_apply is not None:
            try:
                post.update(self.after_apply(self.settings, desired, run_id))
            except LocxiaError as exc:  # applied is applied; the follow-up failure is recorded
                post["error"] = str(exc)
        records.update(
            rec,
            run_id,
            status="applied",
            apply_log=log[-20000:],
            apply_seconds=time.perf_counter() - started,
            ended_at="now",
            error=post.get("error"),
        )
        return Outcome(
            run_id,
            "applied",
            result.decision,
            result.reasons,
            result.changes,
            result.monthly_before,
            result.monthly_after,
            post_apply=post,
        )

    def approve(self, run_id: int) -> Outcome:
        """Apply held run ``run_id`` now, if the database recorded its approval.

        Who approved is not an argument: only ``ops.approve_plan`` records an approval, for
        the login that ran it (:mod:`pipelines.shape.approval`); this applies it with the
        service's privileges. The saved plan is applied exactly; Terraform refuses it if the
        state moved since. A ``downtime`` hold is approved for now; a ``storage-cooldown``
        hold is not shortened: the run stays held (``skipped`` says why) and the first tick
        after the cooldown applies it.

        Raises:
            PlanRejected: the guardrails refused the run (a refusal is final).
            ApprovalRefused: no approval of the run is recorded (nothing applied).
            InputError: no such run, it is not held, or the rows changed since it was planned
                (it is then marked superseded).
            ReconcileBusy: another reconcile is running.
            TerraformError: apply failed (recorded).
        """
        with self.locked() as rec:
            return self._apply_approved(rec, run_id)

    def _apply_approved(self, rec: psycopg.Connection[Any], run_id: int) -> Outcome:
        row = records.get(rec, run_id)
        if row is None or row["purpose"] != "reconcile":
            raise InputError(f"no reconcile run {run_id} (see `locxia infra status`)")
        _refuse_rejected(row, run_id)
        if row["status"] != "held":
            raise InputError(f"run {run_id} is {row['status']}, not held for approval")
        if row["approved_login"] is None:
            raise ApprovalRefused(
                f"run {run_id}: no approval recorded by the database; a login with the"
                f" locxia_approver role approves it with `locxia infra approve {run_id}`"
            )
        desired, _ = self.desired()
        current = tfvars.inputs_hash(self._render(rec, desired))
        if current != row["inputs_hash"]:
            records.supersede_held(rec, current)
            raise InputError(
                f"params.instances changed since run {run_id} was planned; it is superseded"
                " (run `locxia infra apply` to plan again)"
            )
        by_name = {d.name: d for d in desired}
        timing = self.timing(rec, _instances(row["reasons"], "storage-cooldown"))
        if not downtime.cleared(row["reasons"] or [], by_name, timing, approved=True):
            return Outcome(
                run_id,
                "held",
                row["decision"],
                row["reasons"],
                row["changes"],
                skipped=f"run {run_id} is approved and waits for the storage cooldown"
                " (AWS would refuse the change now); it applies on the first tick after",
            )
        planfile = self.planfile_for(run_id)
        planfile.write_bytes(bytes(row["plan_file"]))
        result = Outcome(
            run_id,
            "held",
            row["decision"],
            row["reasons"],
            row["changes"],
            str(row["monthly_cost_before"]),
            str(row["monthly_cost_after"]),
        )
        try:
            return self._apply(rec, run_id, planfile, by_name, result)
        finally:
            records.update(rec, run_id, plan_file=None)

    # --- adoption (pipelines/shape/adopt.py) -----------------------------------------------
    def _render(self, rec: psycopg.Connection[Any], desired: list[Desired]) -> dict[str, Any]:
        """The tfvars of ``desired``: adoptions recorded (imports, values found), snapshot names."""
        return tfvars.render(desired, self.settings, adopt.load(rec), self.extras(rec, desired))

    def _tag(self) -> tuple[str, str]:
        return self.settings.tag_key, self.settings.tag_value

    def _discover(self, rec: psycopg.Connection[Any], document: dict[str, Any]) -> adopt.Discovery:
        """Find the wanted instances AWS has and the state has not; record them for import.

        Runs when a reconcile plans (a skipped tick makes no call): one ``terraform state
        list``, and a describe only for the instances the state lacks — whatever the database
        remembers, the state is the truth (it may have been replaced or lost).

        Raises:
            TerraformError: ``terraform state list`` failed.
            AwsError: a describe failed.
        """
        wanted = {name: str(e["kind"]) for name, e in document["instances"].items()}
        if not wanted:
            return adopt.Discovery()
        self.ensure_init()
        in_state = adopt.instances_in_state(self.tf.state_list())
        adopt.mark_imported(rec, in_state & set(adopt.load(rec)), None)
        todo = set(wanted) - in_state
        found = adopt.discover(
            AwsClients(self.settings), {n: wanted[n] for n in sorted(todo)}, self._tag()
        )
        adopt.forget(rec, todo - set(found.found))
        adopt.save(rec, found.found.values())
        return found

    def _existing(
        self, rec: psycopg.Connection[Any], plan: Plan, discovery: adopt.Discovery
    ) -> dict[str, str]:
        """Instances the plan creates although AWS has that name, with why (one line each).

        A create that discovery did not describe (its row was rendered by an applied run, yet
        the state lacks it) is described now.
        """
        creates = {
            c.instance: str(c.kind)
            for c in plan.changes
            if c.primary and c.action == "create" and c.instance is not None
        }
        unchecked = {n: k for n, k in creates.items() if n not in discovery.checked}
        if unchecked:
            late = adopt.discover(AwsClients(self.settings), unchecked, self._tag())
            adopt.save(rec, late.found.values())
            discovery.merge(late)
        reasons = {n: r for n, r in discovery.existing.items() if n in creates}
        for name in creates.keys() & discovery.found.keys():
            reasons[name] = (
                f"AWS has it ({discovery.found[name].aws_id}) and this plan does not import it;"
                " it is recorded for import now: plan again"
            )
        return reasons

    # --- what the orchestrator adds to the rows ---------------------------------------------
    def extras(
        self, rec: psycopg.Connection[Any], desired: list[Desired]
    ) -> dict[str, dict[str, str]]:
        """Per RDS instance: its final snapshot name and the snapshot it is (re)built from."""
        names = [d.name for d in desired if d.spec.kind == "rds" and d.state != "absent"]
        finals = snapshots.current(rec, names, self.now())
        restores = rebuild.restored_from(rec)
        out: dict[str, dict[str, str]] = {}
        for name in names:
            out[name] = {"final_snapshot_identifier": finals[name]}
            if name in restores:
                out[name]["snapshot_identifier"] = restores[name]
        return out

    def _record_deletions(
        self, rec: psycopg.Connection[Any], run_id: int, changes: list[ChangeJson]
    ) -> PostApply:
        """After an apply: final snapshots taken by this run, and the rebuilds it carried out."""
        gone = [
            c["instance"]
            for c in changes
            if c["kind"] == "rds" and c["action"] in ("delete", "replace")
        ]
        if not gone:
            return PostApply()
        replaced = [c["instance"] for c in changes if c["action"] == "replace"]
        return PostApply(
            final_snapshots=snapshots.retire(rec, gone, run_id),
            rebuilds_done=rebuild.complete(rec, replaced, run_id),
        )

    # --- timed holds -------------------------------------------------------------------------
    def timing(self, rec: psycopg.Connection[Any], describe: list[str]) -> downtime.Timing:
        """What the timed guardrails read now.

        The clock always; for the RDS instances in ``describe`` (those whose storage changes),
        their last storage change from the records and their status from AWS.
        """
        if not describe:  # no storage change to judge: nothing to read
            return downtime.Timing(self.now(), {}, {})
        statuses: Mapping[str, downtime.RdsStatus] = {}
        if self.describe_rds is not None:
            statuses = self.describe_rds(self.settings, describe)
        return downtime.Timing(self.now(), downtime.last_storage_changes(rec), statuses)

    def _timed_hold_cleared(
        self, rec: psycopg.Connection[Any], run_id: int, desired: list[Desired]
    ) -> bool:
        """Whether ``run_id`` is held only by timed guardrails that have all cleared now."""
        row = records.get(rec, run_id, "status, reasons")
        if row is None or row["status"] != "held" or not downtime.only_timed(row["reasons"]):
            return False
        timing = self.timing(rec, _instances(row["reasons"], "storage-cooldown"))
        return downtime.cleared(row["reasons"], {d.name: d for d in desired}, timing)

    # --- Terraform working directory -------------------------------------------------------
    def planfile_for(self, run_id: int) -> Path:
        """Where the saved plan of run ``run_id`` lives while it is used."""
        folder = self.workdir / PLAN_DIR
        folder.mkdir(exist_ok=True)
        return folder / f"run-{run_id}.tfplan"

    def ensure_init(self) -> None:
        """``terraform init`` once per working directory and backend configuration."""
        backend = self.settings.terraform_backend_config
        wanted = (backend.read_text() + (backend_role(self.settings) or "")) if backend else ""
        marker = self.workdir / ".terraform" / _INIT_MARKER
        if marker.exists() and marker.read_text() == wanted:
            return
        self.tf.init()
        marker.parent.mkdir(exist_ok=True)
        marker.write_text(wanted)

    def reset_workdir(self) -> None:
        """Forget the init marker and saved plans (tests and operators after a module move)."""
        shutil.rmtree(self.workdir / PLAN_DIR, ignore_errors=True)
        (self.workdir / ".terraform" / _INIT_MARKER).unlink(missing_ok=True)


def _refuse_rejected(row: Mapping[str, Any], run_id: int) -> None:
    """Raise :class:`PlanRejected` for a run the guardrails rejected, naming the refusals."""
    if row["status"] != "rejected":
        return
    refused = refusal((Finding.from_json(r) for r in row["reasons"] or []), run_id)
    raise refused or PlanRejected([], "the guardrails rejected it", run_id)


def _imports(row: Mapping[str, Any] | None) -> set[str]:
    """Instances a run's tfvars import (``imports.rds`` and ``imports.ec2``)."""
    imports = ((row or {}).get("inputs") or {}).get("imports") or {}
    return {name for kind in ("rds", "ec2") for name in imports.get(kind) or {}}


def _instances(reasons: list[Mapping[str, Any]] | None, rule: str) -> list[str]:
    """Instances named by the findings of ``rule``."""
    return sorted({str(r["instance"]) for r in reasons or [] if r.get("rule") == rule})


def _powers(inputs: Mapping[str, Any] | None) -> dict[str, str]:
    if not inputs:
        return {}
    return {name: str(entry.get("state")) for name, entry in inputs.get("instances", {}).items()}
