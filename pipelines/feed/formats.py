"""Reading layers in any format users meet in France, as Arrow batches with WKB geometries.

GDAL (through pyogrio) reads GeoPackage, Shapefile and MapInfo (zipped, or gathered into a zip
at ingest: :mod:`pipelines.feed.multifile`), GeoJSON, FlatGeobuf, KML, GML, OSM PBF and CSV
(WKT or lon/lat columns); GeoParquet is read by pyarrow because pyogrio's GDAL has no Parquet
driver. Both give the same thing: a :class:`LayerReader` with the CRS, the fields and an
iterator of record batches whose geometry column holds WKB. pyogrio's errors are translated
here, once, into :class:`FormatError` with the file name and a reason a user can act on
(GDAL's advice to prefix the path with a driver name is not one).
"""

from __future__ import annotations

import json
import re
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from infra.errors import FormatError
from pipelines.feed import multifile

PARQUET_SUFFIXES = (".parquet", ".geoparquet")
#: Files that are a layer by themselves (or the main file of a multi-file one), by suffix.
STRONG_SUFFIXES = (
    ".gpkg",
    ".shp",
    ".mif",
    ".tab",
    ".geojson",
    ".fgb",
    ".kml",
    ".gml",
    ".pbf",
    ".osm",
    *PARQUET_SUFFIXES,
)
#: Also layers, but often only notes beside one in an archive (metadata JSON, a CSV table).
WEAK_SUFFIXES = (".json", ".csv")
#: GDAL's OSM driver: its own node index fails on valid extracts ("Non increasing node id",
#: then an empty layer); SQLite's index reads them. https://gdal.org/drivers/vector/osm.html
GDAL_CONFIG = {"OSM_USE_CUSTOM_INDEXING": "NO"}
#: What a CSV without geometries lacks, said where one is refused.
NO_GEOMETRY_HINT = "; a CSV needs a WKT column (wkt, geometry, geom) or lon/lat columns"
# CSV: where GDAL looks for geometries (WKT column, or lon/lat columns).
CSV_OPTIONS = {
    "GEOM_POSSIBLE_NAMES": "wkt,WKT,geometry,geom,the_geom",
    "X_POSSIBLE_NAMES": "lon,longitude,lng,x,X",
    "Y_POSSIBLE_NAMES": "lat,latitude,y,Y",
    "KEEP_GEOM_COLUMNS": "NO",
    "AUTODETECT_TYPE": "YES",
}


# GDAL's warnings for a geometry it could not parse (the row is then read with a null one).
_GEOMETRY_WARNING = re.compile(r"wkt|wkb|geometr|coordinate", re.IGNORECASE)
# The source's feature id in every batch: GDAL's FID (first column of pyogrio's batches,
# renamed: a field may have the same name) or, for GeoParquet, the row's position (as GDAL's
# Parquet driver numbers rows).
SOURCE_FID = "__locxia_fid"


@dataclass(frozen=True)
class Profile:
    """A short description of a layer, shown at ingest and kept as provenance."""

    driver: str
    layers: tuple[str, ...]
    layer: str
    rows: int | None
    crs: str | None
    bbox: tuple[float, float, float, float] | None
    geometry_types: tuple[str, ...]
    encoding: str | None
    fields: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """JSON form for the catalog and ``--json``."""
        return {
            "driver": self.driver,
            "layers": list(self.layers),
            "layer": self.layer,
            "rows": self.rows,
            "crs": self.crs,
            "bbox": list(self.bbox) if self.bbox else None,
            "geometry_types": list(self.geometry_types),
            "encoding": self.encoding,
            "fields": list(self.fields),
        }


@dataclass(frozen=True)
class RowRange:
    """Rows ``start`` (inclusive) to ``stop`` (exclusive; None: the end) of a layer."""

    start: int
    stop: int | None

    @property
    def count(self) -> int | None:
        """How many rows the range holds at most (None: up to the end)."""
        return None if self.stop is None else self.stop - self.start

    def within(self, total: int) -> int:
        """Rows of the range inside a layer of ``total`` rows."""
        stop = total if self.stop is None else min(self.stop, total)
        return max(stop - min(self.start, total), 0)


@dataclass
class LayerReader:
    """An open layer: its CRS (as the source declares it), fields and batches."""

    crs: str | None
    geometry_column: str
    fields: tuple[str, ...]
    encoding: str | None
    batches: Iterator[pa.RecordBatch]
    rows: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    fid_column: str | None = None
    warnings: list[str] = field(default_factory=list)

    def unreadable(self) -> int:
        """Rows whose geometry GDAL could not parse (it read them as null and warned)."""
        return sum(1 for w in self.warnings if _GEOMETRY_WARNING.search(w))


def is_parquet(path: Path) -> bool:
    """Whether ``path`` is read by pyarrow rather than GDAL."""
    return path.suffix.lower() in PARQUET_SUFFIXES


def _pyogrio() -> Any:
    """pyogrio, with the GDAL options the feed relies on (set again at every use).

    GDAL's configuration is global to the process: anything else in it (a library, a test)
    may reset an option, so the feed sets its own before each read rather than once.
    """
    import pyogrio

    pyogrio.set_gdal_config_options(GDAL_CONFIG)
    return pyogrio


def gdal_path(path: Path) -> str:
    """The path GDAL opens: in a zip, the layer's file (or folder of Shapefiles) found by name.

    Raises:
        FormatError: an empty or unreadable archive, no layer in it, a layer missing a part,
            or layer files in several places (which one is meant would be a guess).
    """
    if path.suffix.lower() != ".zip":
        return str(path)
    inner = _archive_layer(path)
    return f"/vsizip/{path.resolve()}" + (f"/{inner}" if inner else "")


def _archive_layer(path: Path) -> str:
    """The member (or folder, '' for the root) of the archive ``path`` that holds its layer."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise FormatError(f"{path.name}: broken zip archive ({exc})") from exc
    files = [n for n in names if not n.endswith("/")]
    if not files:
        raise FormatError(f"{path.name}: empty archive (no file in it)")
    layers = multifile.layer_files(files, STRONG_SUFFIXES) or multifile.layer_files(
        files, WEAK_SUFFIXES
    )
    if not layers:
        shown = ", ".join(files[:4]) + (", ..." if len(files) > 4 else "")
        raise FormatError(f"{path.name}: no layer in the archive (it holds {shown})")
    for main in layers:
        missing = multifile.missing_in(main, files)
        if missing:
            raise FormatError(f"{path.name}: {main} comes without {' and '.join(missing)}")
    if len(layers) == 1:
        return layers[0]
    folders = {str(PurePosixPath(n).parent) for n in layers}
    if len(folders) == 1 and all(n.lower().endswith(".shp") for n in layers):
        folder = folders.pop()  # GDAL opens a folder of Shapefiles as one multi-layer source
        return "" if folder == "." else folder
    shown = ", ".join(layers[:4]) + (", ..." if len(layers) > 4 else "")
    raise FormatError(
        f"{path.name}: {len(layers)} layer files ({shown}); give one layer per archive"
        " (Shapefiles may share one folder)"
    )


def _options(path: Path) -> dict[str, str]:
    return dict(CSV_OPTIONS) if path.suffix.lower() == ".csv" else {}


def _reason(exc: Exception) -> str:
    """GDAL's message as a cause: its advice to prefix a driver name dropped (not actionable).

    GDAL joins several messages with ``; `` (SQLite repeats its own and prefixes the failing
    statement): the last meaningful one is kept.
    """
    text = " ".join(str(exc).split())
    parts = [p.strip(" ;") for p in text.split("; ")]
    parts = [p for p in parts if p and not p.startswith("It might help to specify")]
    if any("not recognized as being in a supported file format" in p for p in parts):
        return "not a vector format GDAL reads (check the file and its extension)"
    return (parts[-1] if parts else text)[:300]


def _check_file(path: Path) -> None:
    """Refuse an empty file, and an archive that is broken or holds no usable layer."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FormatError(f"{path.name}: cannot read ({exc.strerror})") from exc
    if size == 0:
        raise FormatError(f"{path.name}: empty file (0 bytes)")
    if path.suffix.lower() != ".zip":
        return
    gdal_path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise FormatError(f"{path.name}: broken zip archive ({exc})") from exc
    if bad is not None:
        raise FormatError(f"{path.name}: broken zip archive (bad CRC in {bad})")


def list_layers(path: Path) -> list[tuple[str, str]]:
    """``(name, geometry type)`` of every layer in the file.

    Raises:
        FormatError: the file cannot be opened as vector data.
    """
    _check_file(path)
    if is_parquet(path):
        meta = _geo_metadata(path)
        column = meta["columns"][meta["primary_column"]]
        types = column.get("geometry_types") or ["Unknown"]
        return [(path.stem, "/".join(types))]
    pyogrio = _pyogrio()
    from pyogrio.errors import DataLayerError, DataSourceError

    kind = multifile.format_of(path.name)
    if kind is not None:  # ingest gathers the parts into a zip: a main file alone is partial
        raise FormatError(
            f"{path.name}: a {kind.label} alone is partial; give it with its"
            f" {', '.join(kind.required)} (ingest gathers them from its folder)"
        )
    try:
        found = pyogrio.list_layers(gdal_path(path))
    except (DataSourceError, DataLayerError) as exc:
        raise FormatError(f"{path.name}: cannot read as a layer: {_reason(exc)}") from exc
    return [(str(name), str(kind)) for name, kind in found]


def choose_layer(path: Path, wanted: str | None) -> tuple[str, tuple[str, ...]]:
    """The layer to read and the names of all layers.

    Raises:
        FormatError: no vector layer, ``wanted`` missing, or several layers and none chosen.
    """
    found = list_layers(path)
    names = tuple(name for name, kind in found if kind is not None)
    if not names:
        hint = NO_GEOMETRY_HINT if path.suffix.lower() == ".csv" else ""
        shown = f" (tables without geometry: {', '.join(n for n, _ in found)})" if found else ""
        raise FormatError(f"{path.name}: no layer with geometries{shown}{hint}")
    if wanted is not None:
        if wanted not in names:
            raise FormatError(
                f"{path.name}: no layer {wanted!r} (layers: {', '.join(names)})", names
            )
        return wanted, names
    if len(names) > 1:
        raise FormatError(
            f"{path.name}: {len(names)} layers ({', '.join(names)}); choose one with --layer",
            names,
        )
    return names[0], names


def profile(path: Path, layer: str | None, encoding: str | None = None) -> Profile:
    """Describe a layer without reading all of it (counts and bounds come from the driver).

    Raises:
        FormatError: unreadable file or layer.
    """
    chosen, names = choose_layer(path, layer)
    if is_parquet(path):
        return _parquet_profile(path, names)
    pyogrio = _pyogrio()
    from pyogrio.errors import DataLayerError, DataSourceError

    try:
        info = pyogrio.read_info(
            gdal_path(path),
            layer=chosen,
            encoding=encoding,
            force_feature_count=True,
            **_options(path),
        )
    except (DataSourceError, DataLayerError) as exc:
        raise FormatError(f"{path.name}: cannot read layer {chosen!r}: {_reason(exc)}") from exc
    bounds = info.get("total_bounds")
    bbox = tuple(float(v) for v in bounds) if bounds is not None else None
    geometry_type = info.get("geometry_type")
    if not geometry_type:
        hint = NO_GEOMETRY_HINT if path.suffix.lower() == ".csv" else ""
        raise FormatError(f"{path.name}: layer {chosen!r} has no geometry column{hint}")
    return Profile(
        driver=str(info.get("driver")),
        layers=names,
        layer=chosen,
        rows=int(info["features"]) if info.get("features", -1) >= 0 else None,
        crs=defined_crs(info.get("crs")),
        bbox=bbox if bbox and all(v == v for v in bbox) else None,  # type: ignore[arg-type]
        geometry_types=(str(geometry_type),) if geometry_type else (),
        # the source's encoding as refine reads it: the declared one (GDAL then reports the
        # UTF-8 it converts to), else what GDAL detected
        encoding=encoding or info.get("encoding"),
        fields=tuple(str(f) for f in info.get("fields", ())),
    )


@contextmanager
def open_layer(
    path: Path,
    layer: str | None,
    batch_rows: int,
    encoding: str | None = None,
    where: str | None = None,
    rows: RowRange | None = None,
) -> Iterator[LayerReader]:
    """Open a layer for reading in Arrow batches of ``batch_rows`` rows.

    Batches carry the source's FID (:attr:`LayerReader.fid_column`). GDAL's warnings while
    reading (a geometry it could not parse, say) are collected on the reader, never printed.
    ``where`` is an OGR SQL filter (GDAL formats only). ``rows`` reads one range of the layer
    (a partition of partitioned refine): the FIDs stay the layer's own (GDAL's, or the row's
    position in the whole GeoParquet file), so partitions number rows as one read would.

    Raises:
        FormatError: unreadable file or layer (also while iterating the batches), or a
            ``where`` filter GDAL refuses or that a GeoParquet file cannot take.
    """
    if is_parquet(path):
        if where is not None:
            raise FormatError(
                f"{path.name}: rules.where filters rows read by GDAL; GeoParquet is read by"
                " pyarrow (remove the rule or convert the file)"
            )
        yield _parquet_reader(path, batch_rows, rows)
        return
    chosen, _ = choose_layer(path, layer)
    pyogrio = _pyogrio()
    from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError

    errors = (DataSourceError, DataLayerError, FieldError, GeometryError, OSError)
    try:
        opened = pyogrio.open_arrow(
            gdal_path(path),
            layer=chosen,
            batch_size=batch_rows,
            encoding=encoding,
            use_pyarrow=True,
            return_fids=True,
            where=where,
            # GDAL skips to the range (OGR_L_SetNextByIndex: random access where the driver
            # has it, else it iterates); the stream has no max_features (pyogrio refuses it
            # for Arrow): the batches below stop at the range's end
            skip_features=rows.start if rows is not None else 0,
            **_options(path),
        )
        meta, stream = opened.__enter__()
    except errors as exc:
        raise FormatError(
            f"{path.name}: cannot read layer {chosen!r}: {_reason(exc)}{_filter(where)}"
        ) from exc
    seen: list[str] = []
    fid_name = meta.get("fid_column") or "OGC_FID"

    def batches() -> Iterator[pa.RecordBatch]:
        iterator = iter(stream)
        left = rows.count if rows is not None else None
        while left is None or left > 0:
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    batch = next(iterator)
            except StopIteration:
                return
            except (*errors, pa.ArrowException) as exc:
                raise FormatError(
                    f"{path.name}: read failed in layer {chosen!r}: {_reason(exc)}{_filter(where)}"
                ) from exc
            finally:
                seen.extend(" ".join(str(w.message).split())[:200] for w in caught)
            if batch.schema.names[0] != fid_name:  # pyogrio puts the FID first
                raise FormatError(f"{path.name}: GDAL gave no feature id in layer {chosen!r}")
            if left is not None:
                batch = batch.slice(0, left)
                left -= batch.num_rows
            yield batch.rename_columns([SOURCE_FID, *batch.schema.names[1:]])

    if not meta.get("geometry_type"):
        opened.__exit__(None, None, None)
        raise FormatError(f"{path.name}: layer {chosen!r} has no geometry column")
    fields = tuple(str(f) for f in meta.get("fields", ()))
    try:
        yield LayerReader(
            crs=defined_crs(meta.get("crs")),
            geometry_column=meta.get("geometry_name") or "wkb_geometry",
            fields=fields,
            encoding=meta.get("encoding"),
            batches=batches(),
            fid_column=SOURCE_FID,
            warnings=seen,
        )
    finally:
        opened.__exit__(None, None, None)


def defined_crs(text: str | None) -> str | None:
    """``text``, or None when it is a placeholder for "no CRS" (nothing to reproject from).

    GeoPackage writes layers of undefined SRS (``srs_id`` 0 or -1) with CRSs named "Undefined
    geographic SRS" / "Undefined Cartesian SRS"; PROJ cannot transform from them ("Error
    creating Transformer from CRS."). Such a layer has no CRS: ``rules.crs`` then applies.
    """
    if not text:
        return None
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(json.loads(text) if text.lstrip().startswith("{") else text)
    except (CRSError, ValueError):
        return text  # refine says it is not a CRS, with the dataset's name
    if crs.name.lower().startswith("undefined") or crs.is_engineering:
        return None
    return text


def _filter(where: str | None) -> str:
    """What a read failure says about the row filter, which may be its cause."""
    return "" if where is None else f" (with rules.where {where!r})"


def _geo_metadata(path: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise FormatError(f"{path.name}: not a readable Parquet file ({exc})") from exc
    raw = (schema.metadata or {}).get(b"geo")
    if raw is None:
        raise FormatError(f"{path.name}: Parquet without GeoParquet 'geo' metadata")
    try:
        meta: dict[str, Any] = json.loads(raw)
        column = meta["columns"][meta["primary_column"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise FormatError(f"{path.name}: malformed GeoParquet metadata ({exc})") from exc
    if column.get("encoding", "WKB").upper() != "WKB":
        raise FormatError(f"{path.name}: GeoParquet encoding {column['encoding']!r} (only WKB)")
    return meta


def _parquet_crs(column: dict[str, Any]) -> str | None:
    """GeoParquet: no ``crs`` key means OGC:CRS84; an explicit null means unknown."""
    if "crs" not in column:
        return "OGC:CRS84"
    crs = column["crs"]
    if crs is None:
        return None
    return json.dumps(crs) if isinstance(crs, dict) else str(crs)


def _parquet_profile(path: Path, names: tuple[str, ...]) -> Profile:
    import pyarrow.parquet as pq

    meta = _geo_metadata(path)
    column = meta["columns"][meta["primary_column"]]
    parquet = pq.ParquetFile(path)
    bbox = column.get("bbox")
    return Profile(
        driver="GeoParquet",
        layers=names,
        layer=names[0],
        rows=parquet.metadata.num_rows,
        crs=_parquet_crs(column),
        bbox=tuple(float(v) for v in bbox[:4]) if bbox else None,  # type: ignore[arg-type]
        geometry_types=tuple(column.get("geometry_types") or ()),
        encoding="UTF-8",
        fields=tuple(n for n in parquet.schema_arrow.names if n != meta["primary_column"]),
    )


def row_group_rows(path: Path) -> list[int]:
    """Rows of each row group of a GeoParquet file (what partitions of it are cut along).

    Raises:
        FormatError: not a readable Parquet file.
    """
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
    except (pa.ArrowException, OSError) as exc:
        raise FormatError(f"{path.name}: not a readable Parquet file ({exc})") from exc
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def _parquet_reader(path: Path, batch_rows: int, rows: RowRange | None = None) -> LayerReader:
    import pyarrow.parquet as pq

    meta = _geo_metadata(path)
    primary = meta["primary_column"]
    column = meta["columns"][primary]
    parquet = pq.ParquetFile(path, pre_buffer=False)  # pre-buffering grows with the file
    covering = column.get("covering", {}).get("bbox", {})
    skip = {parts[0] for parts in covering.values() if parts}
    names = [n for n in parquet.schema_arrow.names if n not in skip]
    wanted = rows or RowRange(0, None)
    groups, first = _row_groups(parquet, wanted)

    def batches() -> Iterator[pa.RecordBatch]:
        start = first  # the FID of a row is its position in the whole file
        try:
            for batch in parquet.iter_batches(
                batch_size=batch_rows, columns=names, row_groups=groups
            ):
                lo = max(wanted.start - start, 0)
                hi = batch.num_rows
                if wanted.stop is not None:
                    hi = min(wanted.stop - start, hi)
                if hi > lo:
                    part = batch.slice(lo, hi - lo)
                    fids = pa.array(range(start + lo, start + hi), type=pa.int64())
                    yield part.append_column(SOURCE_FID, fids)
                start += batch.num_rows
        except (pa.ArrowException, OSError) as exc:
            raise FormatError(f"{path.name}: read failed: {exc}") from exc

    return LayerReader(
        crs=_parquet_crs(column),
        geometry_column=primary,
        fields=tuple(n for n in names if n != primary),
        encoding="UTF-8",
        batches=batches(),
        rows=wanted.within(parquet.metadata.num_rows),
        fid_column=SOURCE_FID,
    )


def _row_groups(parquet: Any, rows: RowRange) -> tuple[list[int], int]:
    """The row groups that hold ``rows``, and the position of the first of them's first row."""
    groups: list[int] = []
    first = offset = 0
    for i in range(parquet.metadata.num_row_groups):
        n = parquet.metadata.row_group(i).num_rows
        if offset + n > rows.start and (rows.stop is None or offset < rows.stop):
            if not groups:
                first = offset
            groups.append(i)
        offset += n
    return groups, first
