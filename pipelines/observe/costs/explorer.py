"""Cost Explorer: ``GetCostAndUsage`` DAILY, grouped by SERVICE and by a tag, into ``costs.daily``.

Every run re-reads the last ``LOCXIA_COST_REREAD_DAYS`` complete days and **replaces** them
(AWS revises recent days, and a group may disappear), in one transaction per tag key. Days
end at today 00:00 UTC (exclusive): today is incomplete, its hours are estimated instead
(:mod:`.estimates`). One grouping per tag key — the Locxia tag key, plus every tag key a
budget names — because GetCostAndUsage groups by at most two keys.

Each request costs 0.01 USD (pages included): recorded as ``ce_requests`` and
``estimated_cost_usd`` in ``ops.runs``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

import psycopg

from infra.aws import AwsClients, aws_errors

if TYPE_CHECKING:
    from mypy_boto3_ce import CostExplorerClient
    from mypy_boto3_ce.type_defs import ResultByTimeTypeDef


CE_USD_PER_REQUEST = 0.01
CE_REGION = "us-east-1"  # Cost Explorer has one endpoint
METRIC = "UnblendedCost"

CostKey = tuple[date, str, str]  # day, service, tag value


class CostReadResult(TypedDict):
    """What one Cost Explorer read records; ``days`` is ``[start, end)`` as ISO dates.

    ``reporting.observation_costs`` reads ``ce_requests`` and ``estimated_cost_usd``.
    """

    ce_requests: int
    aws_retries: int
    estimated_cost_usd: float
    rows: int
    tag_keys: list[str]
    days: list[str]


@dataclass
class CostReport:
    """What one Cost Explorer read did."""

    start: date
    end: date
    ce_requests: int = 0
    aws_retries: int = 0
    rows: int = 0
    tag_keys: list[str] = field(default_factory=list)

    @property
    def estimated_cost_usd(self) -> float:
        """What the requests cost."""
        return round(self.ce_requests * CE_USD_PER_REQUEST, 2)

    def details(self) -> CostReadResult:
        """The JSON recorded for the run (``ce_requests``, ``estimated_cost_usd``: fixed keys)."""
        return {
            "ce_requests": self.ce_requests,
            "aws_retries": self.aws_retries,
            "estimated_cost_usd": self.estimated_cost_usd,
            "rows": self.rows,
            "tag_keys": self.tag_keys,
            "days": [self.start.isoformat(), self.end.isoformat()],
        }


def parse_groups(
    results: Iterable[ResultByTimeTypeDef], start: date, end: date
) -> tuple[dict[CostKey, Decimal], set[CostKey]]:
    """Amounts per (day, service, tag value) in ``[start, end)``, and which are estimated.

    A group key ``"project$locxia"`` is tag value ``locxia``; ``"project$"`` is untagged ('').
    """
    amounts: dict[CostKey, Decimal] = {}
    estimated: set[CostKey] = set()
    for result in results:
        day = date.fromisoformat(result["TimePeriod"]["Start"])
        if not start <= day < end:
            continue
        for group in result.get("Groups", []):
            keys = list(group.get("Keys", []))
            service = keys[0] if keys else ""
            tag = keys[1] if len(keys) > 1 else ""
            tag_value = tag.split("$", 1)[1] if "$" in tag else tag
            amount = Decimal(group["Metrics"][METRIC]["Amount"])
            key = (day, service, tag_value)
            amounts[key] = amounts.get(key, Decimal(0)) + amount
            if result.get("Estimated"):
                estimated.add(key)
    return amounts, estimated


class CostExplorerReader:
    """Reads and stores daily costs for the tag keys asked."""

    def __init__(self, clients: AwsClients, conn: psycopg.Connection[Any]) -> None:
        self.clients = clients
        self.conn = conn
        self._retries_before = clients.retry_count

    def run(self, tag_keys: list[str], days: int, now: datetime) -> CostReport:
        """Re-read the last ``days`` complete days for each tag key.

        Raises:
            AwsError: a request failed (rows of the keys already done are kept).
        """
        end = now.date()
        report = CostReport(start=end - timedelta(days=days), end=end, tag_keys=tag_keys)
        client = self.clients.client("ce", region=CE_REGION)
        for key in tag_keys:
            results = self._read(client, key, report)
            amounts, estimated = parse_groups(results, report.start, report.end)
            with self.conn.transaction():
                self.conn.execute(
                    "DELETE FROM costs.daily WHERE tag_key = %s AND day >= %s AND day < %s",
                    (key, report.start, report.end),
                )
                with self.conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO costs.daily (day, service, tag_key, tag_value, usd, estimated)"
                        " VALUES (%s, %s, %s, %s, %s, %s)",
                        [
                            (day, service, key, value, usd, (day, service, value) in estimated)
                            for (day, service, value), usd in sorted(amounts.items())
                        ],
                    )
            report.rows += len(amounts)
        return report

    def _read(
        self, client: CostExplorerClient, key: str, report: CostReport
    ) -> list[ResultByTimeTypeDef]:
        """Every page of one grouping (the paginator is not used: the token is in the body)."""
        request: dict[str, Any] = {
            "TimePeriod": {"Start": report.start.isoformat(), "End": report.end.isoformat()},
            "Granularity": "DAILY",
            "Metrics": [METRIC],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "TAG", "Key": key}],
        }
        results: list[ResultByTimeTypeDef] = []
        while True:
            with aws_errors("ce", "GetCostAndUsage"):
                page = client.get_cost_and_usage(**request)
            report.ce_requests += 1
            report.aws_retries = self.clients.retry_count - self._retries_before
            results.extend(page.get("ResultsByTime", []))
            token = page.get("NextPageToken")
            if not token:
                return results
            request["NextPageToken"] = token
