"""The FOCUS 1.2 column list, its Parquet types and the checks reader and test rely on."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from pipelines.observe.costs import focus
from pipelines.observe.costs.dataexports import hours_of, period_of


def test_the_list_is_focus_1_2_as_specified() -> None:
    names = [c.name for c in focus.COLUMNS]
    assert len(names) == 57 and names == sorted(names)
    mandatory = {c.name for c in focus.COLUMNS if c.level == "Mandatory"}
    # FOCUS 1.2 renamed Provider, Publisher and InvoiceIssuer to *Name
    assert {"ProviderName", "PublisherName", "InvoiceIssuerName"} <= mandatory
    assert {"BilledCost", "EffectiveCost", "ListCost", "ContractedCost"} <= mandatory
    assert {"ResourceId", "Tags", "ConsumedQuantity"}.isdisjoint(mandatory)
    assert not focus.BY_NAME["BilledCost"].nullable and focus.BY_NAME["PricingQuantity"].nullable
    assert set(focus.READ) <= set(names)


def _table(**override: pa.Array) -> pa.Table:
    schema = focus.arrow_schema()
    at = datetime(2026, 11, 1, tzinfo=UTC)
    values = {
        "Decimal": 1.0,
        "Date/Time": at,
        "String": "x",
        "JSON": json.dumps({"project": "locxia"}),
    }
    columns = {f.name: pa.array([values[focus.BY_NAME[f.name].type]], type=f.type) for f in schema}
    columns["ChargeCategory"] = pa.array(["Usage"])
    columns.update(override)
    return pa.table(columns)


def test_a_conforming_table_has_no_problems() -> None:
    assert focus.problems(_table()) == []


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"BilledCost": pa.array(["1.0"])}, "BilledCost: string, expected double"),
        ({"ChargePeriodStart": pa.array([datetime(2026, 11, 1)])}, "ChargePeriodStart: timestamp"),
        ({"BillingCurrency": pa.array([None], type=pa.string())}, "BillingCurrency: 1 null(s)"),
        ({"ChargeCategory": pa.array(["Fee"])}, "ChargeCategory: values not allowed ['Fee']"),
    ],
    ids=["decimal-as-string", "naive-timestamp", "null-in-not-null", "unknown-category"],
)
def test_each_departure_is_named(override: dict[str, pa.Array], expected: str) -> None:
    assert any(p.startswith(expected) for p in focus.problems(_table(**override)))


def test_a_missing_mandatory_column_is_named() -> None:
    assert focus.problems(_table().drop_columns(["EffectiveCost"])) == [
        "EffectiveCost: mandatory column missing"
    ]


def test_the_reader_accepts_aws_types() -> None:
    """AWS's FOCUS table: double, timestamp_milliseconds, Tags as map<string, string>."""
    schema = pa.schema(
        [
            (
                n,
                pa.timestamp("ms")
                if "Period" in n
                else pa.float64()
                if "Cost" in n
                else pa.string(),
            )
            for n in focus.READ
        ]
    )
    assert focus.missing_for_reading(schema) == []
    assert focus.readable("JSON", pa.map_(pa.string(), pa.string()))
    assert focus.missing_for_reading(schema.remove(schema.get_field_index("ResourceId"))) == [
        "ResourceId: missing"
    ]


def test_a_charge_period_is_spread_over_the_hours_it_touches() -> None:
    start = datetime(2026, 11, 1, 10, 30, tzinfo=UTC)
    shares = list(hours_of(start, datetime(2026, 11, 1, 12, 0, tzinfo=UTC)))
    assert [(h.hour, round(s, 4)) for h, s in shares] == [(10, 0.3333), (11, 0.6667)]
    assert period_of("BILLING_PERIOD=2026-11/x.parquet") == datetime(2026, 11, 1).date()
    assert period_of("other/x.parquet") is None
