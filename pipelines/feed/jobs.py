"""The ``feed`` plugin: feed tasks (named ``layers.*``), and jobs planned from ``params.datasets``.

A dataset row with a ``cron`` becomes one job ``layers.<name>``: a ``core.chain`` of
``layers.ingest`` → ``layers.refine`` → ``layers.publish``. Each step is a no-op when its
input did not change (same bytes, same landing version under the same rules, same working
version already live), so a nightly schedule costs a download and a checksum when the source
has not moved. The CLI runs the same tasks through the recorded runner.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypedDict

from infra.errors import LocxiaError
from infra.jobs.model import (
    Arg,
    ArgSchema,
    JobSpec,
    PlanContext,
    Plugin,
    Task,
    TaskContext,
    TriggerSpec,
)
from pipelines.feed import scratch
from pipelines.feed.model import Dataset

if TYPE_CHECKING:  # the service imports this plugin at start: keep numpy & co out of it
    from pipelines.feed import catalog


class LayerResult(TypedDict):
    """What a layer task records: the version it produced (or found) and whether it was new.

    ``noop`` is true when the step had nothing to do (same bytes, same rules, already live);
    the chained jobs' runs are read by ``details->>'noop'``; ``dataset`` names the layer whose
    cost the run is (``reporting.run_costs``, migration 0068), set before the step starts so a
    failed run names it too.
    """

    dataset: str
    version_id: int
    zone: str
    uri: str
    rows: int | None
    noop: bool


class IngestResult(LayerResult):
    """What ``layers.ingest`` records: the landing version and the layer's profile."""

    profile: dict[str, Any] | None


class RefineResult(LayerResult):
    """What ``layers.refine`` records: the working version and its quality report."""

    quality: dict[str, Any] | None


class PublishResult(LayerResult):
    """What ``layers.publish`` records: the version now served as ``exposure.<name>``.

    ``parts``: how many part files a partitioned working version was loaded from (in parallel,
    on the Dask cluster: :mod:`pipelines.feed.publish_parts`); None for a single file.
    """

    parts: int | None


#: What ``layers.rollback`` records: the previous version, served again.
RollbackResult = LayerResult
#: What ``layers.transfer-url`` records: the landing version of the copied URL.
TransferUrlResult = LayerResult


class TransferTableResult(TypedDict):
    """What ``layers.transfer-table`` records: where the rows went, and how many."""

    source: str
    target: str
    rows: int


def _outcome(details: dict[str, Any], version: catalog.Version, noop: bool) -> LayerResult:
    """The version's fields, also written into the run's ``details`` as they were before."""
    result = LayerResult(
        dataset=version.dataset,
        version_id=version.id,
        zone=version.zone,
        uri=version.uri,
        rows=version.rows,
        noop=noop,
    )
    details.update(result)
    return result


def ingest_task(
    ctx: TaskContext, dataset: str, source: str | None = None, layer: str | None = None
) -> IngestResult:
    """Land ``source`` (or the declared one) for ``dataset``."""
    ctx.details["dataset"] = dataset  # names the layer whose cost this run is
    from pipelines.feed.ingest import ingest

    with ctx.connect() as conn:
        done = ingest(conn, ctx.settings, dataset, source, layer, run_id=ctx.run_id)
    ctx.details["profile"] = done.profile
    return {**_outcome(ctx.details, done.version, done.noop), "profile": done.profile}


def refine_task(ctx: TaskContext, dataset: str, version: int | None = None) -> RefineResult:
    """Refine the newest (or given) landing version of ``dataset`` into working."""
    ctx.details["dataset"] = dataset  # names the layer whose cost this run is
    from infra.errors import QualityError
    from pipelines.feed.refine import refine

    with ctx.connect() as conn:
        try:
            done = refine(conn, ctx.settings, dataset, version_id=version, run_id=ctx.run_id)
        except QualityError as exc:
            ctx.details["quality"] = exc.report
            raise
    ctx.details["quality"] = done.version.quality
    return {**_outcome(ctx.details, done.version, done.noop), "quality": done.version.quality}


def publish_task(ctx: TaskContext, dataset: str, version: int | None = None) -> PublishResult:
    """Publish the newest (or given) working version of ``dataset`` as ``exposure.<name>``."""
    ctx.details["dataset"] = dataset  # names the layer whose cost this run is
    from pipelines.feed.publish import publish

    with ctx.connect() as conn:
        done = publish(conn, ctx.settings, dataset, version_id=version, run_id=ctx.run_id)
    parts = done.version.provenance.get("parts")
    ctx.details["parts"] = None if parts is None else int(parts)
    return {**_outcome(ctx.details, done.version, done.noop), "parts": ctx.details["parts"]}


def rollback_task(ctx: TaskContext, dataset: str) -> RollbackResult:
    """Serve the previous published version of ``dataset`` again."""
    ctx.details["dataset"] = dataset  # names the layer whose cost this run is
    from pipelines.feed.publish import rollback

    with ctx.connect() as conn:
        version = rollback(conn, ctx.settings, dataset, run_id=ctx.run_id)
    return _outcome(ctx.details, version, False)


def transfer_table_task(
    ctx: TaskContext,
    source_url: str,
    target_url: str,
    table: str,
    target_table: str | None = None,
    replace: bool = False,
) -> TransferTableResult:
    """Copy ``table`` from one PostgreSQL database to another with streamed binary COPY."""
    from pipelines.feed import transfer

    started = transfer.now()
    moved = transfer.copy_table(
        source_url,
        target_url,
        table,
        target_table,
        replace=replace,
    )
    with ctx.connect() as conn:
        transfer.record(conn, moved, started, ctx.run_id)
    return {"source": moved.source, "target": moved.target, "rows": moved.rows}


def transfer_url_task(ctx: TaskContext, url: str, dataset: str) -> TransferUrlResult:
    """Copy an external URL into the landing zone as-is (checksum and provenance recorded)."""
    ctx.details["dataset"] = dataset  # names the layer whose cost this run is
    from pipelines.feed.ingest import land_url

    with ctx.connect() as conn:
        done = land_url(conn, ctx.settings, dataset, url, run_id=ctx.run_id)
    return _outcome(ctx.details, done.version, done.noop)


#: A scheduled feed step names a declared dataset, nothing else: its source, layer and
#: version come from ``params.datasets`` and the catalog, never from a schedule row.
DATASET_ONLY = ArgSchema(
    {"dataset": Arg("string", required=True, pattern=r"^[a-z][a-z0-9_]{0,39}$")}
)


def chain_steps(name: str) -> list[dict[str, Any]]:
    """The steps that feed one dataset end to end."""
    return [
        {"task": f"layers.{stage}", "args": {"dataset": name}}
        for stage in ("ingest", "refine", "publish")
    ]


def provide(ctx: PlanContext) -> Iterable[JobSpec]:
    """One chained job per enabled dataset with a schedule, and the stale-dataset check.

    Raises:
        JobError: listing every dataset row that could not be planned (the others are).
    """
    from infra.errors import JobError
    from pipelines.feed.catalog import all_datasets

    rows = all_datasets(ctx.conn)
    ctx.conn.rollback()
    bad: list[str] = []
    jobs: list[JobSpec] = [
        JobSpec(
            "layers.stale-check",
            "layers.stale-check",
            TriggerSpec.every(300),
            owner="feed",
            description="notify people of stale datasets (reporting.datasets)",
        )
    ]
    for row in rows:
        if not row["cron"] or not row["enabled"]:
            continue
        try:
            dataset = Dataset.from_row(row)
            trigger = TriggerSpec.crontab(str(dataset.cron), dataset.timezone)
            trigger.build()
            jobs.append(
                JobSpec(
                    f"layers.{dataset.name}",
                    "core.chain",
                    trigger,
                    {"steps": chain_steps(dataset.name)},
                    owner="feed",
                    description=f"ingest → refine → publish {dataset.name}",
                )
            )
        except LocxiaError as exc:
            bad.append(f"params.datasets[{row['name']}]: {exc}")
    if bad:
        raise JobError("; ".join(bad))
    return jobs


plugin = Plugin(
    name="feed",
    tasks=(
        Task(
            "layers.ingest",
            "pipelines.feed.jobs:ingest_task",
            "land a layer's raw bytes",
            schedulable=DATASET_ONLY,
        ),
        Task(
            "layers.refine",
            "pipelines.feed.jobs:refine_task",
            "landing → working",
            schedulable=DATASET_ONLY,
        ),
        Task(
            "layers.publish",
            "pipelines.feed.jobs:publish_task",
            "working → exposure",
            schedulable=DATASET_ONLY,
        ),
        # Never schedulable: rollback changes what is served; the transfers reach a URL or
        # databases named in their arguments, with the service's credentials.
        Task("layers.rollback", "pipelines.feed.jobs:rollback_task", "serve the previous layer"),
        Task(
            "layers.transfer-table",
            "pipelines.feed.jobs:transfer_table_task",
            "copy a table between databases",
        ),
        Task(
            "layers.stale-check",
            "pipelines.feed.stale:check_task",
            "notify stale datasets",
            schedulable=ArgSchema(),
        ),
        Task(
            "layers.transfer-url",
            "pipelines.feed.jobs:transfer_url_task",
            "copy an external URL into landing",
        ),
    ),
    provide=provide,
    sweep=scratch.sweep,
)
