"""Actual resource costs from AWS Data Exports: FOCUS 1.2 Parquet files read from S3.

Layout ("Understanding export delivery", AWS Data Exports User Guide,
https://docs.aws.amazon.com/cur/latest/userguide/dataexports-export-delivery.html): an export
delivers its data to ``s3://<bucket>/<prefix>/<export-name>/data/<partition>/`` (one or more
Parquet files) and a ``Manifest.json`` to
``s3://<bucket>/<prefix>/<export-name>/metadata/<partition>/<export-name>-Manifest.json``; the
partition is the billing period, ``BILLING_PERIOD=YYYY-MM``; the manifest "is updated each time
the export is refreshed". ``LOCXIA_FOCUS_EXPORT_URI`` names ``s3://<bucket>/<prefix>/<export-name>``.

One pass (:meth:`ExportReader.run`) lists ``metadata/`` and ``data/`` (``ListObjectsV2``), and
for every billing period that has a manifest (a period without one is still being delivered:
counted, left for the next pass) takes the **fingerprint** of the delivery — the manifest's and
every data file's key and ETag. The ledger ``costs.export_deliveries`` makes it idempotent:

* a fingerprint already ledgered is not read again (re-delivery of the same files: nothing
  changes, no GetObject);
* a new fingerprint (AWS refreshed or corrected the period, overwriting its files) is read
  whole, and the period's ``costs.actuals`` and ``costs.actual_coverage`` are **replaced in one
  transaction** with the ledger row, which is inserted first so a concurrent reader waits on it
  and then finds the fingerprint taken;
* a delivery that cannot be read (not Parquet, a FOCUS column missing or mistyped, a currency
  other than USD) is ledgered ``refused`` with the reason and not read again until its files
  change. An S3 error is a run error (nothing ledgered: read on the next pass).

Rows: only ``ChargeCategory = 'Usage'`` (FOCUS 1.2 chargecategory.md; purchases, tax, credits
and adjustments are not a resource-hour's cost) with a ``ResourceId`` naming a resource of
``metrics.resources`` (its ARN, or the id CloudWatch uses: instance id, volume id, DB
identifier, bucket name — AWS's FOCUS ResourceId is the line item's resource id). Other rows are
counted with their cost as unmatched. A row's cost is spread over the hours of its charge period
pro rata (an hourly export: its hour; a daily one: 24 hours). ``usd`` is ``BilledCost`` on the
``usage`` basis, ``EffectiveCost`` on ``net-amortized`` (the same choice as Cost Explorer's,
decision 73); both are kept with ``ListCost``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypedDict
from urllib.parse import urlsplit

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

from infra.aws import AwsClients, aws_errors
from infra.errors import AwsError
from pipelines.observe.costs import focus

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_PARTITION = re.compile(r"^BILLING_PERIOD=(\d{4})-(\d{2})/")
HOUR = timedelta(hours=1)
#: GetObject and ListObjectsV2 are priced per 1,000 requests (Standard, us-east-1 list price).
S3_GET_USD_PER_1000 = 0.0004
S3_LIST_USD_PER_1000 = 0.005


class ExportsResult(TypedDict):
    """What ``costs.exports`` records for one pass."""

    export_uri: str
    basis: str
    periods_seen: int
    periods_ingested: int
    periods_already: int
    periods_refused: int
    periods_incomplete: int
    files_read: int
    rows_read: int
    rows_matched: int
    matched_usd: float
    unmatched_usd: float
    s3_requests: int
    s3_bytes: int
    errors: list[str]


@dataclass
class Delivery:
    """The objects of one billing period as listed: manifest and Parquet files."""

    period: date
    manifest: tuple[str, str] | None = None
    files: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        """The manifest's and every data file's key and ETag, hashed."""
        parts = [f"{k}:{e}" for k, e, _ in sorted(self.files)]
        if self.manifest:
            parts.insert(0, f"{self.manifest[0]}:{self.manifest[1]}")
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class Refused(ValueError):
    """A delivery that cannot be read as FOCUS 1.2 (the reason is ledgered)."""


@dataclass
class _Totals:
    rows: int = 0
    matched: int = 0
    matched_usd: Decimal = Decimal(0)
    unmatched_usd: Decimal = Decimal(0)


def parse_uri(uri: str) -> tuple[str, str]:
    """``(bucket, base)`` of ``s3://bucket/prefix/export-name`` (base without a trailing /)."""
    parts = urlsplit(uri)
    return parts.netloc, parts.path.strip("/")


def period_of(rest: str) -> date | None:
    """The billing period of a key below ``data/`` or ``metadata/`` (None: not a partition)."""
    m = _PARTITION.match(rest)
    return date(int(m.group(1)), int(m.group(2)), 1) if m else None


def hours_of(start: datetime, end: datetime) -> Iterator[tuple[datetime, float]]:
    """Each clock hour ``[start, end)`` touches, with the fraction of the period in it."""
    total = (end - start).total_seconds()
    if total <= 0:
        return
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        overlap = (min(end, hour + HOUR) - max(start, hour)).total_seconds()
        if overlap > 0:
            yield hour, overlap / total
        hour += HOUR


def _utc(value: datetime) -> datetime:
    # DateTimeFormat: FOCUS date/times are UTC; a naive timestamp is read as UTC
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ExportReader:
    """Reads one Data Exports export of the FOCUS 1.2 table into ``costs.actuals``."""

    def __init__(
        self,
        clients: AwsClients,
        conn: psycopg.Connection[Any],
        uri: str,
        basis: Literal["usage", "net-amortized"],
        now: datetime,
    ) -> None:
        """Reader of the export at ``uri`` (``s3://bucket/prefix/export-name``) on ``basis``."""
        self.clients = clients
        self.conn = conn
        self.uri = uri.rstrip("/")
        self.bucket, self.base = parse_uri(self.uri)
        self.column = "BilledCost" if basis == "usage" else "EffectiveCost"
        self.now = now
        self.requests = {"list": 0, "get": 0}
        self.bytes = 0
        self.result = ExportsResult(
            export_uri=self.uri,
            basis=self.column,
            periods_seen=0,
            periods_ingested=0,
            periods_already=0,
            periods_refused=0,
            periods_incomplete=0,
            files_read=0,
            rows_read=0,
            rows_matched=0,
            matched_usd=0.0,
            unmatched_usd=0.0,
            s3_requests=0,
            s3_bytes=0,
            errors=[],
        )

    def run(self) -> ExportsResult:
        """Read every billing period delivered since it was last read.

        Raises:
            AwsError: listing the export failed (nothing was read).
        """
        s3 = self.clients.client("s3")
        deliveries = self._deliveries(s3)
        index = self._resource_index()
        for delivery in sorted(deliveries.values(), key=lambda d: d.period):
            self.result["periods_seen"] += 1
            if delivery.manifest is None or not delivery.files:
                self.result["periods_incomplete"] += 1
                continue
            if self._ledgered(delivery):
                self.result["periods_already"] += 1
                continue
            try:
                self._read(s3, delivery, index)
            except AwsError as exc:
                self.conn.rollback()
                self.result["errors"].append(f"{delivery.period:%Y-%m}: {exc}")
        self.result["s3_requests"] = self.requests["list"] + self.requests["get"]
        self.result["s3_bytes"] = self.bytes
        return self.result

    @property
    def s3_cost_usd(self) -> float:
        """The S3 request spend of the pass (list price, standard storage)."""
        return (
            self.requests["list"] * S3_LIST_USD_PER_1000
            + self.requests["get"] * S3_GET_USD_PER_1000
        ) / 1000

    # --- listing ----------------------------------------------------------------------------

    def _list(self, s3: S3Client, prefix: str) -> Iterator[tuple[str, str, int]]:
        paginator = s3.get_paginator("list_objects_v2")
        with aws_errors("s3", "ListObjectsV2"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                self.requests["list"] += 1
                for obj in page.get("Contents", []):
                    yield obj["Key"], str(obj.get("ETag", "")).strip('"'), int(obj["Size"])

    def _deliveries(self, s3: S3Client) -> dict[date, Delivery]:
        found: dict[date, Delivery] = {}
        meta = f"{self.base}/metadata/"
        for key, etag, _ in self._list(s3, meta):
            period = period_of(key.removeprefix(meta))
            if period and key.endswith("Manifest.json"):
                found.setdefault(period, Delivery(period)).manifest = (key, etag)
        data = f"{self.base}/data/"
        for key, etag, size in self._list(s3, data):
            period = period_of(key.removeprefix(data))
            if period and key.endswith(".parquet"):
                found.setdefault(period, Delivery(period)).files.append((key, etag, size))
        return found

    # --- ledger -----------------------------------------------------------------------------

    def _ledgered(self, delivery: Delivery) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM costs.export_deliveries"
            " WHERE export_uri = %s AND billing_period = %s AND fingerprint = %s",
            (self.uri, delivery.period, delivery.fingerprint),
        ).fetchone()
        self.conn.commit()
        return row is not None

    def _ledger(self, delivery: Delivery, status: str, error: str | None = None) -> int | None:
        """Insert the ledger row (inside the caller's transaction); None when already taken."""
        assert delivery.manifest is not None
        files = [{"key": k, "etag": e, "size": s} for k, e, s in sorted(delivery.files)]
        row = self.conn.execute(
            "INSERT INTO costs.export_deliveries (export_uri, billing_period, fingerprint,"
            " manifest_key, files, status, error, basis, read_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (export_uri, billing_period, fingerprint) DO NOTHING RETURNING id",
            (
                self.uri,
                delivery.period,
                delivery.fingerprint,
                delivery.manifest[0],
                json.dumps(files),
                status,
                error,
                self.column if status == "ingested" else None,
                self.now,
            ),
        ).fetchone()
        return int(row[0]) if row else None

    def _refuse(self, delivery: Delivery, reason: str) -> None:
        with self.conn.transaction():
            self._ledger(delivery, "refused", reason)
        self.result["periods_refused"] += 1
        self.result["errors"].append(f"{delivery.period:%Y-%m}: refused: {reason}")

    # --- reading ----------------------------------------------------------------------------

    def _resource_index(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT arn, resource_id, id FROM metrics.resources").fetchall()
        self.conn.commit()
        index: dict[str, int] = {}
        for arn, rid, db_id in rows:
            index[str(arn)] = int(db_id)
            index.setdefault(str(rid), int(db_id))
        return index

    def _table(self, s3: S3Client, key: str) -> pa.Table:
        with aws_errors("s3", "GetObject"):
            body = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        self.requests["get"] += 1
        self.bytes += len(body)
        self.result["files_read"] += 1
        try:
            schema = pq.read_schema(io.BytesIO(body))
        except (pa.ArrowInvalid, OSError) as exc:
            raise Refused(f"{key}: not a Parquet file ({exc})") from exc
        wrong = focus.missing_for_reading(schema)
        if wrong:
            raise Refused(f"{key}: not FOCUS 1.2: {'; '.join(wrong)}")
        return pq.read_table(io.BytesIO(body), columns=list(focus.READ))

    def _read(self, s3: S3Client, delivery: Delivery, index: dict[str, int]) -> None:
        cells: dict[tuple[int, datetime, str], list[Decimal]] = defaultdict(
            lambda: [Decimal(0)] * 4
        )
        ends: dict[int, datetime] = {}
        totals = _Totals()
        try:
            for key, _, _ in sorted(delivery.files):
                table = self._table(s3, key)
                for row in table.to_pylist():
                    self._take(row, index, cells, ends, totals, delivery.period)
        except Refused as exc:
            self._refuse(delivery, str(exc))
            return
        self._replace(delivery, cells, ends, totals)

    def _take(
        self,
        row: dict[str, Any],
        index: dict[str, int],
        cells: dict[tuple[int, datetime, str], list[Decimal]],
        ends: dict[int, datetime],
        totals: _Totals,
        period: date,
    ) -> None:
        totals.rows += 1
        if row["BillingCurrency"] != "USD":
            raise Refused(f"BillingCurrency {row['BillingCurrency']!r}: Locxia counts USD only")
        usd = Decimal(str(row[self.column] or 0))
        db_id = index.get(row["ResourceId"] or "")
        if row["ChargeCategory"] != "Usage" or db_id is None:
            totals.unmatched_usd += usd
            return
        totals.matched += 1
        totals.matched_usd += usd
        start, end = _utc(row["ChargePeriodStart"]), _utc(row["ChargePeriodEnd"])
        figures = (usd, row["BilledCost"], row["EffectiveCost"], row["ListCost"])
        for hour, share in hours_of(start, end):
            cell = cells[(db_id, hour, str(row["ServiceName"]))]
            for i, value in enumerate(figures):
                cell[i] += Decimal(str(value or 0)) * Decimal(share)
        if row["ChargeClass"] != "Correction" and start.date() >= period:
            ends[db_id] = max(ends.get(db_id, end), end)

    def _replace(
        self,
        delivery: Delivery,
        cells: dict[tuple[int, datetime, str], list[Decimal]],
        ends: dict[int, datetime],
        totals: _Totals,
    ) -> None:
        """The period's actuals and coverage replaced, with the ledger row, in one transaction."""
        start = datetime(delivery.period.year, delivery.period.month, 1, tzinfo=UTC)
        with self.conn.transaction():
            delivery_id = self._ledger(delivery, "ingested")
            if delivery_id is None:  # a concurrent reader took this delivery
                self.result["periods_already"] += 1
                return
            keys = (self.uri, delivery.period)
            where = "WHERE export_uri = %s AND billing_period = %s"
            self.conn.execute(f"DELETE FROM costs.actuals {where}", keys)
            self.conn.execute(f"DELETE FROM costs.actual_coverage {where}", keys)
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO costs.actuals (export_uri, billing_period, resource_id, hour,"
                    " service, usd, billed_usd, effective_usd, list_usd, delivery_id)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (*keys, rid, hour, service, *(round(v, 6) for v in figures), delivery_id)
                        for (rid, hour, service), figures in cells.items()
                    ],
                )
                cur.executemany(
                    "INSERT INTO costs.actual_coverage (export_uri, billing_period, resource_id,"
                    " covered_from, covered_until) VALUES (%s, %s, %s, %s, %s)",
                    [(*keys, rid, start, max(end, start)) for rid, end in ends.items()],
                )
            self.conn.execute(
                "UPDATE costs.export_deliveries SET rows_read = %s, rows_matched = %s,"
                " matched_usd = %s, unmatched_usd = %s WHERE id = %s",
                (
                    totals.rows,
                    totals.matched,
                    totals.matched_usd,
                    totals.unmatched_usd,
                    delivery_id,
                ),
            )
        self.result["periods_ingested"] += 1
        self.result["rows_read"] += totals.rows
        self.result["rows_matched"] += totals.matched
        self.result["matched_usd"] += float(totals.matched_usd)
        self.result["unmatched_usd"] += float(totals.unmatched_usd)
