"""The timed guardrails: downtime outside the maintenance window, and the storage cooldown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipelines.shape import downtime as dt
from pipelines.shape.model import Desired, InstanceSpec, effective
from pipelines.shape.plan import parse

WED_NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday
NIGHT = {"days": "mon-sun", "start": "20:00", "end": "06:00", "instance_class": "db.r6g.xlarge"}


def _rds(**extra: Any) -> dict[str, Any]:
    return {
        "identifier": "work-db",
        "instance_class": "db.t4g.large",
        "allocated_storage": 100,
        "storage_type": "gp3",
        "multi_az": False,
        **extra,
    }


def _plan(before: dict[str, Any], after: dict[str, Any], kind: str = "rds") -> Any:
    rtype = "aws_db_instance" if kind == "rds" else "aws_instance"
    name = "work-db" if kind == "rds" else "vm"
    return parse(
        {
            "format_version": "1.2",
            "resource_changes": [
                {
                    "address": f'module.{kind}["{name}"].{rtype}.this',
                    "module_address": f'module.{kind}["{name}"]',
                    "type": rtype,
                    "name": "this",
                    "change": {"actions": ["update"], "before": before, "after": after},
                }
            ],
        }
    )


def _want(now: datetime = WED_NOON, **row: Any) -> dict[str, Desired]:
    spec = InstanceSpec.parse(
        {
            "name": "work-db",
            "kind": "rds",
            "instance_class": "db.t4g.large",
            "storage_gb": 100,
            "engine": "postgres",
            "engine_version": "16",
            "timezone": "UTC",
            **row,
        }
    )
    return {"work-db": effective(spec, now)}


def _timing(now: datetime = WED_NOON, **extra: Any) -> dt.Timing:
    return dt.Timing(now, extra.get("last", {}), extra.get("rds", {}))


def _found(plan: Any, desired: Any, timing: dt.Timing | None = None) -> list[str]:
    return [f.message for f in dt.check(plan, desired, timing or _timing())]


@pytest.mark.parametrize(
    "after",
    [_rds(instance_class="db.r6g.large"), _rds(multi_az=True), _rds(storage_type="io1")],
    ids=["instance_class", "multi_az", "storage_type"],
)
def test_rds_downtime_change_outside_the_window_is_held_naming_the_window(
    after: dict[str, Any],
) -> None:
    want = _want(maintenance_window="sun:03:00-sun:04:00")
    [message] = _found(_plan(_rds(), after), want)
    assert "causes downtime" in message
    assert "maintenance window sun:03:00-sun:04:00 UTC opens (2026-11-29 03:00 UTC)" in message
    assert "\n" not in message


def test_ec2_type_change_is_held_without_a_window() -> None:
    spec = InstanceSpec.parse(
        {"name": "vm", "kind": "ec2", "instance_class": "m6i.xlarge", "storage_gb": 20}
    )
    plan = _plan({"instance_type": "m6i.large"}, {"instance_type": "m6i.xlarge"}, kind="ec2")
    [message] = _found(plan, {"vm": effective(spec, WED_NOON)})
    assert message.startswith("vm: instance_type m6i.large → m6i.xlarge causes downtime")
    assert "no maintenance_window is set: held until approved" in message


def test_inside_the_window_nothing_is_held() -> None:
    want = _want(maintenance_window="wed:11:45-wed:12:30")
    assert _found(_plan(_rds(), _rds(instance_class="db.r6g.large")), want) == []


def test_changes_without_downtime_are_not_held() -> None:
    plan = _plan(_rds(), _rds(allocated_storage=200, deletion_protection=True))
    assert _found(plan, _want()) == []


def test_a_schedule_window_opening_or_closing_is_its_own_time() -> None:
    night = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)
    opening = _plan(_rds(), _rds(instance_class="db.r6g.xlarge"))
    assert _found(opening, _want(night, schedule=[NIGHT]), _timing(night)) == []
    closing = _plan(_rds(instance_class="db.r6g.xlarge"), _rds())
    assert _found(closing, _want(schedule=[NIGHT])) == []
    # the schedule explains the class, not a Multi-AZ change made with it
    both = _plan(_rds(), _rds(instance_class="db.r6g.xlarge", multi_az=True))
    [message] = _found(both, _want(night, schedule=[NIGHT]), _timing(night))
    assert "multi_az False → True" in message and "instance_class" not in message


@pytest.mark.parametrize(
    ("timing", "expected"),
    [
        (_timing(rds={"work-db": dt.RdsStatus("storage-optimization")}), "storage-optimization"),
        (
            _timing(rds={"work-db": dt.RdsStatus("modifying", frozenset({"AllocatedStorage"}))}),
            "still pending on AWS (AllocatedStorage)",
        ),
        (_timing(last={"work-db": WED_NOON - timedelta(hours=5)}), "after 2026-11-25 13:00"),
    ],
    ids=["optimizing", "pending", "within-6h"],
)
def test_storage_change_is_held_while_aws_would_refuse_it(timing: dt.Timing, expected: str) -> None:
    [message] = _found(_plan(_rds(), _rds(allocated_storage=200)), _want(), timing)
    assert message.startswith("work-db: storage change held:") and expected in message


def test_storage_cooldown_is_the_longer_of_six_hours_and_optimization() -> None:
    plan = _plan(_rds(), _rds(allocated_storage=200))
    seven_hours = {"work-db": WED_NOON - timedelta(hours=7)}
    assert _found(plan, _want(), _timing(last=seven_hours)) == []
    still = _timing(last=seven_hours, rds={"work-db": dt.RdsStatus("storage-optimization")})
    assert len(_found(plan, _want(), still)) == 1
    assert dt.storage_changes(plan) == ["work-db"]


def test_cleared_follows_the_window_the_approval_and_the_cooldown() -> None:
    held = [{"rule": "downtime", "instance": "work-db"}]
    outside = _want(maintenance_window="sun:03:00-sun:04:00")
    assert not dt.cleared(held, outside, _timing())
    assert dt.cleared(held, outside, _timing(), approved=True)
    sunday = datetime(2026, 11, 29, 3, 10, tzinfo=UTC)
    assert dt.cleared(held, outside, _timing(sunday))
    cooling = [{"rule": "storage-cooldown", "instance": "work-db"}]
    recent = {"work-db": WED_NOON - timedelta(hours=1)}
    assert not dt.cleared(cooling, outside, _timing(last=recent), approved=True)
    assert dt.cleared(cooling, outside, _timing(WED_NOON + timedelta(hours=6), last=recent))
    assert dt.only_timed(held + cooling) and not dt.only_timed([*held, {"rule": "cost"}])
