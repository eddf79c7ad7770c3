"""The scenario's datapoints put into the stand-in CloudWatch, once (idempotent).

Whole series per PutMetricData call, so that a call either stores a series or does not: a
second run puts only the series CloudWatch does not hold yet, which is none.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from infra.aws import AwsClients, aws_errors
from infra.demo.scenario.datapoints import Series

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import MetricDatumTypeDef

# PutMetricData: at most 1,000 metric data items per request (AWS quota).
MAX_ITEMS_PER_CALL = 1000


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
