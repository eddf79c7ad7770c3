"""The price catalog (``costs.prices``): what an instance class or a GB of storage costs.

Both sides of the product read it: *observe* estimates the cost of hours Cost Explorer has not
covered yet, *shape* previews the monthly cost delta of a plan and refuses classes it does not
know. It lives in ``infra`` so neither has to import the other.

Prices ship with the package (``infra/data/prices-<region>.csv``, source and date in the file's
header) and are loaded by ``locxia db upgrade``; a refresh from the AWS Price List API
replaces them where reachable. A row always says where it came from.

Only eu-west-3's prices ship, but the shipped *items* (service, item, variant, unit) are the
list of what the product prices in any region: a refresh seeds them into every region the
product uses and asks the Price List API for each. An item without a price is a row with a
null ``usd`` and an ``unpriced_reason`` (migration 0066); :meth:`PriceCatalog.get` treats it
as unknown and :meth:`PriceCatalog.reason` says why in one phrase, with the remedy.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

import psycopg

from infra.errors import InputError

HOURS_PER_MONTH = Decimal(730)  # AWS's own convention for monthly estimates
SHIPPED_SOURCE = "shipped:approximate public price list"
SHIPPED_DATE = date(2026, 11, 1)
NOT_REFRESHED = "not priced yet in this region"
REFRESH_HINT = "run `locxia observe prices --refresh`"

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


@dataclass(frozen=True)
class Unpriced:
    """A catalog item the region has no price for, and why (``costs.prices.unpriced_reason``)."""

    region: str
    service: str
    item: str
    variant: str
    unit: str
    reason: str
    source: str
    effective_date: date


ItemKey = tuple[str, str, str]
"""(service, item, variant): what identifies an item within a region."""


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


@functools.cache
def shipped_items() -> Mapping[ItemKey, str]:
    """Every item of every shipped file (service, item, variant) with its unit.

    The list the product prices in any region: a class outside it is refused as a typo.
    """
    items = {
        (p.service, p.item, p.variant): p.unit for r in shipped_regions() for p in shipped_prices(r)
    }
    return MappingProxyType(items)


def upsert(conn: psycopg.Connection[Any], prices: Iterable[Price], *, overwrite: bool) -> int:
    """Write prices; with ``overwrite=False`` existing rows (e.g. refreshed ones) are kept.

    Returns:
        The number of rows inserted or updated.
    """
    action = (
        "DO UPDATE SET unit = EXCLUDED.unit, usd = EXCLUDED.usd, source = EXCLUDED.source,"
        " effective_date = EXCLUDED.effective_date, unpriced_reason = NULL, updated_at = now()"
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


def mark_unpriced(conn: psycopg.Connection[Any], rows: Iterable[Unpriced]) -> int:
    """Record items without a price; a row that has a price keeps it (nothing is unpriced).

    A price once known (shipped or refreshed) is better than none: when a later refresh finds
    no single SKU, the caller reports it and the price stays.

    Returns:
        The number of rows inserted or whose reason changed.
    """
    count = 0
    with conn.cursor() as cur:
        for u in rows:
            cur.execute(
                "INSERT INTO costs.prices (region, service, item, variant, unit, usd, source,"
                " effective_date, unpriced_reason) VALUES (%s, %s, %s, %s, %s, NULL, %s, %s, %s)"
                " ON CONFLICT (region, service, item, variant) DO UPDATE SET"
                " unpriced_reason = EXCLUDED.unpriced_reason, source = EXCLUDED.source,"
                " effective_date = EXCLUDED.effective_date, updated_at = now()"
                " WHERE costs.prices.usd IS NULL",
                (
                    u.region,
                    u.service,
                    u.item,
                    u.variant,
                    u.unit,
                    u.source,
                    u.effective_date,
                    u.reason,
                ),
            )
            count += cur.rowcount
    return count


def seed_items(conn: psycopg.Connection[Any], region: str, today: date) -> int:
    """Give ``region`` every shipped item it lacks, unpriced until a refresh prices it."""
    return mark_unpriced(
        conn,
        (
            Unpriced(region, s, i, v, unit, NOT_REFRESHED, "seeded:shipped item list", today)
            for (s, i, v), unit in shipped_items().items()
            if not _exists(conn, region, (s, i, v))
        ),
    )


def _exists(conn: psycopg.Connection[Any], region: str, key: ItemKey) -> bool:
    row = conn.execute(
        "SELECT 1 FROM costs.prices WHERE region = %s AND service = %s AND item = %s"
        " AND variant = %s",
        (region, *key),
    ).fetchone()
    return row is not None


class PriceCatalog:
    """Prices of one region, loaded once; look-ups never touch the database again."""

    def __init__(
        self, region: str, prices: Iterable[Price], unpriced: Iterable[Unpriced] = ()
    ) -> None:
        self.region = region
        self._by_key = {(p.service, p.item, p.variant): p for p in prices if p.region == region}
        self._unpriced = {(u.service, u.item, u.variant): u for u in unpriced if u.region == region}
        #: Every look-up that found no price, so a caller can name them all in one line.
        self.misses: set[ItemKey] = set()

    @classmethod
    def load(cls, conn: psycopg.Connection[Any], region: str) -> PriceCatalog:
        """Read the catalog of ``region`` from ``costs.prices`` (priced and unpriced items)."""
        rows = conn.execute(
            "SELECT region, service, item, variant, unit, usd, source, effective_date,"
            " unpriced_reason FROM costs.prices WHERE region = %s",
            (region,),
        ).fetchall()
        prices = [Price(*row[:8]) for row in rows if row[5] is not None]
        unpriced = [
            Unpriced(r[0], r[1], r[2], r[3], r[4], r[8], r[6], r[7]) for r in rows if r[5] is None
        ]
        return cls(region, prices, unpriced)

    def get(self, service: Service, item: str, variant: str = "") -> Price | None:
        """The price row, or None when the region has no price for it (recorded in misses)."""
        price = self._by_key.get((service, item, variant))
        if price is None:
            self.misses.add((service, item, variant))
        return price

    def reason(self, service: str, item: str, variant: str = "") -> str:
        """Why ``item`` has no price here, in one phrase ending with the remedy when one exists."""
        unpriced = self._unpriced.get((service, item, variant))
        if unpriced is not None:
            hint = f"; {REFRESH_HINT}" if unpriced.reason == NOT_REFRESHED else ""
            return f"{unpriced.reason}{hint}"
        if (service, item, variant) in shipped_items():
            return f"{NOT_REFRESHED}; {REFRESH_HINT}"
        known = sorted(i for s, i, v in self._by_key if s == service and v == variant)
        sample = ", ".join(known[:6]) + (", …" if len(known) > 6 else "")
        return f"not in the {service} price catalog for {self.region} (known: {sample or 'none'})"

    def missing(self, service: str, item: str, variant: str = "") -> str:
        """The one-line message for an item without a price (what :meth:`require` raises)."""
        why = self.reason(service, item, variant)
        if why.startswith("not in the "):
            return f"{item!r} is {why}"
        label = f"{item} ({variant})" if variant else item
        return f"{service} {label} has no price in {self.region}: {why}"

    def missing_line(self, keys: Iterable[ItemKey] | None = None) -> str | None:
        """One line naming every item without a price (default: :attr:`misses`), or None.

        Items are grouped by reason so a region that was never refreshed reads as one list
        followed by the remedy once.
        """
        by_reason: dict[str, list[str]] = {}
        for service, item, variant in sorted(self.misses if keys is None else keys):
            label = f"{service} {item}" + (f" ({variant})" if variant else "")
            by_reason.setdefault(self.reason(service, item, variant), []).append(label)
        if not by_reason:
            return None
        parts = [f"{', '.join(labels)}: {why}" for why, labels in by_reason.items()]
        return f"no price in {self.region} for " + "; ".join(parts)

    def unpriced(self) -> list[Unpriced]:
        """Items of the region without a price, with their reason."""
        return sorted(self._unpriced.values(), key=lambda u: (u.service, u.item, u.variant))

    def require(self, service: Service, item: str, variant: str = "") -> Price:
        """The price row, or an :class:`InputError` naming what is missing and why.

        Raises:
            InputError: the catalog has no price for such a class/type in this region.
        """
        price = self.get(service, item, variant)
        if price is None:
            raise InputError(self.missing(service, item, variant))
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
