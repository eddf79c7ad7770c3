from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest

from infra.demo.scenario.cloudwatch import MAX_ITEMS_PER_CALL, _batches
from infra.demo.scenario.datapoints import Series, growth_origin, week_of_series
from infra.demo.scenario.estate import Estate
from infra.demo.scenario.estates import DEFAULT_RESOURCES
from infra.demo.scenario.loads import LOCAL

ESTATE = Estate(DEFAULT_RESOURCES)
IDS = {r.name: (f"i-{r.name}" if r.kind == "ec2" else r.name) for r in DEFAULT_RESOURCES}
END = datetime(2026, 11, 25, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def series() -> list[Series]:
    return week_of_series(ESTATE, IDS, END)


def _one(series: list[Series], resource: str, metric: str) -> Series:
    return next(s for s in series if s.resource == resource and s.metric == metric)


def test_every_resource_gets_its_metrics_over_the_week(series: list[Series]) -> None:
    rds = {s.metric for s in series if s.namespace == "AWS/RDS"}
    assert rds == {
        "CPUUtilization", "FreeStorageSpace", "SwapUsage", "ReadIOPS", "WriteIOPS",
        "DatabaseConnections",
    }  # fmt: skip
    ec2 = {s.metric for s in series if s.namespace == "AWS/EC2"}
    assert ec2 == {"CPUUtilization", "NetworkIn", "NetworkOut", "EBSReadOps", "EBSWriteOps"}
    assert {s.metric for s in series if s.namespace == "AWS/S3"} == {
        "BucketSizeBytes",
        "NumberOfObjects",
    }
    assert len(series) == 4 * 6 + 3 * 5 + 4 * 2
    for s in series:
        stamps = [t for t, _ in s.points]
        assert stamps == sorted(stamps) and stamps[-1] < END
        if s.namespace == "AWS/S3":
            assert len(stamps) == 7 and all(t.hour == 0 for t in stamps)
        else:
            assert len(stamps) == 168 and stamps[0] == END - timedelta(days=7)


def test_series_are_deterministic() -> None:
    assert week_of_series(ESTATE, IDS, END) == week_of_series(ESTATE, IDS, END)


def test_dimensions_follow_one_canonical_order(series: list[Series]) -> None:
    bucket = _one(series, "locxia-demo-landing", "BucketSizeBytes")
    assert bucket.dimensions == (
        ("BucketName", "locxia-demo-landing"),
        ("StorageType", "StandardStorage"),
    )
    assert _one(series, "tiles-server", "CPUUtilization").dimensions == (
        ("InstanceId", "i-tiles-server"),
    )
    assert _one(series, "work-db", "ReadIOPS").dimensions == (("DBInstanceIdentifier", "work-db"),)


def _night_and_day(s: Series) -> tuple[float, float]:
    night = [v for t, v in s.points if t.astimezone(LOCAL).hour in (1, 2, 3, 4)]
    day = [v for t, v in s.points if t.astimezone(LOCAL).hour in (10, 11, 14, 15)]
    return statistics.mean(night), statistics.mean(day)


def test_day_and_night_differ_by_role(series: list[Series]) -> None:
    night, day = _night_and_day(_one(series, "work-db", "CPUUtilization"))
    assert night > 1.8 * day
    night, day = _night_and_day(_one(series, "tiles-server", "NetworkOut"))
    assert day > 3 * night
    night, day = _night_and_day(_one(series, "ingest-worker", "NetworkIn"))
    assert night > 1.8 * day


def test_the_scratch_database_is_idle(series: list[Series]) -> None:
    assert {v for _, v in _one(series, "scratch-db", "DatabaseConnections").points} == {0.0}
    assert {v for _, v in _one(series, "scratch-db", "ReadIOPS").points} == {0.0}
    assert max(v for _, v in _one(series, "scratch-db", "CPUUtilization").points) < 2.0
    assert min(v for _, v in _one(series, "expo-db", "DatabaseConnections").points) > 0


def test_buckets_grow_and_disks_fill(series: list[Series]) -> None:
    sizes = [v for _, v in _one(series, "locxia-demo-landing", "BucketSizeBytes").points]
    assert sizes == sorted(sizes) and sizes[-1] - sizes[0] == pytest.approx(6 * 4 * 2**30, 1e-6)
    free = [v for _, v in _one(series, "work-db", "FreeStorageSpace").points]
    assert free[-1] < free[0] < 500 * 2**30


def test_values_are_in_range(series: list[Series]) -> None:
    for s in series:
        values = [v for _, v in s.points]
        assert min(values) >= 0, s.key
        if s.metric == "CPUUtilization":
            assert max(values) <= 100, s.key


def test_growth_starts_at_midnight_a_week_before() -> None:
    assert growth_origin(END) == datetime(2026, 11, 18, tzinfo=UTC)
    assert growth_origin(END.replace(hour=23)) == growth_origin(END.replace(hour=0))


@pytest.mark.parametrize(
    "end",
    [datetime(2026, 11, 25, 9, 30, tzinfo=UTC), datetime(2026, 11, 25, 9)],
    ids=["not-whole-hour", "naive"],
)
def test_the_window_end_must_be_a_whole_utc_hour(end: datetime) -> None:
    with pytest.raises((ValueError, TypeError)):
        week_of_series(ESTATE, IDS, end)


def test_batches_hold_whole_series_within_the_api_limit(series: list[Series]) -> None:
    batches = list(_batches(series))
    assert all(len(items) <= MAX_ITEMS_PER_CALL for _, items in batches)
    for namespace, items in batches:
        assert namespace.startswith("AWS/")
        keys = {(i["MetricName"], tuple((d["Name"], d["Value"]) for d in i["Dimensions"]))
                for i in items}  # fmt: skip
        for metric, dims in keys:  # a series is never split across calls
            s = next(x for x in series if x.metric == metric and x.dimensions == dims)
            assert sum(
                1 for i in items
                if i["MetricName"] == metric
                and tuple((d["Name"], d["Value"]) for d in i["Dimensions"]) == dims
            ) == len(s.points)  # fmt: skip
    assert sum(len(items) for _, items in batches) == sum(len(s.points) for s in series)
