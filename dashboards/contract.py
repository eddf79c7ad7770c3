"""The one statement of what presentation relies on: ``reporting`` view → columns, per consumer.

Both consumers — the Grafana dashboards (:mod:`dashboards.grafana`) and the HTML report
(:mod:`dashboards.report`) — read the ``reporting`` views and nothing else. A migration may add
columns to a view freely; dropping or renaming a column listed here breaks a consumer, so it is
a contract change: edit this module, the consumer and the migration in the same change.

A test holds all three to it (``tests/integration/dashboards/test_contract.py``): the migrated
views provide at least these columns, and each consumer runs in full against stand-in tables
that have *only* the columns listed for it, so a query reaching for anything else fails there
first. A listed column that a consumer's text never mentions is reported as stale.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Consumer name → view (schema ``reporting``) → the columns that consumer reads.
# Views both consumers read in full: one column set, so the two can never drift apart.
COST_EXPLAINED = frozenset(
    {
        "basis",
        "ce_usd",
        "explained_percent",
        "month",
        "remainder_usd",
        "resources_usd",
        "runs_usd",
        "tag_key",
        "tag_value",
    }
)
DATASET_COSTS = frozenset(
    {"api_usd", "compute_usd", "dataset", "month", "runs", "unpriced_runs", "usd"}
)

CONTRACT: Mapping[str, Mapping[str, frozenset[str]]] = {
    "grafana": {
        "apply_backoff": frozenset({"failures", "last_failed_at", "reason"}),
        "bucket_sizes": frozenset({"bucket", "objects", "size_bytes", "time"}),
        "budgets": frozenset(
            {
                "actual_usd",
                "applies_to",
                "budget",
                "budget_usd",
                "computed_at",
                "estimated_usd",
                "forecast_percent",
                "forecast_usd",
                "month",
                "run_rate_usd",
                "status",
                "used_percent",
            }
        ),
        "cost_anomalies": frozenset(
            {
                "acknowledged",
                "acknowledged_at",
                "acknowledged_by",
                "day",
                "detected_at",
                "drivers",
                "excess",
                "expected",
                "id",
                "key",
                "observed",
                "resource",
                "scope",
                "score",
                "service",
                "time",
                "top_driver",
                "top_driver_delta",
            }
        ),
        "cost_basis": frozenset({"basis"}),
        "cost_tag_activation": frozenset(
            {"checked_at", "inactive", "last_updated", "status", "tag_key", "used_for", "warning"}
        ),
        "daily_costs": frozenset({"covered", "service", "time", "usd"}),
        "dataset_versions": frozenset(
            {
                "bytes",
                "created_at",
                "crs",
                "dataset",
                "geometry_types",
                "parent_id",
                "reason",
                "rejected_by",
                "rows",
                "status",
                "updated_at",
                "uri",
                "version_id",
                "zone",
            }
        ),
        "datasets": frozenset(
            {
                "age_seconds",
                "dataset",
                "exposure_versions",
                "landing_versions",
                "last_feed_status",
                "last_landed_at",
                "live_rows",
                "live_version_id",
                "published_at",
                "rejected_versions",
                "schedule",
                "stale",
                "stale_reason",
                "working_versions",
                "zone",
            }
        ),
        "drift": frozenset(
            {
                "actual",
                "attribute",
                "detected_at",
                "expected",
                "instance",
                "kind",
                "last_seen_at",
                "open",
                "resolved_at",
                "source",
            }
        ),
        "instance_changes": frozenset(
            {
                "action",
                "approval",
                "instance",
                "kind",
                "monthly_after_usd",
                "monthly_before_usd",
                "requested_by",
                "run_id",
                "status",
                "summary",
                "time",
            }
        ),
        "instance_metrics": frozenset(
            {
                "kind",
                "measure",
                "metric",
                "resource",
                "stat",
                "time",
                "value",
            }
        ),
        "job_runs": frozenset(
            {
                "duration_seconds",
                "error",
                "is_step",
                "job_id",
                "started_at",
                "status",
                "task",
                "trigger",
            }
        ),
        "job_status": frozenset(
            {
                "failures",
                "job_id",
                "last_error",
                "last_failure_at",
                "last_started_at",
                "last_status",
                "last_success_at",
                "runs",
                "seconds_since_success",
                "task",
            }
        ),
        "layer_extents": frozenset(
            {
                "dataset",
                "geometry_types",
                "lat_max",
                "lat_min",
                "latitude",
                "lon_max",
                "lon_min",
                "longitude",
                "published_at",
                "rows",
                "version_id",
            }
        ),
        "observation_costs": frozenset({"api", "calls", "job_id", "requests", "started_at", "usd"}),
        "monitoring_budget": frozenset(
            {
                "cadence",
                "cap_usd",
                "computed_at",
                "forecast_usd",
                "month",
                "planned_usd",
                "reason",
                "since",
                "spent_usd",
            }
        ),
        "parameter_changes": frozenset(
            {
                "changed_at",
                "changed_by",
                "op",
                "row_key",
                "summary",
                "table_name",
            }
        ),
        "power_events": frozenset({"action", "reason", "result", "time"}),
        "pending_approvals": frozenset(
            {
                "approve_with",
                "changes",
                "held_since",
                "monthly_cost_after",
                "monthly_cost_before",
                "monthly_cost_delta",
                "reasons",
                "requested_by",
                "run_id",
                "waiting_seconds",
            }
        ),
        "price_catalog": frozenset({"effective_date", "region", "service", "source", "updated_at"}),
        "quality_checks": frozenset(
            {
                "dataset",
                "detail",
                "passed",
                "rule",
                "time",
                "uri",
                "version_id",
            }
        ),
        "recommendations": frozenset(
            {
                "action",
                "evidence",
                "first_seen",
                "kind",
                "last_seen",
                "monthly_saving_usd",
                "open",
                "resource",
                "type",
            }
        ),
        "resource_costs": frozenset(
            {
                "basis",
                "source",
                "resource",
                "resource_id",
                "service",
                "time",
                "type",
                "uncovered",
                "usd",
            }
        ),
        "resources": frozenset(
            {
                "engine",
                "first_seen",
                "gone_at",
                "instance_class",
                "kind",
                "last_seen",
                "multi_az",
                "name",
                "present",
                "resource_id",
                "state",
                "storage_gb",
                "tagged",
                "type",
            }
        ),
        "schedule_changes": frozenset(
            {
                "error",
                "jobs_added",
                "jobs_removed",
                "jobs_replaced",
                "planned_at",
                "status",
                "summary",
            }
        ),
        "schema_migrations": frozenset({"version"}),
        "services": frozenset(
            {
                "alive",
                "heartbeat_age_seconds",
                "heartbeat_at",
                "host",
                "role",
                "service_id",
                "started_at",
                "version",
            }
        ),
        # capacity raised for runs (migration 0076)
        "capacity_windows": frozenset(
            {
                "cost_usd",
                "database",
                "database_class",
                "dask_workers",
                "error",
                "id",
                "job_id",
                "opened_at",
                "plan_monthly_delta_usd",
                "reason",
                "restored_at",
                "run_status",
                "seconds_to_available",
                "state",
                "worker_type",
            }
        ),
        "terraform_runs": frozenset(
            {
                "apply_seconds",
                "approved_by",
                "changes",
                "decision",
                "error",
                "monthly_cost_delta",
                "plan_seconds",
                "purpose",
                "reasons",
                "requested_by",
                "run_id",
                "started_at",
                "status",
            }
        ),
        # cost of runs (migration 0068)
        "run_costs": frozenset({"api_usd", "compute_usd", "started_at"}),
        "job_costs": frozenset(
            {"api_usd", "compute_usd", "job_id", "month", "runs", "unpriced_runs", "usd"}
        ),
        "dataset_costs": DATASET_COSTS,
        "cost_explained": COST_EXPLAINED,
    },
    "report": {
        "cost_anomalies": frozenset(
            {
                "acknowledged",
                "acknowledged_by",
                "day",
                "drivers",
                "excess",
                "expected",
                "id",
                "key",
                "observed",
                "scope",
                "score",
                "time",
            }
        ),
        "cost_basis": frozenset({"basis"}),
        "cost_tag_activation": frozenset(
            {"checked_at", "inactive", "status", "tag_key", "used_for", "warning"}
        ),
        "budgets": frozenset(
            {
                "actual_usd",
                "applies_to",
                "budget",
                "budget_usd",
                "computed_at",
                "estimated_usd",
                "forecast_percent",
                "forecast_usd",
                "month",
                "run_rate_usd",
                "scope",
                "status",
                "used_percent",
            }
        ),
        "daily_costs": frozenset({"covered", "day", "estimated", "service", "time", "usd"}),
        "dataset_versions": frozenset(
            {
                "dataset",
                "reason",
                "rejected_by",
                "status",
                "updated_at",
                "uri",
                "version_id",
                "zone",
            }
        ),
        "datasets": frozenset(
            {
                "age_seconds",
                "dataset",
                "declared",
                "last_landed_at",
                "live_rows",
                "live_version_id",
                "published_at",
                "rejected_versions",
                "stale",
                "stale_reason",
                "zone",
            }
        ),
        "instance_metrics": frozenset(
            {
                "kind",
                "measure",
                "resource",
                "resource_id",
                "stat",
                "time",
                "value",
            }
        ),
        "job_runs": frozenset(
            {
                "duration_seconds",
                "error",
                "host",
                "is_step",
                "job_id",
                "run_id",
                "started_at",
                "status",
                "task",
            }
        ),
        "job_status": frozenset(
            {
                "failures",
                "job_id",
                "last_started_at",
                "last_status",
                "last_success_at",
                "runs",
                "task",
            }
        ),
        "observation_costs": frozenset(
            {
                "api",
                "calls",
                "job_id",
                "requests",
                "started_at",
                "status",
                "usd",
            }
        ),
        "parameter_changes": frozenset(
            {
                "change_id",
                "changed_at",
                "changed_by",
                "row_key",
                "summary",
                "table_name",
            }
        ),
        "price_catalog": frozenset({"effective_date", "region", "source", "unpriced_reason"}),
        "recommendations": frozenset(
            {
                "action",
                "first_seen",
                "kind",
                "monthly_saving_usd",
                "open",
                "resolved_at",
                "resource",
                "resource_id",
                "type",
            }
        ),
        "resource_costs": frozenset(
            {
                "basis",
                "source",
                "resource",
                "resource_id",
                "service",
                "time",
                "type",
                "uncovered",
                "usd",
            }
        ),
        "resources": frozenset({"first_seen", "kind", "name", "resource_id", "type"}),
        "services": frozenset(
            {
                "alive",
                "heartbeat_at",
                "host",
                "role",
                "service_id",
                "started_at",
            }
        ),
        # what each layer costs a month (migration 0068)
        "dataset_costs": DATASET_COSTS,
        "job_costs": frozenset({"job_id", "month", "runs", "usd"}),
        "cost_explained": COST_EXPLAINED,
    },
}

CONSUMERS = tuple(CONTRACT)


def views() -> list[str]:
    """Every view some consumer reads, sorted."""
    return sorted({view for uses in CONTRACT.values() for view in uses})


def columns_needed(view: str) -> frozenset[str]:
    """The columns of ``view`` that at least one consumer reads (empty if none reads it)."""
    return frozenset().union(*(uses.get(view, frozenset()) for uses in CONTRACT.values()))
