"""The observe plugin: one job per policy, re-planned within seconds of an edit (NOTIFY)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from infra.db import connect
from infra.jobs import PlanContext, Registry, TriggerSpec
from infra.service import Service
from infra.settings import Settings
from tests.integration.jobs.test_service import wait_for

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _plan(settings: Settings):  # type: ignore[no-untyped-def]
    with connect(settings.require_database_url()) as conn:
        return Registry.from_entry_points().plan(PlanContext(settings, conn, NOW))


def test_one_job_per_policy_at_its_cadence(settings: Settings) -> None:
    plan = _plan(settings)
    jobs = {j.id: j for j in plan.jobs if j.owner == "observe"}
    assert plan.failures == {}
    collect = {k: (j.trigger, dict(j.args)) for k, j in jobs.items() if ".collect." in k}
    assert collect == {
        "observe.collect.rds-default": (TriggerSpec.every(300), {"policy": "rds-default"}),
        "observe.collect.ec2-default": (TriggerSpec.every(300), {"policy": "ec2-default"}),
        "observe.collect.ec2-ingestion": (TriggerSpec.every(60), {"policy": "ec2-ingestion"}),
        "observe.collect.ebs-default": (TriggerSpec.every(1800), {"policy": "ebs-default"}),
        "observe.collect.s3-default": (TriggerSpec.every(86400), {"policy": "s3-default"}),
    }
    assert {
        "observe.discover",
        "observe.cap",
        "observe.costs",
        "observe.estimate",
        "observe.recommend",
        "observe.retention",
    } <= set(jobs)
    assert "observe.streams" not in jobs
    with_streams = settings.model_copy(update={"metric_streams_uri": "s3://streams/cw"})
    assert "observe.streams" in {j.id for j in _plan(with_streams).jobs}
    assert "observe.exports" not in jobs
    with_exports = settings.model_copy(update={"focus_export_uri": "s3://billing/cur/focus"})
    exports = {j.id: j for j in _plan(with_exports).jobs}["observe.exports"]
    assert (exports.task, exports.trigger) == (
        "costs.exports",
        TriggerSpec.crontab("40 */6 * * *"),
    )


def test_an_invalid_policy_row_is_reported_and_keeps_the_plan_of_others(
    settings: Settings, db_url: str
) -> None:
    with connect(db_url) as conn:
        conn.execute(
            "UPDATE params.collection_policies SET stats = '{Avg}' WHERE name = 'ebs-default'"
        )
        conn.commit()
    plan = _plan(settings)
    assert set(plan.failures) == {"observe"}
    assert (
        "params.collection_policies[ebs-default].stats: 'Avg' is not a statistic"
        in (plan.failures["observe"])
    )
    assert "core.prune-runs" in {j.id for j in plan.jobs}


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    quiet = settings.model_copy(update={"replan_seconds": 3600, "leader_poll_seconds": 0.2})
    svc = Service(quiet, Registry.from_entry_points())
    thread = threading.Thread(target=svc.run, daemon=True)
    thread.start()
    wait_for(lambda: svc.state.role == "leader")
    yield svc
    svc.stop.set()
    thread.join(10)


def _interval(service: Service, job: str) -> float | None:
    found = service._scheduler.get_job(job) if service._scheduler else None
    return None if found is None else found.trigger.interval.total_seconds()


def test_editing_a_policy_reschedules_its_job_within_seconds(service: Service, db_url: str) -> None:
    assert _interval(service, "observe.collect.rds-default") == 300
    with connect(db_url) as conn:
        conn.execute(
            "UPDATE params.collection_policies SET every_seconds = 120 WHERE name = 'rds-default'"
        )
        conn.execute(
            "INSERT INTO params.collection_policies (name, resource_type, namespace, metrics,"
            " stats, period_seconds, every_seconds, match_tags) VALUES ('rds-batch', 'rds:db',"
            " 'AWS/RDS', '{CPUUtilization}', '{Maximum}', 60, 60, '{\"task\": \"batch\"}')"
        )
        conn.commit()
    # One re-plan applies both edits, but job by job: wait for the pair, not for the first.
    wait_for(
        lambda: (
            (
                _interval(service, "observe.collect.rds-batch"),
                _interval(service, "observe.collect.rds-default"),
            )
            == (60, 120)
        ),
        timeout=10,
    )
