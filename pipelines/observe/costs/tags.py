"""Cost allocation tags: is each tag key Cost Explorer is grouped by active, and the backfill.

Cost Explorer attributes costs to a user-defined tag only once the tag is **activated** as a
cost allocation tag, and only from the activation on (AWS Billing User Guide, "Activating
user-defined cost allocation tags",
https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/activating-tags.html). Until
then every group of a ``GroupBy`` on that key is ``key$`` — all spend reads as untagged and a
tag budget reads 0. So every Cost Explorer read first asks ``ce:ListCostAllocationTags`` for
the keys it groups by, records the answer in ``costs.tag_activation`` (shown as a warning on
the Costs dashboard and in the report) and returns one warning line per key not active.

The costs of the months before an activation are re-attributed only by a **backfill**
(``ce:StartCostAllocationTagBackfill``): from a first of month no earlier than the previous
twelve months, at most once every 24 hours, never while one is processing (API Reference,
"StartCostAllocationTagBackfill",
https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_StartCostAllocationTagBackfill.html).
:func:`request_backfill` asks from the earliest month allowed, after checking the history
(``ce:ListCostAllocationTagBackfillHistory``) so a refusal is one clear line, not AWS's error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypedDict

import psycopg

from infra.aws import AwsClients, aws_errors
from infra.errors import AwsError, InputError
from pipelines.observe.costs.explorer import CE_REGION

#: "You can request a backfill once every 24 hours."
BACKFILL_EVERY = timedelta(hours=24)
#: "Dates can't precede the previous twelve months."
BACKFILL_MONTHS = 12


@dataclass(frozen=True)
class TagStatus:
    """One tag key's activation as AWS reported it (``Unknown``: AWS does not list it)."""

    key: str
    status: str
    used_for: str
    tag_type: str | None = None
    last_updated: str | None = None
    last_used: str | None = None

    @property
    def warning(self) -> str | None:
        """The line a reader must see when the key is not active (None when it is)."""
        if self.status == "Active":
            return None
        return (
            f"cost allocation tag {self.key!r} ({self.used_for}) is {self.status}: Cost"
            f" Explorer groups its costs as untagged ({self.key}$); activate it, then run"
            " locxia observe costs --backfill"
        )


def check_tags(
    clients: AwsClients, conn: psycopg.Connection[Any], keys: dict[str, str], now: datetime
) -> tuple[list[TagStatus], int]:
    """Ask AWS the activation of ``keys`` (key → what it is used for) and record it.

    Returns:
        The statuses (in ``keys``' order) and the number of requests made (each one is a
        billed Cost Explorer request).

    Raises:
        AwsError: the request failed (nothing recorded).
    """
    client = clients.client("ce", region=CE_REGION)
    found: dict[str, dict[str, Any]] = {}
    request: dict[str, Any] = {"TagKeys": list(keys)}
    requests = 0
    while True:
        with aws_errors("ce", "ListCostAllocationTags"):
            page = client.list_cost_allocation_tags(**request)
        requests += 1
        for tag in page.get("CostAllocationTags", []):
            found[tag["TagKey"]] = dict(tag)
        token = page.get("NextToken")
        if not token:
            break
        request["NextToken"] = token
    statuses = [
        TagStatus(
            key,
            found.get(key, {}).get("Status", "Unknown"),
            used_for,
            found.get(key, {}).get("Type"),
            found.get(key, {}).get("LastUpdatedDate"),
            found.get(key, {}).get("LastUsedDate"),
        )
        for key, used_for in keys.items()
    ]
    with conn.transaction():
        conn.execute("DELETE FROM costs.tag_activation")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO costs.tag_activation (tag_key, status, tag_type, used_for,"
                " last_updated, last_used, checked_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (s.key, s.status, s.tag_type, s.used_for, s.last_updated, s.last_used, now)
                    for s in statuses
                ],
            )
    return statuses, requests


class BackfillRequested(TypedDict):
    """What ``costs.backfill`` records: the request AWS accepted."""

    backfill_from: str
    requested_at: str | None
    status: str | None
    ce_requests: int
    estimated_cost_usd: float


def backfill_from(now: datetime) -> date:
    """The earliest month AWS allows: the first of the month twelve months back."""
    index = now.year * 12 + now.month - 1 - BACKFILL_MONTHS
    return date(index // 12, index % 12 + 1, 1)


def refusal(history: list[dict[str, Any]], now: datetime) -> str | None:
    """Why AWS would refuse a backfill now (one line), or None.

    A request still ``PROCESSING``, or one requested less than 24 hours ago.
    """
    for item in history:
        requested = _instant(item.get("RequestedAt"))
        if item.get("BackfillStatus") == "PROCESSING":
            return (
                f"a cost allocation tag backfill is in progress (requested"
                f" {_text(requested)}, from {item.get('BackfillFrom')}); try again once it is done"
            )
        if requested is not None and now - requested < BACKFILL_EVERY:
            again = requested + BACKFILL_EVERY
            return (
                f"a cost allocation tag backfill was requested less than 24 hours ago"
                f" ({_text(requested)}); AWS allows one every 24 hours: try after {_text(again)}"
            )
    return None


def request_backfill(clients: AwsClients, now: datetime) -> BackfillRequested:
    """Ask AWS to backfill the cost allocation tags' status from the earliest month allowed.

    Raises:
        InputError: a backfill is in progress or was requested less than 24 hours ago.
        AwsError: a request failed.
    """
    read = clients.client("ce", region=CE_REGION)
    history: list[dict[str, Any]] = []
    request: dict[str, Any] = {}
    requests = 0
    while True:
        with aws_errors("ce", "ListCostAllocationTagBackfillHistory"):
            page = read.list_cost_allocation_tag_backfill_history(**request)
        requests += 1
        history += [dict(item) for item in page.get("BackfillRequests", [])]
        if not page.get("NextToken"):
            break
        request["NextToken"] = page["NextToken"]
    why = refusal(history, now)
    if why:
        raise InputError(why, where="--backfill")
    since = backfill_from(now)
    # Changes the account's billing data (re-attributes past costs): the write role.
    write = clients.client("ce", role="write", region=CE_REGION)
    try:
        with aws_errors("ce", "StartCostAllocationTagBackfill"):
            made = write.start_cost_allocation_tag_backfill(
                BackfillFrom=f"{since.isoformat()}T00:00:00Z"
            )
    except AwsError as exc:
        if exc.code == "BackfillLimitExceededException":
            raise InputError(
                "AWS refused the backfill: one is already in progress or was requested in the"
                " last 24 hours",
                where="--backfill",
            ) from exc
        raise
    requests += 1
    answer = made.get("BackfillRequest", {})
    return {
        "backfill_from": answer.get("BackfillFrom") or f"{since.isoformat()}T00:00:00Z",
        "requested_at": answer.get("RequestedAt"),
        "status": answer.get("BackfillStatus"),
        "ce_requests": requests,
        "estimated_cost_usd": round(requests * 0.01, 2),
    }


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _text(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "?"
