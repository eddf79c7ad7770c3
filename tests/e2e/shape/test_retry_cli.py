"""`locxia infra status` shows why failing inputs wait; `locxia infra retry` clears it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from infra.db import connect
from pipelines.shape import backoff
from tests.e2e.conftest import Run

NOW = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)


def test_status_shows_the_back_off_and_retry_clears_it_once(locxia: Run, db_url: str) -> None:
    with connect(db_url, autocommit=True) as conn:
        for _ in range(3):
            backoff.failed(conn, "a" * 64, None, "terraform apply failed: Error: boom", NOW)
    status = locxia("infra", "status")
    assert status.returncode == 0, status.stderr
    assert (
        "held after 3 failures: terraform apply failed: Error: boom;"
        " next try at 2026-11-25 11:04:00 UTC" in status.stdout
    )
    assert "locxia infra retry" in status.stdout
    listed = json.loads(locxia("infra", "status", "--json").stdout)["backoff"]
    assert [b["failures"] for b in listed] == [3]
    assert listed[0]["reason"].startswith("held after 3 failures: terraform apply failed")

    cleared = locxia("infra", "retry")
    assert cleared.returncode == 0, cleared.stderr
    assert "back-off cleared (1 failing inputs)" in cleared.stdout
    again = locxia("infra", "retry", "--json")
    assert again.returncode == 0 and json.loads(again.stdout) == {"cleared": 0}  # idempotent
    assert json.loads(locxia("infra", "status", "--json").stdout)["backoff"] == []
