from __future__ import annotations

import json

from infra.db import connect

#: Migrations that change shipped rows are audited too, under their own label (0065 sets the
#: EC2 policies' per-metric statistics): these tests look at the changes they make themselves.
NOT_MIGRATIONS = "changed_by NOT LIKE 'migration %'"


def _history(url: str) -> list[tuple[str, str, object, object, str]]:
    with connect(url) as conn:
        return conn.execute(
            "SELECT op, row_key, old_row, new_row, changed_by FROM params.history"
            f" WHERE {NOT_MIGRATIONS} ORDER BY id"
        ).fetchall()


def test_every_change_leaves_one_history_row(db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute("SET locxia.actor = 'alice'")
        conn.execute(
            "INSERT INTO params.schedules (job, task, every_seconds) VALUES ('a.b', 'core.noop', 5)"
        )
        conn.execute("UPDATE params.schedules SET every_seconds = 10 WHERE job = 'a.b'")
        conn.execute("UPDATE params.schedules SET every_seconds = 10 WHERE job = 'a.b'")  # no-op
        conn.execute("DELETE FROM params.schedules WHERE job = 'a.b'")
        conn.commit()
    rows = _history(db_url)
    assert [r[0] for r in rows] == ["INSERT", "UPDATE", "DELETE"]
    assert all(r[1] == "a.b" and r[4] == "alice" for r in rows)
    insert, update, delete = rows
    assert insert[2] is None and insert[3]["every_seconds"] == 5  # type: ignore[index]
    assert update[2]["every_seconds"] == 5 and update[3]["every_seconds"] == 10  # type: ignore[index]
    assert delete[3] is None


def test_rolled_back_change_leaves_no_history(db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute(
            "INSERT INTO params.schedules (job, task, every_seconds) VALUES ('a.b', 'core.noop', 5)"
        )
        conn.rollback()
    assert _history(db_url) == []


def test_who_defaults_to_the_session_user(db_url: str) -> None:
    with connect(db_url) as conn:
        user = conn.execute("SELECT session_user").fetchone()
        conn.execute(
            "INSERT INTO params.schedules (job, task, every_seconds) VALUES ('a.b', 'core.noop', 5)"
        )
        conn.commit()
    assert user is not None
    assert _history(db_url)[0][4] == user[0]


def test_change_is_notified_to_listeners(db_url: str) -> None:
    with connect(db_url, autocommit=True) as listener, connect(db_url) as writer:
        listener.execute("LISTEN locxia_params")
        writer.execute(
            "INSERT INTO params.schedules (job, task, every_seconds) VALUES ('a.b', 'core.noop', 5)"
        )
        writer.commit()
        notes = list(listener.notifies(timeout=5, stop_after=1))
    assert len(notes) == 1
    assert json.loads(notes[0].payload) == {"table": "schedules", "op": "INSERT", "key": "a.b"}


def test_the_login_is_recorded_whatever_the_label_says(db_url: str) -> None:
    """``SET locxia.actor`` (or ``--as``) is a label: the history keeps the real login beside it."""
    from tests.support.logins import as_login, login

    login(db_url, "mallory")
    with connect(db_url) as conn:
        owner = conn.execute("SELECT session_user").fetchone()
        conn.execute("SET locxia.actor = 'cfo'")
        conn.execute(
            "INSERT INTO params.schedules (job, task, every_seconds)"
            " VALUES ('a.b', 'core.noop', 60)"
        )
        # a login of its own, allowed to edit this one table and nothing else
        conn.execute("GRANT USAGE ON SCHEMA params TO mallory")
        conn.execute("GRANT SELECT, UPDATE ON params.schedules TO mallory")
        conn.commit()
    with as_login(db_url, "mallory") as conn:
        conn.execute("SET locxia.actor = 'cfo'")
        conn.execute("UPDATE params.schedules SET every_seconds = 120 WHERE job = 'a.b'")
        conn.commit()
    with connect(db_url) as conn:
        rows = conn.execute(
            f"SELECT op, changed_by, login FROM params.history WHERE {NOT_MIGRATIONS} ORDER BY id"
        ).fetchall()
    assert owner is not None
    assert rows == [("INSERT", "cfo", owner[0]), ("UPDATE", "cfo", "mallory")]
