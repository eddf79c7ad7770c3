"""``locxia observe``: discover tagged resources, collect their metrics and costs, by hand.

Every command that does a job's work runs the same task as the scheduler, through the
Runner, so it is recorded in ``ops.runs`` like a scheduled run (``locxia runs show ID``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from infra.cli.errors import name_of, usage, usage_errors
from infra.cli.output import console, emit_json, table, warn_line
from infra.cli.run import run_task
from infra.cli.state import state
from infra.errors import ConfigError, InputError

app = typer.Typer(
    help="Observe AWS: tagged resources, CloudWatch metrics and costs into PostgreSQL.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
RESOURCE_TYPES = ("ec2:instance", "ec2:volume", "rds:db", "s3:bucket")


def _run(ctx: typer.Context, task: str, args: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run ``task`` here, recorded in ops.runs: its run id and details."""
    result = run_task(ctx, task, args)
    return {"run_id": result.run_id, **dict(result.details)}


def _connect(ctx: typer.Context) -> Any:
    from infra.db import connect

    return connect(state(ctx).settings.require_database_url(), application_name="locxia:observe")


def _rows(
    ctx: typer.Context, query: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The rows of a read-only query as dicts by column name."""
    with _connect(ctx) as conn:
        cur = conn.execute(query, params)
        names = [c.name for c in cur.description or []]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


@app.command()
def discover(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Find every resource tagged with LOCXIA_TAG_KEY=LOCXIA_TAG_VALUE (EC2, EBS, RDS, S3).

    Uses the Resource Groups Tagging API, then cross-checks with the Describe calls: untagged
    look-alikes (named like Locxia, wrong tag value, attached to a tagged instance) are
    printed as warnings and stored with tagged=false; they are never collected.

    Example: locxia observe discover --json | jq .untagged_lookalikes
    """
    with console.status("discovering tagged resources…"):
        details = _run(ctx, "metrics.discover")
    if as_json:
        emit_json(details)
        return
    counts = details.get("tagged") or {}
    console.print(table("Tagged resources", ["type", "count"], sorted(counts.items())))
    from pipelines.observe.metrics.discovery import lookalike_summary

    console.print(
        f"{len(details['new'])} new, {len(details['gone'])} gone, "
        f"{details['api_calls']} API call(s) ({details['aws_retries']} retried attempt(s))"
        f" — run {details['run_id']}"
    )
    summary = lookalike_summary(details["untagged_lookalikes"])
    for line in summary:
        warn_line(line)
    if len(summary) < len(details["untagged_lookalikes"]):
        warn_line(f"every look-alike: locxia runs show {details['run_id']}")
    for error in details["errors"]:
        warn_line(error)


@app.command()
def resources(
    ctx: typer.Context,
    rtype: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="Only this type (ec2:instance, rds:db…).",
            parser=name_of("resource type"),
        ),
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Include gone resources and untagged look-alikes.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List discovered resources (metrics.resources)."""
    if rtype is not None and rtype not in RESOURCE_TYPES:
        raise usage(ctx, f"--type {rtype!r}: expected one of {', '.join(RESOURCE_TYPES)}")
    rows = _rows(
        ctx,
        "SELECT id, type, resource_id, name, region, state, tagged, first_seen, last_seen,"
        " gone_at FROM metrics.resources WHERE (%(t)s::text IS NULL OR type = %(t)s)"
        " AND (%(all)s OR (tagged AND gone_at IS NULL)) ORDER BY type, resource_id",
        {"t": rtype, "all": show_all},
    )
    if as_json:
        emit_json(rows)
        return
    cols = ["type", "resource_id", "name", "state", "tagged", "gone_at"]
    console.print(table("Resources", cols, [[r[c] for c in cols] for r in rows]))


@app.command()
def policies(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show collection policies: cadence, resources each one wins, and what it costs.

    The cost is GetMetricData's price (0.01 USD per 1,000 metrics requested) at the idle
    cadence for the resources discovered now. Edit policies with SQL on
    params.collection_policies; the service re-plans within a second.
    """
    from pipelines.observe.metrics.cap import describe
    from pipelines.observe.metrics.policies import assign, load_policies, load_resources

    with _connect(ctx) as conn:
        every = load_policies(conn, enabled_only=False, configured=True)
        owned = assign([p for p in every if p.enabled], load_resources(conn))
        step = conn.execute(
            "SELECT level, since, reason FROM costs.monitoring_status ORDER BY month DESC LIMIT 1"
        ).fetchone()
    level = int(step[0]) if step else 0
    rows: list[dict[str, Any]] = []
    for p in every:
        n = len(owned.get(p.name, []))
        now_p = p.stepped(level)
        rows.append(
            {
                "policy": p.name,
                "type": p.resource_type,
                "match_tags": dict(p.match_tags),
                "period_s": p.period,
                "every_s": p.every,
                "busy_every_s": p.busy.every_seconds if p.busy else None,
                "effective_every_s": now_p.job_every,
                "resources": n,
                "queries_per_run": n * p.queries_per_resource,
                "usd_per_month": round(p.monthly_api_usd(n), 2),
                "enabled": p.enabled,
            }
        )
    if as_json:
        emit_json(rows)
        return
    if step is not None and level:
        console.print(
            f"{describe(level)} since {step[1]:%Y-%m-%d %H:%M} UTC by the monitoring budget:"
            f" {step[2]}"
        )
    console.print(
        table(
            "Collection policies",
            ["policy", "type", "tags", "period", "cadence", "resources", "queries", "USD/month"],
            [
                (
                    r["policy"] + ("" if r["enabled"] else " (off)"),
                    r["type"],
                    ",".join(f"{k}={v}" for k, v in r["match_tags"].items()) or None,
                    f"{r['period_s']}s",
                    f"{r['every_s']}s"
                    + (f" ({r['busy_every_s']}s busy)" if r["busy_every_s"] else "")
                    + (f" → {r['effective_every_s']}s" if level else ""),
                    r["resources"],
                    r["queries_per_run"],
                    f"{r['usd_per_month']:.2f}",
                )
                for r in rows
            ],
        )
    )


@contextmanager
def _progress() -> Iterator[None]:
    """A Rich progress bar fed by the collector after each GetMetricData batch."""
    from rich.progress import Progress

    from pipelines.observe.metrics.collect import PROGRESS

    with Progress(console=console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def on_batch(policy: str, done: int, total: int) -> None:
            if policy not in tasks:
                tasks[policy] = bar.add_task(f"collect {policy}", total=total)
            bar.update(tasks[policy], completed=done)

        token = PROGRESS.set(on_batch)
        try:
            yield
        finally:
            PROGRESS.reset(token)


@app.command()
def collect(
    ctx: typer.Context,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            "-p",
            help="Only this policy (default: all).",
            parser=name_of("collection policy name"),
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Re-read from this time: 30m, 6h, 2d, 1w or an ISO time (UTC)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Collect CloudWatch metrics now for one policy or all of them.

    Reads from each series' watermark minus the policy's lookback (or from --since), in
    batches of up to 500 queries per GetMetricData call; records API calls, metrics
    requested and their estimated cost in ops.runs.

    Examples: locxia observe collect -p rds-default ; locxia observe collect --since 6h
    """
    from infra.jobs.runner import utcnow
    from pipelines.observe.metrics.policies import load_policies
    from pipelines.observe.metrics.window import parse_since

    if since is not None:
        with usage_errors(ctx):
            parse_since(since, utcnow())
    if policy is not None:
        with _connect(ctx) as conn:
            known = [p.name for p in load_policies(conn)]
        if policy not in known:
            raise InputError(
                f"--policy {policy!r}: no enabled policy (enabled: {', '.join(known)})"
            )
    args = {k: v for k, v in (("policy", policy), ("since", since)) if v is not None}
    with _progress():
        details = _run(ctx, "metrics.collect", args)
    if as_json:
        emit_json(details)
        return
    keys = [
        "api_calls",
        "aws_retries",
        "metrics_requested",
        "datapoints",
        "rows_changed",
        "estimated_cost_usd",
    ]
    console.print(
        table(f"Collection (run {details['run_id']})", keys, [[details[k] for k in keys]])
    )
    for error in details.get("errors") or []:
        warn_line(error)


@app.command()
def streams(
    ctx: typer.Context,
    retry: Annotated[
        bool, typer.Option("--retry", help="Also read again the files ledgered as failed.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Ingest new CloudWatch Metric Streams files from LOCXIA_METRIC_STREAMS_URI (once each).

    A file that cannot be read is ledgered with its reason and read again on the next passes
    (3 reads in all); --retry reads every failed or refused file once more.
    """
    if not state(ctx).settings.metric_streams_uri:
        raise ConfigError(
            "LOCXIA_METRIC_STREAMS_URI is not set (s3://bucket/prefix)",
            setting="LOCXIA_METRIC_STREAMS_URI",
        )
    with console.status("ingesting Metric Streams files…"):
        details = _run(ctx, "metrics.streams", {"retry": True} if retry else None)
    if as_json:
        emit_json(details)
        return
    keys = [
        "files_seen",
        "files_ingested",
        "files_already",
        "files_failed",
        "datapoints",
        "skipped_records",
    ]
    console.print(table("Metric Streams", keys, [[details[k] for k in keys]]))
    for error in details["errors"]:
        warn_line(error)


@app.command()
def costs(
    ctx: typer.Context,
    days: Annotated[
        int | None,
        typer.Option(min=1, max=90, help="Cost Explorer days to re-read (default: setting)."),
    ] = None,
    estimate_only: Annotated[
        bool,
        typer.Option("--estimate-only", help="Skip Cost Explorer (free): estimates + budgets."),
    ] = False,
    backfill: Annotated[
        bool,
        typer.Option(
            "--backfill",
            help="Only ask AWS to backfill the cost allocation tags (from 12 months back).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Read daily costs from Cost Explorer, estimate the hours it has not covered, forecast budgets.

    Cost Explorer is read on LOCXIA_COST_BASIS (usage or net-amortized); each tag key it is
    grouped by is first checked to be an active cost allocation tag (a warning otherwise).
    Each Cost Explorer request costs 0.01 USD: the count and the cost are recorded in
    ops.runs (ce_requests, estimated_cost_usd). --backfill asks AWS to re-attribute the
    costs since the first of the month 12 months back to the tags as they are now (AWS
    allows one request every 24 hours). Example: locxia observe costs --days 3
    """
    if estimate_only and days is not None:
        raise usage(ctx, "--days applies to Cost Explorer; it cannot go with --estimate-only")
    if backfill and (estimate_only or days is not None):
        raise usage(ctx, "--backfill only requests the backfill; it takes no other option")
    if backfill:
        _backfill(ctx, as_json)
        return
    task = "costs.estimate" if estimate_only else "costs.explorer"
    with console.status("reading costs…"):
        details = _run(ctx, task, {"days": days} if days else {})
    if as_json:
        emit_json(details)
        return
    if not estimate_only:
        console.print(
            f"Cost Explorer ({details['basis']} basis): {details['ce_requests']} request(s)"
            f" ({details['aws_retries']} retried attempt(s)), "
            f"{details['estimated_cost_usd']:.2f} USD, {details['rows']} row(s),"
            f" complete days until {details['covered_until'] or 'none returned'}"
        )
        for line in details.get("tag_warnings", []):
            warn_line(line)
    if details.get("unpriced"):
        warn_line(f"estimates: {details['unpriced']}")
    _show_budgets(ctx)


def _backfill(ctx: typer.Context, as_json: bool) -> None:
    with console.status("requesting the cost allocation tag backfill…"):
        details = _run(ctx, "costs.backfill")
    if as_json:
        emit_json(details)
        return
    console.print(
        f"backfill of the cost allocation tags requested from {details['backfill_from']}"
        f" (status {details['status'] or 'unknown'}, requested {details['requested_at']});"
        f" AWS re-attributes those months' costs within hours — run {details['run_id']}"
    )


def _show_budgets(ctx: typer.Context, as_json: bool = False) -> None:
    rows = _rows(
        ctx,
        "SELECT budget, month, budget_usd, actual_usd, forecast_usd, status"
        " FROM costs.budget_status WHERE month = date_trunc('month', now())::date"
        " ORDER BY budget",
    )
    if as_json:
        emit_json(rows)
        return
    cols = ["budget", "budget_usd", "actual_usd", "forecast_usd", "status"]
    console.print(
        table(
            "Budgets this month",
            cols,
            [
                [
                    r["budget"],
                    r["budget_usd"],
                    f"{r['actual_usd']:.2f}",
                    f"{r['forecast_usd']:.2f}",
                    r["status"],
                ]
                for r in rows
            ],
        )
    )


@app.command()
def budgets(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show this month's budgets: spent so far, month-end forecast, status."""
    _show_budgets(ctx, as_json)


@app.command()
def recommend(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Find idle resources and show what acting on them would save per month."""
    _run(ctx, "costs.recommend")
    rows = _rows(
        ctx,
        "SELECT r.type, r.resource_id, c.kind, c.monthly_saving_usd, c.action"
        " FROM costs.recommendations c JOIN metrics.resources r ON r.id = c.resource_id"
        " WHERE c.resolved_at IS NULL ORDER BY c.monthly_saving_usd DESC",
    )
    if as_json:
        emit_json(rows)
        return
    cols = ["type", "resource_id", "kind", "monthly_saving_usd", "action"]
    console.print(table("Recommendations", cols, [list(r.values()) for r in rows]))


@app.command()
def prices(
    ctx: typer.Context,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Update from the AWS Price List API first.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show the price catalog of LOCXIA_AWS_REGION (used by estimates, savings, plan previews).

    Each price says where it came from and when: the list shipped with Locxia (approximate,
    eu-west-3 only) or the AWS Price List API. --refresh asks the Price List API (us-east-1)
    for every shipped item in the settings region and in each region a discovered resource
    lives in; an item that no single on-demand SKU prices is left unpriced with the reason.
    When the API cannot be reached the catalog is left as it was.
    """
    from infra.prices import PriceCatalog

    if refresh:
        with console.status("asking the AWS Price List API…"):
            details = _run(ctx, "costs.prices")
        console.print(
            f"refreshed {details['refreshed']} price(s) in {', '.join(details['regions'])}"
            f" ({details['api_calls']} API call(s)); {len(details['unpriced'])} item(s) unpriced"
        )
    settings = state(ctx).settings
    with _connect(ctx) as conn:
        catalog = PriceCatalog.load(conn, settings.aws_region)
    rows = [
        {
            "service": p.service,
            "item": p.item,
            "variant": p.variant,
            "unit": p.unit,
            "usd": p.usd,
            "source": p.source,
            "date": p.effective_date,
            "unpriced_reason": None,
        }
        for p in catalog.all()
    ] + [
        {
            "service": u.service,
            "item": u.item,
            "variant": u.variant,
            "unit": u.unit,
            "usd": None,
            "source": u.source,
            "date": u.effective_date,
            "unpriced_reason": catalog.reason(u.service, u.item, u.variant),
        }
        for u in catalog.unpriced()
    ]
    if as_json:
        emit_json(rows)
        return
    cols = ["service", "item", "variant", "unit", "usd", "source", "date", "unpriced_reason"]
    console.print(table(f"Prices {settings.aws_region}", cols, [list(r.values()) for r in rows]))
    console.print(_price_sources(rows, settings.aws_region))


def _price_sources(rows: list[dict[str, Any]], region: str) -> str:
    """Where the region's prices come from: each source with its date(s) and item count."""
    by_source: dict[str, tuple[set[Any], int]] = {}
    for row in rows:
        key = "unpriced" if row["usd"] is None else str(row["source"])
        dates, count = by_source.get(key, (set(), 0))
        by_source[key] = (dates | {row["date"]}, count + 1)
    if not by_source:
        return f"no prices for {region}: run `locxia observe prices --refresh`"
    parts = [
        f"{source} as of {', '.join(str(d) for d in sorted(dates))}: {count} item(s)"
        for source, (dates, count) in sorted(by_source.items())
    ]
    return f"sources for {region}: " + "; ".join(parts)


@app.command()
def prune(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List, drop nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Drop datapoint partitions older than LOCXIA_METRICS_RETENTION_DAYS (whole days)."""
    details = _run(ctx, "metrics.retention", {"dry_run": dry_run})
    if as_json:
        emit_json(details)
        return
    names = details.get("would_drop" if dry_run else "dropped") or []
    verb = "would drop" if dry_run else "dropped"
    console.print(f"{verb} {len(names)} partition(s) before {details['cutoff']}")
    for name in names:
        console.print(f"  {name}")


@app.command()
def actuals(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Read actual resource costs from AWS Data Exports (FOCUS 1.2, LOCXIA_FOCUS_EXPORT_URI).

    Each billing period delivered is read once; a re-delivered period (its files changed)
    replaces the previous one. Where a delivery covers an hour, the actual cost is used
    instead of the estimate (reporting.resource_costs, source). Example: locxia observe actuals
    """
    if not state(ctx).settings.focus_export_uri:
        raise ConfigError(
            "LOCXIA_FOCUS_EXPORT_URI is not set (s3://bucket/prefix/export-name)",
            setting="LOCXIA_FOCUS_EXPORT_URI",
        )
    with console.status("reading AWS Data Exports deliveries…"):
        details = _run(ctx, "costs.exports")
    if as_json:
        emit_json(details)
        return
    keys = ["periods_ingested", "periods_already", "periods_refused", "periods_incomplete"]
    keys += ["rows_matched", "matched_usd", "unmatched_usd"]
    console.print(table(f"Data Exports ({details['basis']})", keys, [[details[k] for k in keys]]))
    for error in details["errors"]:
        warn_line(error)


def _month_arg(ctx: typer.Context, value: str | None, option: str) -> Any:
    from datetime import UTC, datetime

    if value is None:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise usage(ctx, f"{option} {value!r}: expected YYYY-MM-DD") from None
    return day


@app.command()
def export(
    ctx: typer.Context,
    focus_path: Annotated[
        str | None,
        typer.Option("--focus", metavar="PATH", help="Write a FOCUS 1.2 Parquet file here."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--from", help="First day (UTC, YYYY-MM-DD); default: 1st.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Day after the last (YYYY-MM-DD); default: now.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write Locxia's own costs (actuals where known, else estimates) as FOCUS 1.2 Parquet.

    One row per resource and hour, every FOCUS 1.2 column, plus x_CostSource (actual or
    estimate), x_EstimateBasis, x_Dataset and x_Job. Default period: this month so far.
    Example: locxia observe export --focus costs.parquet --from 2026-11-01 --to 2026-12-01
    """
    from datetime import UTC, datetime
    from pathlib import Path

    from pipelines.observe.costs.focus_export import export_focus

    if not focus_path:
        raise usage(ctx, "--focus PATH is required (the Parquet file to write)")
    path = Path(focus_path)
    if not path.parent.is_dir():
        raise usage(ctx, f"--focus {focus_path}: directory {path.parent} does not exist")
    if path.is_dir():
        raise usage(ctx, f"--focus {focus_path}: is a directory")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = _month_arg(ctx, since, "--from") or now.replace(day=1, hour=0)
    end = _month_arg(ctx, until, "--to") or now
    if end <= start:
        raise usage(ctx, f"--to {end:%Y-%m-%d} must be after --from {start:%Y-%m-%d}")
    with _connect(ctx) as conn:
        result = export_focus(conn, path, start, end)
    if as_json:
        emit_json(result)
        return
    console.print(
        f"wrote {result['rows']} FOCUS 1.2 row(s) to {result['path']}: {result['actual_rows']}"
        f" actual, {result['estimate_rows']} estimated, {result['usd']:.2f} USD"
        f" [{result['start']}, {result['end']})"
    )


anomalies_app = typer.Typer(
    help="Cost anomalies per service and resource: list them, acknowledge one.",
)
app.add_typer(anomalies_app, name="anomalies")


@anomalies_app.callback(invoke_without_command=True)
def anomalies(
    ctx: typer.Context,
    show_all: Annotated[bool, typer.Option("--all", help="Include the acknowledged ones.")] = False,
    days: Annotated[
        int, typer.Option(min=1, max=3650, help="Only anomalies of the last DAYS days.")
    ] = 90,
    as_json: JsonOpt = False,
) -> None:
    """List cost anomalies not acknowledged yet, newest day first, largest rise first.

    An anomaly is a day whose cost (Cost Explorer per service, estimates per resource) rose
    at least LOCXIA_ANOMALY_SCORE robust deviations above its weekday-aware 28-day median and
    at least LOCXIA_ANOMALY_FLOOR_USD; the drivers say what moved. Found by the
    observe.anomalies job. Example: locxia observe anomalies ack 12
    """
    if ctx.invoked_subcommand is not None:
        return
    rows = _rows(
        ctx,
        "SELECT id, day, scope, key, service, observed, expected, observed - expected AS excess,"
        " score, drivers, detected_at, acknowledged_by, acknowledged_at FROM costs.anomalies"
        " WHERE (%(all)s OR acknowledged_at IS NULL) AND day >= current_date - %(days)s"
        " ORDER BY day DESC, scope = 'service' DESC, observed - expected DESC, key",
        {"all": show_all, "days": days},
    )
    if as_json:
        emit_json(rows)
        return
    cols = ["id", "day", "scope", "key", "observed", "expected", "score", "top drivers", "ack"]
    console.print(
        table(
            "Cost anomalies" + ("" if show_all else " (not acknowledged)"),
            cols,
            [
                [
                    r["id"],
                    r["day"],
                    r["scope"],
                    r["key"],
                    f"{r['observed']:.2f}",
                    f"{r['expected']:.2f}",
                    f"{r['score']:.1f}",
                    "; ".join(f"{d['key']} {d['delta']:+.2f}" for d in r["drivers"][:3]),
                    r["acknowledged_by"],
                ]
                for r in rows
            ],
        )
    )


@anomalies_app.command("ack")
def ack(
    ctx: typer.Context,
    anomaly_id: Annotated[int, typer.Argument(metavar="ID", min=1, help="Anomaly id.")],
    as_user: Annotated[
        str | None, typer.Option("--as", help="Who acknowledges (default: the OS user).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Acknowledge a cost anomaly: someone looked at it (it leaves the default list).

    Acknowledging one already acknowledged changes nothing. Example: locxia observe
    anomalies ack 12
    """
    from datetime import UTC, datetime

    from infra.cli.state import actor
    from pipelines.observe.costs.anomalies import acknowledge

    who = actor(ctx, as_user)
    with _connect(ctx) as conn:
        row, done = acknowledge(conn, anomaly_id, who, datetime.now(UTC))
    if as_json:
        emit_json({**row, "changed": done})
        return
    what = f"anomaly {row['id']} ({row['scope']} {row['key']} on {row['day']})"
    if done:
        console.print(f"acknowledged {what} as {row['acknowledged_by']}")
    else:
        console.print(
            f"{what} was already acknowledged by {row['acknowledged_by']}"
            f" at {row['acknowledged_at']:%Y-%m-%d %H:%M} UTC; nothing changed"
        )
