"""The orphan sweep every CLI task pays before it starts (issue 12, point 7).

``run_task`` calls ``Runner.sweep()`` on the record connection it opens anyway: one query on
the partial index of running runs, then each plugin's sweep (shape: one query on the partial
index of open Terraform runs; feed: one listing of the scratch directory). Measured in-process
on a database holding 100,000 finished runs, with nothing to sweep and with 50 running runs
of live processes (this one, and another host's with fresh heartbeats); and as the whole
command, ``locxia jobs run core.noop``, to put the figure next to what a user waits for.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import bench_database, median, timed
from infra.db import connect
from infra.jobs import Registry
from infra.jobs.liveness import ProcessIdentity
from infra.jobs.runner import Runner
from infra.settings import load_settings

NAME = "sweep"
TITLE = "Orphan sweep at CLI start (issue 12)"
FINISHED = 100_000
RUNNING = 50
REPEAT = 200


def _fill(url: str) -> None:
    me = ProcessIdentity.current()
    with connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO ops.runs (job_id, task, trigger, status, started_at, ended_at, host, pid)"
            " SELECT 'bench.' || (i %% 50), 'core.noop', 'manual', 'success',"
            "        now() - i * interval '1 minute', now() - i * interval '1 minute', %s, i"
            "   FROM generate_series(1, %s) i",
            (me.host, FINISHED),
        )
        conn.execute("ANALYZE ops.runs")


def _running(url: str) -> None:
    me = ProcessIdentity.current()
    with connect(url, autocommit=True) as conn:
        for i in range(RUNNING):
            mine = i % 2 == 0
            conn.execute(
                "INSERT INTO ops.runs (job_id, task, trigger, host, pid, process, heartbeat_at)"
                " VALUES (%s, 'core.noop', 'manual', %s, %s, %s, now())",
                (
                    f"bench.live.{i}",
                    me.host if mine else "other-host",
                    me.pid if mine else 1,
                    me.token if mine else None,
                ),
            )


def _cli(url: str) -> list[float]:
    env = {**os.environ, "LOCXIA_DATABASE_URL": url}
    locxia = str(Path(sys.executable).parent / "locxia")
    out = []
    for _ in range(7):
        start = time.perf_counter()
        subprocess.run(
            [locxia, "jobs", "run", "core.noop"], env=env, check=True, capture_output=True
        )
        out.append(time.perf_counter() - start)
    return out


def run() -> str:
    """Median sweep cost (ms) in the situations above, and the whole command for scale."""
    with bench_database(NAME) as url:
        _fill(url)
        settings = load_settings(database_url=url)
        runner = Runner(settings, Registry.from_entry_points())
        first_start = time.perf_counter()
        runner.sweep()
        first = time.perf_counter() - first_start
        idle = timed(runner.sweep, REPEAT)
        _running(url)
        busy = timed(runner.sweep, REPEAT)
        runner.close()
        with connect(url) as conn:
            plan = "\n".join(
                str(r[0])
                for r in conn.execute(
                    "EXPLAIN SELECT id FROM ops.runs WHERE status = 'running'"
                ).fetchall()
            )
        cli = _cli(url)
    index = "runs_running_idx" if "runs_running_idx" in plan else "no index (!)"
    return (
        f"{FINISHED:,} finished runs in `ops.runs`; {REPEAT} sweeps after one cold call;"
        " medians.\n\n"
        "| Situation | Sweep (ms) |\n|---|---:|\n"
        "| first sweep of a process, opening the record connection the run then reuses"
        f" | {first * 1000:.1f} |\n"
        f"| nothing to sweep | {median(idle) * 1000:.2f} |\n"
        f"| {RUNNING} running runs, all alive (this process, another host's fresh beats)"
        f" | {median(busy) * 1000:.2f} |\n\n"
        f"The runs query reads `{index}`. For scale, the whole `locxia jobs run core.noop`"
        f" (Python start, plugin loading, the sweep, the run): median {median(cli):.2f} s of 7.\n"
    )
