"""Partitioned publish: the parts of a working version COPYed in parallel on the Dask cluster.

The driver (:func:`pipelines.feed.publish.publish`) holds the dataset's publish lock for the
whole publish; here it creates the staging table on a connection of its own and commits it, so
that every task's connection sees it, then submits one task per part to the cluster
(:func:`infra.cluster.client`, at most :func:`in_flight` at a time). Each task
(:func:`copy_part`) fetches its part from the working zone, checks its SHA-256 against the
manifest and streams it with the same binary COPY as the in-process path, over a connection
of its own.

**Exactly once.** A task inserts its part's row in ``ops.publish_parts`` (migration 0074) and
COPYs the part in ONE transaction. When the insert finds the row (``ON CONFLICT DO NOTHING``
returns nothing), another attempt already committed that part: the task rolls back and skips.
Two attempts running at once serialise on the row's unique key: the second waits for the
first to commit (then skips) or roll back (then copies). A worker killed mid-COPY takes its
connection, hence its uncommitted COPY and ledger row, with it, and Dask runs the task again
on another worker (decision 84: the product never re-implements rescheduling). So the staging
table holds exactly the rows of the parts listed in the ledger, whatever dies when: the
driver still checks the row count against the manifest before indexing.

A failed part is a value (:class:`PartDone` with an ``error``), not an exception crossing the
cluster: the driver stops submitting, lets the tasks in flight end, and raises one
:class:`~infra.errors.PublishError` line.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from infra import cluster
from infra.db import connect
from infra.errors import LocxiaError, PublishError
from infra.settings import Settings
from pipelines.feed.partset import Manifest, Part
from pipelines.feed.zones import scratch_dir, zone

#: Tasks submitted per worker: one running, one waiting, so no worker idles while the driver
#: submits the next (and the driver holds a handful of futures whatever the part count).
PER_WORKER = 2
#: Application name of a task's connection (``…:<worker pid>``, shown in pg_stat_activity).
APPLICATION = "locxia:publish-part"
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class PartJob:
    """What one task needs, all picklable: settings travel to the worker process."""

    settings: Settings
    prefix: str
    part: Part
    schema_name: str
    table: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class PartDone:
    """What one task did: copied the part's rows, found it already committed, or failed.

    ``content`` is True when the part's bytes are at fault (checksum, Arrow, a value
    PostgreSQL refused): refining again is the remedy, so the working version is rejected.
    """

    key: str
    rows: int
    copied: bool
    error: str | None = None
    content: bool = False


def forget(conn: psycopg.Connection[Any], staged: str) -> None:
    """Delete the ledger rows of staging table ``staged`` (in the caller's transaction)."""
    conn.execute("DELETE FROM ops.publish_parts WHERE staging = %s", (staged,))


def committed(conn: psycopg.Connection[Any], staged: str) -> dict[str, int]:
    """The parts committed into ``staged`` and their rows."""
    rows = conn.execute(
        "SELECT part, rows FROM ops.publish_parts WHERE staging = %s", (staged,)
    ).fetchall()
    return {str(part): int(n) for part, n in rows}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:300]
    return text or type(exc).__name__


def _claim_and_copy(job: PartJob, scratch: Path) -> PartDone:
    from pipelines.feed.publish import stream_parquet

    key = job.part.key
    url = job.settings.require_database_url()
    with connect(url, application_name=f"{APPLICATION}:{os.getpid()}") as conn:
        claimed = conn.execute(
            "INSERT INTO ops.publish_parts (staging, part, rows) VALUES (%s, %s, %s)"
            " ON CONFLICT (staging, part) DO NOTHING RETURNING part",
            (job.table, key, job.part.rows),
        ).fetchone()
        if claimed is None:  # another attempt committed this part
            conn.rollback()
            return PartDone(key, job.part.rows, copied=False)
        local = zone(job.settings, "working").fetch(job.prefix + key, scratch)
        if _sha256(local) != job.part.sha256:
            conn.rollback()
            return PartDone(key, 0, False, "its SHA-256 differs from the manifest's", True)
        parquet = pq.ParquetFile(local, pre_buffer=False)
        rows = stream_parquet(
            conn,
            parquet,
            job.schema_name,
            job.table,
            list(job.columns),
            job.settings.layers_batch_rows,
        )
        if rows != job.part.rows:
            conn.rollback()
            return PartDone(key, 0, False, f"{rows} rows, the manifest says {job.part.rows}", True)
        conn.commit()
    return PartDone(key, rows, copied=True)


def copy_part(job: PartJob) -> PartDone:
    """The Dask task: COPY one part into the staging table, exactly once (see module doc).

    Never raises for a fault of the part, the zone or the database: the fault is returned,
    one line, for the driver to report.
    """
    key = job.part.key
    try:
        with scratch_dir(job.settings, "publish") as scratch:
            return _claim_and_copy(job, scratch)
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
        return PartDone(key, 0, False, _line(exc), content=True)
    except (pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
        return PartDone(key, 0, False, f"cannot be loaded ({_line(exc)})", content=True)
    except (psycopg.Error, LocxiaError, OSError) as exc:
        return PartDone(key, 0, False, _line(exc))


def in_flight(client: Any) -> int:
    """How many tasks to keep submitted: :data:`PER_WORKER` per worker the scheduler has."""
    workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
    return max(PER_WORKER, PER_WORKER * workers)


def _drain(futures: set[Any]) -> None:
    """Let the tasks still in flight end (their results are dropped) before cleaning up.

    Cancelling a future does not stop a task already running on a worker: waiting means no
    task is still writing into the staging table when the driver drops it.
    """
    for future in futures:
        try:
            future.result()
        except Exception:  # noqa: BLE001, S110 (the run already failed; this only waits)
            pass


def _run(client: Any, jobs: list[PartJob], advance: Callable[[float], None]) -> int:
    """Run ``jobs`` keeping at most :func:`in_flight` submitted; return the rows they hold.

    Raises:
        LoadFailed: the first part that failed (the tasks in flight are left to end first).
    """
    dist = cluster._distributed()
    pending = iter(jobs)
    running: set[Any] = set()
    queue = dist.as_completed()

    def submit_next() -> None:
        job = next(pending, None)
        if job is not None:
            future = client.submit(copy_part, job, pure=False)
            running.add(future)
            queue.add(future)

    for _ in range(in_flight(client)):
        submit_next()
    rows = 0
    try:
        for future in queue:
            running.discard(future)
            done: PartDone = future.result()
            if done.error is not None:
                raise LoadFailed(f"part {jobs[0].prefix}{done.key}: {done.error}", done.content)
            rows += done.rows
            advance(done.rows)
            submit_next()
    finally:
        _drain(running)
    return rows


def load(settings: Settings, manifest: Manifest, jobs: list[PartJob]) -> int:
    """COPY every part on the cluster; return the rows copied now or by an earlier attempt.

    Raises:
        LoadFailed: a part failed (``content`` tells the caller whether to reject the
            version), the cluster could not be reached or started, or a task killed its
            workers over and over (Dask's ``KilledWorker``).
    """
    from pipelines.feed.progress import step

    label = f"load {jobs[0].table}" if jobs else "load"
    try:
        with (
            cluster.client(settings) as client,
            step(label, manifest.rows, unit="rows") as bar,
        ):
            return _run(client, jobs, bar.advance)
    except PublishError:
        raise
    except LocxiaError as exc:  # ClusterError: not reachable, not started
        raise LoadFailed(exc.message) from exc
    except Exception as exc:  # noqa: BLE001 (KilledWorker, CommClosedError…: the cluster's)
        raise LoadFailed(f"the Dask cluster failed the load: {_line(exc)}") from exc


class LoadFailed(PublishError):
    """The parts could not all be loaded; ``content`` says whether the part's bytes are at fault.

    Only a fault of the content rejects the working version (refine again); a lost cluster or
    a missing object does not: publishing again may work.
    """

    def __init__(self, message: str, content: bool = False) -> None:
        super().__init__(message)
        self.content = content


def staging_ready(
    settings: Settings,
    schema_name: str,
    table: str,
    create: Callable[[psycopg.Connection[Any]], object],
) -> bool:
    """Make sure ``schema_name.table`` exists, committed; False when it was already there.

    A staging table left by a publish of the same version that was killed is kept with its
    ledger rows (its content is exactly those parts) and the load resumes; a fresh one starts
    with no ledger rows for its name. The caller holds the publish lock.
    """
    url = settings.require_database_url()
    with connect(url, application_name="locxia:publish") as conn:
        exists = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (f'"{schema_name}"."{table}"',)
        ).fetchone()
        if exists and exists[0]:
            conn.rollback()
            return False
        forget(conn, table)
        create(conn)
        conn.commit()
    return True


def drop(settings: Settings, schema_name: str, table: str, lock: Callable[[Any], None]) -> None:
    """Drop a staging table and its ledger rows in one transaction, under the publish lock."""
    url = settings.require_database_url()
    with connect(url, application_name="locxia:publish") as conn:
        lock(conn)
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema_name, table)))
        forget(conn, table)
        conn.commit()
