"""The one mapping from errors to what a user sees (infra.cli.errors), without a database."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pg

from infra.cli.errors import describe, masked, one_line, run_app
from infra.cli.run import failure_line
from infra.errors import DatabaseError, InputError, JobError
from infra.jobs.model import RunResult


def _raise(exc: BaseException) -> None:
    raise exc


def _wrapped(cause: Exception) -> DatabaseError:
    try:
        raise cause
    except Exception as exc:
        try:
            raise DatabaseError(f"cannot record run of core.noop: {exc}") from exc
        except DatabaseError as wrapped:
            return wrapped


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("relation x does not exist\nLINE 1: SELECT\n   ^", "relation x does not exist"),
        ("\n\n  second  \nthird", "second"),
        ("postgresql://u:pw@h:5432/db is down", "postgresql://u:***@h:5432/db is down"),
        ("host=h password=pw dbname=d", "host=h password=*** dbname=d"),
        ("http://user@host/x", "http://user@host/x"),
        ("", ""),
    ],
    ids=["psycopg-context", "blank-lines", "url-password", "conninfo-password", "no-pw", "empty"],
)
def test_one_line_keeps_the_first_line_and_masks_passwords(text: str, expected: str) -> None:
    assert one_line(text) == expected


def test_masked_keeps_every_line() -> None:
    assert masked("a\npostgres://x:y@h/d") == "a\npostgres://x:***@h/d"


@pytest.mark.parametrize(
    "error",
    [
        pg.UndefinedTable('relation "ops.runs" does not exist\nLINE 1: ...'),
        pg.InvalidSchemaName('schema "ops" does not exist'),
        pg.UndefinedColumn('column "cron" does not exist'),
        pg.UndefinedFunction("function st_makevalid(geometry) does not exist"),
        pg.UndefinedObject('type "geometry" does not exist'),
    ],
    ids=["table", "schema", "column", "function", "type"],
)
def test_a_schema_not_migrated_says_to_upgrade(error: psycopg.Error) -> None:
    for exc in (error, _wrapped(error)):
        line = describe(exc)
        assert line.startswith("the database is not migrated or out of date (")
        assert line.endswith("run `locxia db upgrade` (`locxia db status` shows what is pending)")
        assert "\n" not in line and "LINE 1" not in line


def test_a_missing_privilege_says_which_login_to_use() -> None:
    line = describe(_wrapped(pg.InsufficientPrivilege("permission denied for table runs")))
    assert line.startswith("PostgreSQL refused: permission denied for table runs (use the login")


def test_other_database_errors_keep_their_context() -> None:
    wrapped = _wrapped(pg.UniqueViolation("duplicate key value\nDETAIL: Key (id)=(1)"))
    assert describe(wrapped) == "cannot record run of core.noop: duplicate key value"
    assert describe(pg.UniqueViolation("duplicate key value")) == (
        "database error [23505]: duplicate key value"
    )
    assert describe(psycopg.OperationalError("server closed the connection unexpectedly")) == (
        "lost the connection to PostgreSQL: server closed the connection unexpectedly"
    )


def test_locxia_system_and_unexpected_errors() -> None:
    assert describe(InputError("expected 3", "--n")) == "--n: expected 3"
    assert describe(FileNotFoundError(2, "No such file or directory", "/x")) == (
        "/x: No such file or directory"
    )
    line = describe(KeyError("boom"))
    assert line.startswith("internal error KeyError: 'boom' (a bug;")


@pytest.mark.parametrize(
    ("raised", "code", "shown"),
    [
        (None, 0, []),
        (SystemExit(2), 2, []),
        (SystemExit(None), 0, []),
        (SystemExit("bye"), 1, []),
        (KeyboardInterrupt(), 130, ["interrupted"]),
        (JobError("no such job"), 1, ["no such job"]),
        (pg.UndefinedTable("relation x"), 1, ["the database is not migrated or out of date"]),
        (ZeroDivisionError("division by zero"), 1, ["internal error ZeroDivisionError"]),
    ],
    ids=["ok", "usage", "exit-none", "exit-text", "ctrl-c", "domain", "database", "bug"],
)
def test_run_app_gives_the_documented_exit_codes(
    raised: BaseException | None, code: int, shown: list[str]
) -> None:
    lines: list[str] = []
    assert run_app(lambda: raised and _raise(raised), lines.append) == code
    assert len(lines) == len(shown)
    for line, start in zip(lines, shown, strict=True):
        assert line.startswith(start)


def test_a_failed_run_is_one_line_wherever_it_ran() -> None:
    failed = RunResult(12, "failed", {}, "quality check failed\nsecond line")
    assert failure_line("layers.refine", failed) == (
        "layers.refine failed (run 12): quality check failed"
    )
    assert failure_line("layers.refine", failed, job_id="demo.refine") == (
        "demo.refine (layers.refine) failed (run 12): quality check failed"
    )
    assert failure_line("x", RunResult(3, "failed", {}, None)) == (
        "x failed (run 3): no error recorded"
    )


def test_a_run_that_met_a_missing_table_is_told_to_upgrade() -> None:
    from infra.cli.errors import recorded_line

    line = recorded_line('UndefinedTable: relation "costs.focus" does not exist\nLINE 1: ...')
    assert line.startswith('UndefinedTable: relation "costs.focus" does not exist (')
    assert "locxia db upgrade" in line and "\n" not in line
    assert recorded_line("AwsError: throttled") == "AwsError: throttled"


def test_a_run_refused_a_privilege_says_which_login_to_use() -> None:
    from infra.cli.errors import recorded_line

    line = failure_line(
        "costs.explorer",
        RunResult(4, "failed", {}, "InsufficientPrivilege: permission denied for table daily\n"),
    )
    assert line.startswith(
        "costs.explorer failed (run 4): InsufficientPrivilege: permission denied for table daily"
        " (use the login that owns the Locxia schema"
    )
    assert "\n" not in line
    assert recorded_line("InsufficientPrivilegeX") == "InsufficientPrivilegeX"


@pytest.mark.parametrize(
    "error",
    [pg.InsufficientPrivilege("permission denied for schema costs"), pg.InsufficientPrivilege("")],
)
def test_every_permission_error_is_one_line_and_exit_1(error: psycopg.Error) -> None:
    shown: list[str] = []
    for exc in (error, _wrapped(error)):
        assert run_app(lambda exc=exc: _raise(exc), shown.append) == 1
    assert len(shown) == 2 and all(
        "\n" not in s and s.startswith("PostgreSQL refused") for s in shown
    )
