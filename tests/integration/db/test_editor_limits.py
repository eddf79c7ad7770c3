"""What a ``locxia_editor`` login may write, checked by the database itself (migration 0052).

An editor is a LOGIN role granted ``locxia_editor`` and nothing else; the owner (the login
that ran the migrations, as the service does) is the control: it may exceed the editors'
limits, never the catalog of schedulable tasks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from infra.db import connect
from tests.support import pg

EDITOR = "locxia_test_editor"


@pytest.fixture
def editor_url(admin_url: str, db_url: str) -> str:
    return pg.login_in_role(admin_url, db_url, EDITOR, "locxia_editor")


@pytest.fixture
def as_editor(editor_url: str) -> Iterator[psycopg.Connection[Any]]:
    with connect(editor_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def as_owner(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with connect(db_url, autocommit=True) as conn:
        yield conn


def _schedule(
    conn: psycopg.Connection[Any], job: str, task: str, args: dict[str, Any], every: int = 3600
) -> None:
    conn.execute(
        "INSERT INTO params.schedules (job, task, every_seconds, args) VALUES (%s, %s, %s, %s)",
        (job, task, every, json.dumps(args)),
    )


def _refused(conn: psycopg.Connection[Any], statement: str, *params: Any) -> str:
    with pytest.raises(psycopg.errors.CheckViolation) as caught:
        conn.execute(statement, params or None)
    message = caught.value.diag.message_primary or ""
    assert "\n" not in message
    return message


PRIVILEGED = [
    ("shape.approve", {"run": 8, "actor": "cfo"}),
    ("layers.transfer-url", {"url": "https://example.com/x.gpkg", "dataset": "roads"}),
    (
        "layers.transfer-table",
        {"source_url": "postgresql://a/b", "target_url": "postgresql://c/d", "table": "t"},
    ),
    ("layers.rollback", {"dataset": "roads"}),
    ("shape.plan", {}),
]


@pytest.mark.parametrize(("task", "args"), PRIVILEGED, ids=[t for t, _ in PRIVILEGED])
def test_an_editor_cannot_schedule_a_privileged_task(
    as_editor: psycopg.Connection[Any], task: str, args: dict[str, Any]
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation) as caught:
        _schedule(as_editor, "user.sneaky", task, args)
    assert caught.value.diag.message_primary == (
        f"params.schedules[user.sneaky].task: {task} is not schedulable from params.schedules"
        " (limit: the tasks in ops.schedulable_tasks)"
    )
    assert as_editor.execute("SELECT count(*) FROM params.schedules").fetchone() == (0,)


def test_not_even_the_owner_schedules_a_privileged_task(as_owner: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.errors.CheckViolation, match="shape.approve is not schedulable"):
        _schedule(as_owner, "user.sneaky", "shape.approve", {"run": 8, "actor": "cfo"})


@pytest.mark.parametrize(
    ("task", "args", "fragment"),
    [
        ("layers.ingest", {"dataset": "roads", "source": "http://x/"}, "'source' is not allowed"),
        ("metrics.collect", {"policy": "rds-default", "since": "30d"}, "'since' is not allowed"),
        ("shape.reconcile", {"force": True}, "'force' is not allowed (allowed: none)"),
        ("core.noop", {"sleep_seconds": 3600}, "3600 is above 60"),
        ("core.noop", {"sleep_seconds": "1"}, "'sleep_seconds' must be a number"),
        ("layers.ingest", {"dataset": "Roads; x"}, "does not match"),
        (
            "core.chain",
            {"steps": [{"task": "core.noop"}, {"task": "shape.approve", "args": {"run": 8}}]},
            "'steps'[1] (shape.approve): task shape.approve is not schedulable",
        ),
        (
            "core.chain",
            {"steps": [{"task": "core.chain", "args": {"steps": [{"task": "core.noop"}]}}]},
            "a step cannot hold steps",
        ),
    ],
    ids=["url-source", "since", "force", "range", "type", "pattern", "chained-approve", "nested"],
)
def test_arguments_outside_the_declared_schema_are_refused(
    as_editor: psycopg.Connection[Any], task: str, args: dict[str, Any], fragment: str
) -> None:
    message = _refused(
        as_editor,
        "INSERT INTO params.schedules (job, task, every_seconds, args)"
        " VALUES ('u.x', %s, 3600, %s)",
        task,
        json.dumps(args),
    )
    assert message.startswith("params.schedules[u.x].args: ") and fragment in message
    assert f"(limit: the {task} schema in ops.schedulable_tasks)" in message


def test_an_editor_may_retime_planned_jobs_and_schedule_declared_tasks(
    as_editor: psycopg.Connection[Any],
) -> None:
    _schedule(as_editor, "shape.reconcile", "shape.reconcile", {}, every=600)
    _schedule(as_editor, "observe.collect.rds-default", "metrics.collect", {}, every=120)
    _schedule(as_editor, "layers.roads", "core.chain", {}, every=86400)
    _schedule(as_editor, "user.roads", "layers.ingest", {"dataset": "roads"})
    _schedule(as_editor, "user.steps", "core.chain", {"steps": [{"task": "metrics.discover"}]})
    as_editor.execute("UPDATE params.schedules SET every_seconds = 900 WHERE job = 'user.roads'")
    assert as_editor.execute("SELECT count(*) FROM params.schedules").fetchone() == (5,)


def test_cadence_limits_bind_editors_not_the_owner(
    as_editor: psycopg.Connection[Any], as_owner: psycopg.Connection[Any]
) -> None:
    message = _refused(
        as_editor,
        "INSERT INTO params.schedules (job, task, every_seconds) VALUES ('u.fast', 'core.noop', 1)",
    )
    assert message == (
        "params.schedules[u.fast].every_seconds: 1 is below the editor limit of 60"
        " (schedules.min_every_seconds in ops.editor_limits)"
    )
    _schedule(as_owner, "u.fast", "core.noop", {}, every=1)
    # The owner's fast row stays editable by an editor when the cadence is not touched.
    as_editor.execute("UPDATE params.schedules SET note = 'owner''s' WHERE job = 'u.fast'")


def test_an_editor_cannot_pass_for_the_owner_with_a_temporary_table(
    as_owner: psycopg.Connection[Any], editor_url: str
) -> None:
    """pg_temp is searched first unless listed: the guards list it last and qualify pg_class.

    0003 revokes TEMPORARY from PUBLIC; an operator may grant it back to a login.
    """
    as_owner.execute(
        sql.SQL("GRANT TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(as_owner.info.dbname), sql.Identifier(EDITOR)
        )
    )
    with connect(editor_url, autocommit=True) as as_editor:
        _impersonate_the_owner(as_editor)


def _impersonate_the_owner(as_editor: psycopg.Connection[Any]) -> None:
    as_editor.execute("CREATE TEMP TABLE pg_class (oid oid, relowner oid)")
    as_editor.execute(
        "INSERT INTO pg_temp.pg_class SELECT 'params.schedules'::regclass, oid"
        " FROM pg_catalog.pg_roles WHERE rolname = current_user"
    )
    with pytest.raises(psycopg.errors.CheckViolation, match="below the editor limit of 60"):
        as_editor.execute(
            "INSERT INTO params.schedules (job, task, every_seconds) VALUES ('u.f', 'core.noop', 1)"
        )


def test_one_second_collection_periods_are_refused_for_editors(
    as_editor: psycopg.Connection[Any], as_owner: psycopg.Connection[Any]
) -> None:
    message = _refused(
        as_editor,
        "UPDATE params.collection_policies SET period_seconds = 1 WHERE name = 'rds-default'",
    )
    assert message == (
        "params.collection_policies[rds-default].period_seconds: 1 is below the editor limit"
        " of 60 (collection_policies.min_period_seconds in ops.editor_limits)"
    )
    message = _refused(
        as_editor,
        "UPDATE params.collection_policies SET every_seconds = 10 WHERE name = 'rds-default'",
    )
    assert "every_seconds: 10 is below the editor limit of 60" in message
    as_editor.execute(
        "UPDATE params.collection_policies SET period_seconds = 60, every_seconds = 60"
        " WHERE name = 'rds-default'"
    )
    # The owner is not bound by editor limits (a custom, high-resolution namespace may use 10 s;
    # AWS namespaces may not, whoever asks: migration 0065).
    as_owner.execute(
        "UPDATE params.collection_policies SET namespace = 'Custom/Locxia', period_seconds = 10"
        " WHERE name = 'rds-default'"
    )


def test_budgets_cannot_be_multiplied_by_1000_in_one_edit(
    as_editor: psycopg.Connection[Any], as_owner: psycopg.Connection[Any]
) -> None:
    as_owner.execute(
        "INSERT INTO params.budgets (name, scope, monthly_usd) VALUES ('total', 'total', 5000)"
    )
    message = _refused(as_editor, "UPDATE params.budgets SET monthly_usd = monthly_usd * 1000")
    assert message == (
        "params.budgets[total].monthly_usd: 5000000.00 is more than 10 × the current 5000.00"
        " in one edit (budgets.max_factor in ops.editor_limits)"
    )
    message = _refused(
        as_editor,
        "INSERT INTO params.budgets (name, scope, monthly_usd) VALUES ('big', 'total', 1e6)",
    )
    assert "above the editor limit of 100000 USD (budgets.max_monthly_usd" in message
    as_editor.execute("UPDATE params.budgets SET monthly_usd = 20000")  # × 4: allowed
    as_owner.execute("UPDATE params.budgets SET monthly_usd = 20000000")  # the owner may
    row = as_owner.execute("SELECT monthly_usd FROM params.budgets").fetchone()
    assert row is not None and float(row[0]) == 20_000_000


def test_editors_cannot_write_the_catalog_or_the_limits(
    as_editor: psycopg.Connection[Any],
) -> None:
    for statement in (
        "INSERT INTO ops.schedulable_tasks (task, plugin, args_schema)"
        " VALUES ('shape.approve', 'x', '{\"args\": {}}')",
        "UPDATE ops.editor_limits SET value = 1",
        "ALTER TABLE params.schedules DISABLE TRIGGER guard",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            as_editor.execute(statement)


def test_the_catalog_lists_what_the_plugins_declare(as_owner: psycopg.Connection[Any]) -> None:
    tasks = {r[0] for r in as_owner.execute("SELECT task FROM ops.schedulable_tasks")}
    assert {"shape.reconcile", "metrics.collect", "layers.ingest", "core.chain"} <= tasks
    assert not tasks & {"shape.approve", "layers.transfer-url", "layers.transfer-table"}


NOTE_ROWS = {
    "schedules": "job = 'n.x'",
    "collection_policies": "name = 'rds-default'",
    "instances": "name = 'n-x'",
}


@pytest.mark.parametrize("text", ["a\x1b[2Jb", "ok\rforged", "ding\x07", "csi\x9b2J"])
@pytest.mark.parametrize("table", sorted(NOTE_ROWS))
def test_control_characters_in_new_notes_are_refused(
    as_owner: psycopg.Connection[Any], table: str, text: str
) -> None:
    as_owner.execute(
        "INSERT INTO params.schedules (job, task, cron) VALUES ('n.x', 'core.noop', '0 0 1 1 *')"
    )
    as_owner.execute(
        "INSERT INTO params.instances (name, kind, instance_class, storage_gb)"
        " VALUES ('n-x', 'ec2', 't3.micro', 8)"
    )
    update = sql.SQL("UPDATE {} SET note = %s WHERE {}").format(
        sql.Identifier("params", table), sql.SQL(NOTE_ROWS[table])
    )
    with pytest.raises(psycopg.errors.CheckViolation, match="note_is_printable"):
        as_owner.execute(update, (text,))
    as_owner.execute(update, ("plain, été",))


def test_an_editor_edits_params_instances(
    as_editor: psycopg.Connection[Any], as_owner: psycopg.Connection[Any]
) -> None:
    """0020's guard reads costs.prices: 0052 grants that table (public list prices) only."""
    as_editor.execute(
        "INSERT INTO params.instances (name, kind, instance_class, storage_gb)"
        " VALUES ('vm-1', 'ec2', 't3.micro', 8)"
    )
    as_editor.execute("UPDATE params.instances SET instance_class = 't3.small'")
    with pytest.raises(psycopg.errors.CheckViolation, match="not in the ec2 price catalog"):
        as_editor.execute("UPDATE params.instances SET instance_class = 't3.nonesuch'")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_editor.execute("SELECT * FROM costs.daily")


def test_an_editor_cannot_point_a_dataset_at_any_url_or_file(
    as_editor: psycopg.Connection[Any], as_owner: psycopg.Connection[Any]
) -> None:
    """A scheduled dataset is fetched with the service's credentials, like transfer-url."""
    insert = "INSERT INTO params.datasets (name, source, cron) VALUES (%s, %s, '0 3 * * *')"
    for source in (
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://data.example.org.evil.test/roads.gpkg",
    ):
        message = _refused(as_editor, insert, "roads", source)
        assert message == (
            f"params.datasets[roads].source: {source} is not under a prefix editors may use"
            " (editor limit: ops.editor_sources)"
        )
    as_owner.execute(
        "INSERT INTO ops.editor_sources (prefix, note) VALUES ('https://data.example.org/', 'x')"
    )
    as_editor.execute(insert, ("roads", "https://data.example.org/roads.gpkg"))
    as_editor.execute("UPDATE params.datasets SET note = 'ok' WHERE name = 'roads'")
    as_owner.execute(insert, ("local", "file:///srv/data/local.gpkg"))  # the owner may
    as_editor.execute("UPDATE params.datasets SET cron = '0 4 * * *' WHERE name = 'local'")
