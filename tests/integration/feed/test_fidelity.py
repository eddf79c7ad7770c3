"""Nothing lost silently (issue 15): EMPTY repairs, unreadable rows, Z and M, a lying .prj,
mis-decoded text, wrong units, A → B → A, stable feature keys and sort outside France.

Every file is written here with pyogrio/GDAL (or as text), then goes ingest → refine →
publish on real PostGIS; what exposure holds is compared with what was written.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import psycopg
import pyarrow.parquet as pq
import pytest
import shapely
from pyproj import Transformer

from infra.errors import FormatError, QualityError
from infra.settings import Settings
from pipelines.feed import catalog
from pipelines.feed.ingest import ingest
from pipelines.feed.publish import publish
from pipelines.feed.refine import refine
from pipelines.feed.zones import zone
from tests.integration.feed.conftest import declare

TO_L93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)


def _flow(conn: psycopg.Connection[Any], settings: Settings, name: str, path: Path) -> Any:
    ingest(conn, settings, name, str(path))
    refined = refine(conn, settings, name)
    publish(conn, settings, name)
    return refined.version


def _squares(n: int, lon: float = 2.3, lat: float = 48.8) -> list[Any]:
    return [shapely.box(lon + i * 0.01, lat, lon + i * 0.01 + 0.005, lat + 0.005) for i in range(n)]


def _rows(conn: psycopg.Connection[Any], query: str) -> list[tuple[Any, ...]]:
    rows = conn.execute(query).fetchall()
    conn.rollback()
    return rows


def test_repairs_into_empty_are_dropped_and_counted(
    conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    collapsed = shapely.from_wkt("POLYGON ((2.3 48.8, 2.31 48.81, 2.31 48.81, 2.3 48.8))")
    bowtie = shapely.from_wkt("POLYGON ((2.3 48.9, 2.31 48.91, 2.31 48.9, 2.3 48.91, 2.3 48.9))")
    frame = gpd.GeoDataFrame(
        {"n": ["ok", "flat", "bowtie"]}, geometry=[_squares(1)[0], collapsed, bowtie], crs=4326
    )
    path = tmp_path / "flat.gpkg"
    frame.to_file(path)
    version = _flow(conn, settings, "flat", path)
    geometry = version.quality["geometry"]
    assert geometry["collapsed"] == 1 and geometry["repaired"] == 1 and geometry["empty"] == 0
    validity = next(c for c in version.quality["checks"] if c["rule"] == "validity")
    assert "1 collapsed to EMPTY by the repair (dropped)" in validity["detail"]
    rows = _rows(conn, "SELECT n, ST_IsEmpty(geom) FROM exposure.flat ORDER BY n")
    assert rows == [("bowtie", False), ("ok", False)]

    declare(conn, "flat", '{"null_geometries": "fail"}')
    with pytest.raises(QualityError, match="validity: .*collapsed to EMPTY"):
        refine(conn, settings, "flat")


def test_rows_gdal_cannot_parse_are_unreadable_not_null(
    conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "pts.csv"
    path.write_text(
        "id,name,wkt\n1,a,POINT (2.3 48.8)\n2,b,POINT (2.3 oops)\n3,c,\n4,d,POINT (2.4 48.8)\n"
    )
    declare(conn, "pts", '{"crs": "EPSG:4326"}')
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing of GDAL's may reach the user raw
        version = _flow(conn, settings, "pts", path)
    geometry = version.quality["geometry"]
    assert (geometry["unreadable"], geometry["null"]) == (1, 1)
    nulls = next(c for c in version.quality["checks"] if c["rule"] == "null_geometries")
    assert nulls["detail"] == "1 null, 0 empty, 1 unreadable (dropped)"
    assert "WKT" in version.quality["reader_warnings"]["first"][0]
    assert _rows(conn, "SELECT id FROM exposure.pts ORDER BY id") == [(1,), (4,)]


def test_z_is_kept_through_working_and_exposure(
    conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    footprints = [shapely.force_3d(square, 12.5 + i) for i, square in enumerate(_squares(3))]
    path = tmp_path / "bati3d.gpkg"
    gpd.GeoDataFrame({"h": [12.5, 13.5, 14.5]}, geometry=footprints, crs=4326).to_file(path)
    version = _flow(conn, settings, "bati3d", path)
    assert version.geometry_types == ["Polygon Z"]
    working = zone(settings, "working").fetch(version.key, tmp_path)
    geo = json.loads(pq.read_schema(working).metadata[b"geo"])
    assert geo["columns"]["geom"]["geometry_types"] == ["Polygon Z"]
    table = pq.read_table(working)
    assert shapely.has_z(shapely.from_wkb(table.column("geom").to_numpy())).all()
    rows = _rows(
        conn,
        "SELECT h, ST_ZMin(geom), ST_ZMax(geom), format_type(a.atttypid, a.atttypmod)"
        " FROM exposure.bati3d, pg_attribute a WHERE a.attrelid = 'exposure.bati3d'::regclass"
        " AND a.attname = 'geom' ORDER BY h",
    )
    assert [(r[0], r[1], r[2]) for r in rows] == [(12.5, 12.5, 12.5), (13.5, 13.5, 13.5),
                                                 (14.5, 14.5, 14.5)]  # fmt: skip
    assert rows[0][3] == "geometry(PolygonZ,2154)" or rows[0][3] == "geometry(GeometryZ,2154)"


def test_m_is_dropped_with_a_counted_line_and_no_warning(
    conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "tracks.csv"
    path.write_text(
        'id,wkt\n1,"LINESTRING M (2.3 48.8 1, 2.4 48.9 2)"\n'
        '2,"LINESTRING ZM (2.3 48.8 30 1, 2.4 48.9 31 2)"\n'
    )
    declare(conn, "tracks", '{"crs": "EPSG:4326", "geometry_types": ["LineString"]}')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        version = _flow(conn, settings, "tracks", path)
    measures = next(c for c in version.quality["checks"] if c["rule"] == "measures")
    assert measures == {"rule": "measures", "passed": True,
                        "detail": "M values dropped from 2 geometries"}  # fmt: skip
    rows = _rows(conn, "SELECT id, ST_Zmflag(geom), ST_Z(ST_StartPoint(geom)) FROM exposure.tracks")
    assert sorted(rows) == [(1, 0, None), (2, 2, 30.0)]  # 2D, and Z without M


def test_crs_override_wins_over_a_lying_prj(
    conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    x, y = TO_L93.transform(2.35, 48.85)
    points = [shapely.Point(x + i * 100, y) for i in range(5)]
    path = tmp_path / "liar.gpkg"  # Lambert-93 coordinates declared as EPSG:4326
    gpd.GeoDataFrame({"i": range(5)}, geometry=points, crs=4326).to_file(path)
    declare(conn, "liar", '{"crs": "EPSG:2154"}')
    ingest(conn, settings, "liar", str(path))
    with pytest.raises(QualityError, match="crs_override=EPSG:2154"):
        refine(conn, settings, "liar")
    declare(conn, "liar", '{"crs_override": "EPSG:2154"}')
    version = refine(conn, settings, "liar").version
    assert version.quality["crs_override"] == "EPSG:2154"
    assert version.quality["file_crs"] == "EPSG:4326"
    publish(conn, settings, "liar")
    got = _rows(conn, "SELECT ST_X(geom), ST_Y(geom) FROM exposure.liar WHERE i = 0")
    assert got == [(pytest.approx(x), pytest.approx(y))]


def test_metres_declared_as_degrees_fail_naming_the_override(
    conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    x, y = TO_L93.transform(2.35, 48.85)
    features = [
        {"type": "Feature", "properties": {"i": i},
         "geometry": {"type": "Point", "coordinates": [x + i, y]}}
        for i in range(3)
    ]  # fmt: skip
    path = tmp_path / "metres.geojson"  # GeoJSON is in degrees by definition
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    ingest(conn, settings, "metres", str(path))
    with pytest.raises(QualityError) as caught:
        refine(conn, settings, "metres")
    units = next(c for c in caught.value.report["checks"] if c["rule"] == "units")
    assert "look like metres" in units["detail"]
    assert "crs_override=EPSG:" in units["detail"]


def test_degrees_declared_as_metres_fail_naming_the_override(
    conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "degrees.gpkg"
    gpd.GeoDataFrame({"i": [1, 2]}, geometry=_squares(2), crs=2154).to_file(path)
    ingest(conn, settings, "degrees", str(path))
    with pytest.raises(QualityError, match=r"units: .*look like degrees.*crs_override=EPSG:4326"):
        refine(conn, settings, "degrees")


def _shapefile_zip(tmp_path: Path, names: list[str], encoding: str, cpg: str | None) -> Path:
    folder = tmp_path / f"shp-{encoding}"
    folder.mkdir()
    frame = gpd.GeoDataFrame({"nom": names}, geometry=_squares(len(names)), crs=4326)
    frame.to_file(folder / "lieux.shp", encoding=encoding)
    (folder / "lieux.cpg").unlink(missing_ok=True)
    if cpg is not None:
        (folder / "lieux.cpg").write_text(cpg)
    target = tmp_path / f"lieux-{encoding}.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for part in folder.iterdir():
            archive.write(part, part.name)
    return target


@pytest.mark.parametrize(
    ("encoding", "cpg", "rule", "remedy"),
    [
        ("cp1252", None, "encoding", "encoding=CP1252"),  # bytes that are not UTF-8
        ("cp1252", "ISO-8859-1", "text", "encoding=CP1252"),  # ’ and œ become C1 controls
        ("utf-8", "ISO-8859-1", "text", "encoding=UTF-8"),  # é becomes Ã©
    ],
    ids=["cp1252-without-cpg", "cp1252-read-as-latin1", "utf8-read-as-latin1"],
)
def test_a_wrong_code_page_fails_naming_the_encoding(
    encoding: str,
    cpg: str | None,
    rule: str,
    remedy: str,
    conn: psycopg.Connection[Any],
    settings: Settings,
    tmp_path: Path,
) -> None:
    names = ["l’église Saint-Étienne", "œuvre", "plain"]
    path = _shapefile_zip(tmp_path, names, encoding, cpg)
    name = f"lieux_{encoding.replace('-', '')}_{'cpg' if cpg else 'none'}"
    ingest(conn, settings, name, str(path))
    with pytest.raises(QualityError, match=f"{rule}: .*{remedy}"):
        refine(conn, settings, name)
    declare(conn, name, json.dumps({"encoding": remedy.split("=")[1]}))
    version = refine(conn, settings, name).version
    assert version.quality["encoding"] == remedy.split("=")[1]
    publish(conn, settings, name)
    assert sorted(r[0] for r in _rows(conn, f"SELECT nom FROM exposure.{name}")) == sorted(names)


def test_a_source_back_to_earlier_bytes_is_served_again(
    conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    a, b = tmp_path / "a" / "roads.gpkg", tmp_path / "b" / "roads.gpkg"
    for path, n in ((a, 2), (b, 3)):
        path.parent.mkdir()
        gpd.GeoDataFrame({"i": range(n)}, geometry=_squares(n), crs=4326).to_file(path)
    count = "SELECT count(*) FROM exposure.roads"
    _flow(conn, settings, "roads", a)
    assert _rows(conn, count) == [(2,)]
    _flow(conn, settings, "roads", b)
    assert _rows(conn, count) == [(3,)]
    again = ingest(conn, settings, "roads", str(a))
    assert again.noop  # the bytes are stored once
    refined = refine(conn, settings, "roads")
    assert refined.noop  # A's working version is found, not made again
    published = publish(conn, settings, "roads")
    assert not published.noop and published.version.parent_id == refined.version.id
    assert _rows(conn, count) == [(2,)]
    steps = [e["step"] for e in catalog.lineage(conn, "roads")]
    assert steps.count("ingest") == 3 and steps.count("publish") == 3


def test_the_source_fid_or_a_declared_key_is_the_exposure_key(
    conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "parcels.geojson"
    features = [
        {"type": "Feature", "id": fid, "properties": {"ref": f"P{fid}"},
         "geometry": shapely.geometry.mapping(square)}
        for fid, square in zip((70, 12, 45), _squares(3), strict=True)
    ]  # fmt: skip
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    _flow(conn, settings, "parcels", path)
    rows = _rows(conn, "SELECT fid, ref FROM exposure.parcels ORDER BY fid")
    assert rows == [(12, "P12"), (45, "P45"), (70, "P70")]

    declare(conn, "parcels", '{"id_column": "ref"}')
    refine(conn, settings, "parcels")
    publish(conn, settings, "parcels")
    key = _rows(
        conn,
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'exposure.parcels'::regclass"
        " AND i.indisprimary",
    )
    assert key == [("ref",)]


def test_a_layer_outside_france_is_sorted_spatially(
    conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(55.2, 55.8, 4000), rng.uniform(-21.4, -20.9, 4000)  # Réunion
    path = tmp_path / "reunion.gpkg"
    gpd.GeoDataFrame({"i": range(4000)}, geometry=shapely.points(lon, lat), crs=4326).to_file(path)
    declare(conn, "reunion", '{"bounds": [-1e8, -1e8, 1e8, 1e8]}')
    version = _flow(conn, settings, "reunion", path)
    working = zone(settings, "working").fetch(version.key, tmp_path)
    bbox = pq.read_table(working).column("bbox").combine_chunks()
    x, y = bbox.field("xmin").to_numpy(), bbox.field("ymin").to_numpy()
    step = float(np.hypot(np.diff(x), np.diff(y)).mean())
    xs, ys = TO_L93.transform(lon, lat)
    random_step = float(np.hypot(np.diff(xs), np.diff(ys)).mean())
    assert step < random_step / 10


def test_the_profile_names_the_encoding_refine_reads_with(tmp_path: Path) -> None:
    from pipelines.feed.formats import profile

    folder = tmp_path / "shp"
    folder.mkdir()
    frame = gpd.GeoDataFrame({"nom": ["l’église"]}, geometry=[shapely.Point(2.3, 48.8)], crs=4326)
    frame.to_file(folder / "a.shp", encoding="cp1252")
    (folder / "a.cpg").unlink(missing_ok=True)
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for part in folder.iterdir():
            zipped.write(part, part.name)
    assert profile(archive, None, "CP1252").encoding == "CP1252"


def test_a_row_filter_reads_only_the_rows_it_selects(
    conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "filtered.gpkg"
    frame = gpd.GeoDataFrame(
        {"nature": ["Route", "Chemin", "Route"]}, geometry=_squares(3), crs=4326
    )
    frame.to_file(path)
    declare(conn, "filtered", json.dumps({"where": "nature = 'Route'"}))
    version = _flow(conn, settings, "filtered", path)
    assert version.quality["rows_in"] == 2
    assert _rows(conn, "SELECT fid, nature FROM exposure.filtered ORDER BY fid") == [
        (1, "Route"),
        (3, "Route"),
    ]  # the source's fids: the filtered-out row leaves a gap, nothing is renumbered
    declare(conn, "filtered", json.dumps({"where": "no_such_column = 1"}))
    with pytest.raises(FormatError, match="no such column.*with rules.where 'no_such_column = 1'"):
        refine(conn, settings, "filtered")
