"""Formats made of several files, archives, odd inputs and library failures, on real files.

Each layer is written by GDAL (pyogrio) in ``tmp_path``, then goes through the real ingest →
refine → publish on PostGIS; what is published is compared with an independent read of the
source by pyogrio. Failures must be one line, recorded as a rejected version with its step.
"""

from __future__ import annotations

import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely

from infra.errors import FormatError, PublishError, QualityError
from infra.settings import Settings
from pipelines.feed import catalog, multifile
from pipelines.feed.ingest import ingest
from pipelines.feed.progress import listening
from pipelines.feed.publish import publish
from pipelines.feed.refine import refine
from pipelines.feed.zones import zone
from tests.integration.feed.conftest import declare
from tests.support import formats

OSM_SAMPLE = Path(pyogrio.__file__).parent / "tests" / "fixtures" / "sample.osm.pbf"
MULTI_FILE = {
    "shapefile-loose": formats.loose_shapefile,
    "mapinfo-mif": formats.mapinfo_mif,
    "mapinfo-tab": formats.mapinfo_tab,
}


def source_rows(path: Path, **kwargs: Any) -> dict[int, tuple[str, float]]:
    """``id → (usage, area in EPSG:2154)`` read from the source by pyogrio, independently."""
    table = pyogrio.read_arrow(str(path), **kwargs)[1]
    geoms = shapely.from_wkb(table.column("wkb_geometry").to_numpy(zero_copy_only=False))
    from pyproj import Transformer

    to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    out = shapely.transform(geoms, lambda x, y: to_l93.transform(x, y), interleaved=False)
    bad = ~shapely.is_valid(out)
    out[bad] = shapely.make_valid(out[bad], method="structure", keep_collapsed=False)
    return {
        int(i): (u, float(a))
        for i, u, a in zip(
            table.column("id").to_pylist(),
            table.column("usage").to_pylist(),
            shapely.area(out),
            strict=True,
        )
    }


def published_rows(conn: psycopg.Connection[Any], name: str) -> dict[int, tuple[str, float]]:
    rows = conn.execute(f'SELECT id, usage, ST_Area(geom) FROM exposure."{name}"').fetchall()
    conn.rollback()
    return {int(i): (u, float(a)) for i, u, a in rows}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(MULTI_FILE), ids=list(MULTI_FILE))
def test_a_multi_file_layer_lands_whole_and_publishes_every_attribute(
    fmt: str,
    canonical: pa.Table,
    conn: psycopg.Connection[Any],
    zone_settings: Settings,
    tmp_path: Path,
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    path, _ = MULTI_FILE[fmt](canonical, source)
    (source / "unrelated.gpkg").write_bytes(b"not gathered")
    name = fmt.replace("-", "_")
    landed = ingest(conn, zone_settings, name, str(path))
    parts = sorted(p.name for p in source.iterdir() if p.stem == path.stem)
    assert sorted(landed.version.provenance["parts"]) == parts
    assert landed.version.uri.endswith(f"/{path.stem}.zip")
    (tmp_path / "kept").mkdir()
    kept = zone(zone_settings, "landing").fetch(landed.version.key, tmp_path / "kept")
    with zipfile.ZipFile(kept) as archive:
        assert sorted(archive.namelist()) == parts
    assert landed.profile is not None and landed.profile["rows"] == len(canonical)
    assert set(landed.profile["fields"]) >= {"id", "usage"}

    refine(conn, zone_settings, name)
    out = publish(conn, zone_settings, name)
    assert out.version.rows == len(canonical)
    expected = source_rows(path)
    got = published_rows(conn, name)
    assert got.keys() == expected.keys()
    nulls = [k for k, (usage, _) in got.items() if usage is None]
    assert nulls == []  # a .mif without its .mid published every attribute NULL
    for key, (usage, area) in expected.items():
        assert got[key][0] == usage, key
        # MapInfo stores coordinates on an integer grid: areas agree to 1 % (or 1 m²)
        assert abs(got[key][1] - area) <= max(0.01 * area, 1.0), key

    again = ingest(conn, zone_settings, name, str(path))
    assert again.noop  # the packed zip is byte for byte the same
    kind = multifile.format_of(path.name)
    assert kind is not None
    sidecar = path.with_suffix(kind.required[-1])
    sidecar.write_bytes(sidecar.read_bytes() + b"\0")
    changed = ingest(conn, zone_settings, name, str(path))
    assert not changed.noop  # a changed sidecar is a new version


def test_a_zip_with_its_layer_in_a_sub_folder(
    canonical: pa.Table, conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    path, _ = formats.mapinfo_tab(canonical, tmp_path)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("README.txt", "exported")
        zf.writestr("__MACOSX/donnees/._layer.tab", "resource fork")
        for part in sorted(tmp_path.glob("layer.*")):
            zf.write(part, f"export/donnees/{part.name}")
    landed = ingest(conn, settings, "nested", str(archive))
    assert landed.profile is not None and landed.profile["rows"] == len(canonical)
    refine(conn, settings, "nested")
    assert publish(conn, settings, "nested").version.rows == len(canonical)


def test_a_lone_part_is_refused_and_recorded_but_never_landed(
    canonical: pa.Table, conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    path, _ = formats.mapinfo_mif(canonical, tmp_path)
    (tmp_path / "layer.mid").rename(tmp_path / "layer.mid.old")
    with pytest.raises(FormatError) as caught:
        ingest(conn, settings, "lone", str(path))
    assert str(caught.value) == (
        f"layer.mif: layer.mid is missing from {tmp_path.resolve()}"
        " (a MapInfo MIF needs its .mid beside it)"
    )
    versions = catalog.versions(conn, "lone")
    assert [(v.status, v.rejected_by, v.reason) for v in versions] == [
        ("rejected", "ingest", str(caught.value))
    ]
    assert versions[0].uri == path.resolve().as_uri()  # its source: nothing stored in landing
    with pytest.raises(FormatError):  # the same bytes again: the same record, touched
        ingest(conn, settings, "lone", str(path))
    assert len(catalog.versions(conn, "lone")) == 1


def test_osm_pbf_reads_every_way(
    conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    """pyogrio's own sample: GDAL's custom node index said "Non increasing node id" and read
    no line at all; the feed reads all 36 (the count GDAL's own driver reports)."""
    pyogrio.set_gdal_config_options({"OSM_USE_CUSTOM_INDEXING": "NO"})  # GDAL's advice
    try:
        expected = pyogrio.read_info(str(OSM_SAMPLE), layer="lines", force_feature_count=True)
    finally:
        pyogrio.set_gdal_config_options({"OSM_USE_CUSTOM_INDEXING": None})
    assert expected["features"] == 36
    declare(conn, "osm_lines", '{"max_outside": 100}')  # the sample is in England
    landed = ingest(conn, settings, "osm_lines", str(OSM_SAMPLE), "lines")
    assert landed.profile is not None and landed.profile["rows"] == 36
    refined = refine(conn, settings, "osm_lines")
    assert refined.version.rows == 36
    assert publish(conn, settings, "osm_lines").version.rows == 36
    names = conn.execute('SELECT count(name) FROM exposure."osm_lines"').fetchone()
    assert names is not None and names[0] > 0


def _undefined_srs(table: pa.Table, folder: Path, srs_id: int) -> Path:
    path = folder / "undefined.gpkg"
    pyogrio.write_arrow(
        table,
        path,
        driver="GPKG",
        layer="buildings",
        geometry_name="geometry",
        geometry_type="Polygon",
        crs="EPSG:4326",
    )
    with sqlite3.connect(path) as db:  # what QGIS and others write for "no CRS"
        db.execute("UPDATE gpkg_geometry_columns SET srs_id = ?", (srs_id,))
        db.execute("UPDATE gpkg_contents SET srs_id = ?", (srs_id,))
    return path


@pytest.mark.parametrize("srs_id", [0, -1], ids=["undefined-geographic", "undefined-cartesian"])
def test_a_geopackage_with_an_undefined_srs_needs_and_takes_a_declared_crs(
    srs_id: int,
    canonical: pa.Table,
    conn: psycopg.Connection[Any],
    settings: Settings,
    tmp_path: Path,
) -> None:
    path = _undefined_srs(canonical, tmp_path, srs_id)
    landed = ingest(conn, settings, "undef", str(path))
    assert landed.profile is not None and landed.profile["crs"] is None
    no_crs = "crs: the layer has no CRS; declare it: locxia datasets set undef crs="
    with pytest.raises(QualityError, match=no_crs):
        refine(conn, settings, "undef")
    rejected = catalog.get(conn, landed.version.id)
    assert rejected is not None and (rejected.status, rejected.rejected_by) == (
        "rejected",
        "refine",
    )
    assert rejected.reason is not None and no_crs in rejected.reason
    declare(conn, "undef", '{"crs": "EPSG:4326"}')
    refined = refine(conn, settings, "undef")
    assert refined.version.rows == len(canonical)
    landing = catalog.get(conn, landed.version.id)
    assert landing is not None and (landing.status, landing.reason) == ("refined", None)
    assert publish(conn, settings, "undef").version.rows == len(canonical)


def test_coordinates_proj_cannot_project_fail_refine_with_one_line(
    canonical: pa.Table, conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    geoms = shapely.from_wkb(canonical.column("geometry").to_numpy(zero_copy_only=False))
    turned = geoms.copy()
    turned[:3] = shapely.transform(geoms[:3], lambda c: c + np.array([720.0, 0.0]))
    index = canonical.schema.get_field_index("geometry")
    table = canonical.set_column(index, "geometry", pa.array(shapely.to_wkb(turned)))
    path, _ = formats.flatgeobuf(table, tmp_path)
    ingest(conn, settings, "turns", str(path))
    with pytest.raises(QualityError) as caught:
        refine(conn, settings, "turns")
    assert "3 of them with coordinates PROJ cannot project to EPSG:2154 (dropped" in str(
        caught.value
    )
    assert "GEOSException" not in str(caught.value) and "\n" not in str(caught.value)
    newest = catalog.versions(conn, "turns")[0]
    assert (newest.status, newest.rejected_by) == ("rejected", "refine")
    assert newest.reason == str(caught.value)
    assert newest.quality is not None and newest.quality["geometry"]["unprojectable"] == 3


ODD_COLUMNS = {
    # PostgreSQL has no nanosecond time: pgpq refuses to build its encoder (ValueError)
    "time-ns": (pa.time64("ns"), 0, "the working file cannot be loaded"),
    # a struct has no PostgreSQL type here
    "struct": (pa.struct([("a", pa.int32())]), {"a": 1}, "unsupported type"),
}


@pytest.mark.parametrize("case", list(ODD_COLUMNS), ids=list(ODD_COLUMNS))
def test_publish_records_a_working_file_it_cannot_load(
    case: str,
    canonical: pa.Table,
    conn: psycopg.Connection[Any],
    settings: Settings,
    tmp_path: Path,
) -> None:
    kind, value, fragment = ODD_COLUMNS[case]
    path, _ = formats.flatgeobuf(canonical, tmp_path)
    ingest(conn, settings, "odd", str(path))
    working = refine(conn, settings, "odd").version
    (tmp_path / "w").mkdir()
    local = zone(settings, "working").fetch(working.key, tmp_path / "w")
    table = pq.read_table(local)
    odd = table.append_column("odd", pa.array([value] * table.num_rows, type=kind))
    pq.write_table(odd, local)
    zone(settings, "working").put_file(local, working.key)
    with pytest.raises(PublishError) as caught:
        publish(conn, settings, "odd")
    assert "exposure unchanged" in str(caught.value) and fragment in str(caught.value)
    assert "\n" not in str(caught.value)
    rejected = catalog.get(conn, working.id)
    assert rejected is not None
    assert (rejected.status, rejected.rejected_by, rejected.reason) == (
        "rejected",
        "publish",
        str(caught.value),
    )
    exists = conn.execute("SELECT to_regclass('exposure.odd') IS NULL").fetchone()
    assert exists == (True,)


class Recorder:
    """Keeps what refine reports: (label, total, unit) per step, and the amounts advanced."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, float | None, str]] = []
        self.done: dict[str, float] = {}

    def start(self, label: str, total: float | None, unit: str = "bytes") -> None:
        self.steps.append((label, total, unit))
        self.done[label] = 0

    def advance(self, amount: float) -> None:
        self.done[self.steps[-1][0]] += amount

    def finish(self) -> None:
        """Nothing to close."""


def test_refine_progress_counts_rows_against_the_profiled_total(
    canonical: pa.Table, conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    path, layer = formats.gpkg_multi(canonical, tmp_path)
    ingest(conn, settings, "progress", str(path), layer)
    recorder = Recorder()
    with listening(recorder):
        refine(conn, settings, "progress")
    refine_steps = [s for s in recorder.steps if s[0] == "refine progress"]
    assert refine_steps == [("refine progress", len(canonical), "rows")]
    assert recorder.done["refine progress"] == len(canonical)
