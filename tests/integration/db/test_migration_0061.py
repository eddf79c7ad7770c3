"""Migration 0061: rejections carry their step and reason; older rejections get refine's."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

from infra.db import connect, migrate


def _version(conn: psycopg.Connection[object], status: str, quality: object) -> None:
    sha = ("a" if status == "rejected" else "b") * 64
    conn.execute(
        "INSERT INTO ops.dataset_versions (dataset, zone, uri, fingerprint, checksum, status,"
        " quality) VALUES ('roads', 'landing', 'file:///r.gpkg', %s, %s, %s, %s)",
        (sha, sha, status, Jsonb(quality)),
    )


def test_earlier_rejections_get_refines_reason_and_the_rule_holds(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = migrate.shipped()
    monkeypatch.setattr(migrate, "shipped", lambda: [m for m in real if m.version < 61])
    with connect(empty_db_url) as conn:
        list(migrate.upgrade(conn))
        checks = [
            {"rule": "rows", "passed": True, "detail": "3 rows"},
            {"rule": "crs", "passed": False, "detail": "the layer has no CRS"},
            {"rule": "bounds", "passed": False, "detail": "2 outside\n[0, 0]"},
        ]
        _version(conn, "rejected", {"passed": False, "checks": checks})
        _version(conn, "refined", {"passed": True, "checks": checks[:1]})
        conn.commit()
        monkeypatch.setattr(migrate, "shipped", lambda: real)
        assert [m.version for m in migrate.upgrade(conn)] == [
            m.version for m in real if m.version >= 61
        ]
        rows = conn.execute(
            "SELECT status, rejected_by, reason FROM ops.dataset_versions ORDER BY id"
        ).fetchall()
        assert rows == [
            ("rejected", "refine", "crs: the layer has no CRS; bounds: 2 outside [0, 0]"),
            ("refined", None, None),
        ]
        with pytest.raises(psycopg.errors.CheckViolation):  # a rejection without its reason
            conn.execute("UPDATE ops.dataset_versions SET status = 'rejected' WHERE id = 2")
        conn.rollback()
        with pytest.raises(psycopg.errors.CheckViolation):  # a reason is one line
            conn.execute(
                "UPDATE ops.dataset_versions SET reason = E'a\\nb' WHERE status = 'rejected'"
            )
        conn.rollback()
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "UPDATE ops.dataset_versions SET rejected_by = 'serve' WHERE status = 'rejected'"
            )
        conn.rollback()
        seen = conn.execute(
            "SELECT rejected_by, reason FROM reporting.dataset_versions WHERE version_id = 1"
        ).fetchone()
    assert seen == rows[0][1:]
