"""`locxia serve` through a database restart, a 60-second outage, and a kill -9 mid-job.

The restart and the outage happen on a private cluster (stopped and started with pg_ctl), so
that the rest of the suite's databases are not touched. A job ticks every second; the ticks
are read back from ops.runs (``scheduled_at``).

Contract (infra/scheduler.py): every tick runs once; after downtime a job runs once, not
once per missed tick (``coalesce``), within ``misfire_grace_seconds``.
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from infra.db import connect
from infra.db.localcluster import LocalCluster
from infra.db.setup import upgrade_database
from tests.conftest import locxia_bin
from tests.reliability.conftest import Outcome, count, kill_when, wait_until
from tests.support import pg

pytestmark = pytest.mark.slow

TICK = 1  # seconds between ticks


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    own = LocalCluster(Path(tempfile.mkdtemp(prefix="locxia-pg-restart-")), fast=True)
    own.ensure_running()
    yield own
    own.destroy()


@pytest.fixture
def restart_db(cluster: LocalCluster) -> Iterator[str]:
    admin = cluster.ensure_running()
    url = pg.create_db(admin, "locxia_r")
    with connect(url) as conn:
        upgrade_database(conn)
        conn.execute(
            "INSERT INTO params.schedules (job, task, every_seconds)"
            " VALUES ('tick', 'core.noop', %s)",
            (TICK,),
        )
        conn.commit()
    yield url
    pg.drop_db(cluster.ensure_running(), url)


def _serve(cli_env: dict[str, str], url: str) -> subprocess.Popen[str]:
    env = {**cli_env, "LOCXIA_DATABASE_URL": url, "LOCXIA_LEADER_POLL_SECONDS": "0.5"}
    return subprocess.Popen(
        [locxia_bin(), "serve"],
        env=env,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _ticks(url: str, job: str = "tick") -> list[datetime]:
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT scheduled_at FROM ops.runs WHERE job_id = %s AND status = 'success'"
            " ORDER BY scheduled_at",
            (job,),
        ).fetchall()
    return [r[0] for r in rows]


def _stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.stderr.read() if proc.stderr else ""


def _reachable(url: str) -> bool:
    try:
        with connect(url) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


@pytest.mark.parametrize("outage", [0, 60], ids=["restart", "outage-60s"])
def test_ticks_survive_the_database_going_away(
    cluster: LocalCluster,
    restart_db: str,
    cli_env: dict[str, str],
    outcome: Outcome,
    outage: int,
) -> None:
    proc = _serve(cli_env, restart_db)
    try:
        wait_until(lambda: len(_ticks(restart_db)) >= 3, 60, "three ticks before the restart")
        cluster.stop()
        down_at = datetime.now().astimezone()
        time.sleep(outage)
        cluster.ensure_running()
        up_at = datetime.now().astimezone()
        assert proc.poll() is None, "serve died with its database"
        wait_until(
            lambda: len([t for t in _ticks(restart_db) if t > up_at]) >= 5,
            90,
            "five ticks after the database came back",
        )
    finally:
        log = _stop(proc)
    ticks = _ticks(restart_db)
    doubled = len(ticks) - len(set(ticks))
    before = [t for t in ticks if t < down_at - timedelta(seconds=TICK)]
    after = [t for t in ticks if t > up_at + timedelta(seconds=TICK)]
    # every tick due while the database answered ran, once, one TICK apart
    gaps = [
        (b - a).total_seconds()
        for seq in (before, after)
        for a, b in zip(seq, seq[1:], strict=False)
    ]
    lost = sum(int(g / TICK) - 1 for g in gaps if g > TICK)
    # the ticks due while it was away: at least one run after it came back (coalesced), once
    window = [
        t
        for t in ticks
        if down_at - timedelta(seconds=TICK) <= t <= up_at + timedelta(seconds=TICK)
    ]
    outcome(
        tries=len(ticks),
        survived=len(set(ticks)),
        lost=lost + (0 if window else 1),
        duplicated=doubled,
        group="database under serve",
        case="restart (pg_ctl stop -m fast; start)" if not outage else f"{outage}-second outage",
        note=f"ticks due while down ran as {len(window)} run(s)",
    )
    assert doubled == 0, "a tick ran twice"
    assert lost == 0, f"ticks lost while the database answered: gaps {sorted(set(gaps))}"
    assert window, "the ticks due while the database was away never ran"
    assert "Traceback" not in log, log


def test_kill_9_of_serve_mid_job(cli_env: dict[str, str], db_url: str, outcome: Outcome) -> None:
    with connect(db_url) as conn:
        conn.execute(
            "INSERT INTO params.schedules (job, task, every_seconds, args)"
            " VALUES ('slow', 'core.noop', 30, '{\"sleep_seconds\": 20}')"
        )
        conn.commit()
    env = {**cli_env, "LOCXIA_LEADER_POLL_SECONDS": "0.5"}
    kill_when(
        ["serve"],
        env,
        lambda: (
            count(
                db_url, "SELECT count(*) FROM ops.runs WHERE job_id = 'slow' AND status = 'running'"
            )
            > 0
        ),
    )
    killed = _ticks(db_url, "slow")
    proc = _serve(cli_env, db_url)
    try:
        wait_until(
            lambda: (
                count(
                    db_url,
                    "SELECT count(*) FROM ops.services WHERE role = 'leader' AND pid = %s",
                    proc.pid,
                )
                > 0
            ),
            60,
            "the new service to lead",
        )
        # the new service's start sweeps what its killed predecessor left `running`
        orphans = count(
            db_url,
            "SELECT count(*) FROM ops.runs WHERE status = 'running' AND pid <> %s",
            proc.pid,
        )
    finally:
        log = _stop(proc)
    with connect(db_url) as conn:
        scheduled = conn.execute(
            "SELECT scheduled_at, count(*) FROM ops.runs WHERE job_id = 'slow'"
            " GROUP BY 1 HAVING count(*) > 1"
        ).fetchall()
        interrupted = conn.execute(
            "SELECT count(*) FROM ops.runs WHERE job_id = 'slow' AND status = 'interrupted'"
        ).fetchone()
    outcome(
        tries=1,
        survived=int(not orphans and not scheduled),
        duplicated=len(scheduled),
        left=orphans,
        group="kill -9",
        case="serve: mid-job",
        note=f"stuck records: {orphans}" if orphans else "",
    )
    assert killed == [], "the killed run cannot have succeeded"
    assert scheduled == [], "a tick ran twice after the restart"
    assert "Traceback" not in log, log
    assert orphans == 0, "the run of the killed service is left `running`"
    assert interrupted == (1,)
