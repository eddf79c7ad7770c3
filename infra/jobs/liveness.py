"""Orphaned runs: which ``running`` rows of ``ops.runs`` no process will ever finish.

A run killed with its process (SIGKILL, OOM, a service manager giving up on a stop) never
records its end, so the row would say ``running`` forever. :func:`sweep` decides, for every
``running`` row, whether its process can still finish it:

* **this host** (``host`` equals this machine's name): the run is orphaned when its process is
  gone, or when its pid now belongs to another process. A process is named by its pid *and*
  :func:`process_token` (boot id + start time from ``/proc/<pid>/stat``), because the kernel
  reuses pids. A zombie counts as gone (it runs nothing).
* **another host**: its process cannot be seen from here, so the run is orphaned when its
  heartbeat (``ops.runs.heartbeat_at``, refreshed by the Runner every
  ``LOCXIA_RUN_HEARTBEAT_SECONDS`` while the task runs) is older than :func:`grace_seconds`,
  three heartbeat intervals: one missed beat is a slow database, three are a dead process.
  Every host must use the same interval.

Orphans become ``interrupted`` with ``ended_at`` and a one-line error saying why; their chain
steps too. Then each plugin's ``sweep`` cleans that feature's own leftovers (Terraform runs
left ``applying``, scratch directories) through :class:`~infra.jobs.model.SweepContext`, so
this module never names a feature.

The sweep runs when ``locxia serve`` starts or becomes leader (and then every grace period
while it leads), and before every task the CLI runs. It costs one query on the partial index
``runs_running_idx`` when nothing is orphaned. It never marks a live run: when liveness cannot
be decided (``/proc`` hidden, a process of another user), the run is left alone.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from infra.jobs.model import SweepContext

if TYPE_CHECKING:
    from infra.jobs.registry import Registry
    from infra.settings import Settings

log = logging.getLogger(__name__)

#: Heartbeats a run of another host may miss before it is declared orphaned.
MISSED_BEATS = 3
_PROC = Path("/proc")


def grace_seconds(settings: Settings) -> float:
    """How old a heartbeat of another host may be before its run is orphaned (3 intervals)."""
    return MISSED_BEATS * settings.run_heartbeat_seconds


@lru_cache(maxsize=1)
def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks) of ``pid`` from ``/proc/<pid>/stat``, or None.

    proc(5): the command name (field 2) is in parentheses and may itself contain spaces or
    parentheses, so the fields are counted after the *last* ``)``; field 3 is the state and
    field 22 the start time since boot, in clock ticks.
    """
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text[text.rfind(")") + 2 :].split()
    if len(fields) < 20:
        return None
    return fields[0], fields[19]


def process_token(pid: int) -> str | None:
    """``"<boot id>:<start ticks>"`` of a running process, or None when it cannot be read.

    Two processes that ever held the same pid have different tokens: the start time differs
    within one boot, and the boot id differs across reboots.
    """
    stat = _stat(pid)
    if stat is None:
        return None
    return f"{_boot_id()}:{stat[1]}"


@dataclass(frozen=True)
class ProcessIdentity:
    """A process named so that a reused pid is not mistaken for it."""

    host: str
    pid: int
    token: str | None

    @classmethod
    def current(cls) -> ProcessIdentity:
        """This process."""
        return cls(socket.gethostname(), os.getpid(), process_token(os.getpid()))

    def is_alive(self) -> bool:
        """Whether this process still runs (on this host; the caller checks the host).

        False only when the process is certainly gone: no such pid, a zombie, or the pid
        now held by a process with another token. Unknown (no ``/proc``, a hidden process)
        counts as alive.
        """
        return pid_alive(self.pid, self.token)


def pid_alive(pid: int, token: str | None) -> bool:
    """Whether process ``pid`` with ``token`` (None: not recorded) still runs on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # kill(2) with signal 0 checks existence and permission only
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    except OSError:
        return True
    stat = _stat(pid)
    if stat is None:
        return True  # /proc missing or hidden (hidepid): cannot tell, so alive
    if stat[0] in ("Z", "X"):
        return False  # a zombie or dead task: exited, only not reaped yet
    if token is None:
        return True
    return f"{_boot_id()}:{stat[1]}" == token


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did: runs marked interrupted (with why), and each plugin's counts."""

    interrupted: dict[int, str] = field(default_factory=dict)
    plugins: dict[str, Mapping[str, int]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """Whether anything was marked or removed."""
        return bool(self.interrupted) or any(
            any(v for v in c.values()) for c in self.plugins.values()
        )


def find_orphans(
    conn: psycopg.Connection[Any], settings: Settings, me: ProcessIdentity
) -> dict[int, str]:
    """Running runs no live process will finish → the one-line reason for each.

    One query on the partial index of running runs; ``conn`` may be in autocommit or not
    (a read).
    """
    rows = conn.execute(
        "SELECT id, host, pid, process,"
        " coalesce(heartbeat_at, started_at) < now() - make_interval(secs => %s)"
        " FROM ops.runs WHERE status = 'running'",
        (grace_seconds(settings),),
    ).fetchall()
    orphans: dict[int, str] = {}
    for run_id, host, pid, token, stale in rows:
        if host == me.host:
            if pid is None:
                continue
            if pid == me.pid and token in (None, me.token):
                continue  # this process: its runs are alive while it is
            if not pid_alive(int(pid), token):
                orphans[int(run_id)] = f"its process {pid} on {host} is gone"
        elif stale:
            orphans[int(run_id)] = (
                f"no heartbeat from {host or 'an unknown host'} for over"
                f" {grace_seconds(settings):.0f}s"
            )
    return orphans


def mark_interrupted(conn: psycopg.Connection[Any], orphans: Mapping[int, str]) -> dict[int, str]:
    """Mark ``orphans`` and their running chain steps ``interrupted``; returns what changed.

    Only rows still ``running`` are touched, so a run that ended meanwhile keeps its end.
    """
    if not orphans:
        return {}
    ids = list(orphans)
    reasons = [f"interrupted: {orphans[i]}" for i in ids]
    rows = conn.execute(
        "WITH RECURSIVE orphan(id, reason) AS ("
        "   SELECT * FROM unnest(%s::bigint[], %s::text[])"
        " ), tree(id, reason) AS ("
        "   SELECT id, reason FROM orphan"
        "   UNION"
        "   SELECT r.id, 'interrupted: its parent run ' || t.id || ' was interrupted'"
        "     FROM ops.runs r JOIN tree t ON r.parent_id = t.id"
        "    WHERE r.status = 'running' AND r.parent_id IS NOT NULL"
        " )"
        " UPDATE ops.runs r SET status = 'interrupted', ended_at = clock_timestamp(),"
        "        error = t.reason"
        "   FROM (SELECT DISTINCT ON (id) id, reason FROM tree ORDER BY id, reason) t"
        "  WHERE r.id = t.id AND r.status = 'running'"
        " RETURNING r.id, r.error",
        (ids, reasons),
    ).fetchall()
    return {int(run_id): str(error) for run_id, error in rows}


def sweep(
    conn: psycopg.Connection[Any],
    settings: Settings,
    plugins: Iterable[Any] = (),
    *,
    me: ProcessIdentity | None = None,
) -> SweepReport:
    """Mark orphaned runs ``interrupted``, then let each plugin sweep its leftovers.

    Args:
        conn: an autocommit connection to the Locxia database.
        settings: heartbeat interval, and what plugins need.
        plugins: the installed :class:`~infra.jobs.model.Plugin` objects.
        me: this process (tests pass another identity).

    Returns:
        What changed. A plugin's failure is reported in ``failures`` and never stops the
        sweep nor the command that called it.

    Raises:
        psycopg.Error: the runs could not be read or marked.
    """
    me = me or ProcessIdentity.current()
    marked = mark_interrupted(conn, find_orphans(conn, settings, me))
    for run_id, why in sorted(marked.items()):
        log.warning("run %s marked interrupted (%s)", run_id, why)
    report = SweepReport(interrupted=marked)
    ctx = SweepContext(settings=settings, conn=conn, host=me.host, pid=me.pid, alive=pid_alive)
    for plugin in plugins:
        fn = getattr(plugin, "sweep", None)
        if fn is None:
            continue
        try:
            counts = dict(fn(ctx))
        except Exception as exc:  # one feature's cleanup must not block runs of the others
            report.failures[plugin.name] = _one_line(exc)
            log.error("sweep of %s failed: %s", plugin.name, report.failures[plugin.name])
            continue
        if any(counts.values()):
            log.warning("sweep of %s: %s", plugin.name, counts)
        report.plugins[plugin.name] = counts
    return report


def sweep_registry(
    conn: psycopg.Connection[Any], settings: Settings, registry: Registry
) -> SweepReport:
    """:func:`sweep` with every plugin of ``registry``."""
    return sweep(conn, settings, registry.plugins.values())


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
