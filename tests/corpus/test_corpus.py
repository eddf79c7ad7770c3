"""Real public layers through ingest → refine → publish, checked against an independent read.

For each case of :data:`tests.corpus.cases.CASES`: the file given to ``ingest`` is read by GDAL
(pyogrio) directly and reprojected by pyproj (tests/corpus/independent.py); what
``exposure.<name>`` serves is read back by SQL. Rows, areas or lengths (or point positions),
Z values and every attribute value must agree. A case the feed must refuse must fail with one
line and leave a rejected version. Cases whose expected behaviour is not built yet are strict
expected failures naming it (they turn into failures the day it works, to be unmarked).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from infra.errors import LocxiaError
from infra.settings import Settings
from pipelines.feed import catalog
from pipelines.feed.ingest import ingest
from pipelines.feed.publish import publish
from pipelines.feed.refine import refine
from tests.corpus import independent
from tests.corpus.cases import CASES, Case
from tests.corpus.sources import PACKAGES

# How GDAL is asked to read a CSV (where geometries are); the same file, read the same way.
CSV_OPEN = {
    "GEOM_POSSIBLE_NAMES": "wkt,WKT,geometry,geom,the_geom",
    "X_POSSIBLE_NAMES": "lon,longitude,lng,x,X",
    "Y_POSSIBLE_NAMES": "lat,latitude,y,Y",
    "KEEP_GEOM_COLUMNS": "NO",
    "AUTODETECT_TYPE": "YES",
}
#: Relative difference allowed on total area or length: reprojection of the same doubles.
MEASURE_TOLERANCE = 1e-9
#: Largest point shift allowed (m).
POINT_TOLERANCE = 1e-6

PARAMS = [
    pytest.param(
        case,
        id=case.id,
        marks=[pytest.mark.xfail(strict=True, reason=case.pending)] if case.pending else [],
    )
    for case in CASES
]


def declare(conn: psycopg.Connection[Any], case: Case) -> None:
    conn.execute(
        "INSERT INTO params.datasets (name, rules, layer) VALUES (%s, %s, %s)",
        (case.id, json.dumps(case.dataset_rules()), case.layer),
    )
    conn.commit()


def relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12) if (a or b) else 0.0


def run_feed(
    conn: psycopg.Connection[Any], settings: Settings, case: Case, path: Path
) -> dict[str, Any]:
    """ingest → refine → publish; the quality report and the working version's renames."""
    ingest(conn, settings, case.id, str(path), case.layer)
    refined = refine(conn, settings, case.id)
    publish(conn, settings, case.id)
    return {
        "quality": refined.version.quality or {},
        "renamed": refined.version.provenance.get("renamed_columns") or {},
    }


def check_refused(
    conn: psycopg.Connection[Any], case: Case, error: LocxiaError | None, record: dict[str, Any]
) -> None:
    if error is None:
        record["outcome"] = "accepted"
        raise AssertionError(f"{case.id}: accepted, expected a refusal")
    line = str(error)
    record["outcome"] = f"refused: {line}"
    assert "\n" not in line and line.strip()
    assert "prefix the path" not in line, line  # GDAL's advice, not one a user can act on
    cause = line.replace(case.id, "")  # the dataset's name says nothing of the cause
    assert re.search(case.refusal, cause, re.IGNORECASE), f"{case.id}: cause not named: {line}"
    statuses = [v.status for v in catalog.versions(conn, case.id)]
    conn.rollback()
    assert "rejected" in statuses, f"{case.id}: no rejected version recorded ({statuses})"


def check_zm(conn: psycopg.Connection[Any], case: Case, quality: dict[str, Any]) -> None:
    """Z served as 3D geometries (none made up for XYM); M dropped and said so in the report."""
    query = sql.SQL(
        "SELECT bool_and(ST_NDims(geom) >= 3), bool_or(ST_Zmflag(geom) IN (1, 3)) FROM {}"
    ).format(sql.Identifier("exposure", case.id))
    has_z, has_m = conn.execute(query).fetchone() or (None, None)
    conn.rollback()
    if case.zm == "m":  # measures only: 2D served
        assert not has_z, f"{case.id}: a Z made up"
    else:
        assert has_z, f"{case.id}: Z dropped"
    assert not has_m
    if case.zm in ("zm", "m"):
        assert re.search(r"\bM\b", json.dumps(quality)), "M dropped without a word"


@pytest.mark.slow
@pytest.mark.parametrize("case", PARAMS)
def test_corpus_file(
    case: Case,
    corpus: dict[str, Path],
    conn: psycopg.Connection[Any],
    settings: Settings,
    tmp_path: Path,
    record: dict[str, Any],
) -> None:
    package = PACKAGES[case.package]
    record.update(
        id=case.id,
        klass=case.klass,
        package=package.spec,
        licence=package.licence,
        source=case.source.rsplit("/", 1)[-1],
        derived=case.derived,
        pending=case.pending,
    )
    folder = tmp_path / "input"
    folder.mkdir()
    path = case.build(corpus[case.package] / case.source, folder)
    record["input"] = path.name
    declare(conn, case)
    started = time.perf_counter()
    error: LocxiaError | None = None
    try:
        result = run_feed(conn, settings, case, path)
    except LocxiaError as exc:  # the product's one-line failures; anything else is a defect
        error = exc
    except Exception as exc:
        record["outcome"] = f"raw {type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
        raise
    finally:
        record["seconds"] = round(time.perf_counter() - started, 2)
    if case.expect == "refused":
        check_refused(conn, case, error, record)
        return
    if error is not None:
        record["outcome"] = f"failed: {error}"
        raise AssertionError(f"{case.id}: {error}")
    record["outcome"] = "published"
    try:
        compare(conn, case, path, result, record)
    except AssertionError as exc:
        record["outcome"] = f"published, but: {str(exc).splitlines()[0][:200]}"
        raise


def compare(
    conn: psycopg.Connection[Any],
    case: Case,
    path: Path,
    result: dict[str, Any],
    record: dict[str, Any],
) -> None:
    options = CSV_OPEN if path.suffix == ".csv" else {}
    source = independent.read_source(path, case.layer, case.rules, options, case.gdal_config)
    names = {str(k): str(v) for k, v in result["renamed"].items()}
    columns = [names.get(c, c) for c in source.attributes]
    served_columns = [c for c in columns if _served_has(conn, case.id, c)]
    served = independent.read_served(conn, case.id, served_columns)
    quality = result["quality"]
    geometry = quality.get("geometry", {})
    record.update(
        rows_in=source.rows + source.dropped + source.unprojectable,
        rows_out=served.rows,
        repaired=geometry.get("repaired"),
        unprojectable=source.unprojectable,
        dropped=source.rows + source.dropped + source.unprojectable - served.rows,
        dropped_reason=_dropped_reason(quality),
        area_diff=relative(served.area, source.area) if source.area else None,
        length_diff=relative(served.length, source.length) if source.length else None,
        point_shift=independent.max_point_shift(source.points, served.points)
        if len(source.points)
        else None,
    )
    mismatches = independent.attribute_mismatches(source, served, names)
    record["attributes"] = (
        f"{len(source.attributes)} columns × {source.rows} rows equal"
        if not mismatches
        else "; ".join(mismatches)
    )
    assert served.rows == source.rows, f"{served.rows} rows served, {source.rows} expected"
    assert relative(served.area, source.area) <= MEASURE_TOLERANCE
    assert relative(served.length, source.length) <= MEASURE_TOLERANCE
    assert independent.max_point_shift(source.points, served.points) <= POINT_TOLERANCE
    assert not mismatches, "; ".join(mismatches)
    if case.zm:
        check_zm(conn, case, quality)
    if case.zm in ("z", "zm"):
        assert served.z_sum is not None and source.z_sum is not None
        assert relative(served.z_sum, source.z_sum) <= MEASURE_TOLERANCE


def _served_has(conn: psycopg.Connection[Any], name: str, column: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM information_schema.columns"
        " WHERE table_schema = 'exposure' AND table_name = %s AND column_name = %s",
        (name, column),
    ).fetchone()
    conn.rollback()
    return found is not None


def _dropped_reason(quality: dict[str, Any]) -> str:
    """What the quality report counted as dropped, by cause (only the causes that occurred)."""
    geometry = quality.get("geometry", {})
    causes = {
        "null": "null geometry",
        "empty": "empty geometry",
        "unreadable": "unreadable geometry",
        "collapsed": "collapsed to EMPTY by repair",
        "unprojectable": "not projectable to EPSG:2154",
    }
    found = [f"{geometry[k]} {label}" for k, label in causes.items() if geometry.get(k)]
    return ", ".join(found)
