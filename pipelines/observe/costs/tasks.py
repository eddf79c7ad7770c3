"""Task functions of the costs side (``fn(ctx, **args) -> TypedDict``), run through the Runner."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any, TypedDict

from infra.jobs.model import TaskContext
from infra.prices import PriceCatalog
from pipelines.observe.costs.explorer import CostReadResult

if TYPE_CHECKING:
    from pipelines.observe.costs.anomalies import AnomalyResult
    from pipelines.observe.costs.dataexports import ExportsResult
    from pipelines.observe.costs.estimates import EstimatesResult
    from pipelines.observe.costs.pricing import PricesResult
    from pipelines.observe.costs.recommendations import RecommendResult
    from pipelines.observe.costs.tags import BackfillRequested


class BudgetForecast(TypedDict):
    """One budget's month: its status (``ok``, ``warn``...) and forecast spend."""

    status: str
    forecast_usd: float


class EstimateResult(TypedDict):
    """What ``costs.estimate`` records: the estimate pass and each budget's forecast."""

    estimates: EstimatesResult
    budgets: dict[str, BudgetForecast]
    unpriced: str | None
    """One line naming every catalog item the pass found without a price, and why."""


class TagCheck(TypedDict):
    """What the cost allocation tag check found: each key's status, warnings for the others."""

    tag_status: dict[str, str]
    tag_warnings: list[str]


class ExplorerResult(CostReadResult, EstimateResult, TagCheck):
    """What ``costs.explorer`` records: the tag check, the Cost Explorer read, the estimates."""


def explorer(ctx: TaskContext, days: int | None = None) -> ExplorerResult:
    """Check the cost allocation tags, re-read Cost Explorer, refresh estimates and budgets.

    Records ``ce_requests`` and ``estimated_cost_usd`` (0.01 USD per request, the tag check
    included), the basis, and one warning per tag key that is not an active cost allocation
    tag (its costs read as untagged: a warning, never a silent zero).
    """
    from pipelines.observe.costs.budgets import budget_tag_keys
    from pipelines.observe.costs.explorer import CostExplorerReader

    now = ctx.now()
    settings = ctx.settings
    with ctx.connect() as conn:
        uses = {settings.tag_key: f"Locxia resources ({settings.tag_key}={settings.tag_value})"}
        for key in budget_tag_keys(conn):
            uses.setdefault(key, "tag budgets")
        clients = ctx.aws()
        check, tag_requests = _check_tags(clients, conn, uses, now)
        ctx.details.update(check)
        reader = CostExplorerReader(clients, conn, settings.cost_basis)
        report = reader.run(list(uses), days or settings.cost_reread_days, now)
        report.ce_requests += tag_requests
        read = report.details()
        ctx.details.update(read)
        refreshed = _estimate_and_budgets(ctx, conn)
        ctx.details.update(refreshed)
    return {**read, **refreshed, **check}


def _check_tags(clients: Any, conn: Any, uses: dict[str, str], now: Any) -> tuple[TagCheck, int]:
    """The tag check; a failure of it is a recorded warning, the read goes on."""
    from infra.errors import AwsError
    from pipelines.observe.costs.tags import check_tags

    try:
        statuses, requests = check_tags(clients, conn, uses, now)
    except AwsError as exc:
        return {"tag_status": {}, "tag_warnings": [f"cannot check cost allocation tags: {exc}"]}, 0
    warnings = [s.warning for s in statuses if s.warning]
    return {"tag_status": {s.key: s.status for s in statuses}, "tag_warnings": warnings}, requests


def backfill(ctx: TaskContext) -> BackfillRequested:
    """Ask AWS to backfill the cost allocation tags from the earliest month it allows.

    Refused (InputError, one line) when a backfill is in progress or was requested less than
    24 hours ago.
    """
    from pipelines.observe.costs.tags import request_backfill

    made = request_backfill(ctx.aws(), ctx.now())
    ctx.details.update(made)
    return made


def estimate(ctx: TaskContext) -> EstimateResult:
    """Estimate the hours Cost Explorer has not covered yet, and update budget forecasts."""
    with ctx.connect() as conn:
        refreshed = _estimate_and_budgets(ctx, conn)
    ctx.details.update(refreshed)
    return refreshed


def _estimate_and_budgets(ctx: TaskContext, conn: Any) -> EstimateResult:
    from pipelines.observe.costs.budgets import compute_status
    from pipelines.observe.costs.estimates import estimate as run_estimates

    now = ctx.now()
    catalog = PriceCatalog.load(conn, ctx.settings.aws_region)
    estimates = run_estimates(conn, catalog, now)
    budgets = compute_status(conn, ctx.settings.tag_key, ctx.settings.tag_value, now)
    return {
        "estimates": estimates,
        "unpriced": catalog.missing_line(),
        "budgets": {
            b["budget"]: {"status": b["status"], "forecast_usd": float(b["forecast_usd"])}
            for b in budgets
        },
    }


def recommend(ctx: TaskContext) -> RecommendResult:
    """Write idle recommendations with their monthly saving."""
    from pipelines.observe.costs.recommendations import recommend as run

    with ctx.connect() as conn:
        catalog = PriceCatalog.load(conn, ctx.settings.aws_region)
        return run(conn, catalog, ctx.now())


def prices(ctx: TaskContext) -> PricesResult:
    """Refresh the price catalog from the AWS Price List API (fails cleanly if unreachable)."""
    from pipelines.observe.costs.pricing import PriceRefresher

    with ctx.connect() as conn:
        return PriceRefresher(ctx.aws(), conn, ctx.settings.aws_region).run(ctx.now().date())


def exports(ctx: TaskContext) -> ExportsResult:
    """Read the AWS Data Exports FOCUS 1.2 deliveries not read yet into ``costs.actuals``.

    Records the periods read, already read, refused and still being delivered, the rows and
    USD matched to resources (and not), ``s3_requests``, ``s3_bytes`` and
    ``estimated_cost_usd`` (S3 list price of the requests).

    Raises:
        ConfigError: LOCXIA_FOCUS_EXPORT_URI is not set.
        AwsError: the export cannot be listed.
    """
    from infra.errors import ConfigError
    from pipelines.observe.costs.dataexports import ExportReader

    uri = ctx.settings.focus_export_uri
    if not uri:
        raise ConfigError(
            "LOCXIA_FOCUS_EXPORT_URI is not set (s3://bucket/prefix/export-name)",
            setting="LOCXIA_FOCUS_EXPORT_URI",
        )
    with ctx.connect() as conn:
        reader = ExportReader(ctx.aws(), conn, uri, ctx.settings.cost_basis, ctx.now())
        result = reader.run()
    ctx.details.update(result)
    ctx.details["estimated_cost_usd"] = round(reader.s3_cost_usd, 6)
    return result


def anomalies(ctx: TaskContext, days: int = 3) -> AnomalyResult:
    """Judge the ``days`` complete days before today for cost anomalies; notify new ones.

    Runs after ``costs.explorer`` (the service series are Cost Explorer's complete days) and
    reads the estimates for the resource series; no AWS call.
    """
    from pipelines.observe.costs.anomalies import detect

    now = ctx.now()
    settings = ctx.settings
    with ctx.connect() as conn:
        found = detect(
            conn,
            now.astimezone(UTC).date(),
            now,
            tag_key=settings.tag_key,
            tag_value=settings.tag_value,
            threshold=settings.anomaly_score,
            floor_usd=settings.anomaly_floor_usd,
            days=days,
        )
    ctx.details.update(found)
    return found
