"""Reading layers in any format users meet in France, as Arrow batches with WKB geometries.

GDAL (through pyogrio) reads GeoPackage, zipped Shapefile, GeoJSON, FlatGeobuf and CSV (WKT
or lon/lat columns); GeoParquet is read by pyarrow because pyogrio's GDAL has no Parquet
driver. Both give the same thing: a :class:`LayerReader` with the CRS, the fields and an
iterator of record batches whose geometry column holds WKB. pyogrio's errors are translated
here, once, into :class:`FormatError` with the file name and GDAL's reason.
"""

from __future__ import annotations

import json
import re
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from infra.errors import FormatError

PARQUET_SUFFIXES = (".parquet", ".geoparquet")
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


def gdal_path(path: Path) -> str:
    """The path GDAL opens: zip archives through ``/vsizip/``."""
    if path.suffix.lower() == ".zip":
        return f"/vsizip/{path.resolve()}"
    return str(path)


def _options(path: Path) -> dict[str, str]:
    return dict(CSV_OPTIONS) if path.suffix.lower() == ".csv" else {}


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    # SQLite repeats its message after a ';' and prefixes the failing statement.
    if "; " in text:
        text = text.rsplit("; ", 1)[-1]
    return text[:300]


def _check_archive(path: Path) -> None:
    if path.suffix.lower() != ".zip":
        return
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise FormatError(f"{path.name}: broken zip archive ({exc})") from exc
    if bad is not None:
        raise FormatError(f"{path.name}: broken zip archive (bad CRC in {bad})")
    shapes = [n for n in names if n.lower().endswith(".shp")]
    for shp in shapes:
        stem = shp[:-4]
        missing = [
            s for s in (".dbf", ".shx") if not any(n.lower() == (stem + s).lower() for n in names)
        ]
        if missing:
            raise FormatError(f"{path.name}: {shp} comes without {' and '.join(missing)}")


def list_layers(path: Path) -> list[tuple[str, str]]:
    """``(name, geometry type)`` of every layer in the file.

    Raises:
        FormatError: the file cannot be opened as vector data.
    """
    if is_parquet(path):
        meta = _geo_metadata(path)
        column = meta["columns"][meta["primary_column"]]
        types = column.get("geometry_types") or ["Unknown"]
        return [(path.stem, "/".join(types))]
    _check_archive(path)
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    if path.suffix.lower() == ".shp":
        raise FormatError(
            f"{path.name}: give the Shapefile as a .zip with its .dbf, .shx, .prj and .cpg"
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
    names = tuple(name for name, kind in list_layers(path) if kind is not None)
    if not names:
        raise FormatError(f"{path.name}: no vector layer")
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
    import pyogrio
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
    return Profile(
        driver=str(info.get("driver")),
        layers=names,
        layer=chosen,
        rows=int(info["features"]) if info.get("features", -1) >= 0 else None,
        crs=info.get("crs"),
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
) -> Iterator[LayerReader]:
    """Open a layer for reading in Arrow batches of ``batch_rows`` rows.

    Batches carry the source's FID (:attr:`LayerReader.fid_column`). GDAL's warnings while
    reading (a geometry it could not parse, say) are collected on the reader, never printed.
    ``where`` is an OGR SQL filter (GDAL formats only).

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
        yield _parquet_reader(path, batch_rows)
        return
    chosen, _ = choose_layer(path, layer)
    import pyogrio
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
        while True:
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
            yield batch.rename_columns([SOURCE_FID, *batch.schema.names[1:]])

    fields = tuple(str(f) for f in meta.get("fields", ()))
    try:
        yield LayerReader(
            crs=meta.get("crs"),
            geometry_column=meta.get("geometry_name") or "wkb_geometry",
            fields=fields,
            encoding=meta.get("encoding"),
            batches=batches(),
            fid_column=SOURCE_FID,
            warnings=seen,
        )
    finally:
        opened.__exit__(None, None, None)


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


def _parquet_reader(path: Path, batch_rows: int) -> LayerReader:
    import pyarrow.parquet as pq

    meta = _geo_metadata(path)
    primary = meta["primary_column"]
    column = meta["columns"][primary]
    parquet = pq.ParquetFile(path, pre_buffer=False)  # pre-buffering grows with the file
    covering = column.get("covering", {}).get("bbox", {})
    skip = {parts[0] for parts in covering.values() if parts}
    names = [n for n in parquet.schema_arrow.names if n not in skip]

    def batches() -> Iterator[pa.RecordBatch]:
        start = 0
        try:
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=names):
                fids = pa.array(range(start, start + batch.num_rows), type=pa.int64())
                start += batch.num_rows
                yield batch.append_column(SOURCE_FID, fids)
        except (pa.ArrowException, OSError) as exc:
            raise FormatError(f"{path.name}: read failed: {exc}") from exc

    return LayerReader(
        crs=_parquet_crs(column),
        geometry_column=primary,
        fields=tuple(n for n in names if n != primary),
        encoding="UTF-8",
        batches=batches(),
        rows=parquet.metadata.num_rows,
        fid_column=SOURCE_FID,
    )
