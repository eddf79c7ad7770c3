"""Real PostgreSQL + PostGIS for tests: a server, a migrated template, a database per test.

``LOCXIA_TEST_DATABASE_URL`` (any database on a server where we may CREATE DATABASE) is used
when set; otherwise a throwaway cluster is started from the machine's PostgreSQL binaries and
destroyed at the end. Each test gets a fresh database cloned from a migrated template
(``CREATE DATABASE ... TEMPLATE``), which costs tens of milliseconds instead of a migration.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from psycopg import sql

from infra.db import connect
from infra.db.localcluster import LocalCluster
from infra.db.setup import upgrade_database

TEST_URL_ENV = "LOCXIA_TEST_DATABASE_URL"


def with_dbname(url: str, name: str) -> str:
    """``url`` pointing at database ``name``."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextmanager
def server() -> Iterator[str]:
    """Yield an admin URL of a server where databases may be created."""
    url = os.environ.get(TEST_URL_ENV)
    if url:
        yield url
        return
    cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="locxia-pg-")), fast=True)
    try:
        yield cluster.ensure_running()
    finally:
        cluster.destroy()


def create_db(admin_url: str, prefix: str, template: str | None = None) -> str:
    """Create a uniquely named database; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        stmt = sql.SQL("{} TEMPLATE {}").format(stmt, sql.Identifier(template))
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(stmt)
    return with_dbname(admin_url, name)


def drop_db(admin_url: str, url: str) -> None:
    """Drop the database of ``url``, disconnecting whoever is still in it."""
    name = urlsplit(url).path.lstrip("/")
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def migrated_template(admin_url: str) -> str:
    """Create and migrate a template database; return its URL."""
    url = create_db(admin_url, "locxia_tpl")
    with connect(url) as conn:
        upgrade_database(conn)
    return url


def server_versions(url: str) -> str:
    """PostgreSQL and PostGIS versions, for the pytest header."""
    with connect(url) as conn:
        pg = conn.execute("SHOW server_version").fetchone()
        gis = conn.execute(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'"
        ).fetchone()
    return f"PostgreSQL {pg[0] if pg else '?'}, PostGIS {gis[0] if gis else 'not installed'}"


def login_in_role(admin_url: str, db_url: str, login: str, role: str) -> str:
    """``db_url`` as ``login``, a LOGIN role granted only ``role`` (created when missing).

    Roles are cluster-wide: the login is created once and kept, like the roles of 0001.
    """
    with connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,)).fetchone():
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
                    sql.Identifier(login), sql.Identifier(role)
                )
            )
    parts = urlsplit(db_url)
    return urlunsplit(parts._replace(netloc=f"{login}@{parts.hostname}:{parts.port}"))
