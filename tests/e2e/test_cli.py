from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Run


def test_help_teaches(locxia: Run) -> None:
    out = locxia("--help")
    assert out.returncode == 0
    for word in ("demo", "db", "serve", "jobs", "runs", "LOCXIA_"):
        assert word in out.stdout


def test_no_arguments_shows_help(locxia: Run) -> None:
    out = locxia()
    assert "Usage" in out.stdout + out.stderr


def test_version_json(locxia: Run) -> None:
    out = locxia("version", "--json")
    assert out.returncode == 0
    assert json.loads(out.stdout)["locxia"]


def test_upgrade_is_idempotent_and_status_shows_nothing_pending(locxia: Run) -> None:
    # db_url is already migrated from the template: the upgrade must be a no-op
    first = locxia("db", "upgrade", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"applied": [], "reference_rows": 0}
    status = locxia("db", "status", "--json", "--check")
    assert status.returncode == 0
    assert {row["state"] for row in json.loads(status.stdout)} == {"applied"}


def test_upgrade_on_an_empty_database(locxia: Run, empty_db_url: str) -> None:
    env = {"LOCXIA_DATABASE_URL": empty_db_url}
    pending = locxia("db", "status", "--check", env=env)
    assert pending.returncode == 1 and "pending" in pending.stderr
    first = locxia("db", "upgrade", env=env)
    assert first.returncode == 0 and "applied 0001" in first.stdout
    second = locxia("db", "upgrade", env=env)
    assert second.returncode == 0 and "nothing to apply" in second.stdout


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        (
            {"LOCXIA_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
            "cannot connect to PostgreSQL at 127.0.0.1:1/none",
        ),
        ({"LOCXIA_DATABASE_URL": "postgres//oops"}, "invalid setting LOCXIA_DATABASE_URL"),
        ({"LOCXIA_AWS_REGION": "eu-middle-9"}, "invalid setting LOCXIA_AWS_REGION"),
        ({"LOCXIA_CONFIG": "/nonexistent.toml"}, "does not exist"),
        (
            {"LOCXIA_DASK_TLS_CA_FILE": "/nonexistent/ca.pem"},
            "invalid setting LOCXIA_DASK_TLS_CA_FILE: /nonexistent/ca.pem is not a file",
        ),
    ],
    ids=["unreachable", "malformed-url", "unknown-region", "missing-config", "missing-tls-file"],
)
def test_bad_settings_give_one_line_and_exit_1(
    locxia: Run, env: dict[str, str], fragment: str
) -> None:
    out = locxia("db", "status", env=env)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert fragment in lines[0]
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("db", "frobnicate"), "No such command"),
        (("runs", "list", "--limit", "0"), "--limit"),
        (("runs", "list", "--status", "odd"), "--status 'odd': expected running"),
        (("jobs", "run", "core.noop", "-a", "bad"), "--arg 'bad': expected key=value"),
    ],
    ids=["unknown-command", "out-of-range", "unknown-status", "not-key-value"],
)
def test_usage_errors_exit_2(locxia: Run, args: tuple[str, ...], fragment: str) -> None:
    out = locxia(*args)
    assert out.returncode == 2, out.stderr
    assert "Usage: locxia" in out.stderr and fragment in out.stderr
    assert "Traceback" not in out.stderr


def test_a_never_migrated_database_says_to_upgrade(locxia: Run, empty_db_url: str) -> None:
    out = locxia("runs", "list", env={"LOCXIA_DATABASE_URL": empty_db_url})
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        'error: the database is not migrated or out of date (relation "ops.runs" does not'
        " exist): run `locxia db upgrade` (`locxia db status` shows what is pending)"
    ]


def test_run_a_task_and_list_it(locxia: Run) -> None:
    ran = locxia("jobs", "run", "core.noop", "--arg", "sleep_seconds=0", "--json")
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    listed = json.loads(locxia("runs", "list", "--json").stdout)
    assert listed[0]["id"] == run_id and listed[0]["status"] == "success"
    shown = json.loads(locxia("runs", "show", str(run_id)).stdout)
    assert shown["task"] == "core.noop"


def test_domain_errors_are_one_red_line(locxia: Run) -> None:
    for args in (
        ("jobs", "run", "nope"),
        ("jobs", "run", "core.noop", "-a", "nope=1"),
        ("runs", "show", "999999"),
    ):
        out = locxia(*args)
        assert out.returncode == 1, args
        assert out.stderr.startswith("error:") and len(out.stderr.strip().splitlines()) == 1


def test_a_failed_run_is_shown_then_one_line(locxia: Run) -> None:
    out = locxia("jobs", "run", "core.chain", "-a", 'steps=[{"task": "nope"}]')
    assert out.returncode == 1
    assert out.stdout.startswith("run ") and "failed" in out.stdout
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("error: core.chain failed (run ")
