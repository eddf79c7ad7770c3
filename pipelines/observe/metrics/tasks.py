"""Task functions of the metrics side (``fn(ctx, **args) -> TypedDict``), run through the Runner.

Each builds its collaborators from the task context (settings, clock, connection, AWS
clients) and fills ``ctx.details`` as it goes, so a run that fails half-way still records
what it did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.aws import AwsClients
from infra.jobs.model import TaskContext

if TYPE_CHECKING:
    from pipelines.observe.metrics.cap import CapResult
    from pipelines.observe.metrics.collect import CollectResult
    from pipelines.observe.metrics.discovery import DiscoverResult
    from pipelines.observe.metrics.retention import RetentionResult
    from pipelines.observe.metrics.streams import StreamsResult


def discover(ctx: TaskContext) -> DiscoverResult:
    """Discover tagged resources (and untagged look-alikes) into ``metrics.resources``."""
    from pipelines.observe.metrics.discovery import discover as run

    with ctx.connect() as conn:
        report = run(ctx.settings, ctx.aws(), conn, ctx.now())
    ctx.details.update(report.details())
    return report.details()


def collect(
    ctx: TaskContext, policy: str | None = None, since: str | None = None, force: bool = False
) -> CollectResult:
    """Collect CloudWatch metrics for one policy (or all enabled ones).

    Args:
        ctx: the task context.
        policy: a ``params.collection_policies`` name; all enabled policies when None.
        since: re-read from this time (``6h``, ``2d``, ISO time) instead of the watermarks.
        force: on a scheduled run, collect every resource even if adaptive cadence says idle.
    """
    from pipelines.observe.metrics.collect import Collector
    from pipelines.observe.metrics.window import parse_since

    now = ctx.now()
    start = parse_since(since, now) if since else None
    clients = AwsClients(ctx.settings, epoch_timestamps=True)
    with ctx.connect() as conn:
        collector = Collector(ctx.settings, clients, conn, now=now, details=ctx.details)
        return collector.run(policy, start, scheduled=ctx.scheduled_at is not None and not force)


def cap(ctx: TaskContext) -> CapResult:
    """Forecast the month's own API spend against its cap; step cadences down or up."""
    from pipelines.observe.metrics.cap import assess

    with ctx.connect() as conn:
        result = assess(conn, ctx.now())
    ctx.details.update(result)
    return result


def streams(ctx: TaskContext, retry: bool = False) -> StreamsResult:
    """Ingest new CloudWatch Metric Streams files (Firehose JSON in S3).

    Args:
        ctx: the task context.
        retry: also read again every file ledgered as failed or refused.
    """
    from pipelines.observe.metrics.streams import StreamIngester

    with ctx.connect() as conn:
        report = StreamIngester(ctx.settings, ctx.aws(), conn, retry=retry).run()
    ctx.details.update(report.details())
    return report.details()


def retention(ctx: TaskContext, dry_run: bool = False) -> RetentionResult:
    """Drop datapoint partitions older than ``LOCXIA_METRICS_RETENTION_DAYS``."""
    from pipelines.observe.metrics.retention import prune

    with ctx.connect() as conn:
        return prune(
            conn, keep_days=ctx.settings.metrics_retention_days, now=ctx.now(), dry_run=dry_run
        )
