"""Price the catalog of every region in use from the AWS Price List API (``pricing:GetProducts``).

Only eu-west-3's prices ship (approximate). A refresh seeds the shipped *items* into every
region the product uses — the settings region and the region of every discovered resource —
and asks the Price List API for each item with **exact** filters: product family, the region
by ``regionCode`` *and* ``locationType = AWS Region`` (a Local Zone, Wavelength Zone or Outpost
carries its parent region's code), the license model, the deployment option, tenancy, OS…
Exactly one on-demand SKU must match. Zero or several leave the item unpriced with the reason
stored (``costs.prices.unpriced_reason``): a price is never the cheapest of loose matches, and
an item that had a price keeps it (the run reports it).

References (AWS Billing and Cost Management API Reference / User Guide):
* GetProducts — https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_pricing_GetProducts.html
  (``MaxResults`` 1–100, ``NextToken``; ``PriceList`` is a list of JSON strings);
* Filter — https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_pricing_Filter.html
  (``TERM_MATCH``: the product matches the field and the value; all filters must match);
* "Finding services and products using AWS Price List Query API"
  (https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-price-list-query-api.html):
  a product is ``{"product": {"productFamily", "sku", "attributes"}, "serviceCode",
  "terms": {"OnDemand": {...}, "Reserved": {...}}, "version", "publicationDate"}`` — the shape of
  AWS's own example in ``aws/aws-cli`` ``awscli/examples/pricing/get-products.rst``.
Attribute values (``General Purpose-GP3``, ``databaseEngine = Any`` for RDS storage and IOPS,
``groupDescription`` of RDS IOPS) follow infracost's ``internal/resources/aws/db_instance.go``.

The API lives in us-east-1. It is optional: when it cannot be reached (no network, no
permission) the refresh fails after the **first** call with one line and changes nothing.
Retries are cut to 2 attempts for the same reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

import psycopg

from infra.aws import AwsClients, aws_errors
from infra.errors import AwsError
from infra.prices import ItemKey, Price, Unpriced, mark_unpriced, seed_items, shipped_items, upsert

if TYPE_CHECKING:
    from mypy_boto3_pricing import PricingClient


PRICING_REGION = "us-east-1"
SOURCE = "pricing-api"
PAGE_SIZE = 100  # GetProducts: MaxResults 1-100
#: locationType of a region proper; Local Zones ("AWS Local Zone"), Wavelength Zones and
#: Outposts ("AWS Outposts") carry their parent region's regionCode and other prices.
AWS_REGION = "AWS Region"
_ENGINES = {"postgres": "PostgreSQL", "mysql": "MySQL", "mariadb": "MariaDB"}
#: Open-source engines have no license in the price ("No license required"); "License
#: included" (Oracle SE2, SQL Server) would only be asked for an engine that needs it.
_NO_LICENSE_RDS = "No license required"
_NO_LICENSE_EC2 = "No License required"  # EC2 spells it with a capital L
_RDS_STORAGE = {
    "gp3": "General Purpose-GP3",
    "gp2": "General Purpose",
    "io1": "Provisioned IOPS",
    "io2": "Provisioned IOPS-IO2",
}
_RDS_IOPS = {"io1": "RDS Provisioned IOPS", "gp3": "RDS Provisioned GP3 IOPS"}
#: The Price List's ``operatingSystem`` of each EC2 catalog variant (the billing platform of
#: ``PlatformDetails``); Windows, RHEL and SUSE on-demand prices include their licence and
#: carry ``licenseModel = No License required`` like Linux (BYOL products say "Bring your own
#: license"). Source: AmazonEC2 offer file attributes, as read by infracost's EC2 resource.
_EC2_PLATFORMS = {"linux": "Linux", "windows": "Windows", "rhel": "RHEL", "suse": "SUSE"}
#: The Price List's unit for each catalog unit; another unit means another product.
UNITS = {
    "hour": "Hrs",
    "gb-month": "GB-Mo",
    "iops-month": "IOPS-Mo",
    "mibps-month": "MiBps-Mo",
    "metric-month": "Metrics",
}


@dataclass(frozen=True)
class ProductQuery:
    """The GetProducts request that prices one catalog item (every filter TERM_MATCH)."""

    service_code: str
    filters: Mapping[str, str]
    #: ``CONTAINS`` filters: a usage type is region-prefixed ("EUW3-CW:MetricMonitorUsage";
    #: none in us-east-1), so only its suffix is exact across regions.
    contains: Mapping[str, str] = field(default_factory=dict)

    def request(self) -> dict[str, Any]:
        """The GetProducts parameters (without paging)."""
        return {
            "ServiceCode": self.service_code,
            "Filters": [
                {"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in self.filters.items()
            ]
            + [{"Type": "CONTAINS", "Field": k, "Value": v} for k, v in self.contains.items()],
            "FormatVersion": "aws_v1",
            "MaxResults": PAGE_SIZE,
        }


def _where(region: str, family: str) -> dict[str, str]:
    return {"regionCode": region, "locationType": AWS_REGION, "productFamily": family}


def query_for(region: str, key: ItemKey) -> ProductQuery | None:
    """The exact Price List filters for one item of ``region`` (None: no known query)."""
    service, item, variant = key
    single_az = {"deploymentOption": "Single-AZ"}
    if service == "rds" and variant in _ENGINES:
        return ProductQuery(
            "AmazonRDS",
            {
                **_where(region, "Database Instance"),
                "instanceType": item,
                "databaseEngine": _ENGINES[variant],
                "licenseModel": _NO_LICENSE_RDS,
                **single_az,
            },
        )
    if service == "rds-storage" and item in _RDS_STORAGE and variant in _ENGINES:
        return ProductQuery(
            "AmazonRDS",
            {
                **_where(region, "Database Storage"),
                "volumeType": _RDS_STORAGE[item],
                "databaseEngine": "Any",
                **single_az,
            },
        )
    if service == "rds-iops" and item in _RDS_IOPS and variant in _ENGINES:
        return ProductQuery(
            "AmazonRDS",
            {
                **_where(region, "Provisioned IOPS"),
                "groupDescription": _RDS_IOPS[item],
                "databaseEngine": "Any",
                **single_az,
            },
        )
    if service == "ec2" and variant in _EC2_PLATFORMS:
        return ProductQuery(
            "AmazonEC2",
            {
                **_where(region, "Compute Instance"),
                "instanceType": item,
                "operatingSystem": _EC2_PLATFORMS[variant],
                "licenseModel": _NO_LICENSE_EC2,
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "capacitystatus": "Used",
            },
        )
    ebs_family = {"ebs": "Storage", "ebs-iops": "System Operation"}
    ebs_family["ebs-throughput"] = "Provisioned Throughput"
    if service in ebs_family:
        return ProductQuery(
            "AmazonEC2", {**_where(region, ebs_family[service]), "volumeApiName": item}
        )
    if service == "cloudwatch" and item == "metric":
        # EC2 detailed monitoring is billed as CloudWatch metrics (MetricMonitorUsage; first
        # tier of the tiered price, https://aws.amazon.com/cloudwatch/pricing/).
        return ProductQuery(
            "AmazonCloudWatch",
            _where(region, "Metric"),
            contains={"usagetype": "CW:MetricMonitorUsage"},
        )
    if service == "s3" and item == "standard":
        return ProductQuery(
            "AmazonS3",
            {
                **_where(region, "Storage"),
                "volumeType": "Standard",
                "storageClass": "General Purpose",
            },
        )
    return None


@dataclass(frozen=True)
class Match:
    """What the products of one query say: a price, or why there is none."""

    usd: Decimal | None
    reason: str | None
    sku: str | None = None


def on_demand_price(price_list: list[str], unit: str) -> Match:
    """The first-tier on-demand USD price of the **only** on-demand SKU in ``price_list``.

    A product without an ``OnDemand`` term (reserved only) is not an on-demand SKU. Zero or
    several on-demand SKUs, a SKU with several on-demand terms, or a unit other than the
    catalog's, give a reason instead of a price.
    """
    skus: dict[str, dict[str, Any]] = {}
    for text in price_list:
        product = json.loads(text)
        if product.get("terms", {}).get("OnDemand"):
            skus[str(product.get("product", {}).get("sku"))] = product
    if not skus:
        return Match(None, "no on-demand SKU matches the Price List filters")
    if len(skus) > 1:
        names = ", ".join(sorted(skus)[:4]) + (", …" if len(skus) > 4 else "")
        return Match(None, f"{len(skus)} on-demand SKUs match the filters ({names}); none chosen")
    sku, product = next(iter(skus.items()))
    terms = list(product["terms"]["OnDemand"].values())
    if len(terms) != 1:
        return Match(None, f"SKU {sku} has {len(terms)} on-demand terms; none chosen")
    first = [
        d
        for d in terms[0].get("priceDimensions", {}).values()
        if Decimal(str(d.get("beginRange", "0"))) == 0 and "USD" in d.get("pricePerUnit", {})
    ]
    if len(first) != 1:
        return Match(None, f"SKU {sku} has {len(first)} first-tier USD prices; none chosen")
    got = str(first[0].get("unit"))
    if got != UNITS.get(unit):
        return Match(None, f"SKU {sku} is priced per {got}, not per {UNITS.get(unit, unit)}")
    return Match(Decimal(first[0]["pricePerUnit"]["USD"]), None, sku)


class PricesResult(TypedDict):
    """What ``costs.prices`` records: regions priced, prices written, items left unpriced."""

    regions: list[str]
    refreshed: int
    unpriced: list[str]
    api_calls: int


def configured_regions(conn: psycopg.Connection[Any], settings_region: str) -> list[str]:
    """The settings region, then every region of a discovered, tagged, live resource."""
    rows = conn.execute(
        "SELECT DISTINCT region FROM metrics.resources"
        " WHERE tagged AND gone_at IS NULL AND region <> '' ORDER BY region"
    ).fetchall()
    return [settings_region, *(r[0] for r in rows if r[0] != settings_region)]


class PriceRefresher:
    """Prices the shipped items in every region the product uses."""

    def __init__(self, clients: AwsClients, conn: psycopg.Connection[Any], region: str) -> None:
        self.clients = clients
        self.conn = conn
        self.region = region
        self.calls = 0

    def _products(self, client: PricingClient, q: ProductQuery) -> Iterator[str]:
        request = q.request()
        while True:
            try:
                with aws_errors("pricing", "GetProducts"):
                    page = client.get_products(**request)
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
            self.calls += 1
            yield from page.get("PriceList", [])
            token = page.get("NextToken")
            if not token:
                return
            request["NextToken"] = token

    def run(self, today: date) -> PricesResult:
        """Seed and price the items of every region in use; write everything at the end.

        Raises:
            AwsError: the API is not reachable (first call failed); nothing was changed.
        """
        regions = configured_regions(self.conn, self.region)
        self.conn.commit()
        client = self.clients.client("pricing", region=PRICING_REGION, max_attempts=2)
        fresh: list[Price] = []
        unpriced: list[Unpriced] = []
        for region in regions:
            for key, unit in shipped_items().items():
                q = query_for(region, key)
                match = (
                    on_demand_price(list(self._products(client, q)), unit)
                    if q is not None
                    else Match(None, "no exact Price List query is known for this item")
                )
                if match.usd is not None:
                    fresh.append(Price(region, *key, unit, match.usd, SOURCE, today))
                else:
                    unpriced.append(Unpriced(region, *key, unit, str(match.reason), SOURCE, today))
        with self.conn.transaction():
            for region in regions:
                seed_items(self.conn, region, today)
            updated = upsert(self.conn, fresh, overwrite=True)
            mark_unpriced(self.conn, unpriced)
        return {
            "regions": regions,
            "refreshed": updated,
            "unpriced": [
                f"{u.region} {u.service} {u.item}"
                + (f" ({u.variant})" if u.variant else "")
                + f": {u.reason}"
                for u in unpriced
            ],
            "api_calls": self.calls,
        }
