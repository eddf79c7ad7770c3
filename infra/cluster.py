"""The Dask cluster partitioned work runs on: an existing scheduler, or an embedded local one.

``LOCXIA_DASK_SCHEDULER`` names any running scheduler (a Kubernetes dask-operator, EC2 workers
started by a capacity window, a laptop); unset, an embedded ``LocalCluster`` of
``LOCXIA_DASK_LOCAL_WORKERS`` worker *processes* on 127.0.0.1 serves for the duration of the
work, so the demo and the tests need nothing more. The product only submits tasks: Dask owns
their distribution, retries and the rescheduling of a lost worker's tasks (decision 84).

Worker processes, one thread each: refine's GEOS/PROJ work releases the GIL, but the Arrow and
numpy glue between the calls does not, and a process per core keeps one worker's memory its
own (what the benchmark measures per process).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from infra.errors import ClusterError
from infra.settings import Settings

CONNECT_TIMEOUT_S = 30


def _distributed() -> Any:
    """``distributed``, imported on first use (a second to import; untyped for mypy)."""
    return importlib.import_module("distributed")


@contextmanager
def client(settings: Settings) -> Iterator[Any]:
    """A ``distributed.Client`` on the named scheduler, or on an embedded local cluster.

    The embedded cluster binds 127.0.0.1 only, has no dashboard, and is closed (its worker
    processes stopped) when the block ends, also on error.

    Raises:
        ClusterError: the named scheduler cannot be reached.
    """
    dist = _distributed()
    Client, LocalCluster = dist.Client, dist.LocalCluster  # noqa: N806 (the library's names)

    if settings.dask_scheduler:
        try:
            c = Client(settings.dask_scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"cannot reach the Dask scheduler {settings.dask_scheduler} ({exc});"
                " check LOCXIA_DASK_SCHEDULER or unset it to use the embedded local cluster"
            ) from exc
        try:
            yield c
        finally:
            c.close()
        return
    try:
        cluster = LocalCluster(
            n_workers=settings.dask_local_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # its HTTP routes (health) on a free port
            silence_logs=40,  # logging.ERROR: a lost worker is Dask's to report, not the user's
        )
    except (RuntimeError, OSError, TimeoutError) as exc:
        raise ClusterError(
            f"cannot start the embedded Dask cluster ({' '.join(str(exc).split())[:200]})"
        ) from exc
    try:
        c = Client(cluster)
        try:
            yield c
        finally:
            c.close()
    finally:
        cluster.close()


def wait_for_workers(settings: Settings, n: int, timeout_s: float) -> int:
    """Wait until the named scheduler has at least ``n`` workers; return how many it has.

    With no scheduler named the embedded cluster starts its own workers with the work, so
    there is nothing to wait for (returns 0).

    Raises:
        ClusterError: the scheduler cannot be reached, or fewer than ``n`` workers joined
            within ``timeout_s``.
    """
    if not settings.dask_scheduler or n <= 0:
        return 0
    deadline = time.monotonic() + timeout_s
    with client(settings) as c:
        while True:
            count = len(c.scheduler_info(n_workers=-1).get("workers", {}))
            if count >= n:
                return count
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"only {count} of {n} Dask workers joined {settings.dask_scheduler}"
                    f" within {timeout_s:.0f} s"
                )
            time.sleep(min(2.0, max(deadline - time.monotonic(), 0.1)))
