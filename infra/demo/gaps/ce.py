"""Cost Explorer as the gap server answers it: cost lines, cost allocation tags, backfills.

moto's ``GetCostAndUsage`` replays canned bodies and it has no cost allocation tag API, so the
Cost Explorer behaviours the product must honour could not be tested. This handler keeps what
AWS would hold — line items (day, service, record type, resource tags, unblended and net
amortized cost) and the account's cost allocation tags — and answers, shaped as botocore's
service model (``ce`` 2017-10-25) says:

* ``GetCostAndUsage``: ``DAILY`` or ``MONTHLY``; metrics ``UnblendedCost`` and
  ``NetAmortizedCost``; ``Filter`` with ``Dimensions`` (``RECORD_TYPE``, ``SERVICE``),
  ``Tags`` (``EQUALS`` or ``ABSENT``), ``And``, ``Or``, ``Not``; ``GroupBy`` up to two of
  ``DIMENSION`` ``SERVICE``/``RECORD_TYPE`` and ``TAG``; every day of the period returned,
  ``Total`` empty when grouped (as AWS does); ``Estimated`` on days at or after the seeded
  ``estimated_from``; pages of ``page_size`` days with an opaque ``NextPageToken``.
* A tag key groups as ``"key$value"`` only when the key is an **active** cost allocation tag
  for that day: AWS attributes costs to a user-defined tag only after it is activated, from
  the activation on (AWS Billing User Guide, "Activating user-defined cost allocation tags",
  https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/activating-tags.html; "Using
  user-defined cost allocation tags", .../custom-tags.html). Untagged lines, lines of an
  inactive key and lines before the activation group as ``"key$"``.
* ``ListCostAllocationTags`` (filters ``Status``, ``TagKeys``, ``Type``; ``MaxResults``
  paging): the seeded keys, plus every tag key seen on a line as ``UserDefined``/``Inactive``
  (AWS lists keys found on billed resources, active or not).
* ``UpdateCostAllocationTagsStatus``: 1–20 entries; an unknown key is an ``Errors`` entry.
  Activation applies from the stand-in's today forward.
* ``StartCostAllocationTagBackfill``: re-applies the current activation status from
  ``BackfillFrom`` (a first of month, not before the previous twelve months, not in the
  future); at most one request every 24 hours and none while one is processing
  (``BackfillLimitExceededException``) — API Reference, "StartCostAllocationTagBackfill",
  https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_StartCostAllocationTagBackfill.html.
  A request stays ``PROCESSING`` for the seeded ``backfill_seconds`` (default 0), then
  ``SUCCEEDED``; its re-attribution is applied when it is made.
* ``ListCostAllocationTagBackfillHistory``: every request, newest first.

Seeding (``POST /locxia-gaps/ce``, replaces the whole state)::

    {"lines": [{"day": "2026-11-03", "service": "Amazon Relational Database Service",
                "record_type": "Usage", "tags": {"project": "locxia"},
                "unblended": "1.23", "net_amortized": "1.23"}],
     "tags": [{"TagKey": "project", "Status": "Active", "Type": "UserDefined",
               "LastUpdatedDate": "2026-10-01T00:00:00Z"}],
     "estimated_from": "2026-11-19", "now": "2026-11-20T12:00:00Z",
     "backfills": [...], "backfill_seconds": 0, "page_size": 100}

``net_amortized`` defaults to ``unblended``. A seeded ``Active`` tag with a
``LastUpdatedDate`` is active from that day on, without one from the beginning. ``now`` fixes
the stand-in's clock (default: the real one). ``backfills`` are earlier requests
(``CostAllocationTagBackfillRequest`` shapes).

What it does not model: the other metrics (``BlendedCost``, ``AmortizedCost``,
``UsageQuantity``…), ``HOURLY`` granularity, other dimensions, cost categories, linked
accounts, the 24 hours AWS takes to show a newly activated tag, AWS's own page size.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from infra.demo.gaps import Completion, GapError, JsonObject, Operation, post_seed

PREFIX = "AWSInsightsIndexService."
METRICS = {"UnblendedCost": "unblended", "NetAmortizedCost": "net_amortized"}
DIMENSIONS = {"SERVICE": "service", "RECORD_TYPE": "record_type"}
#: "You can request a backfill once every 24 hours" (StartCostAllocationTagBackfill).
BACKFILL_EVERY = timedelta(hours=24)
BACKFILL_MONTHS = 12  # "Dates can't precede the previous twelve months"


@dataclass(frozen=True)
class Line:
    """One line item: what one service cost on one day for one record type and tag set."""

    day: date
    service: str
    record_type: str
    tags: dict[str, str]
    unblended: Decimal
    net_amortized: Decimal


@dataclass
class Tag:
    """A cost allocation tag: ``active_from`` is the first day costs are attributed to it."""

    key: str
    status: str
    type: str
    last_updated: datetime | None
    active_from: date | None


@dataclass
class Backfill:
    """One ``StartCostAllocationTagBackfill`` request."""

    backfill_from: datetime
    requested_at: datetime
    status: str = "PROCESSING"
    completed_at: datetime | None = None
    last_updated: datetime | None = None

    def shape(self) -> JsonObject:
        """The ``CostAllocationTagBackfillRequest`` shape."""
        out = {
            "BackfillFrom": _stamp(self.backfill_from),
            "RequestedAt": _stamp(self.requested_at),
            "BackfillStatus": self.status,
            "LastUpdatedAt": _stamp(self.last_updated or self.requested_at),
        }
        if self.completed_at is not None:
            out["CompletedAt"] = _stamp(self.completed_at)
        return out


@dataclass
class CostExplorerGaps:
    """The Cost Explorer state AWS would hold for one account, and the operations on it."""

    name: str = "ce"
    lines: list[Line] = field(default_factory=list)
    tags: dict[str, Tag] = field(default_factory=dict)
    estimated_from: date | None = None
    backfills: list[Backfill] = field(default_factory=list)
    backfill_seconds: float = 0.0
    page_size: int = 100
    fixed_now: datetime | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def operations(self) -> dict[str, Operation]:
        """The Cost Explorer targets answered here (JSON 1.1, ``AWSInsightsIndexService``)."""
        return {
            PREFIX + "GetCostAndUsage": self.get_cost_and_usage,
            PREFIX + "ListCostAllocationTags": self.list_cost_allocation_tags,
            PREFIX + "UpdateCostAllocationTagsStatus": self.update_cost_allocation_tags_status,
            PREFIX + "StartCostAllocationTagBackfill": self.start_backfill,
            PREFIX + "ListCostAllocationTagBackfillHistory": self.backfill_history,
        }

    def completions(self) -> dict[str, Completion]:
        """None: Cost Explorer is answered here entirely."""
        return {}

    def now(self) -> datetime:
        """The stand-in's clock: the seeded ``now`` if any, else the real time."""
        return self.fixed_now or self.clock()

    # --- state -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every line, tag and backfill."""
        self.lines, self.tags, self.backfills = [], {}, []
        self.estimated_from, self.fixed_now = None, None
        self.backfill_seconds, self.page_size = 0.0, 100

    def seed(self, body: JsonObject) -> None:
        """Replace the whole state with ``body`` (see the module's docstring).

        Raises:
            GapError: a field is missing or malformed (nothing is changed then).
        """
        try:
            lines = [_line(raw) for raw in body.get("lines", [])]
            tags = [_tag(raw) for raw in body.get("tags", [])]
            estimated = body.get("estimated_from")
            now = body.get("now")
            backfills = [_backfill(raw) for raw in body.get("backfills", [])]
            backfill_seconds = float(body.get("backfill_seconds", 0))
            page_size = int(body.get("page_size", 100))
            fixed_now = _instant(now) if now else None
            estimated_from = date.fromisoformat(estimated) if estimated else None
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise GapError("ValidationException", f"bad Cost Explorer seed: {exc!r}") from exc
        if page_size < 1:
            raise GapError("ValidationException", "page_size must be at least 1")
        self.reset()
        self.lines, self.backfills = lines, backfills
        self.tags = {t.key: t for t in tags}
        self.estimated_from, self.fixed_now = estimated_from, fixed_now
        self.backfill_seconds, self.page_size = backfill_seconds, page_size

    # --- GetCostAndUsage -------------------------------------------------------------------
    def get_cost_and_usage(self, request: JsonObject) -> JsonObject:
        """Daily or monthly cost of the lines matching ``Filter``, grouped as asked."""
        start, end = _period(request.get("TimePeriod"))
        granularity = request.get("Granularity")
        if granularity not in ("DAILY", "MONTHLY"):
            raise GapError("ValidationException", f"Granularity {granularity!r} not modelled")
        metrics = request.get("Metrics") or []
        unknown = [m for m in metrics if m not in METRICS]
        if not metrics or unknown:
            raise GapError("ValidationException", f"Metrics not modelled: {unknown or metrics}")
        group_by = request.get("GroupBy") or []
        _check_groups(group_by)
        match = self._matcher(request.get("Filter"))
        periods = _periods(start, end, granularity)
        results = [
            self._result(p_start, p_end, metrics, group_by, match) for p_start, p_end in periods
        ]
        offset = self._offset(request)
        page = results[offset : offset + self.page_size]
        out: JsonObject = {
            "GroupDefinitions": group_by,
            "ResultsByTime": page,
            "DimensionValueAttributes": [],
        }
        if offset + self.page_size < len(results):
            out["NextPageToken"] = _token(request, offset + self.page_size)
        return out

    def _offset(self, request: JsonObject) -> int:
        token = request.get("NextPageToken")
        if not token:
            return 0
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            if decoded["request"] != _fingerprint(request):
                raise ValueError("token of another request")
            return int(decoded["offset"])
        except (ValueError, KeyError, TypeError) as exc:
            raise GapError("InvalidNextTokenException", "The token is not valid.") from exc

    def _result(
        self,
        start: date,
        end: date,
        metrics: list[str],
        group_by: list[JsonObject],
        match: Callable[[Line], bool],
    ) -> JsonObject:
        sums: dict[tuple[str, ...], dict[str, Decimal]] = defaultdict(
            lambda: dict.fromkeys(metrics, Decimal(0))
        )
        for line in self.lines:
            if not (start <= line.day < end and match(line)):
                continue
            key = tuple(self._group_key(line, g) for g in group_by)
            for metric in metrics:
                sums[key][metric] += getattr(line, METRICS[metric])
        estimated = self.estimated_from is not None and end > self.estimated_from
        result: JsonObject = {
            "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
            "Total": {},
            "Groups": [],
            "Estimated": estimated,
        }
        if not group_by:
            total = sums.get((), dict.fromkeys(metrics, Decimal(0)))
            result["Total"] = {m: _amount(total[m]) for m in metrics}
            return result
        result["Groups"] = [
            {"Keys": list(key), "Metrics": {m: _amount(v) for m, v in amounts.items()}}
            for key, amounts in sorted(sums.items())
        ]
        return result

    def _group_key(self, line: Line, group: JsonObject) -> str:
        if group["Type"] == "DIMENSION":
            return str(getattr(line, DIMENSIONS[group["Key"]]))
        key = group["Key"]
        return f"{key}${self.tag_value(line, key)}"

    def tag_value(self, line: Line, key: str) -> str:
        """The value Cost Explorer attributes ``line`` to for tag ``key`` ('' = untagged).

        Only an active cost allocation tag attributes costs, and only from its activation
        (or the backfill that re-applied it) on.
        """
        tag = self.tags.get(key)
        if tag is None or tag.status != "Active" or tag.active_from is None:
            return ""
        if line.day < tag.active_from:
            return ""
        return line.tags.get(key, "")

    def _matcher(self, expression: JsonObject | None) -> Callable[[Line], bool]:
        if not expression:
            return lambda line: True
        kinds = [k for k in ("And", "Or", "Not", "Dimensions", "Tags") if k in expression]
        if len(kinds) != 1:
            raise GapError("ValidationException", f"an Expression needs exactly one of {kinds}")
        kind = kinds[0]
        if kind in ("And", "Or"):
            parts = [self._matcher(e) for e in expression[kind]]
            if len(parts) < 2:
                raise GapError("ValidationException", f"{kind} needs at least two expressions")
            combine = all if kind == "And" else any
            return lambda line: combine(p(line) for p in parts)
        if kind == "Not":
            inner = self._matcher(expression["Not"])
            return lambda line: not inner(line)
        if kind == "Dimensions":
            spec = expression["Dimensions"]
            if spec.get("Key") not in DIMENSIONS:
                raise GapError("ValidationException", f"dimension {spec.get('Key')!r} not modelled")
            attr, values = DIMENSIONS[spec["Key"]], set(spec.get("Values") or [])
            return lambda line: str(getattr(line, attr)) in values
        spec = expression["Tags"]
        key, values = spec["Key"], set(spec.get("Values") or [])
        if "ABSENT" in (spec.get("MatchOptions") or []):
            return lambda line: self.tag_value(line, key) == ""
        return lambda line: self.tag_value(line, key) in values

    # --- cost allocation tags --------------------------------------------------------------
    def _all_tags(self) -> list[Tag]:
        seen = {key for line in self.lines for key in line.tags}
        found = [Tag(k, "Inactive", "UserDefined", None, None) for k in seen - set(self.tags)]
        return sorted([*self.tags.values(), *found], key=lambda t: t.key)

    def list_cost_allocation_tags(self, request: JsonObject) -> JsonObject:
        """The account's cost allocation tags, filtered and paged."""
        keys = request.get("TagKeys")
        if keys is not None and not 1 <= len(keys) <= 100:
            raise GapError("ValidationException", "TagKeys takes 1 to 100 keys")
        tags = [
            t
            for t in self._all_tags()
            if (keys is None or t.key in keys)
            and request.get("Status") in (None, t.status)
            and request.get("Type") in (None, t.type)
        ]
        shaped = [_tag_shape(t) for t in tags]
        return _paged(shaped, request, "CostAllocationTags", "NextToken", 100)

    def update_cost_allocation_tags_status(self, request: JsonObject) -> JsonObject:
        """Activate or deactivate tag keys, from today on; unknown keys are reported."""
        entries = request.get("CostAllocationTagsStatus") or []
        if not 1 <= len(entries) <= 20:
            raise GapError("ValidationException", "CostAllocationTagsStatus takes 1 to 20 entries")
        known = {t.key: t for t in self._all_tags()}
        now = self.now()
        errors = []
        for entry in entries:
            key, status = entry.get("TagKey"), entry.get("Status")
            if status not in ("Active", "Inactive"):
                raise GapError("ValidationException", f"Status {status!r} is not Active/Inactive")
            tag = known.get(key)
            if tag is None:
                errors.append(
                    {"TagKey": key, "Code": "TagKeysNotFound", "Message": "tag key not found"}
                )
                continue
            if tag.status != status:
                tag.status, tag.last_updated = status, now
                tag.active_from = now.date() if status == "Active" else None
            self.tags[key] = tag
        return {"Errors": errors}

    # --- backfill --------------------------------------------------------------------------
    def _refresh_backfills(self) -> None:
        now = self.now()
        for b in self.backfills:
            done_at = b.requested_at + timedelta(seconds=self.backfill_seconds)
            if b.status == "PROCESSING" and now >= done_at:
                b.status, b.completed_at, b.last_updated = "SUCCEEDED", done_at, done_at

    def start_backfill(self, request: JsonObject) -> JsonObject:
        """Re-apply every tag's current status from ``BackfillFrom`` on.

        Raises:
            GapError: ``BackfillFrom`` is malformed, not a first of month, earlier than the
                previous twelve months or in the future (``ValidationException``); a
                request is processing or was made less than 24 hours ago
                (``BackfillLimitExceededException``).
        """
        now = self.now()
        try:
            backfill_from = _instant(request["BackfillFrom"])
        except (KeyError, TypeError, ValueError) as exc:
            raise GapError("ValidationException", "BackfillFrom: expected a timestamp") from exc
        earliest = _months_back(now.date().replace(day=1), BACKFILL_MONTHS)
        first = backfill_from.date()
        if first.day != 1 or backfill_from.time() != datetime.min.time():
            raise GapError("ValidationException", "BackfillFrom must be a first of month")
        if first < earliest or backfill_from > now:
            raise GapError(
                "ValidationException",
                f"BackfillFrom must be between {earliest.isoformat()} and now",
            )
        self._refresh_backfills()
        for b in self.backfills:
            if b.status == "PROCESSING" or now - b.requested_at < BACKFILL_EVERY:
                raise GapError(
                    "BackfillLimitExceededException",
                    "A request to backfill is already in progress. Once the previous request"
                    " is complete, you can create another request.",
                )
        for tag in self.tags.values():
            if tag.status == "Active":
                start = tag.active_from or first
                tag.active_from = min(start, first)
        backfill = Backfill(backfill_from.astimezone(UTC), now)
        self.backfills.append(backfill)
        self._refresh_backfills()
        return {"BackfillRequest": backfill.shape()}

    def backfill_history(self, request: JsonObject) -> JsonObject:
        """Every backfill request, newest first."""
        self._refresh_backfills()
        shaped = [b.shape() for b in sorted(self.backfills, key=lambda b: b.requested_at)][::-1]
        return _paged(shaped, request, "BackfillRequests", "NextToken", 1000)


# --- parsing and shaping ---------------------------------------------------------------------
def _line(raw: JsonObject) -> Line:
    unblended = Decimal(str(raw["unblended"]))
    net = raw.get("net_amortized")
    tags = raw.get("tags") or {}
    if not isinstance(tags, dict):
        raise TypeError("tags must be an object")
    return Line(
        day=date.fromisoformat(raw["day"]),
        service=str(raw["service"]),
        record_type=str(raw.get("record_type", "Usage")),
        tags={str(k): str(v) for k, v in tags.items()},
        unblended=unblended,
        net_amortized=unblended if net is None else Decimal(str(net)),
    )


def _tag(raw: JsonObject) -> Tag:
    status = raw["Status"]
    if status not in ("Active", "Inactive"):
        raise ValueError(f"Status {status!r}")
    updated = _instant(raw["LastUpdatedDate"]) if raw.get("LastUpdatedDate") else None
    active_from = None
    if status == "Active":
        active_from = updated.date() if updated else date.min
    return Tag(str(raw["TagKey"]), status, raw.get("Type", "UserDefined"), updated, active_from)


def _backfill(raw: JsonObject) -> Backfill:
    completed = raw.get("CompletedAt")
    return Backfill(
        backfill_from=_instant(raw["BackfillFrom"]),
        requested_at=_instant(raw["RequestedAt"]),
        status=raw.get("BackfillStatus", "SUCCEEDED"),
        completed_at=_instant(completed) if completed else None,
        last_updated=_instant(raw["LastUpdatedAt"]) if raw.get("LastUpdatedAt") else None,
    )


def _tag_shape(t: Tag) -> JsonObject:
    out: JsonObject = {"TagKey": t.key, "Type": t.type, "Status": t.status}
    if t.last_updated is not None:
        out["LastUpdatedDate"] = _stamp(t.last_updated)
    return out


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return value.astimezone(UTC)


def _stamp(value: datetime) -> str:
    """``ZonedDateTime``: ``YYYY-MM-DDTHH:MM:SSZ`` (the model's pattern)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _amount(value: Decimal) -> JsonObject:
    return {"Amount": format(value.normalize(), "f") if value else "0", "Unit": "USD"}


def _period(raw: Any) -> tuple[date, date]:
    try:
        start = date.fromisoformat(raw["Start"][:10])
        end = date.fromisoformat(raw["End"][:10])
    except (TypeError, KeyError, ValueError) as exc:
        raise GapError("ValidationException", "TimePeriod needs Start and End dates") from exc
    if start >= end:
        raise GapError("ValidationException", "Start date must be before End date")
    return start, end


def _periods(start: date, end: date, granularity: str) -> list[tuple[date, date]]:
    out = []
    cursor = start
    while cursor < end:
        if granularity == "DAILY":
            nxt = cursor + timedelta(days=1)
        else:
            nxt = _months_back(cursor.replace(day=1), -1)
        out.append((cursor, min(nxt, end)))
        cursor = min(nxt, end)
    return out


def _months_back(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _check_groups(group_by: list[JsonObject]) -> None:
    if len(group_by) > 2:
        raise GapError("ValidationException", "GroupBy takes at most two groups")
    for g in group_by:
        if g.get("Type") == "TAG" and g.get("Key"):
            continue
        if g.get("Type") == "DIMENSION" and g.get("Key") in DIMENSIONS:
            continue
        raise GapError("ValidationException", f"GroupBy {g!r} not modelled")


def _fingerprint(request: JsonObject) -> str:
    body = {k: v for k, v in request.items() if k not in ("NextPageToken", "NextToken")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _token(request: JsonObject, offset: int) -> str:
    raw = json.dumps({"request": _fingerprint(request), "offset": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _paged(
    items: list[JsonObject], request: JsonObject, field_name: str, token_name: str, default: int
) -> JsonObject:
    size = int(request.get("MaxResults") or default)
    if not 1 <= size <= 1000:
        raise GapError("ValidationException", "MaxResults takes 1 to 1000")
    offset = 0
    if request.get(token_name):
        try:
            offset = int(base64.urlsafe_b64decode(request[token_name].encode()))
        except ValueError as exc:
            raise GapError("InvalidNextTokenException", "The token is not valid.") from exc
    out: JsonObject = {field_name: items[offset : offset + size]}
    if offset + size < len(items):
        out[token_name] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
    return out


# --- the tests' and the demo's way in --------------------------------------------------------
def seed(
    endpoint: str,
    lines: Iterable[JsonObject],
    tags: Iterable[JsonObject],
    estimated_from: date | str | None = None,
    **options: Any,
) -> JsonObject:
    """Replace the Cost Explorer state of the gap server at ``endpoint``.

    Args:
        endpoint: the gap server (``LOCXIA_AWS_ENDPOINT_URL`` of the tests and the demo).
        lines: line items (``day``, ``service``, ``record_type``, ``tags``, ``unblended``,
            ``net_amortized``); Decimal amounts are sent as strings.
        tags: cost allocation tags (``TagKey``, ``Status``, ``Type``, ``LastUpdatedDate``).
        estimated_from: days on or after it come back ``Estimated``.
        options: ``now``, ``backfills``, ``backfill_seconds``, ``page_size``.
    """
    body: JsonObject = {
        "lines": [
            {k: str(v) if isinstance(v, Decimal | date) else v for k, v in line.items()}
            for line in lines
        ],
        "tags": list(tags),
        **options,
    }
    if isinstance(body.get("now"), datetime):
        body["now"] = body["now"].isoformat()
    if estimated_from is not None:
        body["estimated_from"] = str(estimated_from)
    return post_seed(endpoint, "ce", body)
