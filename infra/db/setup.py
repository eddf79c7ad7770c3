"""Bring a database to the shipped version: migrations, then reference data.

The single entry point used by ``locxia db upgrade``, the demo and the test harness, so all
three see the same database. Reference data (the shipped price catalog) is loaded without
overwriting rows that are already there (a refreshed price is never replaced by an older one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from infra.db import migrate


@dataclass(frozen=True)
class UpgradeReport:
    """What an upgrade did."""

    applied: tuple[migrate.Migration, ...]
    reference_rows: int


def upgrade_database(conn: psycopg.Connection[Any]) -> UpgradeReport:
    """Apply pending migrations, then load shipped reference data; idempotent.

    Raises:
        MigrationError: a migration failed (see :func:`infra.db.migrate.upgrade`).
    """
    from infra.prices import seed_shipped

    applied = tuple(migrate.upgrade(conn))
    with conn.transaction():
        rows = seed_shipped(conn)
    conn.commit()
    return UpgradeReport(applied, rows)
