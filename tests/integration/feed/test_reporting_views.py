"""The feed as the Layers dashboard and the report see it: each staleness rule of
``reporting.datasets`` and the quality rows of ``reporting.quality_checks``, after real runs of
the recorded feed tasks (no catalog row written by hand)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest
from psycopg.rows import dict_row

from infra.jobs import Registry
from infra.jobs.runner import Runner, RunResult
from infra.settings import Settings
from pipelines.feed.jobs import chain_steps
from tests.integration.feed.conftest import declare
from tests.support import formats


@pytest.fixture
def runner(settings: Settings) -> Iterator[Runner]:
    run = Runner(settings, Registry.from_entry_points())
    yield run
    run.close()


def _file(table: pa.Table, folder: Path) -> Path:
    folder.mkdir(parents=True)
    return formats.flatgeobuf(table, folder)[0]


def _datasets(conn: psycopg.Connection[Any]) -> dict[str, dict[str, Any]]:
    conn.rollback()
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SET LOCAL ROLE locxia_grafana")  # what Grafana and the report can read
        found = {r["dataset"]: r for r in cur.execute("SELECT * FROM reporting.datasets")}
    conn.rollback()
    return found


def _ok(result: RunResult) -> RunResult:
    assert result.status == "success", result.error
    return result


def test_a_scheduled_dataset_is_fresh_then_stale_when_its_feed_fails(
    canonical: pa.Table,
    conn: psycopg.Connection[Any],
    runner: Runner,
    tmp_path: Path,
) -> None:
    source = _file(canonical, tmp_path / "pools")
    declare(conn, "pools", source=source.as_uri(), cron="0 4 * * *")
    _ok(runner.run("core.chain", {"steps": chain_steps("pools")}, job_id="layers.pools"))
    pools = _datasets(conn)["pools"]
    assert (pools["zone"], pools["stale"], pools["stale_reason"]) == ("exposure", False, None)
    assert pools["live_rows"] == len(canonical) and pools["last_feed_status"] == "success"
    assert 0 <= pools["age_seconds"] < 600
    assert (pools["landing_versions"], pools["working_versions"], pools["exposure_versions"]) == (
        1,
        1,
        1,
    )

    source.unlink()  # the provider took the file down: the nightly feed fails at ingest
    failed = runner.run("core.chain", {"steps": chain_steps("pools")}, job_id="layers.pools")
    assert failed.status == "failed"
    pools = _datasets(conn)["pools"]
    assert (pools["stale"], pools["stale_reason"]) == (True, "last feed run failed")
    assert pools["live_rows"] == len(canonical)  # still served, just no longer kept up


def test_a_rollback_leaves_a_newer_version_in_landing(
    canonical: pa.Table, conn: psycopg.Connection[Any], runner: Runner, tmp_path: Path
) -> None:
    for n, rows in enumerate((canonical.slice(0, 100), canonical)):
        path = _file(rows, tmp_path / f"v{n}")
        _ok(runner.run("layers.ingest", {"dataset": "roads", "source": path.as_uri()}))
        _ok(runner.run("layers.refine", {"dataset": "roads"}))
        _ok(runner.run("layers.publish", {"dataset": "roads"}))
    assert _datasets(conn)["roads"]["stale"] is False
    _ok(runner.run("layers.rollback", {"dataset": "roads"}))
    roads = _datasets(conn)["roads"]
    assert roads["stale_reason"] == "newer version in landing (refined)"
    assert roads["live_rows"] == 100 and roads["exposure_versions"] == 2


def test_a_declared_dataset_with_nothing_fed_is_stale(conn: psycopg.Connection[Any]) -> None:
    declare(conn, "someday")
    someday = _datasets(conn)["someday"]
    assert (someday["zone"], someday["declared"], someday["stale_reason"]) == (
        "declared",
        True,
        "nothing published",
    )
    assert someday["landing_versions"] == 0 and someday["live_version_id"] is None


def test_every_check_of_a_refine_is_a_row(
    canonical: pa.Table, conn: psycopg.Connection[Any], runner: Runner, tmp_path: Path
) -> None:
    declare(conn, "pools", '{"id_column": "id"}')
    path = _file(canonical, tmp_path / "pools")
    _ok(runner.run("layers.ingest", {"dataset": "pools", "source": path.as_uri()}))
    _ok(runner.run("layers.refine", {"dataset": "pools"}))
    with conn.cursor(row_factory=dict_row) as cur:
        checks = cur.execute(
            "SELECT rule, passed, status, detail FROM reporting.quality_checks"
            " WHERE dataset = 'pools' ORDER BY rule"
        ).fetchall()
    assert [c["rule"] for c in checks] == [
        "bounds",
        "geometry_types",
        "null_geometries",
        "rows",
        "text",
        "unique_ids",
        "validity",
    ]
    assert all(c["passed"] and c["status"] == "refined" for c in checks)
    validity = next(c for c in checks if c["rule"] == "validity")
    assert "repaired with make_valid" in validity["detail"]  # the canonical layer has bowties
