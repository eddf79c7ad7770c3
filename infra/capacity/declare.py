"""What a job declares in ``params.run_capacity``, and how windows are named."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from infra.jobs.model import RunResult

#: The reconcile task of the installed plugins that applies ``params.instances``.
RECONCILE_TASK = "shape.reconcile"

#: Runs the reconcile task as a recorded run: ``reconcile(step, requested_by)``.
Reconcile = Callable[[str, str], RunResult]


@dataclass(frozen=True)
class Declaration:
    """One ``params.run_capacity`` row: what a matching job's runs need."""

    job: str
    dask_workers: int = 0
    worker_type: str | None = None
    worker_storage_gb: int = 20
    database: str | None = None
    database_class: str | None = None

    @property
    def declared_by(self) -> str:
        """Where it came from, for records and messages."""
        return f"params.run_capacity[{self.job}]"


def _score(pattern: str, job_id: str) -> int:
    """Longest match wins, an exact id beats every prefix (as ``params.job_compute``)."""
    if pattern.endswith("*"):
        return len(pattern) if job_id.startswith(pattern[:-1]) else -1
    return 1_000 if job_id == pattern else -1


def declared(conn: psycopg.Connection[Any], job_id: str) -> Declaration | None:
    """The capacity ``job_id`` declares (the best matching row), or None."""
    rows = conn.execute(
        "SELECT job, dask_workers, worker_type, worker_storage_gb, database, database_class"
        " FROM params.run_capacity"
    ).fetchall()
    ranked = sorted(((_score(str(r[0]), job_id), r) for r in rows), key=lambda x: -x[0])
    if not ranked or ranked[0][0] < 0:
        return None
    return Declaration(*ranked[0][1])


def worker_names(window_id: int, n: int) -> list[str]:
    """Deterministic names of a window's workers (valid ``params.instances`` names)."""
    return [f"cap{window_id}-w{k}" for k in range(1, n + 1)]


def label(window_id: int) -> str:
    """Who the window is in ``params.history.changed_by`` and ``requested_by``."""
    return f"capacity-window:{window_id}"
