from __future__ import annotations

import psycopg
import pytest

from infra.db import connect, migrate
from infra.errors import MigrationError


def test_upgrade_applies_everything_then_nothing(empty_db_url: str) -> None:
    with connect(empty_db_url) as conn:
        first = [m.version for m in migrate.upgrade(conn)]
        second = [m.version for m in migrate.upgrade(conn)]
        states = {s.state for s in migrate.status(conn)}
    assert first == [m.version for m in migrate.shipped()]
    assert second == []
    assert states == {"applied"}


def test_status_before_upgrade_is_all_pending(empty_db_url: str) -> None:
    with connect(empty_db_url) as conn:
        assert {s.state for s in migrate.status(conn)} == {"pending"}


def test_edited_migration_is_detected(db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute("UPDATE ops.schema_migrations SET checksum = 'x' WHERE version = 1")
        conn.commit()
        assert migrate.status(conn)[0].state == "modified"
        with pytest.raises(MigrationError, match="changed since they ran"):
            list(migrate.upgrade(conn))


def test_failed_migration_rolls_back_and_names_itself(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = migrate.shipped()
    broken = migrate.Migration(9999, "broken", "CREATE TABLE ops.half (x int); SELECT 1/0;")
    monkeypatch.setattr(migrate, "shipped", lambda: [*real, broken])
    with connect(empty_db_url) as conn:
        with pytest.raises(MigrationError, match="9999_broken failed: division by zero"):
            list(migrate.upgrade(conn))
        assert conn.execute("SELECT to_regclass('ops.half')").fetchone() == (None,)
        states = {s.version: s.state for s in migrate.status(conn)}
    assert states[9999] == "pending"
    assert states[1] == "applied"


def test_schemas_postgis_and_roles_exist(db_url: str) -> None:
    with connect(db_url) as conn:
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
        roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles")}
        postgis = conn.execute("SELECT postgis_lib_version()").fetchone()
    assert {"params", "ops", "metrics", "costs", "reporting", "exposure"} <= schemas
    assert {"locxia_grafana", "locxia_editor"} <= roles
    assert postgis is not None


def _as(conn: psycopg.Connection[object], role: str, statement: str) -> None:
    conn.execute(f"SET ROLE {role}")
    try:
        conn.execute(statement)
    finally:
        conn.rollback()


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM params.schedules",
        "SELECT * FROM ops.runs",
        "INSERT INTO ops.runs (job_id, task, trigger) VALUES ('x', 'x', 'manual')",
        "CREATE TABLE reporting.x (i int)",
    ],
    ids=["read-params", "read-ops", "write-ops", "create-in-reporting"],
)
def test_grafana_role_cannot_leave_reporting(db_url: str, statement: str) -> None:
    with connect(db_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as(conn, "locxia_grafana", statement)


def test_grafana_role_reads_reporting_views_created_later(db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute("CREATE VIEW reporting.probe AS SELECT count(*) AS n FROM ops.runs")
        conn.commit()
        conn.execute("SET ROLE locxia_grafana")
        assert conn.execute("SELECT n FROM reporting.probe").fetchone() == (0,)


def test_editor_changes_params_but_not_history_or_ops(db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute("SET ROLE locxia_editor")
        # migrations that change shipped rows are audited too (0057, 0065): count the delta
        before = conn.execute("SELECT count(*) FROM params.history").fetchone()
        assert before is not None
        conn.execute(
            "INSERT INTO params.schedules (job, task, every_seconds) VALUES ('e.x', 'core.noop', 5)"
        )
        conn.commit()
        assert conn.execute("SELECT count(*) FROM params.history").fetchone() == (before[0] + 1,)
        conn.commit()
    with connect(db_url) as conn:
        for statement in ("DELETE FROM params.history", "SELECT * FROM ops.runs"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                _as(conn, "locxia_editor", statement)
