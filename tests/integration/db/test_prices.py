from __future__ import annotations

from decimal import Decimal

import pytest

from infra.db import connect
from infra.db.setup import upgrade_database
from infra.errors import InputError
from infra.prices import Price, PriceCatalog, shipped_prices, upsert


def test_shipped_catalog_is_loaded_and_says_where_it_came_from(db_url: str) -> None:
    with connect(db_url) as conn:
        catalog = PriceCatalog.load(conn, "eu-west-3")
        sources = conn.execute("SELECT DISTINCT source FROM costs.prices").fetchall()
    assert len(catalog.items("rds")) >= 10
    assert {"gp3"} <= catalog.items("rds-storage")
    assert sources == [("shipped:approximate public price list",)]


def test_upgrade_never_overwrites_a_refreshed_price(db_url: str) -> None:
    base = shipped_prices("eu-west-3")[0]
    refreshed = Price(
        base.region,
        base.service,
        base.item,
        base.variant,
        base.unit,
        Decimal("9.99"),
        "pricing-api",
        base.effective_date,
    )
    with connect(db_url) as conn:
        upsert(conn, [refreshed], overwrite=True)
        conn.commit()
        report = upgrade_database(conn)
        catalog = PriceCatalog.load(conn, "eu-west-3")
    assert report.reference_rows == 0
    got = catalog.get(base.service, base.item, base.variant)  # type: ignore[arg-type]
    assert got is not None and got.usd == Decimal("9.99") and got.source == "pricing-api"


def test_monthly_costs_and_unknown_classes(db_url: str) -> None:
    with connect(db_url) as conn:
        catalog = PriceCatalog.load(conn, "eu-west-3")
    assert catalog.monthly("rds", "db.r6g.xlarge", "postgres") == Decimal("383.98")
    assert catalog.monthly("rds-storage", "gp3", "postgres", 500) == Decimal("66.50")
    with pytest.raises(InputError, match="'db.z9.huge' is not in the rds price catalog"):
        catalog.monthly("rds", "db.z9.huge", "postgres")
