"""Versioned schema migrations: plain SQL files applied in order, each in its own transaction.

Files live in ``infra/db/migrations`` and are named ``NNNN_what.sql``; the number is the
version. Applied versions are recorded in ``ops.schema_migrations`` with a SHA-256 of the file,
so editing a migration that already ran is detected instead of silently diverging. Two
services starting at once do not race each other's DDL: each migration's transaction first
locks the ledger table (``SHARE ROW EXCLUSIVE``, which conflicts with itself) and applies the
migration only if the ledger does not list it yet. Only a login that may write the ledger can
take that lock, so no other login can stall an upgrade (an advisory lock, which any login may
hold, could); it also works on an empty database, where the ledger is created first.

Version numbers are unique, not necessarily contiguous; a pending version lower than an
applied one (two branches merged) is applied like any other pending one.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, Literal

import psycopg

from infra.errors import MigrationError

# LOCK TABLE in any mode stronger than ROW EXCLUSIVE "requires table-level UPDATE, DELETE, or
# TRUNCATE privileges" (https://www.postgresql.org/docs/15/sql-lock.html): the ledger's owner.
_LEDGER_LOCK = "LOCK TABLE ops.schema_migrations IN SHARE ROW EXCLUSIVE MODE"
_LEDGER_ATTEMPTS = 5
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

State = Literal["applied", "pending", "modified", "unknown"]


@dataclass(frozen=True)
class Migration:
    """One shipped migration file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the SQL text: what was applied must still be what is shipped."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class MigrationStatus:
    """A migration as seen from both sides: shipped files and the database's record."""

    version: int
    name: str
    state: State
    applied_at: datetime | None


def shipped() -> list[Migration]:
    """Every migration shipped with the package, ordered by version.

    Raises:
        MigrationError: a file is misnamed or two files share a version.
    """
    found: dict[int, Migration] = {}
    for entry in resources.files("infra.db").joinpath("migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations share version {version:04d}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def _ensure_ledger(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS ops")
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS ops.schema_migrations (
            version     integer PRIMARY KEY,
            name        text NOT NULL,
            checksum    text NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now(),
            applied_by  text NOT NULL DEFAULT session_user,
            duration_ms integer NOT NULL
        )
        """
    )


def _applied(conn: psycopg.Connection[Any]) -> dict[int, tuple[str, str, datetime]]:
    exists = conn.execute("SELECT to_regclass('ops.schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute(
        "SELECT version, name, checksum, applied_at FROM ops.schema_migrations"
    ).fetchall()
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


def status(conn: psycopg.Connection[Any]) -> list[MigrationStatus]:
    """Compare shipped migrations with the database's ledger (read-only)."""
    applied = _applied(conn)
    conn.rollback()
    result: list[MigrationStatus] = []
    for mig in shipped():
        if mig.version not in applied:
            result.append(MigrationStatus(mig.version, mig.name, "pending", None))
            continue
        _, checksum, at = applied.pop(mig.version)
        state: State = "applied" if checksum == mig.checksum else "modified"
        result.append(MigrationStatus(mig.version, mig.name, state, at))
    for version, (name, _, at) in sorted(applied.items()):
        result.append(MigrationStatus(version, name, "unknown", at))
    return sorted(result, key=lambda s: s.version)


def _check_history(statuses: list[MigrationStatus]) -> None:
    modified = [s for s in statuses if s.state == "modified"]
    if modified:
        names = ", ".join(f"{s.version:04d}_{s.name}" for s in modified)
        raise MigrationError(
            f"applied migration(s) {names} changed since they ran; "
            "ship a new migration instead of editing an old one"
        )


def upgrade(conn: psycopg.Connection[Any]) -> Iterator[Migration]:
    """Apply every pending migration, yielding each one once it is committed.

    Idempotent: with nothing pending it yields nothing and changes nothing.

    Raises:
        MigrationError: a migration failed (its transaction is rolled back, later ones are not
            attempted) or an applied migration was edited after it ran.
    """
    if conn.autocommit:
        raise MigrationError("upgrade needs a connection in transaction mode")
    conn.commit()
    _create_ledger(conn)
    statuses = status(conn)
    _check_history(statuses)
    pending = {s.version for s in statuses if s.state == "pending"}
    for mig in shipped():
        if mig.version in pending and _apply(conn, mig):
            yield mig


def _create_ledger(conn: psycopg.Connection[Any]) -> None:
    """Create schema ``ops`` and the ledger if missing, committed, before anything is locked.

    Two upgrades of an empty database may both try: ``IF NOT EXISTS`` does not make
    concurrent creation safe (the loser fails on a catalog unique index), so the loser tries
    again and then finds the winner's.
    """
    for attempt in range(_LEDGER_ATTEMPTS):
        try:
            with conn.transaction():
                found = conn.execute("SELECT to_regclass('ops.schema_migrations')").fetchone()
                if found is None or found[0] is None:
                    _ensure_ledger(conn)
            return
        except (
            psycopg.errors.UniqueViolation,
            psycopg.errors.DuplicateSchema,
            psycopg.errors.DuplicateTable,
        ) as exc:
            if attempt == _LEDGER_ATTEMPTS - 1:
                raise MigrationError(f"cannot create the migration ledger: {exc}") from exc
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise MigrationError(f"cannot create the migration ledger: {first}") from exc


def _apply(conn: psycopg.Connection[Any], mig: Migration) -> bool:
    """Apply ``mig`` unless another upgrade did meanwhile; True when this call applied it."""
    started = time.perf_counter()
    try:
        with conn.transaction():
            conn.execute(_LEDGER_LOCK)
            done = conn.execute(
                "SELECT 1 FROM ops.schema_migrations WHERE version = %s", (mig.version,)
            ).fetchone()
            if done is not None:
                return False
            conn.execute(mig.sql.encode())  # bytes: no %-placeholder parsing in plain DDL
            conn.execute(
                "INSERT INTO ops.schema_migrations (version, name, checksum, duration_ms)"
                " VALUES (%s, %s, %s, %s)",
                (mig.version, mig.name, mig.checksum, int((time.perf_counter() - started) * 1000)),
            )
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise MigrationError(f"migration {mig.version:04d}_{mig.name} failed: {first}") from exc
    return True
