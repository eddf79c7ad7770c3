"""Bring a database to the shipped version: migrations, then reference data.

The single entry point used by ``locxia db upgrade``, the demo and the test harness, so all
three see the same database. Reference data (the shipped price catalog) is loaded without
overwriting rows that are already there (a refreshed price is never replaced by an older one).
The catalog of schedulable tasks (``ops.schedulable_tasks``, read by the database's check of
``params.schedules``) is made to match the installed plugins.
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
    schedulable_tasks: int = 0


def upgrade_database(conn: psycopg.Connection[Any]) -> UpgradeReport:
    """Apply pending migrations, then load shipped reference data; idempotent.

    Raises:
        MigrationError: a migration failed (see :func:`infra.db.migrate.upgrade`).
    """
    from infra.jobs.registry import Registry
    from infra.prices import seed_shipped

    applied = tuple(migrate.upgrade(conn))
    registry = Registry.from_entry_points()
    with conn.transaction():
        rows = seed_shipped(conn)
        schedulable = registry.sync_catalog(conn)
    conn.commit()
    return UpgradeReport(applied, rows, schedulable)
