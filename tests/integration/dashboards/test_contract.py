"""Both presentation consumers are held to dashboards.contract, and the views to both of them.

On a seeded week (real rows, so every conditional query of the report and every Grafana
variable has something to work with), each consumer runs in full against stand-in tables that
carry *only* the columns the contract lists for it — the real views are moved aside meanwhile
and put back afterwards. A query reaching for a column or view the contract does not list
fails with PostgreSQL's own "does not exist".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql

from dashboards.contract import CONTRACT, columns_needed, views
from dashboards.grafana.build import all_dashboards
from dashboards.grafana.check import PgRunner, check_dashboard
from dashboards.grafana.macros import TimeRange
from dashboards.report.build import build_report
from dashboards.report.model import Period
from infra.db import connect
from tests.integration.dashboards.conftest import SeededWeek

pytestmark = pytest.mark.slow

ASIDE = "reporting_aside"


def _reporting_views(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.views WHERE table_schema = 'reporting'"
    ).fetchall()
    return sorted(r[0] for r in rows)


@contextmanager
def restricted(conn: psycopg.Connection[Any], uses: Mapping[str, frozenset[str]]) -> Iterator[None]:
    """``reporting`` holds only tables with ``uses``' columns (and rows) until the block ends."""
    moved = _reporting_views(conn)
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(ASIDE)))
    for view in moved:  # views keep working once moved: they refer to each other by oid
        conn.execute(
            sql.SQL("ALTER VIEW {} SET SCHEMA {}").format(
                sql.Identifier("reporting", view), sql.Identifier(ASIDE)
            )
        )
    for view, columns in uses.items():
        conn.execute(
            sql.SQL("CREATE TABLE {} AS SELECT {} FROM {}").format(
                sql.Identifier("reporting", view),
                sql.SQL(", ").join(sql.Identifier(c) for c in sorted(columns)),
                sql.Identifier(ASIDE, view),
            )
        )
    conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO locxia_grafana")
    conn.commit()
    try:
        yield
    finally:
        conn.rollback()
        for view in uses:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier("reporting", view)))
        for view in moved:
            conn.execute(
                sql.SQL("ALTER VIEW {} SET SCHEMA reporting").format(sql.Identifier(ASIDE, view))
            )
        conn.execute(sql.SQL("DROP SCHEMA {}").format(sql.Identifier(ASIDE)))
        conn.commit()


def _failures(conn: psycopg.Connection[Any]) -> list[str]:
    """Every Grafana query that PostgreSQL refused (not panels merely short of rows)."""
    return [
        f"{board['uid']}: {o.query.title}: {problem}"
        for board in all_dashboards()
        for o in check_dashboard(PgRunner(conn), board, TimeRange.last("7d"))
        for problem in o.problems
        if problem.startswith("query failed")
    ]


def test_every_view_provides_what_its_consumers_read(seeded_week: SeededWeek) -> None:
    with connect(seeded_week.url) as conn:
        present = set(_reporting_views(conn))
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'reporting'"
        ).fetchall()
    columns: dict[str, set[str]] = {}
    for view, column in rows:
        columns.setdefault(view, set()).add(column)
    assert set(views()) <= present, sorted(set(views()) - present)
    missing = {v: sorted(columns_needed(v) - columns[v]) for v in views()}
    assert not {v: m for v, m in missing.items() if m}


def test_grafana_reads_only_what_the_contract_lists(seeded_week: SeededWeek) -> None:
    with connect(seeded_week.url) as conn:
        assert _failures(conn) == []  # the real views: every query runs
        with restricted(conn, CONTRACT["grafana"]):
            assert _failures(conn) == []


def test_the_report_reads_only_what_the_contract_lists(seeded_week: SeededWeek) -> None:
    today = datetime.now(UTC).date()
    with connect(seeded_week.url) as conn:
        full = build_report(conn, Period.containing(today), source="test", today=today)
        with restricted(conn, CONTRACT["report"]):
            held = build_report(conn, Period.containing(today), source="test", today=today)
    assert [s.key for s, _ in held.charts()] == [s.key for s, _ in full.charts()]
    assert _figures(held) == pytest.approx(_figures(full))  # row order may differ


def _figures(report: Any) -> dict[str, Any]:
    """Each figure's value by ``key|label|unit`` (floats compared approximately)."""
    return {f"{k}|{f.label}|{f.unit}": f.value for k, f in report.figures().items()}


def test_a_consumer_reaching_beyond_the_contract_fails_here(seeded_week: SeededWeek) -> None:
    """The restriction has teeth: drop one listed column and a consumer's query breaks."""
    uses = dict(CONTRACT["grafana"])
    uses["job_runs"] = uses["job_runs"] - {"status"}
    with connect(seeded_week.url) as conn, restricted(conn, uses):
        failures = _failures(conn)
    assert failures and all("status" in f for f in failures), failures


def test_a_report_reaching_beyond_the_contract_fails_here(seeded_week: SeededWeek) -> None:
    from infra.errors import DatabaseError

    uses = dict(CONTRACT["report"])
    uses["daily_costs"] = uses["daily_costs"] - {"usd"}
    today = datetime.now(UTC).date()
    with connect(seeded_week.url) as conn, restricted(conn, uses):
        with pytest.raises((DatabaseError, psycopg.errors.UndefinedColumn), match="usd"):
            build_report(conn, Period.containing(today), source="test", today=today)
