"""Storage types: which ``iops``/``throughput`` each takes, and what is billed beyond baseline.

AWS refuses a create or modify whose IOPS or throughput break these rules (``io1`` without
``iops`` fails), and moto accepts anything, so the rules live here, each next to its source:

* RDS (PostgreSQL): Amazon RDS User Guide, "Amazon RDS DB instance storage"
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Storage.html and the ``Iops``
  constraints of CreateDBInstance
  https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html
  ("a multiple between .5 and 50 of the storage amount" for io1).
* EC2 root volumes (EBS): EbsBlockDevice in the EC2 API reference
  https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EbsBlockDevice.html (gp3 3,000–16,000
  IOPS, io1 100–64,000, io2 100–256,000; gp3 throughput 125–1,000 MiB/s) and the EBS User Guide
  "Amazon EBS volume types" (gp3: ≤ 500 IOPS per GiB, ≤ 0.25 MiB/s per IOPS; io1 ≤ 50 IOPS per
  GiB; io2 ≤ 1,000 IOPS per GiB).

gp3 includes a baseline (RDS below 400 GiB: 3,000 IOPS and 125 MiBps, fixed; from 400 GiB:
12,000 IOPS and 500 MiBps; EBS: 3,000 IOPS and 125 MiBps at any size); only what is provisioned
above it is billed. io1/io2 bill every provisioned IOPS.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

Range = tuple[Decimal, Decimal]


@dataclass(frozen=True)
class Rules:
    """What one storage type of one kind accepts.

    Attributes:
        storage_gb: allowed size in GiB (inclusive).
        iops: allowed provisioned IOPS, or None when the type takes none.
        iops_required: io1/io2: ``iops`` must be given.
        iops_per_gb: allowed IOPS-to-GiB ratio.
        throughput: allowed MiBps, or None when the type takes none.
        throughput_per_iops: the largest MiBps-to-IOPS ratio.
        baseline: included (IOPS, MiBps) for gp3, else None.
    """

    storage_gb: tuple[int, int]
    iops: tuple[int, int] | None = None
    iops_required: bool = False
    iops_per_gb: Range | None = None
    throughput: tuple[int, int] | None = None
    throughput_per_iops: Decimal | None = None
    baseline: tuple[int, int] | None = None


_QUARTER = Decimal("0.25")
#: RDS for PostgreSQL, per storage type (User Guide, "Amazon RDS DB instance storage").
RDS = {
    "gp2": Rules(storage_gb=(20, 65536)),
    # gp3 below 400 GiB: 3,000 IOPS / 125 MiBps baseline, not provisionable.
    "gp3-small": Rules(storage_gb=(20, 399), baseline=(3000, 125)),
    # gp3 from 400 GiB: 12,000–64,000 IOPS and 500–4,000 MiBps, throughput ≤ 0.25 × IOPS.
    "gp3": Rules(
        storage_gb=(400, 65536),
        iops=(12000, 64000),
        throughput=(500, 4000),
        throughput_per_iops=_QUARTER,
        baseline=(12000, 500),
    ),
    "io1": Rules(
        storage_gb=(100, 65536),
        iops=(1000, 256000),
        iops_required=True,
        iops_per_gb=(Decimal("0.5"), Decimal(50)),
    ),
    "io2": Rules(
        storage_gb=(100, 65536),
        iops=(1000, 256000),
        iops_required=True,
        iops_per_gb=(Decimal("0.5"), Decimal(1000)),
    ),
}
#: EBS root volumes of EC2 instances (EbsBlockDevice; EBS User Guide, volume types).
EBS = {
    "gp2": Rules(storage_gb=(1, 16384)),
    "gp3": Rules(
        storage_gb=(1, 16384),
        iops=(3000, 16000),
        iops_per_gb=(Decimal(0), Decimal(500)),
        throughput=(125, 1000),
        throughput_per_iops=_QUARTER,
        baseline=(3000, 125),
    ),
    "io1": Rules(
        storage_gb=(4, 16384),
        iops=(100, 64000),
        iops_required=True,
        iops_per_gb=(Decimal(0), Decimal(50)),
    ),
    "io2": Rules(
        storage_gb=(4, 65536),
        iops=(100, 256000),
        iops_required=True,
        iops_per_gb=(Decimal(0), Decimal(1000)),
    ),
}
TYPES = ("gp2", "gp3", "io1", "io2")


def rules(kind: str, storage_type: str, storage_gb: int) -> Rules:
    """The rules of ``storage_type`` for ``kind`` at ``storage_gb`` (RDS gp3 depends on size)."""
    if kind == "rds":
        if storage_type == "gp3" and storage_gb < 400:
            return RDS["gp3-small"]
        return RDS[storage_type]
    return EBS[storage_type]


def problem(
    kind: str, storage_type: str, storage_gb: int, iops: int | None, throughput: int | None
) -> tuple[str, str] | None:
    """Why this storage is refused, as ``(column, message)``; None when AWS accepts it."""
    r = rules(kind, storage_type, storage_gb)
    what = f"{storage_type} {'RDS' if kind == 'rds' else 'EBS'} storage"
    low, high = r.storage_gb
    if not low <= storage_gb <= high:
        return "storage_gb", f"{what} is {low}–{high} GiB, not {storage_gb}"
    if r.iops is None and iops is not None:
        hint = " (below 400 GiB gp3 has a fixed 3,000 IOPS baseline)" if r.baseline else ""
        return "iops", f"{what} takes no iops{hint}"
    if r.throughput is None and throughput is not None:
        hint = " (below 400 GiB gp3 has a fixed 125 MiBps baseline)" if r.baseline else ""
        return "throughput", f"{what} takes no throughput{hint}"
    if r.iops_required and iops is None:
        return "iops", f"{what} needs iops ({r.iops[0]}–{r.iops[1]})"  # type: ignore[index]
    if iops is not None and r.iops is not None:
        if not r.iops[0] <= iops <= r.iops[1]:
            return "iops", f"{what}: iops is {r.iops[0]}–{r.iops[1]}, not {iops}"
        if r.iops_per_gb is not None:
            ratio = Decimal(iops) / storage_gb
            if not r.iops_per_gb[0] <= ratio <= r.iops_per_gb[1]:
                return "iops", (
                    f"{what}: {iops} IOPS on {storage_gb} GiB is {ratio:.2f} per GiB"
                    f" (allowed {r.iops_per_gb[0]}–{r.iops_per_gb[1]})"
                )
    if throughput is not None and r.throughput is not None:
        if not r.throughput[0] <= throughput <= r.throughput[1]:
            return "throughput", (
                f"{what}: throughput is {r.throughput[0]}–{r.throughput[1]} MiBps, not {throughput}"
            )
        effective = iops if iops is not None else (r.baseline or (0, 0))[0]
        if r.throughput_per_iops is not None and throughput > effective * r.throughput_per_iops:
            return "throughput", (
                f"{what}: {throughput} MiBps needs at least {int(throughput / _QUARTER)} IOPS"
                f" (at most {r.throughput_per_iops} MiBps per IOPS)"
            )
    return None


def billable(
    kind: str, storage_type: str, storage_gb: int, iops: int | None, throughput: int | None
) -> tuple[int, int]:
    """Provisioned (IOPS, MiBps) billed beyond the storage itself.

    io1/io2 bill every provisioned IOPS; gp3 bills only what exceeds its baseline; gp2 nothing.
    """
    r = rules(kind, storage_type, storage_gb)
    if r.baseline is None:
        return (iops or 0) if r.iops_required else 0, 0
    base_iops, base_mibps = r.baseline
    return max(0, (iops or base_iops) - base_iops), max(0, (throughput or base_mibps) - base_mibps)
