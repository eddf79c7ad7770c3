"""Fetch: one batch of queries through GetMetricData, following ``NextToken``, page by page.

Pages are yielded as they arrive so the store can stream each into PostgreSQL: memory holds
one page (≤ 100,800 datapoints, the API's page size), whatever the window. The client should
come from ``AwsClients(settings, epoch_timestamps=True)`` so timestamps arrive as POSIX
seconds; datetimes are accepted too (tests, other clients).

Counting: ``api_calls`` is one per HTTP call made to the API (retries are botocore's and are
not extra calls billed); ``metrics_requested`` adds the batch's query count for **every**
call, pages included, because that is what AWS bills at 0.01 USD per 1,000.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from infra.aws import aws_errors
from pipelines.observe.metrics.batching import Query
from pipelines.observe.metrics.policies import USD_PER_METRIC
from pipelines.observe.metrics.window import Window

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import GetMetricDataOutputTypeDef


@dataclass
class FetchCounters:
    """What the fetches of one run cost."""

    api_calls: int = 0
    metrics_requested: int = 0
    datapoints: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def estimated_cost_usd(self) -> float:
        """GetMetricData's price for the metrics requested so far."""
        return round(self.metrics_requested * USD_PER_METRIC, 6)


@dataclass(frozen=True)
class Series:
    """Part of one query's result: parallel POSIX-second timestamps and values."""

    query: Query
    timestamps: list[float]
    values: list[float]


def _seconds(values: list[Any]) -> list[float]:
    """POSIX seconds: as-is from the epoch parser, converted when botocore made datetimes."""
    if values and isinstance(values[0], datetime):
        return [v.timestamp() for v in values]
    return values


def fetch_pages(
    client: CloudWatchClient,
    batch: Sequence[Query],
    namespace: str,
    window: Window,
    counters: FetchCounters,
) -> Iterator[list[Series]]:
    """Yield the results of ``batch`` page by page.

    Raises:
        AwsError: the call failed after botocore's retries (throttling included).
    """
    request: dict[str, Any] = {
        "MetricDataQueries": [q.to_api(i, namespace) for i, q in enumerate(batch)],
        "StartTime": window.start,
        "EndTime": window.end,
        "ScanBy": "TimestampAscending",
    }
    while True:
        with aws_errors("cloudwatch", "GetMetricData"):
            page = client.get_metric_data(**request)
        counters.api_calls += 1
        counters.metrics_requested += len(batch)
        yield _page_series(page, batch, counters)
        token = page.get("NextToken")
        if not token:
            return
        request["NextToken"] = token


def _page_series(
    page: GetMetricDataOutputTypeDef, batch: Sequence[Query], counters: FetchCounters
) -> list[Series]:
    out: list[Series] = []
    for message in page.get("Messages") or []:
        counters.errors.append(f"GetMetricData: {message.get('Code')}: {message.get('Value')}")
    for result in page.get("MetricDataResults", []):
        query = batch[int(result["Id"][1:])]
        status = result.get("StatusCode", "Complete")
        if status not in ("Complete", "PartialData"):
            counters.errors.append(
                f"{query.dimension_value} {query.metric.name} {query.stat}: {status}"
            )
        values = result.get("Values") or []
        if values:
            out.append(Series(query, _seconds(result.get("Timestamps") or []), list(values)))
            counters.datapoints += len(values)
    return out
