"""Partitioned publish on the Dask cluster: same table as in process, every row exactly once."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest

from infra.errors import PublishError
from infra.settings import Settings
from pipelines.feed import catalog, publish_parts
from pipelines.feed.ingest import ingest
from pipelines.feed.partset import read_manifest
from pipelines.feed.publish import STAGING, create_table, loaded_columns, publish, rollback
from pipelines.feed.refine import refine
from pipelines.feed.zones import zone
from tests.support import formats, geodata, partsets

ROWS = 2_000
PREFIX = "roofs/partitioned/"


def table_facts(conn: psycopg.Connection[Any], qualified: str) -> dict[str, Any]:
    """What must match between two loads of the same rows: counts, area, checksum, indexes."""
    schema, table = qualified.split(".")
    facts = conn.execute(
        f"SELECT count(*), count(DISTINCT fid), sum(ST_Area(geom))::numeric(24,3),"  # noqa: S608
        f" md5(string_agg(t::text, '|' ORDER BY fid)) FROM {qualified} t"
    ).fetchone()
    columns = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (qualified,),
    ).fetchall()
    indexes = conn.execute(
        "SELECT regexp_replace(indexdef, 'exposure_v[0-9]+_', 'exposure_vN_', 'g')"
        " FROM pg_indexes WHERE schemaname = %s AND tablename = %s ORDER BY 1",
        (schema, table),
    ).fetchall()
    conn.rollback()
    assert facts is not None
    return {
        "rows": facts[0],
        "distinct_fid": facts[1],
        "area": facts[2],
        "checksum": facts[3],
        "columns": columns,
        "indexes": [
            i[0].replace(f"{schema}.", "S.").replace(f"ON {schema}", "ON S") for i in indexes
        ],
    }


def ledger_rows(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM ops.publish_parts").fetchone()
    conn.rollback()
    assert row is not None
    return int(row[0])


def staging_tables(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'exposure_staging'"
    ).fetchall()
    conn.rollback()
    return [r[0] for r in rows]


@pytest.fixture
def refined(
    conn: psycopg.Connection[Any], zone_settings: Settings, tmp_path: Path
) -> Iterator[tuple[Settings, catalog.Version]]:
    """``roofs`` refined in process (2,000 footprints, some repaired), and its settings."""
    folder = tmp_path / "src"
    folder.mkdir()
    path, layer = formats.flatgeobuf(geodata.layer_table(ROWS, seed=17, invalid_share=0.03), folder)
    ingest(conn, zone_settings, "roofs", str(path), layer)
    working = refine(conn, zone_settings, "roofs").version
    yield zone_settings, working


def partitioned_copy(
    conn: psycopg.Connection[Any],
    settings: Settings,
    working: catalog.Version,
    scratch: Path,
    parts: int = 5,
) -> tuple[catalog.Version, dict[str, Any]]:
    """The same rows as ``working``, as a partitioned working version of ``parts`` parts."""
    scratch.mkdir()
    local = zone(settings, "working").fetch(working.key, scratch)
    manifest = partsets.split(settings, local, PREFIX, parts, scratch / "parts")
    return partsets.register(conn, settings, "roofs", PREFIX, manifest, like=working), manifest


def test_partitioned_publish_builds_the_same_table_and_rolls_back(
    conn: psycopg.Connection[Any], refined: tuple[Settings, catalog.Version], tmp_path: Path
) -> None:
    settings, working = refined
    in_process = publish(conn, settings, "roofs").version
    assert in_process.provenance.get("layout") is None
    split, _ = partitioned_copy(conn, settings, working, tmp_path / "copy")

    outcome = publish(conn, settings, "roofs", version_id=split.id)

    assert outcome.noop is False
    assert outcome.version.parent_id == split.id and outcome.version.rows == ROWS
    assert outcome.version.provenance["layout"] == "partitioned"
    assert outcome.version.provenance["parts"] == 5
    live, before = table_facts(conn, "exposure.roofs"), table_facts(conn, "exposure_previous.roofs")
    assert live == before
    assert live["rows"] == live["distinct_fid"] == ROWS
    assert any("USING gist (geom)" in i for i in live["indexes"])
    assert any("UNIQUE INDEX" in i and "(fid)" in i for i in live["indexes"])
    assert ledger_rows(conn) == 0 and staging_tables(conn) == []
    assert publish(conn, settings, "roofs", version_id=split.id).noop is True

    assert rollback(conn, settings, "roofs").id == in_process.id
    assert table_facts(conn, "exposure.roofs") == before
    assert rollback(conn, settings, "roofs").id == outcome.version.id


def test_a_part_already_in_the_ledger_is_not_copied_again(
    conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    """A publish killed after some parts committed: a re-run copies only the others."""
    source = partsets.synthetic_working(tmp_path / "w.parquet", 30_000)
    manifest = partsets.split(settings, source, PREFIX, 3, tmp_path / "parts")
    version = partsets.register(conn, settings, "roofs", PREFIX, manifest)
    staged = f"roofs__v{version.id}"
    plan = read_manifest(zone(settings, "working"), PREFIX)
    arrow = pq.read_schema(zone(settings, "working").fetch(plan.full_key(plan.parts[0]), tmp_path))
    types = ["Polygon"]
    assert publish_parts.staging_ready(
        settings, STAGING, staged, lambda c: create_table(c, arrow, STAGING, staged, types)
    )
    job = publish_parts.PartJob(
        settings, PREFIX, plan.parts[0], STAGING, staged, tuple(loaded_columns(arrow))
    )
    first = publish_parts.copy_part(job)
    again = publish_parts.copy_part(job)  # Dask running the task a second time
    assert (first.copied, first.rows, first.error) == (True, 10_000, None)
    assert (again.copied, again.error) == (False, None)
    copied = conn.execute(f"SELECT count(*) FROM {STAGING}.{staged}").fetchone()  # noqa: S608
    when = conn.execute("SELECT copied_at FROM ops.publish_parts").fetchall()
    conn.rollback()
    assert copied == (10_000,) and len(when) == 1

    # the service died here; the next publish keeps the staging table and resumes
    assert not publish_parts.staging_ready(settings, STAGING, staged, lambda c: None)
    publish(conn, settings, "roofs")
    facts = table_facts(conn, "exposure.roofs")
    assert facts["rows"] == facts["distinct_fid"] == 30_000
    assert ledger_rows(conn) == 0 and staging_tables(conn) == []


@pytest.mark.parametrize("fault", ["garbage", "checksum"], ids=["unreadable", "sha-mismatch"])
def test_a_failing_part_leaves_exposure_and_no_staging(
    conn: psycopg.Connection[Any],
    refined: tuple[Settings, catalog.Version],
    tmp_path: Path,
    fault: str,
) -> None:
    settings, working = refined
    publish(conn, settings, "roofs")
    before = table_facts(conn, "exposure.roofs")
    split, manifest = partitioned_copy(conn, settings, working, tmp_path / "copy", parts=6)
    bad = manifest["parts"][3]
    local = tmp_path / "bad.parquet"
    local.write_bytes(b"PAR1 not a parquet file at all PAR1")
    zone(settings, "working").put_file(local, PREFIX + bad["key"])
    if fault == "garbage":  # the manifest agrees with the broken bytes: the read fails
        bad["sha256"] = hashlib.sha256(local.read_bytes()).hexdigest()
        partsets.write_manifest(settings, PREFIX, manifest, tmp_path / "m")

    with pytest.raises(PublishError) as err:
        publish(conn, settings, "roofs", version_id=split.id)

    message = str(err.value)
    assert "\n" not in message and "exposure unchanged" in message and bad["key"] in message
    assert ("cannot be loaded" if fault == "garbage" else "SHA-256") in message
    assert table_facts(conn, "exposure.roofs") == before
    assert staging_tables(conn) == [] and ledger_rows(conn) == 0
    rejected = catalog.get(conn, split.id)
    conn.rollback()
    assert rejected is not None and rejected.status == "rejected"
    assert rejected.rejected_by == "publish"


@pytest.mark.slow
def test_a_worker_killed_mid_publish_leaves_every_row_exactly_once(
    conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    from distributed import Client, LocalCluster

    rows, parts = 240_000, 12
    source = partsets.synthetic_working(tmp_path / "w.parquet", rows)
    manifest = partsets.split(settings, source, PREFIX, parts, tmp_path / "parts")
    partsets.register(conn, settings, "roofs", PREFIX, manifest)
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        Client(cluster) as client,
    ):
        workers = set(client.run(os.getpid).values())
        named = settings.model_copy(update={"dask_scheduler": cluster.scheduler_address})
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["version"] = publish(conn, named, "roofs").version
            except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
                outcome["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        victim = copying_worker(settings, workers)
        os.kill(victim, signal.SIGKILL)
        thread.join(timeout=300)
        assert not thread.is_alive()
        assert "error" not in outcome, outcome.get("error")
        survivors = set(client.run(os.getpid).values())
    assert victim not in survivors
    facts = table_facts(conn, "exposure.roofs")
    assert facts["rows"] == facts["distinct_fid"] == rows
    fids = conn.execute("SELECT min(fid), max(fid) FROM exposure.roofs").fetchone()
    conn.rollback()
    assert fids == (1, rows)
    assert outcome["version"].rows == rows
    assert ledger_rows(conn) == 0 and staging_tables(conn) == []


def copying_worker(settings: Settings, workers: set[int], timeout_s: float = 60) -> int:
    """The pid of a Dask worker caught mid-COPY (its connection's application name says it).

    Waits until at least one part has committed, so the kill lands between parts done and
    parts to do.
    """
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(settings.require_database_url(), autocommit=True) as watch:
        while time.monotonic() < deadline:
            done = watch.execute("SELECT count(*) FROM ops.publish_parts").fetchone()
            active = watch.execute(
                "SELECT application_name FROM pg_stat_activity WHERE state = 'active'"
                " AND query LIKE 'COPY%%' AND application_name LIKE %s",
                (f"{publish_parts.APPLICATION}:%",),
            ).fetchall()
            if done and done[0] >= 1 and active:
                pid = int(active[0][0].rsplit(":", 1)[1])
                assert pid in workers
                return pid
            time.sleep(0.005)
    raise AssertionError("no worker was seen copying a part")


def test_an_unreachable_scheduler_fails_cleanly_without_rejecting_the_version(
    conn: psycopg.Connection[Any],
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not the part's fault: one line, no staging, no ledger, the version stays ready."""
    source = partsets.synthetic_working(tmp_path / "w.parquet", 3_000)
    manifest = partsets.split(settings, source, PREFIX, 2, tmp_path / "parts")
    version = partsets.register(conn, settings, "roofs", PREFIX, manifest)
    monkeypatch.setattr("infra.cluster.CONNECT_TIMEOUT_S", 1)
    nowhere = settings.model_copy(update={"dask_scheduler": "tcp://127.0.0.1:9"})

    with pytest.raises(PublishError, match="exposure unchanged: cannot reach the Dask scheduler"):
        publish(conn, nowhere, "roofs")

    assert staging_tables(conn) == [] and ledger_rows(conn) == 0
    kept = catalog.get(conn, version.id)
    conn.rollback()
    assert kept is not None and kept.status == "ready"
    assert publish(conn, settings, "roofs").version.rows == 3_000  # the embedded cluster
