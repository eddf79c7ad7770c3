from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyproj import CRS

from pipelines.feed import quality
from pipelines.feed.geoparquet import BBOX, KEY, SortedWriter, bbox_type, geo_metadata
from pipelines.feed.model import Rules
from pipelines.feed.project import Reprojector, extent_wgs84, france_bounds, hilbert_keys
from pipelines.feed.sources import sniff_suffix


def test_hilbert_order_1_and_locality() -> None:
    corners = np.array([[0, 0, 0, 0], [0, 1, 0, 1], [1, 1, 1, 1], [1, 0, 1, 0]], float)
    assert list(hilbert_keys(corners, (0, 0, 1, 1), order=1)) == [0, 1, 2, 3]
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1000, (5000, 2))
    keys = hilbert_keys(np.hstack([pts, pts]), (0, 0, 1000, 1000))
    ordered = pts[np.argsort(keys)]
    step = np.linalg.norm(np.diff(ordered, axis=0), axis=1).mean()
    assert step < 40  # random order would be ~520


def test_france_bounds_contain_paris_and_corsica_not_madrid() -> None:
    xmin, ymin, xmax, ymax = france_bounds()
    project = Reprojector(CRS("EPSG:4326"))._xy
    for lon, lat, inside in [(2.35, 48.86, True), (9.15, 42.3, True), (-3.7, 40.4, False)]:
        x, y = project(np.array([lon]), np.array([lat]))
        assert bool(xmin <= x[0] <= xmax and ymin <= y[0] <= ymax) is inside


def test_extent_wgs84() -> None:
    box = extent_wgs84((600000.0, 6800000.0, 700000.0, 6900000.0), "EPSG:2154")
    assert box is not None and 1.5 < box[0] < 3 and 48 < box[1] < 50
    assert extent_wgs84(None, "EPSG:2154") is None
    assert extent_wgs84((0, 0, 1, 1), None) is None
    # GeoPackage's "Undefined Cartesian SRS": PROJ cannot transform it ("Error creating
    # Transformer from CRS."); the version is recorded without an extent, never refused
    local = 'LOCAL_CS["Undefined Cartesian SRS",UNIT["Meter",1],AXIS["E",EAST],AXIS["N",NORTH]]'
    assert extent_wgs84((0, 0, 1, 1), local) is None


def _points_batch(
    x: np.ndarray, y: np.ndarray, extent: tuple[float, float, float, float]
) -> pa.RecordBatch:
    """Points with their bbox and their key on a grid over ``extent`` (as refine makes them)."""
    fields = [pa.array(v) for v in (x, y, x, y)]
    bbox = pa.StructArray.from_arrays(fields, fields=list(bbox_type()))
    keys = hilbert_keys(np.stack([x, y, x, y], axis=1), extent)
    return pa.record_batch({"v": pa.array(np.arange(len(x))), BBOX: bbox, KEY: pa.array(keys)})


def _locality(parquet: pq.ParquetFile) -> float:
    """Mean distance between consecutive rows (small when the file is spatially sorted)."""
    table = parquet.read()
    x = table.column(BBOX).combine_chunks().field("xmin").to_numpy()
    y = table.column(BBOX).combine_chunks().field("ymin").to_numpy()
    return float(np.hypot(np.diff(x), np.diff(y)).mean())


def test_sorted_writer_spreads_rows_in_sorted_row_groups(tmp_path: Path) -> None:
    writer = SortedWriter(tmp_path, row_group_rows=1000, key_extent=(0, 0, 1e6, 1e6))
    rng = np.random.default_rng(1)
    for start in range(0, 5000, 700):
        n = min(700, 5000 - start)
        writer.add(_points_batch(rng.uniform(0, 1e6, n), rng.uniform(0, 1e6, n), (0, 0, 1e6, 1e6)))
    target = tmp_path / "out.parquet"
    geo = geo_metadata(CRS("EPSG:2154").to_json_dict(), ["Point"], [0, 0, 1e6, 1e6])
    groups = writer.write(target, geo, (10.0, 10.0, 9e5, 9e5))
    parquet = pq.ParquetFile(target)
    assert groups == parquet.num_row_groups == 5
    sizes = [parquet.metadata.row_group(i).num_rows for i in range(groups)]
    assert sum(sizes) == 5000 and max(sizes) < 1300
    assert _locality(parquet) < 40_000  # random order would be ~520,000
    assert parquet.schema_arrow.names == ["v", BBOX]  # the key column is dropped
    assert json.loads(parquet.schema_arrow.metadata[b"geo"])["version"] == "1.1.0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]


@pytest.mark.parametrize(
    "extent",
    [(3.2e5, 7.63e6, 3.8e5, 7.69e6), (1.0e6, 6.2e6, 1.1e6, 6.3e6), (-2e3, -1e3, 2e3, 1e3)],
    ids=["reunion-utm40s", "corsica-l93", "around-origin"],
)
def test_sorted_writer_sorts_any_extent(tmp_path: Path, extent: tuple[float, ...]) -> None:
    """The Hilbert grid spans the layer's own extent: Réunion (EPSG:2975) is sorted too."""
    rng = np.random.default_rng(2)
    x = rng.uniform(extent[0], extent[2], 3000)
    y = rng.uniform(extent[1], extent[3], 3000)
    writer = SortedWriter(tmp_path, row_group_rows=1000, key_extent=france_bounds())
    for part in range(3):  # keys made over France's bounds, as refine's workers make them
        chunk = slice(part * 1000, (part + 1) * 1000)
        writer.add(_points_batch(x[chunk], y[chunk], france_bounds()))
    target = tmp_path / "out.parquet"
    geo = geo_metadata(CRS("EPSG:2154").to_json_dict(), ["Point"], list(extent))
    writer.write(target, geo, (x.min(), y.min(), x.max(), y.max()))
    random_step = float(np.hypot(np.diff(x), np.diff(y)).mean())
    assert _locality(pq.ParquetFile(target)) < random_step / 10


@pytest.mark.parametrize(
    ("types", "rules", "ok"),
    [
        ({"Polygon": 5, "MultiPolygon": 1}, Rules(), True),
        ({"Polygon": 5, "Point": 1}, Rules(), False),
        ({"Polygon": 5, "Point": 1}, Rules(geometry_types=("Point", "Polygon")), True),
        ({"LineString": 5}, Rules(geometry_types=("Polygon",)), False),
    ],
    ids=["one-family", "mixed", "mixed-allowed", "not-allowed"],
)
def test_geometry_type_rule(types: dict[str, int], rules: Rules, ok: bool) -> None:
    tally = quality.Tally(rows_out=6)
    tally.types_in.update(types)
    checks = {c.rule: c for c in quality.evaluate(tally, rules, france_bounds())}
    assert checks["geometry_types"].passed is ok


def test_rows_bounds_and_duplicates() -> None:
    tally = quality.Tally(rows_out=0, outside=2)
    tally.ids = [np.array([1, 2, 3]), np.array([3, 4])]
    checks = {c.rule: c for c in quality.evaluate(tally, Rules(id_column="id"), france_bounds())}
    assert not checks["rows"].passed and checks["rows"].detail == "0 rows (min 1)"
    assert not checks["bounds"].passed
    assert not checks["unique_ids"].passed
    assert checks["unique_ids"].detail == "1 duplicate id, 0 without one"


@pytest.mark.parametrize(
    ("head", "suffix"),
    [
        (b"SQLite format 3\x00xx", ".gpkg"),
        (b"PK\x03\x04", ".zip"),
        (b"PAR1", ".parquet"),
        (b"fgb\x03fgb\x00", ".fgb"),
        (b'  {"type"', ".geojson"),
        (b"id,wkt", ""),
    ],
    ids=["gpkg", "zip", "parquet", "fgb", "geojson", "unknown"],
)
def test_sniff_suffix(tmp_path: Path, head: bytes, suffix: str) -> None:
    path = tmp_path / "download"
    path.write_bytes(head)
    assert sniff_suffix(path) == suffix
