from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from infra.db import connect
from tests.support import geodata

CANONICAL_ROWS = 240


@pytest.fixture(scope="session")
def canonical() -> pa.Table:
    """The canonical layer: building footprints over France, ~5 % invalid, EPSG:4326."""
    return geodata.layer_table(CANONICAL_ROWS, seed=11, invalid_share=0.05)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with connect(db_url) as c:
        yield c


def declare(conn: psycopg.Connection[Any], name: str, rules: str = "{}", **cols: Any) -> None:
    conn.execute(
        "INSERT INTO params.datasets (name, rules, source, layer, cron) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (name) DO UPDATE SET rules = EXCLUDED.rules",
        (name, rules, cols.get("source"), cols.get("layer"), cols.get("cron")),
    )
    conn.commit()
