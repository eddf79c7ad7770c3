"""A seeded AWS Data Exports FOCUS 1.2 export in the moto S3, and the resources it names.

Parquet written with pyarrow in the FOCUS 1.2 columns and types of
``pipelines.observe.costs.focus``, to the layout AWS documents ("Understanding export
delivery", AWS Data Exports User Guide, https://docs.aws.amazon.com/cur/latest/userguide/
dataexports-export-delivery.html): ``<prefix>/<export>/data/BILLING_PERIOD=YYYY-MM/*.parquet``
and ``<prefix>/<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json``. The manifest's
fields are made up: the reader uses only its key and ETag.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from infra.db import connect
from pipelines.observe.costs import focus
from tests.integration.observe.fleet import client

BUCKET = "acme-billing-exports"
BASE = "cur/locxia-focus"
URI = f"s3://{BUCKET}/{BASE}"
PERIOD = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 3, 6, tzinfo=UTC)
ACCOUNT = "123456789012"
VM_ARN = f"arn:aws:ec2:eu-west-3:{ACCOUNT}:instance/i-0aaa"
DB_ARN = f"arn:aws:rds:eu-west-3:{ACCOUNT}:db:locxia-db"
EC2 = "Amazon Elastic Compute Cloud - Compute"
RDS = "Amazon Relational Database Service"
#: estimates per hour for 48 hours from PERIOD: the VM 0.10, the DB 0.20
ESTIMATES = {"vm": Decimal("0.10"), "db": Decimal("0.20")}


def seed_resources(url: str) -> dict[str, int]:
    ids = {}
    with connect(url) as conn:
        for key, arn, rtype, rid, service in (
            ("vm", VM_ARN, "ec2:instance", "i-0aaa", EC2),
            ("db", DB_ARN, "rds:db", "locxia-db", RDS),
        ):
            row = conn.execute(
                "INSERT INTO metrics.resources (arn, type, resource_id, name, region, tags,"
                " tagged, state, first_seen, last_seen) VALUES (%s, %s, %s, %s, 'eu-west-3',"
                " %s, true, 'running', %s, %s) RETURNING id",
                (
                    arn,
                    rtype,
                    rid,
                    f"locxia-{key}",
                    json.dumps(
                        {"project": "locxia", "dataset": "roads"}
                        if key == "db"
                        else {"project": "locxia"}
                    ),
                    PERIOD,
                    NOW,
                ),
            ).fetchone()
            assert row is not None
            ids[key] = int(row[0])
            for h in range(48):
                conn.execute(
                    "INSERT INTO costs.estimates (resource_id, hour, service, usd, basis, final)"
                    " VALUES (%s, %s, %s, %s, 'test price', true)",
                    (row[0], PERIOD + timedelta(hours=h), service, ESTIMATES[key]),
                )
        conn.commit()
    return ids


def focus_row(
    resource: str | None, service: str, hour: int, usd: float, **kw: Any
) -> dict[str, Any]:
    start = PERIOD + timedelta(hours=hour)
    return {
        "BilledCost": usd,
        "EffectiveCost": usd,
        "ListCost": usd * 1.1,
        "ContractedCost": usd,
        "BillingAccountId": ACCOUNT,
        "BillingAccountType": "Account",
        "BillingCurrency": "USD",
        "BillingPeriodStart": PERIOD,
        "BillingPeriodEnd": datetime(2026, 12, 1, tzinfo=UTC),
        "ChargeCategory": kw.get("category", "Usage"),
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodStart": start,
        "ChargePeriodEnd": start + timedelta(hours=1),
        "InvoiceIssuerName": "Amazon Web Services, Inc.",
        "ProviderName": "AWS",
        "PublisherName": "Amazon Web Services, Inc.",
        "ResourceId": resource,
        "ServiceCategory": "Compute",
        "ServiceName": service,
        "ServiceSubcategory": "Virtual Machines",
        "Tags": json.dumps({"project": "locxia"}),
    }


def parquet(rows: list[dict[str, Any]], drop: str | None = None) -> bytes:
    schema = focus.arrow_schema()
    table = pa.table(
        {f.name: pa.array([r.get(f.name) for r in rows], type=f.type) for f in schema},
        schema=schema,
    )
    if drop:
        table = table.drop_columns([drop])
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="snappy")
    return buf.getvalue()


def deliver(
    endpoint: str, rows: list[dict[str, Any]], execution: str, drop: str | None = None
) -> None:
    """Overwrite the period's file and manifest, as an export with overwrite delivery does."""
    s3 = client(endpoint, "s3")
    s3.put_object(
        Bucket=BUCKET,
        Key=f"{BASE}/data/BILLING_PERIOD=2026-11/locxia-focus-00001.snappy.parquet",
        Body=parquet(rows, drop),
    )
    s3.put_object(
        Bucket=BUCKET,
        Key=f"{BASE}/metadata/BILLING_PERIOD=2026-11/locxia-focus-Manifest.json",
        Body=json.dumps({"executionId": execution, "billingPeriod": "2026-11"}).encode(),
    )


def usage_rows(db_usd: float) -> list[dict[str, Any]]:
    """24 hours of actuals: the VM 0.12 an hour but stopped (no row) at 05:00, the DB
    ``db_usd``; plus someone else's instance and a tax line (both unmatched)."""
    rows = [focus_row("i-0aaa", EC2, h, 0.12) for h in range(24) if h != 5]
    rows += [focus_row(DB_ARN, RDS, h, db_usd) for h in range(24)]
    rows.append(focus_row("i-0other", EC2, 3, 0.5))
    rows.append(focus_row(None, "Tax", 0, 1.0, category="Tax"))
    return rows
