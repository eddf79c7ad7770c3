"""The monthly HTML report: one self-contained file built only from ``reporting`` views.

For people who do not run Grafana, and for the demo. A report is a list of sections
(:mod:`dashboards.report.sections`), each one function reading one view; :func:`make_report`
builds it and writes the HTML (and the charts as PNG on request).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from dashboards.report.model import Period, Report

__all__ = ["Period", "Report", "Written", "make_report", "screenshot"]


@dataclass
class Written:
    """What :func:`make_report` wrote."""

    report: Report
    html: Path
    pngs: list[Path] = field(default_factory=list)


def make_report(
    database_url: str,
    out: Path,
    *,
    period: Period | None = None,
    png_dir: Path | None = None,
    today: date | None = None,
) -> Written:
    """Build the report of ``period`` (default: this month) and write it to ``out``.

    Raises:
        ReportError: a view is missing, or a file cannot be written.
        DatabaseError: the database cannot be reached or a query failed.
    """
    from dashboards.report.build import build_report, report_source, write_html, write_pngs
    from infra.db import connect

    now = datetime.now(UTC)
    today = today or now.date()
    period = period or Period.containing(today)
    with connect(database_url, application_name="locxia:report") as conn:
        report = build_report(
            conn, period, source=report_source(database_url), today=today, now=now
        )
    written = Written(report, write_html(report, out))
    if png_dir is not None:
        written.pngs = write_pngs(report, png_dir)
    return written


def screenshot(html: Path, png: Path) -> int:
    """Open ``html`` in headless Chromium and write a full-page PNG; return its height (px).

    Raises:
        ReportError: Chromium is missing or failed, or the page logged console errors.
    """
    from dashboards.report.browser import render
    from dashboards.report.build import write_atomically
    from infra.errors import ReportError

    rendered = render(html)
    if rendered.errors:
        more = f" (+{len(rendered.errors) - 1} more)" if len(rendered.errors) > 1 else ""
        raise ReportError(f"{html} logged browser console errors: {rendered.errors[0]}{more}")
    assert rendered.screenshot is not None
    write_atomically(png, rendered.screenshot)
    return rendered.height
