"""Below the CLI: an empty or blank instance name raises, it never selects every row.

``store.set_instance(conn, "", ...)`` used to read ``WHERE name = %s`` only ``if name``: it
loaded every row, took the alphabetically first one as "the row before" and wrote the change
to it, so a caller with an empty name resized an unrelated instance.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from infra.db import connect
from infra.errors import InputError
from infra.prices import PriceCatalog
from infra.settings import Settings
from pipelines.shape import store

NOON = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
ROW = {
    "kind": "rds",
    "instance_class": "db.t4g.large",
    "storage_gb": "100",
    "engine": "postgres",
    "engine_version": "16",
}


def _rows(url: str) -> list[tuple[Any, ...]]:
    with connect(url) as conn:
        return conn.execute("SELECT * FROM params.instances ORDER BY name").fetchall()


def _history(url: str) -> int:
    with connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM params.history").fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize("name", ["", "  ", "\t"], ids=["empty", "spaces", "tab"])
def test_a_blank_name_changes_no_instance(settings: Settings, name: str) -> None:
    url = settings.require_database_url()
    with connect(url) as conn:
        catalog = PriceCatalog.load(conn, settings.aws_region)
        conn.rollback()
        for existing in ("aaa-db", "work-db"):
            store.set_instance(conn, existing, ROW, actor="t", catalog=catalog, now=NOON)
    before, audited = _rows(url), _history(url)
    with connect(url) as conn:
        with pytest.raises(InputError, match=r"the instance name is (empty|blank)"):
            store.set_instance(
                conn,
                name,
                {"instance_class": "db.r6g.2xlarge"},
                actor="t",
                catalog=catalog,
                now=NOON,
            )
        with pytest.raises(InputError, match="instance name is"):
            store.load_rows(conn, name)
        with pytest.raises(InputError, match="instance name is"):
            store.history(conn, name)
        with pytest.raises(InputError, match="instance name is"):
            store.revert(conn, name, None, actor="t", catalog=catalog, now=NOON)
        assert [r["name"] for r in store.load_rows(conn)] == ["aaa-db", "work-db"]
    assert _rows(url) == before and _history(url) == audited
