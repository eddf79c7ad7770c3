"""Observe at fleet size: 10,000 tagged EC2 instances x 5 metrics, discovered then collected.

The fleet (``tests.support.observe_load``): 10,000 instances tagged ``project=locxia``, a
quarter also ``task=ingestion`` (their own 1-minute policy), each with an untagged root
volume (10,000 untagged look-alikes); one datapoint per metric on the first 20 instances
(moto's GetMetricData scans every datapoint in the window for every query and period, so
datapoints everywhere would time moto; the write path at volume is ``observe_ingest``).
moto runs as a child process (``moto_server``, like the demo), so every figure below is the
measured process's own. Each run starts from an empty ``metrics`` schema and is a fresh
process, side by side:

* **Locxia**: ``discover`` (tagging API pages, Describe calls, look-alikes, one upsert per
  resource in one transaction) then one ``Collector.run()`` of every enabled policy (plans,
  watermarks, batches of <= 500 queries, one transaction per batch);
* **plain boto3 + COPY** (anchor): the same AWS calls written by hand — GetResources pages,
  DescribeInstances/Volumes/DBInstances, ListBuckets, GetMetricData in calls of 500 queries
  — and the resources and datapoints COPYed into two plain tables, no upsert, no watermark,
  no record: the least the same work can cost.

GetMetricData accepts at most 500 MetricDataQuery per request, so one collection is
ceil(queries / 500) calls per policy:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import ROOT, bench_database, hwm_kib, median
from infra.db import connect
from infra.demo import motoserver
from infra.demo.standin import fake_credentials
from tests.support.observe_load import (
    MAX_QUERIES_PER_CALL,
    METRICS,
    REGION,
    WINDOW_SECONDS,
    create_servers,
    put_points,
    steady_windows,
)

NAME = "observe_load"
TITLE = "Observe: 10,000 tagged instances discovered and collected (issue 12)"
INSTANCES = 10_000
WITH_POINTS = 20
STATS = ("Average", "Maximum")
REPEAT = 3

ANCHOR_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS bench_anchor;
CREATE TABLE IF NOT EXISTS bench_anchor.resources (
    arn text, type text, resource_id text, tagged boolean, tags jsonb, why text);
CREATE TABLE IF NOT EXISTS bench_anchor.datapoints (
    resource_id text, metric text, stat text, period integer, ts timestamptz, value float8);
"""


# --- the anchor, run in a child process ---------------------------------------------------
def anchor(url: str, endpoint: str, now_iso: str) -> dict[str, Any]:
    """The same discovery and collection with plain boto3 calls and COPY (module docstring)."""
    import boto3
    from botocore.config import Config

    now = datetime.fromisoformat(now_iso)
    # moto answers an unpaginated DescribeInstances of 10,000 instances in over a minute on a
    # loaded machine: botocore's default 60 s read timeout failed the first 10,000 run
    config = Config(
        region_name=REGION, retries={"mode": "standard", "max_attempts": 8}, read_timeout=600
    )

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=endpoint, config=config)  # type: ignore[call-overload]

    calls = 0
    cpu0, began = time.process_time(), time.perf_counter()
    tagged: dict[str, dict[str, str]] = {}
    for page in (
        client("resourcegroupstaggingapi")
        .get_paginator("get_resources")
        .paginate(
            TagFilters=[{"Key": "project", "Values": ["locxia"]}],
            ResourceTypeFilters=["ec2:instance", "ec2:volume", "rds:db", "s3"],
            PaginationConfig={"PageSize": 100},
        )
    ):
        calls += 1
        for item in page["ResourceTagMappingList"]:
            tagged[item["ResourceARN"]] = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
    ec2 = client("ec2")
    instances: dict[str, str] = {}  # id -> period of its policy
    for page in ec2.get_paginator("describe_instances").paginate():
        calls += 1
        for reservation in page["Reservations"]:
            for inst in reservation["Instances"]:
                tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                if tags.get("project") == "locxia":
                    instances[inst["InstanceId"]] = "60" if tags.get("task") else "300"
    rows: list[tuple[Any, ...]] = [
        (arn, arn.split(":")[2], arn.rsplit("/", 1)[1], True, json.dumps(tags), None)
        for arn, tags in tagged.items()
    ]
    for page in ec2.get_paginator("describe_volumes").paginate():
        calls += 1
        rows.extend(
            (vol["VolumeId"], "ec2:volume", vol["VolumeId"], False, "{}", "attached")
            for vol in page["Volumes"]
            if not vol.get("Tags")
            and any(a["InstanceId"] in instances for a in vol.get("Attachments", []))
        )
    for _ in client("rds").get_paginator("describe_db_instances").paginate():
        calls += 1
    client("s3").list_buckets()
    calls += 1
    with connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY bench_anchor.resources FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
    discovered = time.perf_counter()

    cloudwatch = client("cloudwatch")
    queries = [
        (iid, metric, stat, int(period))
        for period in ("60", "300")
        for iid, p in sorted(instances.items())
        if p == period
        for metric in METRICS
        for stat in STATS
    ]
    gmd_calls = 0
    with connect(url) as conn, conn.cursor() as cur:
        for period in (60, 300):
            batch_all = [q for q in queries if q[3] == period]
            start = now - timedelta(seconds=WINDOW_SECONDS)
            start = start - timedelta(seconds=int(start.timestamp()) % period)
            for i in range(0, len(batch_all), MAX_QUERIES_PER_CALL):
                batch = batch_all[i : i + MAX_QUERIES_PER_CALL]
                request: dict[str, Any] = {
                    "MetricDataQueries": [
                        {
                            "Id": f"q{n}",
                            "MetricStat": {
                                "Metric": {
                                    "Namespace": "AWS/EC2",
                                    "MetricName": metric,
                                    "Dimensions": [{"Name": "InstanceId", "Value": iid}],
                                },
                                "Period": period,
                                "Stat": stat,
                            },
                        }
                        for n, (iid, metric, stat, _) in enumerate(batch)
                    ],
                    "StartTime": start,
                    "EndTime": now,
                }
                with cur.copy("COPY bench_anchor.datapoints FROM STDIN") as copy:
                    while True:
                        page = cloudwatch.get_metric_data(**request)
                        gmd_calls += 1
                        for result in page["MetricDataResults"]:
                            iid, metric, stat, _ = batch[int(result["Id"][1:])]
                            for ts, value in zip(
                                result["Timestamps"], result["Values"], strict=True
                            ):
                                copy.write_row((iid, metric, stat, period, ts, value))
                        if not page.get("NextToken"):
                            break
                        request["NextToken"] = page["NextToken"]
                conn.commit()
    ended = time.perf_counter()
    return {
        "discover_s": discovered - began,
        "collect_s": ended - discovered,
        "total_s": ended - began,
        "cpu_s": time.process_time() - cpu0,
        "peak_kib": hwm_kib(),
        "calls_seen": gmd_calls,
        "discover_calls": calls,
        "queries": len(queries),
        "lookalikes": sum(1 for r in rows if not r[3]),
    }


# --- the parent ---------------------------------------------------------------------------
def _child(module: str, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if out.returncode != 0:
        raise RuntimeError(f"{module} failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _reset(url: str) -> None:
    with connect(url) as conn:
        conn.execute(
            "TRUNCATE metrics.resources, metrics.datapoints, metrics.watermarks,"
            " bench_anchor.resources, bench_anchor.datapoints CASCADE"
        )
        conn.commit()


def _fmt(values: list[float], unit: str = "s", digits: int = 1) -> str:
    return f"{median(values):.{digits}f} {unit} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def measure(instances: int = INSTANCES, repeat: int = REPEAT) -> dict[str, Any]:
    """Build the fleet once, then ``repeat`` runs of each path from an empty schema."""
    with (
        fake_credentials(),
        tempfile.TemporaryDirectory(prefix="locxia-bench-load-") as tmp,
        motoserver.running(Path(tmp) / "moto.log") as moto,
        bench_database(NAME) as url,
    ):
        endpoint = moto.endpoint
        began = time.perf_counter()
        ids = create_servers(endpoint, instances)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        put = put_points(endpoint, ids[:WITH_POINTS], now - timedelta(minutes=10))
        build_s = time.perf_counter() - began
        print(f"  fleet of {instances:,} built in {build_s:.0f} s", file=sys.stderr, flush=True)
        steady_windows(url)
        with connect(url) as conn:
            conn.execute(ANCHOR_SCHEMA)
            conn.commit()
        runs: dict[str, list[dict[str, Any]]] = {"locxia": [], "anchor": []}
        for _ in range(repeat):
            for path in ("locxia", "anchor"):
                _reset(url)
                module = "tests.support.observe_load" if path == "locxia" else "bench.observe_load"
                extra = () if path == "locxia" else ("--anchor",)
                runs[path].append(_child(module, *extra, url, endpoint, now.isoformat()))
                figures = {k: v for k, v in runs[path][-1].items() if k.endswith(("_s", "kib"))}
                print(f"  {path}: {figures}", file=sys.stderr, flush=True)
        return {"instances": instances, "build_s": build_s, "datapoints_put": put, "runs": runs}


def report(m: dict[str, Any]) -> str:
    """The Markdown body of the section."""
    lx, an = m["runs"]["locxia"], m["runs"]["anchor"]
    n = m["instances"]
    collect = lx[0]["collect"]
    queries = collect["metrics_requested"]
    per_policy = {k: p["queries"] for k, p in collect["policies"].items() if p["queries"]}
    expected = sum(math.ceil(q / MAX_QUERIES_PER_CALL) for q in per_policy.values())

    def col(runs: list[dict[str, Any]], key: str) -> list[float]:
        return [float(r[key]) for r in runs]

    def ratio(key: str) -> float:
        return median(col(lx, key)) / median(col(an, key))

    def peak(runs: list[dict[str, Any]]) -> str:
        return f"{max(r['peak_kib'] for r in runs) / 1024:.0f} MiB"

    rows = [
        "| path | discover | collect | total | own CPU | peak RSS | GetMetricData calls |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, runs in (
        (f"**Locxia** (discover + collect, {len(per_policy)} policies)", lx),
        ("plain boto3 + psycopg COPY (anchor, measured here)", an),
    ):
        bold = "**" if runs is lx else ""
        rows.append(
            f"| {label} | {_fmt(col(runs, 'discover_s'))} | {_fmt(col(runs, 'collect_s'))}"
            f" | {bold}{_fmt(col(runs, 'total_s'))}{bold} | {_fmt(col(runs, 'cpu_s'))}"
            f" | {peak(runs)} | {runs[0]['calls_seen']} |"
        )
    found = lx[0]["discover"]
    return "\n".join(
        [
            f"{n:,} EC2 instances tagged `project=locxia` ({n // 4:,} also `task=ingestion`), each"
            f" with an untagged root volume; {m['datapoints_put']} datapoints put on the first"
            f" {WITH_POINTS} instances; steady-state window ({WINDOW_SECONDS // 60} minutes)."
            f" moto as a child process; {len(lx)} runs of each path, each a fresh process"
            " from an empty schema; medians (min–max); peak = the process's own VmHWM.",
            "",
            *rows,
            "",
            f"- Queries: {queries:,} ({', '.join(f'{k} {v:,}' for k, v in per_policy.items())});"
            f" GetMetricData calls {collect['api_calls']} = ceil(queries / 500) per policy ="
            f" {expected} (at most 500 MetricDataQuery per request); the anchor made"
            f" {an[0]['calls_seen']}.",
            f"- Discovery: {sum(found['tagged'].values()):,} tagged,"
            f" {found['untagged_lookalikes']:,} untagged look-alikes recorded,"
            f" {found['api_calls']} API calls (anchor:"
            f" {an[0]['discover_calls']}).",
            f"- Locxia / anchor: **{ratio('total_s'):.2f}×** the wall time,"
            f" {ratio('cpu_s'):.2f}× the process's own CPU, "
            f"{max(r['peak_kib'] for r in lx) / max(r['peak_kib'] for r in an):.2f}× the peak RSS"
            f" — discover {ratio('discover_s'):.2f}×, collect {ratio('collect_s'):.2f}×.",
            "- Most of the wall time of both paths is moto answering (another process): own CPU"
            " is what the client side costs.",
            "- Building the fleet in moto (bulk RunInstances, PutMetricData):"
            f" {m['build_s']:.0f} s, not counted.",
        ]
    )


def run() -> str:
    """Measure and return the section body."""
    return report(measure())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--anchor"]:
        sys.stdout.write(json.dumps(anchor(*sys.argv[2:5]), default=str) + "\n")
    else:
        sys.stdout.write(run() + "\n")
