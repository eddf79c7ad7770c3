"""A region other than eu-west-3 plans and estimates once its catalog is refreshed (issue 14).

The Price List stand-in (infra/demo/gaps/pricing.py) serves real-shaped products for
eu-central-1: for every shipped item the right SKU and cheaper decoys (Local Zone / Outposts
location, Multi-AZ, BYOL, Windows/RHEL, dedicated tenancy, reserved-only, …); one item gets
two SKUs that both match every exact filter. The expected figures are computed here from the
right SKUs the fixture generated, never from the catalog under test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from infra.aws import AwsClients
from infra.db import connect
from infra.demo.gaps.pricing import fixture_products, seed
from infra.errors import AwsError, InputError
from infra.prices import PriceCatalog, shipped_prices
from infra.settings import Settings
from pipelines.observe.costs.estimates import estimate
from pipelines.observe.costs.pricing import PriceRefresher
from pipelines.shape import store
from pipelines.shape.jobs import after_apply
from pipelines.shape.reconcile import Reconciler
from tests.integration.shape.conftest import NOON, WORK_DB

pytestmark = pytest.mark.slow

REGION = "eu-central-1"
AMBIGUOUS = ("ec2", "t3.micro", "linux")
#: The region's prices: the shipped eu-west-3 ones +7 %, so a shipped price is never mistaken.
PRICES = {
    (p.service, p.item, p.variant): (p.unit, (p.usd * Decimal("1.07")).quantize(Decimal("0.0001")))
    for p in shipped_prices("eu-west-3")
}


def _resource(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "INSERT INTO metrics.resources (arn, type, resource_id, name, region, tags, tagged,"
        " state, attributes, first_seen, last_seen) VALUES (%s, 'rds:db', 'work-db', 'work-db',"
        " %s, '{\"project\": \"locxia\"}', true, 'available', %s, %s, %s) RETURNING id",
        (
            f"arn:aws:rds:{REGION}:123456789012:db:work-db",
            REGION,
            '{"instance_class": "db.t4g.large", "engine": "postgres", "storage_gb": 100,'
            ' "storage_type": "gp3"}',
            NOON - timedelta(hours=5),
            NOON,
        ),
    ).fetchone()
    assert row is not None
    conn.commit()
    return int(row[0])


def _set(settings: Settings, name: str, **row: Any) -> store.Change:
    with connect(settings.require_database_url()) as conn:
        catalog = PriceCatalog.load(conn, REGION)
        conn.rollback()
        return store.set_instance(conn, name, row, actor="tester", catalog=catalog, now=NOON)


def test_a_second_region_plans_and_estimates_after_a_refresh(
    shape_settings: Settings, moto_endpoint: str
) -> None:
    settings = shape_settings.model_copy(update={"aws_region": REGION})
    url = settings.require_database_url()
    products, right = fixture_products(REGION, PRICES, frozenset({AMBIGUOUS}))
    seed(moto_endpoint, products)
    with connect(url) as conn:
        rid = _resource(conn)

    # Before: the row is refused and the estimate is unpriced, each in one line with the remedy.
    with pytest.raises(InputError) as refused:
        _set(settings, "work-db", **WORK_DB)
    message = str(refused.value)
    assert "rds db.t4g.large (postgres) has no price in eu-central-1" in message
    assert "run `locxia observe prices --refresh`" in message and "\n" not in message
    with connect(url) as conn:
        catalog = PriceCatalog.load(conn, REGION)
        before = estimate(conn, catalog, NOON)
        line = catalog.missing_line()
    assert before["unpriced_resources"] == 1
    assert line is not None and "\n" not in line
    assert line.startswith("no price in eu-central-1 for rds db.t4g.large (postgres)")
    assert line.endswith("not priced yet in this region; run `locxia observe prices --refresh`")

    # The refresh against the stand-in: exactly the right SKU of each item, never a decoy.
    with connect(url) as conn:
        result = PriceRefresher(AwsClients(settings), conn, REGION).run(NOON.date())
        catalog = PriceCatalog.load(conn, REGION)
    assert result["regions"] == [REGION]
    priced = {(p.service, p.item, p.variant): p for p in catalog.all()}
    for key, sku in right.items():
        if key in priced:
            assert priced[key].usd == sku.usd and priced[key].source == "pricing-api", key
    # left unpriced: the ambiguous t3.micro, and what has no exact query (gp3 throughput, io2
    # IOPS, CloudWatch Logs, RDS Extended Support)
    assert set(PRICES) - set(priced) == {
        ("ec2", "t3.micro", "linux"),
        ("rds-throughput", "gp3", "postgres"),
        ("rds-iops", "io2", "postgres"),
        ("cloudwatch-logs", "ingestion", ""),
        ("cloudwatch-logs", "storage", ""),
        ("rds-extended-support", "yr1-yr2", "postgres"),
        ("rds-extended-support", "yr3", "postgres"),
    }
    assert result["refreshed"] == len(priced)
    assert catalog.get("ec2", "t3.micro", "linux") is None
    why = catalog.reason("ec2", "t3.micro", "linux")
    assert why.startswith("2 on-demand SKUs match the filters")

    # After: the same row plans, its cost preview priced with the right SKUs.
    _set(settings, "work-db", **WORK_DB)
    rds, storage = right["rds", "db.t4g.large", "postgres"], right["rds-storage", "gp3", "postgres"]
    assert rds.usd is not None and storage.usd is not None
    expected = (rds.usd * 730 + storage.usd * 100).quantize(Decimal("0.01"))  # 730-h month
    rec = Reconciler(settings, now=lambda: NOON, after_apply=after_apply)
    try:
        planned = rec.run(mode="plan", requested_by="alice")
    finally:
        rec.close()
    assert planned.status == "planned", planned
    assert Decimal(planned.monthly_after or "0") == expected

    # …and the estimate of the resource is priced with them too.
    with connect(url) as conn:
        after = estimate(conn, PriceCatalog.load(conn, REGION), NOON)
        hourly = conn.execute(
            "SELECT DISTINCT usd FROM costs.estimates WHERE resource_id = %s", (rid,)
        ).fetchall()
    assert after["unpriced_resources"] == 0
    # a past hour of a GB-month price: the hours of its own month (NOON is in November: 720)
    per_hour = rds.usd + storage.usd * 100 / 720
    assert hourly == [(per_hour.quantize(Decimal("0.000001")),)]

    # An EC2 row on the ambiguous type stays refused, naming why.
    with pytest.raises(InputError, match="2 on-demand SKUs match the filters"):
        _set(settings, "worker", kind="ec2", instance_class="t3.micro", storage_gb=20)


def test_an_unreachable_price_list_changes_nothing(settings: Settings, db_url: str) -> None:
    dead = settings.model_copy(update={"aws_endpoint_url": "http://127.0.0.1:9"})
    with connect(db_url) as conn:
        before = PriceCatalog.load(conn, "eu-west-3").all()
        start = datetime(2026, 11, 25, tzinfo=UTC).date()
        with pytest.raises(AwsError, match="the AWS Price List API is not reachable"):
            PriceRefresher(AwsClients(dead), conn, REGION).run(start)
        assert PriceCatalog.load(conn, "eu-west-3").all() == before
        assert PriceCatalog.load(conn, REGION).all() == []
