"""Periods AWS serves per namespace, per-metric statistics, queries split by region and period."""

from __future__ import annotations

import pytest

from infra.errors import InputError
from pipelines.observe.metrics.batching import build_queries, groups
from pipelines.observe.metrics.periods import period_problem, resource_period
from pipelines.observe.metrics.policies import Busy, MetricSpec, Policy, winner
from pipelines.observe.metrics.resources import Resource
from tests.support.policies import ec2_policy as support_policy


def ec2_policy(**changes: object) -> Policy:
    """The support policy with NetworkIn read as Sum (a count per period)."""
    return support_policy(**{"metric_stats": (("NetworkIn", ("Sum",)),), **changes})


def instance(rid: int, region: str, monitoring: str | None, **tags: str) -> Resource:
    attrs = {} if monitoring is None else {"monitoring": monitoring}
    name = f"i-{rid}"
    return Resource(rid, f"arn:{rid}", "ec2:instance", name, name, region, tags, None, attrs)


@pytest.mark.parametrize(
    ("namespace", "metric", "period", "refused"),
    [
        ("AWS/EC2", "CPUUtilization", 60, False),
        ("AWS/EC2", "CPUUtilization", 30, True),
        ("AWS/EC2", "CPUUtilization", 90, True),
        ("AWS/RDS", "CPUUtilization", 120, False),
        ("AWS/EBS", "VolumeReadOps", 10, True),
        ("AWS/S3", "BucketSizeBytes", 86400, False),
        ("AWS/S3", "BucketSizeBytes", 3600, True),
        ("AWS/S3", "NumberOfObjects", 300, True),
        ("AWS/S3", "AllRequests", 60, False),
        ("Locxia/Jobs", "Latency", 10, False),
    ],
    ids=[
        "ec2-60",
        "ec2-30",
        "ec2-90",
        "rds-120",
        "ebs-10",
        "s3-daily",
        "s3-hourly",
        "s3-objects-300",
        "s3-requests-60",
        "custom-high-resolution",
    ],
)
def test_period_rules_per_namespace(
    namespace: str, metric: str, period: int, refused: bool
) -> None:
    problem = period_problem(namespace, [metric], period)
    assert (problem is not None) == refused
    if problem is not None:
        assert "\n" not in problem and f"{period} s" in problem


def test_a_refused_period_is_one_line_naming_the_row() -> None:
    with pytest.raises(InputError) as info:
        ec2_policy(
            name="s3-hourly",
            resource_type="s3:bucket",
            namespace="AWS/S3",
            metrics=(MetricSpec("BucketSizeBytes", (("StorageType", "StandardStorage"),)),),
            stats=("Average",),
            metric_stats=(),
            period=3600,
        )
    assert str(info.value) == (
        "params.collection_policies[s3-hourly].period_seconds: 3600 s: AWS publishes AWS/S3"
        " BucketSizeBytes once a day; use a multiple of 86400 s (CloudWatch concepts - periods)"
    )


def test_per_metric_statistics_and_their_validation() -> None:
    p = ec2_policy()
    assert p.stats_for("NetworkIn") == ("Sum",)
    assert p.stats_for("CPUUtilization") == ("Average", "Maximum")
    assert p.queries_per_resource == 3
    with pytest.raises(InputError, match=r"metric_stats: 'NetworkOut' is not one of"):
        ec2_policy(metric_stats=(("NetworkOut", ("Sum",)),))
    with pytest.raises(InputError, match=r"metric_stats\[NetworkIn\]: 'Total' is not a stat"):
        ec2_policy(metric_stats=(("NetworkIn", ("Total",)),))
    # the busy metric's own statistics must include Average
    with pytest.raises(InputError, match="Average statistic of NetworkIn"):
        ec2_policy(busy=Busy("NetworkIn", 1.0, 60))


def test_basic_monitoring_instances_are_read_at_five_minutes() -> None:
    assert resource_period("AWS/EC2", 60, {"monitoring": "disabled"}) == 300
    assert resource_period("AWS/EC2", 600, {"monitoring": "disabled"}) == 600
    assert resource_period("AWS/EC2", 420, {"monitoring": "pending"}) == 600
    assert resource_period("AWS/EC2", 60, {"monitoring": "enabled"}) == 60
    assert resource_period("AWS/EC2", 60, {}) == 60  # never described: the policy's period
    assert resource_period("AWS/RDS", 60, {"monitoring": "disabled"}) == 60


def test_queries_split_by_region_and_period_with_the_winner_unchanged() -> None:
    heavy = ec2_policy(name="ec2-ingestion", period=60, match_tags=(("task", "ingestion"),))
    default = ec2_policy()
    fleet = [
        instance(1, "eu-west-3", "enabled", task="ingestion"),
        instance(2, "eu-west-3", "disabled", task="ingestion"),
        instance(3, "us-east-1", "enabled", task="ingestion"),
        instance(4, "us-east-1", "disabled"),
    ]
    assert [winner([default, heavy], r) for r in fleet] == [heavy, heavy, heavy, default]
    queries = build_queries(heavy, fleet[:3])
    assert {(q.resource, q.metric.name, q.stat) for q in queries if q.resource == 1} == {
        (1, "CPUUtilization", "Average"),
        (1, "CPUUtilization", "Maximum"),
        (1, "NetworkIn", "Sum"),
    }
    parts = groups(queries)
    assert {k: sorted({q.resource for q in v}) for k, v in parts.items()} == {
        ("eu-west-3", 60): [1],
        ("eu-west-3", 300): [2],
        ("us-east-1", 60): [3],
    }
