"""The scenario's estate as data: resources, their tags and load, the budgets that go with it.

One description serves the demo's small platform, the tests' week and the observe fleet of
sixty resources (:mod:`infra.demo.scenario.estates` builds each): what is created in the
stand-in AWS (:mod:`~infra.demo.scenario.aws`), the datapoints it emits
(:mod:`~infra.demo.scenario.datapoints`), what Cost Explorer bills for it
(:mod:`~infra.demo.scenario.explorer`) and the parameter rows describing it
(:mod:`~infra.demo.scenario.params`) are all derived from it, so they cannot disagree.

Validation happens here, once: a resource that AWS or the price catalog would refuse is an
:class:`~infra.errors.InputError` before anything is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from infra.errors import InputError

Kind = Literal["rds", "ec2", "s3", "ebs"]
Profile = Literal["batch", "web", "office", "idle"]

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


@dataclass(frozen=True)
class DemoResource:
    """One resource of the estate.

    Attributes:
        kind: ``rds``, ``ec2``, ``s3``, or ``ebs`` (a data volume attached to an instance).
        name: RDS identifier, EC2 or EBS ``Name`` tag, or bucket name.
        size: RDS instance class, EC2 instance type, S3 storage class or EBS volume type
            (price catalog keys).
        storage_gb: RDS allocated storage, EC2 root volume, S3 data at the start of the
            window, or EBS volume size.
        profile: its load over a day (see :mod:`infra.demo.scenario.loads`).
        tagged: carries the Locxia tag (else a neighbour discovery must leave out).
        role: what it is for, in a few words (the demo prints it); for a look-alike, why
            discovery should report it.
        growth_gb_per_day: S3 only: how fast the bucket fills.
        zone: S3 only: the zone the bucket holds (landing, working, exposure).
        tags: extra tags, applied last (they may override the Locxia tag's value).
        volume_tags: EC2 only: the root volume carries the instance's tags.
        attached_to: EBS only: the name of the EC2 instance the volume is attached to.
        protected: EC2 only: launched with termination protection (the demo's instances are
            built as their rows describe them, so adopting them changes nothing).
    """

    kind: Kind
    name: str
    size: str
    storage_gb: int
    profile: Profile
    tagged: bool = True
    role: str = ""
    growth_gb_per_day: float = 0.0
    zone: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    volume_tags: bool = True
    attached_to: str = ""
    protected: bool = False

    def __post_init__(self) -> None:
        where = f"demo estate[{self.name}]"
        if not self.name or not set(self.name) <= _NAME_CHARS or len(self.name) > 63:
            raise InputError("name must be 1-63 of a-z, 0-9, '-'", where)
        if self.storage_gb <= 0:
            raise InputError(f"storage_gb must be positive, got {self.storage_gb}", where)
        if self.kind != "s3" and (self.growth_gb_per_day or self.zone):
            raise InputError("growth and zone apply to buckets only", where)
        if (self.kind == "ebs") != bool(self.attached_to):
            raise InputError("a volume, and only a volume, is attached to an instance", where)


@dataclass(frozen=True)
class Budget:
    """A ``params.budgets`` row: a monthly amount for the account or one service."""

    name: str
    scope: Literal["total", "service"]
    service: str | None
    monthly_usd: str
    alert_percent: int = 80
    note: str = ""


@dataclass(frozen=True)
class Estate:
    """The whole estate, the tag that marks Locxia's part of it, and what goes with it.

    Attributes:
        resources: every resource, Locxia's and its neighbours', in creation order.
        tag_key: the tag key marking Locxia's resources.
        tag_value: its value.
        rds_network: the RDS instances also emit network throughput (and the collection
            policy is told to read it).
        budgets: the month's budgets the team sets for this estate.
    """

    resources: tuple[DemoResource, ...]
    tag_key: str = "project"
    tag_value: str = "locxia"
    rds_network: bool = False
    budgets: tuple[Budget, ...] = ()

    def __post_init__(self) -> None:
        names = [r.name for r in self.resources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InputError(f"duplicate names {', '.join(duplicates)}", "demo estate")
        servers = {r.name for r in self.of("ec2")}
        loose = [r.name for r in self.of("ebs") if r.attached_to not in servers]
        if loose:
            raise InputError(f"volumes attached to no instance: {', '.join(loose)}", "demo estate")

    def of(self, kind: Kind) -> tuple[DemoResource, ...]:
        """The resources of one kind, in estate order."""
        return tuple(r for r in self.resources if r.kind == kind)

    @property
    def tagged(self) -> tuple[DemoResource, ...]:
        """Locxia's resources (what discovery must find)."""
        return tuple(r for r in self.resources if r.tagged)

    @property
    def untagged(self) -> tuple[DemoResource, ...]:
        """The neighbours and look-alikes (what discovery must leave out)."""
        return tuple(r for r in self.resources if not r.tagged)

    def tags(self, resource: DemoResource) -> dict[str, str]:
        """AWS tags of ``resource``: ``Name`` always, the Locxia tag when it is tagged."""
        tags = {"Name": resource.name}
        if resource.tagged:
            tags[self.tag_key] = self.tag_value
            tags["team"] = "geodata"
        else:
            tags["team"] = "neighbours"
        if resource.zone:
            tags["zone"] = resource.zone
        tags.update(resource.tags)
        return tags

    def zone_buckets(self) -> dict[str, str]:
        """Zone name → bucket name, for the buckets that hold a zone."""
        return {r.zone: r.name for r in self.of("s3") if r.zone}
