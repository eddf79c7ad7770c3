"""Task functions of the costs side (``fn(ctx, **args) -> TypedDict``), run through the Runner."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from infra.jobs.model import TaskContext
from infra.prices import PriceCatalog
from pipelines.observe.costs.explorer import CostReadResult

if TYPE_CHECKING:
    from pipelines.observe.costs.estimates import EstimatesResult
    from pipelines.observe.costs.pricing import PricesResult
    from pipelines.observe.costs.recommendations import RecommendResult


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


class ExplorerResult(CostReadResult, EstimateResult):
    """What ``costs.explorer`` records: the Cost Explorer read, then the estimate pass."""


def explorer(ctx: TaskContext, days: int | None = None) -> ExplorerResult:
    """Re-read Cost Explorer's last days, then refresh estimates and budgets.

    Records ``ce_requests`` and ``estimated_cost_usd`` (0.01 USD per request).
    """
    from pipelines.observe.costs.budgets import budget_tag_keys
    from pipelines.observe.costs.explorer import CostExplorerReader

    now = ctx.now()
    with ctx.connect() as conn:
        keys = [ctx.settings.tag_key] + [
            k for k in budget_tag_keys(conn) if k != ctx.settings.tag_key
        ]
        reader = CostExplorerReader(ctx.aws(), conn)
        read = reader.run(keys, days or ctx.settings.cost_reread_days, now).details()
        ctx.details.update(read)
        refreshed = _estimate_and_budgets(ctx, conn)
        ctx.details.update(refreshed)
    return {**read, **refreshed}


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
    budgets = compute_status(conn, ctx.settings.tag_key, now)
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
