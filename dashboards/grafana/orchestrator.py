"""The **Orchestrator** dashboard: is the scheduler healthy, what ran, what failed, what changed.

Every panel reads a ``reporting`` view created by migration 0040 (``job_runs``, ``job_status``,
``services``, ``schedule_changes``, ``parameter_changes``, ``schema_migrations``,
``price_catalog``). The ``$job`` variable narrows the run panels to some jobs.

Infrastructure changes (pending approvals, Terraform runs, drift) read the *shape* feature's
views of migration 0043 (``pending_approvals``, ``terraform_runs``, ``drift``); they come from
:func:`infrastructure_panels` and sit under their own row.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, stat, table, timeseries
from grafana_foundation_sdk.cog import builder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model

from dashboards.grafana.common import (
    base_dashboard,
    default_bars,
    default_stat,
    default_table,
    default_timeseries,
    query_variable,
    sql,
    sql_annotation,
    thresholds,
)

UID = "locxia-orchestrator"
TITLE = "Locxia / Orchestrator"

# Top-level runs of the jobs selected in $job (chain steps are counted in their parent).
_RUNS_OF_JOBS = "NOT is_step AND job_id IN ($job)"


# --- runs ------------------------------------------------------------------------------------
def runs_timeseries() -> timeseries.Panel:
    """How many runs per interval, by outcome."""
    return (
        default_bars()
        .title("Job runs by status")
        .description("Runs started per interval (reporting.job_runs), stacked by status.")
        .with_target(
            sql(
                f"""
                SELECT $__timeGroupAlias(started_at, $__interval), status AS metric,
                       count(*) AS runs
                  FROM reporting.job_runs
                 WHERE $__timeFilter(started_at) AND {_RUNS_OF_JOBS}
                 GROUP BY 1, 2
                 ORDER BY 1, 2
                """,
                "time_series",
            )
        )
    )


def failures_timeseries() -> timeseries.Panel:
    """Which jobs failed, when."""
    return (
        default_bars()
        .title("Failed runs by job")
        .description("Failed runs per interval (reporting.job_runs), stacked by job.")
        .with_target(
            sql(
                f"""
                SELECT $__timeGroupAlias(started_at, $__interval), job_id AS metric,
                       count(*) AS failures
                  FROM reporting.job_runs
                 WHERE $__timeFilter(started_at) AND status = 'failed' AND {_RUNS_OF_JOBS}
                 GROUP BY 1, 2
                 ORDER BY 1, 2
                """,
                "time_series",
            )
        )
    )


def durations_timeseries() -> timeseries.Panel:
    """Is a job getting slower?"""
    return (
        default_timeseries()
        .title("Longest run per job")
        .description("Slowest finished run of each job per interval (reporting.job_runs).")
        .unit("s")
        .show_points(common_model.VisibilityMode.ALWAYS)  # sparse series: a point per interval
        .with_target(
            sql(
                f"""
                SELECT $__timeGroupAlias(started_at, $__interval), job_id AS metric,
                       max(duration_seconds) AS seconds
                  FROM reporting.job_runs
                 WHERE $__timeFilter(started_at) AND duration_seconds IS NOT NULL
                   AND {_RUNS_OF_JOBS}
                 GROUP BY 1, 2
                 ORDER BY 1, 2
                """,
                "time_series",
            )
        )
    )


def durations_table() -> table.Panel:
    """Typical and worst duration of each job over the range."""
    return (
        default_table()
        .title("Duration per job")
        .description("Median, 95th percentile and maximum duration over the time range.")
        .span(12)
        .with_target(
            sql(
                f"""
                SELECT job_id AS job, count(*) AS runs,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_seconds)
                           AS p50_seconds,
                       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_seconds)
                           AS p95_seconds,
                       max(duration_seconds) AS max_seconds
                  FROM reporting.job_runs
                 WHERE $__timeFilter(started_at) AND duration_seconds IS NOT NULL
                   AND {_RUNS_OF_JOBS}
                 GROUP BY job_id
                 ORDER BY p95_seconds DESC, job
                """
            )
        )
    )


def success_ratio_stat() -> stat.Panel:
    """What share of finished runs succeeded over the range."""
    return (
        default_stat()
        .title("Runs succeeded")
        .description("Successful share of finished runs in the time range (reporting.job_runs).")
        .unit("percent")
        .decimals(1)
        .thresholds(thresholds((None, "red"), (90, "orange"), (99, "green")))
        .with_target(
            sql(
                f"""
                SELECT 100.0 * count(*) FILTER (WHERE status = 'success')
                       / nullif(count(*) FILTER (WHERE status IN ('success', 'failed')), 0)
                       AS success_percent
                  FROM reporting.job_runs
                 WHERE $__timeFilter(started_at) AND {_RUNS_OF_JOBS}
                """
            )
        )
    )


# --- jobs ------------------------------------------------------------------------------------
def failing_jobs_stat() -> stat.Panel:
    """How many jobs are failing right now."""
    return (
        default_stat()
        .title("Jobs failing now")
        .description("Jobs whose latest run failed (reporting.job_status).")
        .decimals(0)
        .thresholds(thresholds((None, "green"), (1, "red")))
        .with_target(
            sql(
                """
                SELECT count(*) FILTER (WHERE last_status = 'failed') AS failing_jobs
                  FROM reporting.job_status
                 WHERE job_id IN ($job)
                """
            )
        )
    )


def last_success_table() -> table.Panel:
    """When did each job last succeed, and what is it doing now."""
    return (
        default_table()
        .title("Last success per job")
        .description(
            "Latest run and latest success of every job (reporting.job_status); failing first."
        )
        .with_target(
            sql(
                """
                SELECT job_id AS job, task, last_status, last_started_at, last_success_at,
                       seconds_since_success, last_failure_at, runs, failures, last_error
                  FROM reporting.job_status
                 WHERE job_id IN ($job)
                 ORDER BY last_status = 'failed' DESC, seconds_since_success DESC NULLS FIRST,
                          job_id
                """
            )
        )
    )


def recent_failures_table() -> table.Panel:
    """What exactly failed recently, with the error."""
    return (
        default_table()
        .title("Recent failures")
        .description("The latest failed runs and chain steps with their error (last 50).")
        .with_target(
            sql(
                """
                SELECT started_at AS time, job_id AS job, task, trigger, duration_seconds,
                       error
                  FROM reporting.job_runs
                 WHERE $__timeFilter(started_at) AND status = 'failed'
                   AND split_part(job_id, '/', 1) IN ($job)
                 ORDER BY started_at DESC
                 LIMIT 50
                """
            )
        )
    )


# --- service ---------------------------------------------------------------------------------
def services_stat() -> stat.Panel:
    """Is there a live leader (and standbys to take over)."""
    return (
        default_stat()
        .title("Live services")
        .description(
            "Services with a heartbeat in the last 30 s, by role (reporting.services); "
            "no live leader means nothing is scheduled."
        )
        .decimals(0)
        .thresholds(thresholds((None, "red"), (1, "green")))
        .with_target(
            sql(
                """
                SELECT count(*) FILTER (WHERE alive AND role = 'leader') AS leaders,
                       count(*) FILTER (WHERE alive AND role = 'standby') AS standbys
                  FROM reporting.services
                """
            )
        )
    )


def services_table() -> table.Panel:
    """Which services exist, which leads, how fresh their heartbeat is."""
    return (
        default_table()
        .title("Services and heartbeats")
        .description("Every `locxia serve` seen (reporting.services), live ones first.")
        .span(12)
        .with_target(
            sql(
                """
                SELECT service_id, host, version, role, alive, heartbeat_age_seconds,
                       heartbeat_at, started_at
                  FROM reporting.services
                 ORDER BY alive DESC, heartbeat_at DESC
                """
            )
        )
    )


def schedule_changes_table() -> table.Panel:
    """When did the schedule change, and which jobs moved."""
    return (
        default_table()
        .title("Schedule changes")
        .description("Re-plans that added, replaced or removed jobs (reporting.schedule_changes).")
        .span(12)
        .with_target(
            sql(
                """
                SELECT planned_at AS time, status, jobs_added, jobs_replaced, jobs_removed,
                       summary, error
                  FROM reporting.schedule_changes
                 WHERE $__timeFilter(planned_at)
                 ORDER BY planned_at DESC
                """
            )
        )
    )


# --- parameters ------------------------------------------------------------------------------
def parameter_changes_timeseries() -> timeseries.Panel:
    """How often, and where, are parameters edited."""
    return (
        default_bars()
        .title("Parameter changes by table")
        .description("Audited changes per interval (reporting.parameter_changes), by table.")
        .with_target(
            sql(
                """
                SELECT $__timeGroupAlias(changed_at, $__interval), table_name AS metric,
                       count(*) AS changes
                  FROM reporting.parameter_changes
                 WHERE $__timeFilter(changed_at)
                 GROUP BY 1, 2
                 ORDER BY 1, 2
                """,
                "time_series",
            )
        )
    )


def parameter_changes_table() -> table.Panel:
    """Who changed which parameter, from what to what."""
    return (
        default_table()
        .title("Parameter changes")
        .description("The audit trail of params.* (reporting.parameter_changes): fields old → new.")
        .span(12)
        .with_target(
            sql(
                """
                SELECT changed_at AS time, table_name, op, row_key, changed_by, summary
                  FROM reporting.parameter_changes
                 WHERE $__timeFilter(changed_at)
                 ORDER BY changed_at DESC
                 LIMIT 200
                """
            )
        )
    )


def parameter_changes_annotation() -> dashboard.AnnotationQuery:
    """Parameter changes drawn on every time series, to explain a step in a curve."""
    return sql_annotation(
        "Parameter edits",
        """
        SELECT changed_at AS time,
               table_name || '[' || coalesce(row_key, '?') || '] ' || lower(op)
                   || ' by ' || changed_by || ': ' || summary AS text,
               table_name AS tags
          FROM reporting.parameter_changes
         WHERE $__timeFilter(changed_at)
         ORDER BY changed_at
        """,
        "purple",
    )


# --- platform --------------------------------------------------------------------------------
def schema_version_stat() -> stat.Panel:
    """Which schema version the database is at."""
    return (
        default_stat()
        .title("Schema version")
        .description("Highest migration applied (reporting.schema_migrations).")
        .decimals(0)
        .color_mode(common_model.BigValueColorMode.NONE)
        .with_target(sql("SELECT max(version) AS schema_version FROM reporting.schema_migrations"))
    )


def price_catalog_table() -> table.Panel:
    """How fresh are the prices cost estimates rely on, and where they come from."""
    return (
        default_table()
        .title("Price catalog")
        .description(
            "Prices per region and service (reporting.price_catalog): count, oldest "
            "effective date, last load and source."
        )
        .span(18)
        .with_target(
            sql(
                """
                SELECT region, service, count(*) AS items,
                       min(effective_date) AS oldest_effective_date,
                       max(updated_at) AS last_loaded_at,
                       string_agg(DISTINCT source, ', ') AS sources
                  FROM reporting.price_catalog
                 GROUP BY region, service
                 ORDER BY region, service
                """
            )
        )
    )


# --- infrastructure changes (the shape feature) ----------------------------------------------
def pending_approvals_stat() -> stat.Panel:
    """How many plans wait for someone to approve them."""
    return (
        default_stat()
        .title("Plans waiting for approval")
        .description(
            "Terraform plans held for `locxia infra approve` (reporting.pending_approvals)."
        )
        .decimals(0)
        .thresholds(thresholds((None, "green"), (1, "orange")))
        .with_target(sql("SELECT count(*) AS held_plans FROM reporting.pending_approvals"))
    )


def open_drift_stat() -> stat.Panel:
    """How many differences between Terraform and AWS are open."""
    return (
        default_stat()
        .title("Open drift")
        .description("Open differences between what Terraform applied and AWS (reporting.drift).")
        .decimals(0)
        .thresholds(thresholds((None, "green"), (1, "red")))
        .with_target(
            sql("SELECT count(*) FILTER (WHERE open) AS open_findings FROM reporting.drift")
        )
    )


def apply_backoff_stat() -> stat.Panel:
    """Why the reconcile is not planning: the back-off of failing inputs, or all clear."""
    return (
        default_stat()
        .title("Reconcile back-off")
        .description(
            "Failed reconciles wait 1, 2, 4 … 60 minutes before the tick plans the same inputs "
            "again: how many failures, the last error, the next try "
            "(reporting.apply_backoff; clear with `locxia infra retry`)."
        )
        .decimals(0)
        .thresholds(thresholds((None, "green"), (1, "orange")))
        .with_target(
            sql(
                """
                SELECT coalesce(max(failures), 0) AS failures,
                       coalesce((SELECT reason FROM reporting.apply_backoff
                                  ORDER BY last_failed_at DESC LIMIT 1),
                                'no failing reconcile') AS reason
                  FROM reporting.apply_backoff
                """
            )
        )
    )


def power_events_stat() -> stat.Panel:
    """Power actions in the range: stops, starts, AWS restarts caught, failed calls."""
    return (
        default_stat()
        .title("Power actions")
        .description(
            "Stops and starts the power pass issued in the range, databases AWS restarted "
            "after seven days and stopped again, failed calls (reporting.power_events)."
        )
        .decimals(0)
        .with_target(
            sql(
                """
                SELECT count(*) FILTER (WHERE action IN ('stop', 'start') AND result = 'ok')
                           AS actions,
                       count(*) FILTER (WHERE reason = 'aws-auto-start') AS aws_restarts,
                       count(*) FILTER (WHERE result = 'failed') AS failed_calls
                  FROM reporting.power_events
                 WHERE $__timeFilter(time)
                """
            )
        )
    )


def pending_approvals_table() -> table.Panel:
    """Which plans wait for approval, what they change, what they cost, why they wait."""
    return (
        default_table()
        .title("Pending approvals")
        .description(
            "Held plans, oldest first: who asked, what would change, the monthly cost delta, "
            "the guardrail that held them and the command to approve (reporting.pending_approvals)."
        )
        .with_target(
            sql(
                """
                SELECT run_id, requested_by, held_since, waiting_seconds, changes,
                       monthly_cost_before, monthly_cost_after, monthly_cost_delta, reasons,
                       approve_with
                  FROM reporting.pending_approvals
                 ORDER BY held_since, run_id
                """
            )
        )
    )


def terraform_runs_timeseries() -> timeseries.Panel:
    """How often Terraform ran, and how the runs ended."""
    return (
        default_bars()
        .title("Terraform runs by status")
        .description("Terraform runs started per interval (reporting.terraform_runs), by status.")
        .with_target(
            sql(
                """
                SELECT $__timeGroupAlias(started_at, $__interval), status AS metric,
                       count(*) AS runs
                  FROM reporting.terraform_runs
                 WHERE $__timeFilter(started_at)
                 GROUP BY 1, 2
                 ORDER BY 1, 2
                """,
                "time_series",
            )
        )
    )


def terraform_runs_table() -> table.Panel:
    """What each recent Terraform run changed, who asked and who approved."""
    return (
        default_table()
        .title("Terraform runs")
        .description(
            "Recent reconciles and drift checks: decision, changes (old → new), cost delta, "
            "requested/approved by, timings, error (reporting.terraform_runs)."
        )
        .with_target(
            sql(
                """
                SELECT run_id, started_at AS time, purpose, status, decision, changes,
                       monthly_cost_delta, requested_by, approved_by, plan_seconds,
                       apply_seconds, reasons, error
                  FROM reporting.terraform_runs
                 WHERE $__timeFilter(started_at)
                 ORDER BY started_at DESC, run_id DESC
                 LIMIT 50
                """
            )
        )
    )


def drift_table() -> table.Panel:
    """Where AWS differs from what Terraform applied."""
    return (
        default_table()
        .title("Drift")
        .description(
            "Differences between the last apply and AWS, open ones first "
            "(reporting.drift: expected vs actual, found by describe or refresh)."
        )
        .with_target(
            sql(
                """
                SELECT instance, kind, attribute, expected, actual, source, open, detected_at,
                       last_seen_at, resolved_at
                  FROM reporting.drift
                 WHERE open OR $__timeFilter(last_seen_at)
                 ORDER BY open DESC, last_seen_at DESC
                """
            )
        )
    )


def open_capacity_stat() -> stat.Panel:
    """Capacity raised for runs and not yet removed: paid while it shows."""
    return (
        default_stat()
        .title("Capacity windows open")
        .description(
            "Capacity raised for a run (Dask workers, a database class) and not yet restored"
            " (reporting.capacity_windows); a failed restore is retried by the service and"
            " shown here until AWS is back as it was."
        )
        .decimals(0)
        .thresholds(thresholds((None, "green"), (1, "orange")))
        .with_target(
            sql(
                "SELECT count(*) FILTER (WHERE state <> 'restored') AS open_windows"
                " FROM reporting.capacity_windows"
            )
        )
    )


def capacity_windows_table() -> table.Panel:
    """Each capacity window: what its run declared, how long it took to raise, what it cost."""
    return (
        default_table()
        .title("Capacity windows")
        .description(
            "Capacity raised for a run and removed after (reporting.capacity_windows): the job,"
            " workers and classes declared, the plan's monthly cost delta, seconds until"
            " available, state, the window's cost and why it failed if it did."
        )
        .with_target(
            sql(
                """
                SELECT id, opened_at AS time, job_id, run_status, state, dask_workers,
                       worker_type, database, database_class, plan_monthly_delta_usd,
                       seconds_to_available, restored_at, cost_usd, reason, error
                  FROM reporting.capacity_windows
                 WHERE state <> 'restored' OR $__timeFilter(opened_at)
                 ORDER BY opened_at DESC, id DESC
                 LIMIT 50
                """
            )
        )
    )


def infrastructure_panels() -> list[builder.Builder[model.Panel]]:
    """The shape feature's panels: pending approvals, back-off, power, Terraform runs, drift.

    They read ``reporting.pending_approvals``, ``reporting.terraform_runs`` and
    ``reporting.drift`` (migration 0043), ``reporting.apply_backoff`` and
    ``reporting.power_events`` (0058), ``reporting.capacity_windows`` (0076), and appear under
    an "Infrastructure changes" row.
    """
    return [
        pending_approvals_stat(),
        open_drift_stat(),
        apply_backoff_stat(),
        power_events_stat(),
        pending_approvals_table(),
        terraform_runs_timeseries(),
        terraform_runs_table(),
        drift_table(),
        open_capacity_stat(),
        capacity_windows_table(),
    ]


# --- cost of runs (migration 0068) ------------------------------------------------------------
def run_costs_timeseries() -> timeseries.Panel:
    """What the runs cost per interval, API spend and compute share apart."""
    return (
        default_bars()
        .title("Cost of runs")
        .description(
            "USD per interval (reporting.run_costs): AWS API spend the runs caused (CloudWatch,"
            " Cost Explorer, S3 requests) and their share of the host and database they used."
        )
        .unit("currencyUSD")
        .with_target(
            sql(
                """
                SELECT $__timeGroupAlias(started_at, $__interval),
                       sum(api_usd) AS "API", sum(compute_usd) AS "compute"
                  FROM reporting.run_costs
                 WHERE $__timeFilter(started_at)
                 GROUP BY 1
                 ORDER BY 1
                """,
                "time_series",
            )
        )
    )


def job_costs_table() -> table.Panel:
    """Cost of each job per month."""
    return (
        default_table()
        .title("Cost per job and month")
        .description(
            "reporting.job_costs: runs, USD (API + compute share) and runs that could not be"
            " priced (their basis says why)."
        )
        .span(12)
        .with_target(
            sql(
                """
                SELECT month, job_id AS job, runs, usd, api_usd, compute_usd, unpriced_runs
                  FROM reporting.job_costs
                 WHERE month >= date_trunc('month', $__timeFrom()::timestamptz)::date
                 ORDER BY month DESC, usd DESC, job
                """
            )
        )
    )


def cost_explained_table() -> table.Panel:
    """How much of Cost Explorer's monthly cost of the Locxia tag runs and resources explain."""
    return (
        default_table()
        .title("Cost Explorer's month: explained and remainder")
        .description(
            "reporting.cost_explained: Cost Explorer's cost per tag value and month (its basis),"
            " what runs and priced resources explain, and the remainder. Nothing is forced to"
            " add up: a negative remainder means the estimates exceed the bill."
        )
        .span(12)
        .with_target(
            sql(
                """
                SELECT month, tag_key, tag_value, basis, ce_usd, runs_usd, resources_usd,
                       explained_percent, remainder_usd
                  FROM reporting.cost_explained
                 ORDER BY month DESC, tag_key, tag_value
                """
            )
        )
    )


# --- the dashboard ---------------------------------------------------------------------------
def job_variable() -> dashboard.QueryVariable:
    """``$job``: the jobs that have run (chain steps excluded)."""
    return query_variable("job", "Job", "SELECT job_id FROM reporting.job_status ORDER BY 1")


def orchestrator_dashboard() -> dashboard.Dashboard:
    """The Orchestrator dashboard, uid ``locxia-orchestrator``."""
    board = (
        base_dashboard(
            TITLE,
            UID,
            "Scheduler health: runs and failures, durations, last success per job, services "
            "and leader heartbeat, schedule and parameter changes.",
        )
        .with_variable(job_variable())
        .annotation(parameter_changes_annotation())
        .with_row(dashboard.Row("Runs"))
        .with_panel(success_ratio_stat())
        .with_panel(failing_jobs_stat())
        .with_panel(services_stat())
        .with_panel(schema_version_stat())
        .with_panel(runs_timeseries())
        .with_panel(failures_timeseries())
        .with_panel(durations_timeseries())
        .with_panel(durations_table())
        .with_row(dashboard.Row("Jobs"))
        .with_panel(last_success_table())
        .with_panel(recent_failures_table())
        .with_row(dashboard.Row("Service and schedule"))
        .with_panel(services_table())
        .with_panel(schedule_changes_table())
        .with_row(dashboard.Row("Parameters"))
        .with_panel(parameter_changes_timeseries())
        .with_panel(parameter_changes_table())
        .with_row(dashboard.Row("Cost of runs"))
        .with_panel(run_costs_timeseries())
        .with_panel(job_costs_table())
        .with_panel(cost_explained_table())
        .with_row(dashboard.Row("Platform"))
        .with_panel(price_catalog_table())
    )
    extra = infrastructure_panels()
    if extra:
        board = board.with_row(dashboard.Row("Infrastructure changes"))
        for panel in extra:
            board = board.with_panel(panel)
    return board
