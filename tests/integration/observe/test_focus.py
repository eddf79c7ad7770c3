"""AWS Data Exports FOCUS 1.2 deliveries in the moto S3 replace estimates; the export validates.

The delivered files are Parquet written with pyarrow in the FOCUS 1.2 columns and types of
``pipelines.observe.costs.focus`` to the layout AWS documents ("Understanding export delivery",
AWS Data Exports User Guide): ``<prefix>/<export>/data/BILLING_PERIOD=YYYY-MM/*.parquet`` and
``<prefix>/<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from infra.aws import AwsClients
from infra.db import connect
from infra.settings import Settings
from pipelines.observe.costs import focus
from pipelines.observe.costs.dataexports import ExportReader, ExportsResult
from pipelines.observe.costs.focus_export import export_focus
from tests.integration.observe.fleet import client
from tests.support.dataexports import (
    BUCKET,
    NOW,
    PERIOD,
    URI,
    deliver,
    seed_resources,
    usage_rows,
)


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
    return seed_resources(db_url)


def test_a_delivered_period_replaces_estimates_for_the_hours_it_covers(
    aws_settings: Settings, moto_endpoint: str, db_url: str, delivered: dict[str, int]
) -> None:
    before = _totals(db_url)
    assert before == {"estimate": Decimal("14.4")}
    deliver(moto_endpoint, usage_rows(0.25), "exec-1")
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
    deliver(moto_endpoint, usage_rows(0.30), "exec-2")
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
    deliver(moto_endpoint, usage_rows(0.25), "exec-1", drop="BilledCost")
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
    deliver(moto_endpoint, usage_rows(0.25), "exec-1")
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
