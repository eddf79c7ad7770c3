"""`locxia observe anomalies` as a user runs it: the job finds a seeded spike, people ack it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from infra.db import connect
from tests.e2e.conftest import Run
from tests.support.cost_history import EC2, Spike, generate, seed

pytestmark = pytest.mark.slow


def test_the_job_lists_the_spike_and_ack_takes_it_off_the_list(locxia: Run, db_url: str) -> None:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    first = yesterday - timedelta(days=40)
    with connect(db_url) as conn:
        seed(conn, generate(first, yesterday, spikes=(Spike(yesterday, EC2, 2.0, "batch-ec2"),)))

    ran = locxia("jobs", "run", "costs.anomalies")
    assert ran.returncode == 0, ran.stderr
    listed = json.loads(locxia("observe", "anomalies", "--json").stdout)
    service = [a for a in listed if a["scope"] == "service"]
    assert [(a["key"], date.fromisoformat(a["day"])) for a in service] == [(EC2, yesterday)]
    assert listed[0]["key"] == EC2 and listed[0]["drivers"][0]["key"] == "batch-ec2"
    shown = locxia("observe", "anomalies")
    assert shown.returncode == 0 and "batch-ec2" in shown.stdout

    acked = locxia("observe", "anomalies", "ack", str(service[0]["id"]), "--as", "alice")
    assert acked.returncode == 0, acked.stderr
    assert f"acknowledged anomaly {service[0]['id']}" in acked.stdout
    left = json.loads(locxia("observe", "anomalies", "--json").stdout)
    assert service[0]["id"] not in [a["id"] for a in left]
    every = json.loads(locxia("observe", "anomalies", "--all", "--json").stdout)
    assert {a["id"]: a["acknowledged_by"] for a in every}[service[0]["id"]] == "alice"
    again = locxia("observe", "anomalies", "ack", str(service[0]["id"]))
    assert again.returncode == 0 and "already acknowledged by alice" in again.stdout


@pytest.mark.parametrize(
    ("args", "code", "line"),
    [
        (("999999",), 1, "no cost anomaly 999999"),
        (("twelve",), 2, "Invalid value for 'ID': Input should be a valid integer"),
        (("0",), 2, "Invalid value for 'ID': Input should be greater than or equal to 1"),
        ((), 2, "Missing argument 'ID'"),
    ],
    ids=["unknown", "not-a-number", "zero", "missing"],
)
def test_ack_refuses_in_one_line(locxia: Run, args: tuple[str, ...], code: int, line: str) -> None:
    done = locxia("observe", "anomalies", "ack", *args)
    assert done.returncode == code
    assert line in done.stderr and "Traceback" not in done.stderr
    if code == 1:
        assert len(done.stderr.strip().splitlines()) == 1
