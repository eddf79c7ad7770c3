"""Our idea of how PostgreSQL cuts identifiers is PostgreSQL's own (``text::name``)."""

from __future__ import annotations

from typing import Any

import psycopg

from pipelines.feed.columns import stored_name

NAMES = [
    "a" * 63,
    "a" * 64,
    "é" * 32,
    "a" + "é" * 31 + "b",
    "日本語" * 8,  # 3-byte characters: 72 bytes, cut to 21 characters (63 bytes)
    "日本語" * 7 + "x" * 3,
    "🙂" * 16,  # 4-byte characters: 64 bytes
    "ok",
]


def test_stored_name_is_what_postgresql_stores(conn: psycopg.Connection[Any]) -> None:
    encoding = conn.execute("SHOW server_encoding").fetchone()
    assert encoding == ("UTF8",)
    for name in NAMES:
        row = conn.execute("SELECT %s::text::name::text", (name,)).fetchone()
        assert row == (stored_name(name),), name
