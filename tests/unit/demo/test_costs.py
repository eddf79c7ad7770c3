from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from infra.demo.scenario import explorer
from infra.demo.scenario.estate import Estate
from infra.demo.scenario.estates import DEFAULT_RESOURCES
from infra.prices import PriceCatalog, shipped_prices

ESTATE = Estate(DEFAULT_RESOURCES)
CATALOG = PriceCatalog("eu-west-3", shipped_prices("eu-west-3"))
TODAY = date(2026, 11, 25)
ORIGIN = datetime(2026, 11, 18, tzinfo=UTC)


@pytest.mark.parametrize(
    ("today", "first", "count"),
    [
        (date(2026, 11, 25), date(2026, 11, 1), 24),
        (date(2026, 11, 3), date(2026, 10, 27), 7),
        (date(2026, 12, 1), date(2026, 11, 24), 7),
    ],
    ids=["late-in-month", "early-in-month", "first-of-month"],
)
def test_billing_days_cover_the_month_and_at_least_a_week(
    today: date, first: date, count: int
) -> None:
    days = explorer.billing_days(today)
    assert days[0] == first and len(days) == count and days[-1] < today


def test_lines_are_priced_from_the_catalog() -> None:
    lines = explorer.cost_lines(ESTATE, CATALOG, [date(2026, 11, 20)], ORIGIN)
    by = {(line.resource, line.service): line.usd for line in lines}
    work = Decimal("0.263") * 24 + Decimal("0.133") * 500 / 30
    assert by["work-db", explorer.SERVICES["rds"]] == work.quantize(Decimal("1e-10"))
    assert by["tiles-server", explorer.SERVICES["ec2"]] == Decimal("0.0944") * 24
    ebs = Decimal("0.0928") * 50 / 30
    assert by["tiles-server", explorer.SERVICES["ebs"]] == ebs.quantize(Decimal("1e-10"))
    landing = Decimal("0.024") * (120 + 4 * 2) / 30  # two days after the origin
    assert by["locxia-demo-landing", explorer.SERVICES["s3"]] == landing.quantize(Decimal("1e-10"))
    assert not {"crm-db", "bastion", "acme-website-assets"} & {line.resource for line in lines}


@pytest.mark.parametrize("group_by", ["SERVICE,TAG", "SERVICE", "TAG:Name"])
def test_every_grouping_adds_up_to_the_same_day_totals(group_by: explorer.GroupBy) -> None:
    lines = explorer.cost_lines(ESTATE, CATALOG, explorer.billing_days(TODAY), ORIGIN)
    response = explorer.cost_and_usage(lines, group_by, TODAY, ("project", "locxia"))
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        expected[line.day.isoformat()] += line.usd
    assert [r["TimePeriod"]["Start"] for r in response["ResultsByTime"]] == sorted(expected)
    for result in response["ResultsByTime"]:
        total = sum(Decimal(g["Metrics"]["UnblendedCost"]["Amount"]) for g in result["Groups"])
        assert total == expected[result["TimePeriod"]["Start"]]


def test_the_queued_response_is_what_the_collector_asks_for() -> None:
    """costs.explorer groups by service and by the Locxia tag: keys [service, "key$value"]."""
    lines = explorer.cost_lines(ESTATE, CATALOG, explorer.billing_days(TODAY), ORIGIN)
    (response,) = explorer.results(lines, TODAY, ("project", "locxia"))
    assert response["GroupDefinitions"] == [
        {"Type": "DIMENSION", "Key": "SERVICE"},
        {"Type": "TAG", "Key": "project"},
    ]
    keys = {tuple(g["Keys"]) for r in response["ResultsByTime"] for g in r["Groups"]}
    assert keys == {(service, "project$locxia") for service in explorer.SERVICES.values()}
    by_name = explorer.cost_and_usage(lines, "TAG:Name", TODAY)
    names = {g["Keys"][0] for r in by_name["ResultsByTime"] for g in r["Groups"]}
    assert names == {f"Name${r.name}" for r in ESTATE.tagged}


def test_only_the_last_days_are_estimates() -> None:
    lines = explorer.cost_lines(ESTATE, CATALOG, explorer.billing_days(TODAY), ORIGIN)
    flags = {
        r["TimePeriod"]["Start"]: r["Estimated"]
        for r in explorer.cost_and_usage(lines, "SERVICE", TODAY)["ResultsByTime"]
    }
    assert [d for d, estimated in flags.items() if estimated] == [
        "2026-11-22",
        "2026-11-23",
        "2026-11-24",
    ]


def test_the_digest_is_stable_and_sensitive() -> None:
    lines = explorer.cost_lines(ESTATE, CATALOG, explorer.billing_days(TODAY), ORIGIN)
    payload = explorer.results(lines, TODAY)
    assert explorer.digest(payload) == explorer.digest(explorer.results(lines, TODAY))
    assert explorer.digest(payload) != explorer.digest(explorer.results(lines[1:], TODAY))
