"""Rules a row must follow beyond its own shape: the price catalog and the previous row.

The database enforces the same rules (``0020_shape.sql``) so that a change typed in ``psql``
cannot slip through; checking them here too gives the CLI a precise message *before* writing
and lets the reconcile refuse a row with the catalog of the configured region and an injected
clock. AWS itself does not protect us here (and moto even less): RDS storage cannot shrink,
must grow by at least 10 %, and accepts one storage modification per 6 hours. That last rule
is only a first line here (it counts from the edit): the reconcile holds a storage change
until AWS would accept it (:mod:`pipelines.shape.downtime`, ``storage-cooldown``).
"""

from __future__ import annotations

from datetime import datetime

from infra.cluster import transport_problem
from infra.costlines import POSTGRES_SUPPORT, support_band
from infra.errors import InputError
from infra.prices import PriceCatalog
from infra.settings import Settings
from pipelines.shape.downtime import STORAGE_COOLDOWN
from pipelines.shape.model import InstanceSpec, where
from pipelines.shape.storage import billable


def storage_service(kind: str) -> str:
    """The price-catalog service of an instance's storage."""
    return "rds-storage" if kind == "rds" else "ebs"


def check_catalog(spec: InstanceSpec, catalog: PriceCatalog) -> None:
    """Every class (base and windows) and the storage type must have a price.

    A class without a price is almost always a typo (``db.r6g.2xlrage``) or an item of a
    region whose catalog was never refreshed; the message says which, with the remedy.
    Refusing it also guarantees that every plan has a cost preview.

    Raises:
        InputError: naming the unknown class or storage type.
    """
    variant = spec.engine or "linux"
    classes = [spec.instance_class] + [w.instance_class for w in spec.schedule if w.instance_class]
    for klass in classes:
        if catalog.get(spec.kind, klass, variant) is None:
            raise InputError(
                catalog.missing(spec.kind, klass, variant), where(spec.name, "instance_class")
            )
    storage = storage_service(spec.kind)
    storage_variant = spec.engine or ""
    if catalog.get(storage, spec.storage_type, storage_variant) is None:  # type: ignore[arg-type]
        raise InputError(
            catalog.missing(storage, spec.storage_type, storage_variant),
            where(spec.name, "storage_type"),
        )
    iops, mibps = billable(
        spec.kind, spec.storage_type, spec.storage_gb, spec.iops, spec.throughput
    )
    for amount, part, column in ((iops, "iops", "iops"), (mibps, "throughput", "throughput")):
        service = f"{storage.removesuffix('-storage')}-{part}"
        if amount and catalog.get(service, spec.storage_type, storage_variant) is None:  # type: ignore[arg-type]
            raise InputError(
                catalog.missing(service, spec.storage_type, storage_variant),
                where(spec.name, column),
            )


def check_change(old: InstanceSpec | None, new: InstanceSpec, now: datetime) -> None:
    """Rules between the current row and the proposed one.

    Raises:
        InputError: kind changed, storage shrinks, grows too little (RDS), or changes again
            within six hours of the last storage change.
    """
    if old is None:
        return
    if old.kind != new.kind:
        raise InputError(
            f"kind cannot change ({old.kind} → {new.kind}); add a new row instead",
            where(new.name, "kind"),
        )
    if old.purpose != new.purpose:
        # a worker's user data makes Terraform replace the instance: a general instance (and its
        # data) must never become one by an edit
        raise InputError(
            f"purpose cannot change ({old.purpose} → {new.purpose}); add a new row instead",
            where(new.name, "purpose"),
        )
    if new.storage_gb < old.storage_gb:
        raise InputError(
            f"cannot shrink {old.storage_gb} → {new.storage_gb} (AWS storage never shrinks)",
            where(new.name, "storage_gb"),
        )
    if new.storage_gb == old.storage_gb:
        return
    minimum = -(-old.storage_gb * 11 // 10)  # RDS: an increase is at least 10 % (exact)
    if new.kind == "rds" and new.storage_gb < minimum:
        raise InputError(
            f"RDS storage grows by at least 10 % ({old.storage_gb} → ≥ {minimum})",
            where(new.name, "storage_gb"),
        )
    last = old.storage_changed_at
    if last is not None and now - last < STORAGE_COOLDOWN:
        raise InputError(
            f"storage changed at {last:%Y-%m-%d %H:%M %Z}; AWS allows one change per 6 h"
            f" (next after {last + STORAGE_COOLDOWN:%H:%M %Z})",
            where(new.name, "storage_gb"),
        )


def check_support(old: InstanceSpec | None, new: InstanceSpec, now: datetime) -> None:
    """Refuse choosing a PostgreSQL major that RDS charges Extended Support for at ``now``.

    One behaviour per case (decision 76):

    * a new row, or a row whose ``engine_version`` changes, naming a major past its RDS end of
      standard support is refused: RDS would create it and enrol it in Extended Support, billed
      per vCPU-hour on top of the instance ("Overview of Amazon RDS Extended Support": "You can
      create new databases with major engine versions that have reached the RDS end of standard
      support date. RDS automatically enrolls these new databases […] and charges you");
    * an unchanged row whose major enters Extended Support while it runs is accepted — refusing
      it would stop reconciling a live database — and the surcharge is priced in the estimates
      and in the plan's cost preview (:mod:`infra.costlines`).

    Raises:
        InputError: naming the major, the date charges began and the rate band.
    """
    if new.kind != "rds" or new.engine is None:
        return
    if old is not None and old.engine_version == new.engine_version:
        return
    band = support_band(new.engine, new.engine_version, now.date())
    if band is None:
        return
    window = POSTGRES_SUPPORT[str(new.engine_version)]
    raise InputError(
        f"{new.engine} {new.engine_version} is in RDS Extended Support since"
        f" {window.charged_from:%Y-%m-%d} (surcharge per vCPU-hour, {band} rate);"
        " choose a major still in standard support",
        where(new.name, "engine_version"),
    )


def check_scheduler(spec: InstanceSpec, settings: Settings) -> None:
    """A Dask worker needs a scheduler to join: ``LOCXIA_DASK_SCHEDULER`` must name one.

    Without it the instance would boot, install, and wait forever, paid by the hour. The one
    exception is a stand-in AWS (``LOCXIA_AWS_ENDPOINT_URL`` set: moto, LocalStack), whose
    instances never boot: the demo and the tests run their partitioned work on an embedded
    local cluster and name no scheduler, and the stand-in module renders the script with the
    default local address (decision 91).

    A named scheduler must also be one the orchestrator may use
    (:func:`infra.cluster.transport_problem`: mutual TLS, or plain text on loopback or by
    opt-in), checked here before Terraform renders user data that refuses the same addresses,
    stand-in or not: a worker would otherwise be paid for to join a scheduler the run then
    refuses to talk to.

    Raises:
        InputError: a Dask worker row, and no scheduler on real AWS, or one refused as
            configured.
    """
    if not spec.dask_worker:
        return
    problem = transport_problem(settings)
    if problem:
        raise InputError(problem, where(spec.name, "purpose"))
    if settings.dask_scheduler or settings.aws_endpoint_url:
        return
    raise InputError(
        "a Dask worker needs a scheduler to join: set LOCXIA_DASK_SCHEDULER (tls://host:8786)",
        where(spec.name, "purpose"),
    )


def validate(
    new: InstanceSpec, catalog: PriceCatalog, old: InstanceSpec | None, now: datetime
) -> None:
    """All checks a proposed row must pass before it is written.

    Raises:
        InputError: the first broken rule, naming the column.
    """
    check_catalog(new, catalog)
    check_change(old, new, now)
    check_support(old, new, now)
