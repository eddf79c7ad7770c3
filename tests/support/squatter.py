"""A login outside the service's role that holds every lock it can (issue 12, point 2).

Until migration 0050 every exclusion was a PostgreSQL advisory lock, which any login may take
with no privilege: the read-only Grafana login could hold the leader's key and no service would
ever lead. :func:`squatting` logs in as a member of ``locxia_grafana``, holds each key those
locks used (the constants below are the keys the code used, kept here to replay the attack),
and tries the new mechanism too, asserting that every attempt is refused.

``PGOPTIONS`` bounds every lock wait of the code under test while squatting, so a lock the
squatter still manages to hold fails the test in seconds instead of hanging it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from infra.db import connect, locks

PASSWORD = "squatter-pw"

# The advisory keys of the code before migration 0050.
LEADER_KEY = 0x6C6F6378_6C656164
SHAPE_KEY = 0x6C6F6378_73686170
MIGRATION_KEY = 0x6C6F6378_6D696772


def collect_key(policy: str) -> int:
    """The key a policy's collection used."""
    return 0x6C6F_6378_0000_0000 | zlib.crc32(f"collect:{policy}".encode())


# The new mechanism's ways in, each of which a foreign login must be refused.
ATTEMPTS = [
    "SELECT * FROM ops.locks FOR UPDATE",
    "SELECT * FROM ops.locks FOR NO KEY UPDATE NOWAIT",
    "SELECT * FROM ops.locks FOR SHARE",
    "UPDATE ops.locks SET holder_pid = pg_backend_pid()",
    "UPDATE ops.locks SET holder_pid = NULL, holder_roleid = NULL, holder_started = NULL",
    "DELETE FROM ops.locks",
    "INSERT INTO ops.locks (name) VALUES ('leader2')",
    "TRUNCATE ops.locks",
    "LOCK TABLE ops.locks IN ACCESS EXCLUSIVE MODE",
    "LOCK TABLE ops.locks IN ACCESS SHARE MODE",
    "LOCK TABLE ops.schema_migrations IN SHARE ROW EXCLUSIVE MODE",
    "LOCK TABLE ops.schema_migrations IN ACCESS SHARE MODE",
]


def login(admin_url: str, db_url: str, group: str) -> str:
    """URL of ``db_url``'s database as a login that is a member of ``group`` and nothing else."""
    role = f"locxia_test_{group.removeprefix('locxia_')}_login"
    with connect(admin_url, autocommit=True) as conn:
        for name, options in ((group, sql.SQL("NOLOGIN")), (role, sql.SQL("LOGIN"))):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
                try:
                    conn.execute(sql.SQL("CREATE ROLE {} {}").format(sql.Identifier(name), options))
                except psycopg.errors.DuplicateObject:
                    pass  # another test created it meanwhile
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(PASSWORD))
        )
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(role)))
    parts = urlsplit(db_url)
    netloc = f"{role}:{PASSWORD}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class Squatter:
    """The foreign session: what it holds and what it was refused."""

    conn: psycopg.Connection[Any]
    held: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def hold(self, label: str, key_sql: str, *args: Any) -> None:
        """Take advisory key ``key_sql`` for the session; it must be free (nobody else uses it)."""
        row = self.conn.execute(f"SELECT pg_try_advisory_lock({key_sql})", args).fetchone()
        assert row is not None and row[0], f"{label}: the advisory key was already taken"
        self.held.append(label)

    def attempt(self, statement: str) -> None:
        """Run ``statement`` in a transaction; it must be refused for lack of privilege."""
        try:
            self.conn.execute("BEGIN")
            self.conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            self.refused.append(statement)
            self.conn.execute("ROLLBACK")
            return
        raise AssertionError(f"a foreign login was allowed: {statement}")

    def try_mechanism(self, name: str) -> None:
        """The lock functions themselves, run by the foreign login, must fail."""
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            locks.try_lock(self.conn, name)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            locks.unlock(self.conn, name)
        self.refused.append(f"try_lock/unlock {name}")


@contextmanager
def squatting(
    admin_url: str,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    policies: Iterable[str] = (),
    datasets: Iterable[str] = (),
    days: Iterable[date] = (),
    lock_timeout: str = "5s",
    probe: bool = True,
) -> Iterator[Squatter]:
    """Hold, as a Grafana login, every old key (leader, shape, migration, and the given
    policies', datasets' and partition days'), after trying the new mechanism (``probe``;
    off for a database that has no table yet)."""
    monkeypatch.setenv("PGOPTIONS", f"-c lock_timeout={lock_timeout}")
    url = login(admin_url, db_url, "locxia_grafana")
    with connect(url, autocommit=True, application_name="squatter") as conn:
        squatter = Squatter(conn)
        for statement in ATTEMPTS if probe else ():
            squatter.attempt(statement)
        for name in (locks.LEADER, locks.SHAPE, locks.PARTITIONS) if probe else ():
            squatter.try_mechanism(name)
        squatter.hold("leader", "%s", LEADER_KEY)
        squatter.hold("shape", "%s", SHAPE_KEY)
        squatter.hold("migration", "%s", MIGRATION_KEY)
        for policy in policies:
            if probe:
                squatter.try_mechanism(f"collect:{policy}")
            squatter.hold(f"collect:{policy}", "%s", collect_key(policy))
        for dataset in datasets:
            if probe:
                squatter.try_mechanism(f"publish:{dataset}")
            squatter.hold(
                f"publish:{dataset}", "hashtextextended(%s, 0)", f"locxia:publish:{dataset}"
            )
        for day in days:
            part = f"metrics.datapoints_{day:%Y%m%d}"
            squatter.hold(part, "hashtext(%s)", part)
        yield squatter
