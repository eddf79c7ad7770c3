"""Power rules (pipelines.shape.power.decide): which AWS states allow which call, and why.

moto starts and stops in any state, so these rules are the product's own; each row cites the
AWS rule it encodes (see docs/real-aws.md, "Power states and retries").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.errors import AwsError
from infra.settings import load_settings
from pipelines.shape.power import (
    AUTO_START_AFTER,
    Event,
    History,
    PowerKeeper,
    Seen,
    Wanted,
    decide,
)

NOW = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)


def _want(kind: str = "rds", state: str = "stopped", reason: str = "row") -> Wanted:
    return Wanted("db", kind, state, reason)  # type: ignore[arg-type]


def _event(action: str, result: str = "ok", **kw: Any) -> Event:
    fields: dict[str, Any] = {
        "reason": "row",
        "from_state": "available",
        "attempt": 1,
        "next_try_at": None,
        "at": NOW - timedelta(hours=1),
    }
    fields.update(kw)
    return Event(action=action, result=result, **fields)


# StopDBInstance only from available; StartDBInstance only from stopped; any other status is
# waited out without a call (InvalidDBInstanceState otherwise).
RDS_CASES = [
    ("stopped", "available", "stop"),
    ("stopped", "backing-up", "wait"),
    ("stopped", "modifying", "wait"),
    ("stopped", "storage-optimization", "wait"),
    ("stopped", "upgrading", "wait"),
    ("stopped", "configuring-enhanced-monitoring", "wait"),
    ("stopped", "starting", "wait"),
    ("stopped", "rebooting", "wait"),
    ("stopped", "stopping", "none"),
    ("stopped", "stopped", "none"),
    ("present", "stopped", "start"),
    ("present", "stopping", "wait"),
    ("present", "starting", "none"),
    ("present", "available", "none"),
    ("present", "modifying", "none"),
    ("present", "backing-up", "none"),
]


@pytest.mark.parametrize(
    ("wanted", "status", "action"), RDS_CASES, ids=[f"{w}-{s}" for w, s, _ in RDS_CASES]
)
def test_rds_acts_only_from_available_or_stopped(wanted: str, status: str, action: str) -> None:
    step = decide(_want("rds", wanted), Seen(status, "db"), History(), NOW)
    assert step.action == action


# EC2 StopInstances only from running, StartInstances only from stopped (IncorrectInstanceState).
EC2_CASES = [
    ("stopped", "running", "stop"),
    ("stopped", "pending", "wait"),
    ("stopped", "stopping", "none"),
    ("stopped", "stopped", "none"),
    ("present", "stopped", "start"),
    ("present", "stopping", "wait"),
    ("present", "pending", "none"),
    ("present", "running", "none"),
]


@pytest.mark.parametrize(
    ("wanted", "status", "action"), EC2_CASES, ids=[f"{w}-{s}" for w, s, _ in EC2_CASES]
)
def test_ec2_acts_only_from_running_or_stopped(wanted: str, status: str, action: str) -> None:
    step = decide(_want("ec2", wanted), Seen(status, "i-1"), History(), NOW)
    assert step.action == action


def test_an_instance_aws_does_not_have_is_left_to_terraform() -> None:
    assert decide(_want(), None, History(), NOW).action == "none"


def test_a_wait_is_recorded_once_per_status() -> None:
    busy = Seen("backing-up", "db")
    first = decide(_want(), busy, History(), NOW)
    assert first.action == "wait" and first.record
    again = decide(
        _want(), busy, History(last=_event("wait", "waiting", from_state="backing-up")), NOW
    )
    assert again.action == "wait" and not again.record
    other = decide(
        _want(),
        Seen("modifying", "db"),
        History(_event("wait", "waiting", from_state="backing-up")),
        NOW,
    )
    assert other.record


@pytest.mark.parametrize(
    ("stopped_ago", "reason"),
    [
        (AUTO_START_AFTER, "aws-auto-start"),
        (AUTO_START_AFTER + timedelta(hours=3), "aws-auto-start"),
        (timedelta(days=2), "started-outside"),
    ],
    ids=["seven-days", "later", "sooner"],
)
def test_a_database_we_stopped_that_runs_again_says_who_started_it(
    stopped_ago: timedelta, reason: str
) -> None:
    """'You can stop a DB instance for up to seven days … automatically started' (User Guide)."""
    ours = _event("stop", at=NOW - stopped_ago)
    step = decide(_want(), Seen("available", "db"), History(ours, ours), NOW)
    assert (step.action, step.reason) == ("stop", reason)


def test_an_ec2_instance_started_again_was_started_outside() -> None:
    ours = _event("stop", at=NOW - timedelta(days=9))
    step = decide(_want("ec2"), Seen("running", "i-1"), History(ours, ours), NOW)
    assert (step.action, step.reason) == ("stop", "started-outside")


def test_a_database_started_for_a_modification_is_stopped_again_for_that_reason() -> None:
    woke = _event("start", reason="modify-stopped", from_state="stopped")
    step = decide(_want(), Seen("available", "db"), History(woke, woke), NOW)
    assert (step.action, step.reason) == ("stop", "modify-stopped")


def test_the_reason_of_the_wanted_state_otherwise() -> None:
    step = decide(_want(reason="schedule-window"), Seen("available", "db"), History(), NOW)
    assert (step.action, step.reason) == ("stop", "schedule-window")


def test_a_failed_call_backs_off_then_retries_with_the_next_attempt() -> None:
    failed = _event("stop", "failed", attempt=2, next_try_at=NOW + timedelta(minutes=2), at=NOW)
    seen = Seen("available", "db")
    waiting = decide(_want(), seen, History(failed), NOW + timedelta(minutes=1))
    assert waiting.action == "later" and not waiting.record
    retried = decide(_want(), seen, History(failed), NOW + timedelta(minutes=2))
    assert (retried.action, retried.attempt) == ("stop", 3)


class _StillStarting(PowerKeeper):
    """A database AWS keeps ``starting`` (moto starts at once: the state is set here)."""

    def describe_rds(self, names: Any) -> dict[str, Seen]:
        return {n: Seen("starting", n) for n in names}


def test_waiting_for_a_database_to_start_times_out_with_progress() -> None:
    settings = load_settings(shape_power_wait_seconds=60)
    clock = iter(range(0, 1000, 15))
    lines: list[str] = []
    keeper = _StillStarting(
        settings,
        now=lambda: NOW,
        sleep=lambda _: None,
        monotonic=lambda: float(next(clock)),
        progress=lines.append,
    )
    changes = [{"instance": "work-db", "kind": "rds", "action": "update"}]
    with pytest.raises(AwsError, match=r"work-db \(starting\) not available after 60 s"):
        with keeper.awake_for(None, changes, {}):  # type: ignore[arg-type]
            pytest.fail("applied before the database was available")
    assert [line.rsplit("(", 1)[1] for line in lines] == [
        "15 s of 60 s)",
        "30 s of 60 s)",
        "45 s of 60 s)",
    ]
    assert lines[0].startswith("waiting for work-db (starting) to be available before the apply")


def test_a_plan_without_database_updates_wakes_nothing() -> None:
    keeper = _StillStarting(load_settings(), now=lambda: NOW)
    changes = [
        {"instance": "work-db", "kind": "rds", "action": "power"},
        {"instance": "vm", "kind": "ec2", "action": "update"},
    ]
    with keeper.awake_for(None, changes, {}) as started:  # type: ignore[arg-type]
        assert started == []
