"""Publishing: atomic swap, rollback, staging hygiene, and DB → DB transfer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pyarrow as pa
import pytest

from infra.db import connect
from infra.errors import InputError, PublishError
from infra.settings import Settings
from pipelines.feed import catalog, transfer
from pipelines.feed.ingest import ingest
from pipelines.feed.publish import publish, rollback
from pipelines.feed.refine import refine
from tests.support import formats, pg


def feed(conn: psycopg.Connection[Any], settings: Settings, table: pa.Table, folder: Path) -> int:
    folder.mkdir()
    path, layer = formats.flatgeobuf(table, folder)
    ingest(conn, settings, "roofs", str(path), layer)
    refine(conn, settings, "roofs")
    return publish(conn, settings, "roofs").version.id


def live_ids(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    row = conn.execute("SELECT min(id), count(*) FROM exposure.roofs").fetchone()
    conn.rollback()
    assert row is not None
    return int(row[0]), int(row[1])


def test_second_publish_keeps_previous_and_rollback_swaps_back_and_forth(
    canonical: pa.Table, conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    first = feed(conn, settings, canonical.slice(0, 100), tmp_path / "a")
    second = feed(conn, settings, canonical.slice(100, 50), tmp_path / "b")
    assert live_ids(conn) == (101, 50)
    statuses = {v.id: v.status for v in catalog.versions(conn, "roofs") if v.zone == "exposure"}
    assert statuses == {first: "previous", second: "published"}
    kept = conn.execute("SELECT count(*) FROM exposure_previous.roofs").fetchone()
    assert kept is not None and kept[0] == 100

    assert rollback(conn, settings, "roofs").id == first
    assert live_ids(conn) == (1, 100)
    assert rollback(conn, settings, "roofs").id == second  # rolls forward again
    assert live_ids(conn) == (101, 50)
    steps = [e["step"] for e in catalog.lineage(conn, "roofs")]
    assert steps.count("rollback") == 2

    # the live table has its indexes and statistics
    indexes = conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'exposure' AND tablename = 'roofs'"
    ).fetchall()
    assert any("gist (geom)" in i[0] for i in indexes)
    assert any("(fid)" in i[0] for i in indexes)


def test_rollback_without_previous_is_refused(
    canonical: pa.Table, conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(PublishError, match="no previous version"):
        rollback(conn, settings, "roofs")
    feed(conn, settings, canonical.slice(0, 10), tmp_path / "a")
    with pytest.raises(PublishError, match="no previous version"):
        rollback(conn, settings, "roofs")


def test_failed_load_leaves_live_table_and_no_staging(
    canonical: pa.Table,
    conn: psycopg.Connection[Any],
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    feed(conn, settings, canonical.slice(0, 20), tmp_path / "a")
    (tmp_path / "b").mkdir()
    path, _ = formats.flatgeobuf(canonical.slice(20, 20), tmp_path / "b")
    ingest(conn, settings, "roofs", str(path))
    refine(conn, settings, "roofs")
    # a reader holding the live table too long makes the swap time out: nothing changes
    blocker = connect(settings.require_database_url())
    blocker.execute("LOCK TABLE exposure.roofs IN ACCESS SHARE MODE")
    monkeypatch.setattr("pipelines.feed.publish.LOCK_TIMEOUT", "200ms")
    try:
        with pytest.raises(PublishError, match="exposure unchanged"):
            publish(conn, settings, "roofs")
    finally:
        blocker.close()
    assert live_ids(conn) == (1, 20)
    staging = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'exposure_staging'")
    assert staging.fetchone() == (0,)
    conn.rollback()
    assert publish(conn, settings, "roofs").noop is False
    assert live_ids(conn) == (21, 20)


def test_nothing_to_publish(conn: psycopg.Connection[Any], settings: Settings) -> None:
    with pytest.raises(InputError, match="nothing in working"):
        publish(conn, settings, "roofs")


@pytest.fixture
def other_db(admin_url: str, template_url: str) -> Iterator[str]:
    url = pg.create_db(admin_url, "locxia_o", template=urlsplit(template_url).path[1:])
    yield url
    pg.drop_db(admin_url, url)


def test_transfer_table_between_databases(
    canonical: pa.Table,
    conn: psycopg.Connection[Any],
    settings: Settings,
    tmp_path: Path,
    other_db: str,
) -> None:
    feed(conn, settings, canonical, tmp_path / "a")
    source = settings.require_database_url()
    moved = transfer.copy_table(source, other_db, "exposure.roofs", "public.roofs_copy")
    assert moved.rows == len(canonical)
    with connect(other_db) as target:
        same = target.execute(
            "SELECT count(*), sum(ST_Area(geom))::numeric(20,3) FROM public.roofs_copy"
        ).fetchone()
        indexes = target.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'roofs_copy'"
        ).fetchall()
    original = conn.execute(
        "SELECT count(*), sum(ST_Area(geom))::numeric(20,3) FROM exposure.roofs"
    ).fetchone()
    assert same == original
    assert any("gist" in i[0] for i in indexes) and any("pkey" in i[0] for i in indexes)
    with pytest.raises(InputError, match="exists in the target"):
        transfer.copy_table(source, other_db, "exposure.roofs", "public.roofs_copy")
    again = transfer.copy_table(
        source, other_db, "exposure.roofs", "public.roofs_copy", replace=True
    )
    assert again.rows == len(canonical)
    with pytest.raises(InputError, match="no table"):
        transfer.copy_table(source, other_db, "exposure.nope")
    with pytest.raises(InputError, match="schema.table"):
        transfer.copy_table(source, other_db, "exposure.roofs; drop table x")


def test_a_grafana_login_holding_the_old_key_cannot_stop_a_publish(
    canonical: pa.Table,
    conn: psycopg.Connection[Any],
    settings: Settings,
    tmp_path: Path,
    admin_url: str,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 12: `pg_advisory_lock(hashtextextended('locxia:publish:roofs', 0))` as Grafana."""
    from tests.support.squatter import squatting

    monkeypatch.setattr("pipelines.feed.publish.LOCK_TIMEOUT", "2s")
    with squatting(admin_url, db_url, monkeypatch, datasets=["roofs"]) as foreign:
        assert "publish:roofs" in foreign.held
        first = feed(conn, settings, canonical.slice(0, 30), tmp_path / "a")
        feed(conn, settings, canonical.slice(30, 10), tmp_path / "b")
        assert live_ids(conn) == (31, 10)
        assert rollback(conn, settings, "roofs").id == first
        assert live_ids(conn) == (1, 30)
