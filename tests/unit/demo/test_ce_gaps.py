"""The Cost Explorer stand-in answers as AWS documents it (pure logic: no server, no network)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from infra.demo.gaps import GapError
from infra.demo.gaps.ce import CostExplorerGaps

NOW = "2026-11-20T12:00:00Z"
RDS = "Amazon Relational Database Service"
EC2 = "Amazon Elastic Compute Cloud - Compute"
LOCXIA = {"project": "locxia"}


def _line(day: str, usd: str, record_type: str = "Usage", **kw: Any) -> dict[str, Any]:
    return {"day": day, "service": kw.pop("service", RDS), "record_type": record_type,
            "tags": kw.pop("tags", LOCXIA), "unblended": usd, **kw}  # fmt: skip


def _ce(lines: list[dict[str, Any]], status: str = "Active", **extra: Any) -> CostExplorerGaps:
    ce = CostExplorerGaps()
    tags = [{"TagKey": "project", "Status": status, "Type": "UserDefined", **extra.pop("tag", {})}]
    ce.seed({"lines": lines, "tags": tags, "now": NOW, **extra})
    return ce


def _ask(ce: CostExplorerGaps, start: str, end: str, **kw: Any) -> dict[str, Any]:
    request = {"TimePeriod": {"Start": start, "End": end}, "Granularity": "DAILY",
               "Metrics": kw.pop("metrics", ["UnblendedCost"]), **kw}  # fmt: skip
    return ce.get_cost_and_usage(request)


def _groups(answer: dict[str, Any], metric: str = "UnblendedCost") -> dict[tuple[str, ...], str]:
    return {
        (r["TimePeriod"]["Start"], *g["Keys"]): g["Metrics"][metric]["Amount"]
        for r in answer["ResultsByTime"]
        for g in r["Groups"]
    }


BY_TAG = [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "TAG", "Key": "project"}]
MIXED = [
    _line("2026-11-01", "10", "Usage"),
    _line("2026-11-01", "-4", "Credit", net_amortized="-4"),
    _line("2026-11-01", "2.2", "Tax", tags={}),
    _line("2026-11-02", "10", "Usage"),
]


def test_every_day_of_the_period_is_returned_grouped_by_service_and_tag() -> None:
    answer = _ask(_ce(MIXED), "2026-11-01", "2026-11-04", GroupBy=BY_TAG)
    days = [r["TimePeriod"] for r in answer["ResultsByTime"]]
    assert days == [
        {"Start": "2026-11-01", "End": "2026-11-02"},
        {"Start": "2026-11-02", "End": "2026-11-03"},
        {"Start": "2026-11-03", "End": "2026-11-04"},
    ]
    assert answer["ResultsByTime"][2]["Groups"] == []  # a day without cost is still a result
    assert answer["ResultsByTime"][0]["Total"] == {}  # AWS leaves Total empty when grouped
    assert _groups(answer) == {
        ("2026-11-01", RDS, "project$locxia"): "6",  # usage and credit net in one group
        ("2026-11-01", RDS, "project$"): "2.2",  # the tax line carries no tag
        ("2026-11-02", RDS, "project$locxia"): "10",
    }
    assert answer["GroupDefinitions"] == BY_TAG and "NextPageToken" not in answer


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Usage"]}}, "10"),
        ({"Not": {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Usage"]}}}, "-1.8"),
        (
            {
                "And": [
                    {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Usage", "Tax"]}},
                    {"Tags": {"Key": "project", "Values": ["locxia"]}},
                ]
            },
            "10",
        ),  # fmt: skip
        ({"Tags": {"Key": "project", "MatchOptions": ["ABSENT"]}}, "2.2"),
        (None, "8.2"),
    ],
    ids=["usage-only", "not-usage", "and-tag", "tag-absent", "no-filter"],
)
def test_filter_on_record_type_and_tags(filter_: dict[str, Any] | None, expected: str) -> None:
    kw = {"Filter": filter_} if filter_ else {}
    answer = _ask(_ce(MIXED), "2026-11-01", "2026-11-02", **kw)
    assert answer["ResultsByTime"][0]["Total"]["UnblendedCost"] == {
        "Amount": expected,
        "Unit": "USD",
    }


def test_net_amortized_is_its_own_metric() -> None:
    ce = _ce([_line("2026-11-01", "10", net_amortized="7.5")])
    answer = _ask(ce, "2026-11-01", "2026-11-02", metrics=["UnblendedCost", "NetAmortizedCost"])
    total = answer["ResultsByTime"][0]["Total"]
    assert (total["UnblendedCost"]["Amount"], total["NetAmortizedCost"]["Amount"]) == ("10", "7.5")


def test_an_inactive_tag_groups_every_cost_as_untagged() -> None:
    answer = _ask(_ce(MIXED, status="Inactive"), "2026-11-01", "2026-11-02", GroupBy=BY_TAG)
    assert _groups(answer) == {("2026-11-01", RDS, "project$"): "8.2"}


def test_activation_applies_from_its_day_until_a_backfill() -> None:
    lines = [_line("2026-10-15", "1"), _line("2026-11-10", "2")]
    ce = _ce(lines, tag={"LastUpdatedDate": "2026-11-01T00:00:00Z"})
    before = _groups(_ask(ce, "2026-10-15", "2026-11-11", GroupBy=BY_TAG))
    assert before == {
        ("2026-10-15", RDS, "project$"): "1",  # before the activation: untagged
        ("2026-11-10", RDS, "project$locxia"): "2",
    }
    ce.start_backfill({"BackfillFrom": "2026-10-01T00:00:00Z"})
    after = _groups(_ask(ce, "2026-10-15", "2026-11-11", GroupBy=BY_TAG))
    assert after[("2026-10-15", RDS, "project$locxia")] == "1"


def test_update_status_activates_from_the_stand_ins_today() -> None:
    ce = _ce([_line("2026-11-19", "1"), _line("2026-11-20", "2")], status="Inactive")
    out = ce.update_cost_allocation_tags_status(
        {"CostAllocationTagsStatus": [
            {"TagKey": "project", "Status": "Active"}, {"TagKey": "nope", "Status": "Active"}
        ]}
    )  # fmt: skip
    assert [e["TagKey"] for e in out["Errors"]] == ["nope"]
    listed = ce.list_cost_allocation_tags({"TagKeys": ["project"]})["CostAllocationTags"]
    assert listed == [{"TagKey": "project", "Type": "UserDefined", "Status": "Active",
                       "LastUpdatedDate": NOW}]  # fmt: skip
    groups = _groups(_ask(ce, "2026-11-19", "2026-11-21", GroupBy=BY_TAG))
    assert groups == {
        ("2026-11-19", RDS, "project$"): "1",
        ("2026-11-20", RDS, "project$locxia"): "2",
    }


def test_list_tags_filters_and_shows_keys_seen_on_lines_as_inactive() -> None:
    ce = _ce([_line("2026-11-01", "1", tags={"project": "locxia", "team": "data"})])
    tags = ce.list_cost_allocation_tags({})["CostAllocationTags"]
    assert [(t["TagKey"], t["Status"]) for t in tags] == [
        ("project", "Active"),
        ("team", "Inactive"),
    ]
    inactive = ce.list_cost_allocation_tags({"Status": "Inactive"})["CostAllocationTags"]
    assert [t["TagKey"] for t in inactive] == ["team"]
    first = ce.list_cost_allocation_tags({"MaxResults": 1})
    second = ce.list_cost_allocation_tags({"MaxResults": 1, "NextToken": first["NextToken"]})
    assert [t["TagKey"] for t in first["CostAllocationTags"] + second["CostAllocationTags"]] == [
        "project",
        "team",
    ]
    assert "NextToken" not in second


def test_backfill_once_per_24_hours_and_never_while_processing() -> None:
    ce = _ce([], backfill_seconds=3600)
    made = ce.start_backfill({"BackfillFrom": "2025-11-01T00:00:00Z"})["BackfillRequest"]
    assert made["BackfillStatus"] == "PROCESSING" and made["RequestedAt"] == NOW
    with pytest.raises(GapError) as busy:
        ce.start_backfill({"BackfillFrom": "2026-01-01T00:00:00Z"})
    assert busy.value.code == "BackfillLimitExceededException"
    ce.fixed_now = datetime(2026, 11, 20, 14, tzinfo=UTC)  # done, but within 24 h
    history = ce.backfill_history({})["BackfillRequests"]
    assert [(h["BackfillStatus"], h["CompletedAt"]) for h in history] == [
        ("SUCCEEDED", "2026-11-20T13:00:00Z")
    ]
    with pytest.raises(GapError):
        ce.start_backfill({"BackfillFrom": "2026-01-01T00:00:00Z"})
    ce.fixed_now = datetime(2026, 11, 21, 12, tzinfo=UTC)  # 24 h later: allowed again
    ce.start_backfill({"BackfillFrom": "2026-01-01T00:00:00Z"})
    assert len(ce.backfill_history({})["BackfillRequests"]) == 2


@pytest.mark.parametrize(
    "backfill_from",
    ["2025-10-01T00:00:00Z", "2026-11-02T00:00:00Z", "2026-12-01T00:00:00Z", "2026-11-01"],
    ids=["over-12-months", "not-first-of-month", "future", "not-a-timestamp"],
)
def test_backfill_from_is_checked(backfill_from: str) -> None:
    with pytest.raises(GapError) as refused:
        _ce([]).start_backfill({"BackfillFrom": backfill_from})
    assert refused.value.code == "ValidationException"


def test_seeded_history_counts_for_the_24_hours() -> None:
    earlier = {"BackfillFrom": "2026-01-01T00:00:00Z", "RequestedAt": "2026-11-20T02:00:00Z",
               "BackfillStatus": "SUCCEEDED"}  # fmt: skip
    ce = _ce([], backfills=[earlier])
    with pytest.raises(GapError):
        ce.start_backfill({"BackfillFrom": "2026-01-01T00:00:00Z"})


def test_estimated_days_and_paging() -> None:
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(5)]
    ce = _ce([_line(d.isoformat(), "1") for d in days], estimated_from="2026-11-04", page_size=2)
    request = {"TimePeriod": {"Start": "2026-11-01", "End": "2026-11-06"}, "Granularity": "DAILY",
               "Metrics": ["UnblendedCost"]}  # fmt: skip
    results: list[dict[str, Any]] = []
    pages = 0
    while True:
        page = ce.get_cost_and_usage(request)
        pages += 1
        results += page["ResultsByTime"]
        if "NextPageToken" not in page:
            break
        request["NextPageToken"] = page["NextPageToken"]
    assert pages == 3
    assert [(r["TimePeriod"]["Start"], r["Estimated"]) for r in results] == [
        (d.isoformat(), d >= date(2026, 11, 4)) for d in days
    ]
    with pytest.raises(GapError) as bad:
        ce.get_cost_and_usage({**request, "Metrics": ["NetAmortizedCost"]})
    assert bad.value.code == "InvalidNextTokenException"  # a token of another request


@pytest.mark.parametrize(
    "change",
    [
        {"Granularity": "HOURLY"},
        {"Metrics": ["BlendedCost"]},
        {"TimePeriod": {"Start": "2026-11-02", "End": "2026-11-01"}},
        {"GroupBy": [{"Type": "DIMENSION", "Key": "REGION"}]},
        {"Filter": {"Dimensions": {"Key": "REGION", "Values": ["eu-west-3"]}}},
    ],
    ids=["hourly", "metric", "period", "group", "dimension"],
)
def test_what_is_not_modelled_is_refused(change: dict[str, Any]) -> None:
    request = {"TimePeriod": {"Start": "2026-11-01", "End": "2026-11-02"}, "Granularity": "DAILY",
               "Metrics": ["UnblendedCost"], **change}  # fmt: skip
    with pytest.raises(GapError) as refused:
        _ce([]).get_cost_and_usage(request)
    assert refused.value.code == "ValidationException"


def test_a_bad_seed_changes_nothing_and_reset_forgets() -> None:
    ce = _ce([_line("2026-11-01", "1")])
    with pytest.raises(GapError):
        ce.seed({"lines": [{"day": "2026-11-01"}]})
    assert [ln.unblended for ln in ce.lines] == [Decimal(1)]
    ce.reset()
    assert (
        ce.lines == []
        and ce.tags == {}
        and ce.list_cost_allocation_tags({}) == {"CostAllocationTags": []}
    )
