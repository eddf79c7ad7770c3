"""``locxia capacity list|show|restore`` as a user runs them: output, --json, one-line errors."""

from __future__ import annotations

import json

from infra.db import connect
from tests.e2e.conftest import Run


def _window(db_url: str, run_status: str, state: str) -> int:
    """A ledger row as a window leaves it (a run, then the window of that run)."""
    with connect(db_url) as conn:
        row = conn.execute(
            "INSERT INTO ops.runs (job_id, task, trigger, status, ended_at)"
            " VALUES ('layers.big', 'core.noop', 'manual', %s,"
            "         CASE WHEN %s <> 'running' THEN now() END) RETURNING id",
            (run_status, run_status),
        ).fetchone()
        assert row is not None
        window = conn.execute(
            "INSERT INTO ops.capacity_windows (run_id, job_id, declared_by, declared, state,"
            " added, plan, restored_at, cost_usd, cost_basis)"
            " VALUES (%s, 'layers.big', 'params.run_capacity[layers.big]',"
            ' \'{"dask_workers": 2}\', %s, \'["cap1-w1", "cap1-w2"]\','
            ' \'{"monthly_before": "0.00", "monthly_after": "163.52",'
            '   "monthly_delta": "163.52"}\','
            " CASE WHEN %s = 'restored' THEN now() END, 0.00373333, '{}') RETURNING id",
            (row[0], state, state),
        ).fetchone()
        conn.commit()
    assert window is not None
    return int(window[0])


def test_list_and_show(locxia: Run, db_url: str) -> None:
    empty = locxia("capacity", "list", "--json")
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout) == []
    wid = _window(db_url, "success", "restored")
    listed = locxia("capacity", "list", "--json")
    assert [(w["id"], w["state"], w["added"]) for w in json.loads(listed.stdout)] == [
        (wid, "restored", ["cap1-w1", "cap1-w2"])
    ]
    table = locxia("capacity", "list")
    assert table.returncode == 0 and "163.52" in table.stdout and "restored" in table.stdout
    shown = locxia("capacity", "show", str(wid))
    assert shown.returncode == 0, shown.stderr
    assert "cap1-w1, cap1-w2" in shown.stdout and "0.00 → 163.52" in shown.stdout
    again = locxia("capacity", "restore", str(wid), "--json")  # a restored window: harmless
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["state"] == "restored"


def test_errors_are_one_line(locxia: Run, db_url: str) -> None:
    missing = locxia("capacity", "show", "999")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        "error: no capacity window 999 (see `locxia capacity list`)"
    ]
    bad = locxia("capacity", "show", "0")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    wid = _window(db_url, "running", "running")
    live = locxia("capacity", "restore", str(wid))
    assert live.returncode == 1
    lines = live.stderr.strip().splitlines()
    assert len(lines) == 1 and "still running; it is restored when the run ends" in lines[0]
    with connect(db_url) as conn:  # refused: nothing touched
        row = conn.execute(
            "SELECT state FROM ops.capacity_windows WHERE id = %s", (wid,)
        ).fetchone()
    assert row == ("running",)
