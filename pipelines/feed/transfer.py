"""Database → database: copy a table between two PostgreSQL servers with streamed COPY.

``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` on the source is piped chunk by chunk into
``COPY ... FROM STDIN (FORMAT binary)`` on the target: nothing is held in memory beyond one
chunk, and geometries travel in PostGIS's own binary form. The target table is created with
the source's column types, loaded, indexed (primary key and GiST on geometry columns) and
analysed in one transaction; with ``replace`` it takes the place of an existing table in that
same transaction, so the target never shows a half-copied table.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from infra.db import connect
from infra.db.connection import describe_target
from infra.errors import InputError, LayerError
from pipelines.feed import catalog
from pipelines.feed.progress import step

QUALIFIED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]{0,62})\.([A-Za-z_][A-Za-z0-9_]{0,62})$")


@dataclass(frozen=True)
class Transferred:
    """What a transfer moved."""

    source: str
    target: str
    rows: int
    seconds: float


def parse_table(value: str, where: str) -> tuple[str, str]:
    """``schema.table`` as two identifiers.

    Raises:
        InputError: not ``schema.table`` with plain identifiers.
    """
    match = QUALIFIED.match(value)
    if not match:
        raise InputError(f"{value!r}: expected schema.table (letters, digits, _)", where)
    return match.group(1), match.group(2)


def _columns(conn: psycopg.Connection[Any], schema: str, table: str) -> list[tuple[str, str, bool]]:
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull"
        " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY a.attnum",
        (schema, table),
    ).fetchall()
    return [(str(r[0]), str(r[1]), bool(r[2])) for r in rows]


def _primary_key(conn: psycopg.Connection[Any], schema: str, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
        " ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)"
        " WHERE i.indrelid = to_regclass(%s) AND i.indisprimary",
        (f'"{schema}"."{table}"',),
    ).fetchall()
    return [str(r[0]) for r in rows]


def copy_table(
    source_url: str,
    target_url: str,
    source_table: str,
    target_table: str | None = None,
    *,
    replace: bool = False,
    chunk_rows: int = 65_536,
) -> Transferred:
    """Copy ``source_table`` from one database to another (``target_table`` defaults to it).

    Raises:
        InputError: bad table names, missing source table, or target exists without replace.
        LayerError: the copy failed (the target is unchanged).
    """
    s_schema, s_table = parse_table(source_table, "source table")
    t_schema, t_table = parse_table(target_table or source_table, "target table")
    started = time.perf_counter()
    with (
        connect(source_url, application_name="locxia:transfer") as src,
        connect(target_url, application_name="locxia:transfer") as dst,
    ):
        columns = _columns(src, s_schema, s_table)
        if not columns:
            raise InputError(f"no table {source_table} in {describe_target(source_url)}")
        key = _primary_key(src, s_schema, s_table)
        total = src.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(s_schema, s_table))
        ).fetchone()
        try:
            rows = _load(
                src,
                dst,
                columns,
                key,
                (s_schema, s_table),
                (t_schema, t_table),
                replace,
                total[0] if total else None,
            )
            dst.commit()
        except psycopg.Error as exc:
            dst.rollback()
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise LayerError(f"transfer {source_table} failed, target unchanged: {first}") from exc
    return Transferred(
        source=f"{describe_target(source_url)}#{source_table}",
        target=f"{describe_target(target_url)}#{t_schema}.{t_table}",
        rows=rows,
        seconds=time.perf_counter() - started,
    )


def _load(
    src: psycopg.Connection[Any],
    dst: psycopg.Connection[Any],
    columns: list[tuple[str, str, bool]],
    key: list[str],
    source: tuple[str, str],
    target: tuple[str, str],
    replace: bool,
    total: int | None,
) -> int:
    ident = sql.Identifier
    exists = dst.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (f'"{target[0]}"."{target[1]}"',)
    ).fetchone()
    if exists and exists[0] and not replace:
        raise InputError(f"{target[0]}.{target[1]} exists in the target (use --replace)")
    staged = f"{target[1][:40]}__transfer"
    dst.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident(target[0])))
    dst.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident(target[0], staged)))
    defs = [
        sql.SQL("{} {}{}").format(ident(n), sql.SQL(t), sql.SQL(" NOT NULL" if nn else ""))
        for n, t, nn in columns
    ]
    dst.execute(
        sql.SQL("CREATE TABLE {} ({})").format(ident(target[0], staged), sql.SQL(", ").join(defs))
    )
    names = sql.SQL(", ").join(ident(n) for n, _, _ in columns)
    out_stmt = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT binary)").format(
        names, ident(*source)
    )
    in_stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        ident(target[0], staged), names
    )
    with (
        src.cursor() as rcur,
        dst.cursor() as wcur,
        rcur.copy(out_stmt) as out,
        wcur.copy(in_stmt) as inp,
        step(f"transfer {'.'.join(source)}", None) as bar,
    ):
        for chunk in out:
            inp.write(chunk)
            bar.advance(len(chunk))
    count = dst.execute(
        sql.SQL("SELECT count(*) FROM {}").format(ident(target[0], staged))
    ).fetchone()
    if key:
        dst.execute(
            sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                ident(target[0], staged), sql.SQL(", ").join(map(ident, key))
            )
        )
    for n, t, _ in columns:
        if t.startswith("geometry") or t.startswith("geography"):
            dst.execute(
                sql.SQL("CREATE INDEX ON {} USING gist ({})").format(
                    ident(target[0], staged), ident(n)
                )
            )
    dst.execute(sql.SQL("ANALYZE {}").format(ident(target[0], staged)))
    dst.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident(*target)))
    dst.execute(
        sql.SQL("ALTER TABLE {} RENAME TO {}").format(ident(target[0], staged), ident(target[1]))
    )
    return int(count[0]) if count else 0


def record(
    conn: psycopg.Connection[Any], moved: Transferred, started: datetime, run_id: int | None
) -> None:
    """Record the transfer as a lineage edge in the Locxia database."""
    catalog.add_edge(
        conn,
        dataset=moved.target.rsplit("#", 1)[-1],
        step="transfer",
        from_uri=moved.source,
        to_uri=moved.target,
        rows=moved.rows,
        started_at=started,
        duration_s=moved.seconds,
        run_id=run_id,
    )
    conn.commit()


def now() -> datetime:
    """The wall clock (UTC)."""
    return datetime.now(UTC)
