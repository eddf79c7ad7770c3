"""``locxia observe export --focus PATH``: Locxia's own costs as one FOCUS 1.2 Parquet file.

One row per resource and hour of ``costs.hourly`` in the period asked: the actual cost (AWS
Data Exports) where a delivery covers the hour, else the estimate. Every FOCUS 1.2 column is
written with the type of :func:`pipelines.observe.costs.focus.arrow_schema` (nulls where
Locxia knows nothing, which only nullable columns receive), plus custom columns prefixed
``x_`` as the specification's custom-columns rule asks (supported_features/custom_columns.md):
``x_CostSource`` (``actual``/``estimate``), ``x_EstimateBasis``, ``x_Dataset`` and ``x_Job``
(from the resource's ``dataset`` / ``job`` tags when it carries them: the allocation Locxia
knows per resource).

Figures: an actual hour carries the delivery's BilledCost, EffectiveCost and ListCost; an
estimated hour is priced on demand from the catalog, so its BilledCost = EffectiveCost =
ListCost = ContractedCost = the estimate.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.observe.costs import focus

PROVIDER = "Amazon Web Services"
#: ServiceCategory / ServiceSubcategory (FOCUS 1.2 allowed values) and ResourceType per type.
CATEGORIES = {
    "ec2:instance": ("Compute", "Virtual Machines", "Instance"),
    "ec2:volume": ("Storage", "Block Storage", "Volume"),
    "rds:db": ("Databases", "Relational Databases", "DB Instance"),
    "s3:bucket": ("Storage", "Object Storage", "Bucket"),
}
CUSTOM = (
    pa.field("x_CostSource", pa.string(), nullable=False),
    pa.field("x_EstimateBasis", pa.string()),
    pa.field("x_Dataset", pa.string()),
    pa.field("x_Job", pa.string()),
)
_ACCOUNT = re.compile(r"^arn:[^:]+:[^:]+:[^:]*:(\d{12}):")

_QUERY = """
SELECT h.hour, h.service, h.usd, h.source, h.estimate_basis,
       a.billed, a.effective, a.list,
       r.arn, r.resource_id, r.name, r.type, r.region, r.tags
  FROM costs.hourly h
  JOIN metrics.resources r ON r.id = h.resource_id
  LEFT JOIN (SELECT resource_id, hour, sum(billed_usd) AS billed,
                    sum(effective_usd) AS effective, sum(list_usd) AS list
               FROM costs.actuals GROUP BY resource_id, hour) a
         ON a.resource_id = h.resource_id AND a.hour = h.hour
 WHERE h.hour >= %s AND h.hour < %s
 ORDER BY h.hour, r.id, h.service
"""


class FocusExportResult(TypedDict):
    """What the export wrote."""

    path: str
    rows: int
    actual_rows: int
    estimate_rows: int
    usd: float
    start: str
    end: str


def schema() -> pa.Schema:
    """FOCUS 1.2 (every column) followed by Locxia's ``x_`` columns."""
    base = focus.arrow_schema()
    return pa.schema([*base, *CUSTOM], metadata=base.metadata)


def _month(at: datetime) -> datetime:
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(at: datetime) -> datetime:
    return _month(_month(at) + timedelta(days=32))


def _row(r: tuple[Any, ...], account: str) -> dict[str, Any]:
    hour, service, usd, source, basis, billed, effective, listed = r[:8]
    arn, rid, name, rtype, region, tags = r[8:]
    actual = source == "actual"
    value = float(usd or 0)
    category, subcategory, resource_type = CATEGORIES.get(rtype, ("Other", "Other (Other)", rtype))
    m = _ACCOUNT.match(arn)
    return {
        "BilledCost": float(billed) if actual and billed is not None else value,
        "EffectiveCost": float(effective) if actual and effective is not None else value,
        "ListCost": float(listed) if actual and listed is not None else value,
        "ContractedCost": float(billed) if actual and billed is not None else value,
        "BillingAccountId": m.group(1) if m else account,
        "BillingAccountType": "AWS Account",
        "BillingCurrency": "USD",
        "BillingPeriodStart": _month(hour),
        "BillingPeriodEnd": _next_month(hour),
        "ChargePeriodStart": hour,
        "ChargePeriodEnd": hour + timedelta(hours=1),
        "ChargeCategory": "Usage",
        "ChargeDescription": f"{'actual' if actual else 'estimated'} hourly cost of {name}",
        "ChargeFrequency": "Usage-Based",
        "InvoiceIssuerName": PROVIDER,
        "ProviderName": PROVIDER,
        "PublisherName": PROVIDER,
        "RegionId": region,
        "ResourceId": rid,
        "ResourceName": name,
        "ResourceType": resource_type,
        "ServiceCategory": category,
        "ServiceSubcategory": subcategory,
        "ServiceName": service,
        "SubAccountId": m.group(1) if m else None,
        "Tags": json.dumps(tags, sort_keys=True),
        "x_CostSource": source,
        "x_EstimateBasis": None if actual else basis,
        "x_Dataset": tags.get("dataset"),
        "x_Job": tags.get("job"),
    }


def _account(conn: psycopg.Connection[Any]) -> str:
    """The account of the first ARN that names one (S3 bucket ARNs do not)."""
    for (arn,) in conn.execute("SELECT arn FROM metrics.resources ORDER BY id").fetchall():
        m = _ACCOUNT.match(str(arn))
        if m:
            return m.group(1)
    return "unknown"


def export_focus(
    conn: psycopg.Connection[Any], path: Path, start: datetime, end: datetime
) -> FocusExportResult:
    """Write ``[start, end)`` of ``costs.hourly`` to ``path`` as FOCUS 1.2 Parquet.

    Written to a temporary file beside ``path`` and renamed: nothing half-written is left.

    Raises:
        OSError: the file cannot be written.
    """
    account = _account(conn)
    rows = [_row(r, account) for r in conn.execute(_QUERY, (start, end)).fetchall()]
    conn.commit()
    target = schema()
    columns = {f.name: [row.get(f.name) for row in rows] for f in target}
    table = pa.table(
        {f.name: pa.array(columns[f.name], type=f.type) for f in target}, schema=target
    )
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        pq.write_table(table, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    actual = sum(1 for row in rows if row["x_CostSource"] == "actual")
    return FocusExportResult(
        path=str(path),
        rows=len(rows),
        actual_rows=actual,
        estimate_rows=len(rows) - actual,
        usd=round(sum(float(row["EffectiveCost"]) for row in rows), 6),
        start=start.astimezone(UTC).isoformat(),
        end=end.astimezone(UTC).isoformat(),
    )
