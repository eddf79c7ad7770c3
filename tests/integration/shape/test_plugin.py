"""The shape plugin plans its jobs from params.instances, through the entry point."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from infra.db import connect
from infra.jobs import PlanContext, Registry
from infra.settings import Settings


def _plan(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    registry = Registry.from_entry_points()
    with connect(settings.require_database_url()) as conn:
        plan = registry.plan(PlanContext(settings, conn, datetime.now(UTC)))
    return {j.id: j.trigger.describe() for j in plan.jobs if j.owner == "shape"}, plan.failures


def test_no_rows_no_jobs(settings: Settings) -> None:
    assert _plan(settings) == ({}, {})


def test_rows_give_reconcile_and_drift_jobs(settings: Settings, tmp_path: Path) -> None:
    with connect(settings.require_database_url()) as conn:
        conn.execute(
            "INSERT INTO params.instances (name, kind, instance_class, storage_gb)"
            " VALUES ('vm-1', 'ec2', 'm6i.large', 20)"
        )
        conn.commit()
    jobs, failures = _plan(settings)
    assert jobs == {} and "shape" in failures and "LOCXIA_TERRAFORM_DIR" in failures["shape"]
    configured = settings.model_copy(update={"terraform_dir": tmp_path, "reconcile_seconds": 15})
    jobs, failures = _plan(configured)
    assert failures == {}
    assert jobs == {"shape.reconcile": "every 15s", "shape.drift": "every 3600s"}
