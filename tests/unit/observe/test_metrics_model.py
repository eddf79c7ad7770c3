"""Pure parts of the metrics path: ARNs, policies, queries and batches, windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infra.errors import InputError
from pipelines.observe.metrics.batching import MAX_QUERIES_PER_CALL, batches, build_queries
from pipelines.observe.metrics.policies import Busy, MetricSpec, Policy, assign, winner
from pipelines.observe.metrics.resources import Resource, parse_arn
from pipelines.observe.metrics.window import align_down, parse_since, window_for
from tests.support.policies import ec2_policy

NOW = datetime(2026, 11, 20, 12, 7, 30, tzinfo=UTC)


def policy(**changes: object) -> Policy:
    return ec2_policy(**{"name": "p", **changes})


def ec2(rid: int, **tags: str) -> Resource:
    return Resource(rid, f"arn:{rid}", "ec2:instance", f"i-{rid}", f"i-{rid}", "eu-west-3", tags)


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        ("arn:aws:ec2:eu-west-3:123:instance/i-0abc", ("ec2:instance", "i-0abc", "eu-west-3")),
        ("arn:aws:ec2:eu-west-3:123:volume/vol-1", ("ec2:volume", "vol-1", "eu-west-3")),
        ("arn:aws:rds:eu-west-3:123:db:work-db", ("rds:db", "work-db", "eu-west-3")),
        ("arn:aws:s3:::my-bucket", ("s3:bucket", "my-bucket", "")),
        ("arn:aws:rds:eu-west-3:123:snapshot:s1", None),
        ("not-an-arn", None),
    ],
    ids=["instance", "volume", "rds", "s3", "other-rds", "garbage"],
)
def test_parse_arn(arn: str, expected: tuple[str, str, str] | None) -> None:
    parsed = parse_arn(arn)
    assert (parsed and (parsed.type, parsed.resource_id, parsed.region)) == expected


def test_metric_spec_parses_extra_dimensions_in_canonical_order() -> None:
    spec = MetricSpec.parse("BucketSizeBytes{StorageType=StandardStorage,A=b}", "here")
    assert spec == MetricSpec("BucketSizeBytes", (("A", "b"), ("StorageType", "StandardStorage")))
    with pytest.raises(InputError, match=r"^here: 'Bad\{x\}': 'x' is not Dim=Value"):
        MetricSpec.parse("Bad{x}", "here")
    with pytest.raises(InputError, match="is not a metric"):
        MetricSpec.parse("has space", "here")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"stats": ("Avg",)}, r"\[p\]\.stats: 'Avg' is not a statistic"),
        ({"stats": ("Sum", "Sum")}, "a statistic is listed twice"),
        ({"metrics": (MetricSpec("A"), MetricSpec("A"))}, "a metric is listed twice"),
        ({"period": 90}, "90 is not a CloudWatch period"),
        ({"busy": Busy("Nope", 20, 60)}, "busy_metric 'Nope' is not one of"),
        ({"busy": Busy("CPUUtilization", 20, 60), "stats": ("Maximum",)}, "needs the Average"),
        ({"resource_type": "lambda"}, "unknown resource type"),
    ],
    ids=["stat", "dup-stat", "dup-metric", "period", "busy-metric", "busy-average", "type"],
)
def test_each_policy_validator(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        policy(**changes)


def test_percentiles_and_sub_minute_periods_are_valid() -> None:
    # sub-minute periods exist only for high-resolution (custom) metrics: see test_periods.py
    custom = policy(namespace="Locxia/Jobs", stats=("p99", "p99.9"), period=10)
    assert custom.queries_per_resource == 4


def test_most_specific_policy_wins_then_name() -> None:
    general = policy(name="b-general")
    heavy = policy(name="z-heavy", match_tags=(("task", "ingestion"),))
    twin = policy(name="a-general")
    disabled = policy(name="0-off", match_tags=(("task", "ingestion"),), enabled=False)
    busy, rest = ec2(1, task="ingestion"), ec2(2)
    assert winner([general, heavy, twin, disabled], busy) is heavy
    assert winner([general, heavy, twin, disabled], rest) is twin
    owned = assign([general, heavy, twin], [busy, rest])
    assert owned == {"b-general": [], "z-heavy": [busy], "a-general": [rest]}


def test_adaptive_job_wakes_at_the_faster_cadence_and_cost_is_per_metric() -> None:
    p = policy(every=900, busy=Busy("CPUUtilization", 20, 60))
    assert p.job_every == 60
    # 30 days / 900 s = 2,880 runs x 10 resources x 4 metrics x 0.01 USD / 1,000
    assert p.monthly_api_usd(10) == pytest.approx(2880 * 10 * 4 * 0.01 / 1000)


def test_queries_batches_and_api_shape() -> None:
    p = policy(
        namespace="AWS/S3",
        resource_type="s3:bucket",
        metrics=(MetricSpec("BucketSizeBytes", (("StorageType", "StandardStorage"),)),),
        stats=("Average",),
        period=86400,
    )
    resources = [
        Resource(i, f"a{i}", "s3:bucket", f"b{i}", f"b{i}", "eu-west-3") for i in range(1201)
    ]
    queries = build_queries(p, list(reversed(resources)))
    assert [q.resource for q in queries[:3]] == [0, 1, 2]
    chunks = list(batches(queries))
    assert [len(c) for c in chunks] == [500, 500, 201]
    assert all(len(c) <= MAX_QUERIES_PER_CALL for c in chunks)
    api = chunks[0][7].to_api(7, p.namespace)
    assert api["Id"] == "q7"
    assert api["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "BucketName", "Value": "b7"},
        {"Name": "StorageType", "Value": "StandardStorage"},
    ]
    with pytest.raises(ValueError, match="batch size"):
        list(batches(queries, 501))


def test_window_is_aligned_and_starts_at_the_oldest_watermark_minus_lookback() -> None:
    assert align_down(NOW, 300) == datetime(2026, 11, 20, 12, 5, tzinfo=UTC)
    marks = [NOW - timedelta(minutes=20), NOW - timedelta(minutes=2)]
    w = window_for(marks, period=300, lookback=900, backfill=3600, now=NOW)
    assert w is not None
    assert (w.start, w.end, w.periods) == (
        datetime(2026, 11, 20, 11, 30, tzinfo=UTC),
        datetime(2026, 11, 20, 12, 5, tzinfo=UTC),
        7,
    )
    fresh = window_for([None], period=300, lookback=900, backfill=3600, now=NOW)
    assert fresh is not None and fresh.start == fresh.end - timedelta(hours=1)


def test_window_edges() -> None:
    assert window_for([], period=300, lookback=0, backfill=60, now=NOW) is None
    done = window_for([align_down(NOW, 86400)], period=86400, lookback=0, backfill=1, now=NOW)
    assert done is None  # a daily series already read up to today: nothing due
    ancient = window_for([NOW - timedelta(days=400)], period=60, lookback=0, backfill=60, now=NOW)
    assert ancient is not None and ancient.end - ancient.start <= timedelta(days=15)
    since = window_for(
        [NOW], period=60, lookback=0, backfill=60, now=NOW, since=NOW - timedelta(hours=2)
    )
    assert since is not None and since.periods == 120


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("6h", NOW - timedelta(hours=6)),
        ("2d", NOW - timedelta(days=2)),
        ("1w", NOW - timedelta(weeks=1)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("2026-11-20T06:00Z", datetime(2026, 11, 20, 6, tzinfo=UTC)),
        ("2026-11-20T08:00+02:00", datetime(2026, 11, 20, 6, tzinfo=UTC)),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "0h", "5x", "2027-01-01"])
def test_parse_since_rejects(text: str) -> None:
    with pytest.raises(InputError, match="--since"):
        parse_since(text, NOW)
