"""Datasets as parameters: a row with a schedule becomes a chained job that feeds exposure."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa

from infra.jobs import PlanContext, Registry, TriggerSpec
from infra.jobs.runner import Runner
from infra.settings import Settings
from tests.integration.feed.conftest import declare
from tests.support import formats

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_scheduled_dataset_is_planned_and_its_chain_feeds_exposure(
    canonical: pa.Table, conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    path, _ = formats.flatgeobuf(canonical, tmp_path)
    declare(conn, "pools", '{"min_rows": 10}', source=path.as_uri(), cron="0 4 * * *")
    declare(conn, "unscheduled", source=path.as_uri())
    registry = Registry.from_entry_points()
    plan = registry.plan(PlanContext(settings, conn, NOW))
    jobs = {j.id: j for j in plan.jobs if j.owner == "feed"}
    assert plan.failures == {}
    assert sorted(jobs) == ["layers.pools", "layers.stale-check"]
    job = jobs["layers.pools"]
    assert job.task == "core.chain"
    assert job.trigger == TriggerSpec.crontab("0 4 * * *", "Europe/Paris")
    assert [s["task"] for s in job.args["steps"]] == [
        "layers.ingest",
        "layers.refine",
        "layers.publish",
    ]

    runner = Runner(settings, registry)
    try:
        first = runner.run(job.task, job.args, job_id=job.id)
        second = runner.run(job.task, job.args, job_id=job.id)
    finally:
        runner.close()
    assert first.status == "success", first.error
    assert second.status == "success", second.error
    count = conn.execute("SELECT count(*) FROM exposure.pools").fetchone()
    assert count == (len(canonical),)
    steps = conn.execute(
        "SELECT job_id, details->>'noop' FROM ops.runs WHERE parent_id = %s ORDER BY id",
        (second.run_id,),
    ).fetchall()
    assert steps == [
        ("layers.pools/1:layers.ingest", "true"),
        ("layers.pools/2:layers.refine", "true"),
        ("layers.pools/3:layers.publish", "true"),
    ]
    recorded = conn.execute(
        "SELECT count(*) FROM ops.dataset_versions WHERE run_id IS NOT NULL"
    ).fetchone()
    assert recorded == (3,)


def test_a_bad_dataset_row_is_reported_by_name(
    conn: psycopg.Connection[Any], settings: Settings
) -> None:
    declare(conn, "roads", '{"min_rowz": 1}', source="https://example.org/r.gpkg", cron="0 4 * * *")
    plan = Registry.from_entry_points().plan(PlanContext(settings, conn, NOW))
    assert "params.datasets[roads]" in plan.failures["feed"]
    assert "min_rowz" in plan.failures["feed"]
