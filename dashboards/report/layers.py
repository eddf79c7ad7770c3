"""Report sections about the data feed: how fresh each dataset's published layer is.

Reads ``reporting.datasets`` (migration 0044, documented in docs/dashboards.md), which decides
what "stale" means once for the dashboards and the report: nothing published, a newer landed
version that is not the live one (rejected by quality, or waiting for refine or publish), or a
failed last run of the dataset's scheduled feed. Freshness is a state, so the section shows it
as it is now, whatever the month of the report. The versions rejected in the month (by ingest,
refine or publish, with their reason: migration 0061) come from ``reporting.dataset_versions``.
"""

from __future__ import annotations

from dashboards.report.model import Figure, ReportContext, SectionContent, Table

ZONES = ("exposure", "working", "landing", "declared")


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(float(seconds) / 3600, 1)


def freshness_section(ctx: ReportContext) -> SectionContent:
    """Datasets by zone with their live version, its age, and which are stale (and why)."""
    rows = ctx.query(
        "datasets",
        """
        SELECT dataset, zone, live_version_id, published_at, age_seconds, live_rows,
               last_landed_at, rejected_versions, stale, stale_reason
          FROM {view}
         ORDER BY stale DESC, dataset
        """,
    )
    if not rows:
        return SectionContent(empty="No dataset is declared or fed yet.")
    figures = (
        Figure("freshness.datasets", "Datasets", len(rows)),
        Figure("freshness.stale", "Stale now", sum(bool(r["stale"]) for r in rows)),
        *(
            Figure(
                f"freshness.zone.{zone}",
                f"Furthest zone: {zone}",
                sum(r["zone"] == zone for r in rows),
            )
            for zone in ZONES
        ),
    )
    table = Table(
        "freshness.datasets",
        "Datasets by zone: live version and its age (now, whatever the month)",
        (
            "dataset",
            "zone",
            "live version",
            "published",
            "age (h)",
            "rows",
            "last landed",
            "rejected",
            "freshness",
        ),
        tuple(
            (
                r["dataset"],
                r["zone"],
                r["live_version_id"],
                r["published_at"],
                _hours(r["age_seconds"]),
                r["live_rows"],
                r["last_landed_at"],
                r["rejected_versions"],
                f"stale: {r['stale_reason']}" if r["stale"] else "fresh",
            )
            for r in rows
        ),
    )
    rejected = _rejections(ctx)
    figures = (*figures, Figure("freshness.rejected", "Rejected this month", len(rejected.rows)))
    return SectionContent(figures=figures, tables=(table, rejected))


def _rejections(ctx: ReportContext) -> Table:
    """Versions rejected in the report's month: step, reason (cause and remedy), source."""
    rows = ctx.query(
        "dataset_versions",
        """
        SELECT updated_at, dataset, zone, version_id, rejected_by, reason, uri
          FROM {view}
         WHERE status = 'rejected' AND updated_at >= %(start)s AND updated_at < %(end)s
         ORDER BY updated_at DESC, version_id DESC
        """,
    )
    return Table(
        "freshness.rejected",
        "Versions rejected this month, and why",
        ("when", "dataset", "zone", "version", "rejected by", "reason", "source"),
        tuple(
            (
                r["updated_at"],
                r["dataset"],
                r["zone"],
                r["version_id"],
                r["rejected_by"],
                r["reason"],
                r["uri"],
            )
            for r in rows
        ),
        empty="no version was rejected this month",
    )
