"""Build a report from the database and write it (HTML, and PNG charts on request).

The queries run in one read-only transaction, as ``locxia_grafana`` when the login may take
that role (the role that can read ``reporting`` and nothing else), so a section cannot read
anything a dashboard could not. Files are written to a temporary name and renamed: a failed
run never leaves half a report where the previous one was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from dashboards.report.model import Period, Report, ReportContext, Section
from dashboards.report.sections import SECTIONS
from infra.db.connection import describe_target
from infra.errors import DatabaseError, ReportError

READ_ROLE = "locxia_grafana"


def missing_views(conn: psycopg.Connection[Any], sections: Sequence[Section]) -> list[str]:
    """The ``reporting`` views the sections need that the database does not have."""
    views = sorted({v for s in sections for v in s.views})
    rows = conn.execute(
        "SELECT v FROM unnest(%s::text[]) AS v WHERE to_regclass('reporting.' || quote_ident(v))"
        " IS NULL",
        (views,),
    ).fetchall()
    return [f"reporting.{r[0]}" for r in rows]


def _read_only(conn: psycopg.Connection[Any]) -> str:
    """Make the current transaction read-only, as the report role when possible; who reads."""
    conn.execute("SET TRANSACTION READ ONLY")
    try:
        with conn.transaction():  # a savepoint: a refused SET ROLE leaves the rest usable
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(READ_ROLE)))
    except psycopg.errors.InsufficientPrivilege:
        return "the database login (it may not take the locxia_grafana role)"
    return READ_ROLE


def build_report(
    conn: psycopg.Connection[Any],
    period: Period,
    *,
    source: str,
    today: date | None = None,
    sections: Sequence[Section] = SECTIONS,
    now: datetime | None = None,
) -> Report:
    """Read every section's view for ``period`` and return the report's content.

    Args:
        conn: a connection (not in a transaction); left as it was found.
        period: the month to report on.
        source: where the data came from, for the header (no credentials).
        today: the current UTC date (injected by tests); a current month stops there.
        sections: which sections, in order (default: every registered one).
        now: generation time shown in the header.

    Raises:
        ReportError: a section's view is missing (schema older than the code).
        DatabaseError: a query failed.
    """
    now = now or datetime.now(UTC)
    today = today or now.date()
    missing = missing_views(conn, sections)
    conn.rollback()
    if missing:
        raise ReportError(f"the database lacks {', '.join(missing)}: run `locxia db upgrade` first")
    try:
        with conn.transaction():
            _read_only(conn)
            context = ReportContext(conn, period, today)
            built = tuple((section, section.build(context)) for section in sections)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseError(f"report query failed: {first}") from exc
    return Report(period, now, source, built)


def report_source(url: str) -> str:
    """``host:port/dbname`` of the database, for the report header (no credentials)."""
    return describe_target(url)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory.

    Raises:
        ReportError: the directory does not exist or is not writable.
    """
    directory = path.parent
    if not directory.is_dir():
        raise ReportError(f"{directory} is not a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ReportError(f"cannot write {path}: {exc.strerror or exc}") from exc


def write_html(report: Report, out: Path) -> Path:
    """Render ``report`` and write it to ``out``; return the path written."""
    from dashboards.report.html import render

    write_atomically(out, render(report).encode("utf-8"))
    return out


def write_pngs(report: Report, directory: Path) -> list[Path]:
    """Write each chart as ``<section>-<chart>.png`` in ``directory`` (created if needed).

    Raises:
        ReportError: the directory cannot be created or written.
    """
    from dashboards.report.charts import to_png

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create {directory}: {exc.strerror or exc}") from exc
    written = []
    for _section, chart in report.charts():
        path = directory / f"{chart.key.replace('.', '-')}.png"
        write_atomically(path, to_png(chart))
        written.append(path)
    return written
