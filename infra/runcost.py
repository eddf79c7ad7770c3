"""The cost of one run: the AWS API spend it caused and its share of the compute it used.

Written by the Runner into ``ops.runs.cost_usd`` / ``cost_basis`` when a run ends (migration
0068), so every run — scheduled, manual or a chain step — carries what it cost and how that
was reckoned. Two parts:

* **API spend**, by kind. What a task counts itself is read from its details
  (``metrics_requested`` of a collection, ``ce_requests`` of a Cost Explorer read); everything
  else is counted by a :class:`RequestMeter` the Runner installs for the run, which every
  boto3 client created during the run reports to (one count per HTTP request sent, retries
  included: S3 bills every request it receives, and so the meter counts them all).
* **Compute share**: the run's own time (a chain's time minus that of its steps, so nothing is
  counted twice) × the hourly price of the EC2 instance it ran on and of the database it
  loaded. Both are declared per job in ``params.job_compute`` (a job id or a ``prefix*``; the
  longest match wins) and default to the settings ``run_host_type`` / ``run_database_class``;
  prices come from the catalog ``costs.prices`` of the service's region.

Pricing never fails a run: what cannot be priced is left out of ``cost_usd`` and named in
``cost_basis.problems``. The monthly API spend of the product itself is the sum of
``cost_basis -> 'api' ->> 'usd'`` over the month's runs.

Prices of the APIs (each cited where it is used):

* CloudWatch ``GetMetricData``: 0.01 USD per 1,000 metrics requested; other CloudWatch API
  requests (``ListMetrics``...): 0.01 USD per 1,000 requests — Amazon CloudWatch pricing,
  https://aws.amazon.com/cloudwatch/pricing/ ("API Requests").
* Cost Explorer API: 0.01 USD per paginated request — AWS Cost Explorer pricing,
  https://aws.amazon.com/aws-cost-management/aws-cost-explorer/pricing/.
* Price List Query API: no charge — AWS Billing and Cost Management pricing,
  https://aws.amazon.com/aws-cost-management/pricing/; the API itself: "Calling AWS services
  and prices using the AWS Price List",
  https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/price-changes.html.
* S3 Standard requests: PUT, COPY, POST, LIST 0.005 USD per 1,000; GET, SELECT and all other
  requests 0.0004 USD per 1,000; DELETE and CANCEL free. Data transferred in from the internet
  and from S3 to any AWS service in the same Region is free — Amazon S3 pricing,
  https://aws.amazon.com/s3/pricing/ ("Requests & data retrievals", "Data transfer"). These are
  US East (N. Virginia) list prices; other Regions differ by a few percent (docs/observe.md).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from infra.prices import PriceCatalog

S3_PRICING = "Amazon S3 pricing, https://aws.amazon.com/s3/pricing/"
CW_PRICING = "Amazon CloudWatch pricing, https://aws.amazon.com/cloudwatch/pricing/"
CE_PRICING = "AWS Cost Explorer pricing, https://aws.amazon.com/aws-cost-management/aws-cost-explorer/pricing/"
PRICE_LIST_PRICING = (
    "AWS Billing and Cost Management pricing (Price List API: no charge),"
    " https://aws.amazon.com/aws-cost-management/pricing/"
)

#: USD per unit of each API kind (the unit is one metric, request or byte).
USD_PER_METRIC = Decimal("0.01") / 1000
USD_PER_CW_REQUEST = Decimal("0.01") / 1000
USD_PER_CE_REQUEST = Decimal("0.01")
USD_PER_PRICING_REQUEST = Decimal(0)
USD_PER_S3_TIER1 = Decimal("0.005") / 1000  # PUT, COPY, POST, LIST
USD_PER_S3_TIER2 = Decimal("0.0004") / 1000  # GET, SELECT and all other requests
USD_PER_S3_BYTE_IN_REGION = Decimal(0)

#: S3 operations billed as PUT, COPY, POST or LIST requests (the S3 pricing page's first tier:
#: a multipart upload's initiate, parts and completion are PUT/POST requests each).
S3_TIER1 = frozenset(
    {
        "PutObject",
        "CopyObject",
        "PostObject",
        "UploadPart",
        "UploadPartCopy",
        "CreateMultipartUpload",
        "CompleteMultipartUpload",
        "ListObjects",
        "ListObjectsV2",
        "ListObjectVersions",
        "ListMultipartUploads",
        "ListParts",
        "ListBuckets",
        "PutObjectTagging",
        "PutObjectAcl",
    }
)
#: S3 operations the pricing page lists as free ("DELETE and CANCEL requests are free").
S3_FREE = frozenset({"DeleteObject", "DeleteObjects", "AbortMultipartUpload"})

Money = Decimal


class RequestMeter:
    """Counts the AWS requests and S3 bytes of one run, from every client created during it.

    Thread-safe: an S3 transfer sends its parts from a pool of threads through the one client.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[str, int] = {}
        """HTTP requests sent, by ``service:Operation`` (each attempt of a retried call); the
        service is botocore's event name for it (``cost-explorer`` for ``ce``)."""
        self.s3_bytes_up = 0
        """Bytes sent to S3 in request bodies (PutObject, UploadPart)."""
        self.s3_bytes_down = 0
        """Bytes received from S3 in GetObject bodies."""

    def attach(self, client: Any) -> None:
        """Report every request ``client`` sends (botocore ``before-send`` / ``after-call``)."""
        client.meta.events.register("before-send", self._on_send)
        client.meta.events.register("after-call.s3.GetObject", self._on_get)

    def _on_send(self, request: Any = None, event_name: str = "", **_: Any) -> None:
        parts = [*event_name.split(".", 2), "", ""]
        key = f"{parts[1]}:{parts[2]}"
        size = 0
        if parts[1] == "s3" and request is not None:
            length = (getattr(request, "headers", None) or {}).get("Content-Length")
            size = int(length) if length and str(length).isdigit() else 0
        with self._lock:
            self.requests[key] = self.requests.get(key, 0) + 1
            self.s3_bytes_up += size
        # returning None: botocore sends the request (a value would replace the response)

    def _on_get(self, parsed: Mapping[str, Any] | None = None, **_: Any) -> None:
        length = (parsed or {}).get("ContentLength")
        if isinstance(length, int):
            with self._lock:
                self.s3_bytes_down += length

    def count(self, service: str, operations: frozenset[str] | None = None) -> int:
        """Requests sent to ``service`` (only ``operations`` when given)."""
        with self._lock:
            return sum(
                n
                for key, n in self.requests.items()
                if key.split(":", 1)[0] == service
                and (operations is None or key.split(":", 1)[1] in operations)
            )


#: The meter of the run being executed in this context (set by the Runner around the task).
METER: ContextVar[RequestMeter | None] = ContextVar("locxia_request_meter", default=None)


@contextmanager
def metering(meter: RequestMeter) -> Iterator[RequestMeter]:
    """Make ``meter`` the one clients created in this context report to."""
    token = METER.set(meter)
    try:
        yield meter
    finally:
        METER.reset(token)


@dataclass(frozen=True)
class Compute:
    """Where a job runs and what it loads, and who said so."""

    host_type: str | None
    database_class: str | None
    database_engine: str = "postgres"
    declared_by: str = "settings"


@dataclass
class Cost:
    """A run's cost: the priced total and the basis (JSON for ``ops.runs.cost_basis``)."""

    api: dict[str, dict[str, Any]] = field(default_factory=dict)
    compute: dict[str, Any] = field(default_factory=dict)
    capacity: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)

    @property
    def api_usd(self) -> Decimal:
        """Sum of the priced API kinds."""
        return sum((Decimal(k["usd"]) for k in self.api.values()), Decimal(0))

    @property
    def compute_usd(self) -> Decimal:
        """The compute share (0 when nothing could be priced)."""
        return Decimal(self.compute.get("usd", "0"))

    @property
    def capacity_usd(self) -> Decimal:
        """The capacity window raised for the run (0 when none)."""
        return Decimal(self.capacity.get("usd", "0"))

    @property
    def usd(self) -> Decimal:
        """API spend + compute share + capacity window."""
        return self.api_usd + self.compute_usd + self.capacity_usd

    def basis(self) -> dict[str, Any]:
        """The JSON stored in ``cost_basis``: amounts as strings (exact decimals)."""
        return {
            "usd": str(self.usd),
            "api": {"usd": str(self.api_usd), "kinds": self.api},
            "compute": self.compute,
            **({"capacity": self.capacity} if self.capacity else {}),
            "requests": dict(sorted(self.requests.items())),
            "problems": self.problems,
        }


def _kind(count: int, unit: Decimal, source: str, **extra: Any) -> dict[str, Any]:
    return {
        "count": count,
        "unit_usd": str(unit),
        "usd": str(unit * count),
        "source": source,
        **extra,
    }


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def api_spend(details: Mapping[str, Any], meter: RequestMeter | None, cost: Cost) -> None:
    """Fill ``cost.api`` from the task's own counts and the meter's (pure, never raises)."""
    metrics = _int(details.get("metrics_requested"))
    if metrics:
        cost.api["getmetricdata_metrics"] = _kind(metrics, USD_PER_METRIC, CW_PRICING)
    ce = _int(details.get("ce_requests"))
    if ce is None and meter is not None:
        ce = meter.count("cost-explorer") or None  # botocore's event name for ``ce``
    if ce:
        cost.api["ce_requests"] = _kind(ce, USD_PER_CE_REQUEST, CE_PRICING)
    if meter is None:
        return
    cost.requests = dict(meter.requests)
    other_cw = meter.count("cloudwatch") - meter.count("cloudwatch", frozenset({"GetMetricData"}))
    if other_cw:
        cost.api["cloudwatch_requests"] = _kind(other_cw, USD_PER_CW_REQUEST, CW_PRICING)
    if meter.count("cloudwatch", frozenset({"GetMetricData"})) and not metrics:
        cost.problems.append(
            "GetMetricData was called but the task did not record metrics_requested: not priced"
        )
    pricing = meter.count("pricing")
    if pricing:
        cost.api["pricing_requests"] = _kind(pricing, USD_PER_PRICING_REQUEST, PRICE_LIST_PRICING)
    s3_all = meter.count("s3")
    if s3_all:
        tier1 = meter.count("s3", S3_TIER1)
        free = meter.count("s3", S3_FREE)
        tier2 = s3_all - tier1 - free
        usd = USD_PER_S3_TIER1 * tier1 + USD_PER_S3_TIER2 * tier2
        cost.api["s3_requests"] = {
            "count": s3_all,
            "put_copy_post_list": tier1,
            "get_and_other": tier2,
            "free_delete_cancel": free,
            "unit_usd": {
                "put_copy_post_list": str(USD_PER_S3_TIER1),
                "get_and_other": str(USD_PER_S3_TIER2),
            },
            "usd": str(usd),
            "source": S3_PRICING,
        }
    if meter.s3_bytes_up or meter.s3_bytes_down:
        cost.api["s3_bytes"] = {
            "count": meter.s3_bytes_up + meter.s3_bytes_down,
            "up": meter.s3_bytes_up,
            "down": meter.s3_bytes_down,
            "unit_usd": str(USD_PER_S3_BYTE_IN_REGION),
            "usd": "0",
            "source": f"{S3_PRICING} (in from the internet and within the Region: free)",
        }


def declared_compute(conn: psycopg.Connection[Any], job_id: str, settings: Any) -> Compute:
    """The host and database of ``job_id``: the longest matching ``params.job_compute`` row.

    A row's null column falls back to the setting (``run_host_type``, ``run_database_class``).
    """
    rows = conn.execute(
        "SELECT job, host_type, database_class, database_engine FROM params.job_compute"
    ).fetchall()

    def score(pattern: str) -> int:
        if pattern.endswith("*"):
            return len(pattern) if job_id.startswith(pattern[:-1]) else -1
        return 1_000 if job_id == pattern else -1

    ranked = sorted(((score(str(r[0])), r) for r in rows), key=lambda x: x[0], reverse=True)
    best = ranked[0][1] if ranked and ranked[0][0] >= 0 else None
    if best is None:
        return Compute(settings.run_host_type, settings.run_database_class)
    return Compute(
        best[1] or settings.run_host_type,
        best[2] or settings.run_database_class,
        best[3] or "postgres",
        f"params.job_compute[{best[0]}]",
    )


def compute_share(seconds: float, compute: Compute, catalog: PriceCatalog, cost: Cost) -> None:
    """Fill ``cost.compute``: ``seconds`` × (host + database hourly price); never raises."""
    own = round(max(seconds, 0.0), 3)  # the basis reproduces the amount exactly
    hours = Decimal(str(own)) / 3600
    out: dict[str, Any] = {
        "seconds": own,
        "host": compute.host_type,
        "database": compute.database_class,
        "declared_by": compute.declared_by,
        "region": catalog.region,
    }
    usd = Decimal(0)
    # EC2 Linux and RDS bill per second of a running instance (EC2 and RDS pricing pages):
    # the run's share is its time on them, not whole hours.
    for label, service, item, variant in (
        ("host", "ec2", compute.host_type, "linux"),
        ("database", "rds", compute.database_class, compute.database_engine),
    ):
        if not item:
            continue
        price = catalog.get(service, item, variant)  # type: ignore[arg-type]
        if price is None:
            cost.problems.append(f"{label}: {catalog.missing(service, item, variant)}")
            continue
        out[f"{label}_usd_per_hour"] = str(price.usd)
        out[f"{label}_price_source"] = price.source
        usd += price.usd * hours
    out["usd"] = str(usd)
    cost.compute = out


def run_cost(
    conn: psycopg.Connection[Any],
    run_id: int,
    details: Mapping[str, Any],
    meter: RequestMeter | None,
    settings: Any,
) -> Cost:
    """Price run ``run_id`` (already ended) and write ``cost_usd`` and ``cost_basis``.

    Its own time is its duration minus the duration of its child runs (a chain's steps). Any
    failure to price the compute part is a problem in the basis; the API part is always
    written. Uses ``conn`` in autocommit (the Runner's record connection).
    """
    cost = Cost()
    api_spend(details, meter, cost)
    try:
        row = conn.execute(
            "SELECT r.job_id, extract(epoch FROM r.ended_at - r.started_at)::float8,"
            " coalesce((SELECT sum(extract(epoch FROM c.ended_at - c.started_at))::float8"
            "   FROM ops.runs c WHERE c.parent_id = r.id AND c.ended_at IS NOT NULL), 0)"
            " FROM ops.runs r WHERE r.id = %s",
            (run_id,),
        ).fetchone()
        if row is None or row[1] is None:
            raise LookupError(f"run {run_id} has not ended")
        job_id, seconds, children = str(row[0]), float(row[1]), float(row[2])
        compute = declared_compute(conn, job_id, settings)
        catalog = PriceCatalog.load(conn, settings.aws_region)
        compute_share(seconds - children, compute, catalog, cost)
        if children:
            cost.compute["children_seconds"] = round(children, 3)
    except (psycopg.Error, LookupError, ValueError, ArithmeticError) as exc:
        line = " ".join(str(exc).split())[:300]
        cost.problems.append(f"compute not priced: {type(exc).__name__}: {line}")
    capacity_window(conn, run_id, cost)
    conn.execute(
        "UPDATE ops.runs SET cost_usd = %s, cost_basis = %s WHERE id = %s",
        (cost.usd, Jsonb(cost.basis()), run_id),
    )
    return cost


def capacity_window(conn: psycopg.Connection[Any], run_id: int, cost: Cost) -> None:
    """Fill ``cost.capacity`` from the run's capacity window (infra/capacity/), if any.

    The window is priced when it is restored (workers' seconds, database class uplift,
    :mod:`infra.capacity.cost`); one not restored yet is named in the problems (its cost is
    still running), never guessed.
    """
    try:
        row = conn.execute(
            "SELECT id, state, cost_usd, cost_basis FROM ops.capacity_windows WHERE run_id = %s",
            (run_id,),
        ).fetchone()
    except psycopg.Error as exc:
        cost.problems.append(f"capacity not priced: {' '.join(str(exc).split())[:300]}")
        return
    if row is None:
        return
    window, state, usd, basis = row
    if usd is None:
        cost.problems.append(f"capacity window {window} is {state}: not priced yet")
        return
    cost.capacity = {"window": int(window), "usd": str(usd), **(basis or {}), "state": state}
    cost.capacity["usd"] = str(usd)
    for problem in (basis or {}).get("problems", []):
        cost.problems.append(f"capacity: {problem}")


def month_api_spend(conn: psycopg.Connection[Any], month_start: datetime, end: datetime) -> Decimal:
    """The product's own AWS API spend of the runs started in ``[month_start, end)``."""
    row = conn.execute(
        "SELECT coalesce(sum((cost_basis #>> '{api,usd}')::numeric), 0) FROM ops.runs"
        " WHERE started_at >= %s AND started_at < %s",
        (month_start, end),
    ).fetchone()
    return Decimal(row[0]) if row else Decimal(0)
