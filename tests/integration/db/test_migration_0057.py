"""Migration 0057 rewrites pinned minor engine versions to their major, audited."""

from __future__ import annotations

import pytest

from infra.db import connect, migrate


def test_existing_minor_versions_become_their_major(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = migrate.shipped()
    monkeypatch.setattr(migrate, "shipped", lambda: [m for m in real if m.version < 57])
    with connect(empty_db_url) as conn:
        list(migrate.upgrade(conn))
        conn.execute(
            "INSERT INTO costs.prices (region, service, item, variant, unit, usd, source,"
            " effective_date) VALUES ('eu-west-3', 'rds', 'db.t4g.large', 'postgres', 'hour',"
            " 0.15, 'test', '2026-01-01')"
        )
        conn.execute(
            "INSERT INTO params.instances (name, kind, instance_class, storage_gb, engine,"
            " engine_version) VALUES ('work-db', 'rds', 'db.t4g.large', 100, 'postgres', '16.4'),"
            " ('old-db', 'rds', 'db.t4g.large', 100, 'postgres', '15')"
        )
        conn.commit()
        monkeypatch.setattr(migrate, "shipped", lambda: real)
        assert [m.version for m in migrate.upgrade(conn)] == [
            m.version for m in real if m.version >= 57
        ]
        rows = conn.execute(
            "SELECT name, engine_version FROM params.instances ORDER BY name"
        ).fetchall()
        audited = conn.execute(
            "SELECT row_key, changed_by FROM params.history WHERE op = 'UPDATE'"
            " AND table_name = 'instances'"
        ).fetchall()
    assert rows == [("old-db", "15"), ("work-db", "16")]
    assert audited == [("work-db", "migration 0057 (engine_version: major only)")]
