"""landing → working: read in Arrow batches, check, repair, reproject, write sorted GeoParquet.

Memory stays bounded whatever the layer size: GDAL (or pyarrow for GeoParquet) hands over
batches of ``LOCXIA_LAYERS_BATCH_ROWS`` rows; each batch is checked, repaired, reprojected
and spilled to disk; the spatial sort is external (:mod:`pipelines.feed.geoparquet`).
Rules that can fail on the first batch (CRS, required columns, text encoding) stop at once;
the others (types, validity, bounds, rows, duplicates) are evaluated on counters at the end.
Either way a failing layer stays in landing with its report and nothing reaches working.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import shapely
from pyproj.exceptions import ProjError
from shapely.errors import GEOSException

from infra.errors import FormatError, InputError, QualityError, SourceError
from infra.settings import Settings
from pipelines.feed import catalog, quality
from pipelines.feed.catalog import Outcome
from pipelines.feed.columns import column_names
from pipelines.feed.formats import LayerReader, open_layer
from pipelines.feed.geoparquet import BBOX, GEOMETRY, KEY, SortedWriter, bbox_type, geo_metadata
from pipelines.feed.memory import trim
from pipelines.feed.model import TARGET_CRS, Dataset, Rules, dataset_name
from pipelines.feed.progress import Reporter, step
from pipelines.feed.project import (
    Reprojector,
    crs_label,
    france_bounds,
    hilbert_keys,
    parse_crs,
    target_crs,
)
from pipelines.feed.sources import hash_file
from pipelines.feed.zones import scratch_dir, zone

TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LineString",  # a LinearRing is a closed LineString for every consumer
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}
RESERVED = {GEOMETRY, BBOX, KEY, "fid"}
WORKERS = 2  # batches processed at once (the machines have 2 cores)


@dataclass(frozen=True)
class Refined:
    """A refined file in scratch space, with what the catalog needs to know about it."""

    path: Path
    report: dict[str, Any]
    rows: int
    row_groups: int
    bbox: list[float] | None
    geometry_types: list[str]
    renamed: dict[str, str] = field(default_factory=dict)


def _fail_fast(dataset: str, rule: str, detail: str, context: dict[str, Any]) -> QualityError:
    report = {
        "dataset": dataset,
        "passed": False,
        "checks": [{"rule": rule, "passed": False, "detail": detail}],
        **context,
    }
    return QualityError(dataset, [f"{rule}: {detail}"], report)


class BatchRefiner:
    """Checks, repairs and reprojects one batch at a time, counting what it saw."""

    def __init__(self, dataset: str, reader: LayerReader, rules: Rules) -> None:
        self.dataset = dataset
        self.rules = rules
        self.tally = quality.Tally()
        self.context: dict[str, Any] = {"source_crs": None, "target_crs": TARGET_CRS}
        source = self._source_crs(reader)
        self.context["source_crs"] = crs_label(source)
        try:
            self.reproject = Reprojector(source)
        except ProjError as exc:
            raise _fail_fast(
                self.dataset,
                "crs",
                f"PROJ cannot transform {crs_label(source)} to {TARGET_CRS} ({exc});"
                " declare the layer's real CRS in rules.crs",
                self.context,
            ) from exc
        self.bounds = rules.bounds or france_bounds()
        self.context["bounds"] = list(self.bounds)
        self.geometry_column = reader.geometry_column
        self._check_columns(reader.fields)
        attributes = [f for f in reader.fields if f != reader.geometry_column]
        try:
            self.columns = column_names(attributes, RESERVED)
        except ValueError as exc:
            raise _fail_fast(self.dataset, "column_names", str(exc), self.context) from exc
        self.renames = self.columns.final
        if self.columns.renamed:
            self.context["renamed_columns"] = self.columns.renamed
        if self.columns.collisions:
            self.context["column_collisions"] = [
                {
                    "columns": list(c.sources),
                    "postgresql_name": c.stored,
                    "renamed": {s: self.renames[s] for s in c.sources if s in self.renames},
                    "line": c.line(),
                }
                for c in self.columns.collisions
            ]

    def _source_crs(self, reader: LayerReader) -> Any:
        declared = self.rules.crs
        if reader.crs is None and declared is None:
            raise _fail_fast(
                self.dataset,
                "crs",
                "the layer has no CRS; declare it in rules.crs (e.g. EPSG:4326)",
                self.context,
            )
        found = parse_crs(reader.crs or str(declared), f"{self.dataset}: CRS")
        if reader.crs is not None and declared is not None:
            wanted = parse_crs(declared, f"params.datasets[{self.dataset}].rules.crs")
            if not found.equals(wanted, ignore_axis_order=True):
                raise _fail_fast(
                    self.dataset,
                    "crs",
                    f"the layer is in {crs_label(found)}, rules.crs says {crs_label(wanted)}",
                    self.context,
                )
        return found

    def _check_columns(self, fields: tuple[str, ...]) -> None:
        wanted = list(self.rules.required_columns)
        if self.rules.id_column:
            wanted.append(self.rules.id_column)
        missing = [c for c in wanted if c not in fields]
        if missing:
            raise _fail_fast(
                self.dataset,
                "required_columns",
                f"missing {', '.join(missing)} (columns: {', '.join(fields) or 'none'})",
                self.context,
            )

    def _check_text(self, batch: pa.RecordBatch) -> None:
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                continue
            try:
                column.validate(full=True)
            except pa.ArrowInvalid as exc:
                hint = "declare the source encoding in rules.encoding (e.g. CP1252)"
                raise _fail_fast(
                    self.dataset,
                    "encoding",
                    f"column {name!r} is not valid UTF-8; {hint}",
                    self.context,
                ) from exc

    def _ids(self, batch: pa.RecordBatch, keep: np.ndarray, t: quality.Tally) -> None:
        column = batch.column(self.rules.id_column).filter(pa.array(keep)).drop_null()
        if pa.types.is_integer(column.type):
            t.ids.append(column.to_numpy().astype(np.int64))
        else:
            values = (hash(v) for v in column.to_pylist())
            t.ids.append(np.fromiter(values, dtype=np.int64, count=len(column)))

    def _geometries(self, batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray | None]:
        """Geometries in EPSG:2154, and their WKB (objects) when reprojected as bytes."""
        if self.geometry_column not in batch.schema.names:
            raise FormatError(f"{self.dataset}: the layer has no geometry column")
        raw = batch.column(self.geometry_column)
        if isinstance(raw.type, pa.ExtensionType):
            raw = raw.storage
        projected = self.reproject.wkb(raw)
        if projected is not None:
            wkb = projected.to_numpy(zero_copy_only=False)
            return shapely.from_wkb(wkb, on_invalid="ignore"), wkb
        geoms = shapely.from_wkb(raw.to_numpy(zero_copy_only=False), on_invalid="ignore")
        return self.reproject(geoms), None

    def process(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, quality.Tally]:
        """One batch out (attributes, ``geom`` WKB in EPSG:2154, ``bbox``, key) and its counters.

        Safe to call from several threads at once: nothing shared is mutated. Validity is
        judged in EPSG:2154, the CRS the geometries will be used in.
        """
        self._check_text(batch)
        t = quality.Tally()
        t.rows_in += batch.num_rows
        geoms, wkb_in = self._geometries(batch)
        missing = shapely.is_missing(geoms)
        empty = ~missing & shapely.is_empty(geoms)
        t.null += int(missing.sum())
        t.empty += int(empty.sum())
        types = shapely.get_type_id(geoms)
        for type_id, count in zip(*np.unique(types[~missing], return_counts=True), strict=True):
            t.types_in[TYPE_NAMES.get(int(type_id), str(type_id))] += int(count)
        present = ~missing & ~empty
        # PROJ gives inf for points it cannot project (longitudes shifted by whole turns, a
        # wrong CRS): GEOS cannot judge or repair those ("Shell empty after removing invalid
        # points"), so they are counted, kept out of make_valid and fail the layer.
        bounds_all = shapely.bounds(geoms)  # computed once: reused for the bounds check
        unprojectable = present & ~np.isfinite(bounds_all).all(axis=1)
        t.unprojectable += int(unprojectable.sum())
        invalid = present & ~unprojectable & ~shapely.is_valid(geoms)
        t.invalid += int(invalid.sum())
        if invalid.any() and self.rules.repair:
            fixed = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
            geoms[invalid] = fixed
            bounds_all[invalid] = shapely.bounds(fixed)
            t.repaired += int((~shapely.is_empty(fixed)).sum())
            if wkb_in is not None:  # only the repaired ones are serialised again
                wkb_in[invalid] = shapely.to_wkb(fixed)
        keep = present if self.rules.null_geometries == "drop" else np.ones(len(geoms), bool)
        if self.rules.id_column:
            self._ids(batch, keep, t)
        geoms = geoms[keep]
        wkb_out = shapely.to_wkb(geoms) if wkb_in is None else wkb_in[keep]
        wkb = pa.array(wkb_out, type=pa.binary())
        bounds = bounds_all[keep]
        finite = np.isfinite(bounds).all(axis=1)
        has_geom = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
        b = self.bounds
        inside = (
            finite
            & (bounds[:, 0] >= b[0])
            & (bounds[:, 1] >= b[1])
            & (bounds[:, 2] <= b[2])
            & (bounds[:, 3] <= b[3])
        )
        # a geometry PROJ could not project (inf/NaN coordinates) is outside, never ignored
        t.outside += int((present[keep] & ~(has_geom & inside)).sum())
        t.add_bbox(bounds[has_geom & finite])
        out_types = shapely.get_type_id(geoms[has_geom])
        for type_id, count in zip(*np.unique(out_types, return_counts=True), strict=True):
            t.types_out[TYPE_NAMES.get(int(type_id), str(type_id))] += int(count)
        t.rows_out += len(geoms)
        return self._batch(batch, keep, wkb, bounds, has_geom), t

    def _batch(
        self,
        batch: pa.RecordBatch,
        keep: np.ndarray,
        wkb: pa.Array,
        bounds: np.ndarray,
        has_geom: np.ndarray,
    ) -> pa.RecordBatch:
        mask = pa.array(keep)
        arrays = [batch.column(src).filter(mask) for src in self.renames]
        names = list(self.renames.values())
        for i, column in enumerate(arrays):
            if pa.types.is_dictionary(column.type):
                arrays[i] = column.dictionary_decode()
        no_geom = pa.array(~has_geom)
        fields = [
            pa.array(np.where(has_geom, bounds[:, i], np.nan), mask=~has_geom) for i in range(4)
        ]
        bbox = pa.StructArray.from_arrays(fields, fields=list(bbox_type()), mask=no_geom)
        keys = pa.array(hilbert_keys(bounds, self.bounds), type=pa.uint32())
        return pa.RecordBatch.from_arrays(
            [*arrays, wkb, bbox, keys], names=[*names, GEOMETRY, BBOX, KEY]
        )


def _collect(
    future: Future[tuple[pa.RecordBatch, quality.Tally]],
    refiner: BatchRefiner,
    writer: SortedWriter,
    bar: Reporter,
) -> None:
    out, tally = future.result()
    refiner.tally.merge(tally)
    writer.add(out)
    bar.advance(tally.rows_in)
    trim()


def refine_file(
    dataset: str,
    path: Path,
    layer: str | None,
    rules: Rules,
    scratch: Path,
    batch_rows: int,
    total_rows: int | None = None,
) -> Refined:
    """Refine one file into ``scratch/<dataset>.parquet``.

    ``total_rows`` (the count ingest profiled) is the progress total when the reader does not
    know it (GDAL streams without counting).

    Raises:
        QualityError: a rule failed (the report is on the exception).
        FormatError: the file cannot be read.
    """
    target = scratch / f"{dataset}.parquet"
    writer = SortedWriter(scratch)
    with open_layer(path, layer, batch_rows, rules.encoding) as reader:
        refiner = BatchRefiner(dataset, reader, rules)
        total = reader.rows if reader.rows is not None else total_rows
        with (
            step(f"refine {dataset}", total, unit="rows") as bar,
            ThreadPoolExecutor(WORKERS) as pool,
            _translated(path),
        ):
            # GEOS and PROJ release the GIL: WORKERS batches are processed at once, results
            # are taken in order (same file whatever the timing), memory holds WORKERS + 1.
            pending: deque[Future[tuple[pa.RecordBatch, quality.Tally]]] = deque()
            for batch in reader.batches:
                pending.append(pool.submit(refiner.process, batch))
                if len(pending) > WORKERS:
                    _collect(pending.popleft(), refiner, writer, bar)
            while pending:
                _collect(pending.popleft(), refiner, writer, bar)
    tally = refiner.tally
    checks = quality.evaluate(tally, rules, refiner.bounds)
    if tally.unprojectable:
        checks.append(_coordinates_check(tally.unprojectable, refiner.context["source_crs"]))
    if refiner.columns.renamed:
        checks.append(_renamed_check(refiner))
    report = quality.report(dataset, tally, checks, rules, refiner.context)
    failed = quality.failures(checks)
    if failed:
        raise QualityError(dataset, failed, report)
    types = sorted(tally.types_out)
    with step(f"sort and write {dataset}", None):
        groups = writer.write(target, geo_metadata(target_crs().to_json_dict(), types, tally.bbox))
    report["row_groups"] = groups
    return Refined(
        target, report, tally.rows_out, groups, tally.bbox, types, refiner.columns.renamed
    )


@contextmanager
def _translated(path: Path) -> Iterator[None]:
    """GEOS, PROJ and Arrow failures inside refine as one :class:`FormatError` line.

    The known causes are caught where they arise (coordinates PROJ cannot project, a CRS it
    cannot transform, a missing geometry column); this is the boundary for the rest, so no
    library's exception reaches a user or the scheduler unexplained.
    """
    try:
        yield
    except GEOSException as exc:
        raise FormatError(
            f"{path.name}: GEOS cannot process a geometry ({exc}); check the layer's"
            " coordinates and CRS"
        ) from exc
    except ProjError as exc:
        raise FormatError(
            f"{path.name}: PROJ cannot reproject the layer ({exc}); declare its real CRS in"
            " rules.crs"
        ) from exc
    except pa.ArrowException as exc:
        raise FormatError(f"{path.name}: cannot convert the layer's columns ({exc})") from exc


def _coordinates_check(count: int, source_crs: str | None) -> quality.Check:
    """A failing check for features whose coordinates PROJ could not project."""
    return quality.Check(
        "coordinates",
        False,
        f"{count} feature(s) with coordinates PROJ cannot project from {source_crs} to"
        f" {TARGET_CRS} (outside the CRS's valid range, e.g. longitudes shifted by whole"
        " turns); fix them in the source, or declare the layer's real CRS in rules.crs",
    )


def _renamed_check(refiner: BatchRefiner) -> quality.Check:
    """A passing check that says which columns were renamed, and why (shown by the CLI)."""
    why = [c.line() for c in refiner.columns.collisions]
    mapping = ", ".join(f"{src!r} → {dst!r}" for src, dst in refiner.columns.renamed.items())
    return quality.Check("column_names", True, "; ".join([*why, f"renamed {mapping}"]))


def _landing(conn: Any, name: str, version_id: int | None) -> catalog.Version:
    """The landing version to refine: ``version_id`` (None: the newest) of dataset ``name``.

    Raises:
        InputError: no such landing version of ``name`` (the line lists the latest ones), or
            nothing in landing at all.
        FormatError: that version was rejected at ingest (its reason is repeated).
    """
    if version_id is None:
        newest = catalog.find(conn, name, "landing", statuses=("landed", "refined", "rejected"))
        if newest is None:
            raise InputError(f"{name}: nothing in landing (run `locxia ingest` first)", "refine")
        landing = newest
    else:
        found = catalog.get(conn, version_id)
        if found is None or found.dataset != name or found.zone != "landing":
            raise InputError(catalog.missing_version(conn, name, "landing", version_id), "refine")
        landing = found
    if landing.rejected_by == "ingest":  # never stored in landing: nothing to refine
        raise FormatError(
            f"{name}: landing version {landing.id} was rejected at ingest: {landing.reason}"
        )
    return landing


def _refine_landed(
    conn: Any, settings: Settings, dataset: Dataset, landing: catalog.Version, scratch: Path
) -> Refined:
    """Refine the landed file; a failure is recorded on the landing version, then re-raised."""
    try:
        local = zone(settings, "landing").fetch(landing.key, scratch)
        return refine_file(
            dataset.name,
            local,
            landing.layer,
            dataset.rules,
            scratch,
            settings.layers_batch_rows,
            landing.rows,
        )
    except (QualityError, FormatError) as exc:
        report = (
            exc.report
            if isinstance(exc, QualityError)
            else {"dataset": dataset.name, "passed": False, "error": str(exc), "checks": []}
        )
        catalog.reject(conn, landing.id, "refine", str(exc), report)
        conn.commit()
        raise


def refine(
    conn: Any,
    settings: Settings,
    name: str,
    *,
    version_id: int | None = None,
    run_id: int | None = None,
) -> Outcome:
    """Refine the newest landing version of ``name`` (or ``version_id``) into working.

    A no-op when that landing version was already refined under the same rules.

    Raises:
        InputError: bad name, or nothing in landing.
        QualityError: a rule failed; the landing version is marked ``rejected`` with the report.
        FormatError: the landed file cannot be read (also marked ``rejected``).
    """
    name = dataset_name(name)
    dataset = catalog.load_dataset(conn, name) or Dataset(name)
    landing = _landing(conn, name, version_id)
    fingerprint = f"{landing.id}:{dataset.rules.digest}"
    working = zone(settings, "working")
    existing = catalog.find(conn, name, "working", fingerprint=fingerprint)
    conn.rollback()
    if existing is not None:
        if not working.exists(existing.key):
            raise SourceError(f"{existing.uri} is recorded but missing from the working zone")
        return Outcome(existing, True)
    started, clock = datetime.now(UTC), time.perf_counter()
    with scratch_dir(settings, "refine") as scratch:
        result = _refine_landed(conn, settings, dataset, landing, scratch)
        checksum, size = hash_file(result.path, f"checksum {name}")
        key = f"{name}/{landing.checksum[:16]}-{dataset.rules.digest[:8]}/{name}.parquet"
        working.put_file(result.path, key)
    new = catalog.NewVersion(
        dataset=name,
        zone="working",
        uri=working.uri_for(key),
        fingerprint=fingerprint,
        checksum=checksum,
        status="ready",
        parent_id=landing.id,
        rows=result.rows,
        bytes=size,
        crs=TARGET_CRS,
        bbox=result.bbox,
        geometry_types=result.geometry_types,
        layer=landing.layer,
        quality=result.report,
        provenance={
            "key": key,
            "rules_digest": dataset.rules.digest,
            **({"renamed_columns": renamed} if (renamed := result.renamed) else {}),
        },
        run_id=run_id,
    )
    version = catalog.insert(conn, new)
    catalog.set_status(conn, landing.id, "refined", result.report)
    catalog.add_edge(
        conn,
        dataset=name,
        step="refine",
        from_uri=landing.uri,
        to_uri=version.uri,
        from_version=landing.id,
        to_version=version.id,
        rows=result.rows,
        started_at=started,
        duration_s=time.perf_counter() - clock,
        run_id=run_id,
    )
    conn.commit()
    return Outcome(version, False)
