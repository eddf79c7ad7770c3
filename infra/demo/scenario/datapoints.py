"""The scenario's CloudWatch datapoints: what AWS would have recorded for the estate.

Datapoints for RDS (CPU, free storage, swap, read/write IOPS, connections, and network
throughput when the estate says so) and EC2 (CPU, network in/out, EBS operations) every
``step`` (hourly for the demo and the week, five minutes for the fleet), daily storage metrics
for the buckets — shaped by :mod:`infra.demo.scenario.loads`, so days and nights differ and
the idle database looks idle. The same :class:`Series` are put into the stand-in
(:mod:`~infra.demo.scenario.cloudwatch`) and are what tests expect a collector to store.

Small on purpose: moto is slow at volume (notes: 100 queries × 288 periods took ~13 s), so
hourly datapoints over seven days (~6,600 for the demo) keep seeding and collection quick.

Dimensions are put in one canonical order (AWS's documented one, e.g. ``BucketName`` then
``StorageType``) because moto matches a multi-dimension query only against data stored in
the same order: collectors must query in this order. moto's own S3 datapoint for today (with
the dimensions the other way round and a wrong size) is thereby never matched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from infra.demo.scenario.estate import DemoResource, Estate
from infra.demo.scenario.loads import IDLE_LEVEL, busy, noise

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
GIB = 2**30
OBJECTS_PER_GIB = 120  # raw files of ~8 MiB on average

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


def _throughput(scale: float) -> Value:
    def per_second(r: DemoResource, b: float, n: float, _: float) -> float:
        return round(scale * max(b, IDLE_LEVEL) * (1 + 0.2 * n), 3)

    return per_second


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
    "ebs": (),  # a volume's own metrics are not part of the scenario
}
#: Emitted by RDS instances of an estate with ``rds_network`` (bytes per second).
RDS_NETWORK = (
    MetricSpec("AWS/RDS", "NetworkReceiveThroughput", "Bytes/Second", _throughput(2.5e6)),
    MetricSpec("AWS/RDS", "NetworkTransmitThroughput", "Bytes/Second", _throughput(6e6)),
)


def specs(estate: Estate, resource: DemoResource) -> tuple[MetricSpec, ...]:
    """The metrics ``resource`` emits in ``estate``."""
    extra = RDS_NETWORK if resource.kind == "rds" and estate.rds_network else ()
    return METRICS[resource.kind] + extra


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


def window(end: datetime, span: timedelta, step: timedelta) -> list[datetime]:
    """Timestamps ``end - span`` ≤ t < ``end``, every ``step`` (``end`` must be aligned)."""
    count = int(span / step)
    return [end - step * (count - i) for i in range(count)]


def week_of_series(
    estate: Estate,
    ids: Mapping[str, str],
    end: datetime,
    days: int = 7,
    step: timedelta = HOUR,
    span: timedelta | None = None,
) -> list[Series]:
    """Every series of the estate, the ``days`` days (or ``span``) before ``end``.

    Points every ``step`` (hourly by default) over ``span`` (default: the ``days``) for
    instances; daily points (at 00:00 UTC) over the ``days`` for buckets, as S3 publishes
    its storage metrics once a day. Growing quantities start at :func:`growth_origin`.

    Raises:
        ValueError: ``end`` is not aware, or not a whole ``step`` (e.g. hour) in UTC.
    """
    _require_aligned(end, step)
    start = growth_origin(end, days)
    out: list[Series] = []
    for resource in estate.resources:
        if resource.kind == "s3":
            stamps = window(end.replace(hour=0, minute=0), timedelta(days=days), DAY)
        else:
            stamps = window(end, span or timedelta(days=days), step)
        aws_id = ids[resource.name]
        out += [_series(resource, aws_id, spec, stamps, start) for spec in specs(estate, resource)]
    return out


def _series(
    resource: DemoResource, aws_id: str, spec: MetricSpec, stamps: list[datetime], start: datetime
) -> Series:
    """One metric of one resource at ``stamps``, growing quantities counted from ``start``."""
    key = f"{resource.name}/{spec.name}"
    points = tuple(
        (t, spec.value(resource, busy(resource.profile, t), noise(key, t), days_since(t, start)))
        for t in stamps
    )
    dims = dimensions(resource, aws_id, spec)
    return Series(resource.name, spec.namespace, spec.name, dims, spec.unit, points)


def _require_aligned(end: datetime, step: timedelta) -> None:
    if end.utcoffset() != timedelta(0):
        raise ValueError(f"end must be in UTC, got {end.isoformat()}")
    since_midnight = end - end.replace(hour=0, minute=0, second=0, microsecond=0)
    if since_midnight % step or DAY % step:
        raise ValueError(f"end must be a whole {step} in UTC, got {end.isoformat()}")


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
