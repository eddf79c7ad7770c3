"""`locxia params` and `locxia infra` as a user types them."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from infra.demo.standin import SHIM
from infra.demo.standin import STANDIN_MODULE as STANDIN
from tests.e2e.conftest import Run

CREATE = ["kind=rds", "class=db.t4g.large", "storage=100", "engine=postgres", "engine_version=16"]


def test_params_set_history_revert(locxia: Run) -> None:
    created = locxia("params", "set", "work-db", *CREATE, "--as", "alice", "--json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["created"] is True
    changed = locxia("params", "set", "work-db", "instance_class=db.r6g.2xlarge", "--as", "bob")
    assert changed.returncode == 0 and "db.t4g.large → db.r6g.2xlarge" in changed.stdout
    history = json.loads(locxia("params", "history", "work-db", "--json").stdout)
    assert [(h["op"], h["by"]) for h in history] == [("UPDATE", "bob"), ("INSERT", "alice")]
    assert history[0]["changes"]["instance_class"] == ["db.t4g.large", "db.r6g.2xlarge"]
    reverted = locxia("params", "revert", "work-db", "--as", "carol")
    assert reverted.returncode == 0, reverted.stderr
    listed = json.loads(locxia("params", "list", "--json").stdout)["instances"]
    assert [(r["name"], r["instance_class"]) for r in listed] == [("work-db", "db.t4g.large")]
    history = json.loads(locxia("params", "history", "work-db", "--json").stdout)
    assert history[0]["by"] == "carol"


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["work-db", *CREATE[:-1], "engine_version=16;drop"], 1, "engine_version"),
        (["bad'name", *CREATE], 2, "invalid name"),
        (["work-db", *CREATE, "colour=red"], 2, "not an editable column"),
        (["work-db", *CREATE, "schedule=[oops"], 2, "schedule: invalid JSON"),
        (["work-db", *CREATE, "--as", "\t"], 2, "expected a short printable name"),
    ],
    ids=["injection-in-version", "quote-in-name", "unknown-column", "bad-json", "blank-actor"],
)
def test_bad_input_is_reported_once(locxia: Run, args: list[str], code: int, fragment: str) -> None:
    """The row's rules are failures (1, one red line); the command line's, usage errors (2)."""
    out = locxia("params", "set", *args)
    assert out.returncode == code, out.stderr
    assert fragment in out.stderr and "Traceback" not in out.stderr
    if code == 1:
        assert len(out.stderr.strip().splitlines()) == 1
    else:
        assert out.stderr.startswith("Usage: locxia params set")
    assert json.loads(locxia("params", "list", "--json").stdout)["instances"] == []


@pytest.mark.slow
def test_infra_plan_and_apply_through_the_cli(
    locxia: Run, tmp_path: Path, moto_endpoint: str
) -> None:
    live = tmp_path / "live"
    shutil.copytree(STANDIN, live)
    env = {
        "LOCXIA_TERRAFORM_DIR": str(live),
        "LOCXIA_AWS_ENDPOINT_URL": moto_endpoint,
        "LOCXIA_STANDIN_SHIM": f"{sys.executable} {SHIM}",
        "LOCXIA_STANDIN_ENDPOINT": moto_endpoint,
    }
    assert locxia("params", "set", "work-db", *CREATE, env=env).returncode == 0
    plan = locxia("infra", "plan", "--json", env=env, timeout=300)
    assert plan.returncode == 0, plan.stderr
    planned = json.loads(plan.stdout)
    assert planned["status"] == "planned" and planned["changes"][0]["action"] == "create"
    apply = locxia("infra", "apply", env=env, timeout=300)
    assert apply.returncode == 0, apply.stderr
    assert "applied" in apply.stdout and "work-db" in apply.stdout
    status = json.loads(locxia("infra", "status", "--json", env=env).stdout)
    assert [r["status"] for r in status["runs"]] == ["applied", "planned"]
    runs = json.loads(locxia("runs", "list", "--json", env=env).stdout)
    assert {r["task"] for r in runs} >= {"shape.plan", "shape.reconcile"}


def test_an_editor_login_edits_instances_end_to_end(
    locxia: Run, admin_url: str, db_url: str
) -> None:
    """A LOGIN granted only locxia_editor: set, list, history, revert; refusals in one line."""
    from tests.support import pg

    editor = {
        "LOCXIA_DATABASE_URL": pg.login_in_role(admin_url, db_url, "e2e_editor", "locxia_editor")
    }
    created = locxia("params", "set", "work-db", *CREATE, "--as", "alice", env=editor)
    assert created.returncode == 0, created.stderr
    changed = locxia("params", "set", "work-db", "instance_class=db.r6g.2xlarge", env=editor)
    assert changed.returncode == 0 and "db.t4g.large → db.r6g.2xlarge" in changed.stdout
    for args in (["list"], ["history", "work-db"], ["revert", "work-db"]):
        out = locxia("params", *args, env=editor)
        assert out.returncode == 0 and out.stderr == "", (args, out.stderr)
    listed = json.loads(locxia("params", "list", "--json", env=editor).stdout)["instances"]
    assert [(r["name"], r["instance_class"]) for r in listed] == [("work-db", "db.t4g.large")]
    refused = locxia("runs", "list", env=editor)  # ops is not the editors' business
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert refused.stderr.startswith("error: PostgreSQL refused: permission denied for schema ops")


def test_control_characters_never_reach_the_terminal(locxia: Run, db_url: str) -> None:
    """Refused in new notes by the database; escaped on output if already stored."""
    assert locxia("params", "set", "work-db", *CREATE).returncode == 0
    refused = locxia("params", "set", "work-db", "note=ok\x1b[2J\rforged")
    assert refused.returncode == 1, refused.stderr
    assert "note: control characters are not allowed" in refused.stderr
    assert "\x1b" not in refused.stderr
    from infra.db import connect

    with connect(db_url) as conn:  # a note stored before the database refused them
        conn.execute(
            "INSERT INTO params.history"
            " (table_name, op, row_key, old_row, new_row, changed_by, login)"
            " SELECT 'instances', 'UPDATE', 'work-db', new_row, new_row || %s, %s, %s"
            " FROM params.history WHERE row_key = 'work-db'",
            (
                json.dumps({"note": "a\x1b[2J\x1b]0;owned\x07b\rforged"}),
                "mallory\x1b[31m",
                "eve\x1b[32m",
            ),
        )
        conn.commit()
    shown = locxia("params", "history", "work-db")
    assert shown.returncode == 0, shown.stderr
    assert not {c for c in shown.stdout if c != "\n" and (ord(c) < 0x20 or ord(c) == 0x7F)}
    assert "\\x1b[2J" in shown.stdout and "\\x0dforged" in shown.stdout
