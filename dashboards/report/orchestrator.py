"""Report sections about the orchestrator itself: runs, failures, jobs, services, parameters.

Each function reads one view of migration 0040 (documented in docs/dashboards.md) for the
report's month and returns plain values. Times are grouped by UTC day.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from dashboards.report.model import Chart, Figure, ReportContext, SectionContent, Table

STATUS_COLORS = {
    "success": "#2e7d32",
    "failed": "#c62828",
    "interrupted": "#ef6c00",
    "running": "#9e9e9e",
}
RECENT = 20  # rows of "latest ..." tables


def _per_day(
    ctx: ReportContext, rows: list[dict[str, Any]], series_key: str, value_key: str
) -> tuple[tuple[date, ...], tuple[tuple[str, tuple[float, ...]], ...]]:
    """Pivot ``(day, series, value)`` rows into one value per day for each series (0 if none)."""
    days = ctx.days()
    cells: dict[str, dict[date, float]] = defaultdict(dict)
    for row in rows:
        cells[str(row[series_key])][row["day"]] = float(row[value_key])
    series = tuple(
        (name, tuple(cells[name].get(day, 0.0) for day in days)) for name in sorted(cells)
    )
    return tuple(days), series


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


# --- runs ------------------------------------------------------------------------------------
def runs_section(ctx: ReportContext) -> SectionContent:
    """Runs started in the month: how many, how they ended, day by day, and per job.

    Chain steps are counted in their parent run.
    """
    totals = ctx.query(
        "job_runs",
        """
        SELECT count(*) AS runs,
               count(*) FILTER (WHERE status = 'success') AS succeeded,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(DISTINCT job_id) AS jobs
          FROM {view}
         WHERE NOT is_step AND started_at >= %(start)s AND started_at < %(end)s
        """,
    )[0]
    if not totals["runs"]:
        return SectionContent(empty=f"No run started in {ctx.period.label}.")
    figures = (
        Figure("runs.total", "Runs", totals["runs"]),
        Figure("runs.succeeded", "Succeeded", totals["succeeded"]),
        Figure("runs.failed", "Failed", totals["failed"]),
        Figure(
            "runs.success_percent",
            "Success rate",
            _percent(totals["succeeded"], totals["succeeded"] + totals["failed"]),
            "percent",
        ),
        Figure("runs.jobs", "Jobs", totals["jobs"]),
    )
    daily = ctx.query(
        "job_runs",
        """
        SELECT (started_at AT TIME ZONE 'UTC')::date AS day, status, count(*) AS runs
          FROM {view}
         WHERE NOT is_step AND started_at >= %(start)s AND started_at < %(end)s
         GROUP BY 1, 2
        """,
    )
    days, series = _per_day(ctx, daily, "status", "runs")
    chart = Chart("runs.per_day", "Runs per day, by status", "stacked_bars", days, series,
                  "runs", STATUS_COLORS)  # fmt: skip
    per_job = ctx.query(
        "job_runs",
        """
        SELECT job_id, count(*) AS runs,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_seconds) AS median_s,
               max(duration_seconds) AS max_s,
               max(started_at) AS last_started
          FROM {view}
         WHERE NOT is_step AND started_at >= %(start)s AND started_at < %(end)s
         GROUP BY job_id
         ORDER BY runs DESC, job_id
        """,
    )
    table = Table(
        "runs.per_job",
        "Runs per job",
        ("job", "runs", "failed", "median (s)", "longest (s)", "last started"),
        tuple(
            (
                r["job_id"],
                r["runs"],
                r["failed"],
                _round(r["median_s"]),
                _round(r["max_s"]),
                r["last_started"],
            )
            for r in per_job
        ),  # fmt: skip
    )
    return SectionContent(figures=figures, charts=(chart,), tables=(table,))


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


# --- failures --------------------------------------------------------------------------------
def failures_section(ctx: ReportContext) -> SectionContent:
    """Failed runs of the month, chain steps included, with their one-line error."""
    totals = ctx.query(
        "job_runs",
        """
        SELECT count(*) AS failed, count(DISTINCT job_id) AS jobs
          FROM {view}
         WHERE status = 'failed' AND started_at >= %(start)s AND started_at < %(end)s
        """,
    )[0]
    figures = (
        Figure("failures.total", "Failed runs", totals["failed"]),
        Figure("failures.jobs", "Jobs affected", totals["jobs"]),
    )
    if not totals["failed"]:
        return SectionContent(figures=figures, empty=f"No failed run in {ctx.period.label}.")
    recent = ctx.query(
        "job_runs",
        """
        SELECT started_at, job_id, task, error
          FROM {view}
         WHERE status = 'failed' AND started_at >= %(start)s AND started_at < %(end)s
         ORDER BY started_at DESC, run_id DESC
         LIMIT %(limit)s
        """,
        {"limit": RECENT},
    )
    table = Table(
        "failures.recent",
        f"Latest failures (up to {RECENT})",
        ("started", "job", "task", "error"),
        tuple((r["started_at"], r["job_id"], r["task"], r["error"]) for r in recent),
    )
    return SectionContent(figures=figures, tables=(table,))


# --- jobs now --------------------------------------------------------------------------------
def jobs_section(ctx: ReportContext) -> SectionContent:
    """Each job as it stands now: its last run, its last success, runs and failures kept."""
    rows = ctx.query(
        "job_status",
        """
        SELECT job_id, last_status, last_started_at, last_success_at, runs, failures
          FROM {view}
         ORDER BY (last_status = 'failed') DESC, job_id
        """,
    )
    if not rows:
        return SectionContent(empty="No job has run yet.")
    figures = (
        Figure("jobs.total", "Jobs", len(rows)),
        Figure("jobs.failing", "Failing now", sum(r["last_status"] == "failed" for r in rows)),
    )
    table = Table(
        "jobs.status",
        "Last run and last success per job (now, whatever the month)",
        ("job", "last status", "last run", "last success", "runs kept", "failures kept"),
        tuple(
            (
                r["job_id"],
                r["last_status"],
                r["last_started_at"],
                r["last_success_at"],
                r["runs"],
                r["failures"],
            )
            for r in rows
        ),  # fmt: skip
    )
    return SectionContent(figures=figures, tables=(table,))


# --- services --------------------------------------------------------------------------------
def services_section(ctx: ReportContext) -> SectionContent:
    """The `locxia serve` processes active during the month, and whether one leads now."""
    rows = ctx.query(
        "services",
        """
        SELECT service_id, host, role, started_at, heartbeat_at, alive
          FROM {view}
         WHERE heartbeat_at >= %(start)s AND started_at < %(end)s
         ORDER BY alive DESC, heartbeat_at DESC, service_id
        """,
    )
    if not rows:
        return SectionContent(empty=f"No service ran in {ctx.period.label}.")
    leaders = [r["service_id"] for r in rows if r["alive"] and r["role"] == "leader"]
    figures = (
        Figure("services.seen", "Services seen", len(rows)),
        Figure("services.alive", "Alive now", sum(bool(r["alive"]) for r in rows)),
        Figure("services.leader", "Leader now", leaders[0] if leaders else "none", "text"),
    )
    table = Table(
        "services.list",
        "Services and their heartbeats",
        ("service", "host", "role", "started", "last heartbeat", "alive"),
        tuple(
            (
                r["service_id"],
                r["host"],
                r["role"],
                r["started_at"],
                r["heartbeat_at"],
                "yes" if r["alive"] else "no",
            )
            for r in rows
        ),  # fmt: skip
    )
    return SectionContent(figures=figures, tables=(table,))


# --- parameter changes -----------------------------------------------------------------------
def parameter_changes_section(ctx: ReportContext) -> SectionContent:
    """Who changed which parameter row in the month, from what to what."""
    totals = ctx.query(
        "parameter_changes",
        """
        SELECT count(*) AS changes, count(DISTINCT changed_by) AS people
          FROM {view}
         WHERE changed_at >= %(start)s AND changed_at < %(end)s
        """,
    )[0]
    if not totals["changes"]:
        return SectionContent(empty=f"No parameter changed in {ctx.period.label}.")
    figures = (
        Figure("parameters.changes", "Changes", totals["changes"]),
        Figure("parameters.people", "People", totals["people"]),
    )
    daily = ctx.query(
        "parameter_changes",
        """
        SELECT (changed_at AT TIME ZONE 'UTC')::date AS day, table_name, count(*) AS changes
          FROM {view}
         WHERE changed_at >= %(start)s AND changed_at < %(end)s
         GROUP BY 1, 2
        """,
    )
    days, series = _per_day(ctx, daily, "table_name", "changes")
    chart = Chart("parameters.per_day", "Parameter changes per day, by table", "stacked_bars",
                  days, series, "changes")  # fmt: skip
    recent = ctx.query(
        "parameter_changes",
        """
        SELECT changed_at, changed_by, table_name, row_key, summary
          FROM {view}
         WHERE changed_at >= %(start)s AND changed_at < %(end)s
         ORDER BY changed_at DESC, change_id DESC
         LIMIT %(limit)s
        """,
        {"limit": RECENT},
    )
    table = Table(
        "parameters.recent",
        f"Latest changes (up to {RECENT})",
        ("when", "who", "table", "row", "change"),
        tuple(
            (r["changed_at"], r["changed_by"], r["table_name"], r["row_key"], r["summary"])
            for r in recent
        ),
    )
    return SectionContent(figures=figures, charts=(chart,), tables=(table,))
