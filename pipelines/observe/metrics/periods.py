"""Periods AWS serves for its own namespaces, and what a count metric's period means.

A collection period CloudWatch can never fill is refused when the policy is written, in one
line, instead of collecting empty or misleading series for ever. The rules (the same as the
trigger of migration 0065, which refuses such a row at edit time):

* "CloudWatch concepts — Periods" and the ``MetricStat`` API reference
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html,
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricStat.html): a
  period is 1, 5, 10, 20 or 30 s only for high-resolution metrics stored with
  ``StorageResolution`` 1, which only ``PutMetricData`` callers create; every ``AWS/*``
  namespace has regular resolution, so its periods are multiples of 60.
* Each AWS namespace publishes at its own granularity, and a period must be a multiple of it:
  EC2 every minute with detailed monitoring and every 5 minutes with basic ("Manage detailed
  monitoring for your EC2 instances",
  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/manage-detailed-monitoring.html);
  RDS every minute ("Amazon CloudWatch metrics for Amazon RDS",
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html); EBS every minute
  ("Amazon CloudWatch metrics for Amazon EBS",
  https://docs.aws.amazon.com/ebs/latest/userguide/using_cloudwatch_ebs.html); S3's storage
  metrics ``BucketSizeBytes`` and ``NumberOfObjects`` once a day, its request metrics every
  minute ("Metrics and dimensions", Amazon S3 User Guide,
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/metrics-dimensions.html).

EC2 publishes per instance at one granularity or the other, so a policy may ask 60 s, and an
instance in **basic** monitoring (``attributes.monitoring`` from discovery) is read at
:func:`resource_period` — the policy's period rounded up to a multiple of 300 — because a
1-minute bucket of a 5-minute sample holds five minutes of counts and would read 5× too high.

Count metrics ("List the available CloudWatch metrics for your instances",
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/viewing_metrics_with_cloudwatch.html:
``NetworkIn`` is "the number of bytes received by the instance" over the period; the number
reported is for the sampling interval, 5 minutes in basic and 1 minute in detailed monitoring)
are collected as ``Sum`` and divided by the period: the ``Average`` of such a metric is the
mean per *sample*, whose length depends on the monitoring mode, so no fixed divisor is right
for both modes (``reporting.instance_metrics``, migration 0065).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Seconds between two datapoints an AWS namespace publishes, at its finest.
PUBLISHED: dict[str, int] = {"AWS/EC2": 60, "AWS/EBS": 60, "AWS/RDS": 60, "AWS/S3": 60}
#: Metrics published once a day (S3 storage metrics).
DAILY: frozenset[tuple[str, str]] = frozenset(
    {("AWS/S3", "BucketSizeBytes"), ("AWS/S3", "NumberOfObjects")}
)
#: EC2 basic monitoring's sampling interval.
BASIC_EC2 = 300
_BASIC_STATES = frozenset({"disabled", "disabling", "pending"})
#: Per-sample counts (bytes, operations, packets): read as ``Sum``, shown as Sum / period.
COUNT_METRICS: frozenset[tuple[str, str]] = frozenset(
    {
        ("AWS/EC2", "NetworkIn"),
        ("AWS/EC2", "NetworkOut"),
        ("AWS/EC2", "NetworkPacketsIn"),
        ("AWS/EC2", "NetworkPacketsOut"),
        ("AWS/EC2", "EBSReadOps"),
        ("AWS/EC2", "EBSWriteOps"),
        ("AWS/EC2", "EBSReadBytes"),
        ("AWS/EC2", "EBSWriteBytes"),
        ("AWS/EC2", "DiskReadOps"),
        ("AWS/EC2", "DiskWriteOps"),
        ("AWS/EC2", "DiskReadBytes"),
        ("AWS/EC2", "DiskWriteBytes"),
        ("AWS/EBS", "VolumeReadOps"),
        ("AWS/EBS", "VolumeWriteOps"),
        ("AWS/EBS", "VolumeReadBytes"),
        ("AWS/EBS", "VolumeWriteBytes"),
    }
)


def granularity(namespace: str, metric: str) -> int | None:
    """Seconds between datapoints AWS publishes for ``metric``; None outside ``AWS/*``."""
    if (namespace, metric) in DAILY:
        return 86400
    if namespace.startswith("AWS/"):
        return PUBLISHED.get(namespace, 60)
    return None


def period_problem(namespace: str, metrics: Iterable[str], period: int) -> str | None:
    """Why CloudWatch never serves ``period`` for these metrics, or None when it does."""
    for metric in metrics:
        step = granularity(namespace, metric)
        if step is not None and period % step:
            what = "once a day" if step == 86400 else f"every {step} s"
            return (
                f"{period} s: AWS publishes {namespace} {metric} {what}; use a multiple of"
                f" {step} s (CloudWatch concepts - periods)"
            )
    return None


def resource_period(namespace: str, period: int, attributes: Mapping[str, Any]) -> int:
    """The period one resource is read at: coarsened to 300 s for basic-monitoring EC2."""
    # Monitoring.State: "enabled" is detailed; "disabled", "disabling" and "pending" (being
    # enabled) still publish 5-minute samples. Unknown (never described): the policy's period.
    if namespace == "AWS/EC2" and attributes.get("monitoring") in _BASIC_STATES:
        return -(-period // BASIC_EC2) * BASIC_EC2
    return period
