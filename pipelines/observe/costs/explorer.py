"""Cost Explorer: ``GetCostAndUsage`` DAILY, on one basis, grouped by SERVICE and a tag.

**Basis** (``LOCXIA_COST_BASIS``, recorded on every ``costs.daily`` row and every read):

* ``usage``: ``UnblendedCost`` filtered to ``RECORD_TYPE`` = ``Usage`` — on-demand usage
  only. Credits, refunds, tax, support, upfront and recurring reservation or Savings Plans
  fees, and usage covered by a reservation (``DiscountedUsage``) or a Savings Plan
  (``SavingsPlanCoveredUsage``) are left out. What the estimates model, so CE and estimates
  compare like for like.
* ``net-amortized``: ``NetAmortizedCost`` of every record type, as AWS nets them: usage with
  reservation and Savings Plans fees spread over the usage they cover, minus credits,
  refunds and discounts, plus tax and support. Read in two requests per tag key, so each row
  says which it is: ``charge = 'usage'`` for :data:`RUN_RATE_TYPES` (recurring usage and the
  amortized recurring fees) and ``charge = 'adjustment'`` for every other record type
  (``Credit``, ``Refund``, ``Tax``, ``Support``, ``Fee``, ``SavingsPlanUpfrontFee``…). The
  month to date counts both; the run rate only ``usage``, so a credit or the tax posted on
  the 1st moves the month's spend but is not projected over the rest of the month.

The ``RECORD_TYPE`` values are Cost Explorer's charge types (Cost Explorer API Reference,
"GetDimensionValues": ``RECORD_TYPE`` — "The different types of charges such as Reserved
Instance (RI) fees, usage costs, tax refunds, and credits",
https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_GetDimensionValues.html;
the values and their console names: AWS Cost Management User Guide, "Filtering and grouping
data" → Charge type, https://docs.aws.amazon.com/cost-management/latest/userguide/ce-filtering.html).
Net amortized cost: AWS Cost Management User Guide, "Understanding your AWS cost datasets"
(https://docs.aws.amazon.com/cost-management/latest/userguide/ce-exploring-data.html).

**Coverage.** Every run re-reads the last ``LOCXIA_COST_REREAD_DAYS`` days up to today
00:00 UTC and **replaces** them (AWS revises recent days, and a group may disappear), in one
transaction per tag key. The newest day Cost Explorer returns is still being filled (it lags
by up to a day: "Cost Explorer refreshes your cost data at least once every 24 hours"), so
the complete days end at the **start** of that day (``costs.explorer_reads.covered_until``,
read through ``costs.coverage``); its hours are estimated instead (:mod:`.estimates`).
Older days flagged ``Estimated`` count as covered: AWS flags the whole open billing period
so, and CE's figure for them (data transfer, NAT… included) is closer to the bill than an
uptime estimate; the flag stays on the row and in ``reporting.daily_costs``.

One grouping per tag key — the Locxia tag key, plus every tag key a budget names — because
GetCostAndUsage groups by at most two keys. Each request costs 0.01 USD (pages included):
recorded as ``ce_requests`` and ``estimated_cost_usd`` in ``ops.runs``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import psycopg

from infra.aws import AwsClients, aws_errors

if TYPE_CHECKING:
    from mypy_boto3_ce import CostExplorerClient
    from mypy_boto3_ce.type_defs import ResultByTimeTypeDef


CE_USD_PER_REQUEST = 0.01
CE_REGION = "us-east-1"  # Cost Explorer has one endpoint
Basis = Literal["usage", "net-amortized"]
BASES: tuple[Basis, ...] = ("usage", "net-amortized")
Charge = Literal["usage", "adjustment"]
#: Record types counted as recurring usage on the ``net-amortized`` basis (the run rate):
#: usage, usage covered by reservations or Savings Plans, and the recurring fees AWS
#: amortizes over it. Every other record type is an adjustment.
RUN_RATE_TYPES = (
    "Usage",
    "DiscountedUsage",
    "SavingsPlanCoveredUsage",
    "SavingsPlanNegation",
    "RIFee",
    "SavingsPlanRecurringFee",
)

CostKey = tuple[date, str, str]  # day, service, tag value


@dataclass(frozen=True)
class Request:
    """One kind of GetCostAndUsage request of a basis: its metric, filter, and row charge."""

    charge: Charge
    metric: str
    filter: dict[str, Any]


def basis_requests(basis: Basis) -> tuple[Request, ...]:
    """The requests one tag key's grouping takes on ``basis`` (see the module's docstring)."""
    if basis == "usage":
        only_usage = {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Usage"]}}
        return (Request("usage", "UnblendedCost", only_usage),)
    recurring = {"Dimensions": {"Key": "RECORD_TYPE", "Values": list(RUN_RATE_TYPES)}}
    return (
        Request("usage", "NetAmortizedCost", recurring),
        Request("adjustment", "NetAmortizedCost", {"Not": recurring}),
    )


class CostReadResult(TypedDict):
    """What one Cost Explorer read records; ``days`` is ``[start, end)`` as ISO dates.

    ``reporting.observation_costs`` reads ``ce_requests`` and ``estimated_cost_usd``.
    ``covered_until`` is where the complete days end (None: nothing returned).
    """

    ce_requests: int
    aws_retries: int
    estimated_cost_usd: float
    rows: int
    tag_keys: list[str]
    days: list[str]
    basis: str
    newest_day: str | None
    covered_until: str | None


@dataclass
class CostReport:
    """What one Cost Explorer read did."""

    start: date
    end: date
    basis: Basis = "usage"
    ce_requests: int = 0
    aws_retries: int = 0
    rows: int = 0
    tag_keys: list[str] = field(default_factory=list)
    newest_day: date | None = None

    @property
    def estimated_cost_usd(self) -> float:
        """What the requests cost."""
        return round(self.ce_requests * CE_USD_PER_REQUEST, 2)

    @property
    def covered_until(self) -> datetime | None:
        """The start of the newest day returned: the end of the complete days."""
        if self.newest_day is None:
            return None
        return datetime.combine(self.newest_day, time(), tzinfo=UTC)

    def details(self) -> CostReadResult:
        """The JSON recorded for the run (``ce_requests``, ``estimated_cost_usd``: fixed keys)."""
        covered = self.covered_until
        return {
            "ce_requests": self.ce_requests,
            "aws_retries": self.aws_retries,
            "estimated_cost_usd": self.estimated_cost_usd,
            "rows": self.rows,
            "tag_keys": self.tag_keys,
            "days": [self.start.isoformat(), self.end.isoformat()],
            "basis": self.basis,
            "newest_day": self.newest_day.isoformat() if self.newest_day else None,
            "covered_until": covered.isoformat() if covered else None,
        }


def parse_groups(
    results: Iterable[ResultByTimeTypeDef], start: date, end: date, metric: str
) -> tuple[dict[CostKey, Decimal], set[CostKey], date | None]:
    """Amounts per (day, service, tag value) in ``[start, end)``; estimated keys; newest day.

    The newest day is the latest ``TimePeriod.Start`` returned in the window (None if none).

    A group key ``"project$locxia"`` is tag value ``locxia``; ``"project$"`` is untagged ('').
    """
    amounts: dict[CostKey, Decimal] = {}
    estimated: set[CostKey] = set()
    newest: date | None = None
    for result in results:
        day = date.fromisoformat(result["TimePeriod"]["Start"][:10])
        if not start <= day < end:
            continue
        newest = day if newest is None else max(newest, day)
        for group in result.get("Groups", []):
            keys = list(group.get("Keys", []))
            service = keys[0] if keys else ""
            tag = keys[1] if len(keys) > 1 else ""
            tag_value = tag.split("$", 1)[1] if "$" in tag else tag
            amount = Decimal(group["Metrics"][metric]["Amount"])
            key = (day, service, tag_value)
            amounts[key] = amounts.get(key, Decimal(0)) + amount
            if result.get("Estimated"):
                estimated.add(key)
    return amounts, estimated, newest


class CostExplorerReader:
    """Reads and stores daily costs for the tag keys asked, on one basis."""

    def __init__(
        self, clients: AwsClients, conn: psycopg.Connection[Any], basis: Basis = "usage"
    ) -> None:
        self.clients = clients
        self.conn = conn
        self.basis = basis
        self._retries_before = clients.retry_count

    def run(self, tag_keys: list[str], days: int, now: datetime) -> CostReport:
        """Re-read the last ``days`` days before today for each tag key; record the read.

        Raises:
            AwsError: a request failed (rows of the keys already done are kept; the coverage
                is only moved once every key is read).
        """
        end = now.astimezone(UTC).date()
        report = CostReport(
            start=end - timedelta(days=days), end=end, basis=self.basis, tag_keys=tag_keys
        )
        client = self.clients.client("ce", region=CE_REGION)
        newest: list[date | None] = []
        for key in tag_keys:
            rows: list[tuple[Any, ...]] = []
            for req in basis_requests(self.basis):
                results = self._read(client, key, req, report)
                amounts, estimated, last = parse_groups(
                    results, report.start, report.end, req.metric
                )
                newest.append(last)
                rows += [
                    (
                        day,
                        service,
                        key,
                        value,
                        usd,
                        (day, service, value) in estimated,
                        self.basis,
                        req.charge,
                    )  # fmt: skip
                    for (day, service, value), usd in sorted(amounts.items())
                ]
            self._replace(key, report, rows)
            report.rows += len(rows)
        # The newest day every request returned (a request returning none moves nothing).
        known = [d for d in newest if d is not None]
        report.newest_day = min(known) if known and len(known) == len(newest) else None
        self._record(report, now)
        return report

    def _replace(self, key: str, report: CostReport, rows: list[tuple[Any, ...]]) -> None:
        with self.conn.transaction():
            self.conn.execute(
                "DELETE FROM costs.daily WHERE tag_key = %s AND day >= %s AND day < %s",
                (key, report.start, report.end),
            )
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO costs.daily (day, service, tag_key, tag_value, usd, estimated,"
                    " basis, charge) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    rows,
                )

    def _record(self, report: CostReport, now: datetime) -> None:
        """One ``costs.explorer_reads`` row; with nothing returned the coverage stays put."""
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO costs.explorer_reads (read_at, basis, first_day, end_day,"
                " newest_day, covered_until) VALUES (%s, %s, %s, %s, %s,"
                " coalesce(%s, (SELECT covered_until FROM costs.coverage)))"
                " ON CONFLICT (read_at) DO UPDATE SET basis = EXCLUDED.basis,"
                " first_day = EXCLUDED.first_day, end_day = EXCLUDED.end_day,"
                " newest_day = EXCLUDED.newest_day, covered_until = EXCLUDED.covered_until",
                (
                    now,
                    report.basis,
                    report.start,
                    report.end,
                    report.newest_day,
                    report.covered_until,
                ),  # fmt: skip
            )

    def _read(
        self, client: CostExplorerClient, key: str, req: Request, report: CostReport
    ) -> list[ResultByTimeTypeDef]:
        """Every page of one grouping (the paginator is not used: the token is in the body)."""
        request: dict[str, Any] = {
            "TimePeriod": {"Start": report.start.isoformat(), "End": report.end.isoformat()},
            "Granularity": "DAILY",
            "Metrics": [req.metric],
            "Filter": req.filter,
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
