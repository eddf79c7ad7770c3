"""The role Grafana's datasource uses reads the reporting views and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors

from infra.db import connect

PRIVATE = [
    "params.schedules",
    "params.history",
    "ops.runs",
    "ops.services",
    "ops.schema_migrations",
    "costs.prices",
    "params.instances",
    "params.budgets",
    "params.collection_policies",
    "ops.terraform_runs",
    "ops.drift_findings",
    "metrics.resources",
    "metrics.datapoints",
    "costs.daily",
    "costs.estimates",
    "costs.budget_status",
    "costs.recommendations",
    "costs.anomalies",
    "params.datasets",
    "ops.dataset_versions",
    "ops.lineage",
]
WRITES = [
    "INSERT INTO reporting.job_runs (run_id) VALUES (1)",
    "UPDATE reporting.services SET role = 'leader'",
    "DELETE FROM reporting.parameter_changes",
    "INSERT INTO ops.runs (job_id, task, trigger) VALUES ('x', 'core.noop', 'manual')",
    "UPDATE params.schedules SET enabled = false",
    "DELETE FROM costs.prices",
    "UPDATE reporting.pending_approvals SET requested_by = 'x'",
    "UPDATE params.instances SET instance_class = 'db.r6g.8xlarge'",
    "DELETE FROM costs.daily",
    "UPDATE params.datasets SET enabled = false",
    "DELETE FROM ops.dataset_versions",
    "CREATE TABLE reporting.sneaky (x int)",
    "CREATE TABLE public.sneaky (x int)",
    "CREATE SCHEMA sneaky",
    "CREATE VIEW reporting.sneaky AS SELECT 1",
    "TRUNCATE ops.runs",
    "SELECT params.enable_audit('params.schedules')",
]


@pytest.fixture
def as_grafana(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with connect(db_url) as conn:
        conn.execute("SET ROLE locxia_grafana")
        yield conn


def _reporting_views(db_url: str) -> list[str]:
    with connect(db_url) as conn:
        rows = conn.execute(
            "SELECT schemaname || '.' || viewname FROM pg_views"
            " WHERE schemaname = 'reporting' ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def test_grafana_reads_every_reporting_view(
    db_url: str, as_grafana: psycopg.Connection[Any]
) -> None:
    views = _reporting_views(db_url)
    assert {
        "reporting.job_runs",
        "reporting.job_status",
        "reporting.parameter_changes",
        "reporting.daily_costs",
        "reporting.resource_costs",
        "reporting.budgets",
        "reporting.recommendations",
        "reporting.observation_costs",
        "reporting.resources",
        "reporting.instance_metrics",
        "reporting.bucket_sizes",
        "reporting.instance_changes",
        "reporting.terraform_runs",
        "reporting.pending_approvals",
        "reporting.drift",
        "reporting.datasets",
        "reporting.dataset_versions",
        "reporting.quality_checks",
        "reporting.layer_extents",
    } <= set(views)
    for view in views:
        as_grafana.execute(f"SELECT * FROM {view} LIMIT 1").fetchall()


@pytest.mark.parametrize("relation", PRIVATE, ids=PRIVATE)
def test_grafana_cannot_read_private_schemas(
    as_grafana: psycopg.Connection[Any], relation: str
) -> None:
    with pytest.raises(errors.InsufficientPrivilege):
        as_grafana.execute(f"SELECT * FROM {relation} LIMIT 1")


@pytest.mark.parametrize("statement", WRITES, ids=[w.split(" (")[0][:40] for w in WRITES])
def test_grafana_cannot_write_anything(
    db_url: str, as_grafana: psycopg.Connection[Any], statement: str
) -> None:
    with pytest.raises((errors.InsufficientPrivilege, errors.ObjectNotInPrerequisiteState)):
        as_grafana.execute(statement)
    as_grafana.rollback()
    with connect(db_url) as conn:  # and nothing was left behind
        assert conn.execute("SELECT to_regclass('reporting.sneaky')").fetchone() == (None,)
        assert conn.execute("SELECT count(*) FROM ops.runs WHERE job_id = 'x'").fetchone() == (0,)
