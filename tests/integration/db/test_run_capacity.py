"""``params.run_capacity`` (migration 0075): what the database refuses, and who may edit it."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from infra.db import connect
from infra.settings import Settings
from tests.support.logins import as_login

GOOD = {"job": "layers.big", "dask_workers": 2, "worker_type": "m6i.large"}


def _insert(conn: psycopg.Connection[object], **row: object) -> None:
    cols = ", ".join(row)
    marks = ", ".join(["%s"] * len(row))
    conn.execute(f"INSERT INTO params.run_capacity ({cols}) VALUES ({marks})", list(row.values()))


@pytest.mark.parametrize(
    ("row", "refusal"),
    [
        ({**GOOD, "worker_type": "x9.huge"}, "worker_type: 'x9.huge' is not in the ec2 price"),
        ({**GOOD, "worker_type": None}, "workers_need_a_type"),
        ({"job": "layers.big", "dask_workers": 0}, "declares_something"),
        ({**GOOD, "dask_workers": 101}, "dask_workers_check"),
        ({**GOOD, "job": "Bad Job"}, "job_check"),
        (
            {"job": "layers.big", "database": "work-db", "database_class": "db.t4g.large"},
            "database: 'work-db' is not an rds row of params.instances",
        ),
        (
            {"job": "layers.big", "database": "main-db"},
            "database_needs_a_class",
        ),
        (
            {**GOOD, "note": "two\nlines"},
            "note_check",
        ),
    ],
    ids=[
        "unpriced-type",
        "workers-no-type",
        "nothing",
        "too-many",
        "bad-job",
        "no-such-db",
        "db-no-class",
        "control-chars",
    ],  # fmt: skip
)
def test_the_database_refuses(db_url: str, row: dict[str, object], refusal: str) -> None:
    with connect(db_url) as conn:
        conn.execute(
            "INSERT INTO params.instances (name, kind, instance_class, storage_gb, engine,"
            " engine_version) VALUES ('main-db', 'rds', 'db.t4g.large', 100, 'postgres', '16')"
        )
        with pytest.raises(psycopg.errors.CheckViolation, match=refusal):
            _insert(conn, **row)


def test_a_declaration_is_audited(db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute("SELECT set_config('locxia.actor', 'alice', true)")
        _insert(conn, **GOOD)
        conn.commit()
        row = conn.execute(
            "SELECT op, changed_by, new_row ->> 'worker_type' FROM params.history"
            " WHERE table_name = 'run_capacity' AND row_key = 'layers.big'"
        ).fetchone()
    assert row == ("INSERT", "alice", "m6i.large")


def test_editors_declare_within_their_limit(db_url: str) -> None:
    with as_login(db_url, "eve", "locxia_editor") as conn:
        _insert(conn, **GOOD)
        conn.commit()
        with pytest.raises(psycopg.errors.CheckViolation, match="above the editor limit of 20"):
            conn.execute("UPDATE params.run_capacity SET dask_workers = 21")
        conn.rollback()
    with connect(db_url) as conn:  # the service's login may go beyond
        conn.execute("UPDATE params.run_capacity SET dask_workers = 40")
        conn.commit()


def test_dask_workers_are_never_protected(db_url: str) -> None:
    with (
        connect(db_url) as conn,
        pytest.raises(psycopg.errors.CheckViolation, match="dask_workers_unprotected"),
    ):
        conn.execute(
            "INSERT INTO params.instances (name, kind, instance_class, storage_gb, purpose,"
            " protected) VALUES ('cap1-w1', 'ec2', 'm6i.large', 20, 'dask-worker', true)"
        )


def test_one_window_at_a_time_holds_a_database(settings: Settings) -> None:
    from infra import capacity
    from infra.errors import CapacityError

    url = settings.require_database_url()
    with connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO params.instances (name, kind, instance_class, storage_gb, engine,"
            " engine_version) VALUES ('main-db', 'rds', 'db.t4g.large', 100, 'postgres', '16')"
        )
        _insert(conn, job="layers.*", database="main-db", database_class="db.r6g.large")
        runs = [
            conn.execute(
                "INSERT INTO ops.runs (job_id, task, trigger) VALUES (%s, 'core.noop', 'manual')"
                " RETURNING id",
                (job,),
            ).fetchone()[0]  # type: ignore[index]
            for job in ("layers.a", "layers.b")
        ]
        decl = capacity.declared(conn, "layers.a")
        assert decl is not None and decl.database_class == "db.r6g.large"
        windows = capacity.Windows(settings, now=lambda: datetime.now(UTC))
        first = windows.open(conn, runs[0], "layers.a", decl)
        row = conn.execute(
            "SELECT i.instance_class, h.changed_by FROM params.instances i"
            " JOIN params.history h ON h.table_name = 'instances' AND h.row_key = i.name"
            " WHERE i.name = 'main-db' ORDER BY h.id DESC LIMIT 1"
        ).fetchone()
        assert row == ("db.r6g.large", f"capacity-window:{first}")
        with pytest.raises(CapacityError, match=f"main-db is held by capacity window {first}"):
            windows.open(conn, runs[1], "layers.b", decl)
        # refused whole: no second window, no edit
        count = conn.execute("SELECT count(*) FROM ops.capacity_windows").fetchone()
        assert count == (1,)
