"""Formats and failures as a user meets them: multi-file layers from a folder, a lone part by
URL, an undefined SRS, coordinates PROJ cannot use, OSM PBF — through the `locxia` CLI."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyogrio
import pytest
import shapely

from infra.db import connect
from tests.e2e.conftest import Run
from tests.e2e.feed.test_feed_cli import one_error_line
from tests.support import formats, geodata

OSM_SAMPLE = Path(pyogrio.__file__).parent / "tests" / "fixtures" / "sample.osm.pbf"
pytestmark = pytest.mark.slow  # several CLI processes per test


@pytest.fixture
def layer() -> pa.Table:
    return geodata.layer_table(40, seed=7, invalid_share=0.05)


def ok(out: subprocess.CompletedProcess[str]) -> str:
    """stdout of a command that must succeed, with no ``None`` in any line people read."""
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert "None" not in out.stdout, out.stdout
    return out.stdout


def declare_rules(db_url: str, name: str, rules: str) -> None:
    with connect(db_url) as conn:
        conn.execute("UPDATE params.datasets SET rules = %s WHERE name = %s", (rules, name))
        conn.commit()


@pytest.mark.parametrize(
    "writer", [formats.mapinfo_mif, formats.mapinfo_tab, formats.loose_shapefile]
)
def test_a_multi_file_layer_from_its_folder_reaches_exposure_with_its_attributes(
    writer: formats.Writer, locxia: Run, layer: pa.Table, tmp_path: Path, db_url: str
) -> None:
    path, _ = writer(layer, tmp_path)
    landed = ok(locxia("ingest", str(path), "-d", "parts"))
    assert f"{path.stem}.zip" in landed and "Profile" in landed
    ok(locxia("refine", "parts"))
    ok(locxia("publish", "parts"))
    with connect(db_url) as conn:
        usages = conn.execute("SELECT id, usage FROM exposure.parts ORDER BY id").fetchall()
    assert usages == list(
        zip(layer.column("id").to_pylist(), layer.column("usage").to_pylist(), strict=True)
    )
    ok(locxia("datasets", "show", "parts"))
    ok(locxia("datasets", "list"))


def test_a_lone_part_by_url_is_a_usage_error(locxia: Run, db_url: str) -> None:
    out = locxia("ingest", "https://example.org/data/roads.TAB", "-d", "roads")
    assert out.returncode == 2, out.stderr
    assert (
        "roads.TAB: a MapInfo TAB by URL comes without its .dat, .map, .id; give the URL of a"
        " .zip holding all its files" in " ".join(out.stderr.split())
    )
    with connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM ops.runs").fetchone() == (0,)


def test_a_geopackage_with_an_undefined_srs_is_fed_once_a_crs_is_declared(
    locxia: Run, layer: pa.Table, tmp_path: Path, db_url: str
) -> None:
    path = tmp_path / "sans_srs.gpkg"
    pyogrio.write_arrow(
        layer,
        path,
        driver="GPKG",
        geometry_name="geometry",
        geometry_type="Polygon",
        crs="EPSG:4326",
    )
    with sqlite3.connect(path) as db:  # what "no CRS" is in a GeoPackage: srs_id -1
        db.execute("UPDATE gpkg_geometry_columns SET srs_id = -1")
        db.execute("UPDATE gpkg_contents SET srs_id = -1")
    ok(locxia("ingest", str(path), "-d", "sans_srs"))
    one_error_line(locxia("refine", "sans_srs"), "crs: the layer has no CRS; declare it")
    shown = ok(locxia("datasets", "show", "sans_srs"))
    assert "last rejection (version 1, refine): sans_srs: quality check failed: crs:" in shown
    declare_rules(db_url, "sans_srs", '{"crs": "EPSG:4326"}')
    ok(locxia("refine", "sans_srs"))
    published = json.loads(ok(locxia("publish", "sans_srs", "--json")))
    assert published["rows"] == len(layer)


def test_coordinates_proj_cannot_use_are_one_line_and_recorded(
    locxia: Run, layer: pa.Table, tmp_path: Path, db_url: str
) -> None:
    geoms = shapely.from_wkb(layer.column("geometry").to_numpy(zero_copy_only=False))
    geoms[:2] = shapely.transform(geoms[:2], lambda c: c + np.array([360.0 * 3, 0.0]))
    index = layer.schema.get_field_index("geometry")
    path, _ = formats.geojson(
        layer.set_column(index, "geometry", pa.array(shapely.to_wkb(geoms))), tmp_path
    )
    ok(locxia("ingest", str(path), "-d", "turns"))
    out = locxia("refine", "turns")
    one_error_line(out, "2 of them with coordinates PROJ cannot project to EPSG:2154")
    assert "GEOSException" not in out.stderr and "Shell empty" not in out.stderr
    listed = json.loads(ok(locxia("datasets", "list", "--json")))
    assert listed[0]["rejected"] == 1
    assert listed[0]["last_rejection"].startswith("refine 1: turns: quality check failed:")
    table = ok(locxia("datasets", "list"))
    assert "last rejection" in table
    with connect(db_url) as conn:
        row = conn.execute(
            "SELECT rejected_by, reason FROM reporting.dataset_versions WHERE status = 'rejected'"
        ).fetchone()
    assert row is not None and row[0] == "refine"
    assert "2 of them with coordinates PROJ cannot" in row[1]


def test_osm_pbf_lines_are_all_read(locxia: Run, tmp_path: Path, db_url: str) -> None:
    ok(locxia("ingest", str(OSM_SAMPLE), "-d", "osm", "-l", "lines"))
    declare_rules(db_url, "osm", '{"max_outside": 100}')  # the sample is in England
    ok(locxia("refine", "osm"))
    published = json.loads(ok(locxia("publish", "osm", "--json")))
    assert published["rows"] == 36
