"""A week of CloudWatch datapoints for the demo estate, put into the stand-in AWS.

What AWS would have recorded for these resources: hourly datapoints for RDS (CPU, free
storage, swap, read/write IOPS, connections) and EC2 (CPU, network in/out, EBS operations),
daily storage metrics for the buckets — shaped by :mod:`infra.demo.loads`, so days and nights
differ and the idle database looks idle.

Small on purpose: moto is slow at volume (notes: 100 queries × 288 periods took ~13 s), so
hourly datapoints over seven days (~6,600 in all) keep both seeding and collection quick.

Dimensions are put in one canonical order (AWS's documented one, e.g. ``BucketName`` then
``StorageType``) because moto matches a multi-dimension query only against data stored in
the same order: collectors must query in this order. moto's own S3 datapoint for today (with
the dimensions the other way round and a wrong size) is thereby never matched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from infra.aws import AwsClients, aws_errors
from infra.demo.estate import DemoResource, Estate
from infra.demo.loads import busy, noise

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import MetricDatumTypeDef

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
GIB = 2**30
OBJECTS_PER_GIB = 120  # raw files of ~8 MiB on average
# PutMetricData: at most 1,000 metric data items per request (AWS quota); whole series per call
# so that a call either stores a series or does not, which keeps re-seeding idempotent.
MAX_ITEMS_PER_CALL = 1000

Value = Callable[[DemoResource, float, float, float], float]
"""(resource, busy 0–1, noise −1..1, days since the window opened) → datapoint value."""


@dataclass(frozen=True)
class MetricSpec:
    """One CloudWatch metric the estate emits."""

    namespace: str
    name: str
    unit: str
    value: Value
    storage_type: str = ""  # S3 only: the StorageType dimension


def _cpu(r: DemoResource, b: float, n: float, _: float) -> float:
    if r.profile == "idle":
        return round(1.2 + 0.4 * n, 3)
    return round(min(100.0, 4 + 80 * b * (1 + 0.1 * n)), 3)


def _free_storage(r: DemoResource, b: float, n: float, days: float) -> float:
    used = 0.30 if r.profile == "idle" else 0.55 + 0.004 * days + 0.002 * b
    return float(round(r.storage_gb * (1 - used) * GIB * (1 + 0.0005 * n)))


def _swap(r: DemoResource, b: float, n: float, _: float) -> float:
    return float(round(max(0.0, (b - 0.7) * 1.5e9) + 2e6 * (1 + 0.5 * n)))


def _read_iops(r: DemoResource, b: float, n: float, _: float) -> float:
    return 0.0 if r.profile == "idle" else round(10 + 2500 * b * (1 + 0.15 * n), 3)


def _write_iops(r: DemoResource, b: float, n: float, _: float) -> float:
    return (
        round(0.2 + 0.1 * n, 3) if r.profile == "idle" else round(5 + 900 * b * (1 + 0.15 * n), 3)
    )


def _connections(r: DemoResource, b: float, n: float, _: float) -> float:
    return 0.0 if r.profile == "idle" else float(round(3 + 80 * b * (1 + 0.1 * n)))


def _network_in(r: DemoResource, b: float, n: float, _: float) -> float:
    per_hour = 20e9 if r.profile == "batch" else 1.5e9  # the worker downloads sources at night
    return float(round(per_hour * b * (1 + 0.2 * n)))


def _network_out(r: DemoResource, b: float, n: float, _: float) -> float:
    per_hour = 6e9 if r.profile == "web" else 0.8e9  # the tile server answers by day
    return float(round(per_hour * b * (1 + 0.2 * n)))


def _ebs_ops(scale: float) -> Value:
    def ops(r: DemoResource, b: float, n: float, _: float) -> float:
        return float(round(scale * b * (1 + 0.15 * n)))

    return ops


def bucket_gib(resource: DemoResource, days: float) -> float:
    """Data in a bucket ``days`` after the window opened (negative: before it; 1 GiB floor)."""
    return max(1.0, resource.storage_gb + resource.growth_gb_per_day * days)


def _bucket_bytes(r: DemoResource, _b: float, _n: float, days: float) -> float:
    return float(round(bucket_gib(r, days) * GIB))


def _bucket_objects(r: DemoResource, _b: float, _n: float, days: float) -> float:
    return float(round(bucket_gib(r, days) * OBJECTS_PER_GIB))


METRICS: Mapping[str, tuple[MetricSpec, ...]] = {
    "rds": (
        MetricSpec("AWS/RDS", "CPUUtilization", "Percent", _cpu),
        MetricSpec("AWS/RDS", "FreeStorageSpace", "Bytes", _free_storage),
        MetricSpec("AWS/RDS", "SwapUsage", "Bytes", _swap),
        MetricSpec("AWS/RDS", "ReadIOPS", "Count/Second", _read_iops),
        MetricSpec("AWS/RDS", "WriteIOPS", "Count/Second", _write_iops),
        MetricSpec("AWS/RDS", "DatabaseConnections", "Count", _connections),
    ),
    "ec2": (
        MetricSpec("AWS/EC2", "CPUUtilization", "Percent", _cpu),
        MetricSpec("AWS/EC2", "NetworkIn", "Bytes", _network_in),
        MetricSpec("AWS/EC2", "NetworkOut", "Bytes", _network_out),
        MetricSpec("AWS/EC2", "EBSReadOps", "Count", _ebs_ops(300_000)),
        MetricSpec("AWS/EC2", "EBSWriteOps", "Count", _ebs_ops(150_000)),
    ),
    "s3": (
        MetricSpec("AWS/S3", "BucketSizeBytes", "Bytes", _bucket_bytes, "StandardStorage"),
        MetricSpec("AWS/S3", "NumberOfObjects", "Count", _bucket_objects, "AllStorageTypes"),
    ),
}


@dataclass(frozen=True)
class Series:
    """The datapoints of one metric of one resource, ready for PutMetricData."""

    resource: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    unit: str
    points: tuple[tuple[datetime, float], ...]

    @property
    def key(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        """What identifies the series in CloudWatch (dimension order included, see above)."""
        return self.namespace, self.metric, self.dimensions


def dimensions(
    resource: DemoResource, aws_id: str, spec: MetricSpec
) -> tuple[tuple[str, str], ...]:
    """The dimensions of ``spec`` for ``resource``, in the canonical order."""
    if resource.kind == "rds":
        return (("DBInstanceIdentifier", aws_id),)
    if resource.kind == "ec2":
        return (("InstanceId", aws_id),)
    return (("BucketName", aws_id), ("StorageType", spec.storage_type))


def window(end: datetime, days: int, step: timedelta) -> list[datetime]:
    """Timestamps ``end - days`` ≤ t < ``end``, every ``step`` (``end`` must be aligned)."""
    count = int(timedelta(days=days) / step)
    return [end - step * (count - i) for i in range(count)]


def week_of_series(
    estate: Estate, ids: Mapping[str, str], end: datetime, days: int = 7
) -> list[Series]:
    """Every series of the estate over ``days`` days before ``end`` (aware, whole hour).

    Hourly points for instances; daily points (at 00:00 UTC) for buckets, as S3 publishes
    its storage metrics once a day.

    Raises:
        ValueError: ``end`` is not a whole hour in UTC.
    """
    if end.utcoffset() != timedelta(0) or (end.minute, end.second, end.microsecond) != (0, 0, 0):
        raise ValueError(f"end must be a whole hour in UTC, got {end.isoformat()}")
    start = growth_origin(end, days)
    out: list[Series] = []
    for resource in estate.resources:
        step = DAY if resource.kind == "s3" else HOUR
        last = end.replace(hour=0) if resource.kind == "s3" else end
        stamps = window(last, days, step)
        for spec in METRICS[resource.kind]:
            key = f"{resource.name}/{spec.name}"
            points = tuple(
                (
                    t,
                    spec.value(
                        resource, busy(resource.profile, t), noise(key, t), days_since(t, start)
                    ),
                )
                for t in stamps
            )
            dims = dimensions(resource, ids[resource.name], spec)
            out.append(Series(resource.name, spec.namespace, spec.name, dims, spec.unit, points))
    return out


def growth_origin(end: datetime, days: int = 7) -> datetime:
    """Midnight UTC ``days`` days before ``end``'s day: where growing quantities start.

    Day-aligned so that datapoints and Cost Explorer figures computed minutes apart (across
    an hour boundary) still agree on how full a bucket was on a given day.
    """
    midnight = end.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=days)


def days_since(at: datetime, start: datetime) -> float:
    """Fractional days from ``start`` to ``at`` (negative before it)."""
    return (at - start) / DAY


@dataclass(frozen=True)
class SeededMetrics:
    """What :func:`put_series` did."""

    series_put: int
    series_present: int
    datapoints: int
    calls: int

    def as_details(self) -> dict[str, Any]:
        """JSON-able summary for the run record."""
        return {
            "series_put": self.series_put,
            "series_present": self.series_present,
            "datapoints": self.datapoints,
            "put_calls": self.calls,
        }


def present_series(clients: AwsClients) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """Keys of every series CloudWatch already holds (dimension order as stored)."""
    cloudwatch = clients.client("cloudwatch", role="write")
    keys: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
    with aws_errors("cloudwatch", "ListMetrics"):
        for page in cloudwatch.get_paginator("list_metrics").paginate():
            for metric in page["Metrics"]:
                dims = tuple((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))
                keys.add((metric["Namespace"], metric["MetricName"], dims))
    return keys


def put_series(clients: AwsClients, series: Sequence[Series]) -> SeededMetrics:
    """Put the series CloudWatch does not hold yet (a second run puts nothing).

    Raises:
        AwsError: a PutMetricData or ListMetrics call failed.
    """
    present = present_series(clients)
    missing = [s for s in series if s.key not in present]
    cloudwatch = clients.client("cloudwatch", role="write")
    calls = 0
    for namespace, batch in _batches(missing):
        with aws_errors("cloudwatch", "PutMetricData"):
            cloudwatch.put_metric_data(
                Namespace=namespace, MetricData=cast("list[MetricDatumTypeDef]", batch)
            )
        calls += 1
    return SeededMetrics(
        series_put=len(missing),
        series_present=len(series) - len(missing),
        datapoints=sum(len(s.points) for s in missing),
        calls=calls,
    )


def _batches(series: Iterable[Series]) -> Iterable[tuple[str, list[dict[str, Any]]]]:
    """Per namespace, whole series packed into calls of at most MAX_ITEMS_PER_CALL items."""
    by_namespace: dict[str, list[Series]] = {}
    for s in series:
        by_namespace.setdefault(s.namespace, []).append(s)
    for namespace, group in by_namespace.items():
        batch: list[dict[str, Any]] = []
        for s in group:
            items = _items(s)
            if batch and len(batch) + len(items) > MAX_ITEMS_PER_CALL:
                yield namespace, batch
                batch = []
            batch.extend(items)
        if batch:
            yield namespace, batch


def _items(series: Series) -> list[dict[str, Any]]:
    dims = [{"Name": n, "Value": v} for n, v in series.dimensions]
    if len(series.points) > MAX_ITEMS_PER_CALL:
        raise ValueError(f"{series.resource}/{series.metric}: more points than one call takes")
    return [
        {
            "MetricName": series.metric,
            "Dimensions": dims,
            "Timestamp": at,
            "Value": value if math.isfinite(value) else 0.0,
            "Unit": series.unit,
        }
        for at, value in series.points
    ]
