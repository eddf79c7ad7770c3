"""Final snapshot names: one per incarnation of an RDS instance, never reused, recorded.

A fixed ``<id>-final`` fails the second deletion of the same name: RDS answers
``DBSnapshotAlreadyExists`` (DeleteDBInstance, FinalDBSnapshotIdentifier
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBInstance.html). Each
instance therefore gets ``<name>-final-<UTC yyyymmdd-hhmmss>`` the first time it is rendered
(``ops.final_snapshots``); Terraform keeps it in state, so the run that deletes or replaces the
instance takes the snapshot under that name. That run is recorded as ``deleted_by_run`` and the
next render assigns a fresh name (an in-place update: the attribute is read only on delete).

The name follows AWS's rules for a DBSnapshotIdentifier: 1–255 letters, digits or hyphens,
first a letter, no two consecutive hyphens, no trailing hyphen (same page). Instance names are
already 2–40 of a-z 0-9 -, starting with a letter, without ``--`` (pipelines/shape/model.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg

from infra.errors import InputError

MAX_LENGTH = 255
_VALID = re.compile(r"^[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?$")


def valid_identifier(value: str) -> bool:
    """Whether ``value`` is a DBSnapshotIdentifier RDS accepts (see the module docstring)."""
    return len(value) <= MAX_LENGTH and bool(_VALID.match(value)) and "--" not in value


def final_name(instance: str, when: datetime, attempt: int = 0) -> str:
    """``<instance>-final-<yyyymmdd-hhmmss>`` (UTC), ``-<n>`` added on a retry.

    Raises:
        InputError: the result would not be a valid identifier (a malformed instance name).
    """
    stamp = when.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    name = f"{instance}-final-{stamp}" + (f"-{attempt + 1}" if attempt else "")
    if not valid_identifier(name):
        raise InputError(f"{name!r} is not a valid DB snapshot identifier", instance)
    return name


def current(
    conn: psycopg.Connection[Any], instances: Iterable[str], now: datetime
) -> dict[str, str]:
    """The final snapshot name of each instance's current incarnation, assigning missing ones.

    ``conn`` is an autocommit connection (each assignment stands on its own).
    """
    wanted = sorted(set(instances))
    rows = conn.execute(
        "SELECT instance, snapshot_identifier FROM ops.final_snapshots"
        " WHERE deleted_at IS NULL AND instance = ANY(%s)",
        (wanted,),
    ).fetchall()
    names = {str(i): str(s) for i, s in rows}
    for instance in wanted:
        if instance in names:
            continue
        for attempt in range(10):
            candidate = final_name(instance, now, attempt)
            row = conn.execute(
                "INSERT INTO ops.final_snapshots (snapshot_identifier, instance) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING RETURNING snapshot_identifier",
                (candidate, instance),
            ).fetchone()
            if row is not None:
                names[instance] = candidate
                break
    return names


def retire(conn: psycopg.Connection[Any], instances: Iterable[str], run_id: int) -> list[str]:
    """Record that run ``run_id`` deleted or replaced ``instances``; returns the names taken.

    The next :func:`current` assigns new ones.
    """
    rows = conn.execute(
        "UPDATE ops.final_snapshots SET deleted_by_run = %s, deleted_at = clock_timestamp()"
        " WHERE deleted_at IS NULL AND instance = ANY(%s) RETURNING snapshot_identifier",
        (run_id, sorted(set(instances))),
    ).fetchall()
    return sorted(str(r[0]) for r in rows)


def taken(conn: psycopg.Connection[Any], limit: int = 20) -> list[dict[str, Any]]:
    """The latest final snapshots taken, newest first (``locxia infra status``)."""
    rows = conn.execute(
        "SELECT instance, snapshot_identifier, deleted_by_run, deleted_at FROM ops.final_snapshots"
        " WHERE deleted_at IS NOT NULL ORDER BY deleted_at DESC LIMIT %s",
        (limit,),
    ).fetchall()
    keys = ("instance", "snapshot_identifier", "terraform_run", "taken_at")
    return [dict(zip(keys, r, strict=True)) for r in rows]
