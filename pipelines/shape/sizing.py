"""What an instance costs and how it is observed: the vocabulary shared by cost and drift."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from infra.prices import PriceCatalog
from pipelines.shape.storage import billable

Power = Literal["present", "stopped"]


@dataclass(frozen=True)
class Sizing:
    """The billable shape of one instance."""

    kind: Literal["rds", "ec2"]
    instance_class: str
    storage_gb: int
    storage_type: str
    multi_az: bool = False
    engine: str | None = None
    iops: int | None = None
    throughput: int | None = None

    def monthly(self, catalog: PriceCatalog, power: str = "present") -> Decimal:
        """Monthly USD (730 h): compute while running, storage always; multi-AZ doubles both.

        Raises:
            InputError: the class or storage type has no price in the catalog.
        """
        copies = 2 if self.multi_az else 1
        iops, mibps = billable(
            self.kind, self.storage_type, self.storage_gb, self.iops, self.throughput
        )
        if self.kind == "rds":
            variant = self.engine or "postgres"
            compute = catalog.monthly("rds", self.instance_class, variant, copies)
            storage = catalog.monthly("rds-storage", self.storage_type, variant, self.storage_gb)
            if iops:
                storage += catalog.monthly("rds-iops", self.storage_type, variant, iops)
            if mibps:
                storage += catalog.monthly("rds-throughput", self.storage_type, variant, mibps)
            storage *= copies
        else:
            compute = catalog.monthly("ec2", self.instance_class, "linux")
            storage = catalog.monthly("ebs", self.storage_type, "", self.storage_gb)
            if iops:
                storage += catalog.monthly("ebs-iops", self.storage_type, "", iops)
            if mibps:
                storage += catalog.monthly("ebs-throughput", self.storage_type, "", mibps)
        return (compute if power != "stopped" else Decimal(0)) + storage


@dataclass(frozen=True)
class Observed:
    """An instance as AWS describes it (``state`` is ``missing`` when AWS has none)."""

    state: str
    instance_class: str | None = None
    storage_gb: int | None = None
    multi_az: bool | None = None
    protected: bool | None = None
    engine_version: str | None = None
    """RDS: the full version AWS runs (e.g. ``16.4``); params hold the major only."""
    status: str | None = None
    """AWS's own state (``DBInstanceStatus``, EC2 state name), for the state history."""
