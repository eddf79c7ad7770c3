"""Refine of a large layer as partitioned work on the Dask cluster (decisions 84 and 85).

The driver (the process running :func:`pipelines.feed.refine.refine`) opens the layer once to
run the checks that fail fast (CRS, required columns, column names) before any task, cuts the
source into row ranges of about ``LOCXIA_DASK_PARTITION_ROWS`` rows (GeoParquet: whole row
groups; GDAL formats, zipped Shapefiles included: ``skip_features``/``max_features``), and
submits one task per range to the cluster of :func:`infra.cluster.client`. Each task, on a
worker, builds the same :class:`~pipelines.feed.refine.BatchRefiner` from its range's reader
(same checks, repair, PROJ and counters as the in-process path), splits its rows by coarse
Hilbert cell, writes one sorted GeoParquet 1.1 file per cell and puts it under the version's
prefix in the working zone (:mod:`pipelines.feed.partset`), and returns its counters.

The driver merges the counters exactly (:meth:`quality.Tally.merge`, in partition order, so
the report is the in-process one), evaluates the rules once, and only then writes the
manifest, last: a failing rule leaves no version. A file zone's parts are then removed; an S3
zone's stay (the feed role may not delete zone objects) but were put tagged
``locxia-part=pending``, which the working bucket's lifecycle rule expires: the commit clears
each part's tag just before it puts the manifest (decision 95). Dask owns the
distribution and the rescheduling of a lost worker's tasks; part names are deterministic, so
a partition run twice overwrites its own files, and the manifest lists the parts the task
results name, so the output holds every row exactly once.
"""

from __future__ import annotations

import atexit
import hashlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from infra import cluster
from infra.errors import FormatError, LayerError, LocxiaError, QualityError
from infra.settings import Settings
from pipelines.feed import quality
from pipelines.feed.catalog import Version
from pipelines.feed.formats import RowRange, is_parquet, open_layer, row_group_rows
from pipelines.feed.geoparquet import BBOX, KEY, SortedWriter, geo_metadata
from pipelines.feed.memory import trim
from pipelines.feed.model import Dataset, Rules
from pipelines.feed.partset import Manifest, Part, cell_of, manifest_key, part_key
from pipelines.feed.progress import step
from pipelines.feed.project import target_crs
from pipelines.feed.refine import (
    BatchRefiner,
    Refined,
    _reader_warnings,
    _renamed_check,
    _translated,
)
from pipelines.feed.sources import hash_file
from pipelines.feed.zones import Zone, scratch_dir, zone

IN_FLIGHT_PER_WORKER = 2  # tasks queued per worker: one running, one ready (bounds memory)
WARNINGS_KEPT = 5

#: Called on the driver after each partition's result is taken: ``(client, index)``. A seam
#: for the fault tests (kill a worker once a partition is done), ``None`` in production.
on_partition_done: Callable[[Any, int], None] | None = None


@dataclass(frozen=True)
class Source:
    """Where a worker finds the landing file.

    The driver's copy when the worker can see it (embedded cluster, shared file zone), else
    the landing zone's (fetched once per worker process).
    """

    settings: Settings
    key: str
    checksum: str
    local: str


@dataclass(frozen=True)
class PartitionJob:
    """One partition of the layer: everything a worker needs, all picklable (no connection)."""

    dataset: str
    rules: Rules
    source: Source
    layer: str | None
    index: int
    rows: RowRange
    batch_rows: int
    prefix: str


@dataclass
class PartResult:
    """What a partition's task returns: its counters and parts, or its failure as a value.

    A failure travels as a value (not an exception through Dask): Dask would retry it, and
    :class:`QualityError` does not survive pickling with its report.
    """

    index: int
    tally: quality.Tally = field(default_factory=quality.Tally)
    parts: list[Part] = field(default_factory=list)
    source_extent: list[float] | None = None
    warnings: list[str] = field(default_factory=list)
    warning_count: int = 0
    row_groups: int = 0
    error: dict[str, Any] | None = None

    def raise_error(self) -> None:
        """Raise the partition's failure again on the driver (the in-process exception)."""
        if self.error is None:
            return
        if self.error["kind"] == "quality":
            raise QualityError(self.error["dataset"], self.error["failures"], self.error["report"])
        if self.error["kind"] == "format":
            raise FormatError(self.error["message"])
        raise LayerError(self.error["message"])


def plan(path: Path, rows: int, partition_rows: int) -> list[RowRange]:
    """The row ranges of the layer at ``path`` (``rows`` as profiled at ingest).

    GeoParquet ranges are whole row groups gathered up to ``partition_rows`` (a reader then
    reads only its own groups); other formats are cut every ``partition_rows`` rows, the last
    range open-ended (a ``where`` filter, or a count GDAL estimated, cannot lose rows).

    Raises:
        FormatError: a GeoParquet file whose metadata cannot be read.
    """
    if is_parquet(path):
        ranges: list[RowRange] = []
        start = offset = 0
        for n in row_group_rows(path):
            offset += n
            if offset - start >= partition_rows:
                ranges.append(RowRange(start, offset))
                start = offset
        if offset > start or not ranges:
            ranges.append(RowRange(start, offset))
        return [*ranges[:-1], RowRange(ranges[-1].start, None)]
    count = max(1, -(-rows // partition_rows))
    return [
        RowRange(i * partition_rows, (i + 1) * partition_rows if i < count - 1 else None)
        for i in range(count)
    ]


# --- on a worker ------------------------------------------------------------------------

_CACHE: dict[str, Path] = {}
_CACHE_DIRS = ExitStack()
atexit.register(_CACHE_DIRS.close)


def _source_path(source: Source) -> Path:
    """The landing file on this worker: the driver's copy if visible, else fetched once."""
    local = Path(source.local)
    if local.is_file():
        return local
    cached = _CACHE.get(source.checksum)
    if cached is not None and cached.is_file():
        return cached
    folder = _CACHE_DIRS.enter_context(scratch_dir(source.settings, "dask-source"))
    _CACHE[source.checksum] = zone(source.settings, "landing").fetch(source.key, folder)
    return _CACHE[source.checksum]


def drop_cached(checksum: str) -> None:
    """Forget (and delete) a worker's copy of a landing file once the run is over."""
    cached = _CACHE.pop(checksum, None)
    if cached is not None:
        cached.unlink(missing_ok=True)


def refine_partition(job: PartitionJob) -> PartResult:
    """Refine one partition on a worker: its counters and the parts it put in working.

    Rules that fail fast (encoding, say) come back as :attr:`PartResult.error`; anything
    else unexpected raises, and Dask reports it to the driver.
    """
    try:
        with scratch_dir(job.source.settings, "refine-part") as scratch:
            return _refine_partition(job, _source_path(job.source), scratch)
    except QualityError as exc:
        error = {"kind": "quality", "dataset": job.dataset, "failures": exc.failures}
        return PartResult(job.index, error={**error, "report": exc.report})
    except FormatError as exc:
        return PartResult(job.index, error={"kind": "format", "message": str(exc)})
    except LocxiaError as exc:
        return PartResult(job.index, error={"kind": "layer", "message": str(exc)})


class _Cells:
    """One sorted writer per coarse Hilbert cell of a partition, with each cell's bbox."""

    def __init__(self, scratch: Path, key_extent: tuple[float, float, float, float]) -> None:
        self.scratch = scratch
        self.key_extent = key_extent
        self.writers: dict[int, SortedWriter] = {}
        self.boxes: dict[int, quality.Tally] = {}

    def add(self, batch: pa.RecordBatch) -> None:
        cells = cell_of(batch.column(KEY).to_numpy())
        bbox = batch.column(BBOX)
        bounds = np.column_stack(
            [bbox.field(k).to_numpy(zero_copy_only=False) for k in ("xmin", "ymin", "xmax", "ymax")]
        ).astype(np.float64)  # null (no geometry) → NaN, left out of the cell's bbox
        for cell in np.unique(cells).tolist():
            mask = cells == cell
            if cell not in self.writers:
                folder = self.scratch / f"cell-{cell:02d}"
                folder.mkdir()
                self.writers[cell] = SortedWriter(folder, key_extent=self.key_extent)
                self.boxes[cell] = quality.Tally()
            self.writers[cell].add(batch.filter(pa.array(mask)))
            self.boxes[cell].add_bbox(bounds[mask])

    def write(self, job: PartitionJob, types: list[str], working: Zone) -> tuple[list[Part], int]:
        """Write and put every cell's file; the parts and their row groups."""
        parts, groups = [], 0
        crs = target_crs().to_json_dict()
        for cell in sorted(self.writers):
            writer, bbox = self.writers[cell], self.boxes[cell].bbox
            local = self.scratch / f"cell-{cell:02d}.parquet"
            extent = None if bbox is None else (bbox[0], bbox[1], bbox[2], bbox[3])
            groups += writer.write(local, geo_metadata(crs, types, bbox), extent)
            digest, size = hash_file(local, "checksum part")
            key = part_key(job.index, cell)
            # deterministic name: a partition Dask runs again overwrites its own file;
            # pending until the driver commits the version (decision 95)
            working.put_file(local, job.prefix + key, pending=True)
            box = None if bbox is None else tuple(bbox)
            parts.append(Part(key, writer.rows, size, digest, cell, box))
            local.unlink()
            trim()
        return parts, groups


def _refine_partition(job: PartitionJob, path: Path, scratch: Path) -> PartResult:
    rules = job.rules
    with open_layer(path, job.layer, job.batch_rows, rules.encoding, rules.where, job.rows) as rd:
        refiner = BatchRefiner(job.dataset, rd, rules)
        cells = _Cells(scratch, refiner.bounds)
        with _translated(path):
            for batch in rd.batches:
                out, tally = refiner.process(batch)
                refiner.tally.merge(tally)
                cells.add(out)
                trim()
        _reader_warnings(rd, refiner)
        warnings = list(rd.warnings)
    types = sorted(refiner.tally.types_out)
    parts, groups = cells.write(job, types, zone(job.source.settings, "working"))
    return PartResult(
        index=job.index,
        tally=refiner.tally,
        parts=parts,
        source_extent=refiner.reproject.source_extent,
        warnings=warnings[:WARNINGS_KEPT],
        warning_count=len(warnings),
        row_groups=groups,
    )


# --- on the driver ----------------------------------------------------------------------


def _gather(client: Any, jobs: list[PartitionJob], label: str, total: int) -> list[PartResult]:
    """Submit the jobs (bounded in flight), take results as they complete, stop at a failure.

    Keys are explicit and ``pure=False``: each run's tasks are its own, never a cached result.
    On a failure no more job is submitted and the ones in flight are waited for (so no task
    is still writing parts when the driver cleans up).
    """
    dist = cluster._distributed()
    workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
    bound = workers * IN_FLIGHT_PER_WORKER
    run = uuid.uuid4().hex[:8]
    queue: Iterator[PartitionJob] = iter(jobs)

    def submit(job: PartitionJob) -> Any:
        key = f"refine-partition-{job.dataset}-{run}-{job.index:05d}"
        return client.submit(refine_partition, job, key=key, pure=False, retries=0)

    first = [submit(j) for _, j in zip(range(bound), queue, strict=False)]
    done = dist.as_completed(first)
    results: list[PartResult] = []
    failed: PartResult | None = None
    with step(label, total, unit="rows") as bar:
        for future in done:
            result = _result(client, future, done)
            future.release()
            if result.error is not None:
                failed = failed or result
            elif failed is None:
                results.append(result)
                bar.advance(result.tally.rows_in)
                if on_partition_done is not None:
                    on_partition_done(client, result.index)
            following = next(queue, None) if failed is None else None
            if following is not None:
                done.add(submit(following))
    if failed is not None:
        failed.raise_error()
    return sorted(results, key=lambda r: r.index)


def _result(client: Any, future: Any, pending: Any) -> PartResult:
    """A task's result; an exception the task did not turn into a value, as one line.

    That is a bug or the cluster giving up (``KilledWorker``: the partition's workers died
    ``distributed.scheduler.allowed-failures`` times): what is still in flight is cancelled.

    Raises:
        LayerError: the task raised.
    """
    try:
        result: PartResult = future.result()
    except Exception as exc:
        client.cancel(list(pending.futures))
        reason = " ".join(str(exc).split())[:200]
        raise LayerError(
            f"partition task {future.key} failed on the cluster: {type(exc).__name__}: {reason}"
        ) from exc
    return result


def _merge(results: list[PartResult]) -> tuple[quality.Tally, list[float] | None, list[str], int]:
    """The layer's counters: the partitions' merged in partition order (as one read is)."""
    tally = quality.Tally()
    extent: quality.Tally = quality.Tally()  # only its bbox: the source extent
    warnings: list[str] = []
    count = 0
    for r in results:
        tally.merge(r.tally)
        if r.source_extent is not None:
            extent.add_bbox(np.array([r.source_extent]))
        warnings.extend(r.warnings)
        count += r.warning_count
    return tally, extent.bbox, warnings[:WARNINGS_KEPT], count


def refine_partitioned(
    settings: Settings,
    dataset: Dataset,
    landing: Version,
    local: Path,
    prefix: str,
    scratch: Path,
) -> Refined:
    """Refine the landed file ``local`` on the cluster into parts under ``prefix`` in working.

    Returns the version as :class:`Refined` whose ``path`` is the manifest (already put).

    Raises:
        QualityError: a rule failed (same report as in process); no version is left in working:
            a file zone's parts are removed, an S3 zone's stay tagged ``locxia-part=pending``
            (no manifest lists them) until the working bucket's lifecycle rule expires them.
        FormatError: the file cannot be read.
        ClusterError: the cluster cannot be reached or started.
    """
    name, rules = dataset.name, dataset.rules
    batch_rows = settings.layers_batch_rows
    with open_layer(local, landing.layer, batch_rows, rules.encoding, rules.where) as reader:
        refiner = BatchRefiner(name, reader, rules)  # the checks that fail fast, before any task
        refiner.context["encoding"] = rules.encoding or reader.encoding
    ranges = plan(local, landing.rows or 0, settings.dask_partition_rows)
    source = Source(settings, landing.key, landing.checksum, str(local))
    jobs = [
        PartitionJob(name, rules, source, landing.layer, i, r, batch_rows, prefix)
        for i, r in enumerate(ranges)
    ]
    working = zone(settings, "working")
    working.delete_prefix(prefix)  # what a killed run left (no manifest: no version)
    try:
        with cluster.client(settings) as client:
            workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
            try:
                results = _gather(client, jobs, f"refine {name}", landing.rows or 0)
            finally:
                # a worker that died meanwhile has nothing left to drop
                client.run(drop_cached, landing.checksum, on_error="ignore")
        return _commit(name, rules, refiner, results, working, prefix, scratch, workers)
    except BaseException:
        working.delete_prefix(prefix)
        raise


def _commit(
    name: str,
    rules: Rules,
    refiner: BatchRefiner,
    results: list[PartResult],
    working: Zone,
    prefix: str,
    scratch: Path,
    workers: int,
) -> Refined:
    """Evaluate the merged counters as refine_file does; put the manifest, last, if they pass.

    Between the two, every part's pending tag is cleared (:meth:`Zone.commit_parts`): a part
    the manifest lists must never expire, and a part left pending is what the lifecycle rule
    reclaims. A run that dies after the untagging and before the manifest leaves untagged
    parts without a version; the next run of the same landing version, rules and partition
    size writes the same names (:func:`~pipelines.feed.partset.part_key`) over them.
    """
    tally, source_extent, warnings, warning_count = _merge(results)
    if warning_count:
        refiner.context["reader_warnings"] = {"count": warning_count, "first": warnings}
    checks = quality.evaluate(tally, rules, refiner.bounds, name)
    extent = tally.bbox if refiner.reproject.identity else source_extent
    units = quality.units(extent, refiner.reproject.geographic, tally.outside, rules, name)
    if units is not None:
        checks.append(units)
    if refiner.columns.renamed:
        checks.append(_renamed_check(refiner))
    context = {**refiner.context, "engine": "dask", "partitions": len(results)}
    report = quality.report(name, tally, checks, rules, {**context, "workers": workers})
    failed = quality.failures(checks)
    if failed:
        raise QualityError(name, failed, report)
    if tally.rows_out == 0:
        raise QualityError(name, ["rows: no feature left to write"], report)
    parts = tuple(sorted((p for r in results for p in r.parts), key=lambda p: p.key))
    manifest = Manifest(rows=tally.rows_out, parts=parts)
    if sum(p.rows for p in parts) != tally.rows_out:  # exactly once, or no version
        raise LayerError(
            f"{name}: the parts hold {sum(p.rows for p in parts)} rows, the partitions"
            f" counted {tally.rows_out}; nothing was committed"
        )
    report["row_groups"] = sum(r.row_groups for r in results)
    report["feature_key"] = refiner.feature_key
    path = scratch / "_manifest.json"
    path.write_bytes(manifest.to_bytes())
    working.commit_parts([prefix + p.key for p in parts])  # before the manifest: never expire
    working.put_file(path, manifest_key(prefix))  # last: the version exists from here on
    types = sorted(tally.types_out)
    return Refined(
        path, report, tally.rows_out, report["row_groups"], tally.bbox, types,
        refiner.columns.renamed, manifest=manifest,
    )  # fmt: skip


def manifest_checksum(refined: Refined) -> str:
    """The version's checksum: SHA-256 of its manifest's bytes."""
    return hashlib.sha256(refined.path.read_bytes()).hexdigest()
