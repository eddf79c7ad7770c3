"""A partitioned publish whose process is killed midway: nothing visible, the next one resumes.

``locxia publish`` runs the parts on its embedded Dask cluster; it is SIGKILLed (with its
worker processes, one process group) once some parts have committed into the staging table.
Exposure must show nothing, the staging table and the ledger must agree, and the next
``locxia publish`` must resume from them and publish every row exactly once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.db import connect
from infra.settings import load_settings
from tests.reliability.conftest import Outcome, count, kill_when, run_ok, sessions_gone
from tests.support import partsets

pytestmark = pytest.mark.slow

ROWS, PARTS = 240_000, 12
PREFIX = "roofs/partitioned/"


def test_kill_9_mid_partitioned_publish_then_resume(
    cli_env: dict[str, str], db_url: str, tmp_path: Path, outcome: Outcome
) -> None:
    zones = tmp_path / "zones"
    env = {
        **cli_env,
        "LOCXIA_LANDING_URI": (zones / "landing").as_uri(),
        "LOCXIA_WORKING_URI": (zones / "working").as_uri(),
        "LOCXIA_LAYERS_TMP_DIR": str(tmp_path / "scratch"),
        "LOCXIA_DASK_LOCAL_WORKERS": "2",
    }
    settings = load_settings(
        database_url=db_url,
        landing_uri=env["LOCXIA_LANDING_URI"],
        working_uri=env["LOCXIA_WORKING_URI"],
    )
    source = partsets.synthetic_working(tmp_path / "w.parquet", ROWS)
    manifest = partsets.split(settings, source, PREFIX, PARTS, tmp_path / "parts")
    with connect(db_url) as conn:
        version = partsets.register(conn, settings, "roofs", PREFIX, manifest)
    staged = f"roofs__v{version.id}"

    def some_parts_committed() -> bool:
        return count(db_url, "SELECT count(*) FROM ops.publish_parts") >= 2

    kill_when(["publish", "roofs"], env, some_parts_committed)
    sessions_gone(db_url)

    live = count(
        db_url,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'exposure' AND tablename = 'roofs'",
    )
    assert live == 0, "a half-published table is visible in exposure"
    ledger = count(db_url, "SELECT coalesce(sum(rows), 0) FROM ops.publish_parts")
    staged_rows = count(db_url, f"SELECT count(*) FROM exposure_staging.{staged}")  # noqa: S608
    assert 0 < staged_rows == ledger < ROWS  # the staging table holds exactly its ledger

    run_ok(["publish", "roofs"], env)

    total = count(db_url, "SELECT count(*) FROM exposure.roofs")
    distinct = count(db_url, "SELECT count(DISTINCT fid) FROM exposure.roofs")
    left = count(db_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'exposure_staging'")
    left += count(db_url, "SELECT count(*) FROM ops.publish_parts")
    outcome(
        tries=1,
        survived=int(total == distinct == ROWS and left == 0),
        lost=max(ROWS - distinct, 0),
        duplicated=total - distinct,
        left=left,
        group="kill -9",
        case="publish: partitioned, mid-parts",
    )
    assert total == distinct == ROWS
    assert left == 0
