"""The pricing of one run's API spend and compute share, on made-up counts and a small catalog."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

from infra.prices import Price, PriceCatalog
from infra.runcost import (
    USD_PER_S3_TIER1,
    USD_PER_S3_TIER2,
    Compute,
    Cost,
    RequestMeter,
    api_spend,
    compute_share,
)

HOST = Decimal("0.0944")
DB = Decimal("0.075")


def _catalog() -> PriceCatalog:
    rows = [("ec2", "t3.large", "linux", HOST), ("rds", "db.t4g.medium", "postgres", DB)]
    return PriceCatalog(
        "eu-west-3",
        [
            Price("eu-west-3", s, i, v, "hour", usd, "test", date(2026, 11, 1))
            for s, i, v, usd in rows
        ],
    )


def _send(meter: RequestMeter, service: str, op: str, times: int = 1, length: int = 0) -> None:
    request = SimpleNamespace(headers={"Content-Length": str(length)} if length else {})
    for _ in range(times):
        meter._on_send(request=request, event_name=f"before-send.{service}.{op}")


def test_s3_requests_are_priced_by_tier_and_deletes_are_free() -> None:
    meter = RequestMeter()
    _send(meter, "s3", "PutObject", 3, length=1000)
    _send(meter, "s3", "ListObjectsV2", 2)
    _send(meter, "s3", "HeadObject", 4)
    _send(meter, "s3", "GetObject", 1)
    _send(meter, "s3", "DeleteObject", 5)
    meter._on_get(parsed={"ContentLength": 500})
    cost = Cost()
    api_spend({}, meter, cost)
    s3 = cost.api["s3_requests"]
    assert (s3["count"], s3["put_copy_post_list"], s3["get_and_other"]) == (15, 5, 5)
    assert s3["free_delete_cancel"] == 5
    assert Decimal(s3["usd"]) == 5 * USD_PER_S3_TIER1 + 5 * USD_PER_S3_TIER2
    assert cost.api["s3_bytes"]["up"] == 3000 and cost.api["s3_bytes"]["down"] == 500
    assert cost.api["s3_bytes"]["usd"] == "0"


def test_task_counts_win_over_the_meter_and_price_list_is_free() -> None:
    meter = RequestMeter()
    _send(meter, "cost-explorer", "GetCostAndUsage", 9)
    _send(meter, "cloudwatch", "GetMetricData", 2)
    _send(meter, "cloudwatch", "ListMetrics", 1)
    _send(meter, "pricing", "GetProducts", 7)
    cost = Cost()
    api_spend({"metrics_requested": 2500, "ce_requests": 3}, meter, cost)
    assert Decimal(cost.api["getmetricdata_metrics"]["usd"]) == Decimal("0.025")
    assert Decimal(cost.api["ce_requests"]["usd"]) == Decimal("0.03")
    assert Decimal(cost.api["cloudwatch_requests"]["usd"]) == Decimal("0.00001")
    assert cost.api["pricing_requests"]["count"] == 7
    assert Decimal(cost.api["pricing_requests"]["usd"]) == 0
    assert cost.api_usd == Decimal("0.025") + Decimal("0.03") + Decimal("0.00001")
    assert cost.problems == []


def test_getmetricdata_without_a_count_is_named_not_guessed() -> None:
    meter = RequestMeter()
    _send(meter, "cloudwatch", "GetMetricData", 1)
    cost = Cost()
    api_spend({}, meter, cost)
    assert "getmetricdata_metrics" not in cost.api
    assert "metrics_requested" in cost.problems[0]


def test_compute_share_is_time_times_host_and_database() -> None:
    cost = Cost()
    compute_share(1800.0, Compute("t3.large", "db.t4g.medium"), _catalog(), cost)
    assert Decimal(cost.compute["usd"]) == (HOST + DB) / 2
    assert cost.usd == (HOST + DB) / 2
    assert cost.problems == []


def test_an_unpriced_host_is_a_problem_and_the_rest_is_still_priced() -> None:
    cost = Cost()
    compute_share(3600.0, Compute("x9.huge", "db.t4g.medium"), _catalog(), cost)
    assert Decimal(cost.compute["usd"]) == DB
    assert cost.problems and cost.problems[0].startswith("host: 'x9.huge'")
    basis = cost.basis()
    assert basis["problems"] == cost.problems and Decimal(basis["usd"]) == DB
