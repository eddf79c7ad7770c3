"""Dashboard query times at fleet scale: every panel of Costs, Resources and Layers.

The fleet of the observe acceptance scenario (20 RDS, 20 EC2, 20 S3 buckets) observed for
7 days at 5-minute periods with the default policies' metrics and statistics (RDS 8 metrics,
EC2 5, Average and Maximum): about 1.05 million datapoints, fed directly in SQL (moto is far
too slow at this volume), plus hourly estimates, 14 Cost Explorer days, budgets and
recommendations. The feed's catalog holds 200 scheduled datasets fed daily for 30 days (a
landing, a working and an exposure version per feed, 5 % rejected by quality, one chain run
each): 17,400 versions. Each panel's SQL is expanded as Grafana would (last 7 days, "All" selected)
and run as ``locxia_grafana``; the times are the median of 5 rounds.

Anchor: Grafana's data proxy gives up after 30 s per query; a dashboard people open every day
should draw each panel well under a second.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from bench.common import bench_database, median
from dashboards.grafana.build import all_dashboards
from dashboards.grafana.check import Frame, PgRunner, check_dashboard
from dashboards.grafana.macros import TimeRange
from infra.db import connect

NAME = "dashboards"
TITLE = (
    "Dashboards: every Costs, Resources and Layers panel over a 7-day, 1M-datapoint fleet"
    " and a 200-dataset feed (issue 6)"
)
FLEET = 20
DAYS = 7
ROUNDS = 5
RDS = [
    "CPUUtilization",
    "FreeStorageSpace",
    "SwapUsage",
    "ReadIOPS",
    "WriteIOPS",
    "DatabaseConnections",
    "NetworkReceiveThroughput",
    "NetworkTransmitThroughput",
]
EC2 = ["CPUUtilization", "NetworkIn", "NetworkOut", "EBSReadOps", "EBSWriteOps"]
DATASETS = 200
FEEDS = 30  # daily feeds per dataset


def _seed(url: str, end: datetime) -> int:
    start = end - timedelta(days=DAYS)
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO metrics.resources (arn, type, resource_id, name, region, tagged, state,"
            " attributes, first_seen, last_seen)"
            " SELECT 'arn:' || t || ':' || n, t, t || '-' || n, t || '-' || n, 'eu-west-3', true,"
            " CASE t WHEN 'rds:db' THEN 'available' ELSE 'running' END,"
            ' CASE t WHEN \'rds:db\' THEN \'{"instance_class": "db.t4g.large", "storage_gb": 100}\''
            "   WHEN 'ec2:instance' THEN '{\"instance_type\": \"m6i.large\"}' ELSE '{}' END::jsonb,"
            " %(start)s, %(end)s"
            " FROM unnest(ARRAY['rds:db', 'ec2:instance', 's3:bucket']) t,"
            " generate_series(1, %(n)s) n",
            {"start": start, "end": end, "n": FLEET},
        )
        conn.execute("SELECT metrics.ensure_datapoint_partitions(%s, %s)", (start, end))
        for rtype, metrics, period in (("rds:db", RDS, 300), ("ec2:instance", EC2, 300)):
            conn.execute(
                "INSERT INTO metrics.datapoints (resource_id, metric, stat, period, ts, value)"
                " SELECT r.id, m, s, %(period)s, ts, random() * 100"
                " FROM metrics.resources r, unnest(%(metrics)s::text[]) m,"
                " unnest(ARRAY['Average', 'Maximum']) s,"
                " generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '5 min',"
                " interval '5 min') ts WHERE r.type = %(type)s",
                {"period": period, "metrics": metrics, "start": start, "end": end, "type": rtype},
            )
        conn.execute(
            "INSERT INTO metrics.datapoints (resource_id, metric, stat, period, ts, value)"
            " SELECT r.id, m, 'Average', 86400, ts, random() * 1e11"
            " FROM metrics.resources r, unnest(ARRAY['BucketSizeBytes', 'NumberOfObjects']) m,"
            " generate_series(%(start)s::timestamptz, %(end)s::timestamptz, interval '1 day') ts"
            " WHERE r.type = 's3:bucket'",
            {"start": start.replace(hour=0, minute=0), "end": end},
        )
        conn.execute(
            "INSERT INTO costs.estimates (resource_id, hour, service, usd, basis)"
            " SELECT r.id, h, r.type, 0.15, 'bench' FROM metrics.resources r,"
            " generate_series(%s::timestamptz, %s::timestamptz - interval '1 hour',"
            " interval '1 hour') h",
            (start, end),
        )
        first, newest = end.date() - timedelta(days=14), end.date() - timedelta(days=2)
        conn.execute(
            "INSERT INTO costs.daily (day, service, tag_key, tag_value, usd, estimated, basis)"
            " SELECT d::date, s, 'project', 'locxia', 3.5, false, 'usage'"
            " FROM generate_series(%s::date, %s::date, interval '1 day') d,"
            " unnest(ARRAY['Amazon Relational Database Service', 'Amazon Simple Storage"
            " Service', 'Amazon Elastic Compute Cloud - Compute']) s",
            (first, newest),
        )
        conn.execute(
            "INSERT INTO costs.tag_activation (tag_key, status, tag_type, used_for, checked_at)"
            " VALUES ('project', 'Active', 'UserDefined', 'the Locxia tag', %s)",
            (end,),
        )
        # the read that stored them: complete days end where the newest (partial) one starts
        conn.execute(
            "INSERT INTO costs.explorer_reads (read_at, basis, first_day, end_day, newest_day,"
            " covered_until) VALUES (%s, 'usage', %s, %s, %s, %s::date::timestamp AT TIME ZONE"
            " 'UTC')",
            (end, first, newest + timedelta(days=1), newest, newest),
        )
        conn.execute(
            "INSERT INTO params.budgets (name, scope, monthly_usd) VALUES ('platform', 'total',"
            " 4000)"
        )
        conn.execute(
            "INSERT INTO costs.budget_status (budget, month, budget_usd, actual_usd,"
            " estimated_usd, forecast_usd, run_rate_usd, status)"
            " VALUES ('platform', date_trunc('month', %s::timestamptz)::date, 4000, 2100, 300,"
            " 3900, 130, 'warning')",
            (end,),
        )
        conn.execute(
            "INSERT INTO costs.recommendations (resource_id, kind, action, monthly_saving_usd)"
            " SELECT id, 'rds-idle', 'stop it', 110 FROM metrics.resources"
            " WHERE type = 'rds:db' LIMIT 3"
        )
        conn.execute(
            "INSERT INTO ops.runs (job_id, task, trigger, status, ended_at, details)"
            " SELECT 'observe.collect.rds-default', 'metrics.collect', 'schedule', 'success',"
            ' now(), \'{"metrics_requested": 320, "api_calls": 1,'
            ' "estimated_cost_usd": 0.0032}\' FROM generate_series(1, 2016)'
        )
        conn.execute(
            "INSERT INTO ops.terraform_runs (requested_by, inputs_hash, inputs, status,"
            " approved_by, changes, ended_at) VALUES ('alice', '-', '{}', 'applied', 'carol',"
            ' \'[{"instance": "rds:db-1", "kind": "rds", "action": "update",'
            ' "before": {"instance_class": "db.t4g.large"},'
            ' "after": {"instance_class": "db.r6g.large"}}]\', now())'
        )
        conn.commit()
        conn.execute("ANALYZE")
        row = conn.execute("SELECT count(*) FROM metrics.datapoints").fetchone()
    return int(row[0]) if row else 0


#: One row per (dataset d, daily feed k): its first version id, time, and whether quality
#: rejected it; ``recent`` ranks the accepted feeds newest first (1 = live, 2 = previous).
_FEEDS = """
    WITH f0 AS (
        SELECT d, k, ((d - 1) * %(feeds)s + k - 1) * 3 AS base,
               %(end)s::timestamptz - (%(feeds)s - k + 1) * interval '1 day' AS at,
               (d * 7 + k) %% 20 = 0 AS rejected,
               ST_MakeEnvelope(-1 + d %% 8, 43 + d %% 6, -0.8 + d %% 8, 43.2 + d %% 6, 4326) AS box
          FROM generate_series(1, %(n)s) d, generate_series(1, %(feeds)s) k
    ), f AS (
        SELECT *, row_number() OVER (PARTITION BY d, rejected ORDER BY k DESC) AS recent FROM f0
    )
"""


def _seed_layers(url: str, end: datetime) -> int:
    """The feed's catalog: per dataset and day, landing → working → exposure, and a chain run."""
    params = {"feeds": FEEDS, "end": end, "n": DATASETS}
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO params.datasets (name, source, cron) SELECT 'layer_' || d,"
            " 'https://example.org/' || d || '.gpkg', '0 4 * * *' FROM generate_series(1, %s) d",
            (DATASETS,),
        )
        conn.execute(
            _FEEDS
            + """
            INSERT INTO ops.dataset_versions (id, dataset, zone, uri, parent_id, fingerprint,
                   rows, bytes, checksum, crs, extent, status, quality, reason, rejected_by,
                   created_at, updated_at)
            SELECT base + z, 'layer_' || d, zone, 'file:///zones/' || (base + z),
                   nullif(base + z - 1, base), (base + z) || ':fingerprint', 1000 + k, 1e6,
                   encode(sha256(convert_to(d || ':' || k || ':' || z, 'UTF8')), 'hex'),
                   'EPSG:2154', box,
                   CASE WHEN z = 1 AND rejected THEN 'rejected' WHEN z = 1 THEN 'refined'
                        WHEN z = 2 THEN 'ready' WHEN recent = 1 THEN 'published'
                        WHEN recent = 2 THEN 'previous' ELSE 'retired' END,
                   CASE WHEN z = 1 THEN jsonb_build_object('passed', NOT rejected, 'checks',
                       jsonb_build_array(
                           jsonb_build_object('rule', 'validity', 'passed', true,
                                              'detail', 'all valid'),
                           jsonb_build_object('rule', 'rows', 'passed', NOT rejected,
                                              'detail', (1000 + k) || ' rows'))) END,
                   CASE WHEN z = 1 AND rejected THEN 'quality check failed: rows' END,
                   CASE WHEN z = 1 AND rejected THEN 'refine' END,
                   at, at
              FROM f, (VALUES (1, 'landing'), (2, 'working'), (3, 'exposure')) AS zz (z, zone)
             WHERE z = 1 OR NOT rejected
            """,
            params,
        )
        conn.execute(
            "SELECT setval('ops.dataset_versions_id_seq',"
            " (SELECT max(id) FROM ops.dataset_versions))"
        )
        conn.execute(
            _FEEDS
            + """
            INSERT INTO ops.runs (job_id, task, trigger, scheduled_at, started_at, ended_at,
                   status)
            SELECT 'layers.layer_' || d, 'core.chain', 'schedule', at, at, at + interval '1 min',
                   CASE WHEN rejected THEN 'failed' ELSE 'success' END
              FROM f
            """,
            params,
        )
        conn.commit()
        conn.execute("ANALYZE")
        row = conn.execute("SELECT count(*) FROM ops.dataset_versions").fetchone()
    return int(row[0]) if row else 0


class _TimedRunner:
    """A :class:`PgRunner` that keeps the wall time of every query, in call order."""

    def __init__(self, runner: PgRunner) -> None:
        self.runner = runner
        self.seconds: list[float] = []

    def __call__(self, sql: str) -> Frame:
        start = time.perf_counter()
        try:
            return self.runner(sql)
        finally:
            self.seconds.append(time.perf_counter() - start)


def run() -> str:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    shown = ("locxia-costs", "locxia-resources", "locxia-layers")
    boards = [b for b in all_dashboards() if b["uid"] in shown]
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    with bench_database(NAME) as url:
        datapoints = _seed(url, end)
        versions = _seed_layers(url, end)
        with connect(url) as conn:
            for _ in range(ROUNDS):
                for board in boards:
                    timed = _TimedRunner(PgRunner(conn))
                    outcomes = check_dashboard(timed, board, TimeRange.last("7d"))
                    bad = [o.query.title for o in outcomes if not o.ok]
                    if bad:
                        raise RuntimeError(f"{board['uid']}: panels fail on the bench data: {bad}")
                    # one runner call per outcome, in the same order
                    for outcome, seconds in zip(outcomes, timed.seconds, strict=True):
                        times[(board["uid"], outcome.query.title)].append(seconds)
    lines = [
        f"{datapoints:,} datapoints ({FLEET} RDS, {FLEET} EC2, {FLEET} buckets, {DAYS} days, "
        f"5-minute periods); {versions:,} dataset versions ({DATASETS} datasets, {FEEDS} daily "
        f"feeds); median of {ROUNDS} rounds, each query as locxia_grafana.",
        "",
        "| dashboard | query | median ms | vs 1 s | vs 30 s (Grafana timeout) |",
        "|---|---|---:|---:|---:|",
    ]
    for (uid, title), samples in sorted(times.items(), key=lambda kv: -median(kv[1])):
        ms = median(samples) * 1000
        lines.append(f"| {uid} | {title} | {ms:.1f} | {ms / 1000:.3f} | {ms / 30000:.4f} |")
    totals: dict[str, float] = defaultdict(float)
    for (uid, _), samples in times.items():
        totals[uid] += median(samples)
    lines.append("")
    lines += [
        f"- {uid}: all queries {total * 1000:.0f} ms in total" for uid, total in totals.items()
    ]
    return "\n".join(lines)
