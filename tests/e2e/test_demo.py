"""`locxia demo` as a newcomer runs it: exit 0, and the database holds what it claims; the
stand-in AWS never outlives it, whether it ends, is interrupted or is killed."""

from __future__ import annotations

import json
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
from infra.demo.run import STEPS
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


def _standin_processes(endpoint: str) -> list[psutil.Process]:
    """Live processes of the demo that used ``endpoint``: its moto server (``-p PORT``), and
    Terraform workers and provisioner shims (they inherit ``LOCXIA_STANDIN_ENDPOINT``)."""
    port = endpoint.rsplit(":", 1)[1]
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmdline = proc.info["cmdline"] or []
            moto = any("moto_server" in part for part in cmdline) and port in cmdline
            if moto or proc.environ().get("LOCXIA_STANDIN_ENDPOINT") == endpoint:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return [p for p in found if not _gone(p.pid)]


def _check_database(url: str, demos: int) -> None:
    """What ``demos`` demos must have left in the database, checked by queries."""
    with connect(url) as conn:
        live = dict(
            conn.execute(
                "SELECT type, count(*) FROM metrics.resources WHERE tagged AND gone_at IS NULL"
                " GROUP BY type"
            ).fetchall()
        )
        neighbours = conn.execute(
            "SELECT count(*) FROM metrics.resources WHERE name IN"
            " ('crm-db', 'bastion', 'acme-website-assets')"
        ).fetchone()
        hourly_cpu = conn.execute(
            "SELECT count(DISTINCT d.ts) FROM metrics.datapoints d JOIN metrics.resources r"
            " ON r.id = d.resource_id WHERE r.name = 'work-db' AND d.metric = 'CPUUtilization'"
            " AND d.stat = 'Average' AND d.period = 3600"
        ).fetchone()
        costs = conn.execute(
            "SELECT count(*), count(DISTINCT service), sum(usd) > 0 FROM costs.daily"
            " WHERE tag_value = 'locxia'"
        ).fetchone()
        budgets = conn.execute(
            "SELECT budget, status, forecast_usd > actual_usd FROM costs.budget_status"
            " WHERE month = date_trunc('month', now() AT TIME ZONE 'UTC') ORDER BY budget"
        ).fetchall()
        # one estimated resource per live resource: nothing left over from the first demo
        estimated = conn.execute(
            "SELECT count(DISTINCT e.resource_id), count(DISTINCT e.resource_id)"
            " FILTER (WHERE r.gone_at IS NULL) FROM costs.estimates e"
            " JOIN metrics.resources r ON r.id = e.resource_id"
            " WHERE e.hour >= now() - interval '1 day'"
        ).fetchone()
        idle = conn.execute(
            "SELECT r.name FROM costs.recommendations c JOIN metrics.resources r"
            " ON r.id = c.resource_id WHERE c.resolved_at IS NULL"
        ).fetchall()
        runs = conn.execute(
            "SELECT status, decision, approved_by, inputs #>> '{instances,work-db,instance_class}',"
            " (plan_summary ->> 'import')::int, (plan_summary ->> 'create')::int,"
            " (plan_summary ->> 'replace')::int"
            " FROM ops.terraform_runs WHERE purpose = 'reconcile'"
            " AND requested_by NOT LIKE 'capacity-window:%' ORDER BY id"
        ).fetchall()
        windows = conn.execute(
            "SELECT w.job_id, w.state, w.cost_usd > 0, jsonb_array_length(w.added),"
            " (SELECT array_agg(t.status || ':' || t.decision ORDER BY t.id)"
            "  FROM ops.terraform_runs t WHERE t.id = ANY(w.raise_runs || w.restore_runs))"
            " FROM ops.capacity_windows w ORDER BY w.id"
        ).fetchall()
        workers = conn.execute(
            "SELECT count(*) FROM params.instances WHERE purpose = 'dask-worker'"
        ).fetchone()
        worker_resources = conn.execute(
            "SELECT count(*) FROM metrics.resources WHERE name LIKE 'cap%%-w%%' AND gone_at IS NULL"
        ).fetchone()
        approvers = conn.execute(
            "SELECT DISTINCT approved_login FROM ops.terraform_runs WHERE approved_at IS NOT NULL"
        ).fetchall()
        row = conn.execute(
            "SELECT instance_class FROM params.instances WHERE name = 'work-db'"
        ).fetchone()
        bumps = conn.execute(
            "SELECT count(*) FROM params.history WHERE table_name = 'instances'"
            " AND changed_by = 'locxia-demo' AND new_row ->> 'instance_class' = 'db.r6g.xlarge'"
        ).fetchone()
        exposure = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE NOT ST_IsValid(geom)),"
            " min(ST_SRID(geom)) FROM exposure.swimming_pools"
        ).fetchone()
        versions = conn.execute(
            "SELECT zone, status, rows, (quality ->> 'passed')::bool,"
            " (quality #>> '{geometry,repaired}')::int, (quality -> 'geometry' ->> 'null')::int"
            " FROM ops.dataset_versions WHERE dataset = 'swimming_pools' ORDER BY id DESC LIMIT 3"
        ).fetchall()
        # where the refine ran (its report's engine figures), and what publish loaded
        engines = conn.execute(
            "SELECT quality ->> 'engine', (quality ->> 'partitions')::int,"
            " (quality ->> 'workers')::int, provenance ->> 'layout', rows"
            " FROM ops.dataset_versions WHERE dataset = 'swimming_pools' AND zone = 'working'"
            " ORDER BY id"
        ).fetchall()
        published = conn.execute(
            "SELECT (details ->> 'parts')::int, (details ->> 'rows')::int FROM ops.runs"
            " WHERE job_id = 'demo.publish' ORDER BY id"
        ).fetchall()
        failed = conn.execute("SELECT count(*) FROM ops.runs WHERE status <> 'success'").fetchone()
    assert live == {"ec2:instance": 2, "ec2:volume": 2, "rds:db": 3, "s3:bucket": 3}
    assert neighbours == (0,)
    assert hourly_cpu is not None and hourly_cpu[0] >= 7 * 24
    assert costs is not None and costs[0] >= 7 * 4 and costs[1] == 4 and costs[2]
    assert ("scratch-db",) in idle
    # the status depends on the day of the month (near the limits by design), the rows do not
    assert [(b[0], b[2]) for b in budgets] == [("locxia-rds", True), ("locxia-total", True)]
    assert {b[1] for b in budgets} <= {"ok", "warning", "over"}
    # the 10 live resources are estimated; those the second demo found gone (its moto is new)
    # keep the final hours they were billed before (decision 72): never rewritten
    assert estimated[1] == 10 and estimated[0] >= 10
    # Each demo: the estate imported (5 to import, nothing created or replaced, nothing to
    # approve), then the class bump (it causes downtime and the demo has no maintenance window:
    # held, approved by the demo's approver login; the stand-in's modify companion is replaced:
    # its model of the provider's in-place modify, counted among the resources).
    assert [(r[:3], r[4:]) for r in runs] == [
        (("applied", "auto_apply", None), (5, 0, 0)),
        (("applied", "needs_approval", "locxia-demo"), (0, 0, 1)),
    ] * demos
    assert [r[3] for r in runs[-2:]] == ["db.r6g.large", "db.r6g.xlarge"]
    # the bump was approved by the demo's approver login, not by the login that wrote the rows
    assert approvers == [("locxia_demo_approver",)]
    assert row == ("db.r6g.xlarge",) and bumps == (demos,)
    assert exposure == (2996, 0, 2154)
    assert versions == [
        ("exposure", "published", 2996, True, 30, 4),
        ("working", "ready", 2996, True, 30, 4),
        ("landing", "refined", 3000, True, 30, 4),
    ]
    assert failed == (0,)
    # Each demo's refine ran on the embedded Dask cluster (the demo's own thresholds: 3,000
    # rows in partitions of 1,000 on its two local workers), and its publish loaded the parts
    # in parallel: every refined row is in exposure.swimming_pools.
    assert engines == [("dask", 3, 2, "partitioned", 2996)] * demos
    assert len(published) == demos
    assert all(parts >= 3 and rows == engines[-1][4] for parts, rows in published), published
    assert exposure[0] == engines[-1][4]
    # Each demo's refine held a capacity window: two workers raised within policy, removed
    # (the restore applied), priced; no worker row, nor a worker seen in AWS, left behind.
    assert (
        windows
        == [("demo.refine", "restored", True, 2, ["applied:auto_apply", "applied:auto_apply"])]
        * demos
    )
    assert workers == (0,) and worker_resources == (0,)


def test_demo_on_the_configured_database_twice(locxia: Run, db_url: str, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    pids = []
    for _ in range(2):  # idempotent
        started = time.monotonic()
        out = locxia("demo", "--seconds", "3", "--report", str(report), timeout=300)
        elapsed = time.monotonic() - started
        assert out.returncode == 0, out.stderr
        assert elapsed < 300, f"the demo took {elapsed:.0f}s"
        print(f"demo on LOCXIA_DATABASE_URL: {elapsed:.1f}s")
        assert "What the demo did" in out.stdout and "Where to look next" in out.stdout
        text = re.sub(r"[│┃\s]+", " ", out.stdout)  # table cells wrap across lines
        assert "the AWS provider cannot be downloaded offline" in text
        assert re.search(
            r"capacity window \d+: 2 × m6i\.large raised \(terraform run \d+: \+167\.24"
            r" USD/month, applied within policy, [\d.]+ s\); the stand-in workers never boot"
            r" \(no LOCXIA_DASK_SCHEDULER\), so refine ran on the embedded local Dask cluster:"
            r" 3 partitions on 2 worker processes; workers removed after \([\d.]+ s\);"
            r" window cost 0\.\d{4} USD",
            text,
        ), text
        assert re.search(
            r"publish: version \d+ now in exposure — 2,996 rows at \S+ — \d+ parts loaded by"
            r" parallel COPYs on Dask",
            text,
        ), text
        match = re.search(r"moto server \(pid (\d+)\) behind (http://127\.0\.0\.1:\d+)", out.stdout)
        assert match, out.stdout
        pids.append(int(match[1]))
        assert _standin_processes(match[2]) == [], "a stand-in process outlived its demo"
    assert all(_gone(pid) for pid in pids), "a moto server outlived its demo"
    _check_database(db_url, demos=2)
    with connect(db_url) as conn:
        steps = conn.execute(
            "SELECT job_id, task, count(*) FROM ops.runs WHERE job_id LIKE 'demo.%'"
            " AND job_id NOT IN ('demo.heartbeat', 'demo.chain') AND parent_id IS NULL"
            " GROUP BY job_id, task ORDER BY min(id)"
        ).fetchall()
        seeded = conn.execute(
            "SELECT task, min((details ->> 'resources')::int),"
            " min((details ->> 'datapoints')::int), bool_and((details ->> 'queued')::bool)"
            " FROM ops.runs WHERE task IN ('demo.estate', 'demo.metrics', 'demo.costs')"
            " GROUP BY task ORDER BY task"
        ).fetchall()
        schedules = conn.execute(
            "SELECT count(*) FROM params.schedules WHERE job LIKE 'demo.%'"
        ).fetchone()
    assert steps == [(f"demo.{s.name}", s.task, 2) for s in STEPS]
    assert seeded == [
        ("demo.costs", None, None, True),
        ("demo.estate", 11, None, None),
        ("demo.metrics", None, 39 * 168 + 8 * 7, None),
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
        started = time.monotonic()
        out = locxia("demo", "--seconds", "2", env=env, timeout=300)
        elapsed = time.monotonic() - started
        assert out.returncode == 0, out.stderr
        assert elapsed < 300, f"the demo took {elapsed:.0f}s"
        print(f"demo with its own PostgreSQL: {elapsed:.1f}s")
        assert "its own local PostgreSQL" in out.stdout
        assert (demo_dir / "postgres" / "PG_VERSION").exists()
        assert (demo_dir / "report.html").exists() and (demo_dir / "moto.log").exists()
        # one stand-in workdir per demo process (decision 50)
        states = list((demo_dir / "terraform").glob("run-*/terraform.tfstate"))
        assert states
        # the capacity window's workers were destroyed by Terraform, not only forgotten
        modules = {r.get("module") for r in json.loads(states[0].read_text())["resources"]}
        assert 'module.ec2["tiles-server"]' in modules
        assert not [m for m in modules if m and '"cap' in m], modules
        assert (demo_dir / "samples" / "swimming_pools.gpkg").exists()
        assert sorted(p.name for p in (demo_dir / "dashboards").iterdir())
        url = re.search(r"postgresql://[^\s│]+", out.stdout)
        assert url, out.stdout
        _check_database(url[0], demos=1)
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
