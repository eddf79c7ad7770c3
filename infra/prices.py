"""The price catalog (``costs.prices``): what an instance class or a GB of storage costs.

Both sides of the product read it: *observe* estimates the cost of hours Cost Explorer has not
covered yet, *shape* previews the monthly cost delta of a plan and refuses classes it does not
know. It lives in ``infra`` so neither has to import the other.

Prices ship with the package (``infra/data/prices-<region>.csv``, source and date in the file's
header) and are loaded by ``locxia db upgrade``; a refresh from the AWS Price List API
replaces them where reachable. A row always says where it came from.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any, Literal

import psycopg

from infra.errors import InputError

HOURS_PER_MONTH = Decimal(730)  # AWS's own convention for monthly estimates
SHIPPED_SOURCE = "shipped:approximate public price list"
SHIPPED_DATE = date(2026, 11, 1)

Service = Literal[
    "rds", "rds-storage", "rds-iops", "rds-throughput", "ec2", "ebs", "ebs-iops", "ebs-throughput",
    "s3", "rds-extended-support", "cloudwatch", "cloudwatch-logs",
]  # fmt: skip


@dataclass(frozen=True)
class Price:
    """One catalog row."""

    region: str
    service: str
    item: str
    variant: str
    unit: str
    usd: Decimal
    source: str
    effective_date: date


def shipped_regions() -> list[str]:
    """Regions for which a price file ships with the package."""
    files = resources.files("infra").joinpath("data").iterdir()
    return sorted(
        f.name.removeprefix("prices-").removesuffix(".csv")
        for f in files
        if f.name.startswith("prices-") and f.name.endswith(".csv")
    )


def shipped_prices(region: str) -> list[Price]:
    """Parse the shipped file of ``region`` (empty when none ships)."""
    if region not in shipped_regions():
        return []
    text = resources.files("infra").joinpath("data", f"prices-{region}.csv").read_text()
    rows = csv.reader(line for line in text.splitlines() if line and not line.startswith("#"))
    return [
        Price(region, service, item, variant, unit, Decimal(usd), SHIPPED_SOURCE, SHIPPED_DATE)
        for service, item, variant, unit, usd in rows
    ]


def upsert(conn: psycopg.Connection[Any], prices: Iterable[Price], *, overwrite: bool) -> int:
    """Write prices; with ``overwrite=False`` existing rows (e.g. refreshed ones) are kept.

    Returns:
        The number of rows inserted or updated.
    """
    action = (
        "DO UPDATE SET unit = EXCLUDED.unit, usd = EXCLUDED.usd, source = EXCLUDED.source,"
        " effective_date = EXCLUDED.effective_date, updated_at = now()"
        if overwrite
        else "DO NOTHING"
    )
    count = 0
    with conn.cursor() as cur:
        for p in prices:
            cur.execute(
                "INSERT INTO costs.prices (region, service, item, variant, unit, usd, source,"
                " effective_date) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                f" ON CONFLICT (region, service, item, variant) {action}",
                (p.region, p.service, p.item, p.variant, p.unit, p.usd, p.source, p.effective_date),
            )
            count += cur.rowcount
    return count


def seed_shipped(conn: psycopg.Connection[Any]) -> int:
    """Load every shipped price file without overwriting rows already present (idempotent)."""
    return sum(upsert(conn, shipped_prices(r), overwrite=False) for r in shipped_regions())


class PriceCatalog:
    """Prices of one region, loaded once; look-ups never touch the database again."""

    def __init__(self, region: str, prices: Iterable[Price]) -> None:
        self.region = region
        self._by_key = {(p.service, p.item, p.variant): p for p in prices if p.region == region}

    @classmethod
    def load(cls, conn: psycopg.Connection[Any], region: str) -> PriceCatalog:
        """Read the catalog of ``region`` from ``costs.prices``."""
        rows = conn.execute(
            "SELECT region, service, item, variant, unit, usd, source, effective_date"
            " FROM costs.prices WHERE region = %s",
            (region,),
        ).fetchall()
        return cls(region, (Price(*row) for row in rows))

    def get(self, service: Service, item: str, variant: str = "") -> Price | None:
        """The price row, or None when the catalog does not know it."""
        return self._by_key.get((service, item, variant))

    def require(self, service: Service, item: str, variant: str = "") -> Price:
        """The price row, or an :class:`InputError` naming what is unknown.

        Raises:
            InputError: the catalog has no such class/type in this region.
        """
        price = self.get(service, item, variant)
        if price is None:
            known = sorted(i for s, i, v in self._by_key if s == service and v == variant)
            sample = ", ".join(known[:6]) + (", …" if len(known) > 6 else "")
            raise InputError(
                f"{item!r} is not in the {service} price catalog for {self.region}"
                f" (known: {sample or 'none'})"
            )
        return price

    def all(self) -> list[Price]:
        """Every row of the region, ordered by service, item and variant."""
        return sorted(self._by_key.values(), key=lambda p: (p.service, p.item, p.variant))

    def items(self, service: Service, variant: str | None = None) -> set[str]:
        """Every class/type known for ``service`` (optionally one variant)."""
        return {i for s, i, v in self._by_key if s == service and variant in (None, v)}

    def monthly(
        self, service: Service, item: str, variant: str = "", quantity: Decimal | int = 1
    ) -> Decimal:
        """Monthly USD for ``quantity`` units: instances (hourly rows), GB, IOPS or MiBps.

        Raises:
            InputError: the item is unknown.
        """
        price = self.require(service, item, variant)
        per_unit = price.usd * HOURS_PER_MONTH if price.unit == "hour" else price.usd
        return (per_unit * Decimal(quantity)).quantize(Decimal("0.01"))
