"""The **Resources** dashboard: how each RDS and EC2 instance behaves, and how buckets grow.

Instance panels read ``reporting.instance_metrics`` (migration 0041), where RDS's and EC2's
CloudWatch names are mapped to one measure each (``cpu``, ``free_storage``, ``swap``,
``read_iops``, ``write_iops``, ``connections``, ``network_in``, ``network_out``), so one panel
serves both kinds. ``$type`` (rds, ec2) and ``$resource`` (instance names) narrow them.
Resizes and other applied Terraform changes are drawn on every graph from
``reporting.instance_changes`` (migration 0043): old → new class, and who approved.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, table, timeseries

from dashboards.grafana.common import (
    base_dashboard,
    default_table,
    default_timeseries,
    query_variable,
    sql,
    sql_annotation,
)

UID = "locxia-resources"
TITLE = "Locxia / Resources"

_SELECTED = "kind IN ($type) AND resource IN ($resource)"


def _measures_sql(labels: dict[str, str]) -> str:
    """Average per interval and selected instance of some measures; ``labels`` → series suffix.

    With one measure the series is the instance's name; with several, ``name suffix``.
    """
    names = ", ".join(f"'{m}'" for m in labels)
    if len(labels) == 1:
        metric = "resource"
    else:
        cases = " ".join(f"WHEN '{m}' THEN ' {s}'" for m, s in labels.items())
        metric = f"resource || CASE measure {cases} END"
    return f"""
        SELECT $__timeGroupAlias(time, $__interval), {metric} AS metric, avg(value) AS value
          FROM reporting.instance_metrics
         WHERE $__timeFilter(time) AND {_SELECTED} AND stat = 'Average'
           AND measure IN ({names})
         GROUP BY 1, 2
         ORDER BY 1, 2
        """


def _measure_panel(
    title: str, description: str, unit: str, labels: dict[str, str]
) -> timeseries.Panel:
    return (
        default_timeseries()
        .title(title)
        .description(description + " (reporting.instance_metrics, Average per interval).")
        .unit(unit)
        .with_target(sql(_measures_sql(labels), "time_series"))
    )


# --- instances -------------------------------------------------------------------------------
def instances_table() -> table.Panel:
    """Which instances are selected, their shape and state now."""
    return (
        default_table()
        .title("Instances")
        .description("Selected instances as last described by discovery (reporting.resources).")
        .height(6)
        .with_target(
            sql(
                """
                SELECT name AS resource, kind, resource_id, instance_class, storage_gb, engine,
                       multi_az, state, present, first_seen, last_seen
                  FROM reporting.resources
                 WHERE kind IN ($type) AND name IN ($resource)
                 ORDER BY kind, name
                """
            )
        )
    )


def cpu_timeseries() -> timeseries.Panel:
    """How busy is each instance."""
    return _measure_panel("CPU", "CPUUtilization of each instance", "percent", {"cpu": "cpu"}).max(
        100
    )


def connections_timeseries() -> timeseries.Panel:
    """Who uses each database."""
    return _measure_panel(
        "Connections",
        "DatabaseConnections of each RDS instance",
        "short",
        {"connections": "connections"},
    )


def free_storage_timeseries() -> timeseries.Panel:
    """When will a database run out of disk."""
    return _measure_panel(
        "Free storage",
        "FreeStorageSpace of each RDS instance",
        "bytes",
        {"free_storage": "free"},
    )


def swap_timeseries() -> timeseries.Panel:
    """Is a database short of memory."""
    return _measure_panel("Swap", "SwapUsage of each RDS instance", "bytes", {"swap": "swap"})


def iops_timeseries() -> timeseries.Panel:
    """How hard are disks worked."""
    return _measure_panel(
        "Read / write IOPS",
        "ReadIOPS/WriteIOPS (RDS), EBSReadOps/EBSWriteOps per second (EC2)",
        "iops",
        {"read_iops": "read", "write_iops": "write"},
    )


def network_timeseries() -> timeseries.Panel:
    """How much data goes in and out."""
    return _measure_panel(
        "Network",
        "NetworkReceive/TransmitThroughput (RDS), NetworkIn/Out per second (EC2)",
        "Bps",
        {"network_in": "in", "network_out": "out"},
    )


def resize_history_table() -> table.Panel:
    """What Terraform changed on the selected instances, and who approved it."""
    return (
        default_table()
        .title("Resize history")
        .description(
            "Applied changes of the selected instances: old → new class, storage or state, "
            "monthly cost before/after, requested and approved by (reporting.instance_changes)."
        )
        .with_target(
            sql(
                """
                SELECT time, instance, kind, action, summary, monthly_before_usd,
                       monthly_after_usd, requested_by, approval, run_id
                  FROM reporting.instance_changes
                 WHERE status = 'applied' AND $__timeFilter(time) AND kind IN ($type)
                   AND instance IN ($resource)
                 ORDER BY time DESC, instance
                """
            )
        )
    )


def resize_annotation() -> dashboard.AnnotationQuery:
    """Applied Terraform changes drawn on every graph: a step in a curve, explained."""
    return sql_annotation(
        "Resizes",
        """
        SELECT time, instance || ': ' || summary || ' (' || approval || ', requested by '
                   || requested_by || ', run ' || run_id || ')' AS text,
               kind || ',' || action AS tags
          FROM reporting.instance_changes
         WHERE status = 'applied' AND $__timeFilter(time) AND kind IN ($type)
           AND instance IN ($resource)
         ORDER BY time
        """,
        "orange",
    )


# --- buckets ---------------------------------------------------------------------------------
def bucket_size_timeseries() -> timeseries.Panel:
    """How fast each bucket grows."""
    return (
        default_timeseries()
        .title("S3 bucket sizes")
        .description(
            "BucketSizeBytes (Standard storage) per bucket and day (reporting.bucket_sizes)."
        )
        .unit("bytes")
        .with_target(
            sql(
                """
                SELECT time, bucket AS metric, size_bytes
                  FROM reporting.bucket_sizes
                 WHERE $__timeFilter(time) AND size_bytes IS NOT NULL
                 ORDER BY 1, 2
                """,
                "time_series",
            )
        )
    )


def buckets_table() -> table.Panel:
    """How big is each bucket now, and how much did it grow over the range."""
    return (
        default_table()
        .title("Buckets")
        .description(
            "Latest size and object count per bucket, and growth over the time range "
            "(reporting.bucket_sizes)."
        )
        .span(12)
        .with_target(
            sql(
                """
                SELECT bucket,
                       (array_agg(size_bytes ORDER BY time DESC))[1] AS size_bytes,
                       (array_agg(objects ORDER BY time DESC))[1] AS objects,
                       (array_agg(size_bytes ORDER BY time DESC))[1]
                           - (array_agg(size_bytes ORDER BY time))[1] AS growth_bytes,
                       max(time) AS measured_at
                  FROM reporting.bucket_sizes
                 WHERE $__timeFilter(time) AND size_bytes IS NOT NULL
                 GROUP BY bucket
                 ORDER BY size_bytes DESC, bucket
                """
            )
        )
    )


# --- the dashboard ---------------------------------------------------------------------------
def type_variable() -> dashboard.QueryVariable:
    """``$type``: rds and/or ec2."""
    return query_variable(
        "type",
        "Type",
        "SELECT DISTINCT kind FROM reporting.resources WHERE kind IN ('rds', 'ec2') ORDER BY 1",
    )


def resource_variable() -> dashboard.QueryVariable:
    """``$resource``: the instances of the selected types seen during the range."""
    return query_variable(
        "resource",
        "Instance",
        """
        SELECT name FROM reporting.resources
         WHERE kind IN ($type) AND tagged
           AND (gone_at IS NULL OR gone_at >= $__timeFrom())
         ORDER BY 1
        """,
    )


def resources_dashboard() -> dashboard.Dashboard:
    """The Resources dashboard, uid ``locxia-resources``."""
    return (
        base_dashboard(
            TITLE,
            UID,
            "Per RDS/EC2 instance: CPU, connections, free storage, swap, IOPS, network, with "
            "resizes as annotations; S3 bucket sizes.",
        )
        .with_variable(type_variable())
        .with_variable(resource_variable())
        .annotation(resize_annotation())
        .with_row(dashboard.Row("Instances"))
        .with_panel(instances_table())
        .with_panel(cpu_timeseries())
        .with_panel(connections_timeseries())
        .with_panel(free_storage_timeseries())
        .with_panel(swap_timeseries())
        .with_panel(iops_timeseries())
        .with_panel(network_timeseries())
        .with_panel(resize_history_table())
        .with_row(dashboard.Row("S3 buckets"))
        .with_panel(bucket_size_timeseries())
        .with_panel(buckets_table())
    )
