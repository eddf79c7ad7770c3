"""Approving a held plan: recorded by the database for the login of the session, never by us.

``ops.approve_plan(run, label)`` (migration 0053, ``SECURITY DEFINER``, executable only by
``locxia_approver``) checks that the session's login holds ``locxia_approver``, that the run is
``held``, and that the login is not an author of the change that caused the plan; then it
records ``approved_login`` (``session_user``), ``approved_by`` (the label, ``--as``) and
``approved_at``. Nothing in Python can write those columns for someone else: the apply
(:meth:`pipelines.shape.reconcile.Reconciler.approve` and the scheduled reconcile, with the
service's privileges) only applies a held run whose approval the database recorded.

An approver login needs no other privilege: it records the approval here, and whichever process
runs with the service login applies it (the leader's reconcile wakes on the approval's NOTIFY;
``locxia infra approve`` applies at once when its own login may).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from infra.errors import ApprovalRefused, DatabaseError, InputError

#: The role that may approve held plans (migration 0053).
APPROVER_ROLE = "locxia_approver"

# SQLSTATEs ops.approve_plan raises, each message starting "run N".
# https://www.postgresql.org/docs/current/errcodes-appendix.html
_REFUSED = "42501"  # insufficient_privilege: no role, or author of the change
_NOT_FOUND = "P0002"  # no_data_found: no such reconcile run
_NOT_HELD = "55000"  # object_not_in_prerequisite_state: not held, already approved
_BAD_LABEL = "22023"  # invalid_parameter_value


@dataclass(frozen=True)
class Approval:
    """An approval the database recorded."""

    run_id: int
    login: str
    label: str


def record(conn: psycopg.Connection[Any], run_id: int, label: str) -> Approval:
    """Approve held run ``run_id`` as the login of ``conn``, labelled ``label``; committed.

    ``conn`` must not be inside a transaction.

    Raises:
        ApprovalRefused: the login lacks ``locxia_approver`` or changed an instance the plan
            changes (nothing recorded).
        InputError: no such run, or it is not held (or already approved).
        DatabaseError: the database failed otherwise.
    """
    row = conn.execute("SELECT session_user").fetchone()
    conn.commit()
    login = str(row[0]) if row else "?"
    try:
        with conn.transaction():
            conn.execute("SELECT ops.approve_plan(%s, %s)", (run_id, label))
    except psycopg.Error as exc:
        translated = _translated(exc, run_id, login)
        if translated is exc:
            raise
        raise translated from exc
    return Approval(run_id, login, label)


def _translated(exc: psycopg.Error, run_id: int, login: str) -> Exception:
    """The Locxia error for a refusal of ``ops.approve_plan``, else ``exc`` itself."""
    message = (exc.diag.message_primary if exc.diag is not None else None) or str(exc)
    ours = message.startswith(f"run {run_id}")
    if exc.sqlstate == _REFUSED:
        if ours:
            return ApprovalRefused(message)
        # EXECUTE on ops.approve_plan (or USAGE on ops) is granted to locxia_approver only.
        return ApprovalRefused(
            f"run {run_id}: approving needs the {APPROVER_ROLE} role (login {login} has not)"
        )
    if ours and exc.sqlstate in (_NOT_FOUND, _NOT_HELD, _BAD_LABEL):
        return InputError(message)
    if exc.sqlstate is None or exc.sqlstate.startswith("42"):
        return exc  # not migrated, connection lost...: the CLI's mapping says what to do
    return DatabaseError(f"run {run_id}: approval not recorded: {message}")


def may_apply(conn: psycopg.Connection[Any]) -> bool:
    """Whether the login of ``conn`` may apply runs itself (record runs, update their rows).

    An approver login usually may not: the service's reconcile then applies what it approved.
    """
    row = conn.execute(
        "SELECT has_table_privilege('ops.terraform_runs', 'UPDATE')"
        " AND has_table_privilege('ops.runs', 'INSERT')"
        " AND has_table_privilege('params.instances', 'SELECT')"
    ).fetchone()
    return bool(row and row[0])
