"""Rebuilding an RDS instance from a named snapshot: the one way a database is replaced.

Replacing a data-bearing resource is refused by the guardrails (``data-replacement``): a new
instance comes back empty. A rebuild is asked for explicitly and approved separately:

1. ``locxia infra rebuild NAME --from-snapshot SNAPSHOT`` checks that the snapshot exists and is
   ``available`` (DescribeDBSnapshots, read role), then records a request as the session's login
   (``params.request_rebuild``, migration 0057);
2. ``locxia infra approve-rebuild ID`` records the approval of another login holding
   ``locxia_approver`` (``ops.approve_rebuild``: the requester cannot approve it, like
   ``ops.approve_plan`` for plans);
3. the next reconcile renders ``snapshot_identifier`` for that instance — a force-new attribute
   of ``aws_db_instance``, so Terraform plans its replacement, created from the snapshot
   (RestoreDBInstanceFromDBSnapshot) — and the guardrails let exactly that instance be replaced
   in that run; the run that applies it marks the request ``done``.

Afterwards the instance keeps rendering the snapshot it was restored from: removing the
attribute would be another force-new change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg

from infra.aws import aws_errors
from infra.errors import ApprovalRefused, AwsError, DatabaseError, InputError

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

# SQLSTATEs of params.request_rebuild / ops.approve_rebuild (each message is the whole line).
_REFUSED = "42501"
_NOT_FOUND = "P0002"
_NOT_READY = "55000"
_BAD_LABEL = "22023"


@dataclass(frozen=True)
class Request:
    """A rebuild request as recorded."""

    id: int
    instance: str
    snapshot: str
    login: str


def check_instance(conn: psycopg.Connection[Any], instance: str) -> None:
    """Refuse a rebuild of an instance that is not a wanted RDS row.

    Raises:
        InputError: no such RDS row (or it is absent).
    """
    row = conn.execute(
        "SELECT 1 FROM params.instances WHERE name = %s AND kind = 'rds' AND state <> 'absent'",
        (instance,),
    ).fetchone()
    if row is None:
        raise InputError("no RDS instance of that name to rebuild", f"params.instances[{instance}]")


def check_snapshot(client: RDSClient, snapshot: str, instance: str) -> None:
    """Refuse a snapshot RDS does not have, or one that is not ``available`` yet.

    Raises:
        InputError: no such snapshot, or not available (one line).
        AwsError: the API failed otherwise.
    """
    from pipelines.shape.snapshots import valid_identifier

    if not valid_identifier(snapshot):
        raise InputError(
            f"{snapshot!r} is not a DB snapshot identifier (letters, digits, hyphens;"
            " starts with a letter)",
            f"rebuild {instance}",
        )
    try:
        with aws_errors("rds", "DescribeDBSnapshots"):
            found = client.describe_db_snapshots(DBSnapshotIdentifier=snapshot)["DBSnapshots"]
    except AwsError as exc:
        if exc.code == "DBSnapshotNotFound":
            raise InputError(f"no DB snapshot {snapshot!r}", f"rebuild {instance}") from exc
        raise
    if not found:
        raise InputError(f"no DB snapshot {snapshot!r}", f"rebuild {instance}")
    status = found[0].get("Status")
    if status != "available":
        raise InputError(
            f"DB snapshot {snapshot!r} is {status}, not available", f"rebuild {instance}"
        )


def request(conn: psycopg.Connection[Any], instance: str, snapshot: str, label: str) -> Request:
    """Record a rebuild request as the login of ``conn`` (autocommit); returns it.

    Raises:
        InputError: no such RDS row, or an approved rebuild of it is still waiting.
        DatabaseError: the database refused it otherwise.
    """
    try:
        row = conn.execute(
            "SELECT params.request_rebuild(%s, %s, %s), session_user", (instance, snapshot, label)
        ).fetchone()
    except psycopg.Error as exc:
        raise _translated(exc) from exc
    assert row is not None
    return Request(int(row[0]), instance, snapshot, str(row[1]))


def approve(conn: psycopg.Connection[Any], request_id: int, label: str) -> str:
    """Approve rebuild ``request_id`` as the login of ``conn`` (autocommit); returns the login.

    Raises:
        ApprovalRefused: the login is not an approver, or it requested the rebuild.
        InputError: no such request, or it is not waiting for approval.
    """
    try:
        row = conn.execute("SELECT ops.approve_rebuild(%s, %s)", (request_id, label)).fetchone()
    except psycopg.Error as exc:
        raise _translated(exc, f"rebuild {request_id}") from exc
    assert row is not None
    return str(row[0])


def _translated(exc: psycopg.Error, what: str = "rebuild") -> Exception:
    message = (exc.diag.message_primary if exc.diag is not None else None) or str(exc)
    if exc.sqlstate == _REFUSED:
        if message.startswith("rebuild") or message.startswith("params"):
            return ApprovalRefused(message)
        return ApprovalRefused(f"{what}: needs the locxia_approver (approve) or locxia_editor role")
    if exc.sqlstate in (_NOT_FOUND, _NOT_READY, _BAD_LABEL):
        return InputError(message)
    return DatabaseError(f"{what}: not recorded: {message}")


def approved(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """Instance → snapshot of every approved rebuild waiting for its reconcile."""
    rows = conn.execute(
        "SELECT instance, snapshot_identifier FROM ops.rebuild_requests WHERE status = 'approved'"
    ).fetchall()
    return {str(i): str(s) for i, s in rows}


def restored_from(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """Instance → the snapshot to render: the approved rebuild, else the last one done."""
    rows = conn.execute(
        "SELECT DISTINCT ON (instance) instance, snapshot_identifier FROM ops.rebuild_requests"
        " WHERE status IN ('approved', 'done')"
        " ORDER BY instance, (status = 'approved') DESC, id DESC"
    ).fetchall()
    return {str(i): str(s) for i, s in rows}


def complete(conn: psycopg.Connection[Any], instances: Iterable[str], run_id: int) -> list[int]:
    """Mark the approved rebuilds of ``instances`` done by run ``run_id``; returns their ids."""
    rows = conn.execute(
        "UPDATE ops.rebuild_requests SET status = 'done', terraform_run_id = %s,"
        " done_at = clock_timestamp() WHERE status = 'approved' AND instance = ANY(%s)"
        " RETURNING id",
        (run_id, sorted(set(instances))),
    ).fetchall()
    return sorted(int(r[0]) for r in rows)


def latest(conn: psycopg.Connection[Any], limit: int = 20) -> list[dict[str, Any]]:
    """The latest rebuild requests, newest first (``locxia infra status``)."""
    cur = conn.execute(
        "SELECT id, instance, snapshot_identifier, status, requested_login, requested_by,"
        " approved_login, terraform_run_id, requested_at FROM ops.rebuild_requests"
        " ORDER BY id DESC LIMIT %s",
        (limit,),
    )
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
