"""Reading and editing ``params.instances``, and its audited history.

Every write happens in one transaction that first sets ``locxia.actor`` (the history trigger
records it as ``changed_by``, a label, beside ``login``, the authenticated ``session_user``
that no setting can change — migration 0053), validates the whole proposed row in code, then
lets the database check it again. A rejected change leaves no row and no history behind.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from infra import audit
from infra.errors import DatabaseError, InputError
from infra.prices import PriceCatalog
from pipelines.shape.model import EDITABLE, InstanceSpec, instance_name, where
from pipelines.shape.validation import validate

COLUMNS = ("name", *EDITABLE, "storage_changed_at")
_JSON_COLUMNS = ("tags", "schedule")

# Named CHECK constraints of 0020 → the words a user needs.
_CONSTRAINTS = {
    "name_is_safe": "name: 2–40 of a-z 0-9 -, starting with a letter, no '--'",
    "kind_known": "kind: expected rds or ec2",
    "state_known": "state: expected present, stopped or absent",
    "class_is_safe": "instance_class: not a class name",
    "storage_in_range": "storage_gb: outside 8–65536 GB",
    "storage_type_known": "storage_type: expected gp2, gp3, io1 or io2",
    "engine_known": "engine: unknown engine (supported: postgres)",
    "engine_version_is_safe": "engine_version: expected e.g. 16 or 16.4",
    # 0057: storage performance and major-only engine versions
    "engine_version_is_major": "engine_version: the major version only (e.g. 16)",
    "iops_in_range": "iops: outside 100–256000",
    "throughput_in_range": "throughput: outside 125–4000 MiBps",
    "iops_for_provisioned_types": "iops: only gp3, io1 and io2 take iops",
    "throughput_for_gp3": "throughput: only gp3 takes a throughput",
    "rds_io_min_storage": "storage_gb: RDS io1/io2 storage starts at 100 GiB",
    "rds_gp3_baseline_fixed": "iops: RDS gp3 below 400 GiB has a fixed 3000 IOPS/125 MiBps",
    "io1_iops_per_gb": "iops: io1 allows at most 50 IOPS per GiB",
    "io2_iops_per_gb": "iops: io2 allows at most 1000 IOPS per GiB",
    "provisioned_types_need_iops": "iops: io1 and io2 need iops",
    "tags_are_an_object": "tags: must be a JSON object",
    "schedule_is_valid": "schedule: malformed windows",
    "protected_never_absent": "state: a protected instance is never absent",
    "rds_needs_engine": "engine: RDS needs engine and engine_version",
    "ec2_has_no_engine": "engine: engine, engine_version and multi_az are for RDS only",
    "rds_min_storage": "storage_gb: RDS needs at least 20 GB",
    "class_matches_kind": "kind: RDS classes start with db., EC2 types do not",
    "note_is_printable": "note: control characters are not allowed",
    "maintenance_window_valid": "maintenance_window: expected ddd:hh24:mi-ddd:hh24:mi in UTC,"
    " at least 30 min",
    "backup_window_valid": "backup_window: expected hh24:mi-hh24:mi in UTC, at least 30 min",
    "backup_window_rds_only": "backup_window: a backup window is for RDS only",
    "windows_do_not_overlap": "backup_window: overlaps the maintenance window",
    # 0073, 0075: what an instance is for
    "purpose_known": "purpose: expected general or dask-worker",
    "dask_workers_are_ec2": "purpose: a Dask worker is an EC2 instance (kind ec2)",
    "dask_workers_unprotected": "protected: a Dask worker holds no data and is never protected",
}


def load_rows(conn: psycopg.Connection[Any], name: str | None = None) -> list[dict[str, Any]]:
    """Raw rows (all when ``name`` is None, else the one named), ordered by name.

    Raises:
        InputError: ``name`` is empty, blank or malformed: only None means "every row".
    """
    if name is not None:
        instance_name(name)
    query = sql.SQL("SELECT {} FROM params.instances {} ORDER BY name").format(
        sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
        sql.SQL("") if name is None else sql.SQL("WHERE name = %s"),
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, () if name is None else (name,)).fetchall()


def load_specs(conn: psycopg.Connection[Any]) -> tuple[list[InstanceSpec], list[str]]:
    """Every row parsed; rows that fail (written around the CLI) come back as messages."""
    specs: list[InstanceSpec] = []
    errors: list[str] = []
    for row in load_rows(conn):
        try:
            specs.append(InstanceSpec.parse(row))
        except InputError as exc:
            errors.append(str(exc))
    return specs, errors


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """``["instance_class=db.r6g.large", "tag.team=gis"]`` → a dict of column changes.

    JSON values are decoded for ``tags`` and ``schedule``; ``tag.KEY=VALUE`` sets one tag;
    ``class`` and ``storage`` are accepted as short names.

    Raises:
        InputError: not ``key=value``, an unknown column, or JSON that does not parse.
    """
    aliases = {"class": "instance_class", "type": "instance_class", "storage": "storage_gb"}
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = aliases.get(key.strip(), key.strip())
        if not sep:
            raise InputError(f"{pair!r}: expected column=value (e.g. instance_class=db.t4g.large)")
        if key.startswith("tag."):
            out.setdefault("tag_updates", {})[key[4:]] = value
            continue
        if key not in EDITABLE:
            close = difflib.get_close_matches(key, EDITABLE, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise InputError(
                f"{key!r} is not an editable column ({hint}`locxia params set -h` lists them)"
            )
        if key in _JSON_COLUMNS:
            try:
                out[key] = json.loads(value)
            except json.JSONDecodeError as exc:
                raise InputError(f"{key}: invalid JSON ({exc.msg})") from exc
        else:
            nullable = (
                "engine",
                "note",
                "iops",
                "throughput",
                "maintenance_window",
                "backup_window",
            )
            out[key] = None if value in ("", "null") and key in nullable else value
    return out


@dataclass(frozen=True)
class Change:
    """What a write did: the row before (None for a new row) and after."""

    before: InstanceSpec | None
    after: InstanceSpec


def set_instance(
    conn: psycopg.Connection[Any],
    name: str,
    changes: Mapping[str, Any],
    *,
    actor: str,
    catalog: PriceCatalog,
    now: datetime,
) -> Change:
    """Create or update one row with ``changes``, validated, audited as ``actor``; committed.

    ``conn`` must not be inside a transaction (the write is its own transaction).

    Raises:
        InputError: ``name`` is empty, blank or malformed, or the proposed row breaks a rule
            (nothing is written).
        DatabaseError: the database refused it for another reason.
    """
    instance_name(name)
    try:
        with conn.transaction():
            _set_actor(conn, actor)
            current = load_rows(conn, name)
            before = InstanceSpec.parse(current[0]) if current else None
            proposed = {**(before.row() if before else {"name": name}), **changes}
            if before is not None:
                proposed["storage_changed_at"] = before.storage_changed_at
            tag_updates = proposed.pop("tag_updates", None)
            if tag_updates:
                proposed["tags"] = {**(proposed.get("tags") or {}), **tag_updates}
            after = InstanceSpec.parse(proposed)
            validate(after, catalog, before, now)
            _write(conn, after, exists=before is not None)
    except psycopg.errors.CheckViolation as exc:
        raise InputError(_check_message(exc, name)) from exc
    except psycopg.Error as exc:
        raise DatabaseError(f"{where(name)}: {exc.diag.message_primary or exc}") from exc
    return Change(before, after)


def _set_actor(conn: psycopg.Connection[Any], actor: str) -> None:
    conn.execute("SELECT set_config('locxia.actor', %s, true)", (actor,))


def _write(conn: psycopg.Connection[Any], spec: InstanceSpec, *, exists: bool) -> None:
    row = spec.row()
    values = {k: (Jsonb(v) if k in _JSON_COLUMNS else v) for k, v in row.items()}
    columns = list(values)
    if exists:
        stmt = sql.SQL("UPDATE params.instances SET {} WHERE name = {}").format(
            sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(c))
                for c in columns
                if c != "name"
            ),
            sql.Placeholder("name"),
        )
    else:
        stmt = sql.SQL("INSERT INTO params.instances ({}) VALUES ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(map(sql.Placeholder, columns)),
        )
    conn.execute(stmt, values)


def _check_message(exc: psycopg.errors.CheckViolation, name: str) -> str:
    constraint = exc.diag.constraint_name
    if constraint in _CONSTRAINTS:
        return f"{where(name)}.{_CONSTRAINTS[constraint]}"
    return exc.diag.message_primary or str(exc)


@dataclass(frozen=True)
class HistoryEntry(audit.HistoryEntry):
    """One audited change of a ``params.instances`` row."""

    def diff(self) -> dict[str, tuple[Any, Any]]:
        """Editable columns that changed: column → (old, new)."""
        old, new = self.old_row or {}, self.new_row or {}
        return {c: (old.get(c), new.get(c)) for c in EDITABLE if old.get(c) != new.get(c)}


def history(conn: psycopg.Connection[Any], name: str, limit: int = 50) -> list[HistoryEntry]:
    """Changes of row ``name``, newest first (from ``params.history``).

    Raises:
        InputError: ``name`` is empty, blank or malformed.
    """
    return audit.read(conn, "instances", instance_name(name), limit, HistoryEntry)


def revert(
    conn: psycopg.Connection[Any],
    name: str,
    change_id: int | None,
    *,
    actor: str,
    catalog: PriceCatalog,
    now: datetime,
) -> Change:
    """Undo change ``change_id`` (default: the latest) by writing the row as it was before.

    The undo is a new, audited change that passes every rule: reverting a storage increase is
    refused like any shrink.

    Raises:
        InputError: no such change, or it created the row (set ``state=absent`` instead), or
            the previous row breaks a rule today.
    """
    entries = history(conn, name, limit=1000)
    conn.rollback()
    entry = next((e for e in entries if change_id in (None, e.id)), None)
    if entry is None:
        what = f"change {change_id}" if change_id else "any change"
        raise InputError(f"no {what} in params.history", where(name))
    if entry.old_row is None:
        raise InputError(
            f"change {entry.id} created the row; to remove the instance set state=absent",
            where(name),
        )
    previous = {c: entry.old_row.get(c) for c in EDITABLE if c in entry.old_row}
    return set_instance(conn, name, previous, actor=actor, catalog=catalog, now=now)
