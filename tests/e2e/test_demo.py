"""`locxia demo` as a newcomer runs it: exit 0, and the database holds what it claims."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.db import connect
from tests.e2e.conftest import Run

pytestmark = pytest.mark.slow


def test_demo_on_the_configured_database_twice(locxia: Run, db_url: str) -> None:
    for _ in range(2):  # idempotent
        out = locxia("demo", "--seconds", "3")
        assert out.returncode == 0, out.stderr
        assert "What the demo did" in out.stdout
    with connect(db_url) as conn:
        runs = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'success'), count(*) FILTER"
            " (WHERE status = 'failed') FROM ops.runs WHERE job_id LIKE 'demo.%'"
        ).fetchone()
    assert runs is not None and runs[0] >= 4 and runs[1] == 0


@pytest.fixture
def demo_dir() -> Iterator[Path]:
    # Not under pytest's tmp_path: as root the cluster runs as `postgres`, which must be able
    # to reach the directory (pytest's base temp dir is private to root).
    path = Path(tempfile.mkdtemp(prefix="locxia-demo-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_demo_starts_and_stops_its_own_postgres(locxia: Run, demo_dir: Path) -> None:
    env = {"LOCXIA_DATABASE_URL": "", "LOCXIA_DEMO_DIR": str(demo_dir)}
    try:
        out = locxia("demo", "--seconds", "2", env=env, timeout=300)
        assert out.returncode == 0, out.stderr
        assert "its own local PostgreSQL" in out.stdout
        assert (demo_dir / "postgres" / "PG_VERSION").exists()
    finally:
        stopped = locxia("demo", "--stop", env=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
