"""Every command of the app, as the app itself lists them: help, a never-migrated database,
an unreachable one (and a few as a login without privileges). No traceback ever, one error
line, no password shown, and only the documented exit codes.

Commands are enumerated from the Typer app (a new command is covered without editing this
file); each gets minimal valid-looking arguments from :data:`SAMPLES`, by parameter name.
They run in-process through :func:`infra.cli.main.main`, except the long-running ones
(:data:`IN_A_PROCESS`), which run as the real ``locxia`` script under a timeout.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import typer.main

from infra.cli.main import app, main
from tests.conftest import locxia_bin
from tests.support import pg

Path_ = tuple[str, ...]

PASSWORD = "s3cret-never-shown"
UNREACHABLE = f"postgresql://locxia:{PASSWORD}@127.0.0.1:1/x"
TRACEBACK = "Traceback (most recent call last)"

#: Minimal valid-looking values of required parameters, by parameter name ("1" otherwise).
SAMPLES: dict[str, list[str]] = {
    "dataset": ["roads"],
    "source": ["roads.gpkg"],
    "task": ["core.noop"],
    "job": ["core.noop"],
    "name": ["work-db"],
    "assignments": ["instance_class=db.t4g.large"],
    "changes": ["min_rows=1"],
    "table_name": ["public.roads"],
    "url": ["https://example.org/roads.zip"],
    "source_url": ["{db}"],
    "target_url": ["{db}"],
}

#: Extra options: write into the test's directory, never the working tree; never wait long.
EXTRA: dict[Path_, list[str]] = {
    ("dashboards", "build"): ["--out", "{tmp}/dashboards"],
    ("report",): ["--out", "{tmp}/report.html"],
    ("jobs", "trigger"): ["--timeout", "2"],
    ("serve",): ["--for", "5"],
    ("observe", "export"): ["--focus", "{tmp}/costs.parquet"],
}

#: Commands that need no database: they succeed whatever its state.
NO_DATABASE: set[Path_] = {("version",), ("jobs", "tasks"), ("dashboards", "build")}

#: Commands that stop on a missing setting of their own before reaching the database.
OWN_SETTING_FIRST: dict[Path_, str] = {
    ("dashboards", "push"): "LOCXIA_GRAFANA_DATABASE_URL is not set",
    ("observe", "streams"): "LOCXIA_METRIC_STREAMS_URI is not set",
    ("observe", "actuals"): "LOCXIA_FOCUS_EXPORT_URI is not set",
}

#: Long-running commands: run as a real process, killed if they outlive the timeout.
IN_A_PROCESS: set[Path_] = {("serve",), ("demo",)}

#: Commands that would change a never-migrated database: run each on a database of its own.
MIGRATES: set[Path_] = {("db", "upgrade")}


def _walk(command: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    yield path, command
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        yield from _walk(sub, (*path, name))


TREE = dict(_walk(typer.main.get_command(app)))
LEAVES = sorted(path for path, cmd in TREE.items() if not hasattr(cmd, "commands"))


def arguments(path: Path_, db: str, tmp: Path) -> list[str]:
    """The command line of ``path`` with its required parameters given sample values."""
    out = list(path)
    for param in TREE[path].params:
        if not param.required:
            continue
        values = SAMPLES.get(param.name or "", ["1"])
        out += [param.opts[0], *values] if param.param_type_name == "option" else values
    out += EXTRA.get(path, [])
    return [a.format(db=db, tmp=tmp) for a in out]


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """Run ``locxia ARGS`` in-process (or as a process) with LOCXIA_DATABASE_URL=db."""
    for key in [k for k in os.environ if k.startswith("LOCXIA_")]:
        monkeypatch.delenv(key)
    env = {
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "LOCXIA_DEMO_DIR": str(tmp_path / "demo"),
        "COLUMNS": "200",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def run(args: list[str], db: str, *, process: bool = False, timeout: float = 60) -> Outcome:
        monkeypatch.setenv("LOCXIA_DATABASE_URL", db)
        if process:
            return _in_a_process(args, timeout)
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(args)
        return Outcome(code, out.getvalue(), err.getvalue())

    yield run
    root.handlers[:], root.level = handlers, level  # the CLI points logging at our buffers


def _in_a_process(args: list[str], timeout: float) -> Outcome:
    proc = subprocess.Popen(
        [locxia_bin(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.communicate()
        raise AssertionError(f"locxia {' '.join(args)} still running after {timeout}s") from None
    return Outcome(proc.returncode, out, err)


@pytest.fixture(scope="module")
def never_migrated(admin_url: str) -> Iterator[str]:
    """A database created and never migrated (shared: the commands below only read it)."""
    url = pg.create_db(admin_url, "locxia_n")
    yield url.replace("://locxia@", f"://locxia:{PASSWORD}@", 1)
    pg.drop_db(admin_url, url)


def one_error_line(outcome: Outcome, *fragments: str) -> None:
    assert outcome.code == 1, outcome.text
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), outcome.text
    assert "internal error" not in lines[0], outcome.text
    for fragment in fragments:
        assert fragment in lines[0], outcome.text


def no_leak(outcome: Outcome) -> None:
    assert TRACEBACK not in outcome.stdout + outcome.stderr, outcome.text
    assert PASSWORD not in outcome.stdout + outcome.stderr, outcome.text


def _id(path: Path_) -> str:
    return " ".join(path) or "locxia"


def test_the_tree_is_walked() -> None:
    assert len(LEAVES) >= 40
    assert {("runs", "list"), ("datasets", "show"), ("serve",), ("version",)} <= set(LEAVES)
    assert set(NO_DATABASE) | set(OWN_SETTING_FIRST) | IN_A_PROCESS | MIGRATES <= set(LEAVES)


@pytest.mark.parametrize("path", sorted(TREE), ids=_id)
def test_help(cli: Any, path: Path_) -> None:
    outcome = cli([*path, "--help"], UNREACHABLE)
    assert outcome.code == 0, outcome.text
    assert "Usage" in outcome.stdout
    no_leak(outcome)


@pytest.mark.parametrize("path", LEAVES, ids=_id)
def test_on_a_never_migrated_database(
    cli: Any, path: Path_, never_migrated: str, empty_db_url: str, tmp_path: Path
) -> None:
    db = never_migrated
    args = arguments(path, db, tmp_path)
    if path == ("demo",):
        args.append("--stop")  # the whole demo migrates and runs for long: tests/e2e/test_demo
    if path in MIGRATES:
        db = empty_db_url
    outcome = cli(args, db, process=path in IN_A_PROCESS)
    no_leak(outcome)
    if path in NO_DATABASE | MIGRATES or path in {("demo",), ("db", "status")}:
        assert outcome.code == 0, outcome.text
    elif path in OWN_SETTING_FIRST:
        one_error_line(outcome, OWN_SETTING_FIRST[path])
    else:
        one_error_line(outcome, "`locxia db upgrade`")


@pytest.mark.parametrize("path", LEAVES, ids=_id)
def test_on_an_unreachable_database(cli: Any, path: Path_, tmp_path: Path) -> None:
    outcome = cli(arguments(path, UNREACHABLE, tmp_path), UNREACHABLE, process=path in IN_A_PROCESS)
    no_leak(outcome)
    if path in NO_DATABASE:
        assert outcome.code == 0, outcome.text
    elif path in OWN_SETTING_FIRST:
        one_error_line(outcome, OWN_SETTING_FIRST[path])
    else:
        one_error_line(outcome, "cannot connect to PostgreSQL at 127.0.0.1:1/x")


@pytest.mark.slow
@pytest.mark.parametrize(
    "args", [["runs", "list"], ["jobs", "run", "core.noop"], ["datasets", "show", "roads"]], ids=_id
)
def test_the_script_says_the_same(cli: Any, args: list[str], never_migrated: str) -> None:
    """The real ``locxia`` script: the same single line, nothing more, on a never-migrated DB."""
    outcome = cli(args, never_migrated, process=True)
    no_leak(outcome)
    one_error_line(outcome, "the database is not migrated", "run `locxia db upgrade`")


@pytest.fixture
def unprivileged_url(admin_url: str, db_url: str) -> Iterator[str]:
    """``db_url`` (migrated) as a login that owns nothing and was granted nothing."""
    from psycopg import sql

    from infra.db import connect

    role = "locxia_nobody"
    with connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            except psycopg.errors.InsufficientPrivilege as exc:
                # Only a server the developer supplied (LOCXIA_TEST_DATABASE_URL) may refuse:
                # the tests' own throwaway cluster runs as a superuser, so there it fails.
                if not os.environ.get(pg.TEST_URL_ENV):
                    raise
                pytest.skip(
                    f"{pg.TEST_URL_ENV} names a server where tests cannot create roles: {exc}"
                )
    parts = db_url.split("://", 1)[1].split("@", 1)[1]
    yield f"postgresql://{role}:{PASSWORD}@{parts}"


@pytest.mark.parametrize(
    "args", [["runs", "list"], ["jobs", "run", "core.noop"], ["params", "list"]], ids=_id
)
def test_a_login_without_privileges_is_told_so(
    cli: Any, args: list[str], unprivileged_url: str
) -> None:
    outcome = cli(args, unprivileged_url)
    no_leak(outcome)
    one_error_line(outcome, "PostgreSQL refused: permission denied for ", "use the login")
