"""Maintenance and backup windows through `locxia params` as a user types them."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from infra.demo.standin import SHIM
from infra.demo.standin import STANDIN_MODULE as STANDIN
from tests.e2e.conftest import Run

CREATE = ["kind=rds", "class=db.t4g.large", "storage=100", "engine=postgres", "engine_version=16"]


def test_windows_are_set_listed_and_cleared(locxia: Run) -> None:
    out = locxia(
        "params", "set", "work-db", *CREATE,
        "maintenance_window=Sun:03:00-Sun:04:00", "backup_window=01:00-01:30",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    shown = locxia("params", "list")
    assert "maint sun:03:00-sun:04:00, backup 01:00-01:30" in shown.stdout
    listed = json.loads(locxia("params", "list", "--json").stdout)["instances"][0]
    assert (listed["maintenance_window"], listed["backup_window"]) == (
        "sun:03:00-sun:04:00",
        "01:00-01:30",
    )
    assert locxia("params", "set", "work-db", "backup_window=").returncode == 0
    listed = json.loads(locxia("params", "list", "--json").stdout)["instances"][0]
    assert listed["backup_window"] is None


@pytest.mark.parametrize(
    ("assignment", "fragment"),
    [
        ("maintenance_window=sun:03:00-sun:03:10", "lasts 10 min; AWS needs at least 30 min"),
        ("maintenance_window=03:00-04:00", "expected ddd:hh24:mi-ddd:hh24:mi"),
        ("backup_window=3:00-4:00", "expected hh24:mi-hh24:mi"),
        ("backup_window=03:30-04:30", "overlaps maintenance window"),
    ],
    ids=["too-short", "daily-as-weekly", "hh24", "overlap"],
)
def test_bad_windows_are_one_line(locxia: Run, assignment: str, fragment: str) -> None:
    assert (
        locxia("params", "set", "db", *CREATE, "maintenance_window=sun:03:00-sun:04:00").returncode
        == 0
    )
    out = locxia("params", "set", "db", assignment)
    assert out.returncode == 1, out.stderr
    assert fragment in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_infra_status_says_why_a_run_waits(locxia: Run, tmp_path: Path, moto_endpoint: str) -> None:
    live = tmp_path / "live"
    shutil.copytree(STANDIN, live)
    env = {
        "LOCXIA_TERRAFORM_DIR": str(live),
        "LOCXIA_AWS_ENDPOINT_URL": moto_endpoint,
        "LOCXIA_STANDIN_SHIM": f"{sys.executable} {SHIM}",
        "LOCXIA_STANDIN_ENDPOINT": moto_endpoint,
    }
    assert locxia("params", "set", "work-db", *CREATE, env=env).returncode == 0
    assert locxia("infra", "apply", env=env, timeout=300).returncode == 0
    assert locxia("params", "set", "work-db", "class=db.r6g.large", env=env).returncode == 0
    held = locxia("infra", "apply", env=env, timeout=300)
    assert held.returncode == 0, held.stderr
    assert "downtime:" in held.stdout and "to apply at once: locxia infra approve" in held.stdout
    status = locxia("infra", "status", env=env)
    assert "held: downtime: work-db: instance_class db.t4g.large → db.r6g.large causes" in (
        " ".join(status.stdout.split())
    )
