"""`locxia infra approve` and `locxia params history` as distinct people's logins type them."""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

from infra.db import connect
from pipelines.shape import records
from tests.e2e.conftest import Run
from tests.e2e.shape.test_shape_cli import CREATE
from tests.support.logins import PASSWORD, login


def _as(db_url: str, name: str, *roles: str) -> dict[str, str]:
    """The environment that makes ``locxia`` log in as ``name``."""
    login(db_url, name, *roles)
    parts = urlsplit(db_url)
    netloc = f"{name}:{PASSWORD}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return {"LOCXIA_DATABASE_URL": urlunsplit(parts._replace(netloc=netloc))}


def _held(db_url: str, instance: str) -> int:
    """A reconcile run held for approval, as the reconcile leaves it, that changes ``instance``."""
    with connect(db_url, autocommit=True) as conn:
        run_id = records.create(
            conn, purpose="reconcile", requested_by="scheduler", inputs_hash="h", inputs={},
            job_run_id=None,
        )  # fmt: skip
        records.update(
            conn, run_id, status="held", decision="needs_approval",
            changes=[{"instance": instance, "action": "update"}],
        )  # fmt: skip
    return run_id


def _one_line(out: object, code: int, text: str) -> None:
    stderr = getattr(out, "stderr", "")
    assert getattr(out, "returncode", None) == code, stderr
    assert stderr.strip().splitlines() == [f"error: {text}"]


def test_approvals_need_the_role_and_another_login_than_the_author(
    locxia: Run, db_url: str
) -> None:
    with connect(db_url) as conn:
        row = conn.execute("SELECT session_user").fetchone()
    assert row is not None
    alice = _as(db_url, "alice", str(row[0]), "locxia_approver")  # may edit and approve
    made = locxia("params", "set", "work-db", *CREATE, "--as", "cfo", env=alice)
    assert made.returncode == 0, made.stderr
    run_id = _held(db_url, "work-db")

    bob = locxia("infra", "approve", str(run_id), env=_as(db_url, "bob", "locxia_editor"))
    _one_line(bob, 1, f"run {run_id}: approving needs the locxia_approver role (login bob has not)")
    own = locxia("infra", "approve", str(run_id), "--as", "someone-else", env=alice)
    _one_line(
        own,
        1,
        f"run {run_id}: alice changed params.instances[work-db] and cannot approve the plan it"
        " caused",
    )
    carol = locxia(
        "infra", "approve", str(run_id), "--as", "cfo",
        env=_as(db_url, "carol", "locxia_approver"),
    )  # fmt: skip
    assert carol.returncode == 0, carol.stderr
    assert f"terraform run {run_id} approved by login carol (as cfo)" in carol.stdout
    with connect(db_url) as conn:
        approved = conn.execute(
            "SELECT approved_login, approved_by FROM ops.terraform_runs WHERE id = %s", (run_id,)
        ).fetchone()
    assert approved == ("carol", "cfo")

    history = json.loads(locxia("params", "history", "work-db", "--json").stdout)
    assert [(h["login"], h["by"]) for h in history] == [("alice", "cfo")]
    table = locxia("params", "history", "work-db").stdout
    assert "alice" in table and "cfo" in table
