"""FOCUS 1.2: the one statement of its columns and their types, for reading and writing.

The FinOps Open Cost and Usage Specification, version 1.2 (tag ``v1.2`` of
https://github.com/FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec, ``specification/columns/*.md``:
each column's "Column ID", "Feature level", "Allows nulls" and "Data type"). Both directions use
this module: :mod:`pipelines.observe.costs.dataexports` checks an AWS Data Exports file against
it before reading, :mod:`pipelines.observe.costs.focus_export` writes with :func:`arrow_schema`,
and the tests validate a written file with :func:`problems`.

Parquet types (the spec fixes data types, not a file format):

* ``Decimal`` → ``double``: the spec's NumericFormat ties Decimal to IEEE 754 binary floating
  point ("Decimal formats correspond to ISO/IEC/IEEE 60559:2011 and IEEE 754-2008"; precision
  ``Double`` = 64-bit), and AWS's "FOCUS 1.2 with AWS columns" table delivers ``double``
  (AWS Data Exports User Guide, table dictionary,
  https://docs.aws.amazon.com/cur/latest/userguide/table-dictionary-focus-1-2-aws-columns.html).
* ``Date/Time`` → ``timestamp[ms, tz=UTC]``: DateTimeFormat requires UTC; AWS delivers
  ``timestamp_milliseconds``.
* ``String`` → ``string``.
* ``JSON`` (``Tags``, ``SkuPriceDetails``) → a JSON string (KeyValueFormat: "MUST contain a
  serialized JSON string", ECMA-404 object) stored with Parquet's JSON logical type
  (Arrow's canonical ``arrow.json`` extension). AWS delivers ``Tags`` as a
  ``map<string, string>``: the reader accepts both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

FocusType = Literal["Decimal", "Date/Time", "String", "JSON"]
Level = Literal["Mandatory", "Conditional", "Recommended"]

VERSION = "1.2"


@dataclass(frozen=True)
class FocusColumn:
    """One FOCUS 1.2 column: its id, data type, feature level and whether it allows nulls."""

    name: str
    type: FocusType
    level: Level
    nullable: bool


def _c(name: str, type_: FocusType, level: Level, nullable: bool) -> FocusColumn:
    return FocusColumn(name, type_, level, nullable)


_M: Level = "Mandatory"
_C: Level = "Conditional"
_R: Level = "Recommended"
_D: FocusType = "Decimal"
_T: FocusType = "Date/Time"
_S: FocusType = "String"
_J: FocusType = "JSON"

#: Every column of FOCUS 1.2, in the specification's (alphabetical) order.
COLUMNS: tuple[FocusColumn, ...] = (
    _c("AvailabilityZone", _S, _R, True),
    _c("BilledCost", _D, _M, False),
    _c("BillingAccountId", _S, _M, False),
    _c("BillingAccountName", _S, _M, True),
    _c("BillingAccountType", _S, _C, False),
    _c("BillingCurrency", _S, _M, False),
    _c("BillingPeriodEnd", _T, _M, False),
    _c("BillingPeriodStart", _T, _M, False),
    _c("CapacityReservationId", _S, _C, True),
    _c("CapacityReservationStatus", _S, _C, True),
    _c("ChargeCategory", _S, _M, False),
    _c("ChargeClass", _S, _M, True),
    _c("ChargeDescription", _S, _M, True),
    _c("ChargeFrequency", _S, _R, False),
    _c("ChargePeriodEnd", _T, _M, False),
    _c("ChargePeriodStart", _T, _M, False),
    _c("CommitmentDiscountCategory", _S, _C, True),
    _c("CommitmentDiscountId", _S, _C, True),
    _c("CommitmentDiscountName", _S, _C, True),
    _c("CommitmentDiscountQuantity", _D, _C, True),
    _c("CommitmentDiscountStatus", _S, _C, True),
    _c("CommitmentDiscountType", _S, _C, True),
    _c("CommitmentDiscountUnit", _S, _C, True),
    _c("ConsumedQuantity", _D, _C, True),
    _c("ConsumedUnit", _S, _C, True),
    _c("ContractedCost", _D, _M, False),
    _c("ContractedUnitPrice", _D, _C, True),
    _c("EffectiveCost", _D, _M, False),
    _c("InvoiceId", _S, _R, True),
    _c("InvoiceIssuerName", _S, _M, False),
    _c("ListCost", _D, _M, False),
    _c("ListUnitPrice", _D, _C, True),
    _c("PricingCategory", _S, _C, True),
    _c("PricingCurrency", _S, _C, True),
    _c("PricingCurrencyContractedUnitPrice", _D, _C, True),
    _c("PricingCurrencyEffectiveCost", _D, _C, True),
    _c("PricingCurrencyListUnitPrice", _D, _C, True),
    _c("PricingQuantity", _D, _M, True),
    _c("PricingUnit", _S, _M, True),
    _c("ProviderName", _S, _M, False),
    _c("PublisherName", _S, _M, False),
    _c("RegionId", _S, _C, True),
    _c("RegionName", _S, _C, True),
    _c("ResourceId", _S, _C, True),
    _c("ResourceName", _S, _C, True),
    _c("ResourceType", _S, _C, True),
    _c("ServiceCategory", _S, _M, False),
    _c("ServiceName", _S, _M, False),
    _c("ServiceSubcategory", _S, _R, False),
    _c("SkuId", _S, _C, True),
    _c("SkuMeter", _S, _C, True),
    _c("SkuPriceDetails", _J, _C, True),
    _c("SkuPriceId", _S, _C, True),
    _c("SubAccountId", _S, _C, True),
    _c("SubAccountName", _S, _C, True),
    _c("SubAccountType", _S, _C, True),
    _c("Tags", _J, _C, True),
)
BY_NAME = {c.name: c for c in COLUMNS}

#: Columns the reader needs from a delivered file (ResourceId: Conditional, present when the
#: provider has resources, which AWS's FOCUS table always carries).
READ = (
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "BillingCurrency",
    "ResourceId",
    "ServiceName",
)

#: ChargeCategory's allowed values (chargecategory.md).
CHARGE_CATEGORIES = frozenset({"Usage", "Purchase", "Tax", "Credit", "Adjustment"})
#: ServiceCategory's allowed values (servicecategory.md) used by the writer.
SERVICE_CATEGORIES = frozenset(
    {
        "AI and Machine Learning",
        "Analytics",
        "Business Applications",
        "Compute",
        "Databases",
        "Developer Tools",
        "Multicloud",
        "Identity",
        "Integration",
        "Internet of Things",
        "Management and Governance",
        "Media",
        "Migration",
        "Mobile",
        "Networking",
        "Security",
        "Storage",
        "Web",
        "Other",
    }
)


def arrow_type(focus_type: FocusType) -> pa.DataType:
    """The Parquet/Arrow type Locxia writes for a FOCUS data type (module docstring)."""
    if focus_type == "Decimal":
        return pa.float64()
    if focus_type == "Date/Time":
        return pa.timestamp("ms", tz="UTC")
    if focus_type == "JSON":
        return pa.json_(pa.string())
    return pa.string()


def arrow_schema() -> pa.Schema:
    """Every FOCUS 1.2 column with its type and nullability, in the spec's order."""
    return pa.schema(
        [pa.field(c.name, arrow_type(c.type), nullable=c.nullable) for c in COLUMNS],
        metadata={b"focus_version": VERSION.encode()},
    )


def readable(focus_type: FocusType, actual: pa.DataType) -> bool:
    """Whether a delivered column's type can be read as ``focus_type``.

    Decimal: any floating point or decimal; Date/Time: a timestamp (naive is taken as UTC, as
    DateTimeFormat requires UTC); JSON: a JSON or plain string, or AWS's ``map<string, string>``.
    """
    if focus_type == "Decimal":
        return bool(pa.types.is_floating(actual) or pa.types.is_decimal(actual))
    if focus_type == "Date/Time":
        return bool(pa.types.is_timestamp(actual))
    if focus_type == "JSON":
        storage = actual.storage_type if isinstance(actual, pa.ExtensionType) else actual
        return bool(pa.types.is_string(storage) or pa.types.is_map(storage))
    return bool(pa.types.is_string(actual) or pa.types.is_large_string(actual))


def missing_for_reading(schema: pa.Schema) -> list[str]:
    """What keeps a delivered file from being read: columns of :data:`READ` absent or mistyped."""
    out = []
    for name in READ:
        column = BY_NAME[name]
        if name not in schema.names:
            out.append(f"{name}: missing")
        elif not readable(column.type, schema.field(name).type):
            out.append(f"{name}: {schema.field(name).type} is not FOCUS {column.type}")
    return out


def problems(table: pa.Table) -> list[str]:
    """Where ``table`` departs from FOCUS 1.2 as Locxia writes it (empty: it conforms).

    Every Mandatory column present; every FOCUS column present has exactly the type of
    :func:`arrow_schema`; a column that does not allow nulls holds none; ChargeCategory holds
    allowed values only.
    """
    out = []
    for column in COLUMNS:
        if column.name not in table.schema.names:
            if column.level == "Mandatory":
                out.append(f"{column.name}: mandatory column missing")
            continue
        actual = table.schema.field(column.name).type
        if actual != arrow_type(column.type):
            out.append(f"{column.name}: {actual}, expected {arrow_type(column.type)}")
        if not column.nullable and table.column(column.name).null_count:
            out.append(f"{column.name}: {table.column(column.name).null_count} null(s)")
    if "ChargeCategory" in table.schema.names:
        found = set(table.column("ChargeCategory").to_pylist()) - CHARGE_CATEGORIES
        if found:
            out.append(f"ChargeCategory: values not allowed {sorted(map(str, found))}")
    return out
