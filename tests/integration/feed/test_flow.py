"""ingest → refine → publish over the canonical layer in every format, on real PostGIS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pytest
import shapely
from pyproj import Transformer

from infra.settings import Settings
from pipelines.feed import catalog
from pipelines.feed.ingest import ingest
from pipelines.feed.publish import publish
from pipelines.feed.refine import refine
from pipelines.feed.zones import zone
from tests.integration.feed.conftest import declare
from tests.support import formats


def expected_geometries(table: pa.Table) -> dict[int, Any]:
    """The canonical layer as refine should make it: in EPSG:2154, then repaired, by id."""
    geoms = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    out = shapely.transform(geoms, lambda x, y: to_l93.transform(x, y), interleaved=False)
    bad = ~shapely.is_valid(out)
    out[bad] = shapely.make_valid(out[bad], method="structure", keep_collapsed=False)
    ids = table.column("id").to_pylist()
    return dict(zip(ids, out, strict=True))


def published(conn: psycopg.Connection[Any], name: str) -> dict[int, Any]:
    rows = conn.execute(
        f'SELECT id, ST_AsBinary(geom), ST_SRID(geom) FROM exposure."{name}"'
    ).fetchall()
    conn.rollback()
    assert {r[2] for r in rows} == {2154}
    return {int(r[0]): shapely.from_wkb(bytes(r[1])) for r in rows}


def assert_same_layer(actual: dict[int, Any], expected: dict[int, Any], tolerance: float) -> None:
    assert actual.keys() == expected.keys()
    for key, geom in expected.items():
        got = actual[key]
        assert (
            shapely.hausdorff_distance(shapely.normalize(got), shapely.normalize(geom)) < tolerance
        ), key
        assert abs(got.area - geom.area) < max(0.01 * geom.area, 0.05), key


@pytest.mark.parametrize("fmt", list(formats.FORMATS), ids=list(formats.FORMATS))
def test_every_format_reaches_exposure_unchanged(
    fmt: str,
    canonical: pa.Table,
    conn: psycopg.Connection[Any],
    zone_settings: Settings,
    tmp_path: Path,
) -> None:
    settings = zone_settings
    path, layer = formats.FORMATS[fmt](canonical, tmp_path)
    name = fmt.replace("-", "_")
    if fmt.startswith("csv"):
        declare(conn, name, '{"crs": "EPSG:4326"}')
    landed = ingest(conn, settings, name, str(path), layer)
    assert not landed.noop and landed.profile is not None
    assert landed.profile["rows"] in (len(canonical), None)
    refined = refine(conn, settings, name)
    report = refined.version.quality
    assert report is not None and report["passed"]
    invalid = int(
        (
            ~shapely.is_valid(
                shapely.from_wkb(canonical.column("geometry").to_numpy(zero_copy_only=False))
            )
        ).sum()
    )
    assert invalid > 0
    assert report["geometry"]["invalid"] == invalid
    assert report["geometry"]["repaired"] == invalid
    out = publish(conn, settings, name)
    assert out.version.rows == len(canonical)
    # GeoJSON and WKT text carry fewer digits than binary formats: a few millimetres
    tolerance = 0.05 if fmt in ("geojson", "csv-wkt") else 1e-6
    assert_same_layer(published(conn, name), expected_geometries(canonical), tolerance)

    # re-runs are no-ops
    again = [
        ingest(conn, settings, name, str(path), layer).noop,
        refine(conn, settings, name).noop,
        publish(conn, settings, name).noop,
    ]
    assert again == [True, True, True]
    zones = [v.zone for v in catalog.versions(conn, name)]
    assert sorted(zones) == ["exposure", "landing", "working"]
    steps = [e["step"] for e in catalog.lineage(conn, name)]
    assert steps == ["ingest", "refine", "publish"]


def test_working_file_is_geoparquet_1_1_sorted_and_covered(
    canonical: pa.Table, conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    import json

    import pyarrow.parquet as pq

    path, layer = formats.gpkg_multi(canonical, tmp_path)
    ingest(conn, settings, "gp", str(path), layer)
    version = refine(conn, settings, "gp").version
    local = zone(settings, "working").fetch(version.key, tmp_path)
    parquet = pq.ParquetFile(local)
    geo = json.loads(parquet.schema_arrow.metadata[b"geo"])
    column = geo["columns"]["geom"]
    assert geo["version"] == "1.1.0"
    assert column["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    assert column["crs"]["id"] == {"authority": "EPSG", "code": 2154}
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
    table = parquet.read()
    bbox = table.column("bbox").combine_chunks()
    geoms = shapely.from_wkb(table.column("geom").to_numpy(zero_copy_only=False))
    bounds = shapely.bounds(geoms)
    assert np.allclose(bounds[:, 0], bbox.field("xmin").to_numpy())
    assert np.allclose(bounds[:, 3], bbox.field("ymax").to_numpy())
    assert column["bbox"] == pytest.approx(
        [bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max()]
    )
    # spatially sorted: consecutive rows are much closer than random pairs
    centres = (bounds[:, :2] + bounds[:, 2:]) / 2
    step = np.linalg.norm(np.diff(centres, axis=0), axis=1).mean()
    shuffled = np.linalg.norm(centres - centres[::-1], axis=1).mean()
    assert step < shuffled / 3


def test_csv_with_lon_lat_columns(
    canonical: pa.Table, conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    path, _ = formats.csv_lonlat(canonical, tmp_path)
    declare(conn, "points", '{"crs": "EPSG:4326"}')
    ingest(conn, settings, "points", str(path))
    report = refine(conn, settings, "points").version.quality
    assert report is not None and report["geometry"]["types_out"] == {"Point": len(canonical)}
    publish(conn, settings, "points")
    geoms = shapely.from_wkb(canonical.column("geometry").to_numpy(zero_copy_only=False))
    to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    centres = shapely.centroid(shapely.make_valid(geoms))
    x, y = to_l93.transform(shapely.get_x(centres), shapely.get_y(centres))
    expected = dict(zip(canonical.column("id").to_pylist(), shapely.points(x, y), strict=True))
    assert_same_layer(published(conn, "points"), expected, 1e-6)
