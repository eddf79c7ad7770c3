"""Below the CLI: an empty or blank dataset, source, layer, job or policy name raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from infra.errors import InputError
from infra.jobs.trigger import request_run
from infra.settings import Settings
from pipelines.feed import catalog
from pipelines.feed.ingest import ingest
from pipelines.feed.refine import refine
from tests.support import formats, geodata

BLANKS = pytest.mark.parametrize("blank", ["", "   "], ids=["empty", "blank"])


def _counts(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM ops.dataset_versions), (SELECT count(*) FROM ops.lineage),"
        " (SELECT count(*) FROM params.datasets), (SELECT count(*) FROM ops.run_requests)"
    ).fetchone()
    conn.rollback()
    assert row is not None
    return tuple(row)


@BLANKS
def test_feed_functions_refuse_blank_names(
    conn: psycopg.Connection[Any], settings: Settings, tmp_path: Path, blank: str
) -> None:
    path, _ = formats.flatgeobuf(geodata.layer_table(10, seed=4), tmp_path)
    ingest(conn, settings, "roads", str(path))
    before = _counts(conn)
    for call in (
        lambda: ingest(conn, settings, blank, str(path)),
        lambda: ingest(conn, settings, "roads", blank),
        lambda: ingest(conn, settings, "roads", str(path), blank),
        lambda: refine(conn, settings, blank),
        lambda: catalog.find(conn, blank, "landing"),
        lambda: catalog.versions(conn, blank),
        lambda: catalog.lineage(conn, blank),
        lambda: catalog.load_dataset(conn, blank),
    ):
        with pytest.raises(InputError, match=r"is (empty|blank)"):
            call()
        conn.rollback()
    assert _counts(conn) == before


@BLANKS
def test_a_blank_job_is_never_requested(conn: psycopg.Connection[Any], blank: str) -> None:
    conn.execute(
        "INSERT INTO ops.services (id, host, pid, version, role)"
        " VALUES ('t', 'localhost', 1, 'test', 'leader')"
    )
    conn.commit()
    before = _counts(conn)
    with pytest.raises(InputError, match=r"the job name is (empty|blank)"):
        request_run(conn, blank)
    conn.rollback()
    assert _counts(conn) == before
