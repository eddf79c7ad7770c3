"""Every argument or option that names rows, given an empty or a blank value: a usage error.

A script with an unset ``$NAME`` runs ``locxia params set "" instance_class=...``; an empty
name must never mean "no filter". Each command of :data:`COMMANDS` gets ``""`` and ``"  "``
where a name goes, on a database with rows to select (two instances, a dataset with a
landing version, a live leader to ask for runs), and must exit 2 with one message line,
naming what is empty, and leave every table of ``params``, ``ops`` and ``exposure`` and the
zones exactly as they were.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import psycopg
import pytest
import typer.main
from psycopg import sql

from infra.cli.main import app, main
from infra.db import connect
from tests.support import formats, geodata

BLANKS = {"empty": "", "blank": "  "}
INSTANCE = ["kind=rds", "class=db.t4g.large", "storage=100", "engine=postgres", "engine_version=16"]

#: Every command line where a value names rows; ``{}`` is where the name goes. ``{file}``
#: is a real layer and ``{db}`` the test database (so only the name can be wrong).
COMMANDS: dict[tuple[str, str], list[str]] = {
    ("params set", "name"): ["params", "set", "{}", "instance_class=db.r6g.2xlarge"],
    ("params history", "name"): ["params", "history", "{}"],
    ("params revert", "name"): ["params", "revert", "{}"],
    ("params revert", "change"): ["params", "revert", "work-db", "--change", "{}"],
    ("ingest", "dataset"): ["ingest", "{file}", "--dataset", "{}"],
    ("ingest", "layer"): ["ingest", "{file}", "--dataset", "roads", "--layer", "{}"],
    ("ingest", "source"): ["ingest", "{}", "--dataset", "roads"],
    ("refine", "dataset"): ["refine", "{}"],
    ("refine", "version"): ["refine", "roads", "--version", "{}"],
    ("publish", "dataset"): ["publish", "{}"],
    ("publish", "version"): ["publish", "roads", "--version", "{}"],
    ("rollback", "dataset"): ["rollback", "{}"],
    ("datasets show", "dataset"): ["datasets", "show", "{}"],
    ("datasets set", "dataset"): ["datasets", "set", "{}", "crs=EPSG:4326"],
    ("datasets history", "dataset"): ["datasets", "history", "{}"],
    ("datasets revert", "dataset"): ["datasets", "revert", "{}"],
    ("datasets revert", "change"): ["datasets", "revert", "roads", "--change", "{}"],
    ("transfer url", "dataset"): ["transfer", "url", "https://example.org/x.zip", "-d", "{}"],
    ("transfer table", "table_name"): ["transfer", "table", "{}", "--from", "{db}", "--to", "{db}"],
    ("transfer table", "target_table"): [
        *("transfer", "table", "public.a", "--from", "{db}", "--to", "{db}", "--as", "{}"),
    ],
    ("jobs run", "task"): ["jobs", "run", "{}"],
    ("jobs trigger", "job"): ["jobs", "trigger", "{}", "--timeout", "1"],
    ("runs list", "job"): ["runs", "list", "--job", "{}"],
    ("runs list", "status"): ["runs", "list", "--status", "{}"],
    ("runs show", "run_id"): ["runs", "show", "{}"],
    ("observe collect", "policy"): ["observe", "collect", "--policy", "{}"],
    ("observe resources", "rtype"): ["observe", "resources", "--type", "{}"],
    ("dashboards check", "dashboard"): ["dashboards", "check", "--dashboard", "{}"],
    ("infra approve", "run"): ["infra", "approve", "{}"],
    ("infra rebuild", "name"): ["infra", "rebuild", "{}", "--from-snapshot", "snap-1"],
    ("infra rebuild", "from_snapshot"): ["infra", "rebuild", "work-db", "--from-snapshot", "{}"],
    ("infra approve-rebuild", "request"): ["infra", "approve-rebuild", "{}"],
    ("notify test", "rule"): ["notify", "test", "--rule", "{}"],
    ("observe anomalies ack", "anomaly_id"): ["observe", "anomalies", "ack", "{}"],
    ("capacity show", "window_id"): ["capacity", "show", "{}"],
    ("capacity restore", "window_id"): ["capacity", "restore", "{}"],
}
#: Ids, not names: Click's own integer check refuses the value (its message, not ours).
NUMBERS = {"change", "version", "run_id", "run", "request", "anomaly_id", "window_id"}
#: Parameters that name nothing: flags, numbers of things, files to write, URLs, labels.
NOT_NAMES = {
    "as_json",
    "as_user",
    "check",
    "days",
    "dry_run",
    "estimate_only",
    "for_seconds",
    "force",
    "keep_running",
    "last",
    "limit",
    "month",
    "out",
    "png",
    "refresh",
    "replace",
    "report",
    "seconds",
    "shot",
    "show_all",
    "since",
    "source_url",
    "stop",
    "target_url",
    "timeout",
    "url",
    "wait",
    "arg",
    "assignments",
    "changes",
    "config",
    "verbose",
    "retry",
    "backfill",
    "until",
    "focus_path",
}
IDS = [" ".join(key) for key in COMMANDS]
SNAPSHOT_SCHEMAS = ("params", "ops", "exposure")


def test_the_table_covers_every_name_parameter() -> None:
    """Every parameter of every command is in :data:`COMMANDS` or known not to be a name."""

    def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
        for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
            yield from walk(sub, (*path, name))
        if not hasattr(command, "commands"):
            for param in command.params:
                yield " ".join(path), str(param.name)

    every = set(walk(typer.main.get_command(app)))
    assert {(c, p) for c, p in every if p not in NOT_NAMES} == set(COMMANDS)
    assert len(COMMANDS) == 36


def _snapshot(url: str) -> dict[str, tuple[int, str]]:
    """Row count and a digest of the rows of every table that could be written."""
    out: dict[str, tuple[int, str]] = {}
    with connect(url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE' ORDER BY 1, 2",
            (list(SNAPSHOT_SCHEMAS),),
        ).fetchall()
        for schema, table in tables:
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                    " FROM {} t"
                ).format(sql.Identifier(schema, table))
            ).fetchone()
            assert row is not None
            out[f"{schema}.{table}"] = (int(row[0]), str(row[1]))
    return out


def _files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*")) if folder.exists() else []


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> Iterator[Any]:
    """``locxia ARGS`` in-process against ``db_url``: (exit code, stdout, stderr)."""
    for key in [k for k in os.environ if k.startswith("LOCXIA_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("LOCXIA_DATABASE_URL", db_url)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("COLUMNS", "200")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def run(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(args))
        return code, out.getvalue(), err.getvalue()

    yield run
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def seeded(cli: Any, db_url: str, tmp_path: Path) -> Path:
    """Rows a blank name could select: two instances, a landed dataset, a live leader."""
    for name in ("aaa-db", "work-db"):
        code, _, err = cli("params", "set", name, *INSTANCE)
        assert code == 0, err
    path, _ = formats.flatgeobuf(geodata.layer_table(20, seed=2), tmp_path)
    code, _, err = cli("ingest", str(path), "--dataset", "roads")
    assert code == 0, err
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO ops.services (id, host, pid, version, role)"
            " VALUES ('blank-names', 'localhost', 1, 'test', 'leader')"
        )
    return path


def message_lines(stderr: str) -> list[str]:
    """The lines of Click's usage error that carry its message (not the usage or the frame)."""
    lines = [line.strip(" │") for line in stderr.splitlines()]
    skip = ("Usage:", "Try '", "╭", "╰")
    return [line.strip() for line in lines if line.strip() and not line.startswith(skip)]


@pytest.mark.parametrize("blank", list(BLANKS), ids=list(BLANKS))
@pytest.mark.parametrize("command", list(COMMANDS), ids=IDS)
def test_an_empty_or_blank_name_is_a_usage_error(
    command: tuple[str, str], blank: str, cli: Any, seeded: Path, db_url: str, tmp_path: Path
) -> None:
    value = BLANKS[blank]
    args = [a.format(value, file=seeded, db=db_url) for a in COMMANDS[command]]
    before = _snapshot(db_url), _files(tmp_path / "xdg")
    code, stdout, stderr = cli(*args)
    assert code == 2, f"exit {code}\n{stdout}\n{stderr}"
    assert "Traceback" not in stderr and stdout == ""
    lines = message_lines(stderr)
    assert len(lines) == 1, stderr
    if command[1] not in NUMBERS:
        assert f"is {'empty' if value == '' else 'blank'}" in lines[0], lines[0]
    assert (_snapshot(db_url), _files(tmp_path / "xdg")) == before
