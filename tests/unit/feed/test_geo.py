from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyproj import CRS

from pipelines.feed import quality
from pipelines.feed.geoparquet import KEY, SortedWriter, geo_metadata
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


def test_sorted_writer_spreads_rows_in_sorted_row_groups(tmp_path: Path) -> None:
    writer = SortedWriter(tmp_path, row_group_rows=1000)
    rng = np.random.default_rng(1)
    for start in range(0, 5000, 700):
        n = min(700, 5000 - start)
        keys = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
        writer.add(pa.record_batch({"v": pa.array(keys.astype(np.int64)), KEY: pa.array(keys)}))
    target = tmp_path / "out.parquet"
    groups = writer.write(target, geo_metadata(CRS("EPSG:2154").to_json_dict(), ["Polygon"], None))
    parquet = pq.ParquetFile(target)
    assert groups == parquet.num_row_groups == 5
    sizes = [parquet.metadata.row_group(i).num_rows for i in range(groups)]
    assert sum(sizes) == 5000 and max(sizes) < 1300
    values = parquet.read().column("v").to_numpy()
    assert (np.diff(values) >= 0).all()
    assert KEY not in parquet.schema_arrow.names
    assert json.loads(parquet.schema_arrow.metadata[b"geo"])["version"] == "1.1.0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]


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
    assert not checks["unique_ids"].passed and checks["unique_ids"].detail == "1 duplicate id"


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
