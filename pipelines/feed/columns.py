"""Attribute column names as PostgreSQL keeps them: at most 63 bytes, and unique.

PostgreSQL keeps no more than ``NAMEDATALEN - 1`` = 63 *bytes* of an identifier and silently
truncates longer ones ("The system uses no more than NAMEDATALEN-1 bytes of an identifier;
longer names can be written in commands, but they will be truncated. By default, NAMEDATALEN
is 64 so the maximum identifier length is 63 bytes."
https://www.postgresql.org/docs/current/sql-syntax-lexical.html#SQL-SYNTAX-IDENTIFIERS).
It cuts on a character boundary (``truncate_identifier`` calls ``pg_mbcliplen`` in
``src/backend/parser/scansup.c``), so a UTF-8 name of 40 accented letters (80 bytes) is
already too long, and two source columns that differ only after their 63rd byte become the
same column: ``CREATE TABLE`` then fails with "column specified more than once".

Refine therefore chooses every attribute column's final name here, before anything is
written: names that fit are kept; a name too long is cut exactly as PostgreSQL would cut it;
and when two names would still be the same identifier (or a reserved one), each renamed one
gets an 8-hex-digit suffix from the SHA-256 of its source name. The result depends only on
the set of source names, so the same layer is always refined to the same columns, and the
mapping is recorded on the working version and shown by ``locxia refine``.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

#: NAMEDATALEN - 1 with PostgreSQL's default build (see the module docstring).
MAX_IDENTIFIER_BYTES = 63
#: ``_`` and 8 hex digits of SHA-256: what a renamed column ends with.
SUFFIX_LENGTH = 9


def stored_name(name: str, limit: int = MAX_IDENTIFIER_BYTES) -> str:
    """``name`` as PostgreSQL stores it: the longest run of whole characters in ``limit`` bytes.

    Args:
        name: an identifier as written (any Unicode; encoded as UTF-8, the database's
            encoding for Locxia).
        limit: how many bytes are kept.
    """
    data = name.encode("utf-8")
    if len(data) <= limit:
        return name
    # Cutting the bytes may split the last character: its leftover bytes are dropped, as
    # pg_mbcliplen keeps whole characters only.
    return data[:limit].decode("utf-8", errors="ignore")


@dataclass(frozen=True)
class Collision:
    """Source names that PostgreSQL would store as one identifier."""

    stored: str
    sources: tuple[str, ...]

    def line(self) -> str:
        """One line naming the source columns and the identifier they share."""
        names = " and ".join(repr(s) for s in self.sources)
        line = f"columns {names} would be the same PostgreSQL column {self.stored!r}"
        if any(len(s.encode("utf-8")) > MAX_IDENTIFIER_BYTES for s in self.sources):
            line += f" (PostgreSQL keeps {MAX_IDENTIFIER_BYTES} bytes of a name)"
        return line


def collisions(names: Iterable[str], taken: Collection[str] = ()) -> list[Collision]:
    """Groups of ``names`` (with ``taken``) that PostgreSQL would store as the same name.

    Args:
        names: column names as they will be written in SQL.
        taken: names already used by the table itself (``fid``, ``geom``...).
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for name in sorted(taken):
        groups[stored_name(name)].append(name)
    for name in names:
        groups[stored_name(name)].append(name)
    return [Collision(stored, tuple(group)) for stored, group in groups.items() if len(group) > 1]


def _suffixed(base: str, source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:8]
    return f"{stored_name(base, MAX_IDENTIFIER_BYTES - SUFFIX_LENGTH)}_{digest}"


@dataclass(frozen=True)
class ColumnNames:
    """The final name of each attribute column, and why some changed.

    Attributes:
        final: source name → column name (every source column, in source order).
        collisions: the source columns that would have been one PostgreSQL column.
    """

    final: dict[str, str]
    collisions: tuple[Collision, ...]

    @property
    def renamed(self) -> dict[str, str]:
        """Only the columns whose name changed: what is recorded and shown."""
        return {src: dst for src, dst in self.final.items() if src != dst}


def column_names(fields: Sequence[str], reserved: Collection[str]) -> ColumnNames:
    """Choose a unique name of at most 63 bytes for every attribute column, deterministically.

    1. A reserved name (a column the product adds: ``geom``, ``bbox``, ``fid``...) gets
       ``_1`` appended, as it always has.
    2. A name longer than 63 bytes is cut as PostgreSQL would cut it.
    3. Names that are then one identifier with another name (or a reserved one) are
       resolved: a name the source has as-is keeps it, and each changed one is cut to 54
       bytes and suffixed with ``_`` and 8 hex digits of the SHA-256 of its source name.

    Args:
        fields: the source's attribute columns (unique names, geometry excluded).
        reserved: names the refined file or the published table uses for itself.

    Raises:
        ValueError: names still collide after step 3 (two source names sharing 54 bytes and
            a 32-bit hash), so nothing is written under an ambiguous name.
    """
    first = {f: (f"{f}_1" if f in reserved else f) for f in fields}
    final = {f: stored_name(name) for f, name in first.items()}
    found = collisions(final.values(), reserved)
    by_stored = {c.stored: c for c in found}
    for source, name in list(final.items()):
        clash = by_stored.get(name)
        if clash is not None and source != name:
            final[source] = _suffixed(first[source], source)
    left = collisions(final.values(), reserved)
    if left:
        raise ValueError("; ".join(c.line() for c in left))
    # Reported with the source names (not the interim ``_1`` names), reserved ones last.
    reported = tuple(
        Collision(
            c.stored,
            tuple(f for f in fields if stored_name(first[f]) == c.stored)
            + tuple(r for r in sorted(reserved) if stored_name(r) == c.stored),
        )
        for c in found
    )
    return ColumnNames(final, reported)
