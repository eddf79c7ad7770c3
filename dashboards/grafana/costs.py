"""The **Costs** dashboard: what the platform costs, where the month is heading, what to cut.

Every panel reads a ``reporting`` view of migration 0042: ``daily_costs`` (Cost Explorer),
``resource_costs`` (hourly estimates per resource, uptime × price), ``budgets`` (month to
date and month-end forecast), ``recommendations`` (idle resources) and ``observation_costs``
(what the collectors themselves spend on CloudWatch and Cost Explorer requests), and
``cost_anomalies`` (migration 0070: days that cost far more than their weekday-aware baseline).

Cost Explorer lags by a day or two; its newest day is still filling, so its days count while
``covered`` (before that newest day) and the hours after are the estimates (``uncovered``):
"spent this month" and the daily bars reach up to now. Cost Explorer is read on one basis
(``LOCXIA_COST_BASIS``: ``usage`` or ``net-amortized``): the ``$cost_basis`` variable
(``reporting.cost_basis``) puts it in the title of every panel showing Cost Explorer figures,
and the cost allocation tag stat is red when a tag Cost Explorer groups by is not active.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, dashboard, stat, table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import VariableRefresh

from dashboards.grafana.common import (
    base_dashboard,
    datasource,
    default_bargauge,
    default_bars,
    default_stat,
    default_table,
    sql,
    thresholds,
)

UID = "locxia-costs"
TITLE = "Locxia / Costs"

#: What every panel showing Cost Explorer figures says about its basis.
_BASIS = " · CE basis ${cost_basis}"
_BASIS_NOTE = (
    " Cost Explorer basis (reporting.cost_basis): usage = UnblendedCost of RECORD_TYPE Usage"
    " only; net-amortized = NetAmortizedCost with credits, refunds, tax and fees netted."
)

# The budget month shown: the latest one computed up to the end of the time range.
_BUDGET_MONTH = """month = (SELECT max(month) FROM reporting.budgets
                    WHERE month <= ($__timeTo()::timestamptz AT TIME ZONE 'UTC')::date)"""
# The first instant of the month the time range ends in (UTC).
_MONTH_START = "date_trunc('month', $__timeTo()::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


# --- this month ------------------------------------------------------------------------------
def month_to_date_stat() -> stat.Panel:
    """How much has been spent this month, including the hours CE has not reported."""
    return (
        default_stat()
        .title("Spent this month" + _BASIS)
        .description(
            "Cost Explorer's complete days of the month (reporting.daily_costs, covered) plus "
            "the estimated hours it has not reported yet (reporting.resource_costs, uncovered)."
            + _BASIS_NOTE
        )
        .unit("currencyUSD")
        .decimals(2)
        .with_target(
            sql(
                f"""
                SELECT (SELECT coalesce(sum(usd), 0) FROM reporting.daily_costs
                         WHERE covered AND time >= {_MONTH_START} AND time < $__timeTo())
                     + (SELECT coalesce(sum(usd), 0) FROM reporting.resource_costs
                         WHERE uncovered AND time >= {_MONTH_START} AND time < $__timeTo())
                       AS spent_usd
                """
            )
        )
    )


def uncovered_stat() -> stat.Panel:
    """What the hours Cost Explorer has not reported yet are estimated to cost."""
    return (
        default_stat()
        .title("Not yet in Cost Explorer")
        .description(
            "Estimated cost (uptime × price catalog) of the hours after Cost Explorer's last "
            "complete day (reporting.resource_costs, uncovered)."
        )
        .unit("currencyUSD")
        .decimals(2)
        .with_target(
            sql(
                """
                SELECT coalesce(sum(usd), 0) AS estimated_usd
                  FROM reporting.resource_costs
                 WHERE uncovered AND time < $__timeTo()
                """
            )
        )
    )


def idle_savings_stat() -> stat.Panel:
    """How much acting on the open recommendations would save per month."""
    return (
        default_stat()
        .title("Idle resources could save")
        .description("Monthly saving of the open recommendations (reporting.recommendations).")
        .unit("currencyUSD")
        .decimals(2)
        .thresholds(thresholds((None, "green"), (1, "orange")))
        .with_target(
            sql(
                """
                SELECT coalesce(sum(monthly_saving_usd), 0) AS monthly_saving_usd
                  FROM reporting.recommendations
                 WHERE open
                """
            )
        )
    )


def observing_cost_stat() -> stat.Panel:
    """What watching the platform costs per month at the range's pace."""
    return (
        default_stat()
        .title("Observing costs per month")
        .description(
            "CloudWatch metrics requested and Cost Explorer requests × their price over the "
            "time range, projected to 30 days (reporting.observation_costs)."
        )
        .unit("currencyUSD")
        .decimals(2)
        .with_target(
            sql(
                """
                SELECT coalesce(sum(usd), 0) * 30 * 86400 / $__range_s AS monthly_usd
                  FROM reporting.observation_costs
                 WHERE $__timeFilter(started_at)
                """
            )
        )
    )


def budgets_bargauge() -> bargauge.Panel:
    """Where each budget's month is heading."""
    return (
        default_bargauge()
        .title("Month-end forecast vs budget" + _BASIS)
        .description(
            "Forecast (complete days + 7-complete-day run rate × days left) as a share of each "
            "budget (reporting.budgets); orange from 80 %, red over budget." + _BASIS_NOTE
        )
        .unit("percent")
        .decimals(0)
        .min(0)
        .max(150)
        .thresholds(thresholds((None, "green"), (80, "orange"), (100, "red")))
        .with_target(
            sql(
                f"""
                SELECT budget || ' (' || applies_to || ')' AS budget, forecast_percent
                  FROM reporting.budgets
                 WHERE {_BUDGET_MONTH}
                 ORDER BY forecast_percent DESC, budget
                """
            )
        )
    )


def budgets_table() -> table.Panel:
    """Month to date against each budget, with the forecast."""
    return (
        default_table()
        .title("Budgets this month" + _BASIS)
        .description(
            "Spent so far (of which estimated), daily run rate, month-end forecast and status "
            "per budget (reporting.budgets)." + _BASIS_NOTE
        )
        .span(12)
        .with_target(
            sql(
                f"""
                SELECT budget, applies_to, month, budget_usd, actual_usd AS spent_usd,
                       estimated_usd AS of_which_estimated_usd, run_rate_usd AS per_day_usd,
                       forecast_usd, used_percent, forecast_percent, status, computed_at
                  FROM reporting.budgets
                 WHERE {_BUDGET_MONTH}
                 ORDER BY forecast_percent DESC, budget
                """
            )
        )
    )


# --- where the money goes --------------------------------------------------------------------
def daily_cost_timeseries() -> timeseries.Panel:
    """What each service costs per day, estimates filling the days CE has not reported."""
    return (
        default_bars()
        .title("Daily cost per service" + _BASIS)
        .description(
            "Cost Explorer's complete days per service (reporting.daily_costs, covered), "
            "stacked; the hours it has not reported yet come from estimates, marked "
            "'(estimated)' (reporting.resource_costs)." + _BASIS_NOTE
        )
        .unit("currencyUSD")
        .decimals(2)
        .span(24)
        .with_target(
            sql(
                """
                SELECT time, service AS metric, usd
                  FROM reporting.daily_costs
                 WHERE covered AND $__timeFilter(time)
                 ORDER BY 1, 2
                """,
                "time_series",
            )
        )
        .with_target(
            sql(
                """
                SELECT $__timeGroupAlias(time, '1d'), service || ' (estimated)' AS metric,
                       sum(usd) AS usd
                  FROM reporting.resource_costs
                 WHERE uncovered AND $__timeFilter(time)
                 GROUP BY 1, 2
                 ORDER BY 1, 2
                """,
                "time_series",
                ref_id="B",
            )
        )
    )


def top_resources_table() -> table.Panel:
    """Which resources cost the most over the range, and at what monthly rate now."""
    return (
        default_table()
        .title("Top resources by cost")
        .description(
            "Cost per resource over the time range — actual (AWS Data Exports, FOCUS 1.2) where "
            "a delivery covers the hour, else estimated (uptime × price catalog) — with the "
            "actual part, its current monthly rate and why (reporting.resource_costs, source)."
        )
        .span(12)
        .with_target(
            sql(
                """
                SELECT resource, type, service, sum(usd) AS usd,
                       sum(usd) FILTER (WHERE source = 'actual') AS actual_usd,
                       (array_agg(usd ORDER BY time DESC))[1] * 730 AS monthly_rate_usd,
                       (array_agg(basis ORDER BY time DESC))[1] AS basis
                  FROM reporting.resource_costs
                 WHERE $__timeFilter(time)
                 GROUP BY resource, resource_id, type, service
                 ORDER BY usd DESC, resource
                 LIMIT 20
                """
            )
        )
    )


def uncovered_table() -> table.Panel:
    """Which resources make up the cost Cost Explorer has not reported yet."""
    return (
        default_table()
        .title("Estimated hours not yet in Cost Explorer")
        .description(
            "Per resource: hours after Cost Explorer's last complete day, their estimated cost "
            "and since when (reporting.resource_costs, uncovered)."
        )
        .span(12)
        .with_target(
            sql(
                """
                SELECT resource, service, count(*) AS hours, sum(usd) AS usd,
                       min(time) AS since, max(time) + interval '1 hour' AS until
                  FROM reporting.resource_costs
                 WHERE uncovered AND time < $__timeTo()
                 GROUP BY resource, resource_id, service
                 ORDER BY usd DESC, resource
                """
            )
        )
    )


def recommendations_table() -> table.Panel:
    """What to stop or shrink, and what it would save per month."""
    return (
        default_table()
        .title("Idle resources")
        .description(
            "Open recommendations with their monthly saving and evidence "
            "(reporting.recommendations)."
        )
        .with_target(
            sql(
                """
                SELECT resource, type, kind, action, monthly_saving_usd, first_seen, last_seen,
                       evidence
                  FROM reporting.recommendations
                 WHERE open
                 ORDER BY monthly_saving_usd DESC, resource
                """
            )
        )
    )


# --- anomalies -------------------------------------------------------------------------------
def open_anomalies_stat() -> stat.Panel:
    """Loud while a cost anomaly of the range waits for someone to acknowledge it."""
    return (
        default_stat()
        .title("Cost anomalies not acknowledged")
        .description(
            "Days in the range whose cost rose far above its weekday-aware 28-day median "
            "(reporting.cost_anomalies), not acknowledged yet: "
            "`locxia observe anomalies ack ID`."
        )
        .decimals(0)
        .thresholds(thresholds((None, "green"), (1, "red")))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .with_target(
            sql(
                """
                SELECT count(*) FILTER (WHERE NOT acknowledged) AS open_anomalies
                  FROM reporting.cost_anomalies
                 WHERE $__timeFilter(time)
                """
            )
        )
    )


def anomalies_table() -> table.Panel:
    """Which service or resource cost more than expected, by how much, and what drove it."""
    return (
        default_table()
        .title("Cost anomalies" + _BASIS)
        .description(
            "Per day: a Cost Explorer service (complete days) or a resource's estimates that "
            "rose at least LOCXIA_ANOMALY_SCORE robust deviations and LOCXIA_ANOMALY_FLOOR_USD "
            "above its weekday-aware 28-day median; the top driver is the resource (or the "
            "part the estimates do not model) that moved most (reporting.cost_anomalies)."
            + _BASIS_NOTE
        )
        .span(24)
        .with_target(
            sql(
                """
                SELECT id, day, scope, key, service, resource, observed AS observed_usd,
                       expected AS expected_usd, excess AS excess_usd, score, top_driver,
                       top_driver_delta AS top_driver_usd, drivers, detected_at, acknowledged,
                       acknowledged_by, acknowledged_at
                  FROM reporting.cost_anomalies
                 WHERE $__timeFilter(time)
                 ORDER BY day DESC, scope = 'service' DESC, excess DESC, key
                """
            )
        )
    )


# --- the cost of observing -------------------------------------------------------------------
def observing_timeseries() -> timeseries.Panel:
    """What collecting metrics and reading costs costs, over time."""
    return (
        default_bars()
        .title("Cost of observing")
        .description(
            "USD per interval of CloudWatch metrics requested and Cost Explorer requests "
            "(reporting.observation_costs), by API."
        )
        .unit("currencyUSD")
        .decimals(4)
        .interval("1h")
        .with_target(
            sql(
                """
                SELECT $__timeGroupAlias(started_at, $__interval), api AS metric,
                       sum(usd) AS usd
                  FROM reporting.observation_costs
                 WHERE $__timeFilter(started_at)
                 GROUP BY 1, 2
                 ORDER BY 1, 2
                """,
                "time_series",
            )
        )
    )


def observing_table() -> table.Panel:
    """Which jobs spend the observation budget: requests × price per job."""
    return (
        default_table()
        .title("Cost of observing by job")
        .description(
            "Per job: runs, requests (metrics requested or CE requests), API calls, USD and "
            "the monthly projection at the range's pace (reporting.observation_costs)."
        )
        .span(12)
        .with_target(
            sql(
                """
                SELECT job_id AS job, api, count(*) AS runs, sum(requests) AS requests,
                       sum(calls) AS calls, sum(usd) AS usd,
                       1000 * sum(usd) / nullif(sum(requests), 0) AS usd_per_1000_requests,
                       sum(usd) * 30 * 86400 / $__range_s AS monthly_projection_usd
                  FROM reporting.observation_costs
                 WHERE $__timeFilter(started_at)
                 GROUP BY job_id, api
                 ORDER BY usd DESC, job
                """
            )
        )
    )


def monitoring_budget_table() -> table.Panel:
    """The own-API-spend cap: this month's forecast and the cadence step in force."""
    return (
        default_table()
        .title("Monitoring budget: cadence step")
        .description(
            "Locxia's own API spend this month against params.monitoring_budget: spent "
            "(complete days), forecast at full cadence, forecast at the step in force, and the "
            "step ('stepped down: idle cadence × n') with its reason "
            "(reporting.monitoring_budget)."
        )
        .span(12)
        .with_target(
            sql(
                """
                SELECT month, cap_usd, spent_usd, forecast_usd, planned_usd, cadence, since,
                       reason, computed_at
                  FROM reporting.monitoring_budget
                 ORDER BY month DESC
                 LIMIT 3
                """
            )
        )
    )


# --- cost allocation tags --------------------------------------------------------------------
def inactive_tags_stat() -> stat.Panel:
    """Loud when a tag Cost Explorer groups by is not an active cost allocation tag."""
    return (
        default_stat()
        .title("Cost allocation tags NOT active")
        .description(
            "Tag keys Cost Explorer is grouped by (the Locxia tag, tag budgets) that AWS does "
            "not report Active (reporting.cost_tag_activation): their costs read as untagged "
            "and tag budgets as 0. Activate the tag, then `locxia observe costs --backfill`."
        )
        .decimals(0)
        .thresholds(thresholds((None, "green"), (1, "red")))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .with_target(
            sql(
                """
                SELECT count(*) FILTER (WHERE inactive) AS inactive_tags
                  FROM reporting.cost_tag_activation
                """
            )
        )
    )


def tag_activation_table() -> table.Panel:
    """Each tag key Cost Explorer groups by, its status and the warning when not active."""
    return (
        default_table()
        .title("Cost allocation tags")
        .description(
            "Status of each tag key as ce:ListCostAllocationTags said on the last costs run, "
            "what it is used for, and the warning (reporting.cost_tag_activation)."
        )
        .span(12)
        .with_target(
            sql(
                """
                SELECT tag_key, status, used_for, last_updated, checked_at, warning
                  FROM reporting.cost_tag_activation
                 ORDER BY inactive DESC, tag_key
                """
            )
        )
    )


def cost_basis_variable() -> dashboard.QueryVariable:
    """The basis of the latest Cost Explorer read, for panel titles (one value)."""
    return (
        dashboard.QueryVariable("cost_basis")
        .label("Cost Explorer basis")
        .query("SELECT basis FROM reporting.cost_basis")
        .datasource(datasource())
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
    )


# --- the dashboard ---------------------------------------------------------------------------
def costs_dashboard() -> dashboard.Dashboard:
    """The Costs dashboard, uid ``locxia-costs``."""
    return (
        base_dashboard(
            TITLE,
            UID,
            "Daily cost per service, month to date vs budget with the month-end forecast, top "
            "resources, cost anomalies and their drivers, hours Cost Explorer has not covered "
            "yet, idle resources, and what observing costs.",
        )
        .refresh("15m")
        .with_variable(cost_basis_variable())
        .with_row(dashboard.Row("This month"))
        .with_panel(inactive_tags_stat())
        .with_panel(open_anomalies_stat())
        .with_panel(month_to_date_stat())
        .with_panel(uncovered_stat())
        .with_panel(idle_savings_stat())
        .with_panel(observing_cost_stat())
        .with_panel(budgets_bargauge())
        .with_panel(budgets_table())
        .with_row(dashboard.Row("Where the money goes"))
        .with_panel(daily_cost_timeseries())
        .with_panel(anomalies_table())
        .with_panel(top_resources_table())
        .with_panel(uncovered_table())
        .with_panel(recommendations_table())
        .with_panel(tag_activation_table())
        .with_row(dashboard.Row("Cost of observing"))
        .with_panel(observing_timeseries())
        .with_panel(observing_table())
        .with_panel(monitoring_budget_table())
    )
