"""Parsers of what AWS hands back: Metric Streams files, Cost Explorer, Price List, errors."""

from __future__ import annotations

import gzip
import json
from datetime import date
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

from infra.aws import epoch_seconds, translate
from infra.errors import InputError
from pipelines.observe.costs.explorer import parse_groups
from pipelines.observe.costs.pricing import on_demand_price, query_for
from pipelines.observe.metrics.streams import (
    NotJson,
    check_format,
    parse_records,
    record_points,
    resume_after,
)

RECORD = {"metric_name": "CPUUtilization", "value": {"max": 9, "min": 1, "sum": 20, "count": 4}}


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode(),
        lambda text: gzip.compress(text.encode()),
        lambda text: text.replace("\n", "").encode(),
    ],
    ids=["ndjson", "gzip", "concatenated"],
)
def test_stream_files_in_every_shape_firehose_writes(encode) -> None:  # type: ignore[no-untyped-def]
    text = json.dumps(RECORD) + "\n" + json.dumps({**RECORD, "metric_name": "NetworkIn"}) + "\n"
    records = list(parse_records(encode(text)))
    assert [r["metric_name"] for r in records] == ["CPUUtilization", "NetworkIn"]


def test_stream_records_become_statistics() -> None:
    points = dict(record_points({**RECORD, "value": {**RECORD["value"], "p99": 8.5}}))  # type: ignore[dict-item]
    assert points == {
        "Maximum": 9.0,
        "Minimum": 1.0,
        "Sum": 20.0,
        "SampleCount": 4.0,
        "p99": 8.5,
        "Average": 5.0,
    }
    with pytest.raises(ValueError):
        list(parse_records(b"[1, 2]"))


def test_cost_explorer_groups() -> None:
    results = [
        {
            "TimePeriod": {"Start": "2026-11-05"},
            "Estimated": True,
            "Groups": [
                {
                    "Keys": ["AWS S3", "project$locxia"],
                    "Metrics": {"UnblendedCost": {"Amount": "1.5"}},
                },
                {"Keys": ["AWS S3", "project$"], "Metrics": {"UnblendedCost": {"Amount": "0.25"}}},
            ],
        },
        {
            "TimePeriod": {"Start": "2026-10-01"},
            "Groups": [
                {
                    "Keys": ["AWS S3", "project$locxia"],
                    "Metrics": {"UnblendedCost": {"Amount": "9"}},
                }
            ],
        },
    ]
    amounts, estimated, newest = parse_groups(
        results, date(2026, 11, 1), date(2026, 11, 10), "UnblendedCost"
    )
    assert amounts == {
        (date(2026, 11, 5), "AWS S3", "locxia"): Decimal("1.5"),
        (date(2026, 11, 5), "AWS S3", ""): Decimal("0.25"),
    }
    assert estimated == set(amounts)
    assert newest == date(2026, 11, 5)  # the October day is outside the window


def test_price_list_first_tier_on_demand_price() -> None:
    product = {
        "product": {"sku": "X", "attributes": {"instanceType": "db.t4g.micro"}},
        "terms": {
            "OnDemand": {
                "X.Y": {
                    "priceDimensions": {
                        "X.Y.2": {
                            "beginRange": "51200",
                            "unit": "Hrs",
                            "pricePerUnit": {"USD": "0.022"},
                        },
                        "X.Y.1": {
                            "beginRange": "0",
                            "unit": "Hrs",
                            "pricePerUnit": {"USD": "0.0190000000"},
                        },
                    }
                }
            }
        },
    }
    assert on_demand_price([json.dumps(product)], "hour").usd == Decimal("0.019")
    assert on_demand_price([json.dumps(product)], "gb-month").usd is None
    assert on_demand_price([], "hour").reason == "no on-demand SKU matches the Price List filters"
    query = query_for("eu-west-3", ("rds", "db.t4g.micro", "postgres"))
    assert query is not None and query.service_code == "AmazonRDS"
    assert query.filters["databaseEngine"] == "PostgreSQL"
    assert query.filters["regionCode"] == "eu-west-3"
    assert query.filters["locationType"] == "AWS Region"


def test_epoch_timestamps() -> None:
    assert epoch_seconds(1764000000) == 1764000000.0
    assert epoch_seconds("1764000000.5") == 1764000000.5
    assert epoch_seconds("2025-11-24T16:00:00Z") == 1764000000.0


def test_an_xml_error_inside_a_bare_status_is_understood() -> None:
    body = (
        '<?xml version="1.0"?><ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code>'
        "<Message>The security token included in the request is invalid.</Message></Error>"
        "</Errors></ErrorResponse>"
    )
    exc = ClientError({"Error": {"Code": "403", "Message": body}}, "GetMetricData")
    err = translate(exc, "cloudwatch", "GetMetricData")
    assert err.code == "InvalidClientTokenId"
    assert str(err).startswith("AWS rejected the credentials for cloudwatch:GetMetricData")
    plain = translate(ClientError({"Error": {"Code": "500", "Message": "boom"}}, "X"), "s", "X")
    assert plain.code == "500"


@pytest.mark.parametrize(
    ("greatest", "expected"),
    [
        ("cw/2026/11/20/10/locxia-1-2026-11-20-10-59-00-x", "cw/2026/11/20/09/"),
        ("cw/2026/11/21/00/s-1", "cw/2026/11/20/23/"),
        ("2026/01/01/00/s-1", "2025/12/31/23/"),
        ("cw/2026/11/20/a.json", "cw/2026/11/20/a.json"),
    ],
    ids=["hour", "midnight", "no-prefix-new-year", "not-firehose-layout"],
)
def test_listing_resumes_one_hour_before_the_newest_folder(greatest: str, expected: str) -> None:
    prefix = "" if not greatest.startswith("cw") else "cw"
    assert resume_after(greatest, prefix) == expected


@pytest.mark.parametrize("fmt", ["opentelemetry0.7", "opentelemetry1.0", ""])
def test_a_stream_not_in_json_is_refused_in_one_line(fmt: str) -> None:
    check_format("json", "locxia")
    with pytest.raises(InputError) as info:
        check_format(fmt, "locxia")
    assert "\n" not in str(info.value) and "json output format only" in str(info.value)


def test_protobuf_bytes_are_not_json() -> None:
    with pytest.raises(NotJson):
        list(parse_records(b"\x12\x0bresource-x"))
