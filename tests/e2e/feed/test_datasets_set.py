"""`locxia datasets set | history | revert` as users type them, and the rules they set at work:
a lying .prj fixed with crs_override, a wrong code page fixed with encoding, A → B → A."""

from __future__ import annotations

import getpass
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import shapely
from pyproj import Transformer

from infra.db import connect
from tests.e2e.conftest import Run
from tests.e2e.shape.test_approval_cli import _as


def _squares(n: int) -> list[object]:
    return [shapely.box(2.3 + i * 0.01, 48.8, 2.305 + i * 0.01, 48.805) for i in range(n)]


def test_set_history_revert_audited_as_the_login(locxia: Run, db_url: str) -> None:
    with connect(db_url) as conn:
        owner = conn.execute("SELECT session_user").fetchone()
    assert owner is not None
    editor = _as(db_url, "erin", "locxia_editor")
    made = locxia(
        "datasets", "set", "roads", "crs=EPSG:4326", "max_outside=3", "cron=0 3 * * *",
        "source=https://data.example.org/roads.zip", "--as", "gis-team",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "roads: created by gis-team" in made.stdout
    assert "rules.crs: - → EPSG:4326" in made.stdout
    changed = locxia(
        "datasets", "set", "roads", "encoding=CP1252", "max_outside=", "--json", env=editor
    )
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["changed"] == {
        "rules.encoding": [None, "CP1252"],
        "rules.max_outside": [3, None],
    }
    history = json.loads(locxia("datasets", "history", "roads", "--json").stdout)
    assert [(h["op"], h["login"], h["by"]) for h in history] == [
        ("UPDATE", "erin", getpass.getuser()),  # no --as: the OS user is the label
        ("INSERT", owner[0], "gis-team"),
    ]
    reverted = locxia("datasets", "revert", "roads", "--as", "oncall")
    assert reverted.returncode == 0, reverted.stderr
    assert "rules.encoding: CP1252 → -" in reverted.stdout
    with connect(db_url) as conn:
        rules = conn.execute("SELECT rules FROM params.datasets WHERE name = 'roads'").fetchone()
    assert rules is not None and rules[0] == {"crs": "EPSG:4326", "max_outside": 3}
    shown = locxia("datasets", "history", "roads")
    assert shown.returncode == 0 and "oncall" in shown.stdout


def test_bad_values_are_one_usage_line_and_write_nothing(locxia: Run, db_url: str) -> None:
    for pairs, fragment in (
        (["crs=EPSG:99999"], "not a CRS PROJ knows"),
        (["max_outside=lots"], "expected an integer >= 0"),
        (["colour=red"], "'colour' is not a key"),
        (["cron=every day"], "not a cron"),
    ):
        out = locxia("datasets", "set", "roads", *pairs)
        assert out.returncode == 2, out.stderr
        assert fragment in " ".join(out.stderr.split())
        assert "Traceback" not in out.stderr
    with connect(db_url) as conn:
        rows = conn.execute(
            "SELECT (SELECT count(*) FROM params.datasets), (SELECT count(*) FROM"
            " params.history WHERE table_name = 'datasets')"
        ).fetchone()
    assert rows == (0, 0)
    cron_alone = locxia("datasets", "set", "roads", "cron=0 3 * * *")
    assert cron_alone.returncode == 1
    assert cron_alone.stderr.strip().splitlines() == [
        "error: params.datasets[roads].cron: a cron needs a source to re-fetch"
    ]
    nothing = locxia("datasets", "revert", "roads")
    assert nothing.returncode == 1
    assert nothing.stderr.strip().splitlines() == [
        "error: params.datasets[roads]: no change in params.history"
    ]


def test_rules_set_from_the_cli_fix_a_lying_prj_and_a_code_page(
    locxia: Run, tmp_path: Path, db_url: str
) -> None:
    x, y = Transformer.from_crs(4326, 2154, always_xy=True).transform(2.35, 48.85)
    folder = tmp_path / "shp"
    folder.mkdir()
    frame = gpd.GeoDataFrame(
        {"nom": ["l’église", "œuvre"]},
        geometry=[shapely.Point(x, y), shapely.Point(x + 50, y)],
        crs=4326,  # the .prj lies: the coordinates are Lambert-93
    )
    frame.to_file(folder / "lieux.shp", encoding="cp1252")
    (folder / "lieux.cpg").unlink(missing_ok=True)
    archive = tmp_path / "lieux.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for part in folder.iterdir():
            zipped.write(part, part.name)
    assert locxia("ingest", str(archive), "-d", "lieux").returncode == 0
    first = locxia("refine", "lieux")
    assert first.returncode == 1 and "encoding=CP1252" in first.stderr
    assert locxia("datasets", "set", "lieux", "encoding=CP1252").returncode == 0
    second = locxia("refine", "lieux")
    assert second.returncode == 1
    assert "crs_override=EPSG:" in second.stderr and "Traceback" not in second.stderr
    assert locxia("datasets", "set", "lieux", "crs_override=EPSG:2154").returncode == 0
    third = locxia("refine", "lieux")
    assert third.returncode == 0, third.stderr
    assert locxia("publish", "lieux").returncode == 0
    with connect(db_url) as conn:
        rows = conn.execute(
            "SELECT nom, round(ST_X(geom)), round(ST_Y(geom)) FROM exposure.lieux ORDER BY fid"
        ).fetchall()
    assert rows == [("l’église", round(x), round(y)), ("œuvre", round(x + 50), round(y))]
    shown = locxia("datasets", "show", "lieux")
    assert "crs_override" in shown.stdout


def test_a_source_back_to_earlier_bytes_is_published_again(
    locxia: Run, tmp_path: Path, db_url: str
) -> None:
    a, b = tmp_path / "a.gpkg", tmp_path / "b.gpkg"
    gpd.GeoDataFrame({"i": [1, 2]}, geometry=_squares(2), crs=4326).to_file(a)
    gpd.GeoDataFrame({"i": [1, 2, 3]}, geometry=_squares(3), crs=4326).to_file(b)
    for path in (a, b, a):
        for step in (["ingest", str(path), "-d", "roads"], ["refine", "roads"],
                     ["publish", "roads"]):  # fmt: skip
            out = locxia(*step)
            assert out.returncode == 0, out.stderr
    with connect(db_url) as conn:
        count = conn.execute("SELECT count(*) FROM exposure.roads").fetchone()
        first = conn.execute(
            "SELECT min(id) FROM ops.dataset_versions WHERE dataset = 'roads' AND zone = %s",
            ("landing",),
        ).fetchone()
    assert count == (2,)
    listed = json.loads(locxia("datasets", "list", "--json").stdout)
    assert first is not None and listed[0]["landing"] == first[0]  # A is current, not B
