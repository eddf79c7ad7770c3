"""What each panel type needs from its rows, and how a dashboard's queries are found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from dashboards.grafana.check import REQUIREMENTS, Frame, Query, check_dashboard, dashboard_queries
from dashboards.grafana.macros import TimeRange

T0 = datetime(2026, 3, 1, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)

CASES: list[tuple[str, Frame, list[str]]] = [
    ("timeseries", Frame(("time", "metric", "runs"), [(T0, "ok", 1), (T1, "ok", 2)]), []),
    ("timeseries", Frame(("time", "value"), [(1.0e9, Decimal(1))]), []),
    ("timeseries", Frame(("time", "runs"), []), ["returned no rows"]),
    ("timeseries", Frame(("t", "runs"), [(T0, 1)]), ["no column named 'time' (columns: t, runs)"]),
    (
        "timeseries",
        Frame(("time", "runs"), [(T1, 1), (T0, 2)]),
        ["rows are not sorted by 'time' ascending (Grafana rejects long frames)"],
    ),
    (
        "timeseries",
        Frame(("time", "label"), [(T0, "x")]),
        ["no numeric value column besides 'time'"],
    ),
    (
        "timeseries",
        Frame(("time", "runs"), [(None, 1)]),
        ["column 'time' has NULL or non-time values"],
    ),
    ("stat", Frame(("n",), [(3,)]), []),
    ("stat", Frame(("n",), [(None,)]), ["no numeric value (only NULL or text)"]),
    ("stat", Frame(("flag",), [(True,)]), ["no numeric value (only NULL or text)"]),
    ("stat", Frame(("n",), []), ["returned no rows"]),
    ("table", Frame(("a",), [("x",)]), []),
    ("table", Frame(("a",), []), ["returned no rows"]),
    ("annotation", Frame(("time", "text", "tags"), [(T0, "deploy", "x")]), []),
    ("annotation", Frame(("time", "tags"), [(T0, "x")]), ["no column named 'text'"]),
    ("barchart", Frame(("service", "usd"), [("rds", 3.5)]), []),
    ("barchart", Frame(("a", "usd"), [(1, 3.5)]), ["no text or time column to label the bars"]),
    ("geomap", Frame(("dataset", "latitude", "longitude"), [("b", 48.8, 2.3)]), []),
    ("geomap", Frame(("latitude", "longitude"), []), ["returned no rows"]),
    (
        "geomap",
        Frame(("lat", "longitude"), [(48.8, 2.3)]),
        ["no column named 'latitude' (columns: lat, longitude)"],
    ),
    (
        "geomap",
        Frame(("latitude", "longitude"), [(None, 2.3), (48.8, 200.0)]),
        [
            "column 'latitude' has NULL or values outside ±90 degrees",
            "column 'longitude' has NULL or values outside ±180 degrees",
        ],
    ),
]


@pytest.mark.parametrize(
    ("kind", "frame", "problems"), CASES, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(CASES)]
)
def test_requirements(kind: str, frame: Frame, problems: list[str]) -> None:
    assert REQUIREMENTS[kind](frame) == problems


def _board() -> dict[str, Any]:
    return {
        "uid": "t",
        "templating": {
            "list": [
                {
                    "name": "zone",
                    "type": "custom",
                    "query": "landing,working : work",
                    "current": {"value": "work"},
                },
                {
                    "name": "who",
                    "type": "query",
                    "query": "SELECT name FROM reporting.people",
                    "includeAll": True,
                    "multi": True,
                    "current": {"value": "$__all"},
                },
                {"name": "ds", "type": "datasource", "query": "grafana-postgresql-datasource"},
            ]
        },
        "annotations": {
            "list": [{"name": "events", "enable": True, "target": {"rawSql": "SELECT 1"}}]
        },
        "panels": [
            {
                "type": "row",
                "title": "r",
                "panels": [
                    {
                        "type": "xychart",
                        "title": "map",
                        "targets": [{"refId": "A", "rawSql": "SELECT '$zone'"}],
                    },
                ],
            },
            {
                "type": "table",
                "title": "who",
                "interval": "1h",
                "targets": [
                    {
                        "refId": "A",
                        "rawSql": "SELECT * FROM t WHERE who IN ($who) AND $__timeFilter(ts)",
                    },
                ],
            },
        ],
    }


class Recorder:
    def __init__(self) -> None:
        self.sql: list[str] = []

    def __call__(self, sql: str) -> Frame:
        self.sql.append(sql)
        if "reporting.people" in sql:
            return Frame(("name",), [("ann",), ("bob",), (None,)])
        if "FROM t" in sql:
            raise RuntimeError('relation "t" does not exist\nLINE 1: ...')
        return Frame(("x",), [(1,)])


def test_check_dashboard_resolves_variables_and_reports_every_query() -> None:
    run = Recorder()
    now = datetime(2026, 3, 1, tzinfo=UTC)
    outcomes = check_dashboard(run, _board(), TimeRange.last("1d", now))
    assert [(o.query.kind, o.query.title) for o in outcomes] == [
        ("variable", "$who"),
        ("xychart", "map"),
        ("table", "who"),
        ("annotation", "events"),
    ]
    assert outcomes[0].ok
    assert outcomes[3].problems == ("no column named 'time' (columns: x)", "no column named 'text'")
    assert outcomes[1].problems == ("no requirement declared for panel type 'xychart'",)
    assert outcomes[1].sql == "SELECT 'work'"
    assert outcomes[2].problems == ('query failed: relation "t" does not exist',)
    assert "who IN ('ann','bob')" in outcomes[2].sql
    assert "ts BETWEEN '2026-02-28T00:00:00Z' AND '2026-03-01T00:00:00Z'" in outcomes[2].sql


def test_dashboard_queries_carry_panel_interval_and_format() -> None:
    found = list(dashboard_queries(_board()))
    assert [q.title for q in found] == ["map", "who", "events"]
    assert found[1] == Query(
        "t", "who", "table", "A", found[1].raw_sql, "table", timedelta(hours=1)
    )


def test_an_exception_table_may_be_empty_and_no_other_table_may() -> None:
    """No cost anomaly is the healthy state: that table passes empty; any other fails."""
    board = {
        "uid": "locxia-costs",
        "panels": [
            {"type": "table", "title": title, "targets": [{"refId": "A", "rawSql": "SELECT 1"}]}
            for title in ("Cost anomalies · CE basis ${cost_basis}", "Top resources")
        ],
    }
    outcomes = check_dashboard(
        lambda sql: Frame(("x",), []), board, TimeRange.last("1d", datetime(2026, 3, 1, tzinfo=UTC))
    )
    assert {o.query.title: o.problems for o in outcomes} == {
        "Cost anomalies · CE basis ${cost_basis}": (),
        "Top resources": ("returned no rows",),
    }
