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


def layer_costs_section(ctx: ReportContext) -> SectionContent:
    """What each layer costs a month, and how much of Cost Explorer's month runs explain.

    A layer's cost is the sum of every feed run of its dataset in the month
    (``reporting.dataset_costs``): AWS API spend through the zones plus the runs' share of the
    host and database they used. The month's Cost Explorer cost per tag value is set against
    what all runs and the priced resources explain, and the remainder is shown as it is
    (``reporting.cost_explained``): nothing is forced to add up.
    """
    month = {"month": ctx.period.bounds()[0].date()}
    layers = ctx.query(
        "dataset_costs",
        "SELECT dataset, runs, usd, api_usd, compute_usd, unpriced_runs FROM {view}"
        " WHERE month = %(month)s ORDER BY usd DESC, dataset",
        month,
    )
    jobs = ctx.query(
        "job_costs",
        "SELECT job_id, runs, usd FROM {view} WHERE month = %(month)s ORDER BY usd DESC, job_id",
        month,
    )
    explained = ctx.query(
        "cost_explained",
        "SELECT tag_key, tag_value, basis, ce_usd, runs_usd, resources_usd, explained_percent,"
        " remainder_usd FROM {view} WHERE month = %(month)s ORDER BY ce_usd DESC, tag_value",
        month,
    )
    if not layers and not jobs and not explained:
        return SectionContent(empty="No run was priced this month.")
    figures: tuple[Figure, ...] = (
        Figure("layer_costs.layers", "Layers fed", len(layers)),
        Figure(
            "layer_costs.layers_usd", "Feeding layers", sum(float(r["usd"]) for r in layers), "usd"
        ),
        Figure("layer_costs.runs_usd", "All runs", sum(float(r["usd"]) for r in jobs), "usd"),
    )
    if explained:
        top = explained[0]
        tag = f"{top['tag_key']}={top['tag_value']}"
        percent = top["explained_percent"]
        figures = (
            *figures,
            Figure("layer_costs.ce_usd", f"Cost Explorer, {tag}", float(top["ce_usd"]), "usd"),
            Figure(
                "layer_costs.explained",
                "Explained by runs and resources",
                None if percent is None else round(float(percent), 1),
                "percent",
            ),
            Figure("layer_costs.remainder", "Remainder", float(top["remainder_usd"]), "usd"),
        )
    per_layer = Table(
        "layer_costs.layers",
        "What each layer cost this month (every feed run of its dataset)",
        ("dataset", "runs", "usd", "API", "compute", "unpriced runs"),
        tuple(
            (
                r["dataset"],
                r["runs"],
                float(r["usd"]),
                float(r["api_usd"]),
                float(r["compute_usd"]),
                r["unpriced_runs"],
            )
            for r in layers
        ),
        empty="no feed run this month",
        units={"usd": "usd", "API": "usd", "compute": "usd"},
    )
    month_table = Table(
        "layer_costs.explained",
        "Cost Explorer's month: what runs and resources explain, and the remainder",
        ("tag", "basis", "Cost Explorer", "runs", "resources", "explained %", "remainder"),
        tuple(
            (
                f"{r['tag_key']}={r['tag_value']}",
                r["basis"],
                float(r["ce_usd"]),
                float(r["runs_usd"]),
                float(r["resources_usd"]),
                None if r["explained_percent"] is None else float(r["explained_percent"]),
                float(r["remainder_usd"]),
            )
            for r in explained
        ),
        empty="Cost Explorer has no tagged cost this month",
        units={
            "Cost Explorer": "usd",
            "runs": "usd",
            "resources": "usd",
            "explained %": "percent",
            "remainder": "usd",
        },
    )
    return SectionContent(figures=figures, tables=(per_layer, month_table))
