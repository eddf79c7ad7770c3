"""What every benchmark shares: the machine description, a database, timing, the report file.

Each benchmark module exposes ``NAME``, ``TITLE`` and ``run() -> str`` (a Markdown body). The
report keeps one section per benchmark between markers, so running one benchmark
(``python -m bench orchestration``) updates its section and keeps the others.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from infra.db import connect
from infra.db.localcluster import LocalCluster, create_database
from infra.db.setup import upgrade_database

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "benchmarks.md"
BENCH_URL_ENV = "LOCXIA_BENCH_DATABASE_URL"


def machine() -> str:
    """One line: CPU, cores, memory, OS, Python, PostgreSQL."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{mem_kb / 1024 / 1024:.0f} GiB"
    except OSError:
        mem = "? GiB"
    pg = subprocess.run(["pg_config", "--version"], capture_output=True, text=True).stdout.strip()
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem} RAM; {platform.system()} {platform.release()};"
        f" Python {platform.python_version()}; {pg or 'PostgreSQL ?'}"
    )


@contextmanager
def bench_database(name: str) -> Iterator[str]:
    """A migrated database: on ``$LOCXIA_BENCH_DATABASE_URL``'s server, else a private cluster
    with PostgreSQL's default settings (durable: no benchmark-only tuning)."""
    admin = os.environ.get(BENCH_URL_ENV)
    cluster = None
    if not admin:
        cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="locxia-bench-")))
        admin = cluster.ensure_running()
    dbname = f"locxia_bench_{name}_{os.getpid()}"
    create_database(admin, dbname)
    url = urlunsplit(urlsplit(admin)._replace(path=f"/{dbname}"))
    try:
        with connect(url) as conn:
            upgrade_database(conn)
        yield url
    finally:
        with connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        if cluster is not None:
            cluster.destroy()


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Wall seconds of ``repeat`` calls of ``fn``."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def median(values: list[float]) -> float:
    """The median (the figure to quote on a noisy machine)."""
    return statistics.median(values)


def hwm_kib(pid: int | str = "self") -> int:
    """A process's own peak RSS (``VmHWM``, KiB); 0 once it is gone.

    Not ``getrusage().ru_maxrss``: on Linux that survives ``execve``, so a child started by a
    large benchmark process would report its parent's size.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process run to completion.

    Peak RSS is the process's own high-water mark (``VmHWM``, read until it exits):
    ``wait4``'s ``ru_maxrss`` would include the benchmark's own RSS at fork time.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, cwd=ROOT)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, hwm_kib(proc.pid))
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed with {proc.returncode}")
    return elapsed, peak / 1024


@dataclass
class TreeProcess:
    """One process of a measured tree: what it was, when it was first seen, its peak RSS."""

    pid: int
    role: str
    first_seen: float  # time.time() of the first poll that saw it
    peak_kib: int = 0


@dataclass
class TreeRun:
    """A command run to completion with the peak RSS of every process it started."""

    elapsed: float
    returncode: int
    processes: list[TreeProcess] = field(default_factory=list)
    stderr_tail: str = ""


#: Roles that do not change once seen (a child's command line settles after its exec).
SETTLED_ROLES = frozenset({"main", "worker", "resource tracker"})


def _role(proc: object, root: int) -> str:
    import psutil

    assert isinstance(proc, psutil.Process)
    if proc.pid == root:
        return "main"
    try:
        line = " ".join(proc.cmdline())
    except psutil.Error:
        return "gone"
    if "resource_tracker" in line:
        return "resource tracker"
    if "spawn_main" in line or "forkserver" in line:
        return "worker"  # multiprocessing children: Dask's nannies start workers this way
    return proc.name()


def measure_tree(
    cmd: list[str],
    env: dict[str, str] | None = None,
    *,
    poll_s: float = 0.05,
    capture_stderr: bool = False,
    unset: tuple[str, ...] = (),
) -> TreeRun:
    """Run ``cmd`` to completion, polling the peak RSS of it and of every descendant.

    A process started by the command (a Dask worker, a resource tracker) has its own
    ``VmHWM``; the whole tree is listed with psutil ``children(recursive=True)`` at each poll,
    so a process living longer than one poll interval is caught. Unlike :func:`measure`, a
    failing command is returned (``returncode``), not raised: the caller reports it.
    ``unset`` names variables of this environment the command must not inherit.
    """
    import psutil

    start = time.perf_counter()
    # a file, not a pipe: a chatty child would block on a full pipe nobody reads until it ends
    err = tempfile.TemporaryFile("w+") if capture_stderr else None
    environ = {k: v for k, v in os.environ.items() if k not in unset}
    proc = subprocess.Popen(cmd, env={**environ, **(env or {})}, cwd=ROOT, stderr=err)
    root = psutil.Process(proc.pid)
    seen: dict[int, TreeProcess] = {}
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            tree = []
        for p in tree:
            known = seen.get(p.pid)
            if known is None:
                known = seen[p.pid] = TreeProcess(p.pid, _role(p, proc.pid), time.time())
            elif known.role not in SETTLED_ROLES:
                # caught between fork and exec, a child still shows its parent's command line
                # (``python -m ...``): look again until it says what it is
                known.role = _role(p, proc.pid)
            known.peak_kib = max(known.peak_kib, hwm_kib(p.pid))
        time.sleep(poll_s)
    tail = ""
    if err is not None:
        err.seek(0)
        lines = [line for line in err.read().splitlines() if line.strip()]
        tail = lines[-1] if lines else ""
        err.close()
    return TreeRun(time.perf_counter() - start, proc.returncode, list(seen.values()), tail)


def pss_mib(pid: int) -> float:
    """Proportional set size of one process, MiB (Linux ``smaps_rollup``)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no Pss for pid {pid}")


def write_section(name: str, title: str, body: str) -> None:
    """Replace (or append) the section of benchmark ``name`` in docs/benchmarks.md."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- bench:{name} -->\n## {title}\n\n_Run {stamp} on {machine()}._\n\n"
        f"{body.strip()}\n<!-- /bench:{name} -->"
    )
    text = (
        REPORT.read_text()
        if REPORT.exists()
        else (
            "# Benchmarks\n\nWritten by `make bench` (`python -m bench [name ...]`); each section"
            " says when and on what machine it ran. Anchors are measured in the same run where"
            " they can be installed here, otherwise quoted with their source.\n"
        )
    )
    pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.S)
    found = pattern.search(text)  # a function as replacement: the body may hold backslashes
    text = pattern.sub(lambda _: section, text) if found else f"{text.rstrip()}\n\n{section}\n"
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text if text.endswith("\n") else text + "\n")
