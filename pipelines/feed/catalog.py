"""The catalog: declared datasets (``params.datasets``), versions and lineage (``ops``).

Every step records the version it produced and the edge it travelled in the same transaction
as its last change (the swap of a published table, or right after a file became visible in its
zone), so the catalog never names a version that is not there. Look-ups used for no-op
detection (same bytes, same parent under the same rules) are unique indexes in the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from infra.names import required_name
from pipelines.feed.model import Dataset

COLUMNS = (
    "id, dataset, zone, uri, parent_id, fingerprint, rows, bytes, checksum, crs, bbox,"
    " geometry_types, layer, status, quality, provenance, run_id, created_at, reason,"
    " rejected_by"
)
#: The steps that may reject a version (``ops.dataset_versions.rejected_by``).
STEPS = ("ingest", "refine", "publish")


@dataclass(frozen=True)
class Version:
    """One version of a dataset in one zone."""

    id: int
    dataset: str
    zone: str
    uri: str
    parent_id: int | None
    fingerprint: str
    rows: int | None
    bytes: int | None
    checksum: str
    crs: str | None
    bbox: list[float] | None
    geometry_types: list[str]
    layer: str | None
    status: str
    quality: dict[str, Any] | None
    provenance: dict[str, Any]
    run_id: int | None
    created_at: datetime
    reason: str | None = None
    rejected_by: str | None = None

    @property
    def key(self) -> str:
        """The zone key of a landing/working version (recorded in provenance)."""
        return str(self.provenance.get("key", ""))


@dataclass(frozen=True)
class Outcome:
    """What a step did: the version it produced (or found), and whether it was a no-op."""

    version: Version
    noop: bool


@dataclass(frozen=True)
class NewVersion:
    """What a step knows about the version it produced."""

    dataset: str
    zone: str
    uri: str
    fingerprint: str
    checksum: str
    status: str
    parent_id: int | None = None
    rows: int | None = None
    bytes: int | None = None
    crs: str | None = None
    bbox: tuple[float, float, float, float] | list[float] | None = None
    geometry_types: tuple[str, ...] | list[str] = ()
    layer: str | None = None
    quality: dict[str, Any] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None
    reason: str | None = None
    rejected_by: str | None = None


def _version(row: dict[str, Any]) -> Version:
    return Version(**row)


def get(conn: psycopg.Connection[Any], version_id: int) -> Version | None:
    """The version with this id."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {COLUMNS} FROM ops.dataset_versions WHERE id = %s", (version_id,)
        ).fetchone()
    return _version(row) if row else None


def find(
    conn: psycopg.Connection[Any],
    dataset: str,
    zone: str,
    *,
    statuses: tuple[str, ...] | None = None,
    checksum: str | None = None,
    fingerprint: str | None = None,
    parent_id: int | None = None,
) -> Version | None:
    """The current version matching every given criterion.

    Current is the one a step last produced or found (``current_at``, migration 0062), so
    re-ingesting older bytes makes them current again.

    Raises:
        InputError: ``dataset`` is empty or blank.
    """
    required_name(dataset, "dataset name")
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {COLUMNS} FROM ops.dataset_versions WHERE dataset = %(d)s AND zone = %(z)s"
            " AND (%(s)s::text[] IS NULL OR status = ANY(%(s)s))"
            " AND (%(c)s::text IS NULL OR checksum = %(c)s)"
            " AND (%(f)s::text IS NULL OR fingerprint = %(f)s)"
            " AND (%(p)s::bigint IS NULL OR parent_id = %(p)s)"
            " ORDER BY current_at DESC, id DESC LIMIT 1",
            {
                "d": dataset,
                "z": zone,
                "s": list(statuses) if statuses else None,
                "c": checksum,
                "f": fingerprint,
                "p": parent_id,
            },
        ).fetchone()
    return _version(row) if row else None


def missing_version(
    conn: psycopg.Connection[Any], dataset: str, zone: str, version_id: int, shown: int = 5
) -> str:
    """Why ``version_id`` cannot be used as a ``zone`` version of ``dataset``, as one line.

    Names what the id is when it exists elsewhere (another zone or dataset) and the latest
    ids that do exist, so ``--version`` can be corrected without another command.
    """
    required_name(dataset, "dataset name")
    rows = conn.execute(
        "SELECT id FROM ops.dataset_versions WHERE dataset = %s AND zone = %s"
        " ORDER BY id DESC LIMIT %s",
        (dataset, zone, shown),
    ).fetchall()
    other = get(conn, version_id)
    line = f"{dataset} has no {zone} version {version_id}"
    if other is not None:
        line += f" (version {version_id} is a {other.zone} version of {other.dataset})"
    if rows:
        return line + f"; latest {zone} versions of {dataset}: {', '.join(str(r[0]) for r in rows)}"
    return line + f"; {dataset} has no {zone} version at all"


def versions(conn: psycopg.Connection[Any], dataset: str) -> list[Version]:
    """Every version of ``dataset``, newest first.

    Raises:
        InputError: ``dataset`` is empty or blank.
    """
    required_name(dataset, "dataset name")
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {COLUMNS} FROM ops.dataset_versions WHERE dataset = %s ORDER BY id DESC",
            (dataset,),
        ).fetchall()
    return [_version(r) for r in rows]


def insert(conn: psycopg.Connection[Any], new: NewVersion) -> Version:
    """Record a version (its extent in EPSG:4326 is derived from bbox + CRS)."""
    from pipelines.feed.project import extent_wgs84

    extent = extent_wgs84(tuple(new.bbox) if new.bbox else None, new.crs)  # type: ignore[arg-type]
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO ops.dataset_versions (dataset, zone, uri, parent_id, fingerprint, rows,"
            " bytes, checksum, crs, bbox, extent, geometry_types, layer, status, quality,"
            " provenance, run_id, reason, rejected_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
            " %s, %s, CASE WHEN %s::float8[] IS NULL THEN NULL ELSE ST_MakeEnvelope("
            "(%s::float8[])[1], (%s::float8[])[2], (%s::float8[])[3], (%s::float8[])[4], 4326)"
            f" END, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}",
            (
                new.dataset,
                new.zone,
                new.uri,
                new.parent_id,
                new.fingerprint,
                new.rows,
                new.bytes,
                new.checksum,
                new.crs,
                list(new.bbox) if new.bbox else None,
                *([list(extent) if extent else None] * 5),
                list(new.geometry_types),
                new.layer,
                new.status,
                Jsonb(new.quality) if new.quality is not None else None,
                Jsonb(new.provenance),
                new.run_id,
                reason_line(new.reason) if new.reason is not None else None,
                new.rejected_by,
            ),
        ).fetchone()
    assert row is not None
    return _version(row)


def make_current(conn: psycopg.Connection[Any], version_id: int) -> None:
    """A step found this version (a no-op): it becomes the one the next steps move forward."""
    conn.execute(
        "UPDATE ops.dataset_versions SET current_at = clock_timestamp() WHERE id = %s",
        (version_id,),
    )


def set_status(
    conn: psycopg.Connection[Any],
    version_id: int,
    status: str,
    quality: dict[str, Any] | None = None,
) -> None:
    """Change a version's status (and its quality report when given); clears any rejection.

    A rejection is recorded by :func:`reject`, which needs its step and reason.
    """
    assert status != "rejected", "use reject(): a rejection has a step and a reason"
    conn.execute(
        "UPDATE ops.dataset_versions SET status = %s, quality = coalesce(%s, quality),"
        " reason = NULL, rejected_by = NULL, updated_at = now() WHERE id = %s",
        (status, Jsonb(quality) if quality is not None else None, version_id),
    )


def reason_line(text: str) -> str:
    """``text`` as the one line a rejection keeps (whitespace folded, at most 1000 chars)."""
    line = " ".join(text.split()) or "rejected"
    return line if len(line) <= 1000 else line[:999] + "…"


def reject(
    conn: psycopg.Connection[Any],
    version_id: int,
    step: str,
    reason: str,
    quality: dict[str, Any] | None = None,
) -> None:
    """Mark a version rejected by ``step`` for ``reason`` (one line: cause and remedy)."""
    assert step in STEPS, step
    conn.execute(
        "UPDATE ops.dataset_versions SET status = 'rejected', reason = %s, rejected_by = %s,"
        " quality = coalesce(%s, quality), updated_at = now() WHERE id = %s",
        (
            reason_line(reason),
            step,
            Jsonb(quality) if quality is not None else None,
            version_id,
        ),
    )


def add_edge(
    conn: psycopg.Connection[Any],
    *,
    dataset: str,
    step: str,
    from_uri: str,
    to_uri: str,
    started_at: datetime,
    duration_s: float,
    from_version: int | None = None,
    to_version: int | None = None,
    rows: int | None = None,
    run_id: int | None = None,
) -> None:
    """Record one move of a layer."""
    conn.execute(
        "INSERT INTO ops.lineage (dataset, step, from_version_id, from_uri, to_version_id,"
        " to_uri, rows, started_at, duration_ms, run_id)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            dataset,
            step,
            from_version,
            from_uri,
            to_version,
            to_uri,
            rows,
            started_at,
            max(0, round(duration_s * 1000)),
            run_id,
        ),
    )


def lineage(conn: psycopg.Connection[Any], dataset: str) -> list[dict[str, Any]]:
    """Every edge of ``dataset``, oldest first (a dataset, or ``schema.table`` of a transfer).

    Raises:
        InputError: ``dataset`` is empty or blank.
    """
    required_name(dataset, "dataset name")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, step, from_version_id, from_uri, to_version_id, to_uri, rows,"
            " started_at, duration_ms, run_id FROM ops.lineage WHERE dataset = %s ORDER BY id",
            (dataset,),
        ).fetchall()


def load_dataset(conn: psycopg.Connection[Any], name: str) -> Dataset | None:
    """The declared dataset ``name``, validated (``None`` when not declared).

    Raises:
        InputError: ``name`` is empty or blank, or the row's rules are invalid (naming the
            rule).
    """
    required_name(name, "dataset name")
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT name, source, layer, rules, cron, timezone, enabled FROM params.datasets"
            " WHERE name = %s",
            (name,),
        ).fetchone()
    return Dataset.from_row(row) if row else None


def all_datasets(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Every declared dataset as raw rows (validation happens per use)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT name, source, layer, rules, cron, timezone, enabled FROM params.datasets"
            " ORDER BY name"
        ).fetchall()


def declare(
    conn: psycopg.Connection[Any], name: str, source: str | None, layer: str | None
) -> bool:
    """Declare ``name`` if it is not yet (an ad-hoc ingest registers its dataset); True if new."""
    cur = conn.execute(
        "INSERT INTO params.datasets (name, source, layer) VALUES (%s, %s, %s)"
        " ON CONFLICT (name) DO NOTHING",
        (name, source, layer),
    )
    return cur.rowcount == 1


def summary(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """One row per dataset (declared or seen): current version per zone, live rows, failures.

    Current as :func:`find` means it (``current_at``): after A → B → A, landing shows A.

    ``last_rejection`` is the newest rejection as ``<step> <version id>: <reason>``.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            WITH names AS (
                SELECT name FROM params.datasets
                UNION SELECT DISTINCT dataset FROM ops.dataset_versions
            )
            SELECT n.name,
                   d.cron,
                   (SELECT id FROM ops.dataset_versions v
                     WHERE v.dataset = n.name AND zone = 'landing'
                     ORDER BY current_at DESC, id DESC LIMIT 1) AS landing,
                   (SELECT id FROM ops.dataset_versions v
                     WHERE v.dataset = n.name AND zone = 'working'
                     ORDER BY current_at DESC, id DESC LIMIT 1) AS working,
                   (SELECT id FROM ops.dataset_versions v WHERE v.dataset = n.name
                     AND zone = 'exposure' AND status = 'published') AS exposure,
                   (SELECT rows FROM ops.dataset_versions v WHERE v.dataset = n.name
                     AND zone = 'exposure' AND status = 'published') AS rows,
                   (SELECT count(*) FROM ops.dataset_versions v WHERE v.dataset = n.name
                     AND status = 'rejected') AS rejected,
                   (SELECT v.rejected_by || ' ' || v.id || ': ' || v.reason
                      FROM ops.dataset_versions v WHERE v.dataset = n.name
                       AND status = 'rejected'
                     ORDER BY v.updated_at DESC, v.id DESC LIMIT 1) AS last_rejection,
                   (SELECT max(created_at) FROM ops.dataset_versions v
                     WHERE v.dataset = n.name) AS updated
              FROM names n LEFT JOIN params.datasets d ON d.name = n.name
             ORDER BY n.name
            """
        ).fetchall()
