"""landing → working: read in Arrow batches, check, repair, reproject, write sorted GeoParquet.

Memory stays bounded whatever the layer size: GDAL (or pyarrow for GeoParquet) hands over
batches of ``LOCXIA_LAYERS_BATCH_ROWS`` rows; each batch is checked, repaired, reprojected
and spilled to disk; the spatial sort is external (:mod:`pipelines.feed.geoparquet`).
Rules that can fail on the first batch (CRS, required columns, text encoding) stop at once;
the others (types, validity, bounds, rows, duplicates) are evaluated on counters at the end.
Either way a failing layer stays in landing with its report and nothing reaches working.
"""

from __future__ import annotations

import hashlib
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
import pyarrow.compute as pc
import shapely
from pyproj.exceptions import ProjError
from shapely.errors import GEOSException

from infra.errors import FormatError, InputError, QualityError, SourceError
from infra.settings import Settings
from pipelines.feed import catalog, partset, quality
from pipelines.feed.catalog import Outcome
from pipelines.feed.columns import column_names
from pipelines.feed.formats import LayerReader, open_layer
from pipelines.feed.geoparquet import (
    BBOX,
    FID,
    GEOMETRY,
    KEY,
    SortedWriter,
    bbox_type,
    geo_metadata,
)
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
RESERVED = {GEOMETRY, BBOX, KEY, FID}
# Text that was decoded with the wrong code page: U+FFFD (bytes that were not UTF-8), C1
# controls (CP1252 read as Latin-1), UTF-8 read as Latin-1/CP1252 ("Ã©" for "é").
SUSPECT_TEXT = (
    "\ufffd|[\u0080-\u009f]"
    "|[ÃÂ][\u00a0-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6"
    "\u02dc\u2013-\u203a\u20ac\u2122]"
)
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
    manifest: partset.Manifest | None = None  # a partitioned version: ``path`` is the manifest


def _fail_fast(dataset: str, rule: str, detail: str, context: dict[str, Any]) -> QualityError:
    report = {
        "dataset": dataset,
        "passed": False,
        "checks": [{"rule": rule, "passed": False, "detail": detail}],
        **context,
    }
    return QualityError(dataset, [f"{rule}: {detail}"], report)


def _label_or_none(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return crs_label(parse_crs(text, "file CRS"))
    except FormatError:
        return text[:60]


def _may_be_suspect(column: pa.Array) -> bool:
    """Whether a string column's bytes hold what :data:`SUSPECT_TEXT` looks for (a pre-check).

    The regex costs ~0.5 µs a row; the UTF-8 bytes every match starts with (C2 80–9F for a
    C1 control, C3 82/83 for Â/Ã, EF BF for U+FFFD) are found in one vectorised pass over the
    column's data buffer, so clean text never reaches the regex.
    """
    data = column.buffers()[2]
    if data is None or data.size < 2:
        return False
    buf = np.frombuffer(data, np.uint8)
    lead, next_ = buf[:-1], buf[1:]
    c1 = (lead == 0xC2) & (next_ >= 0x80) & (next_ <= 0x9F)
    latin1 = (lead == 0xC3) & ((next_ == 0x82) | (next_ == 0x83))
    replacement = (lead == 0xEF) & (next_ == 0xBF)
    return bool((c1 | latin1 | replacement).any())


def _stable_hash(value: object) -> int:
    """A 64-bit hash of an id value, the same in every process.

    Python's ``hash`` of text is salted per process (PYTHONHASHSEED): partitions refined in
    different worker processes would not see each other's duplicates.
    """
    digest = hashlib.blake2b(repr(value).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


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
        self.fid_column = reader.fid_column  # None: a reader without FIDs (rows numbered later)
        # the exposure's primary key: the declared id column, else the source's feature id
        self.feature_key = self.renames.get(rules.id_column, FID) if rules.id_column else FID
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
        where = f"params.datasets[{self.dataset}].rules"
        if self.rules.crs_override is not None:
            crs = parse_crs(self.rules.crs_override, f"{where}.crs_override")
            self.context["file_crs"] = _label_or_none(reader.crs)
            self.context["crs_override"] = crs_label(crs)
            return crs
        declared = self.rules.crs
        if reader.crs is None and declared is None:
            raise _fail_fast(
                self.dataset,
                "crs",
                f"the layer has no CRS; declare it: locxia datasets set {self.dataset}"
                " crs=EPSG:4326 (the CRS the coordinates are in)",
                self.context,
            )
        found = parse_crs(reader.crs or str(declared), f"{self.dataset}: CRS")
        if reader.crs is not None and declared is not None:
            wanted = parse_crs(declared, f"params.datasets[{self.dataset}].rules.crs")
            if not found.equals(wanted, ignore_axis_order=True):
                raise _fail_fast(
                    self.dataset,
                    "crs",
                    f"the layer is in {crs_label(found)}, rules.crs says {crs_label(wanted)};"
                    " if the file's CRS (.prj) is wrong: locxia datasets set"
                    f" {self.dataset} crs_override={crs_label(wanted)}",
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
                hint = (
                    f"declare the source's code page: locxia datasets set {self.dataset}"
                    " encoding=CP1252"
                )
                raise _fail_fast(
                    self.dataset,
                    "encoding",
                    f"column {name!r} is not valid UTF-8; {hint}",
                    self.context,
                ) from exc

    def _suspect_text(self, batch: pa.RecordBatch, t: quality.Tally) -> None:
        """Count rows whose text looks decoded with the wrong code page; keep one example."""
        suspect: pa.Array | None = None
        for name in self.renames:
            column = batch.column(name)
            if pa.types.is_dictionary(column.type):
                column = column.dictionary_decode()
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                continue
            if not _may_be_suspect(column):
                continue
            hits = pc.fill_null(pc.match_substring_regex(column, SUSPECT_TEXT), False)
            if t.suspect_example is None and pc.any(hits).as_py():
                value = column.filter(hits)[0].as_py()
                t.suspect_example = (name, str(value)[:80])
            suspect = hits if suspect is None else pc.or_(suspect, hits)
        if suspect is not None:
            t.suspect_text += int(pc.sum(suspect).as_py() or 0)

    def _ids(self, batch: pa.RecordBatch, keep: np.ndarray, t: quality.Tally) -> None:
        column = batch.column(self.rules.id_column).filter(pa.array(keep))
        t.id_nulls += column.null_count
        column = column.drop_null()
        if pa.types.is_integer(column.type):
            t.ids.append(column.to_numpy().astype(np.int64))
        else:
            values = (_stable_hash(v) for v in column.to_pylist())
            t.ids.append(np.fromiter(values, dtype=np.int64, count=len(column)))

    def _geometries(
        self, batch: pa.RecordBatch, t: quality.Tally
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Geometries in EPSG:2154, and their WKB (objects) when still the bytes to write.

        Counts WKB that does not parse (``unreadable``), geometries with Z (kept) and with M
        (dropped: neither PostGIS's column nor GeoParquet readers here use it).
        """
        if self.geometry_column not in batch.schema.names:
            raise FormatError(f"{self.dataset}: the layer has no geometry column")
        raw = batch.column(self.geometry_column)
        if isinstance(raw.type, pa.ExtensionType):
            raw = raw.storage
        projected = self.reproject.wkb(raw)
        if projected is not None and not self.reproject.identity:  # 2D only: no Z, no M
            wkb = projected.to_numpy(zero_copy_only=False)
            geoms = shapely.from_wkb(wkb, on_invalid="ignore")
            self._unreadable(raw, geoms, t)
            return geoms, wkb
        wkb = raw.to_numpy(zero_copy_only=False)
        geoms = shapely.from_wkb(wkb, on_invalid="ignore")
        self._unreadable(raw, geoms, t)
        measured = shapely.has_m(geoms)
        if measured.any():
            t.m_dropped += int(measured.sum())
            z = shapely.has_z(geoms[measured])
            geoms[measured] = np.where(
                z,
                shapely.from_wkb(shapely.to_wkb(geoms[measured], output_dimension=3)),
                shapely.force_2d(geoms[measured]),
            )
            if self.reproject.identity:
                wkb = wkb.copy()
                wkb[measured] = shapely.to_wkb(geoms[measured], flavor="iso")
        if self.reproject.identity:
            return geoms, wkb
        return self.reproject(geoms), None

    @staticmethod
    def _unreadable(raw: pa.Array, geoms: np.ndarray, t: quality.Tally) -> None:
        if raw.null_count == len(raw):
            return
        present = ~raw.is_null().to_numpy(zero_copy_only=False)
        bad = present & shapely.is_missing(geoms)
        t.unreadable += int(bad.sum())

    def process(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, quality.Tally]:
        """One batch out (attributes, ``geom`` WKB in EPSG:2154, ``bbox``, key) and its counters.

        Safe to call from several threads at once: nothing shared is mutated. Validity is
        judged in EPSG:2154, the CRS the geometries will be used in.
        """
        self._check_text(batch)
        t = quality.Tally()
        t.rows_in += batch.num_rows
        self._suspect_text(batch, t)
        geoms, wkb_in = self._geometries(batch, t)
        missing = shapely.is_missing(geoms)
        empty = ~missing & shapely.is_empty(geoms)
        t.null += int(missing.sum()) - t.unreadable
        t.empty += int(empty.sum())
        types = shapely.get_type_id(geoms)
        for type_id, count in zip(*np.unique(types[~missing], return_counts=True), strict=True):
            t.types_in[TYPE_NAMES.get(int(type_id), str(type_id))] += int(count)
        present = ~missing & ~empty
        # PROJ gives inf for points it cannot project (longitudes shifted by whole turns, a
        # wrong CRS): GEOS cannot judge or repair those ("Shell empty after removing invalid
        # points"), so they are kept out of make_valid, dropped, and counted as outside.
        bounds_all = shapely.bounds(geoms)  # computed once: reused for the bounds check
        unprojectable = present & ~np.isfinite(bounds_all).all(axis=1)
        lost = np.flatnonzero(unprojectable)
        t.unprojectable += len(lost)
        invalid = present & ~unprojectable & ~shapely.is_valid(geoms)
        keep = present.copy() if self.rules.null_geometries == "drop" else np.ones(len(geoms), bool)
        keep[lost] = False
        t.invalid += int(invalid.sum())
        if invalid.any() and self.rules.repair:
            fixed = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
            geoms[invalid] = fixed
            bounds_all[invalid] = shapely.bounds(fixed)
            collapsed = shapely.is_empty(fixed) | shapely.is_missing(fixed)
            t.repaired += int((~collapsed).sum())
            t.collapsed += int(collapsed.sum())
            keep[np.flatnonzero(invalid)[collapsed]] = False  # never publish EMPTY
            if wkb_in is not None:  # only the repaired ones are serialised again
                wkb_in[invalid] = shapely.to_wkb(fixed, flavor="iso")
        if self.rules.id_column:
            self._ids(batch, keep, t)
        fids = None
        if self.fid_column is not None:
            fids = batch.column(self.fid_column).filter(pa.array(keep)).cast(pa.int64())
            t.fids.append(fids.to_numpy(zero_copy_only=False))
        geoms = geoms[keep]
        wkb_out = shapely.to_wkb(geoms, flavor="iso") if wkb_in is None else wkb_in[keep]
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
        t.outside += int((present[keep] & ~(has_geom & inside)).sum()) + len(lost)
        t.add_bbox(bounds[has_geom & finite])
        out_types = shapely.get_type_id(geoms[has_geom])
        if wkb_in is None or self.reproject.identity:  # the fast path's bytes are 2D
            out_types = np.where(shapely.has_z(geoms[has_geom]), out_types + 100, out_types)
        for type_id, count in zip(*np.unique(out_types, return_counts=True), strict=True):
            z = " Z" if type_id >= 100 else ""
            t.types_out[TYPE_NAMES.get(int(type_id) % 100, str(type_id)) + z] += int(count)
        t.rows_out += len(geoms)
        return self._batch(batch, keep, wkb, bounds, has_geom, fids), t

    def _batch(
        self,
        batch: pa.RecordBatch,
        keep: np.ndarray,
        wkb: pa.Array,
        bounds: np.ndarray,
        has_geom: np.ndarray,
        fids: pa.Array | None,
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
        head = ([fids], [FID]) if fids is not None else ([], [])
        return pa.RecordBatch.from_arrays(
            [*head[0], *arrays, wkb, bbox, keys], names=[*head[1], *names, GEOMETRY, BBOX, KEY]
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
    with open_layer(path, layer, batch_rows, rules.encoding, rules.where) as reader:
        refiner = BatchRefiner(dataset, reader, rules)
        writer.key_extent = refiner.bounds  # the keys of process() are made over the bounds
        # the encoding refine reads with: the rule when declared, else what GDAL detected
        refiner.context["encoding"] = rules.encoding or reader.encoding
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
        _reader_warnings(reader, refiner)
    tally = refiner.tally
    checks = quality.evaluate(tally, rules, refiner.bounds, dataset)
    extent = tally.bbox if refiner.reproject.identity else refiner.reproject.source_extent
    units = quality.units(extent, refiner.reproject.geographic, tally.outside, rules, dataset)
    if units is not None:
        checks.append(units)
    if refiner.columns.renamed:
        checks.append(_renamed_check(refiner))
    report = quality.report(dataset, tally, checks, rules, refiner.context)
    failed = quality.failures(checks)
    if failed:
        raise QualityError(dataset, failed, report)
    if tally.rows_out == 0:
        raise QualityError(dataset, ["rows: no feature left to write"], report)
    types = sorted(tally.types_out)
    with step(f"sort and write {dataset}", None):
        geo = geo_metadata(target_crs().to_json_dict(), types, tally.bbox)
        groups = writer.write(target, geo, _extent(tally.bbox))
    report["row_groups"] = groups
    report["feature_key"] = refiner.feature_key
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


def _extent(bbox: list[float] | None) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    return (bbox[0], bbox[1], bbox[2], bbox[3])


def _reader_warnings(reader: LayerReader, refiner: BatchRefiner) -> None:
    """What GDAL said while reading: unparsable geometries are counted, the rest recorded."""
    unreadable = reader.unreadable()
    tally = refiner.tally
    moved = min(unreadable, tally.null)  # GDAL handed those rows over with a null geometry
    tally.null -= moved
    tally.unreadable += moved
    if reader.warnings:
        refiner.context["reader_warnings"] = {
            "count": len(reader.warnings),
            "first": reader.warnings[:5],
        }


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
    conn: Any,
    settings: Settings,
    dataset: Dataset,
    landing: catalog.Version,
    scratch: Path,
    prefix: str | None,
) -> Refined:
    """Refine the landed file (in process, or on the cluster into ``prefix``).

    A failure is recorded on the landing version, then re-raised.
    """
    try:
        local = zone(settings, "landing").fetch(landing.key, scratch)
        if prefix is not None:
            from pipelines.feed.partitioned import refine_partitioned  # imports distributed

            return refine_partitioned(settings, dataset, landing, local, prefix, scratch)
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


def on_cluster(settings: Settings, landing: catalog.Version) -> bool:
    """Whether ``landing`` is refined as partitioned work: its profiled rows reach the threshold.

    A layer whose rows GDAL could not count at ingest stays in process.
    """
    return landing.rows is not None and landing.rows >= settings.dask_min_rows


def refine(
    conn: Any,
    settings: Settings,
    name: str,
    *,
    version_id: int | None = None,
    run_id: int | None = None,
) -> Outcome:
    """Refine the newest landing version of ``name`` (or ``version_id``) into working.

    A no-op when that landing version was already refined under the same rules. A layer of
    at least ``settings.dask_min_rows`` profiled rows is refined as partitioned work on the
    Dask cluster into a prefix of parts (:mod:`pipelines.feed.partitioned`); the report and
    the rules are the same either way.

    Raises:
        InputError: bad name, or nothing in landing.
        QualityError: a rule failed; the landing version is marked ``rejected`` with the report.
        FormatError: the landed file cannot be read (also marked ``rejected``).
        ClusterError: the Dask cluster cannot be reached or started (partitioned work).
        LayerError: a partition task failed on the cluster (nothing is committed).
    """
    name = dataset_name(name)
    dataset = catalog.load_dataset(conn, name) or Dataset(name)
    landing = _landing(conn, name, version_id)
    fingerprint = f"{landing.id}:{dataset.rules.digest}"
    working = zone(settings, "working")
    existing = catalog.find(conn, name, "working", fingerprint=fingerprint)
    conn.rollback()
    if existing is not None:
        if not partset.stored(working, existing.key):
            raise SourceError(f"{existing.uri} is recorded but missing from the working zone")
        catalog.make_current(conn, existing.id)  # what publish moves forward next
        conn.commit()
        return Outcome(existing, True)
    started, clock = datetime.now(UTC), time.perf_counter()
    folder = f"{name}/{landing.checksum[:16]}-{dataset.rules.digest[:8]}"
    prefix = f"{folder}/{name}.parts/" if on_cluster(settings, landing) else None
    with scratch_dir(settings, "refine") as scratch:
        result = _refine_landed(conn, settings, dataset, landing, scratch, prefix)
        if result.manifest is not None and prefix is not None:
            key, uri = prefix, partset.uri_of(working, prefix)
            checksum, size = hash_file(result.path, f"checksum {name}")[0], result.manifest.size
        else:
            checksum, size = hash_file(result.path, f"checksum {name}")
            key = f"{folder}/{name}.parquet"
            working.put_file(result.path, key)
            uri = working.uri_for(key)
    layout = {"layout": partset.LAYOUT} if result.manifest is not None else {}
    new = catalog.NewVersion(
        dataset=name,
        zone="working",
        uri=uri,
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
            **layout,
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
