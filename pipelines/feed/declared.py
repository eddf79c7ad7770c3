"""Editing ``params.datasets`` from the command line: set, history, revert — audited.

``locxia datasets set NAME key=value…`` is the one way to declare rules without writing SQL.
Like :mod:`pipelines.shape.store`: every write is one transaction that sets ``locxia.actor``
(the ``--as`` label the history trigger records beside the authenticated login), validates
the whole proposed row in code, then lets the database check it again; a refused change
leaves no row and no history behind. The form of every value is checked by
:func:`parse_assignments` before anything is read (a usage error for the CLI).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from infra import audit
from infra.errors import DatabaseError, InputError
from pipelines.feed.model import Dataset, Rules, dataset_name

# Columns of params.datasets people set (besides the rules), and rules by the kind of value.
COLUMNS = ("source", "layer", "cron", "timezone", "enabled", "note")
INT_RULES = ("max_outside", "min_rows", "max_rows", "max_suspect_text")
LIST_RULES = ("geometry_types", "required_columns")
BOOL_RULES = ("repair",)
TEXT_RULES = ("crs", "crs_override", "encoding", "id_column", "null_geometries", "where")
RULES = (*TEXT_RULES, *INT_RULES, *LIST_RULES, *BOOL_RULES, "bounds")
KEYS = (*RULES, *COLUMNS)
_CLEAR = ("", "null")


def _where(name: str) -> str:
    return f"params.datasets[{name}]"


def parse_assignments(name: str, pairs: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``["crs=EPSG:4326", "max_outside=3"]`` → (rule changes, column changes), checked.

    An empty value (or ``null``) clears: the rule goes back to its default, the column to
    NULL. Lists are comma-separated (``geometry_types=Polygon,MultiPolygon``), ``bounds`` is
    four numbers; a CRS must be one PROJ knows, an encoding one Python knows, a cron five
    fields APScheduler accepts. Nothing is read: only the command line is judged.

    Raises:
        InputError: not ``key=value``, an unknown key, or a value of the wrong form.
    """
    dataset_name(name)
    rules: dict[str, Any] = {}
    columns: dict[str, Any] = {}
    if not pairs:
        raise InputError(f"nothing to set (keys: {', '.join(KEYS)})", _where(name))
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"{pair!r}: expected key=value (e.g. crs=EPSG:4326)", _where(name))
        if key not in KEYS:
            raise InputError(f"{key!r} is not a key (one of {', '.join(KEYS)})", _where(name))
        where = f"{_where(name)}.{key}"
        if key in COLUMNS:
            columns[key] = _column(key, value, where)
        else:
            rules[key] = None if value in _CLEAR else _rule(key, value, where)
    Rules.parse({k: v for k, v in rules.items() if v is not None}, f"{_where(name)}.rules")
    return rules, columns


def _rule(key: str, value: str, where: str) -> Any:
    if key in INT_RULES:
        try:
            number = int(value)
        except ValueError:
            raise InputError(f"expected an integer >= 0, got {value!r}", where) from None
        if number < 0:
            raise InputError(f"expected an integer >= 0, got {value!r}", where)
        return number
    if key in BOOL_RULES:
        if value.lower() not in ("true", "false"):
            raise InputError(f"expected true or false, got {value!r}", where)
        return value.lower() == "true"
    if key in LIST_RULES:
        return [v.strip() for v in value.split(",") if v.strip()]
    if key == "bounds":
        return _bounds(value, where)
    if key in ("crs", "crs_override"):
        from pipelines.feed.project import crs_label, parse_crs

        try:
            return crs_label(parse_crs(value, where))
        except Exception as exc:  # FormatError, or PROJ refusing the text
            raise InputError(f"{value!r} is not a CRS PROJ knows (e.g. EPSG:4326)", where) from exc
    if key == "encoding":
        try:
            codecs.lookup(value)
        except LookupError:
            raise InputError(f"unknown encoding {value!r} (e.g. CP1252, UTF-8)", where) from None
    if key == "where" and (len(value) > 1000 or not value.isprintable()):
        raise InputError("expected a printable OGR SQL condition of at most 1000 chars", where)
    return value


def _bounds(value: str, where: str) -> list[float]:
    text = value.strip().strip("[]")
    try:
        numbers = [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError("expected xmin,ymin,xmax,ymax in EPSG:2154", where) from None
    if len(numbers) != 4:
        raise InputError("expected xmin,ymin,xmax,ymax in EPSG:2154", where)
    return numbers


def _column(key: str, value: str, where: str) -> Any:
    if value in _CLEAR and key not in ("timezone", "enabled"):
        return None
    if key == "enabled":
        if value.lower() not in ("true", "false"):
            raise InputError(f"expected true or false, got {value!r}", where)
        return value.lower() == "true"
    if key == "timezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise InputError(f"unknown time zone {value!r} (e.g. Europe/Paris)", where) from None
    if key == "cron":
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise InputError(f"{value!r} is not a cron (five fields): {exc}", where) from None
    if key == "source" and not value.startswith(("https://", "http://", "s3://", "file://")):
        raise InputError("expected an https://, http://, s3:// or file:// URI", where)
    if not value.isprintable():
        raise InputError("control characters are not allowed", where)
    return value


@dataclass(frozen=True)
class Change:
    """What a write did: the row before (None for a new row) and after, as stored."""

    before: dict[str, Any] | None
    after: dict[str, Any]

    def diff(self) -> dict[str, tuple[Any, Any]]:
        """Changed keys (columns, and rules as ``rules.KEY``): key → (old, new)."""
        return _diff(self.before or {}, self.after)


def _flat(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {c: row.get(c) for c in COLUMNS}
    for key, value in sorted((row.get("rules") or {}).items()):
        out[f"rules.{key}"] = value
    return out


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    a, b = _flat(old), _flat(new)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _load(conn: psycopg.Connection[Any], name: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT name, source, layer, rules, cron, timezone, enabled, note"
            " FROM params.datasets WHERE name = %s FOR UPDATE",
            (name,),
        ).fetchone()


def set_dataset(
    conn: psycopg.Connection[Any],
    name: str,
    rules: Mapping[str, Any],
    columns: Mapping[str, Any],
    *,
    actor: str,
) -> Change:
    """Create or update ``params.datasets[name]``, validated, audited as ``actor``; committed.

    ``rules`` maps rule → value (None: back to the default); ``columns`` maps column → value.

    Raises:
        InputError: the proposed row breaks a rule (nothing is written).
        DatabaseError: the database refused it for another reason.
    """
    dataset_name(name)
    conn.rollback()
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('locxia.actor', %s, true)", (actor,))
            before = _load(conn, name)
            after = dict(before or {"name": name, "rules": {}, "timezone": "Europe/Paris"})
            merged = dict(after.get("rules") or {})
            for key, value in rules.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            after.update(columns, rules=merged)
            if after.get("timezone") is None:
                after["timezone"] = "Europe/Paris"
            if after.get("enabled") is None:
                after["enabled"] = True
            Dataset.from_row(after)  # the whole row, as every step will read it
            if after.get("cron") and not after.get("source"):
                raise InputError("a cron needs a source to re-fetch", f"{_where(name)}.cron")
            _write(conn, after, exists=before is not None)
    except psycopg.errors.CheckViolation as exc:
        raise InputError(exc.diag.message_primary or str(exc), _where(name)) from exc
    except psycopg.Error as exc:
        raise DatabaseError(f"{_where(name)}: {exc.diag.message_primary or exc}") from exc
    return Change(before, after)


def _write(conn: psycopg.Connection[Any], row: Mapping[str, Any], *, exists: bool) -> None:
    values = (
        row.get("source"),
        row.get("layer"),
        Jsonb(row.get("rules") or {}),
        row.get("cron"),
        row.get("timezone"),
        row.get("enabled"),
        row.get("note"),
        row["name"],
    )
    if exists:
        conn.execute(
            "UPDATE params.datasets SET source = %s, layer = %s, rules = %s, cron = %s,"
            " timezone = %s, enabled = %s, note = %s WHERE name = %s",
            values,
        )
    else:
        conn.execute(
            "INSERT INTO params.datasets (source, layer, rules, cron, timezone, enabled, note,"
            " name) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            values,
        )


@dataclass(frozen=True)
class HistoryEntry(audit.HistoryEntry):
    """One audited change of a ``params.datasets`` row."""

    def diff(self) -> dict[str, tuple[Any, Any]]:
        """Changed keys (columns, and rules as ``rules.KEY``): key → (old, new)."""
        return _diff(self.old_row or {}, self.new_row or {})


def history(conn: psycopg.Connection[Any], name: str, limit: int = 50) -> list[HistoryEntry]:
    """Changes of ``params.datasets[name]``, newest first (from ``params.history``).

    Raises:
        InputError: ``name`` is not a dataset name.
    """
    return audit.read(conn, "datasets", dataset_name(name), limit, HistoryEntry)


def revert(
    conn: psycopg.Connection[Any], name: str, change_id: int | None, *, actor: str
) -> Change:
    """Undo change ``change_id`` (default: the latest) by writing the row as it was before.

    The undo is itself a new audited change, validated like any other.

    Raises:
        InputError: no such change, or it created the row (nothing to go back to).
    """
    entries = history(conn, name, limit=1000)
    conn.rollback()
    entry = next((e for e in entries if change_id in (None, e.id)), None)
    if entry is None:
        what = f"no change {change_id} of this dataset" if change_id else "no change"
        raise InputError(f"{what} in params.history", _where(name))
    if entry.old_row is None:
        raise InputError(
            f"change {entry.id} created the row; there is nothing before it", _where(name)
        )
    old = entry.old_row
    rules = dict.fromkeys(RULES)
    rules.update(old.get("rules") or {})
    columns = {c: old.get(c) for c in COLUMNS}
    return set_dataset(conn, name, rules, columns, actor=actor)


def show(value: Any) -> str:
    """A value as the CLI prints it (``-`` for none, JSON for lists and objects)."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return "-" if value is None else str(value)
