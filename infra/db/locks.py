"""Named locks that only the service's own logins can take: rows of ``ops.locks``.

PostgreSQL advisory locks need no privilege at all, so any login — the read-only Grafana one
included — could hold the leader's key and no service would ever lead. These locks are rows
of ``ops.locks`` instead, a table on which no other role has any privilege (migration 0050).

Two kinds, one table; a name is used as one kind only:

* **Session locks** (:func:`try_lock` / :func:`unlock`, leadership, reconcile, collection):
  taken in a short transaction that records the taking backend (pid, login, backend start)
  and commits, so no transaction stays open while the lock is held (an open transaction
  would hold back VACUUM's xmin horizon for as long as a leader lives). The lock is held as
  long as that backend lives: the next taker finds the holder gone from
  ``pg_stat_activity`` — its process killed, its connection closed or terminated — and takes
  over at once, with no lease or clock to tune, just like an advisory lock.
* **Transaction locks** (:func:`lock_for_transaction`, publish, partition creation): the row
  is locked ``FOR UPDATE`` inside the caller's transaction and freed at commit or rollback.

Why other logins cannot interfere: ``SELECT … FOR UPDATE`` needs the UPDATE privilege on the
table ("you must have the UPDATE privilege as well as the SELECT privilege",
https://www.postgresql.org/docs/15/sql-select.html#SQL-FOR-UPDATE-SHARE), and writing a
holder needs UPDATE too; Grafana and editor logins have neither, nor USAGE on schema ``ops``.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from infra.errors import DatabaseError

#: One leader per database (``locxia serve``).
LEADER = "leader"
#: One reconcile or drift check at a time (guards the Terraform working directory).
SHAPE = "shape"
#: Creators of metrics partitions, taken by ``metrics.ensure_datapoint_partitions`` (SQL).
PARTITIONS = "metrics.partitions"

# Is the recorded holder still a live backend? pid alone is not enough: pids are reused, so the
# backend's start time must match too. Only a member of the holder's login (or of
# pg_read_all_stats) sees another backend's backend_start; everyone sees pid and usesysid
# (https://www.postgresql.org/docs/15/monitoring-stats.html#MONITORING-PG-STAT-ACTIVITY-VIEW).
# When backend_start is hidden the pid and login must match: conservative (a reused pid of the
# same login keeps the lock until that session ends), never a second holder.
_ALIVE = (
    "EXISTS (SELECT 1 FROM pg_stat_activity s WHERE s.pid = l.holder_pid"
    " AND s.usesysid = l.holder_roleid"
    " AND (s.backend_start = l.holder_started OR s.backend_start IS NULL))"
)


@dataclass(frozen=True)
class Holder:
    """Who holds a session lock: the backend and the process that took it."""

    pid: int
    holder: str | None
    taken_at: datetime


def _require_idle(conn: psycopg.Connection[Any]) -> None:
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise DatabaseError("a session lock is taken outside any transaction (commit first)")


def _label(conn: psycopg.Connection[Any]) -> str:
    app = conn.info.parameter_status("application_name") or "locxia"
    return f"{socket.gethostname()}:{os.getpid()} {app}"


def try_lock(conn: psycopg.Connection[Any], name: str) -> bool:
    """Take session lock ``name`` for ``conn``'s backend; False when a live backend holds it.

    Not re-entrant: a backend that already holds ``name`` gets False. ``conn`` must have no
    transaction open (autocommit or idle); the lock is taken in a transaction of its own, so
    it is held from the commit until :func:`unlock` or the end of the backend.
    """
    _require_idle(conn)
    # A plain read first: standbys poll every fraction of a second, and a lock held by a live
    # backend needs no row lock, no transaction id and no WAL to be refused.
    look = f"SELECT l.holder_pid IS NOT NULL AND {_ALIVE} FROM ops.locks l WHERE l.name = %s"
    if conn.autocommit:  # one round trip, as pg_try_advisory_lock was
        seen = conn.execute(look, (name,)).fetchone()
    else:
        with conn.transaction():
            seen = conn.execute(look, (name,)).fetchone()
    if seen is not None and seen[0]:
        return False
    with conn.transaction():
        if seen is None:
            conn.execute(
                "INSERT INTO ops.locks (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", (name,)
            )
        # Lock the row first, in a statement of its own, then look at pg_stat_activity: a
        # competitor that took the lock meanwhile has committed by the time the row lock is
        # granted, and this transaction's activity snapshot (read once, at its first use) is
        # read after that. One UPDATE doing both would read the activity before waiting for
        # the row, and might not see a competitor that connected in between.
        conn.execute("SELECT 1 FROM ops.locks WHERE name = %s FOR UPDATE", (name,))
        taken = conn.execute(
            "UPDATE ops.locks l SET holder_pid = a.pid, holder_roleid = a.usesysid,"
            " holder_started = a.backend_start, holder = %s, taken_at = clock_timestamp()"
            " FROM pg_stat_activity a WHERE a.pid = pg_backend_pid() AND l.name = %s"
            f" AND (l.holder_pid IS NULL OR NOT {_ALIVE})",
            (_label(conn), name),
        ).rowcount
    return taken == 1


def unlock(conn: psycopg.Connection[Any], name: str) -> bool:
    """Release session lock ``name`` if ``conn``'s backend holds it; True when it did.

    A live backend's pid is unique, so "the holder is my pid" is enough to tell it is ours.
    """
    _require_idle(conn)
    with conn.transaction():
        cleared = conn.execute(
            "UPDATE ops.locks SET holder_pid = NULL, holder_roleid = NULL,"
            " holder_started = NULL, holder = NULL, taken_at = NULL"
            " WHERE name = %s AND holder_pid = pg_backend_pid()",
            (name,),
        ).rowcount
    return cleared == 1


def holder(conn: psycopg.Connection[Any], name: str) -> Holder | None:
    """The live holder of session lock ``name``, or None when it is free (read-only)."""
    row = conn.execute(
        "SELECT l.holder_pid, l.holder, l.taken_at FROM ops.locks l"
        f" WHERE l.name = %s AND l.holder_pid IS NOT NULL AND {_ALIVE}",
        (name,),
    ).fetchone()
    return None if row is None else Holder(int(row[0]), row[1], row[2])


def lock_for_transaction(conn: psycopg.Connection[Any], name: str) -> None:
    """Lock ``name`` until the current transaction ends, waiting for another holder.

    The wait is bounded by the session's ``lock_timeout`` (``LockNotAvailable`` when it
    expires). ``conn`` must not be in autocommit mode: the lock would end with the statement.
    """
    if conn.autocommit:
        raise DatabaseError("a transaction lock needs a connection in transaction mode")
    conn.execute("INSERT INTO ops.locks (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", (name,))
    conn.execute("SELECT 1 FROM ops.locks WHERE name = %s FOR UPDATE", (name,))
