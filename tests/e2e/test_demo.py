"""`locxia demo` as a newcomer runs it: exit 0, and the database holds what it claims; the
stand-in AWS never outlives it, whether it ends, is interrupted or is killed."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from infra.db import connect
from tests.conftest import locxia_bin
from tests.e2e.conftest import Run

pytestmark = pytest.mark.slow


def _wait(predicate: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_demo_on_the_configured_database_twice(locxia: Run, db_url: str, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    pids = []
    for _ in range(2):  # idempotent
        out = locxia("demo", "--seconds", "3", "--report", str(report), timeout=300)
        assert out.returncode == 0, out.stderr
        assert "What the demo did" in out.stdout
        match = re.search(r"moto server \(pid (\d+)\) on http://127\.0\.0\.1:\d+", out.stdout)
        assert match, out.stdout
        pids.append(int(match[1]))
    assert all(_gone(pid) for pid in pids), "a moto server outlived its demo"
    with connect(db_url) as conn:
        runs = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'success'), count(*) FILTER"
            " (WHERE status = 'failed') FROM ops.runs WHERE job_id LIKE 'demo.%'"
        ).fetchone()
        steps = conn.execute(
            "SELECT task, count(*), min((details ->> 'resources')::int),"
            " min((details ->> 'datapoints')::int), bool_and((details ->> 'queued')::bool)"
            " FROM ops.runs WHERE task LIKE 'demo.%' AND status = 'success' GROUP BY task"
            " ORDER BY task"
        ).fetchall()
        schedules = conn.execute(
            "SELECT count(*) FROM params.schedules WHERE job LIKE 'demo.%'"
        ).fetchone()
    assert runs is not None and runs[0] >= 10 and runs[1] == 0
    assert steps == [
        ("demo.costs", 2, None, None, True),
        ("demo.estate", 2, 11, None, None),
        ("demo.metrics", 2, None, 39 * 168 + 8 * 7, None),
    ]
    assert schedules == (2,)
    html = report.read_text()
    assert 'data-section="runs"' in html and "demo.metrics" in html


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
        assert (demo_dir / "report.html").exists() and (demo_dir / "moto.log").exists()
    finally:
        stopped = locxia("demo", "--stop", env=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout


def _moto_children(process: subprocess.Popen[str]) -> list[psutil.Process]:
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if any("moto_server" in part for part in child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def _start(cli_env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [locxia_bin(), "demo", *args],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ctrl_c_stops_everything_the_demo_started(cli_env: dict[str, str], tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    demo = _start(cli_env, "--keep-running", "--seconds", "1", "--report", str(report))
    try:
        _wait(lambda: report.exists() or demo.poll() is not None, timeout=240)
        assert demo.poll() is None, demo.communicate()
        moto = _moto_children(demo)
        assert len(moto) == 1
        time.sleep(1)  # the service is serving for good now
        assert demo.poll() is None
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=60)
        assert demo.returncode == 0, err
        assert "What the demo did" in out
        _wait(lambda: _gone(moto[0].pid), timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()


def test_a_killed_demo_leaves_no_moto_server(cli_env: dict[str, str], tmp_path: Path) -> None:
    demo = _start(cli_env, "--seconds", "120", "--report", str(tmp_path / "r.html"))
    try:
        _wait(lambda: bool(_moto_children(demo)) or demo.poll() is not None, timeout=120)
        moto = _moto_children(demo)
        assert moto, demo.communicate()
        demo.kill()  # SIGKILL: the demo cannot clean up; the kernel tells moto (PDEATHSIG)
        demo.communicate(timeout=30)
        _wait(lambda: _gone(moto[0].pid), timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()


def test_a_bad_report_path_is_refused_before_anything_starts(locxia: Run, db_url: str) -> None:
    out = locxia("demo", "--report", "/nonexistent/dir/report.html")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "error: --report: directory /nonexistent/dir does not exist"
    ]
    with connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM ops.runs").fetchone() == (0,)
