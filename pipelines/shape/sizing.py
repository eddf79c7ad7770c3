"""What an instance costs and how it is observed: the vocabulary shared by cost and drift."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from infra.costlines import CostLine, ec2_lines, rds_lines, storage_lines
from infra.errors import InputError
from infra.prices import PriceCatalog

Power = Literal["present", "stopped"]


#: The platform a plan preview prices EC2 compute with. Terraform's ``aws_instance`` plan names
#: only the AMI id, not its billing platform (``PlatformDetails`` is a DescribeImages /
#: DescribeInstances field); estimates price what Describe reports (infra/costlines.py).
PLANNED_PLATFORM = "Linux/UNIX"


@dataclass(frozen=True)
class Sizing:
    """The billable shape of one instance, with the options that turn cost lines on."""

    kind: Literal["rds", "ec2"]
    instance_class: str
    storage_gb: int
    storage_type: str
    multi_az: bool = False
    engine: str | None = None
    iops: int | None = None
    throughput: int | None = None
    engine_version: str | None = None
    log_exports: tuple[str, ...] = ()
    monitoring: bool = False
    platform: str = PLANNED_PLATFORM

    def lines(
        self, catalog: PriceCatalog, power: str = "present", at: datetime | None = None
    ) -> list[CostLine]:
        """Every cost line of the instance in ``power`` (the same rules as the estimates).

        ``at`` is the day priced: RDS Extended Support depends on it.
        """
        running = power != "stopped"
        if self.kind == "rds":
            return rds_lines(
                catalog,
                instance_class=self.instance_class,
                engine=self.engine or "postgres",
                engine_version=self.engine_version,
                multi_az=self.multi_az,
                storage=(self.storage_type, self.storage_gb, self.iops, self.throughput),
                log_exports=self.log_exports,
                billed=running,
                day=at.date() if at is not None else None,
            )
        compute = ec2_lines(
            catalog,
            instance_type=self.instance_class,
            platform=self.platform,
            monitoring=self.monitoring,
            billed=running,
        )
        storage = storage_lines(
            catalog, "ec2", self.storage_type, self.storage_gb, self.iops, self.throughput
        )
        return compute + storage

    def monthly(
        self, catalog: PriceCatalog, power: str = "present", at: datetime | None = None
    ) -> Decimal:
        """Monthly USD (730 h): compute while running, storage always; multi-AZ doubles both.

        Declared lines (log exports: volume unknown) add nothing.

        Raises:
            InputError: a line has no price in the catalog (class, storage type, IOPS, …).
        """
        lines = self.lines(catalog, power, at)
        for line in lines:
            if line.kind == "unpriced":
                raise InputError(f"{line.basis.removeprefix('unpriced: ')} in {catalog.region}")
        return sum((line.monthly for line in lines), Decimal(0)).quantize(Decimal("0.01"))


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
