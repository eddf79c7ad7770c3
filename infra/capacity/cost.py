"""What a capacity window cost: its Dask workers' seconds and its database's class uplift.

Pure arithmetic over prices from the catalog (``costs.prices``), so it is tested without AWS:

* **EC2 workers**: each worker is billed from the moment the window found it running (the
  window's ``available_at``, or the end of the apply that created it when the window never
  became available) until the restore saw it gone. Linux On-Demand instances are billed per
  second with a minimum of 60 seconds — Amazon EC2 On-Demand pricing, "Per Second Billing",
  https://aws.amazon.com/ec2/pricing/on-demand/.
* **Database class**: the window pays the difference between the hourly price of the class it
  set and of the class it found, for the same seconds. RDS bills per second with a 10-minute
  minimum after a billable status change, a class modification included — Amazon RDS User
  Guide, "DB instance billing for Amazon RDS",
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/User_DBInstanceBilling.html.

A price the catalog lacks is named in ``problems`` and left out of the total, never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from infra.prices import PriceCatalog

EC2_MIN_SECONDS = 60
RDS_MIN_SECONDS = 600
EC2_PRICING = "Amazon EC2 On-Demand pricing (per second, 60 s minimum), https://aws.amazon.com/ec2/pricing/on-demand/"
RDS_BILLING = (
    "Amazon RDS DB instance billing (per second, 10 min minimum after a change),"
    " https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/User_DBInstanceBilling.html"
)


def billed_seconds(seconds: float, minimum: int) -> Decimal:
    """Seconds AWS bills for ``seconds`` of use: whole seconds, never less than ``minimum``.

    Per-second billing counts started seconds; a use of 0 s (never running) costs nothing.
    """
    if seconds <= 0:
        return Decimal(0)
    whole = Decimal(int(-(-seconds // 1)))  # ceil without float drift on whole values
    return max(whole, Decimal(minimum))


@dataclass
class WindowCost:
    """The window's total and its basis (JSON for ``ops.capacity_windows.cost_basis``)."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def usd(self) -> Decimal:
        """Sum of the priced lines."""
        return sum((Decimal(line["usd"]) for line in self.lines), Decimal(0))

    def basis(self) -> dict[str, Any]:
        """Amounts as strings (exact decimals), as every cost basis of the product."""
        return {"usd": str(self.usd), "lines": self.lines, "problems": self.problems}


def window_cost(
    catalog: PriceCatalog,
    *,
    seconds: float,
    workers: Sequence[str],
    worker_type: str | None,
    database: str | None = None,
    class_before: str | None = None,
    class_during: str | None = None,
    engine: str = "postgres",
) -> WindowCost:
    """Price ``seconds`` of a window holding ``workers`` and a database class uplift."""
    cost = WindowCost()
    if workers and worker_type:
        price = catalog.get("ec2", worker_type, "linux")
        if price is None:
            cost.problems.append(f"workers: {catalog.missing('ec2', worker_type, 'linux')}")
        else:
            billed = billed_seconds(seconds, EC2_MIN_SECONDS)
            for name in workers:
                cost.lines.append(
                    {
                        "item": name,
                        "kind": "ec2",
                        "class": worker_type,
                        "seconds": round(seconds, 3),
                        "billed_seconds": int(billed),
                        "usd_per_hour": str(price.usd),
                        "usd": str(price.usd * billed / 3600),
                        "price_source": price.source,
                        "rule": EC2_PRICING,
                    }
                )
    if database and class_before and class_during and class_before != class_during:
        before = catalog.get("rds", class_before, engine)
        during = catalog.get("rds", class_during, engine)
        if before is None or during is None:
            for cls, p in ((class_before, before), (class_during, during)):
                if p is None:
                    cost.problems.append(f"database: {catalog.missing('rds', cls, engine)}")
        else:
            billed = billed_seconds(seconds, RDS_MIN_SECONDS)
            uplift = during.usd - before.usd
            cost.lines.append(
                {
                    "item": database,
                    "kind": "rds",
                    "class": f"{class_before} -> {class_during}",
                    "seconds": round(seconds, 3),
                    "billed_seconds": int(billed),
                    "usd_per_hour": str(uplift),
                    "usd": str(uplift * billed / 3600),
                    "price_source": during.source,
                    "rule": RDS_BILLING,
                }
            )
    return cost
