"""Queries and batches: one query per (resource × metric × statistic), ≤ 500 per call.

GetMetricData accepts at most 500 ``MetricDataQueries`` per call, and that is also the billing
unit ("metrics requested"), so the number of calls for a policy is ceil(queries / 500) plus
any ``NextToken`` pages. Query ids are ``q<n>`` (the API wants a lowercase letter first) and
are mapped back by index, never parsed.

Each query carries its resource's region and period: CloudWatch keeps a resource's metrics in
the region of the resource, so a batch goes to one region's endpoint (a bucket of another
region read through the platform's region answers empty series, not an error), and one call
holds queries of one period so the window can be aligned to it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.observe.metrics.periods import resource_period
from pipelines.observe.metrics.policies import MetricSpec, Policy
from pipelines.observe.metrics.resources import DIMENSIONS, Resource

MAX_QUERIES_PER_CALL = 500  # GetMetricData's limit on MetricDataQueries


@dataclass(frozen=True)
class Query:
    """One series to read: a resource's metric under one statistic."""

    resource: int
    dimension: str
    dimension_value: str
    metric: MetricSpec
    stat: str
    period: int
    region: str = ""

    @property
    def key(self) -> tuple[int, str, str, int]:
        """The series key in ``metrics.datapoints`` and ``metrics.watermarks``."""
        return (self.resource, self.metric.name, self.stat, self.period)

    def to_api(self, index: int, namespace: str) -> dict[str, Any]:
        """The ``MetricDataQueries`` entry, with dimensions in one canonical order."""
        dims = [{"Name": self.dimension, "Value": self.dimension_value}]
        dims += [{"Name": k, "Value": v} for k, v in self.metric.dimensions]
        return {
            "Id": f"q{index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": namespace,
                    "MetricName": self.metric.name,
                    "Dimensions": dims,
                },
                "Period": self.period,
                "Stat": self.stat,
            },
            "ReturnData": True,
        }


def build_queries(policy: Policy, resources: Sequence[Resource]) -> list[Query]:
    """Every query of ``policy`` over ``resources``, in a stable order.

    Statistics are the metric's own (:meth:`Policy.stats_for`); the period is the resource's
    (:func:`~pipelines.observe.metrics.periods.resource_period`: a basic-monitoring EC2
    instance is read at a multiple of 300 s).
    """
    dimension = DIMENSIONS[policy.resource_type][1]
    out: list[Query] = []
    for r in sorted(resources, key=lambda r: r.id):
        period = resource_period(policy.namespace, policy.period, r.attributes)
        out.extend(
            Query(r.id, dimension, r.resource_id, metric, stat, period, r.region)
            for metric in policy.metrics
            for stat in policy.stats_for(metric.name)
        )
    return out


def groups(queries: Sequence[Query]) -> dict[tuple[str, int], list[Query]]:
    """Queries by (region, period), in a stable order: each group is fetched on its own."""
    out: dict[tuple[str, int], list[Query]] = {}
    for q in queries:
        out.setdefault((q.region, q.period), []).append(q)
    return dict(sorted(out.items()))


def batches(queries: Sequence[Query], size: int = MAX_QUERIES_PER_CALL) -> Iterator[list[Query]]:
    """Consecutive chunks of at most ``size`` queries."""
    if not 1 <= size <= MAX_QUERIES_PER_CALL:
        raise ValueError(f"batch size must be 1..{MAX_QUERIES_PER_CALL}, got {size}")
    for start in range(0, len(queries), size):
        yield list(queries[start : start + size])
