from __future__ import annotations

from typing import Any

import pytest

from dashboards.build import all_dashboards, queries
from dashboards.check import Outcome, PgRunner, check_dashboard
from dashboards.macros import TimeRange
from dashboards.orchestrator import UID
from infra.db import connect
from tests.support.orchestrator import Seeded


def _board() -> dict[str, Any]:
    return next(b for b in all_dashboards() if b["uid"] == UID)


def _outcomes(url: str) -> list[Outcome]:
    with connect(url) as conn:
        return check_dashboard(PgRunner(conn), _board(), TimeRange.last("7d"))


@pytest.mark.slow
def test_every_orchestrator_query_returns_what_its_panel_needs(seeded: Seeded) -> None:
    outcomes = _outcomes(seeded.url)
    failed = {f"{o.query.kind} {o.query.title}": o.problems for o in outcomes if not o.ok}
    assert failed == {}
    # every query of the dashboard was run: panels, the annotation and the variable
    assert len(outcomes) == len(list(queries(_board())))
    by_title = {o.query.title: o for o in outcomes}
    for outcome in outcomes:
        assert outcome.rows >= 1, outcome.query.title
        if outcome.query.kind == "timeseries":
            assert outcome.query.format == "time_series"
            assert outcome.columns[0] == "time"
            assert outcome.frame is not None
            times = outcome.frame.column("time")
            assert times == sorted(times)

    def column(title: str, name: str) -> list[Any]:
        frame = by_title[title].frame
        assert frame is not None
        return frame.column(name)

    # what the seeded runs should show, panel by panel
    assert set(column("Job runs by status", "metric")) >= {"success", "failed"}
    assert set(column("Failed runs by job", "metric")) == {"dash.boom", "nightly"}
    assert "disk full on /data" in " ".join(column("Recent failures", "error"))
    assert any("nightly/2:dash.boom" == job for job in column("Recent failures", "job"))
    status = dict(
        zip(
            column("Last success per job", "job"),
            column("Last success per job", "last_status"),
            strict=True,
        )
    )
    assert status["dash.boom"] == "failed" and status["core.noop"] == "success"
    assert column("Jobs failing now", "failing_jobs") == [2]  # dash.boom and nightly
    assert column("Live services", "leaders") == [1]
    assert column("Schema version", "schema_version")[0] >= 40
    changes = column("Parameter changes", "summary")
    assert "note: heartbeat → every second" in changes and "created" in changes
    assert set(column("Parameter changes", "changed_by")) == {"alice", "bob"}
    assert "added " in " ".join(column("Schedule changes", "summary"))
    assert "dash.tick" in column("$job", "job_id")
    assert "schedules[dash.tick] update by bob: note: heartbeat → every second" in column(
        "Parameter edits", "text"
    )
    assert column("Price catalog", "items")[0] > 0
    durations = dict(
        zip(
            column("Duration per job", "job"),
            column("Duration per job", "max_seconds"),
            strict=True,
        )
    )
    assert durations["core.noop.slow"] >= 0.05


@pytest.mark.slow
def test_a_panel_over_an_empty_range_is_reported_as_returning_nothing(seeded: Seeded) -> None:
    from datetime import UTC, datetime, timedelta

    long_ago = datetime.now(UTC) - timedelta(days=400)
    with connect(seeded.url) as conn:
        outcomes = check_dashboard(PgRunner(conn), _board(), TimeRange.last("1d", long_ago))
    empty = {o.query.title for o in outcomes if "returned no rows" in o.problems}
    assert {"Job runs by status", "Recent failures", "Parameter changes"} <= empty
    # state panels do not depend on the range and still hold up
    assert {o.query.title for o in outcomes if o.ok} >= {"Last success per job", "Schema version"}
