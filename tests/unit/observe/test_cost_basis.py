"""Cost Explorer basis, coverage, tag warnings and backfill rules (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from pipelines.observe.costs.explorer import RUN_RATE_TYPES, CostReport, basis_requests
from pipelines.observe.costs.tags import TagStatus, backfill_from, refusal

NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)


def test_usage_basis_is_unblended_cost_of_usage_records_only() -> None:
    (only,) = basis_requests("usage")
    assert (only.charge, only.metric) == ("usage", "UnblendedCost")
    assert only.filter == {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Usage"]}}


def test_net_amortized_basis_splits_every_record_type_into_usage_and_adjustment() -> None:
    usage, adjustment = basis_requests("net-amortized")
    assert {usage.metric, adjustment.metric} == {"NetAmortizedCost"}
    assert usage.filter["Dimensions"]["Values"] == list(RUN_RATE_TYPES)
    assert adjustment.filter == {"Not": usage.filter}  # together: every record type, once
    assert (usage.charge, adjustment.charge) == ("usage", "adjustment")
    assert not {"Credit", "Refund", "Tax", "Support", "Fee"} & set(RUN_RATE_TYPES)


@pytest.mark.parametrize(
    ("newest", "covered"),
    [(date(2026, 11, 19), datetime(2026, 11, 19, tzinfo=UTC)), (None, None)],
    ids=["start-of-newest-day", "nothing-returned"],
)
def test_coverage_ends_at_the_start_of_the_newest_day(
    newest: date | None, covered: datetime | None
) -> None:
    report = CostReport(date(2026, 11, 6), date(2026, 11, 20), newest_day=newest)
    assert report.covered_until == covered
    assert report.details()["covered_until"] == (covered.isoformat() if covered else None)


@pytest.mark.parametrize(
    ("now", "first"),
    [
        (NOW, date(2025, 11, 1)),
        (datetime(2026, 1, 31, 23, tzinfo=UTC), date(2025, 1, 1)),
        (datetime(2026, 12, 1, tzinfo=UTC), date(2025, 12, 1)),
    ],
    ids=["mid-month", "january", "first-of-december"],
)
def test_backfill_starts_twelve_months_back_on_a_first(now: datetime, first: date) -> None:
    assert backfill_from(now) == first


def _item(status: str, requested: str) -> dict[str, Any]:
    return {"BackfillFrom": "2025-11-01T00:00:00Z", "RequestedAt": requested,
            "BackfillStatus": status}  # fmt: skip


@pytest.mark.parametrize(
    ("history", "why"),
    [
        ([], None),
        ([_item("SUCCEEDED", "2026-11-19T09:59:00Z")], None),  # 24 h and 1 minute ago
        ([_item("SUCCEEDED", "2026-11-19T10:01:00Z")], "less than 24 hours ago"),
        ([_item("PROCESSING", "2026-11-10T00:00:00Z")], "in progress"),
        ([_item("FAILED", "2026-11-20T09:00:00Z")], "less than 24 hours ago"),
    ],
    ids=["none", "old-enough", "too-recent", "processing", "failed-but-recent"],
)
def test_backfill_refusals(history: list[dict[str, Any]], why: str | None) -> None:
    line = refusal(history, NOW)
    if why is None:
        assert line is None
    else:
        assert line is not None and why in line and "\n" not in line


def test_only_a_tag_that_is_not_active_warns() -> None:
    assert TagStatus("project", "Active", "Locxia resources").warning is None
    for status in ("Inactive", "Unknown"):
        warning = TagStatus("team", status, "tag budgets").warning
        assert warning is not None and status in warning and "team$" in warning
