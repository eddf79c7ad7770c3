"""What a layer holds, read twice by other means than the feed: GDAL on the source, SQL on PostGIS.

The source side reads the file given to ``ingest`` with pyogrio (GDAL) directly (GeoParquet with
pyarrow), reprojects with pyproj and repairs invalid geometries with shapely, none of it through
``pipelines.feed``. The served side asks PostGIS for counts, ``ST_Area``/``ST_Length`` and the
attribute values of ``exposure.<name>``. Both give a :class:`Measured` to compare.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql
from pyproj import CRS, Transformer

TARGET = "EPSG:2154"


@dataclass
class Measured:
    """A layer summed up: rows, total area/length (m², m), Z sum, points, attribute rows."""

    rows: int
    dropped: int
    area: float
    length: float
    z_sum: float | None
    points: np.ndarray
    attributes: dict[str, list[Any]]
    unprojectable: int = 0


def norm(value: Any) -> Any:
    """One comparable form per value, whatever library produced it."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, list | tuple | np.ndarray):
        return repr([norm(v) for v in value])
    if isinstance(value, bool | np.bool_):
        # GDAL hands a nullable boolean column to pandas as 0.0/1.0 once a value is null.
        return float(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return float(f"{float(value):.12g}")
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)


def _summary(geoms: np.ndarray, attributes: dict[str, list[Any]], dropped: int) -> Measured:
    polygonal = shapely.get_type_id(geoms) >= 3
    lines = np.isin(shapely.get_type_id(geoms), (1, 2, 5))
    points = shapely.get_coordinates(geoms[shapely.get_type_id(geoms) == 0])
    z = shapely.get_coordinates(geoms, include_z=True)[:, 2] if shapely.has_z(geoms).any() else None
    return Measured(
        rows=len(geoms),
        dropped=dropped,
        area=float(shapely.area(geoms[polygonal]).sum()),
        length=float(shapely.length(geoms[lines]).sum()),
        z_sum=float(np.nansum(z)) if z is not None else None,
        points=points,
        attributes=attributes,
    )


def _project(geoms: np.ndarray, transformer: Transformer) -> tuple[np.ndarray, np.ndarray]:
    """Geometries in the target CRS, and which ones PROJ could project.

    PROJ gives inf for points a projection cannot reach (the South Pole in Lambert-93): such
    features cannot be served in EPSG:2154, and are left out (counted by the caller).
    """
    out = geoms.copy()
    reachable = np.ones(len(geoms), dtype=bool)
    has_z = shapely.has_z(geoms)
    for three_d in (False, True):
        chosen = np.flatnonzero(has_z == three_d)
        if len(chosen) == 0:
            continue
        part = geoms[chosen].copy()
        coords, index = shapely.get_coordinates(part, include_z=three_d, return_index=True)
        projected = np.column_stack(transformer.transform(*coords.T))
        if three_d:
            projected[:, 2] = coords[:, 2]  # heights stay as the source gives them
        ok = np.ones(len(part), dtype=bool)
        ok[np.unique(index[~np.isfinite(projected).all(axis=1)])] = False
        part[ok] = shapely.set_coordinates(part[ok], projected[ok[index]])
        out[chosen] = part
        reachable[chosen[~ok]] = False
    return out[reachable], reachable


def read_source(
    path: Path,
    layer: str | None,
    rules: dict[str, Any],
    options: dict[str, str],
    config: dict[str, str],
) -> Measured:
    """The layer as GDAL reads it, in EPSG:2154, invalid geometries repaired, empty ones out.

    ``rules`` are the dataset's (``crs`` used when the file has none, ``crs_override``
    whatever the file says, ``encoding``);
    ``options`` GDAL's open options, ``config`` GDAL settings needed for this file only.
    """
    crs = rules.get("crs")
    if path.suffix == ".parquet":
        import geopandas

        frame = geopandas.read_parquet(path)
    else:
        import pyogrio

        target = f"/vsizip/{path}/{_inner(path)}" if path.suffix == ".zip" else str(path)
        encoding = rules.get("encoding")
        pyogrio.set_gdal_config_options(dict(config))
        try:
            frame = pyogrio.read_dataframe(target, layer=layer, encoding=encoding, **options)
        finally:
            pyogrio.set_gdal_config_options(dict.fromkeys(config))
    override = rules.get("crs_override")
    if override:
        source_crs = CRS.from_user_input(override)
    else:
        source_crs = frame.crs or (CRS.from_user_input(crs) if crs else None)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    empty = int((~keep).sum())
    geoms = geoms[keep]
    if source_crs is None:
        raise ValueError(f"{path.name}: no CRS in the file and none declared")
    to_target = Transformer.from_crs(source_crs, TARGET, always_xy=True)
    geoms, reachable = _project(geoms, to_target)
    keep[np.flatnonzero(keep)[~reachable]] = False
    bad = ~shapely.is_valid(geoms)
    geoms[bad] = shapely.make_valid(geoms[bad], method="structure", keep_collapsed=False)
    columns = [c for c in frame.columns if c != frame.geometry.name]
    attributes = {c: [norm(v) for v in frame[c].to_numpy(dtype=object)[keep]] for c in columns}
    measured = _summary(geoms, attributes, empty)
    measured.unprojectable = int((~reachable).sum())
    return measured


def read_served(conn: psycopg.Connection[Any], name: str, columns: list[str]) -> Measured:
    """``exposure.<name>`` as PostGIS serves it: ``columns`` are the served attribute names."""
    table = sql.Identifier("exposure", name)
    rows = conn.execute(
        sql.SQL("SELECT ST_AsBinary(geom), {} FROM {}").format(
            sql.SQL(", ").join([sql.Identifier(c) for c in columns]) if columns else sql.SQL("1"),
            table,
        )
    ).fetchall()
    geoms = np.array([shapely.from_wkb(bytes(r[0])) for r in rows], dtype=object)
    attributes = {c: [norm(r[i + 1]) for r in rows] for i, c in enumerate(columns)}
    measured = _summary(geoms, attributes, 0)
    # The database's own measures, so the comparison does not rest on shapely alone.
    area, length, srid = conn.execute(
        sql.SQL(
            "SELECT coalesce(sum(ST_Area(geom)), 0), coalesce(sum(ST_Length(geom)), 0),"
            " min(ST_SRID(geom)) FROM {}"
        ).format(table)
    ).fetchone() or (0.0, 0.0, None)
    conn.rollback()
    assert srid in (2154, None), srid
    measured.area, measured.length = float(area), float(length)
    return measured


def attribute_mismatches(source: Measured, served: Measured, names: dict[str, str]) -> list[str]:
    """Source columns whose multiset of values differs from the served column (by name map)."""
    out = []
    for column, values in source.attributes.items():
        served_name = names.get(column, column)
        if served_name not in served.attributes:
            out.append(f"{column}: not served")
            continue
        want, got = Counter(map(repr, values)), Counter(map(repr, served.attributes[served_name]))
        if want != got:
            lost, extra = sorted((want - got).elements()), sorted((got - want).elements())
            example = f"{lost[0]} not served" if lost else f"{extra[0]} served in addition"
            out.append(f"{column}: {len(lost)} missing, {len(extra)} extra (e.g. {example})")
    return out


def max_point_shift(source: np.ndarray, served: np.ndarray) -> float:
    """Largest distance (m) from a source point to the nearest served point."""
    if len(source) == 0:
        return 0.0
    if len(served) == 0:
        return math.inf
    tree = shapely.STRtree(shapely.points(served))
    _, dist = tree.query_nearest(shapely.points(source), return_distance=True, all_matches=False)
    return float(dist.max())


def _inner(archive: Path) -> str:
    """The folder of the zip's one layer when it sits in a sub-folder, else '' (its root)."""
    import zipfile

    with zipfile.ZipFile(archive) as z:
        folders = {n.rsplit("/", 1)[0] for n in z.namelist() if "/" in n and _is_layer(n)}
    return folders.pop() if len(folders) == 1 else ""


def _is_layer(name: str) -> bool:
    return not name.startswith("__MACOSX/") and name.lower().endswith(LAYER_SUFFIXES)


LAYER_SUFFIXES = (".shp", ".mif", ".tab", ".gpkg", ".geojson", ".fgb", ".kml", ".gml", ".csv")
