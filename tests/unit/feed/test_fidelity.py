"""Nothing lost silently, rules from the CLI (issue 15): the pieces, without I/O."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import shapely

from infra.errors import InputError, QualityError
from pipelines.feed import declared, quality
from pipelines.feed.formats import LayerReader
from pipelines.feed.model import Rules
from pipelines.feed.project import france_bounds
from pipelines.feed.publish import MIXED_DIMENSIONS, geometry_ddl
from pipelines.feed.refine import BatchRefiner


def _refine(geoms: list[object], rules: Rules | None = None, **columns: list[object]) -> tuple:
    wkb = pa.array([None if g is None else shapely.to_wkb(g) for g in geoms], pa.binary())
    data = {"__fid": pa.array(range(len(geoms)), pa.int64()), **columns, "geometry": wkb}
    batch = pa.record_batch(data)
    reader = LayerReader(
        "EPSG:4326", "geometry", tuple(columns), "UTF-8", iter([batch]), fid_column="__fid"
    )
    refiner = BatchRefiner("t", reader, rules or Rules())
    out, tally = refiner.process(batch)
    return out, tally, refiner


PARIS = shapely.box(2.3, 48.8, 2.31, 48.81)


def test_a_repair_into_empty_is_dropped_and_counted() -> None:
    flat = shapely.from_wkt("POLYGON ((2.3 48.8, 2.31 48.81, 2.31 48.81, 2.3 48.8))")
    out, tally, _ = _refine([PARIS, flat])
    assert (tally.invalid, tally.repaired, tally.collapsed, tally.rows_out) == (1, 0, 1, 1)
    assert out.column("fid").to_pylist() == [0]
    assert not shapely.is_empty(shapely.from_wkb(out.column("geom").to_numpy(False))).any()
    checks = {c.rule: c for c in quality.evaluate(tally, Rules(), france_bounds())}
    assert checks["validity"].passed and "1 collapsed to EMPTY" in checks["validity"].detail
    failing = quality.evaluate(tally, Rules(null_geometries="fail"), france_bounds())
    assert not next(c for c in failing if c.rule == "validity").passed


def test_wkb_that_does_not_parse_is_unreadable_not_null() -> None:
    wkb = pa.array([shapely.to_wkb(PARIS), b"\x01\x03\x00", None], pa.binary())
    batch = pa.record_batch({"__fid": pa.array([1, 2, 3], pa.int64()), "geometry": wkb})
    reader = LayerReader("EPSG:4326", "geometry", (), "UTF-8", iter([batch]), fid_column="__fid")
    _, tally = BatchRefiner("t", reader, Rules()).process(batch)
    assert (tally.unreadable, tally.null, tally.rows_out) == (1, 1, 1)


def test_z_is_kept_and_m_dropped_and_counted() -> None:
    z = shapely.force_3d(PARIS, 31.0)
    zm = shapely.from_wkt("LINESTRING ZM (2.3 48.8 10 1, 2.31 48.81 11 2)")
    m = shapely.from_wkt("LINESTRING M (2.3 48.8 1, 2.31 48.81 2)")
    out, tally, _ = _refine([z, zm, m], Rules(geometry_types=("LineString", "Polygon")))
    geoms = shapely.from_wkb(out.column("geom").to_numpy(False))
    assert list(shapely.has_z(geoms)) == [True, True, False]
    assert not shapely.has_m(geoms).any()
    assert shapely.get_coordinates(geoms[0], include_z=True)[0, 2] == 31.0
    assert tally.m_dropped == 2
    assert dict(tally.types_out) == {"Polygon Z": 1, "LineString Z": 1, "LineString": 1}


@pytest.mark.parametrize(
    ("types", "ddl"),
    [
        (["Polygon"], "geometry(Geometry, 2154)"),
        (["MultiPolygon Z", "Polygon Z"], "geometry(GeometryZ, 2154)"),
        (["LineString", "LineString Z"], MIXED_DIMENSIONS),
    ],
    ids=["2d", "3d", "mixed"],
)
def test_the_exposure_column_keeps_z(types: list[str], ddl: str) -> None:
    assert geometry_ddl(types) == ddl


def test_crs_override_wins_and_crs_must_still_match() -> None:
    batch = pa.record_batch({"geometry": pa.array([shapely.to_wkb(PARIS)], pa.binary())})
    reader = LayerReader("EPSG:4326", "geometry", (), "UTF-8", iter([batch]))
    refiner = BatchRefiner("t", reader, Rules(crs_override="EPSG:2154", crs="EPSG:4326"))
    assert refiner.reproject.identity and refiner.context["file_crs"] == "EPSG:4326"
    with pytest.raises(QualityError, match="crs_override=EPSG:2154"):
        BatchRefiner("t", reader, Rules(crs="EPSG:2154"))


@pytest.mark.parametrize(
    ("value", "remedy"),
    [
        ("CafÃ© du Marché", "encoding=UTF-8"),  # UTF-8 read as Latin-1
        ("l\x92église", "encoding=CP1252"),  # CP1252 read as Latin-1: a C1 control
        ("rue de l\ufffdglise", "encoding=CP1252"),  # bytes replaced on decoding
    ],
    ids=["utf8-as-latin1", "c1-control", "replacement-character"],
)
def test_mis_decoded_text_fails_naming_the_encoding(value: str, remedy: str) -> None:
    _, tally, _ = _refine([PARIS, PARIS], nom=["Église Saint-Étienne", value])
    assert tally.suspect_text == 1 and tally.suspect_example == ("nom", value)
    check = next(c for c in quality.evaluate(tally, Rules(), france_bounds()) if c.rule == "text")
    assert not check.passed and remedy in check.detail
    allowed = quality.evaluate(tally, Rules(max_suspect_text=1), france_bounds())
    assert next(c for c in allowed if c.rule == "text").passed


def test_accented_text_is_not_suspect() -> None:
    _, tally, _ = _refine([PARIS], nom=["Œuvre d’art à l’Hôtel-de-Ville, façade « Ãrbol »"])
    assert tally.suspect_text == 0


@pytest.mark.parametrize(
    ("extent", "geographic", "fragment"),
    [
        ([650000.0, 6860000.0, 660000.0, 6870000.0], True, "look like metres"),
        ([2.3, 48.8, 2.4, 48.9], False, "look like degrees"),
        ([2.3, 48.8, 2.4, 48.9], True, None),
        ([650000.0, 6860000.0, 660000.0, 6870000.0], False, None),
    ],
    ids=["metres-as-degrees", "degrees-as-metres", "degrees-ok", "metres-ok"],
)
def test_units_plausibility(extent: list[float], geographic: bool, fragment: str | None) -> None:
    check = quality.units(extent, geographic, 5, Rules(), "roads")
    if fragment is None:
        assert check is None
        return
    assert check is not None and not check.passed and fragment in check.detail
    assert "locxia datasets set roads crs_override=EPSG:" in check.detail
    assert quality.units(extent, geographic, 0, Rules(), "roads") is None  # all inside


def test_repeated_source_fids_fail_naming_the_key_column() -> None:
    tally = quality.Tally(rows_out=3)
    tally.fids = [np.array([1, 2]), np.array([2])]
    check = next(c for c in quality.evaluate(tally, Rules(), france_bounds(), "roads"))
    checks = {c.rule: c for c in quality.evaluate(tally, Rules(), france_bounds(), "roads")}
    assert check is not None
    assert not checks["feature_key"].passed
    assert "locxia datasets set roads id_column=" in checks["feature_key"].detail
    tally.fids = [np.array([1, 5]), np.array([9])]
    checks = {c.rule: c for c in quality.evaluate(tally, Rules(), france_bounds())}
    assert checks["feature_key"].passed


def test_new_rules_at_their_default_keep_the_digest() -> None:
    """Working versions refined before the new rules stay no-ops (same fingerprint)."""
    assert "crs_override" not in Rules().as_json() and "where" not in Rules().as_json()
    assert Rules(crs_override="EPSG:2154").digest != Rules().digest


@pytest.mark.parametrize(
    ("pairs", "rules", "columns"),
    [
        (["crs=epsg:4326"], {"crs": "EPSG:4326"}, {}),
        (["crs_override=EPSG:2154", "encoding=CP1252"],
         {"crs_override": "EPSG:2154", "encoding": "CP1252"}, {}),
        (["geometry_types=Polygon, MultiPolygon"],
         {"geometry_types": ["Polygon", "MultiPolygon"]}, {}),
        (["max_outside=3", "min_rows=", "repair=false"],
         {"max_outside": 3, "min_rows": None, "repair": False}, {}),
        (["where=nature = 'Route'", "id_column=cleabs"],
         {"where": "nature = 'Route'", "id_column": "cleabs"}, {}),
        (["bounds=0,6000000,1300000,7200000"], {"bounds": [0.0, 6e6, 1.3e6, 7.2e6]}, {}),
        (["cron=0 3 * * *", "timezone=Europe/Paris", "note="],
         {}, {"cron": "0 3 * * *", "timezone": "Europe/Paris", "note": None}),
    ],
    ids=["crs", "override-encoding", "types", "numbers-clear-bool", "where-key", "bounds",
         "columns"],
)  # fmt: skip
def test_datasets_set_parses(
    pairs: list[str], rules: dict[str, object], columns: dict[str, object]
) -> None:
    assert declared.parse_assignments("roads", pairs) == (rules, columns)


@pytest.mark.parametrize(
    ("pairs", "fragment"),
    [
        ([], "nothing to set"),
        (["crs"], "expected key=value"),
        (["colour=red"], "'colour' is not a key"),
        (["crs=EPSG:99999"], "not a CRS PROJ knows"),
        (["encoding=klingon"], "unknown encoding"),
        (["max_outside=-1"], "expected an integer >= 0"),
        (["max_rows=many"], "expected an integer >= 0"),
        (["repair=maybe"], "expected true or false"),
        (["geometry_types=Blob"], "unknown geometry type"),
        (["null_geometries=ignore"], "expected drop, keep or fail"),
        (["bounds=1,2,3"], "xmin,ymin,xmax,ymax"),
        (["cron=every day"], "not a cron"),
        (["timezone=Mars/Olympus"], "unknown time zone"),
        (["where=a\x1bb"], "printable"),
        (["source=/data/roads.gpkg"], "expected an https://"),
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(v) or "none",
)
def test_datasets_set_refuses_bad_values_naming_the_key(pairs: list[str], fragment: str) -> None:
    with pytest.raises(InputError, match=fragment) as caught:
        declared.parse_assignments("roads", pairs)
    assert "params.datasets[roads]" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_history_entry_shows_rules_as_keys() -> None:
    entry = declared.HistoryEntry(
        1, "UPDATE", "alice", "locxia", __import__("datetime").datetime(2026, 1, 1),
        {"cron": None, "rules": {"crs": "EPSG:4326"}},
        {"cron": "0 3 * * *", "rules": {"crs": "EPSG:4326", "encoding": "CP1252"}},
    )  # fmt: skip
    assert entry.diff() == {"cron": (None, "0 3 * * *"), "rules.encoding": (None, "CP1252")}


def test_m_is_dropped_when_the_source_is_already_in_lambert_93() -> None:
    m = shapely.from_wkt("LINESTRING M (650000 6860000 1, 650100 6860100 2)")
    batch = pa.record_batch({"geometry": pa.array([shapely.to_wkb(m)], pa.binary())})
    reader = LayerReader("EPSG:2154", "geometry", (), "UTF-8", iter([batch]))
    out, tally = BatchRefiner("t", reader, Rules()).process(batch)
    assert tally.m_dropped == 1
    assert not shapely.has_m(shapely.from_wkb(out.column("geom").to_numpy(False))).any()
