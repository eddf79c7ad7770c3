"""AWS Data Exports FOCUS 1.2 deliveries in the moto S3 replace estimates; the export validates.

The delivered files are Parquet written with pyarrow in the FOCUS 1.2 columns and types of
``pipelines.observe.costs.focus`` to the layout AWS documents ("Understanding export delivery",
AWS Data Exports User Guide): ``<prefix>/<export>/data/BILLING_PERIOD=YYYY-MM/*.parquet`` and
``<prefix>/<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json``.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infra.aws import AwsClients
from infra.db import connect
from infra.settings import Settings
from pipelines.observe.costs import focus
from pipelines.observe.costs.dataexports import ExportReader, ExportsResult
from pipelines.observe.costs.focus_export import export_focus
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


def _seed_resources(url: str) -> dict[str, int]:
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


def _focus_row(resource: str | None, service: str, hour: int, usd: float, **kw: Any) -> dict:
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


def _parquet(rows: list[dict], drop: str | None = None) -> bytes:
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


def _deliver(endpoint: str, rows: list[dict], execution: str, drop: str | None = None) -> None:
    """Overwrite the period's file and manifest, as an export with overwrite delivery does."""
    s3 = client(endpoint, "s3")
    s3.put_object(
        Bucket=BUCKET,
        Key=f"{BASE}/data/BILLING_PERIOD=2026-11/locxia-focus-00001.snappy.parquet",
        Body=_parquet(rows, drop),
    )
    s3.put_object(
        Bucket=BUCKET,
        Key=f"{BASE}/metadata/BILLING_PERIOD=2026-11/locxia-focus-Manifest.json",
        Body=json.dumps({"executionId": execution, "billingPeriod": "2026-11"}).encode(),
    )


def _rows(db_usd: float) -> list[dict]:
    """24 hours of actuals: the VM 0.12 an hour but stopped (no row) at 05:00, the DB
    ``db_usd``; plus someone else's instance and a tax line (both unmatched)."""
    rows = [_focus_row("i-0aaa", EC2, h, 0.12) for h in range(24) if h != 5]
    rows += [_focus_row(DB_ARN, RDS, h, db_usd) for h in range(24)]
    rows.append(_focus_row("i-0other", EC2, 3, 0.5))
    rows.append(_focus_row(None, "Tax", 0, 1.0, category="Tax"))
    return rows


def _read(settings: Settings) -> ExportsResult:
    with connect(settings.require_database_url()) as conn:
        return ExportReader(AwsClients(settings), conn, URI, "usage", NOW).run()


def _view(url: str) -> list[tuple[Any, ...]]:
    with connect(url) as conn:
        return conn.execute(
            "SELECT resource_id, hour, usd, source FROM costs.hourly ORDER BY 1, 2"
        ).fetchall()


def _totals(url: str) -> dict[str, Decimal]:
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT source, sum(usd) FROM reporting.resource_costs GROUP BY source"
        ).fetchall()
    return {str(s): Decimal(v) for s, v in rows}


@pytest.fixture
def delivered(aws_settings: Settings, moto_endpoint: str, db_url: str) -> dict[str, int]:
    client(moto_endpoint, "s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    return _seed_resources(db_url)


def test_a_delivered_period_replaces_estimates_for_the_hours_it_covers(
    aws_settings: Settings, moto_endpoint: str, db_url: str, delivered: dict[str, int]
) -> None:
    before = _totals(db_url)
    assert before == {"estimate": Decimal("14.4")}
    _deliver(moto_endpoint, _rows(0.25), "exec-1")
    first = _read(aws_settings)
    after = _totals(db_url)
    print(f"\nbefore {before}\nafter {after}\nread {first}")
    assert first["periods_ingested"] == 1 and first["rows_matched"] == 47
    assert first["unmatched_usd"] == pytest.approx(1.5)
    # hours 0-23 actual (the VM's 05:00 billed nothing), 24-47 still estimated
    assert after == {
        "actual": Decimal("0.12") * 23 + Decimal("0.25") * 24,
        "estimate": Decimal("0.30") * 24,
    }
    view = {(r[0], r[1]): (r[2], r[3]) for r in _view(db_url)}
    assert view[(delivered["vm"], PERIOD + timedelta(hours=5))] == (0, "actual")
    assert view[(delivered["vm"], PERIOD + timedelta(hours=24))] == (Decimal("0.10"), "estimate")

    # the same delivery again: nothing read, nothing changes
    snapshot = _view(db_url)
    again = _read(aws_settings)
    assert again["periods_already"] == 1 and again["files_read"] == 0
    assert _view(db_url) == snapshot

    # a corrected re-delivery replaces the period whole, in one transaction
    _deliver(moto_endpoint, _rows(0.30), "exec-2")
    corrected = _read(aws_settings)
    replaced = _totals(db_url)
    print(f"corrected {replaced}")
    assert corrected["periods_ingested"] == 1
    assert replaced["actual"] == Decimal("0.12") * 23 + Decimal("0.30") * 24
    with connect(db_url) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM costs.actuals),"
            " (SELECT count(*) FROM costs.export_deliveries WHERE status = 'ingested')"
        ).fetchone()
    assert counts == (47, 2)


def test_a_delivery_that_is_not_focus_is_refused_once(
    aws_settings: Settings, moto_endpoint: str, db_url: str, delivered: dict[str, int]
) -> None:
    _deliver(moto_endpoint, _rows(0.25), "exec-1", drop="BilledCost")
    first = _read(aws_settings)
    assert first["periods_refused"] == 1
    assert "BilledCost: missing" in first["errors"][0]
    assert _read(aws_settings)["periods_already"] == 1
    assert _totals(db_url) == {"estimate": Decimal("14.4")}


def test_the_exported_file_validates_against_focus_1_2(
    aws_settings: Settings,
    moto_endpoint: str,
    db_url: str,
    delivered: dict[str, int],
    tmp_path: Path,
) -> None:
    _deliver(moto_endpoint, _rows(0.25), "exec-1")
    _read(aws_settings)
    path = tmp_path / "locxia-focus.parquet"
    with connect(db_url) as conn:
        result = export_focus(conn, path, PERIOD, PERIOD + timedelta(hours=48))
    table = pq.read_table(path)
    print(f"\nexport {result}")
    assert focus.problems(table) == []
    assert [f.name for f in table.schema][: len(focus.COLUMNS)] == [c.name for c in focus.COLUMNS]
    for column in focus.COLUMNS:
        assert table.schema.field(column.name).type == focus.arrow_type(column.type)
    assert all(n.startswith("x_") for n in table.schema.names[len(focus.COLUMNS) :])
    assert (result["rows"], result["actual_rows"]) == (96, 48)
    assert result["usd"] == pytest.approx(0.12 * 23 + 0.25 * 24 + 0.30 * 24)
    rows = table.to_pylist()
    db = [r for r in rows if r["ResourceId"] == "locxia-db"]
    assert {r["x_Dataset"] for r in db} == {"roads"}
    assert json.loads(db[0]["Tags"]) == {"dataset": "roads", "project": "locxia"}
    assert {r["ServiceCategory"] for r in rows} <= focus.SERVICE_CATEGORIES
