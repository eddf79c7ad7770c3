"""The feed as a user drives it: `locxia ingest | refine | publish | datasets`, bad inputs,
and a publish killed mid-COPY."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import shapely
from psycopg import sql

from infra.db import connect
from tests.conftest import locxia_bin
from tests.e2e.conftest import Run
from tests.support import formats, geodata


def zones(tmp_path: Path) -> dict[str, Path]:
    base = tmp_path / "xdg" / "locxia" / "zones"
    return {z: base / z for z in ("landing", "working")}


def files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def one_error_line(out: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in out.stderr


@pytest.fixture
def layer() -> pa.Table:
    return geodata.layer_table(60, seed=3, invalid_share=0.05)


def test_ingest_refine_publish_and_show(
    locxia: Run, layer: pa.Table, tmp_path: Path, db_url: str
) -> None:
    path, name = formats.gpkg_multi(layer, tmp_path)
    ambiguous = locxia("ingest", str(path), "--dataset", "bati")
    one_error_line(ambiguous, "2 layers (buildings, other); choose one with --layer")
    landed = locxia("ingest", str(path), "--dataset", "bati", "--layer", "buildings")
    assert landed.returncode == 0, landed.stderr
    assert "Profile" in landed.stdout and "EPSG:4326" in landed.stdout
    assert "layers: buildings, other" in landed.stdout
    again = locxia("ingest", str(path), "-d", "bati", "-l", "buildings", "--json")
    assert json.loads(again.stdout)["noop"] is True
    refined = locxia("refine", "bati")
    assert refined.returncode == 0, refined.stderr
    assert "Quality" in refined.stdout and "repaired with make_valid" in refined.stdout
    published = locxia("publish", "bati", "--json")
    assert published.returncode == 0, published.stderr
    assert json.loads(published.stdout)["rows"] == len(layer)
    listed = json.loads(locxia("datasets", "list", "--json").stdout)
    assert [(d["name"], d["rows"]) for d in listed] == [("bati", len(layer))]
    shown = locxia("datasets", "show", "bati")
    assert shown.returncode == 0 and "Lineage" in shown.stdout and "publish" in shown.stdout
    runs = json.loads(locxia("runs", "list", "--json").stdout)
    assert {r["task"] for r in runs} == {"layers.ingest", "layers.refine", "layers.publish"}


def _shifted(table: pa.Table, dx: float) -> pa.Table:
    geoms = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    moved = shapely.transform(geoms, lambda c: c + np.array([dx, 0.0]))
    return table.set_column(
        table.schema.get_field_index("geometry"), "geometry", pa.array(shapely.to_wkb(moved))
    )


def _mixed(table: pa.Table) -> pa.Table:
    geoms = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    geoms[::3] = shapely.centroid(shapely.make_valid(geoms[::3]))
    return table.set_column(
        table.schema.get_field_index("geometry"), "geometry", pa.array(shapely.to_wkb(geoms))
    )


def _broken_zip(table: pa.Table, folder: Path) -> Path:
    path, _ = formats.shapefile(table, folder)
    data = path.read_bytes()
    bad = folder / "broken.zip"
    bad.write_bytes(data[: len(data) // 2])
    return bad


def _truncated_gpkg(table: pa.Table, folder: Path) -> Path:
    path, _ = formats.gpkg_multi(table, folder)
    data = path.read_bytes()
    bad = folder / "truncated.gpkg"
    bad.write_bytes(data[: len(data) // 3])
    return bad


def _empty_gpkg(table: pa.Table, folder: Path) -> Path:
    path, _ = formats.flatgeobuf(table.slice(0, 0), folder)
    return path


BAD_AT_REFINE = {
    "no-crs": (
        lambda t, d: formats.zipped_shapefile(t, d, prj=False)[0],
        "crs: the layer has no CRS",
    ),
    "outside-france": (lambda t, d: formats.gpkg_multi(_shifted(t, 60.0), d)[0], "bounds:"),
    "mixed-types": (lambda t, d: formats.geojson(_mixed(t), d)[0], "mixed geometry types"),
    "non-utf8-shapefile": (
        lambda t, d: formats.zipped_shapefile(t, d, cpg="UTF-8", encoding="CP1252")[0],
        "encoding: column 'usage' is not valid UTF-8",
    ),
    "zero-rows": (lambda t, d: _empty_gpkg(t, d), "rows: 0 rows (min 1)"),
}


@pytest.mark.parametrize("case", list(BAD_AT_REFINE), ids=list(BAD_AT_REFINE))
def test_bad_layers_stop_in_landing(
    case: str, locxia: Run, layer: pa.Table, tmp_path: Path, db_url: str
) -> None:
    make, fragment = BAD_AT_REFINE[case]
    path = make(layer, tmp_path)
    layer_opt = ["--layer", "buildings"] if path.suffix == ".gpkg" else []
    landed = locxia("ingest", str(path), "--dataset", "bad", *layer_opt)
    assert landed.returncode == 0, landed.stderr
    out = locxia("refine", "bad")
    one_error_line(out, fragment)
    assert files_in(zones(tmp_path)["working"]) == []
    with connect(db_url) as conn:
        rows = conn.execute(
            "SELECT zone, status, quality->>'passed' FROM ops.dataset_versions"
            " WHERE dataset = 'bad'"
        ).fetchall()
    assert rows == [("landing", "rejected", "false")]
    shown = locxia("datasets", "show", "bad")
    assert "last rejection" in shown.stdout


def _empty_file(table: pa.Table, folder: Path) -> Path:
    path = folder / "empty.gpkg"
    path.touch()
    return path


def _empty_zip(table: pa.Table, folder: Path) -> Path:
    path = folder / "empty.zip"
    zipfile.ZipFile(path, "w").close()
    return path


def _zip_without_dbf(table: pa.Table, folder: Path) -> Path:
    shp, _ = formats.loose_shapefile(table, folder)
    path = folder / "parts.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for part in (".shp", ".shx", ".prj"):
            archive.write(shp.with_suffix(part), f"data/{shp.stem}{part}")
    return path


def _no_geometry(table: pa.Table, folder: Path) -> Path:
    path = folder / "table.csv"
    path.write_text("code,label\n1,a\n2,b\n")
    return path


def _without(writer: formats.Writer, suffix: str) -> Callable[[pa.Table, Path], Path]:
    def make(table: pa.Table, folder: Path) -> Path:
        path, _ = writer(table, folder)
        path.with_suffix(suffix).unlink()
        return path

    return make


# case → (make the source, fragment of the one line, recorded as a rejected version?)
BAD_AT_INGEST: dict[str, tuple[Callable[[pa.Table, Path], Path], str, bool]] = {
    "broken-zip": (_broken_zip, "broken zip archive", True),
    "truncated-gpkg": (_truncated_gpkg, "truncated.gpkg: cannot read", True),
    "empty-file": (_empty_file, "empty.gpkg: empty file (0 bytes)", True),
    "empty-zip": (_empty_zip, "empty.zip: empty archive", True),
    "zip-without-dbf": (
        _zip_without_dbf,
        "data/buildings.shp comes without data/buildings.dbf",
        True,
    ),
    "no-geometry": (_no_geometry, "table.csv: layer 'table' has no geometry column", True),
    "missing-file": (lambda t, d: d / "nope.gpkg", "nope.gpkg: no such file", False),
    "mif-without-mid": (
        _without(formats.mapinfo_mif, ".mid"),
        "layer.mif: layer.mid is missing from",
        True,
    ),
    "tab-without-dat": (
        _without(formats.mapinfo_tab, ".dat"),
        "layer.tab: layer.dat is missing from",
        True,
    ),
    "shp-without-shx": (
        _without(formats.loose_shapefile, ".shx"),
        "buildings.shp: buildings.shx is missing from",
        True,
    ),
}


@pytest.mark.parametrize("case", list(BAD_AT_INGEST), ids=list(BAD_AT_INGEST))
def test_bad_sources_never_land_and_are_recorded(
    case: str, locxia: Run, layer: pa.Table, tmp_path: Path, db_url: str
) -> None:
    """Bytes that do not read are a rejected version with the line; nothing lands."""
    make, fragment, recorded = BAD_AT_INGEST[case]
    path = make(layer, tmp_path)
    out = locxia("ingest", str(path), "--dataset", "bad")
    one_error_line(out, fragment)
    assert "<DRIVER>" not in out.stderr
    assert files_in(zones(tmp_path)["landing"]) == []
    with connect(db_url) as conn:
        versions = conn.execute(
            "SELECT zone, status, rejected_by, reason FROM ops.dataset_versions"
        ).fetchall()
        declared = conn.execute("SELECT count(*) FROM params.datasets").fetchone()
    assert declared == (0,)
    if not recorded:  # nothing arrived: no bytes to record
        assert versions == []
        return
    line = out.stderr.strip()
    assert versions == [("landing", "rejected", "ingest", versions[0][3])]
    assert line.endswith(": " + versions[0][3])  # the line printed is the reason recorded
    assert fragment in line
    again = locxia("ingest", str(path), "--dataset", "bad")  # tried again, recorded once
    one_error_line(again, fragment)
    with connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM ops.dataset_versions").fetchone() == (1,)
    shown = locxia("datasets", "show", "bad")
    assert shown.returncode == 0, shown.stderr
    assert "last rejection (version" in shown.stdout and fragment in " ".join(shown.stdout.split())
    listed = json.loads(locxia("datasets", "list", "--json").stdout)
    assert [(d["name"], d["rejected"]) for d in listed] == [("bad", 1)]
    assert (
        listed[0]["last_rejection"].startswith("ingest ")
        and fragment in listed[0]["last_rejection"]
    )
    refined = locxia("refine", "bad")
    one_error_line(refined, "was rejected at ingest")


def usage_error(out: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Usage: locxia" in out.stderr and fragment in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_bad_names_and_sources_are_usage_errors(
    locxia: Run, layer: pa.Table, tmp_path: Path, db_url: str
) -> None:
    path, _ = formats.flatgeobuf(layer, tmp_path)
    for command in (
        ["ingest", str(path), "--dataset", "../../etc"],
        ["refine", "../../etc"],
        ["publish", "Bati"],
        ["rollback", "a;b"],
        ["datasets", "show", "9lives"],
        ["transfer", "url", "https://example.org/x.zip", "-d", "x-y"],
    ):
        usage_error(locxia(*command), "is not a safe dataset name")
    usage_error(locxia("ingest", "ftp://example.org/x.zip", "-d", "x"), "unsupported scheme 'ftp'")
    usage_error(
        locxia("transfer", "url", str(path), "-d", "x"), "expected an http(s):// or s3:// URL"
    )
    usage_error(
        locxia("transfer", "table", "roofs", "--from", db_url, "--to", db_url),
        "expected schema.table",
    )
    usage_error(
        locxia("transfer", "table", "a.b", "--from", db_url, "--to", "mysql://x/y"),
        "Invalid value for '--to': expected a postgresql://",
    )
    assert files_in(zones(tmp_path)["landing"]) == []
    assert not (tmp_path / "etc").exists()
    with connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM ops.runs").fetchone() == (0,)


def _copying(db_url: str) -> bool:
    with connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid)"
            " WHERE a.application_name = 'locxia:publish' AND p.tuples_processed > 0"
        ).fetchone()
    return bool(row and row[0])


def _publishers(db_url: str) -> int:
    with connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'locxia:publish'"
        ).fetchone()
    return int(row[0]) if row else 0


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_sigkill_mid_copy_keeps_previous_version(
    locxia: Run, cli_env: dict[str, str], tmp_path: Path, db_url: str
) -> None:
    small = tmp_path / "small"
    small.mkdir()
    path, _ = formats.flatgeobuf(geodata.layer_table(500, seed=1), small)
    for step in (["ingest", str(path), "-d", "roofs"], ["refine", "roofs"], ["publish", "roofs"]):
        assert locxia(*step).returncode == 0
    big = geodata.write_gpkg(tmp_path / "big.gpkg", 200_000, seed=9)
    for step in (["ingest", str(big), "-d", "roofs"], ["refine", "roofs"]):
        done = locxia(*step, timeout=300)
        assert done.returncode == 0, done.stderr
    proc = subprocess.Popen(
        [locxia_bin(), "publish", "roofs"],
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: _copying(db_url), 120, "the COPY to start")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    _wait(lambda: _publishers(db_url) == 0, 60, "the killed session to end")
    with connect(db_url) as conn:
        live = conn.execute("SELECT count(*) FROM exposure.roofs").fetchone()
        published = conn.execute(
            "SELECT rows FROM ops.dataset_versions WHERE dataset = 'roofs'"
            " AND zone = 'exposure' AND status = 'published'"
        ).fetchone()
    assert live == (500,) and published == (500,)
    again = locxia("publish", "roofs", "--json", timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["rows"] == 200_000
    with connect(db_url) as conn:
        live = conn.execute("SELECT count(*) FROM exposure.roofs").fetchone()
        staging = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'exposure_staging'"
        ).fetchone()
        kept = conn.execute("SELECT count(*) FROM exposure_previous.roofs").fetchone()
    assert live == (200_000,) and staging == (0,) and kept == (500,)


def test_datasets_show_unknown_and_transfer_table_cli(
    locxia: Run, layer: pa.Table, tmp_path: Path, db_url: str, admin_url: str, template_url: str
) -> None:
    from urllib.parse import urlsplit

    from tests.support import pg

    one_error_line(locxia("datasets", "show", "nope"), "no dataset 'nope'")
    path, _ = formats.flatgeobuf(layer, tmp_path)
    for step in (["ingest", str(path), "-d", "roofs"], ["refine", "roofs"], ["publish", "roofs"]):
        assert locxia(*step).returncode == 0
    target = pg.create_db(admin_url, "locxia_x", template=urlsplit(template_url).path[1:])
    try:
        args = ["transfer", "table", "exposure.roofs", "--from", db_url, "--to", target]
        moved = locxia(*args, "--json")
        assert moved.returncode == 0, moved.stderr
        assert json.loads(moved.stdout)["rows"] == len(layer)
        one_error_line(locxia(*args), "exposure.roofs exists in the target (use --replace)")
        assert locxia(*args, "--replace").returncode == 0
    finally:
        pg.drop_db(admin_url, target)
    with connect(db_url) as conn:
        edges = conn.execute(
            "SELECT dataset, rows FROM ops.lineage WHERE step = 'transfer'"
        ).fetchall()
    assert edges == [("exposure.roofs", len(layer))] * 2


def usage_line(out: subprocess.CompletedProcess[str]) -> str:
    """The one message line of a usage error (exit 2), inside Click's frame."""
    assert out.returncode == 2, out.stdout + out.stderr
    skip = ("Usage:", "Try '", "╭", "╰")
    lines = [ln.strip(" │") for ln in out.stderr.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(skip)]
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


def test_a_directory_is_refused_with_what_to_ingest(
    locxia: Run, layer: pa.Table, tmp_path: Path, db_url: str
) -> None:
    layers = tmp_path / "layers"
    layers.mkdir()
    formats.flatgeobuf(layer, layers)
    formats.geojson(layer, layers)
    (layers / "README.txt").write_text("not a layer")
    shapes = tmp_path / "shapes"
    shapes.mkdir()
    _write_loose_shapefile(layer, shapes)
    empty = tmp_path / "empty"
    empty.mkdir()
    line = usage_line(locxia("ingest", str(layers), "-d", "roads"))
    assert line == (
        "Invalid value for 'source': is a directory: ingest its files one at a time,"
        " -d NAME each (layer.fgb, layer.geojson)"
    )
    line = usage_line(locxia("ingest", layers.as_uri(), "-d", "roads"))
    assert "is a directory: ingest its files one at a time" in line
    line = usage_line(locxia("ingest", str(shapes), "-d", "roads"))
    assert line.endswith(  # the .shp brings its parts (gathered at ingest)
        "is a directory: ingest its files one at a time, -d NAME each (buildings.shp)"
    )
    line = usage_line(locxia("ingest", str(empty), "-d", "roads"))
    assert line.endswith(
        "is a directory: ingest takes one layer file (GeoPackage, zip, Shapefile, MapInfo,"
        " GeoJSON, FlatGeobuf, GeoParquet, CSV, KML, GML, OSM) or an http(s):// or s3:// URL"
    )
    assert files_in(zones(tmp_path)["landing"]) == []
    with connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM ops.runs").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM params.datasets").fetchone() == (0,)


def _write_loose_shapefile(table: pa.Table, folder: Path) -> None:
    import pyogrio

    pyogrio.write_arrow(
        table,
        folder / "buildings.shp",
        driver="ESRI Shapefile",
        geometry_name="geometry",
        geometry_type="Unknown",
        crs="EPSG:4326",
    )


def test_an_unknown_version_names_the_versions_that_exist(
    locxia: Run, layer: pa.Table, tmp_path: Path, db_url: str
) -> None:
    first, second, other = (tmp_path / d for d in ("a", "b", "c"))
    for folder in (first, second, other):
        folder.mkdir()
    formats.flatgeobuf(layer, first)
    formats.flatgeobuf(layer.slice(0, 30), second)
    formats.flatgeobuf(layer.slice(0, 20), other)
    ids = []
    for folder, name in ((first, "roads"), (second, "roads"), (other, "other")):
        landed = locxia("ingest", str(folder / "layer.fgb"), "-d", name, "--json")
        assert landed.returncode == 0, landed.stderr
        ids.append(json.loads(landed.stdout)["version_id"])
    out = locxia("refine", "roads", "--version", "999999")
    one_error_line(
        out,
        f"roads has no landing version 999999; latest landing versions of roads:"
        f" {ids[1]}, {ids[0]}",
    )
    out = locxia("refine", "roads", "--version", str(ids[2]))
    one_error_line(out, f"(version {ids[2]} is a landing version of other)")
    out = locxia("publish", "roads", "--version", "999999")
    one_error_line(out, "roads has no working version 999999; roads has no working version")
    with connect(db_url) as conn:
        zones_seen = conn.execute("SELECT DISTINCT zone FROM ops.dataset_versions").fetchall()
    assert zones_seen == [("landing",)]
    assert files_in(zones(tmp_path)["working"]) == []


#: 31 "é" (2 bytes each) and "x": 63 bytes in 32 characters, then what tells them apart.
SHARED = "é" * 31 + "x"
LONG_A, LONG_B = SHARED + "_nord", SHARED + "_sud"
LONG_ALONE = "z" * 70


def test_columns_that_postgresql_would_merge_are_renamed_at_refine(
    locxia: Run, layer: pa.Table, tmp_path: Path, db_url: str
) -> None:
    n = len(layer)
    table = (
        layer.append_column(LONG_A, pa.array([f"a{i}" for i in range(n)]))
        .append_column(LONG_B, pa.array([f"b{i}" for i in range(n)]))
        .append_column(LONG_ALONE, pa.array([f"z{i}" for i in range(n)]))
    )
    path, _ = formats.flatgeobuf(table, tmp_path)
    assert locxia("ingest", str(path), "-d", "long_names").returncode == 0
    refined = locxia("refine", "long_names")
    assert refined.returncode == 0, refined.stderr
    notice = [ln for ln in refined.stdout.splitlines() if ln.startswith("columns ")]
    assert len(notice) == 1, refined.stdout
    assert (
        f"columns {LONG_A!r} and {LONG_B!r} would be the same PostgreSQL column {SHARED!r}"
        " (PostgreSQL keeps 63 bytes of a name): renamed" in notice[0]
    )
    published = locxia("publish", "long_names")
    assert published.returncode == 0, published.stdout + published.stderr
    with connect(db_url) as conn:
        renamed = conn.execute(
            "SELECT provenance->'renamed_columns' FROM ops.dataset_versions"
            " WHERE dataset = 'long_names' AND zone = 'working'"
        ).fetchone()
        assert renamed is not None
        mapping = renamed[0]
        columns = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = 'exposure' AND table_name = 'long_names'"
            ).fetchall()
        ]
        assert set(mapping) == {LONG_A, LONG_B, LONG_ALONE}
        assert mapping[LONG_ALONE] == "z" * 63
        assert {mapping[LONG_A], mapping[LONG_B]} <= set(columns)
        for source, prefix in ((LONG_A, "a"), (LONG_B, "b")):
            assert len(mapping[source].encode()) <= 63 and mapping[source] != SHARED
            values = conn.execute(
                sql.SQL("SELECT {} FROM exposure.long_names ORDER BY id LIMIT 1").format(
                    sql.Identifier(mapping[source])
                )
            ).fetchone()
            assert values is not None and values[0].startswith(prefix)
