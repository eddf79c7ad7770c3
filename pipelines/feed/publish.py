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

A **partitioned** working version (a prefix of part files and a manifest,
:mod:`pipelines.feed.partset`) changes step 2 only: the staging table is created and committed
on a connection of its own, and the parts are COPYed in parallel on the Dask cluster, each
part with its row in ``ops.publish_parts`` in one transaction of its own
(:mod:`pipelines.feed.publish_parts`: exactly once, whatever worker dies). The transaction
holding the lock then checks that the ledger lists every part and the table holds the
manifest's rows, and goes on with step 3. Readers still see the old table until the commit.
A failure drops the staging table and its ledger rows; a killed publish leaves them, and the
next publish of the same version resumes from them (any other publish or rollback of the
dataset drops them).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from infra.db import connect, locks
from infra.errors import InputError, LocxiaError, PublishError
from infra.settings import Settings
from pipelines.feed import catalog, publish_parts
from pipelines.feed.catalog import Outcome
from pipelines.feed.columns import collisions
from pipelines.feed.geoparquet import BBOX, FID, GEOMETRY
from pipelines.feed.memory import trim
from pipelines.feed.model import dataset_name
from pipelines.feed.partset import LAYOUT, Manifest, is_partitioned, read_manifest
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


def _drop_staging(conn: psycopg.Connection[Any], name: str, keep: str | None = None) -> list[str]:
    """Drop the leftover staging tables of ``name`` (but ``keep``) and their ledger rows."""
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename ~ %s",
        (STAGING, f"^{name}__v[0-9]+$"),
    ).fetchall()
    dropped = [str(r[0]) for r in rows if r[0] != keep]
    for table in dropped:
        conn.execute(
            sql.SQL("DROP TABLE {}.{}").format(sql.Identifier(STAGING), sql.Identifier(table))
        )
    conn.execute(  # also rows whose table is already gone (dropped by hand)
        "DELETE FROM ops.publish_parts WHERE staging ~ %s AND staging IS DISTINCT FROM %s",
        (f"^{name}__v[0-9]+$", keep),
    )
    return dropped


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


def _columns_ddl(schema: pa.Schema, columns: list[str], geometry_types: list[str]) -> sql.Composed:
    from pgpq import ArrowToPostgresBinaryEncoder

    encoder = ArrowToPostgresBinaryEncoder(_select(schema, columns))
    parts: list[sql.Composable] = []
    if FID not in columns:  # a working file of an earlier release: number the rows
        parts.append(sql.SQL("fid bigint GENERATED ALWAYS AS IDENTITY"))
    for name, column in zip(columns, encoder.schema().columns, strict=True):
        if name == GEOMETRY:
            geom_type = sql.SQL(geometry_ddl(geometry_types))
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


def loaded_columns(schema: pa.Schema) -> list[str]:
    """The columns of a working file that are loaded: all but the ``bbox`` covering.

    PostGIS indexes the geometry itself, so the covering column stays in the file.
    """
    return [n for n in schema.names if n != BBOX]


def create_table(
    conn: psycopg.Connection[Any],
    schema: pa.Schema,
    schema_name: str,
    table: str,
    geometry_types: list[str],
) -> list[str]:
    """``CREATE TABLE schema_name.table`` for a working file of Arrow ``schema``; its columns.

    No index: they are built after the load, which is faster (docs/feed.md).

    Raises:
        PublishError: two columns would share one PostgreSQL name, or a column's type has
            no PostgreSQL equivalent.
    """
    columns = loaded_columns(schema)
    check_column_names(columns)
    target = sql.Identifier(schema_name, table)
    ddl = _columns_ddl(schema, columns, geometry_types)
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(target, ddl))
    return columns


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

    Memory holds one batch (see :func:`stream_parquet`).
    """
    # pre_buffer would keep every column chunk read so far: memory would grow with the file
    parquet = pq.ParquetFile(path, pre_buffer=False)
    types = _geometry_types(parquet)
    columns = create_table(conn, parquet.schema_arrow, schema_name, table, types)
    with step(f"load {table}", parquet.metadata.num_rows, unit="rows") as bar:
        rows = stream_parquet(conn, parquet, schema_name, table, columns, batch_rows, bar.advance)
    if geometry_ddl(types) == MIXED_DIMENSIONS:
        set_srid(conn, schema_name, table)
    return rows


def stream_parquet(
    conn: psycopg.Connection[Any],
    parquet: pq.ParquetFile,
    schema_name: str,
    table: str,
    columns: list[str],
    batch_rows: int,
    advance: Callable[[float], None] | None = None,
) -> int:
    """Binary-COPY ``columns`` of the file into the existing ``schema.table``; return rows.

    Memory holds one batch: pgpq encodes each Arrow batch to COPY bytes that are written at
    once, and the WKB column goes as-is (PostGIS reads it into ``geometry(..., 2154)``).
    Nothing commits here: the caller's transaction decides.
    """
    from pgpq import ArrowToPostgresBinaryEncoder

    encoder = ArrowToPostgresBinaryEncoder(_select(parquet.schema_arrow, columns))
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        sql.Identifier(schema_name, table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    rows = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(encoder.write_header())
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
            copy.write(encoder.write_batch(batch))
            rows += batch.num_rows
            if advance is not None:
                advance(batch.num_rows)
            del batch
            trim()
        copy.write(encoder.finish())
    return rows


def set_srid(conn: psycopg.Connection[Any], schema_name: str, table: str) -> None:
    """Give a mixed 2D/3D ``geom`` column SRID 2154 and check it (WKB carries no SRID)."""
    target = sql.Identifier(schema_name, table)
    conn.execute(sql.SQL("UPDATE {} SET geom = ST_SetSRID(geom, 2154)").format(target))
    conn.execute(sql.SQL("ALTER TABLE {} ADD CHECK (ST_SRID(geom) = 2154)").format(target))


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

    A no-op when that working version is already the live one. A partitioned working version
    (:mod:`pipelines.feed.partset`) is loaded on the Dask cluster, its parts in parallel
    (:mod:`pipelines.feed.publish_parts`); a single file is loaded in this process. Indexes,
    ``ANALYZE`` and the swap are the same for both.

    Raises:
        InputError: bad name, or nothing in working.
        SourceError: the working file, or a partitioned version's manifest, is missing.
        FormatError: a partitioned version's manifest is malformed.
        PublishError: the load or the swap failed (the live table is unchanged, no staging
            table is left).
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
    partitioned = is_partitioned(working)
    with scratch_dir(settings, "publish") as scratch, _locked(settings, name) as tx:
        live = catalog.find(tx, name, "exposure", statuses=("published",))
        if live is not None and live.parent_id == working.id and _table_exists(tx, LIVE, name):
            return Outcome(live, True)
        staged = f"{name}__v{working.id}"
        manifest = read_manifest(zone(settings, "working"), working.key) if partitioned else None
        local = None if partitioned else zone(settings, "working").fetch(working.key, scratch)
        try:
            if manifest is not None:
                rows = _load_partitioned(tx, settings, working, manifest, staged, scratch)
            else:
                _drop_staging(tx, name)
                rows = copy_parquet(tx, local, STAGING, staged, settings.layers_batch_rows)
            with step(f"index {name}", None):
                key = str((working.quality or {}).get("feature_key") or "fid")
                _index(tx, STAGING, staged, working.id, key)
            size = tx.execute(
                "SELECT pg_total_relation_size(%s)", (f'"{STAGING}"."{staged}"',)
            ).fetchone()
            _swap_in(tx, name, staged)
            publish_parts.forget(tx, staged)
            layout = {"layout": LAYOUT, "parts": len(manifest.parts)} if manifest else {}
            version = _record(
                tx, name, working, live, rows, int(size[0]) if size else 0, run_id, layout
            )
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
            _discard(settings, name, staged, partitioned)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            error = PublishError(f"{name}: publish failed, exposure unchanged: {first}")
            if isinstance(exc, psycopg.errors.DataError | psycopg.errors.IntegrityError):
                _reject(conn, working, str(error))  # the file's content, not the moment
            raise error from exc
        except (PublishError, pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
            tx.rollback()
            _discard(settings, name, staged, partitioned)
            cause = " ".join(str(exc).split())[:300]
            error = PublishError(
                f"{name}: publish failed, exposure unchanged: {cause}"
                if isinstance(exc, PublishError)
                else f"{name}: publish failed, exposure unchanged: the working file cannot be"
                f" loaded ({cause}); refine it again"
            )
            if not isinstance(exc, publish_parts.LoadFailed) or exc.content:
                _reject(conn, working, str(error))
            raise error from exc
    return Outcome(version, False)


def _load_partitioned(
    tx: psycopg.Connection[Any],
    settings: Settings,
    working: catalog.Version,
    manifest: Manifest,
    staged: str,
    scratch: Path,
) -> int:
    """Load a partitioned working version into ``exposure_staging.<staged>``; return rows.

    The staging table is created and committed on a connection of its own (the tasks'
    connections must see it); ``tx`` keeps the publish lock. Parts already in the ledger (a
    publish of this version killed midway) are not submitted again. Before anything is
    indexed, the ledger must list every part of the manifest and the table must hold exactly
    the manifest's rows.

    Raises:
        PublishError: no parts, a part failed, or the counts disagree.
    """
    if not manifest.parts:
        raise PublishError(f"{manifest.prefix}: the manifest lists no parts")
    _drop_staging(tx, working.dataset, keep=staged)  # other versions' leftovers
    first = zone(settings, "working").fetch(manifest.full_key(manifest.parts[0]), scratch)
    schema = pq.read_schema(first)
    types = list(working.geometry_types)
    columns = loaded_columns(schema)
    publish_parts.staging_ready(
        settings, STAGING, staged, lambda c: create_table(c, schema, STAGING, staged, types)
    )
    done = publish_parts.committed(tx, staged)
    jobs = [
        publish_parts.PartJob(settings, manifest.prefix, part, STAGING, staged, tuple(columns))
        for part in manifest.parts
        if part.key not in done
    ]
    if jobs:
        publish_parts.load(settings, manifest, jobs)
    expected = {p.key: p.rows for p in manifest.parts}
    ledger = publish_parts.committed(tx, staged)
    if ledger != expected:
        missing = sorted(set(expected) - set(ledger))
        raise publish_parts.LoadFailed(
            f"parts not committed: {', '.join(missing[:3]) or 'rows differ'}"
        )
    counted = tx.execute(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(STAGING, staged))
    ).fetchone()
    rows = int(counted[0]) if counted else 0
    if rows != manifest.rows:
        raise publish_parts.LoadFailed(
            f"staging holds {rows} rows, the manifest lists {manifest.rows}"
        )
    if geometry_ddl(types) == MIXED_DIMENSIONS:
        set_srid(tx, STAGING, staged)
    return rows


def _discard(settings: Settings, name: str, staged: str, partitioned: bool) -> None:
    """After a failed partitioned publish, drop its committed staging table and ledger rows.

    The in-process path committed nothing. If even this fails (the database is gone), the
    next publish or rollback of ``name`` drops the leftover (:func:`_drop_staging`).
    """
    if not partitioned:
        return

    def relock(conn: psycopg.Connection[Any]) -> None:
        conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
        locks.lock_for_transaction(conn, _lock_name(name))

    try:
        publish_parts.drop(settings, STAGING, staged, relock)
    except (psycopg.Error, LocxiaError):
        pass


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
    layout: dict[str, Any] | None = None,
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
            provenance={"table": f"{LIVE}.{name}", "working_uri": working.uri, **(layout or {})},
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
