"""Power: every tick, keep each instance stopped or running as the last apply left it.

RDS power is not a Terraform attribute, and AWS changes it behind our back: a stopped DB
instance is started again automatically after seven days (RDS User Guide, "Stopping an Amazon
RDS DB instance temporarily"; StopDBInstance API reference: "The instance restarts
automatically after 7 days"). So the scheduled tick, whatever the inputs hash, describes every
instance that has a row — one paginated ``DescribeDBInstances`` filtered on the identifiers and
one paginated ``DescribeInstances`` filtered on the project tag — and compares its state with
the power state of the last applied (or no-change) reconcile: a plan held for approval changes
nothing here, its power change waits for the approval like the rest of it.

It acts only from the states AWS accepts and waits, without a call, from any other:

* RDS ``StopDBInstance`` only from ``available`` and ``StartDBInstance`` only from ``stopped``;
  from ``backing-up``, ``modifying``, ``storage-optimization``… both fail with
  ``InvalidDBInstanceState`` (API reference, Errors; the statuses are those of the User Guide's
  "DB instance status" table, ``DBInstanceStatus`` in ``DescribeDBInstances``).
* EC2 ``StopInstances`` only from ``running`` and ``StartInstances`` only from ``stopped``
  (``IncorrectInstanceState`` otherwise: EC2 API reference, "Error codes"); ``pending`` and
  ``stopping`` are waited out.

Every action is a row of ``ops.power_events`` (migration 0058) with its reason: ``row`` or
``schedule-window`` (what asked for the state), ``aws-auto-start`` (a database we stopped is
``available`` again seven days or more later), ``started-outside`` (sooner than that, or an
EC2 instance: someone started it), ``modify-stopped`` (see below). A call that fails is
retried on later ticks after 1, 2, 4 … 60 minutes (:func:`pipelines.shape.backoff.delay`).

A plan that modifies a stopped database cannot be applied as is: "You can't modify a stopped
DB instance" (User Guide, "Limitations of stopping your DB instance"; ModifyDBInstance fails
with ``InvalidDBInstanceState``). :meth:`PowerKeeper.awake_for` starts it and waits until it is
``available`` (``LOCXIA_SHAPE_POWER_WAIT_SECONDS``, progress logged) before the apply; the
pass after the apply — and every tick after it — stops it again as soon as its state allows.

moto accepts every one of these calls in any state, and starts or stops at once: the rules
live here, in :func:`decide`, and the tests set the states through the API.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import psycopg
from psycopg.rows import dict_row

from infra.aws import AwsClients, aws_errors
from infra.errors import AwsError, LocxiaError
from infra.settings import Settings
from pipelines.observe.metrics import history
from pipelines.shape import records
from pipelines.shape.backoff import delay
from pipelines.shape.model import Desired, effective
from pipelines.shape.store import load_specs

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_rds import RDSClient

log = logging.getLogger(__name__)

Kind = Literal["rds", "ec2"]
Action = Literal["stop", "start", "wait", "none", "later"]

# StopDBInstance: only from available ("The specified DB instance isn't in the available
# state", InvalidDBInstanceState). https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_StopDBInstance.html
RDS_STOPPABLE = frozenset({"available"})
# StartDBInstance: only a stopped instance starts (InvalidDBInstanceState otherwise).
# https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_StartDBInstance.html
RDS_STARTABLE = frozenset({"stopped"})
# ModifyDBInstance: "You can't modify a stopped DB instance" (User Guide, "Limitations of
# stopping your DB instance"); InvalidDBInstanceState while the instance is not available.
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_StopInstance.html
RDS_MODIFIABLE = frozenset({"available"})
# Statuses on the way to the wanted state: nothing to do but let AWS finish.
RDS_STOPPING = frozenset({"stopping", "stopped"})
# EC2 StopInstances / StartInstances: IncorrectInstanceState outside these states.
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
EC2_STOPPABLE = frozenset({"running"})
EC2_STARTABLE = frozenset({"stopped"})
EC2_STATES = ("pending", "running", "stopping", "stopped")  # shutting-down/terminated: gone
# "You can stop a DB instance for up to seven days. If you don't manually start your DB
# instance after seven days, your DB instance is automatically started." (User Guide)
AUTO_START_AFTER = timedelta(days=7)
# DescribeDBInstances filter values per call (the API documents no limit; 100 is MaxRecords').
_RDS_NAMES_PER_CALL = 100
#: Seconds between two describes while waiting for a database to start before an apply.
POLL_SECONDS = 15.0


@dataclass(frozen=True)
class Wanted:
    """The power state one instance should have, and what asked for it."""

    name: str
    kind: Kind
    state: Literal["present", "stopped"]
    reason: Literal["row", "schedule-window"]

    @classmethod
    def of(cls, want: Desired) -> Wanted | None:
        """From a desired state (None when the instance should not exist)."""
        if want.state == "absent":
            return None
        windowed = want.window is not None and want.state != want.spec.state
        return cls(want.name, want.spec.kind, want.state, "schedule-window" if windowed else "row")


@dataclass(frozen=True)
class Seen:
    """An instance as described: its AWS status and the id its calls take."""

    status: str
    ident: str


@dataclass(frozen=True)
class Event:
    """A row of ``ops.power_events`` (the fields :func:`decide` reads)."""

    action: str
    result: str
    reason: str
    from_state: str
    attempt: int
    next_try_at: datetime | None
    at: datetime


@dataclass(frozen=True)
class History:
    """What was last done to one instance: the last event, and the last that succeeded."""

    last: Event | None = None
    last_ok: Event | None = None


@dataclass(frozen=True)
class Step:
    """What to do now for one instance.

    ``stop``/``start`` is a call; ``wait`` means AWS is busy with it (no call); ``later``, a
    failed call's back-off still runs; ``none``, it is already right. ``record`` says whether
    the step is worth a row of ``ops.power_events`` (a wait is recorded once per status).
    """

    action: Action
    reason: str
    attempt: int = 1
    record: bool = True


def decide(want: Wanted, seen: Seen | None, history: History, now: datetime) -> Step:
    """The power step for one instance (pure: every AWS rule of this module is here).

    Args:
        want: the state the last apply left it in.
        seen: its describe (None when AWS does not have it: Terraform's business).
        history: its last power events.
        now: the injected clock.
    """
    if seen is None:
        return Step("none", want.reason, record=False)
    call = _call(want, seen.status)
    if call in ("none", "wait"):
        last = history.last
        repeated = last is not None and last.action == "wait" and last.from_state == seen.status
        return Step(call, want.reason, record=call == "wait" and not repeated)
    reason = _reason(want, call, history, now)
    last = history.last
    if last is not None and last.result == "failed" and last.action == call:
        if last.next_try_at is not None and now < last.next_try_at:
            return Step("later", reason, last.attempt, record=False)
        return Step(call, reason, last.attempt + 1)
    return Step(call, reason)


def _call(want: Wanted, status: str) -> Action:
    if want.kind == "rds":
        if want.state == "stopped":
            if status in RDS_STOPPING:
                return "none"
            return "stop" if status in RDS_STOPPABLE else "wait"
        if status in RDS_STARTABLE:
            return "start"
        return "wait" if status == "stopping" else "none"  # starts once stopped
    if want.state == "stopped":
        if status in ("stopping", "stopped"):
            return "none"
        return "stop" if status in EC2_STOPPABLE else "wait"
    if status in EC2_STARTABLE:
        return "start"
    return "wait" if status == "stopping" else "none"


def _reason(want: Wanted, call: Action, history: History, now: datetime) -> str:
    """Why a stop or start is needed: who moved the instance away from the wanted state."""
    ok = history.last_ok
    if call != "stop" or ok is None:
        return want.reason
    if ok.action == "stop":  # we stopped it, and it is running again
        auto = want.kind == "rds" and now - ok.at >= AUTO_START_AFTER
        return "aws-auto-start" if auto else "started-outside"
    if ok.action == "start" and ok.reason == "modify-stopped":
        return "modify-stopped"
    return want.reason


class PowerReport(TypedDict, total=False):
    """What a power pass did (recorded in the tick's ``ops.runs`` details).

    ``acted``: instance → stopped/started; ``waiting``: instance → the status waited out;
    ``later``: instance → why it waits for its next try; ``failed``: instance → error;
    ``checked``: instances described; ``error``: the describe failed, nothing was done.
    """

    checked: int
    acted: dict[str, str]
    waiting: dict[str, str]
    later: dict[str, str]
    failed: dict[str, str]
    error: str


class PowerKeeper:
    """Describes, decides and acts on power; records every action in ``ops.power_events``."""

    def __init__(
        self,
        settings: Settings,
        *,
        now: Callable[[], datetime],
        clients: AwsClients | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        progress: Callable[[str], None] = log.info,
    ) -> None:
        self.settings = settings
        self.now = now
        self.clients = clients or AwsClients(settings)
        self.sleep = sleep
        self.monotonic = monotonic
        self.progress = progress

    # --- AWS ---------------------------------------------------------------------------------
    def _rds(self, role: Literal["read", "write"]) -> RDSClient:
        return self.clients.client("rds", role=role)

    def _ec2(self, role: Literal["read", "write"]) -> EC2Client:
        return self.clients.client("ec2", role=role)

    def describe_rds(self, names: Sequence[str]) -> dict[str, Seen]:
        """``DBInstanceStatus`` of each named database AWS has (one call per 100 names).

        Raises:
            AwsError: the describe failed.
        """
        out: dict[str, Seen] = {}
        wanted = sorted(set(names))
        client = self._rds("read")
        for i in range(0, len(wanted), _RDS_NAMES_PER_CALL):
            chunk = wanted[i : i + _RDS_NAMES_PER_CALL]
            with aws_errors("rds", "DescribeDBInstances"):
                pages = client.get_paginator("describe_db_instances").paginate(
                    Filters=[{"Name": "db-instance-id", "Values": chunk}]
                )
                for page in pages:
                    for db in page["DBInstances"]:
                        ident = str(db.get("DBInstanceIdentifier"))
                        if ident in chunk:
                            out[ident] = Seen(str(db.get("DBInstanceStatus")), ident)
        return out

    def describe_ec2(self, names: Sequence[str]) -> dict[str, Seen]:
        """State of each named (``Name`` tag) project instance that is not terminated.

        Raises:
            AwsError: the describe failed.
        """
        wanted = set(names)
        out: dict[str, Seen] = {}
        if not wanted:
            return out
        with aws_errors("ec2", "DescribeInstances"):
            pages = (
                self._ec2("read")
                .get_paginator("describe_instances")
                .paginate(
                    Filters=[
                        {
                            "Name": f"tag:{self.settings.tag_key}",
                            "Values": [self.settings.tag_value],
                        },
                        {"Name": "instance-state-name", "Values": list(EC2_STATES)},
                    ]
                )
            )
            for page in pages:
                for reservation in page["Reservations"]:
                    for inst in reservation["Instances"]:
                        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                        name = tags.get("Name")
                        if name in wanted and name not in out:
                            out[name] = Seen(inst["State"]["Name"], inst["InstanceId"])
        return out

    def _call(self, kind: Kind, action: Literal["stop", "start"], seen: Seen) -> str:
        """Stop or start one instance; return the state AWS reports the call left it in.

        RDS answers with the DB instance (``stopping`` / ``starting``), EC2 with each
        instance's ``CurrentState`` (``stopping`` / ``pending``).
        """
        if kind == "rds":
            rds = self._rds("write")
            if action == "stop":
                with aws_errors("rds", "StopDBInstance"):
                    db = rds.stop_db_instance(DBInstanceIdentifier=seen.ident)["DBInstance"]
            else:
                with aws_errors("rds", "StartDBInstance"):
                    db = rds.start_db_instance(DBInstanceIdentifier=seen.ident)["DBInstance"]
            return str(db.get("DBInstanceStatus") or _CAUSED[kind, action])
        ec2 = self._ec2("write")
        if action == "stop":
            with aws_errors("ec2", "StopInstances"):
                changes = ec2.stop_instances(InstanceIds=[seen.ident]).get("StoppingInstances")
        else:
            with aws_errors("ec2", "StartInstances"):
                changes = ec2.start_instances(InstanceIds=[seen.ident]).get("StartingInstances")
        state = (changes or [{}])[0].get("CurrentState", {}).get("Name")
        return str(state or _CAUSED[kind, action])

    # --- the pass ----------------------------------------------------------------------------
    def tick(self, conn: psycopg.Connection[Any]) -> PowerReport:
        """The scheduled pass: the power state of the last apply, for every row.

        ``conn`` is autocommit and the caller holds the shape lock. A failed describe is
        reported, not raised.
        """
        return self.enforce(conn, wanted_now(conn, self.now()))

    def enforce(
        self,
        conn: psycopg.Connection[Any],
        wanted: Mapping[str, Wanted],
        run_id: int | None = None,
    ) -> PowerReport:
        """Describe the ``wanted`` instances, then stop/start/wait each as :func:`decide` says.

        A failing call is recorded (``failed``, with its next try) and the others go on.
        """
        report = PowerReport(checked=0, acted={}, waiting={}, later={}, failed={})
        try:
            seen = {
                **self.describe_rds([n for n, w in wanted.items() if w.kind == "rds"]),
                **self.describe_ec2([n for n, w in wanted.items() if w.kind == "ec2"]),
            }
        except AwsError as exc:
            report["error"] = str(exc)
            return report
        report["checked"] = len(wanted)
        histories = load_histories(conn, list(wanted))
        now = self.now()
        for name, want in sorted(wanted.items()):
            step = decide(want, seen.get(name), histories.get(name, History()), now)
            self._do(conn, report, want, seen.get(name), step, run_id)
        return report

    def _do(
        self,
        conn: psycopg.Connection[Any],
        report: PowerReport,
        want: Wanted,
        seen: Seen | None,
        step: Step,
        run_id: int | None,
    ) -> None:
        name = want.name
        if seen is None or step.action == "none":
            return
        if step.action == "later":
            report["later"][name] = f"retry of {step.reason} after a failure"
            return
        if step.action == "wait":
            report["waiting"][name] = seen.status
            if step.record:
                _insert(conn, want, seen.status, "wait", step, "waiting", self.now(), run_id)
            return
        at = self.now()
        try:
            caused = self._call(want.kind, step.action, seen)
        except AwsError as exc:
            report["failed"][name] = str(exc)
            _insert(conn, want, seen.status, step.action, step, "failed", self.now(), run_id, exc)
            return
        report["acted"][name] = "stopped" if step.action == "stop" else "started"
        _insert(conn, want, seen.status, step.action, step, "ok", self.now(), run_id)
        _record_caused(conn, want.kind, name, at, caused, step.action)

    # --- a plan that modifies a stopped database --------------------------------------------
    @contextmanager
    def awake_for(
        self,
        conn: psycopg.Connection[Any],
        changes: Sequence[Mapping[str, Any]],
        wanted: Mapping[str, Wanted],
        run_id: int | None = None,
    ) -> Iterator[list[str]]:
        """Start the stopped databases ``changes`` update, wait until available, then apply.

        Yields the names started. Stopping them again is the power pass's job after the
        apply: AWS keeps a modified instance ``modifying`` for a while, and a stop is only
        accepted from ``available``.

        Raises:
            AwsError: a start failed, or a database was not available within
                ``LOCXIA_SHAPE_POWER_WAIT_SECONDS`` (nothing applied).
        """
        names = sorted(
            str(c["instance"])
            for c in changes
            if c.get("kind") == "rds" and c.get("action") == "update"
        )
        started: list[str] = []
        if names:
            started = self._wake(conn, names, wanted, run_id)
        yield started

    def _wake(
        self,
        conn: psycopg.Connection[Any],
        names: list[str],
        wanted: Mapping[str, Wanted],
        run_id: int | None,
    ) -> list[str]:
        timeout = self.settings.shape_power_wait_seconds
        began = self.monotonic()
        started: list[str] = []
        while True:
            seen = self.describe_rds(names)
            pending = {
                n: seen[n] for n in names if n in seen and seen[n].status not in RDS_MODIFIABLE
            }
            for name, db in pending.items():
                if db.status in RDS_STARTABLE and name not in started:
                    self._start_for_modify(conn, name, db, wanted, run_id)
                    started.append(name)
            if not pending:
                return started
            elapsed = self.monotonic() - began
            waiting = ", ".join(f"{n} ({db.status})" for n, db in sorted(pending.items()))
            if elapsed >= timeout:
                raise AwsError(
                    f"{waiting} not available after {timeout} s: RDS modifies only an available"
                    " DB instance; nothing applied",
                    "rds",
                    "DescribeDBInstances",
                    "WaitTimeout",
                )
            self.progress(
                f"waiting for {waiting} to be available before the apply"
                f" ({elapsed:.0f} s of {timeout} s)"
            )
            self.sleep(POLL_SECONDS)

    def _start_for_modify(
        self,
        conn: psycopg.Connection[Any],
        name: str,
        db: Seen,
        wanted: Mapping[str, Wanted],
        run_id: int | None,
    ) -> None:
        want = wanted.get(name) or Wanted(name, "rds", "stopped", "row")
        step = Step("start", "modify-stopped")
        at = self.now()
        try:
            caused = self._call("rds", "start", db)
        except AwsError as exc:
            _insert(conn, want, db.status, "start", step, "failed", self.now(), run_id, exc)
            raise
        _insert(conn, want, db.status, "start", step, "ok", self.now(), run_id)
        _record_caused(conn, "rds", name, at, caused, "start")


# --- what should be, what was done -----------------------------------------------------------
def wanted_now(conn: psycopg.Connection[Any], now: datetime) -> dict[str, Wanted]:
    """The power state of the last applied (or no-change) reconcile, for each row present.

    Instances whose row is gone or invalid, or that no apply has made yet, are Terraform's
    business and left out; ``reason`` says whether an open schedule window asked for it.
    """
    applied = (records.last_applied_inputs(conn) or {}).get("instances", {})
    specs, _ = load_specs(conn)
    conn.rollback()
    out: dict[str, Wanted] = {}
    for spec in specs:
        entry = applied.get(spec.name)
        if entry is None or spec.state == "absent":
            continue
        state: Literal["present", "stopped"] = (
            "stopped" if entry.get("state") == "stopped" else "present"
        )
        desired = effective(spec, now)
        windowed = desired.window is not None and desired.state == state != spec.state
        out[spec.name] = Wanted(
            spec.name, spec.kind, state, "schedule-window" if windowed else "row"
        )
    return out


def wanted_of(desired: Mapping[str, Desired]) -> dict[str, Wanted]:
    """The power states a reconcile just applied."""
    return {n: w for n, d in desired.items() if (w := Wanted.of(d)) is not None}


#: The state a call leaves an instance in when its answer does not say (RDS User Guide status
#: table; EC2 "Instance state changes").
_CAUSED: dict[tuple[Kind, str], str] = {
    ("rds", "stop"): "stopping",
    ("rds", "start"): "starting",
    ("ec2", "stop"): "stopping",
    ("ec2", "start"): "pending",
}
_RESOURCE_TYPES: dict[Kind, str] = {"rds": "rds:db", "ec2": "ec2:instance"}


def _record_caused(
    conn: psycopg.Connection[Any], kind: Kind, name: str, at: datetime, state: str, action: str
) -> None:
    """The state a call AWS accepted caused, into the state history, at the time of the call.

    Estimates price the hours from ``at`` with it; a later discovery records where it went.
    """
    history.record_transition(conn, _RESOURCE_TYPES[kind], name, at, state, f"shape:{action}")


_EVENT_COLUMNS = "action, result, reason, from_state, attempt, next_try_at, at"


def load_histories(conn: psycopg.Connection[Any], names: list[str]) -> dict[str, History]:
    """The last event and the last successful stop/start of each instance (two indexed reads)."""
    if not names:
        return {}
    with conn.cursor(row_factory=dict_row) as cur:
        last = cur.execute(
            f"SELECT DISTINCT ON (instance) instance, {_EVENT_COLUMNS} FROM ops.power_events"
            " WHERE instance = ANY(%s) ORDER BY instance, id DESC",
            (names,),
        ).fetchall()
        ok = cur.execute(
            f"SELECT DISTINCT ON (instance) instance, {_EVENT_COLUMNS} FROM ops.power_events"
            " WHERE instance = ANY(%s) AND result = 'ok' AND action IN ('stop', 'start')"
            " ORDER BY instance, id DESC",
            (names,),
        ).fetchall()
    events = {r.pop("instance"): Event(**r) for r in last}
    oks = {r.pop("instance"): Event(**r) for r in ok}
    return {n: History(events.get(n), oks.get(n)) for n in names}


def _insert(
    conn: psycopg.Connection[Any],
    want: Wanted,
    from_state: str,
    action: str,
    step: Step,
    result: str,
    now: datetime,
    run_id: int | None,
    error: LocxiaError | None = None,
) -> None:
    conn.execute(
        "INSERT INTO ops.power_events (instance, kind, from_state, wanted, action, reason,"
        " result, error, attempt, next_try_at, terraform_run_id, at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            want.name,
            want.kind,
            from_state,
            want.state,
            action,
            step.reason,
            result,
            None if error is None else str(error),
            step.attempt,
            None if error is None else now + delay(step.attempt),
            run_id,
            now,
        ),
    )


def recent(conn: psycopg.Connection[Any], limit: int = 10) -> list[dict[str, Any]]:
    """The latest power events, newest first (``locxia infra status``)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, instance, kind, from_state, wanted, action, reason, result, error,"
            " attempt, next_try_at, terraform_run_id, at FROM ops.power_events"
            " ORDER BY id DESC LIMIT %s",
            (limit,),
        ).fetchall()
