"""A kill -9 of `locxia serve` while a capacity window is running leaves nothing paid.

The service runs a job that declares 2 Dask workers (``params.run_capacity``); once its window
is ``running`` (the workers exist in the moto server), the service is killed with SIGKILL. A
new service's start sweep must mark the run interrupted, restore the window (workers
terminated, their rows removed) and price it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import boto3
import pytest

from infra.db import connect
from tests.conftest import locxia_bin
from tests.reliability.conftest import Outcome, count, kill_when, wait_until
from tests.support.standin import standin_env

pytestmark = pytest.mark.slow


@pytest.fixture
def shape_env(tmp_path: Path, moto_endpoint: str) -> dict[str, str]:
    return standin_env(tmp_path, moto_endpoint, LOCXIA_CAPACITY_WAIT_SECONDS="120")


def _alive_workers(endpoint: str) -> list[str]:
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="eu-west-3")
    return sorted(
        name
        for res in ec2.describe_instances()["Reservations"]
        for inst in res["Instances"]
        if inst["State"]["Name"] != "terminated"
        and (
            name := {t["Key"]: t["Value"] for t in inst.get("Tags", [])}.get("Name", "")
        ).startswith("cap")
    )


def test_kill_9_of_serve_mid_window(
    cli_env: dict[str, str],
    shape_env: dict[str, str],
    db_url: str,
    moto_endpoint: str,
    outcome: Outcome,
) -> None:
    with connect(db_url) as conn:
        conn.execute(
            "INSERT INTO params.run_capacity (job, dask_workers, worker_type)"
            " VALUES ('layers.national', 2, 'm6i.large')"
        )
        conn.execute(
            "INSERT INTO params.schedules (job, task, every_seconds, args)"
            " VALUES ('layers.national', 'core.noop', 5, '{\"sleep_seconds\": 60}')"
        )
        conn.commit()
    env = {**cli_env, **shape_env}
    kill_when(
        ["serve"],
        env,
        lambda: (
            count(db_url, "SELECT count(*) FROM ops.capacity_windows WHERE state = 'running'") > 0
        ),
        timeout=240,
    )
    paid_at_kill = _alive_workers(moto_endpoint)
    with connect(db_url) as conn:  # the next service must not start the job again
        conn.execute("UPDATE params.schedules SET enabled = false")
        conn.commit()
    proc = subprocess.Popen(
        [locxia_bin(), "serve"],
        env=env,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: (
                count(db_url, "SELECT count(*) FROM ops.capacity_windows WHERE state = 'restored'")
                == 1
            ),
            240,
            "the new service to restore the window",
        )
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log = proc.stderr.read() if proc.stderr else ""
    left = _alive_workers(moto_endpoint)
    with connect(db_url) as conn:
        run_status, run_error, window_reason, cost, charged = conn.execute(
            "SELECT r.status, r.error, w.reason, w.cost_usd, r.cost_basis -> 'capacity' ->> 'usd'"
            " FROM ops.capacity_windows w JOIN ops.runs r ON r.id = w.run_id"
        ).fetchone()
        rows = conn.execute(
            "SELECT count(*) FROM params.instances WHERE purpose = 'dask-worker'"
        ).fetchone()
    outcome(
        tries=1,
        survived=int(not left),
        left=len(left),
        group="kill -9",
        case="serve: mid capacity window",
        note=f"{len(paid_at_kill)} workers at the kill, {len(left)} after the restart",
    )
    assert len(paid_at_kill) == 2, "the kill point was inside the window"
    assert left == [], "workers left running (paid) after the restart"
    assert rows == (0,)
    assert run_status == "interrupted"
    assert run_error.startswith("interrupted: its process")
    assert window_reason.startswith("swept: run interrupted: interrupted: its process")
    assert cost is not None and cost > 0 and charged == str(cost)
    assert "Traceback" not in log, log
