"""The scenario's parameter rows, edited as the team would: instances, policies, budgets.

Each edit goes through the same path as ``locxia params set`` (validated in code, then by the
database, audited as the ``actor`` given — :data:`ACTOR` for the demo), and only when a value
differs, so a second run leaves the history of an unchanged row alone.

* ``params.instances`` gets one row per tagged RDS/EC2 instance of the estate, as built —
  that is what Terraform adopts (the demo) or builds (the tests' week). The demo's class bump
  (``work-db`` one size up) is a separate edit, and the demo's rows step puts the built class
  back first, so every demo shows the same bump.
* ``params.collection_policies``: the scenario's CloudWatch points are hourly, so the RDS and
  EC2 policies collect hourly points; the demo backfills eight days (its week and the day it
  ends in); an estate whose databases report network has the RDS policy read it too.
* ``params.run_capacity``: the demo's refine (job ``demo.refine``) declares two Dask workers,
  so it runs inside a capacity window (:mod:`infra.capacity`).
* ``params.budgets``: the estate's budgets (:attr:`~infra.demo.scenario.estate.Estate.budgets`),
  set so that the month's forecast lands near them and the report has a decision to show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from infra.demo.scenario.estate import DemoResource, Estate
from infra.errors import InputError
from infra.prices import PriceCatalog
from pipelines.shape import store

ACTOR = "locxia-demo"
BUMP_INSTANCE = "work-db"
#: One size up within the same family: the nightly refine wants more memory.
BUMP_TO = "db.r6g.xlarge"
RDS_ENGINE_VERSION = "16"
HOUR_S = 3600
BACKFILL_S = 8 * 86400  # the week of datapoints, and the day it ends in
RDS_NETWORK_METRICS = ["NetworkReceiveThroughput", "NetworkTransmitThroughput"]
#: The demo's refine step runs as job ``demo.refine`` (``demo.<step>``): it declares two Dask
#: workers, so its run is wrapped in a capacity window. Two m6i.large with their volumes are
#: about 167 USD/month, under the default 500 USD auto-apply limit: the raise is applied
#: within policy, as a window of that size would be in production.
CAPACITY_JOB = "demo.refine"
CAPACITY_WORKERS = 2
CAPACITY_WORKER_TYPE = "m6i.large"
CAPACITY_NOTE = "the sample layer's refine on two Dask workers"


@dataclass
class Edits:
    """How many rows an edit created, changed, and found already right."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_details(self) -> dict[str, int]:
        """JSON-able counts for the run record."""
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


def instance_row(resource: DemoResource) -> dict[str, Any]:
    """The ``params.instances`` columns describing ``resource`` as the estate built it."""
    row: dict[str, Any] = {
        "kind": resource.kind,
        "state": "present",
        "instance_class": resource.size,
        "storage_gb": resource.storage_gb,
        "storage_type": "gp3",
        "protected": True,
        "note": resource.role,
    }
    if resource.kind == "rds":
        row.update(engine="postgres", engine_version=RDS_ENGINE_VERSION)
    return row


def instance_rows(estate: Estate) -> dict[str, dict[str, Any]]:
    """Rows for the Locxia instances of the estate (neighbours are not Locxia's to shape)."""
    return {r.name: instance_row(r) for r in estate.tagged if r.kind in ("rds", "ec2")}


def set_instances(
    conn: psycopg.Connection[Any],
    rows: Mapping[str, Mapping[str, Any]],
    catalog: PriceCatalog,
    now: datetime,
    actor: str = ACTOR,
) -> Edits:
    """Create or correct each row (only the columns that differ), audited as ``actor``.

    Raises:
        InputError: a row breaks a rule (nothing of that row is written).
    """
    edits = Edits()
    for name, row in rows.items():
        current = store.load_rows(conn, name)
        conn.rollback()
        changes = dict(row) if not current else _differences(current[0], row)
        if not changes:
            edits.unchanged += 1
            continue
        store.set_instance(conn, name, changes, actor=actor, catalog=catalog, now=now)
        if current:
            edits.updated += 1
        else:
            edits.created += 1
    return edits


def _differences(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in wanted.items() if current.get(k) != v}


def bump_class(
    conn: psycopg.Connection[Any], catalog: PriceCatalog, now: datetime
) -> tuple[str, str]:
    """Move :data:`BUMP_INSTANCE` to :data:`BUMP_TO`; returns (from, to).

    Raises:
        InputError: the row does not exist (run the rows step first), or the edit is refused.
    """
    rows = store.load_rows(conn, BUMP_INSTANCE)
    conn.rollback()
    if not rows:
        raise InputError(f"params.instances[{BUMP_INSTANCE}] does not exist", "demo.bump")
    before = str(rows[0]["instance_class"])
    changes = {"instance_class": BUMP_TO, "note": f"nightly refine needs memory ({before})"}
    store.set_instance(conn, BUMP_INSTANCE, changes, actor=ACTOR, catalog=catalog, now=now)
    return before, BUMP_TO


def collection_policies(
    conn: psycopg.Connection[Any],
    estate: Estate,
    actor: str = ACTOR,
    backfill_s: int | None = BACKFILL_S,
) -> int:
    """Collect the scenario's points: hourly RDS/EC2, ``backfill_s`` back; rows changed.

    ``backfill_s=None`` leaves the backfill as it is. The RDS policy also reads network
    throughput when the estate's databases report it.
    """
    hour = {"hour": HOUR_S}
    with conn.transaction():
        conn.execute("SELECT set_config('locxia.actor', %s, true)", (actor,))
        changed = conn.execute(
            "UPDATE params.collection_policies SET period_seconds = %(hour)s,"
            " every_seconds = %(hour)s"
            " WHERE name IN ('rds-default', 'ec2-default')"
            " AND (period_seconds, every_seconds) IS DISTINCT FROM (%(hour)s, %(hour)s)",
            hour,
        ).rowcount
        if backfill_s is not None:
            changed += conn.execute(
                "UPDATE params.collection_policies SET backfill_seconds = %(backfill)s"
                " WHERE name IN ('rds-default', 'ec2-default', 's3-default')"
                " AND backfill_seconds <> %(backfill)s",
                {"backfill": backfill_s},
            ).rowcount
        if estate.rds_network:
            changed += _read_rds_network(conn)
    return changed


def _read_rds_network(conn: psycopg.Connection[Any]) -> int:
    """Append the network metrics the RDS policy lacks (in order); rows changed."""
    return conn.execute(
        "UPDATE params.collection_policies SET metrics = metrics || ARRAY("
        " SELECT m FROM unnest(%(extra)s::text[]) WITH ORDINALITY AS e(m, i)"
        " WHERE m <> ALL(metrics) ORDER BY i)"
        " WHERE name = 'rds-default' AND NOT metrics @> %(extra)s::text[]",
        {"extra": RDS_NETWORK_METRICS},
    ).rowcount


def set_budgets(conn: psycopg.Connection[Any], estate: Estate, actor: str = ACTOR) -> int:
    """Create or correct the estate's budgets (audited as ``actor``); rows changed."""
    changed = 0
    with conn.transaction():
        conn.execute("SELECT set_config('locxia.actor', %s, true)", (actor,))
        for b in estate.budgets:
            changed += conn.execute(
                "INSERT INTO params.budgets AS b (name, scope, service, monthly_usd,"
                " alert_percent, note) VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (name) DO UPDATE SET scope = EXCLUDED.scope,"
                " service = EXCLUDED.service, monthly_usd = EXCLUDED.monthly_usd,"
                " alert_percent = EXCLUDED.alert_percent, enabled = true"
                " WHERE (b.scope, b.service, b.monthly_usd, b.alert_percent, b.enabled)"
                " IS DISTINCT FROM (EXCLUDED.scope, EXCLUDED.service, EXCLUDED.monthly_usd,"
                " EXCLUDED.alert_percent, true)",
                (b.name, b.scope, b.service, b.monthly_usd, b.alert_percent, b.note),
            ).rowcount
    return changed


def declare_capacity(conn: psycopg.Connection[Any], actor: str = ACTOR) -> int:
    """Declare :data:`CAPACITY_JOB`'s Dask workers in ``params.run_capacity``; rows changed.

    Audited as ``actor``; a row already right is left alone (its history too).

    Raises:
        psycopg.Error: the database refused the row (an unknown worker type, say).
    """
    with conn.transaction():
        conn.execute("SELECT set_config('locxia.actor', %s, true)", (actor,))
        return conn.execute(
            "INSERT INTO params.run_capacity AS c (job, dask_workers, worker_type, note)"
            " VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (job) DO UPDATE SET dask_workers = EXCLUDED.dask_workers,"
            " worker_type = EXCLUDED.worker_type, worker_storage_gb = DEFAULT,"
            " database = NULL, database_class = NULL, note = EXCLUDED.note"
            " WHERE (c.dask_workers, c.worker_type, c.worker_storage_gb, c.database,"
            " c.database_class, c.note) IS DISTINCT FROM (EXCLUDED.dask_workers,"
            " EXCLUDED.worker_type, EXCLUDED.worker_storage_gb, NULL, NULL, EXCLUDED.note)",
            (CAPACITY_JOB, CAPACITY_WORKERS, CAPACITY_WORKER_TYPE, CAPACITY_NOTE),
        ).rowcount
