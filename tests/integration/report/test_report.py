"""The report's figures equal the database's: each is recomputed here from the raw views."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg.rows import dict_row

from dashboards.report import make_report
from dashboards.report.build import build_report
from dashboards.report.model import Period, ReportContext, Section, SectionContent
from dashboards.report.sections import SECTIONS
from infra.db import connect
from infra.errors import DatabaseError, ReportError
from infra.settings import Settings
from tests.support.orchestrator import seeded_database
from tests.support.report_html import Parsed, parse

pytestmark = pytest.mark.slow
TODAY = datetime.now(UTC).date()
PERIOD = Period.containing(TODAY)


@pytest.fixture(scope="module")
def report(
    tmp_path_factory: pytest.TempPathFactory, admin_url: str, template_url: str
) -> Iterator[tuple[Parsed, dict[str, list[dict[str, Any]]], Path]]:
    """One seeded database for the module: the report, and the raw views read independently."""
    from tests.support import pg

    url = pg.create_db(admin_url, "locxia_r", template=template_url.rsplit("/", 1)[1])
    tmp = tmp_path_factory.mktemp("report")
    try:
        settings = Settings(database_url=url)
        with seeded_database(settings, url):
            pass  # the service has stopped: nothing moves while the report is compared
        written = make_report(url, tmp / "report.html", png_dir=tmp / "png", today=TODAY)
        raw = _raw_views(url)
        yield parse(written.html.read_text()), raw, tmp
    finally:
        pg.drop_db(admin_url, url)


def _raw_views(url: str) -> dict[str, list[dict[str, Any]]]:
    with connect(url, row_factory=dict_row) as conn:
        return {
            view: conn.execute(f"SELECT * FROM reporting.{view}").fetchall()
            for view in ("job_runs", "job_status", "services", "parameter_changes")
        }


def _in_month(ts: datetime | None) -> bool:
    start, end = PERIOD.bounds()
    return ts is not None and start <= ts < end


def _num(text: str) -> float:
    return float(text)


def test_every_registered_section_is_in_the_report(report: Any) -> None:
    parsed, _, _ = report
    assert parsed.sections == [s.key for s in SECTIONS]
    assert parsed.views == {s.key: f"reporting.{s.view}" for s in SECTIONS}


def test_run_figures_equal_the_database(report: Any) -> None:
    parsed, raw, _ = report
    runs = [r for r in raw["job_runs"] if not r["is_step"] and _in_month(r["started_at"])]
    statuses = Counter(r["status"] for r in runs)
    assert runs and statuses["failed"] > 0  # the seed has failures: the test means something
    assert int(parsed.figures["runs.total"]) == len(runs)
    assert int(parsed.figures["runs.succeeded"]) == statuses["success"]
    assert int(parsed.figures["runs.failed"]) == statuses["failed"]
    rate = 100 * statuses["success"] / (statuses["success"] + statuses["failed"])
    assert _num(parsed.figures["runs.success_percent"]) == round(rate, 1)
    assert int(parsed.figures["runs.jobs"]) == len({r["job_id"] for r in runs})


def test_runs_per_job_table_equals_the_database(report: Any) -> None:
    parsed, raw, _ = report
    runs = [r for r in raw["job_runs"] if not r["is_step"] and _in_month(r["started_at"])]
    table = {row[0]: row for row in parsed.tables["runs.per_job"]}
    assert set(table) == {r["job_id"] for r in runs}
    for job, row in table.items():
        mine = [r for r in runs if r["job_id"] == job]
        durations = [r["duration_seconds"] for r in mine if r["duration_seconds"] is not None]
        assert int(row[1]) == len(mine)
        assert int(row[2]) == sum(r["status"] == "failed" for r in mine)
        if durations:
            assert _num(row[3]) == pytest.approx(statistics.median(durations), abs=1e-3)
            assert _num(row[4]) == pytest.approx(max(durations), abs=1e-3)
        assert datetime.fromisoformat(row[5]) == max(r["started_at"] for r in mine)


def test_runs_per_day_chart_equals_the_database(report: Any) -> None:
    parsed, raw, _ = report
    runs = [r for r in raw["job_runs"] if not r["is_step"] and _in_month(r["started_at"])]
    counts = Counter((r["started_at"].astimezone(UTC).date(), r["status"]) for r in runs)
    rows = parsed.tables["chart:runs.per_day"]
    statuses = sorted({s for _, s in counts})
    assert len(rows) == len(PERIOD.days(until=TODAY + timedelta(days=1)))
    for row in rows:
        day = date.fromisoformat(row[0])
        assert [_num(v) for v in row[1:]] == [counts[day, s] for s in statuses]
    assert "runs.per_day" in parsed.charts


def test_failures_equal_the_database(report: Any) -> None:
    parsed, raw, _ = report
    failed = [r for r in raw["job_runs"] if r["status"] == "failed" and _in_month(r["started_at"])]
    assert int(parsed.figures["failures.total"]) == len(failed)
    assert int(parsed.figures["failures.jobs"]) == len({r["job_id"] for r in failed})
    latest = sorted(failed, key=lambda r: (r["started_at"], r["run_id"]), reverse=True)[:20]
    assert [(row[1], row[3]) for row in parsed.tables["failures.recent"]] == [
        (r["job_id"], r["error"]) for r in latest
    ]


def test_jobs_now_equal_the_database(report: Any) -> None:
    parsed, raw, _ = report
    jobs = raw["job_status"]
    assert int(parsed.figures["jobs.total"]) == len(jobs)
    assert int(parsed.figures["jobs.failing"]) == sum(j["last_status"] == "failed" for j in jobs)
    table = {row[0]: row for row in parsed.tables["jobs.status"]}
    for job in jobs:
        row = table[job["job_id"]]
        assert (row[1], int(row[4]), int(row[5])) == (
            job["last_status"],
            job["runs"],
            job["failures"],
        )


def test_services_equal_the_database(report: Any) -> None:
    parsed, raw, _ = report
    start, end = PERIOD.bounds()
    seen = [s for s in raw["services"] if s["heartbeat_at"] >= start and s["started_at"] < end]
    assert int(parsed.figures["services.seen"]) == len(seen)
    assert int(parsed.figures["services.alive"]) == sum(bool(s["alive"]) for s in seen)
    assert [row[2] for row in parsed.tables["services.list"]] == ["stopped"]
    assert parsed.figures["services.leader"] == "none"


def test_a_live_leader_is_named(settings: Settings, db_url: str) -> None:
    services = next(s for s in SECTIONS if s.key == "services")
    with seeded_database(settings, db_url) as seeded, connect(db_url) as conn:
        report = build_report(conn, PERIOD, source="test", sections=(services,))
        assert report.figures()["services.leader"].value == seeded.service.id
        assert report.figures()["services.alive"].value == 1


def test_parameter_changes_equal_the_database(report: Any) -> None:
    parsed, raw, _ = report
    changes = [c for c in raw["parameter_changes"] if _in_month(c["changed_at"])]
    assert int(parsed.figures["parameters.changes"]) == len(changes) >= 2
    assert int(parsed.figures["parameters.people"]) == len({c["changed_by"] for c in changes})
    latest = sorted(changes, key=lambda c: (c["changed_at"], c["change_id"]), reverse=True)
    assert [(row[1], row[4]) for row in parsed.tables["parameters.recent"]] == [
        (c["changed_by"], c["summary"]) for c in latest[:20]
    ]
    assert {"alice", "bob"} <= {row[1] for row in parsed.tables["parameters.recent"]}


def test_the_file_is_self_contained(report: Any) -> None:
    parsed, _, tmp = report
    html = (tmp / "report.html").read_text()
    assert not {"script", "link", "img", "iframe", "object", "embed"} & parsed.tags
    assert all(url.startswith("#") for url in parsed.urls), parsed.urls
    assert "@import" not in html and "url(http" not in html
    assert html.count("<svg") == len(parsed.charts) >= 2


def test_png_charts_are_written(report: Any) -> None:
    parsed, _, tmp = report
    pngs = sorted((tmp / "png").iterdir())
    assert [p.name for p in pngs] == sorted(f"{c.replace('.', '-')}.png" for c in parsed.charts)
    for png in pngs:
        data = png.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000


def test_an_empty_database_gives_empty_sections_not_fake_ones(db_url: str, tmp_path: Path) -> None:
    with connect(db_url) as conn:  # migrations' own audited edits of shipped rows (0065)
        migrated = conn.execute(
            "SELECT count(*) FROM params.history WHERE changed_by LIKE 'migration %'"
        ).fetchone()
    parsed = parse(make_report(db_url, tmp_path / "r.html", today=TODAY).html.read_text())
    assert migrated is not None
    shown = {"parameters"} if migrated[0] else set()  # they happened today: this month
    assert parsed.empty == {s.key for s in SECTIONS} - shown
    assert parsed.charts == [f"{key}.per_day" for key in sorted(shown)]
    assert parsed.figures["failures.total"] == "0"


def test_a_past_month_stops_at_its_end(db_url: str, tmp_path: Path) -> None:
    with connect(db_url) as conn:
        conn.execute(
            "INSERT INTO ops.runs (job_id, task, trigger, started_at, ended_at, status)"
            " VALUES ('old', 'core.noop', 'manual', '2026-01-31 23:30+00', '2026-01-31 23:31+00',"
            " 'success'), ('new', 'core.noop', 'manual', '2026-02-01 00:10+00',"
            " '2026-02-01 00:11+00', 'failed')"
        )
        conn.commit()
    report = make_report(db_url, tmp_path / "r.html", period=Period(date(2026, 1, 1)))
    parsed = parse(report.html.read_text())
    assert parsed.figures["runs.total"] == "1" and parsed.figures["failures.total"] == "0"
    assert len(parsed.tables["chart:runs.per_day"]) == 31


def test_a_missing_view_is_an_error_not_an_empty_section(db_url: str, tmp_path: Path) -> None:
    with connect(db_url) as conn:
        conn.execute("DROP VIEW reporting.services")
        conn.commit()
    with pytest.raises(ReportError, match=r"lacks reporting\.services: run `locxia db upgrade`"):
        make_report(db_url, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_a_missing_view_a_section_also_reads_is_refused(db_url: str, tmp_path: Path) -> None:
    assert any("resource_costs" in s.also_reads for s in SECTIONS)
    with connect(db_url) as conn:
        conn.execute("DROP VIEW reporting.resource_costs")
        conn.commit()
    with pytest.raises(ReportError, match=r"lacks reporting\.resource_costs: run `locxia db"):
        make_report(db_url, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def _sneaky(ctx: ReportContext) -> SectionContent:
    ctx.conn.execute("SELECT count(*) FROM ops.runs")
    return SectionContent()


def test_sections_read_as_the_reporting_role(db_url: str) -> None:
    sneaky = Section("sneaky", "Sneaky", "Reads a table?", "job_runs", _sneaky)
    with connect(db_url) as conn, pytest.raises(DatabaseError, match="permission denied"):
        build_report(conn, PERIOD, source="test", sections=(sneaky,))


def test_sections_cannot_write(db_url: str) -> None:
    def writer(ctx: ReportContext) -> SectionContent:
        ctx.conn.execute("CREATE TEMP TABLE t (x int)")
        return SectionContent()

    section = Section("writer", "Writer", "Writes?", "job_runs", writer)
    with connect(db_url) as conn, pytest.raises(DatabaseError, match="read-only|permission"):
        build_report(conn, PERIOD, source="test", sections=(section,))
