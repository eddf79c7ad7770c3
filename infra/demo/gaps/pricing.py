"""The AWS Price List Query API as a stand-in: GetProducts and DescribeServices, seeded.

moto does not implement the Price List API (every call is an HTTP 500), so the catalog refresh
could only be tested against a failure. This handler answers it from products seeded with
``POST {endpoint}/locxia-gaps/pricing`` and ``{"products": {"<ServiceCode>": ["<product JSON
string>", ...]}}`` (what GetProducts returns in ``PriceList``); :func:`seed` does it from Python
and :func:`fixture_products` generates real-shaped products for a region, several per item
with only one right.

Modelled, from the AWS Billing and Cost Management API Reference:
* GetProducts (API_pricing_GetProducts.html): ``ServiceCode`` required, ``Filters`` (at most
  50, all must match), ``FormatVersion`` ``aws_v1``, ``MaxResults`` 1–100, ``NextToken``;
  ``PriceList`` holds the products as JSON strings, in seeding order.
* Filter (API_pricing_Filter.html): ``TERM_MATCH`` (field and value match), ``EQUALS`` (exact
  value), ``CONTAINS`` (substring), ``ANY_OF`` / ``NONE_OF`` (comma-separated values). The
  field ``ServiceCode`` matches the service; any other field an attribute of the product, or
  a key of ``product`` itself (``productFamily``, ``sku``) — AWS filters on ``productFamily``
  although its example products do not repeat it among the attributes.
* DescribeServices: the service codes seeded and the attribute names of their products.
* Errors in the JSON 1.1 shape: ``InvalidParameterException`` (bad filter type, page size,
  format version), ``InvalidNextTokenException`` (a token this server did not give for that
  query).

Not modelled (listed in docs/observe.md): whether AWS compares TERM_MATCH values without
regard to case (here exact), how a product without the filtered attribute fares under
``NONE_OF`` (here it matches), ``ExpiredNextTokenException``, GetAttributeValues,
ListPriceLists and GetPriceListFileUrl, throttling.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from infra.demo.gaps import Completion, GapError, JsonObject, Operation, post_seed

TARGET = "AWSPriceListService"
MAX_FILTERS = 50
MAX_RESULTS = 100
FILTER_TYPES = ("TERM_MATCH", "EQUALS", "CONTAINS", "ANY_OF", "NONE_OF")


def _values(text: str) -> set[str]:
    return {v.strip() for v in text.split(",")}


def filter_matches(kind: str, actual: str | None, value: str) -> bool:
    """One filter against one product's field value (None: the product has no such field)."""
    if kind == "NONE_OF":
        return actual is None or actual not in _values(value)
    if actual is None:
        return False
    if kind in ("TERM_MATCH", "EQUALS"):
        return actual == value
    if kind == "CONTAINS":
        return value in actual
    return actual in _values(value)  # ANY_OF


def _field(service_code: str, product: Mapping[str, Any], field: str) -> str | None:
    if field == "ServiceCode":
        return service_code
    inner = product.get("product", {})
    attributes = inner.get("attributes", {})
    value = attributes.get(field, inner.get(field))
    return None if value is None else str(value)


class PriceListGaps:
    """GetProducts and DescribeServices over the seeded products of each service code."""

    name = "pricing"

    def __init__(self) -> None:
        self._products: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    def completions(self) -> dict[str, Completion]:
        """None: moto has no Price List answers to complete."""
        return {}

    def operations(self) -> dict[str, Operation]:
        """The Price List operations this stand-in answers."""
        return {
            f"{TARGET}.GetProducts": self.get_products,
            f"{TARGET}.DescribeServices": self.describe_services,
        }

    def seed(self, body: JsonObject) -> None:
        """Replace every product with ``body["products"]`` (service code → JSON strings)."""
        products = body.get("products")
        if not isinstance(products, dict):
            raise GapError("ValidationException", 'the seed body needs "products": {code: [...]}')
        parsed: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for code, texts in products.items():
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise GapError("ValidationException", f"products[{code}] must be JSON strings")
            try:
                parsed[code] = [(t, json.loads(t)) for t in texts]
            except json.JSONDecodeError as exc:
                raise GapError("ValidationException", f"products[{code}]: {exc}") from exc
        self._products = parsed

    def reset(self) -> None:
        """Forget every product."""
        self._products = {}

    def get_products(self, request: JsonObject) -> JsonObject:
        """GetProducts: the products of ``ServiceCode`` matching every filter, one page."""
        code = request.get("ServiceCode")
        if not isinstance(code, str) or not code:
            raise GapError("InvalidParameterException", "ServiceCode is required")
        if request.get("FormatVersion", "aws_v1") != "aws_v1":
            raise GapError("InvalidParameterException", "FormatVersion must be aws_v1")
        filters = request.get("Filters") or []
        if len(filters) > MAX_FILTERS:
            raise GapError("InvalidParameterException", f"at most {MAX_FILTERS} filters")
        for f in filters:
            if f.get("Type") not in FILTER_TYPES:
                raise GapError("InvalidParameterException", f"unknown filter type {f.get('Type')}")
        size = int(request.get("MaxResults") or MAX_RESULTS)
        if not 1 <= size <= MAX_RESULTS:
            raise GapError("InvalidParameterException", f"MaxResults must be 1-{MAX_RESULTS}")
        matching = [
            text
            for text, product in self._products.get(code, [])
            if all(
                filter_matches(f["Type"], _field(code, product, f["Field"]), f["Value"])
                for f in filters
            )
        ]
        start = self._offset(request, code, filters)
        page = matching[start : start + size]
        answer: JsonObject = {"FormatVersion": "aws_v1", "PriceList": page}
        if start + size < len(matching):
            answer["NextToken"] = _token(code, filters, start + size)
        return answer

    @staticmethod
    def _offset(request: JsonObject, code: str, filters: list[Any]) -> int:
        token = request.get("NextToken")
        if not token:
            return 0
        offset = str(token).rpartition(":")[2]
        if not offset.isdigit() or _token(code, filters, int(offset)) != token:
            raise GapError("InvalidNextTokenException", "the pagination token is not valid")
        return int(offset)

    def describe_services(self, request: JsonObject) -> JsonObject:
        """DescribeServices: seeded service codes and their products' attribute names."""
        wanted = request.get("ServiceCode")
        services = [
            {
                "ServiceCode": code,
                "AttributeNames": sorted(
                    {k for _, p in items for k in p.get("product", {}).get("attributes", {})}
                ),
            }
            for code, items in sorted(self._products.items())
            if wanted in (None, code)
        ]
        return {"FormatVersion": "aws_v1", "Services": services}


def _token(code: str, filters: list[Any], offset: int) -> str:
    digest = hashlib.sha256(json.dumps([code, filters], sort_keys=True).encode()).hexdigest()
    return f"{digest[:24]}:{offset}"


def seed(endpoint: str, products: Mapping[str, list[str]]) -> JsonObject:
    """Seed the stand-in at ``endpoint`` with ``products`` (service code → product JSON strings)."""
    return post_seed(endpoint, PriceListGaps.name, {"products": dict(products)})


# --- real-shaped products -----------------------------------------------------------------------
#: Location names and usage-type prefixes of a few regions (the Price List's ``location``,
#: ``usagetype``); other regions get their code for both.
LOCATIONS = {
    "eu-central-1": "EU (Frankfurt)",
    "eu-west-3": "EU (Paris)",
    "us-east-1": "US East (N. Virginia)",
}
USAGE_PREFIX = {"eu-central-1": "EUC1", "eu-west-3": "EUW3", "us-east-1": "USE1"}
PUBLISHED = "2026-11-20T00:00:00Z"
ON_DEMAND = "JRTCKXETXF"  # AWS's offer term code of on-demand terms
RATE = "6YS6EN2CT7"  # AWS's rate code of an on-demand rate


@dataclass(frozen=True)
class Sku:
    """One product to serve: what makes it, and its on-demand price (None: reserved only)."""

    service_code: str
    family: str
    attributes: dict[str, str]
    usd: Decimal | None
    unit: str
    why: str
    """Which item it prices and, for a decoy, what makes it wrong (its SKU is derived from it)."""

    @property
    def sku(self) -> str:
        """A stable 16-character SKU id, like AWS's."""
        digest = hashlib.sha256(self.why.encode()).hexdigest().upper()
        return "".join(c for c in digest if c.isalnum())[:16]

    def json(self) -> str:
        """The product as GetProducts returns it (one ``PriceList`` string)."""
        sku = self.sku
        terms: dict[str, Any] = {
            "Reserved": {
                f"{sku}.4NA7Y494T4": _term(
                    sku, "4NA7Y494T4", (self.usd or Decimal(1)) * Decimal("0.6"), self.unit
                )
                | {
                    "termAttributes": {
                        "LeaseContractLength": "1yr",
                        "OfferingClass": "standard",
                        "PurchaseOption": "No Upfront",
                    }
                }
            }
        }
        if self.usd is not None:
            terms["OnDemand"] = {f"{sku}.{ON_DEMAND}": _term(sku, ON_DEMAND, self.usd, self.unit)}
        return json.dumps(
            {
                "product": {
                    "productFamily": self.family,
                    "attributes": self.attributes,
                    "sku": sku,
                },
                "serviceCode": self.service_code,
                "terms": terms,
                "version": PUBLISHED.replace("-", "").replace(":", "").replace("T", "")[:14],
                "publicationDate": PUBLISHED,
            }
        )


def _term(sku: str, code: str, usd: Decimal, unit: str) -> dict[str, Any]:
    rate = f"{sku}.{code}.{RATE}"
    return {
        "offerTermCode": code,
        "sku": sku,
        "effectiveDate": "2026-11-01T00:00:00Z",
        "priceDimensions": {
            rate: {
                "unit": unit,
                "endRange": "Inf",
                "description": f"${usd} per {unit}",
                "appliesTo": [],
                "rateCode": rate,
                "beginRange": "0",
                "pricePerUnit": {"USD": f"{usd:.10f}"},
            }
        },
        "termAttributes": {},
    }


UNITS = {
    "hour": "Hrs",
    "gb-month": "GB-Mo",
    "iops-month": "IOPS-Mo",
    "mibps-month": "MiBps-Mo",
    "metric-month": "Metrics",
}
_ENGINES = {"postgres": "PostgreSQL", "mysql": "MySQL", "mariadb": "MariaDB"}
_RDS_VOLUMES = {
    "gp3": "General Purpose-GP3",
    "gp2": "General Purpose",
    "io1": "Provisioned IOPS",
    "io2": "Provisioned IOPS-IO2",
}
_RDS_IOPS = {"io1": "RDS Provisioned IOPS", "gp3": "RDS Provisioned GP3 IOPS"}
_EBS_FAMILIES = {
    "ebs": "Storage",
    "ebs-iops": "System Operation",
    "ebs-throughput": "Provisioned Throughput",
}
ItemKey = tuple[str, str, str]


#: EC2 catalog variants → the Price List's ``operatingSystem``.
_PLATFORMS = {"linux": "Linux", "windows": "Windows", "rhel": "RHEL", "suse": "SUSE"}


def _right(region: str, key: ItemKey, unit: str, usd: Decimal) -> Sku | None:
    """The one product AWS would price ``key`` with in ``region`` (on-demand, a region proper).

    None for items whose products this stand-in does not shape (CloudWatch, RDS Extended
    Support): the refresh has no exact query for them either, so they stay unpriced.
    """
    service, item, variant = key
    if unit not in UNITS:
        return None
    p = USAGE_PREFIX.get(region, region.upper())
    where = {
        "regionCode": region,
        "location": LOCATIONS.get(region, region),
        "locationType": "AWS Region",
    }
    why = f"{region} {service} {item} {variant}"
    if service.startswith("rds"):
        attrs = {**where, "servicecode": "AmazonRDS", "deploymentOption": "Single-AZ"}
        if service == "rds":
            family = "Database Instance"
            attrs |= {
                "instanceType": item,
                "databaseEngine": _ENGINES.get(variant, variant),
                "licenseModel": "No license required",
                "usagetype": f"{p}-InstanceUsage:{item}",
                "operation": "CreateDBInstance:0014",
            }
        elif service == "rds-storage":
            family = "Database Storage"
            attrs |= {
                "volumeType": _RDS_VOLUMES.get(item, item),
                "databaseEngine": "Any",
                "usagetype": f"{p}-RDS:{item.upper()}-Storage",
            }
        elif service == "rds-iops":
            family = "Provisioned IOPS"
            attrs |= {
                "groupDescription": _RDS_IOPS.get(item, item),
                "databaseEngine": "Any",
                "usagetype": f"{p}-RDS:{item.upper()}-PIOPS",
            }
        else:
            family = "Provisioned Throughput"
            attrs |= {"databaseEngine": "Any", "usagetype": f"{p}-RDS:{item.upper()}-Throughput"}
        return Sku("AmazonRDS", family, attrs, usd, UNITS[unit], why)
    if service == "ec2":
        attrs = {
            **where,
            "servicecode": "AmazonEC2",
            "instanceType": item,
            "operatingSystem": _PLATFORMS[variant],
            "licenseModel": "No License required",
            "tenancy": "Shared",
            "preInstalledSw": "NA",
            "capacitystatus": "Used",
            "usagetype": f"{p}-BoxUsage:{item}",
            "operation": "RunInstances",
        }
        return Sku("AmazonEC2", "Compute Instance", attrs, usd, UNITS[unit], why)
    if service == "cloudwatch" and item == "metric":
        attrs = {
            **where,
            "servicecode": "AmazonCloudWatch",
            "group": "Metric",
            "usagetype": f"{p}-CW:MetricMonitorUsage"
            if region != "us-east-1"
            else "CW:MetricMonitorUsage",
        }
        return Sku("AmazonCloudWatch", "Metric", attrs, usd, UNITS[unit], why)
    if service != "s3" and service not in _EBS_FAMILIES:
        return None
    if service in _EBS_FAMILIES:
        attrs = {
            **where,
            "servicecode": "AmazonEC2",
            "volumeApiName": item,
            "usagetype": f"{p}-EBS:{service}.{item}",
        }
        return Sku("AmazonEC2", _EBS_FAMILIES[service], attrs, usd, UNITS[unit], why)
    attrs = {
        **where,
        "servicecode": "AmazonS3",
        "volumeType": "Standard",
        "storageClass": "General Purpose",
        "usagetype": f"{p}-TimedStorage-ByteHrs",
    }
    return Sku("AmazonS3", "Storage", attrs, usd, UNITS[unit], why)


def _decoys(right: Sku) -> list[Sku]:
    """Products that differ from ``right`` by one thing a loose filter lets through, cheaper.

    Each is priced at half the right price, so taking the cheapest of loose matches (what the
    refresh once did) picks a wrong one.
    """
    cheap = None if right.usd is None else right.usd / 2
    edge = (
        {"locationType": "AWS Local Zone", "location": "EU (Hamburg)"}
        if right.service_code == "AmazonEC2"
        else {"locationType": "AWS Outposts", "location": "EU (Frankfurt) Outposts"}
    )
    changes: list[tuple[str, dict[str, str]]] = [("edge location", edge)]
    if "deploymentOption" in right.attributes:
        changes.append(("Multi-AZ", {"deploymentOption": "Multi-AZ"}))
    if right.family == "Database Instance":
        changes.append(("BYOL", {"licenseModel": "Bring your own license"}))
    if right.family == "Compute Instance":
        changes += [
            ("Windows", {"operatingSystem": "Windows"}),
            ("RHEL", {"operatingSystem": "RHEL", "licenseModel": "License included"}),
            ("dedicated", {"tenancy": "Dedicated"}),
            ("unused reservation", {"capacitystatus": "UnusedCapacityReservation"}),
            ("SQL Web", {"preInstalledSw": "SQL Web"}),
        ]
    if right.service_code == "AmazonS3":
        changes.append(("infrequent access", {"storageClass": "Infrequent Access"}))
    out = [
        Sku(
            right.service_code,
            right.family,
            right.attributes | change,
            cheap,
            right.unit,
            f"{right.why} {label}",
        )
        for label, change in changes
        if right.attributes | change != right.attributes  # a Windows SKU is no Windows decoy
    ]
    out.append(
        Sku(
            right.service_code,
            right.family,
            right.attributes,
            None,
            right.unit,
            f"{right.why} reserved",
        )
    )
    return out


def fixture_products(
    region: str,
    prices: Mapping[ItemKey, tuple[str, Decimal]],
    ambiguous: frozenset[ItemKey] = frozenset(),
) -> tuple[dict[str, list[str]], dict[ItemKey, Sku]]:
    """Real-shaped products of ``region``: for each item the right SKU and its decoys.

    Args:
        region: the region code the products are for.
        prices: (service, item, variant) → (catalog unit, on-demand USD of the right SKU).
        ambiguous: items that get a second SKU matching every exact filter too (another usage
            type), so no single SKU prices them.

    Returns:
        The products per service code (what to seed) and the right SKU of each item.
    """
    products: dict[str, list[str]] = {}
    right: dict[ItemKey, Sku] = {}
    for key, (unit, usd) in prices.items():
        found = _right(region, key, unit, usd)
        if found is not None:
            right[key] = found
    # A decoy of one item can be another item's right product (the Windows decoy of a Linux
    # type is the Windows type's own SKU): AWS has one product per attribute set, so it is
    # left out.
    rights = [sorted(sku.attributes.items()) for sku in right.values()]
    for key, sku in right.items():
        decoys = [
            d for d in _decoys(sku) if d.usd is None or sorted(d.attributes.items()) not in rights
        ]
        skus = [sku, *decoys]
        if key in ambiguous:
            twin = sku.attributes | {"usagetype": sku.attributes["usagetype"] + ".twin"}
            skus.append(
                Sku(
                    sku.service_code,
                    sku.family,
                    twin,
                    prices[key][1] * Decimal("0.9"),
                    sku.unit,
                    f"{sku.why} twin",
                )
            )
        products.setdefault(sku.service_code, []).extend(s.json() for s in skus)
    return products, right
