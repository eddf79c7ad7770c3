"""Refresh ``costs.prices`` from the AWS Price List API (``pricing:GetProducts``), where reachable.

The shipped catalog (``infra/data/prices-<region>.csv``) is approximate; this replaces each
known item's price with AWS's current on-demand price, marked ``source = 'pricing-api'`` (which
``locxia db upgrade`` never overwrites). Only items already in the catalog are refreshed: the
catalog is also the list of classes the product accepts.

The API lives in us-east-1 only. It is optional: when it cannot be reached (no network, no
permission, or moto — which does not implement it) the refresh fails after the **first**
call with one line, and the catalog is left unchanged. Retries are cut to 2 attempts for the
same reason (an optional API should not hold a run for a minute of back-off).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

import psycopg

from infra.aws import AwsClients, aws_errors
from infra.errors import AwsError
from infra.prices import Price, PriceCatalog, upsert

if TYPE_CHECKING:
    from mypy_boto3_pricing import PricingClient


PRICING_REGION = "us-east-1"
SOURCE = "pricing-api"
_RDS_STORAGE = {"gp3": "General Purpose-GP3", "gp2": "General Purpose", "io1": "Provisioned IOPS"}
_ENGINES = {"postgres": "PostgreSQL", "mysql": "MySQL", "mariadb": "MariaDB"}


@dataclass(frozen=True)
class ProductQuery:
    """The GetProducts request that prices one catalog item."""

    service_code: str
    filters: dict[str, str]


def query_for(price: Price) -> ProductQuery | None:
    """The Price List filters for a catalog row (None for items it cannot price)."""
    region = {"regionCode": price.region}
    if price.service == "rds":
        engine = _ENGINES.get(price.variant, price.variant)
        return ProductQuery(
            "AmazonRDS",
            {
                **region,
                "instanceType": price.item,
                "databaseEngine": engine,
                "deploymentOption": "Single-AZ",
            },
        )
    if price.service == "rds-storage" and price.item in _RDS_STORAGE:
        engine = _ENGINES.get(price.variant, price.variant)
        return ProductQuery(
            "AmazonRDS",
            {
                **region,
                "productFamily": "Database Storage",
                "volumeType": _RDS_STORAGE[price.item],
                "databaseEngine": engine,
                "deploymentOption": "Single-AZ",
            },
        )
    if price.service == "ec2":
        return ProductQuery(
            "AmazonEC2",
            {
                **region,
                "instanceType": price.item,
                "operatingSystem": "Linux",
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "capacitystatus": "Used",
            },
        )
    if price.service == "ebs":
        return ProductQuery(
            "AmazonEC2", {**region, "productFamily": "Storage", "volumeApiName": price.item}
        )
    if price.service == "s3":
        return ProductQuery(
            "AmazonS3", {**region, "productFamily": "Storage", "volumeType": "Standard"}
        )
    return None


def on_demand_usd(price_list: list[str]) -> Decimal | None:
    """The first-tier on-demand USD price in a GetProducts ``PriceList`` (JSON strings)."""
    candidates: list[tuple[Decimal, Decimal]] = []
    for text in price_list:
        product = json.loads(text)
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dim in term.get("priceDimensions", {}).values():
                usd = dim.get("pricePerUnit", {}).get("USD")
                if usd is None:
                    continue
                begin = Decimal(str(dim.get("beginRange", "0")))
                candidates.append((begin, Decimal(usd)))
    if not candidates:
        return None
    return min(candidates)[1]


class PricesResult(TypedDict):
    """What ``costs.prices`` records: prices refreshed, catalog items the API did not price."""

    region: str
    refreshed: int
    not_found: list[str]
    api_calls: int


class PriceRefresher:
    """Refreshes the catalog of one region."""

    def __init__(self, clients: AwsClients, conn: psycopg.Connection[Any], region: str) -> None:
        self.clients = clients
        self.conn = conn
        self.region = region
        self.calls = 0

    def _products(self, client: PricingClient, q: ProductQuery) -> Iterator[str]:
        request: dict[str, Any] = {
            "ServiceCode": q.service_code,
            "Filters": [
                {"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in q.filters.items()
            ],
            "FormatVersion": "aws_v1",
        }
        while True:
            with aws_errors("pricing", "GetProducts"):
                page = client.get_products(**request)
            self.calls += 1
            yield from page.get("PriceList", [])
            token = page.get("NextToken")
            if not token:
                return
            request["NextToken"] = token

    def run(self, today: date) -> PricesResult:
        """Refresh every catalog item the API can price.

        Raises:
            AwsError: the API is not reachable (first call failed); nothing was changed.
        """
        catalog = PriceCatalog.load(self.conn, self.region)
        self.conn.commit()
        rows = catalog.all()
        client = self.clients.client("pricing", region=PRICING_REGION, max_attempts=2)
        fresh: list[Price] = []
        missing: list[str] = []
        for price in rows:
            q = query_for(price)
            if q is None:
                continue
            try:
                usd = on_demand_usd(list(self._products(client, q)))
            except AwsError as exc:
                if self.calls == 0:
                    raise AwsError(
                        "the AWS Price List API is not reachable"
                        f" (pricing:GetProducts in {PRICING_REGION} failed: {exc.code});"
                        " the price catalog was left unchanged",
                        "pricing",
                        "GetProducts",
                        exc.code,
                    ) from exc
                raise
            if usd is None:
                missing.append(f"{price.service}:{price.item}")
                continue
            fresh.append(
                Price(
                    price.region,
                    price.service,
                    price.item,
                    price.variant,
                    price.unit,
                    usd,
                    SOURCE,
                    today,
                )
            )
        with self.conn.transaction():
            updated = upsert(self.conn, fresh, overwrite=True)
        return {
            "region": self.region,
            "refreshed": updated,
            "not_found": missing,
            "api_calls": self.calls,
        }
