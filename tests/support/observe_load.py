"""A fleet of tagged EC2 instances in moto and one discover + collect over it, in its own process.

Shared by the load test (1,000 instances, ``tests/integration/observe/test_load.py``) and the
benchmark (10,000, ``bench/observe_load.py``):

* :func:`create_servers` runs the instances in bulk (``RunInstances`` with ``MinCount`` =
  ``MaxCount``: one call per 500), tagged ``project=locxia``, a quarter of them also
  ``task=ingestion`` as in the scenario's fleet; their root volumes get **no** tag (what an
  instance launched without volume ``TagSpecifications`` has), so each is an untagged
  look-alike "attached to a tagged instance";
* :func:`put_points` puts one datapoint per EC2 metric for the first ``with_points``
  instances. moto's GetMetricData scans every datapoint of the window for every query and
  every period (``moto/cloudwatch/models.py``), so datapoints on every instance would
  measure moto, not the collector; the write path at volume has its own benchmark
  (``observe_ingest``);
* :func:`main` (``python -m tests.support.observe_load URL ENDPOINT NOW``) runs discovery then
  one collection of every enabled policy, exactly as the tasks do, and prints one JSON line:
  wall seconds of each, the process's own CPU seconds (moto runs in another process), its
  peak RSS (``VmHWM``), the GetMetricData calls seen by botocore's event system, and the
  run details. A process of its own, so that the peak is the work's, not the test runner's.
"""

from __future__ import annotations

import json
import math
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from infra.aws import AwsClients
from infra.db import connect
from infra.settings import Settings, load_settings

REGION = "eu-west-3"
AMI = "ami-0locxia0demo0000"  # moto accepts any image id
PER_CALL = 500
#: The ec2 policies' metrics (migration 0010): five per instance, two statistics each.
METRICS = ("CPUUtilization", "NetworkIn", "NetworkOut", "EBSReadOps", "EBSWriteOps")
#: GetMetricData accepts at most 500 MetricDataQuery structures per request:
#: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
MAX_QUERIES_PER_CALL = 500
#: A steady-state read: the window of a scheduled run (watermark minus a 15-minute lookback).
WINDOW_SECONDS = 1200


def settings_for(endpoint: str, url: str | None = None) -> Settings:
    """Settings reaching the moto server (and the database at ``url``) in the fleet's region."""
    extra = {"database_url": url} if url else {}
    return load_settings(aws_endpoint_url=endpoint, aws_region=REGION, **extra)


def create_servers(endpoint: str, count: int) -> list[str]:
    """Run ``count`` tagged instances with untagged root volumes; return their ids in order."""
    ec2 = AwsClients(settings_for(endpoint)).client("ec2", role="write")
    ingestion = count // 4
    ids: list[str] = []
    while len(ids) < count:
        tags = [{"Key": "project", "Value": "locxia"}]
        if len(ids) < ingestion:
            tags.append({"Key": "task", "Value": "ingestion"})
            size = min(PER_CALL, ingestion - len(ids))
        else:
            size = min(PER_CALL, count - len(ids))
        reply = ec2.run_instances(
            ImageId=AMI,
            InstanceType="t3.micro",
            MinCount=size,
            MaxCount=size,
            BlockDeviceMappings=[
                {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}
            ],
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],  # type: ignore[typeddict-item]
        )
        ids += [i["InstanceId"] for i in reply["Instances"]]
    return ids


def put_points(endpoint: str, ids: list[str], at: datetime) -> int:
    """One datapoint per metric of each instance in ``ids`` at ``at``; the datapoints put."""
    cloudwatch = AwsClients(settings_for(endpoint)).client("cloudwatch", role="write")
    items: list[Any] = [
        {
            "MetricName": metric,
            "Dimensions": [{"Name": "InstanceId", "Value": iid}],
            "Timestamp": at,
            "Value": float(n % 100),
            "Unit": "Count",
        }
        for n, iid in enumerate(ids)
        for metric in METRICS
    ]
    for start in range(0, len(items), 1000):  # PutMetricData: at most 1,000 items per call
        cloudwatch.put_metric_data(Namespace="AWS/EC2", MetricData=items[start : start + 1000])
    return len(items)


def steady_windows(url: str) -> None:
    """First reads of the EC2 policies go back :data:`WINDOW_SECONDS` (a scheduled run's read)."""
    with connect(url) as conn:
        conn.execute(
            "UPDATE params.collection_policies SET backfill_seconds = %s"
            " WHERE resource_type = 'ec2:instance'",
            (WINDOW_SECONDS,),
        )
        conn.commit()


def expected_calls(queries_per_policy: dict[str, int]) -> int:
    """GetMetricData calls of one collection: ceil(queries / 500) per policy (no NextToken)."""
    return sum(math.ceil(q / MAX_QUERIES_PER_CALL) for q in queries_per_policy.values())


def _hwm_kib() -> int:
    """This process's own peak RSS, KiB (``VmHWM``, as ``bench.common.hwm_kib`` reads it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main(url: str, endpoint: str, now_iso: str) -> dict[str, Any]:
    """Discover then collect every enabled policy; the figures (module docstring)."""
    from pipelines.observe.metrics.collect import Collector
    from pipelines.observe.metrics.discovery import discover

    settings = settings_for(endpoint, url)
    now = datetime.fromisoformat(now_iso)
    cpu0, began = time.process_time(), time.perf_counter()
    with connect(url) as conn:
        report = discover(settings, AwsClients(settings), conn, now)
    discovered = time.perf_counter()

    clients = AwsClients(settings, epoch_timestamps=True)
    sent: list[int] = []
    clients.session("read").events.register(
        "before-parameter-build.cloudwatch.GetMetricData",
        lambda params, **_: sent.append(len(params["MetricDataQueries"])),
    )
    details: dict[str, Any] = {}
    with connect(url) as conn:
        result = Collector(settings, clients, conn, now=now, details=details).run()
    ended = time.perf_counter()
    return {
        "discover_s": discovered - began,
        "collect_s": ended - discovered,
        "total_s": ended - began,
        "cpu_s": time.process_time() - cpu0,
        "peak_kib": _hwm_kib(),
        "calls_seen": len(sent),
        "largest_call": max(sent, default=0),
        "discover": dict(report.details()) | {"untagged_lookalikes": len(report.untagged)},
        "collect": dict(result),
    }


if __name__ == "__main__":
    figures = main(*sys.argv[1:4])
    sys.stdout.write(json.dumps(figures, default=str) + "\n")
