"""working → exposure: stream GeoParquet into PostGIS, index, and swap in atomically.

One transaction does it all, under a per-dataset transaction lock (:mod:`infra.db.locks`, which
no other login can take):

1. drop any leftover ``exposure_staging.<name>__v<id>`` table (there can be none after a
   crash, since nothing below commits before step 5, but an older release or a manual load
   may have left one);
2. ``CREATE TABLE exposure_staging.<name>__v<id>`` without indexes, and binary ``COPY`` the
   GeoParquet file into it row group by row group (pgpq encodes Arrow to PostgreSQL's binary
   COPY format; the WKB column is sent as-is, PostGIS reads it into ``geometry(...,2154)``);
3. primary key, GiST index on ``geom``, ``ANALYZE``;
4. swap: the live ``exposure.<name>`` moves to ``exposure_previous`` (replacing the version
   kept there), the staging table becomes ``exposure.<name>``;
5. record the version and the lineage edge, commit.

Readers see the old table until the commit and the new one after; a process killed at any
point (even mid-COPY) leaves the database as it was, because the transaction never commits.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from infra.db import connect, locks
from infra.errors import InputError, PublishError
from infra.settings import Settings
from pipelines.feed import catalog
from pipelines.feed.catalog import Outcome
from pipelines.feed.columns import collisions
from pipelines.feed.geoparquet import BBOX, FID, GEOMETRY
from pipelines.feed.memory import trim
from pipelines.feed.model import dataset_name
from pipelines.feed.progress import step
from pipelines.feed.zones import scratch_dir, zone

LIVE, PREVIOUS, STAGING = "exposure", "exposure_previous", "exposure_staging"
LOCK_TIMEOUT = "60s"  # how long a swap waits for readers holding the live table
MIXED_DIMENSIONS = "geometry"
_PG_TYPE = re.compile(r"^[A-Z0-9_ ]+(\[\])?$")


def table_uri(name: str) -> str:
    """How the catalog names a published table."""
    return f"postgis:{LIVE}.{name}"


def _lock_name(name: str) -> str:
    return f"publish:{name}"


@contextmanager
def _locked(settings: Settings, name: str) -> Iterator[psycopg.Connection[Any]]:
    """A transaction holding the dataset's publish lock (released at commit or rollback)."""
    with connect(settings.require_database_url(), application_name="locxia:publish") as conn:
        try:
            conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
            locks.lock_for_transaction(conn, _lock_name(name))
        except psycopg.errors.LockNotAvailable as exc:
            raise PublishError(f"{name}: another publish or rollback is running") from exc
        yield conn


def _drop_staging(conn: psycopg.Connection[Any], name: str) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename ~ %s",
        (STAGING, f"^{name}__v[0-9]+$"),
    ).fetchall()
    for (table,) in rows:
        conn.execute(
            sql.SQL("DROP TABLE {}.{}").format(sql.Identifier(STAGING), sql.Identifier(table))
        )
    return [r[0] for r in rows]


def _select(schema: pa.Schema, columns: list[str]) -> pa.Schema:
    return pa.schema([schema.field(c) for c in columns])


def geometry_ddl(geometry_types: list[str]) -> str:
    """The PostGIS type of ``geom`` for a layer of these GeoParquet ``geometry_types``.

    Z is kept: a layer whose geometries all have Z gets ``geometry(GeometryZ, 2154)``. A layer
    mixing 2D and 3D rows gets ``geometry`` (a typmod forces one dimension, and inventing
    heights for the 2D rows would be worse); :func:`copy_parquet` then sets and checks the
    SRID.
    """
    z = [t.endswith(" Z") for t in geometry_types]
    if z and all(z):
        return "geometry(GeometryZ, 2154)"
    if any(z):
        return MIXED_DIMENSIONS
    return "geometry(Geometry, 2154)"


def _geometry_types(parquet: pq.ParquetFile) -> list[str]:
    raw = (parquet.schema_arrow.metadata or {}).get(b"geo")
    if raw is None:
        return []
    meta = json.loads(raw)
    return list(meta["columns"][meta["primary_column"]].get("geometry_types") or [])


def _columns_ddl(parquet: pq.ParquetFile, columns: list[str]) -> sql.Composed:
    from pgpq import ArrowToPostgresBinaryEncoder

    encoder = ArrowToPostgresBinaryEncoder(_select(parquet.schema_arrow, columns))
    parts: list[sql.Composable] = []
    if FID not in columns:  # a working file of an earlier release: number the rows
        parts.append(sql.SQL("fid bigint GENERATED ALWAYS AS IDENTITY"))
    for name, column in zip(columns, encoder.schema().columns, strict=True):
        if name == GEOMETRY:
            geom_type = sql.SQL(geometry_ddl(_geometry_types(parquet)))
            parts.append(sql.SQL("{} {}").format(sql.Identifier(name), geom_type))
            continue
        if name == FID:
            parts.append(sql.SQL("fid bigint NOT NULL"))
            continue
        pg_type = column.data_type.ddl() or ""
        if not _PG_TYPE.match(pg_type):
            raise PublishError(f"column {name!r}: unsupported type {pg_type!r}")
        parts.append(sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type)))
    return sql.SQL(", ").join(parts)


def check_column_names(columns: list[str]) -> None:
    """Refuse columns PostgreSQL would store under one name, before any table is created.

    Refine already gives every column a unique name of at most 63 bytes
    (:mod:`pipelines.feed.columns`); this is the same check where the table is made, for a
    working file written by an earlier release or by hand.

    Raises:
        PublishError: naming the source columns and the identifier they would share.
    """
    others = list(columns)
    if FID in others:  # one fid is the source's feature id (refine writes it)
        others.remove(FID)
    clashes = collisions(others, taken=(FID,))
    if clashes:
        raise PublishError(
            f"{clashes[0].line()}: refusing to create the table (refine names such columns"
            " apart; see docs/feed.md)"
        )


def copy_parquet(
    conn: psycopg.Connection[Any], path: Any, schema_name: str, table: str, batch_rows: int
) -> int:
    """Create ``schema.table`` and binary-COPY the GeoParquet file into it; return rows.

    Memory holds one batch: pgpq encodes each Arrow batch to COPY bytes that are written at
    once. The ``bbox`` covering column stays in the file (PostGIS indexes the geometry).
    """
    from pgpq import ArrowToPostgresBinaryEncoder

    # pre_buffer would keep every column chunk read so far: memory would grow with the file
    parquet = pq.ParquetFile(path, pre_buffer=False)
    columns = [n for n in parquet.schema_arrow.names if n != BBOX]
    check_column_names(columns)
    target = sql.Identifier(schema_name, table)
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(target, _columns_ddl(parquet, columns)))
    encoder = ArrowToPostgresBinaryEncoder(_select(parquet.schema_arrow, columns))
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        target, sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    rows = 0
    with (
        conn.cursor() as cur,
        cur.copy(statement) as copy,
        step(f"load {table}", parquet.metadata.num_rows, unit="rows") as bar,
    ):
        copy.write(encoder.write_header())
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
            copy.write(encoder.write_batch(batch))
            rows += batch.num_rows
            bar.advance(batch.num_rows)
            del batch
            trim()
        copy.write(encoder.finish())
    if geometry_ddl(_geometry_types(parquet)) == MIXED_DIMENSIONS:  # WKB carries no SRID
        conn.execute(sql.SQL("UPDATE {} SET geom = ST_SetSRID(geom, 2154)").format(target))
        conn.execute(sql.SQL("ALTER TABLE {} ADD CHECK (ST_SRID(geom) = 2154)").format(target))
    return rows


def _index(
    conn: psycopg.Connection[Any],
    schema_name: str,
    table: str,
    version_id: int,
    key: str = FID,
) -> None:
    target = sql.Identifier(schema_name, table)
    # Index names carry the version id: unique in any schema the table will move to.
    conn.execute(
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
            target, sql.Identifier(f"exposure_v{version_id}_pkey"), sql.Identifier(key)
        )
    )
    conn.execute(
        sql.SQL("CREATE INDEX {} ON {} USING gist (geom)").format(
            sql.Identifier(f"exposure_v{version_id}_geom_idx"), target
        )
    )
    conn.execute(sql.SQL("ANALYZE {}").format(target))


def _swap_in(conn: psycopg.Connection[Any], name: str, staged: str) -> None:
    ident = sql.Identifier
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident(PREVIOUS, name)))
    conn.execute(
        sql.SQL("ALTER TABLE IF EXISTS {} SET SCHEMA {}").format(ident(LIVE, name), ident(PREVIOUS))
    )
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(ident(STAGING, staged), ident(name)))
    conn.execute(sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(ident(STAGING, name), ident(LIVE)))


def _table_exists(conn: psycopg.Connection[Any], schema_name: str, name: str) -> bool:
    row = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (f'"{schema_name}"."{name}"',)
    ).fetchone()
    return bool(row and row[0])


def publish(
    conn: psycopg.Connection[Any],
    settings: Settings,
    name: str,
    *,
    version_id: int | None = None,
    run_id: int | None = None,
) -> Outcome:
    """Publish the newest working version of ``name`` (or ``version_id``) as ``exposure.<name>``.

    A no-op when that working version is already the live one.

    Raises:
        InputError: bad name, or nothing in working.
        PublishError: the load or the swap failed (the live table is unchanged).
    """
    name = dataset_name(name)
    working = (
        catalog.find(conn, name, "working", statuses=("ready", "rejected"))
        if version_id is None
        else catalog.get(conn, version_id)
    )
    if working is None or working.dataset != name or working.zone != "working":
        missing = (
            f"{name}: nothing in working (run `locxia refine` first)"
            if version_id is None
            else catalog.missing_version(conn, name, "working", version_id)
        )
        conn.rollback()
        raise InputError(missing, "publish")
    conn.rollback()
    started, clock = datetime.now(UTC), time.perf_counter()
    with scratch_dir(settings, "publish") as scratch, _locked(settings, name) as tx:
        live = catalog.find(tx, name, "exposure", statuses=("published",))
        if live is not None and live.parent_id == working.id and _table_exists(tx, LIVE, name):
            return Outcome(live, True)
        local = zone(settings, "working").fetch(working.key, scratch)
        staged = f"{name}__v{working.id}"
        try:
            _drop_staging(tx, name)
            rows = copy_parquet(tx, local, STAGING, staged, settings.layers_batch_rows)
            with step(f"index {name}", None):
                key = str((working.quality or {}).get("feature_key") or "fid")
                _index(tx, STAGING, staged, working.id, key)
            size = tx.execute(
                "SELECT pg_total_relation_size(%s)", (f'"{STAGING}"."{staged}"',)
            ).fetchone()
            _swap_in(tx, name, staged)
            version = _record(tx, name, working, live, rows, int(size[0]) if size else 0, run_id)
            catalog.add_edge(
                tx,
                dataset=name,
                step="publish",
                from_uri=working.uri,
                to_uri=version.uri,
                from_version=working.id,
                to_version=version.id,
                rows=rows,
                started_at=started,
                duration_s=time.perf_counter() - clock,
                run_id=run_id,
            )
            if working.status == "rejected":  # loads now: no longer a rejected version
                catalog.set_status(tx, working.id, "ready")
            tx.commit()
        except psycopg.Error as exc:
            tx.rollback()
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            error = PublishError(f"{name}: publish failed, exposure unchanged: {first}")
            if isinstance(exc, psycopg.errors.DataError | psycopg.errors.IntegrityError):
                _reject(conn, working, str(error))  # the file's content, not the moment
            raise error from exc
        except (PublishError, pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
            tx.rollback()
            cause = " ".join(str(exc).split())[:300]
            error = PublishError(
                f"{name}: publish failed, exposure unchanged: {cause}"
                if isinstance(exc, PublishError)
                else f"{name}: publish failed, exposure unchanged: the working file cannot be"
                f" loaded ({cause}); refine it again"
            )
            _reject(conn, working, str(error))
            raise error from exc
    return Outcome(version, False)


def _reject(conn: psycopg.Connection[Any], working: catalog.Version, reason: str) -> None:
    """Record on the working version that publish refused its content (on its own commit)."""
    conn.rollback()
    catalog.reject(conn, working.id, "publish", reason)
    conn.commit()


def _record(
    conn: psycopg.Connection[Any],
    name: str,
    working: catalog.Version,
    live: catalog.Version | None,
    rows: int,
    size: int,
    run_id: int | None,
) -> catalog.Version:
    conn.execute(
        "UPDATE ops.dataset_versions SET status = 'retired', updated_at = now()"
        " WHERE dataset = %s AND zone = 'exposure' AND status = 'previous'",
        (name,),
    )
    if live is not None:
        catalog.set_status(conn, live.id, "previous")
    return catalog.insert(
        conn,
        catalog.NewVersion(
            dataset=name,
            zone="exposure",
            uri=table_uri(name),
            fingerprint=str(working.id),
            checksum=working.checksum,
            status="published",
            parent_id=working.id,
            rows=rows,
            bytes=size,
            crs=working.crs,
            bbox=working.bbox,
            geometry_types=working.geometry_types,
            layer=working.layer,
            quality=working.quality,
            provenance={"table": f"{LIVE}.{name}", "working_uri": working.uri},
            run_id=run_id,
        ),
    )


def rollback(
    conn: psycopg.Connection[Any], settings: Settings, name: str, *, run_id: int | None = None
) -> catalog.Version:
    """Swap ``exposure.<name>`` with the version kept in ``exposure_previous``.

    Rolling back twice rolls forward again: the version taken down is the one kept.

    Raises:
        InputError: bad name.
        PublishError: nothing is published, or no previous version is kept.
    """
    name = dataset_name(name)
    conn.rollback()
    started, clock = datetime.now(UTC), time.perf_counter()
    with _locked(settings, name) as tx:
        live = catalog.find(tx, name, "exposure", statuses=("published",))
        previous = catalog.find(tx, name, "exposure", statuses=("previous",))
        if live is None or previous is None or not _table_exists(tx, PREVIOUS, name):
            raise PublishError(f"{name}: no previous version to roll back to")
        ident = sql.Identifier
        try:
            _drop_staging(tx, name)
            tx.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident(STAGING, name)))
            tx.execute(
                sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(ident(LIVE, name), ident(STAGING))
            )
            tx.execute(
                sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(ident(PREVIOUS, name), ident(LIVE))
            )
            tx.execute(
                sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                    ident(STAGING, name), ident(PREVIOUS)
                )
            )
            catalog.set_status(tx, live.id, "retired")  # frees the unique 'published' slot
            catalog.set_status(tx, previous.id, "published")
            catalog.set_status(tx, live.id, "previous")
            catalog.add_edge(
                tx,
                dataset=name,
                step="rollback",
                from_uri=f"{live.uri}#v{live.id}",
                to_uri=f"{previous.uri}#v{previous.id}",
                from_version=live.id,
                to_version=previous.id,
                rows=previous.rows,
                started_at=started,
                duration_s=time.perf_counter() - clock,
                run_id=run_id,
            )
            tx.commit()
        except psycopg.Error as exc:
            tx.rollback()
            raise PublishError(f"{name}: rollback failed, exposure unchanged: {exc}") from exc
    restored = catalog.get(conn, previous.id)
    conn.rollback()
    assert restored is not None
    return restored
