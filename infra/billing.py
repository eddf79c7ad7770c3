"""Which states AWS bills: the one definition estimates and every other billing question use.

RDS — the User Guide's status table ("Viewing Amazon RDS DB instance status",
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.DBInstance.Status.html) says,
for each ``DBInstanceStatus``, whether the instance *and* its storage are billed ("Billed"),
only its storage ("Billed for storage": ``starting``, ``stopped``, ``stopping``), or nothing
("Not billed": ``creating``, ``deleting``, ``failed`` …). "Stopping an Amazon RDS DB instance
temporarily" (USER_StopInstance.html) and the pricing page ("On-Demand DB instances for Amazon
RDS", USER_OnDemandDBInstances.html) agree: a stopped instance pays provisioned storage, not
instance hours, and billing ends when the instance is deleted. Every other status — including
``storage-optimization``, which follows every storage change and "can sometimes take up to and
even beyond 24 hours", ``upgrading``, ``rebooting``, ``modifying``, ``backing-up`` — bills the
instance. A status missing from the table (AWS adds some) counts as billed: an estimate that
errs high is noticed, a silent $0 is not.

EC2 — "Amazon EC2 instance state changes", "Billing by instance state"
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html): instance
usage is billed only while ``running`` (``pending``, ``stopping``, ``stopped``,
``shutting-down``, ``terminated``: not billed; an instance stopping to hibernate is the one
exception, which Locxia never asks for). EBS volumes are separate resources, billed whatever
the instance's state.

Both services bill per second ("RDS usage is billed in one-second increments, with a minimum of
10 minutes"; EC2 Linux: per-second billing, 60-second minimum): estimates prorate an hour by
the seconds spent in each state. The minimums are not modelled.

``deleted`` is Locxia's own marker (``metrics.resource_states``) for a resource found gone.
"""

from __future__ import annotations

from typing import Literal

RdsBilling = Literal["instance", "storage", "none"]

#: The User Guide's table, status by status: ``instance`` = "Billed" (instance and storage),
#: ``storage`` = "Billed for storage", ``none`` = "Not billed". ``insufficient-capacity`` has
#: no entry in the table's Billed column; the instance cannot be created, so nothing runs.
RDS_STATUS_BILLING: dict[str, RdsBilling] = {
    "available": "instance",
    "backing-up": "instance",
    "backtracking": "instance",
    "configuring-enhanced-monitoring": "instance",
    "configuring-iam-database-auth": "instance",
    "configuring-log-exports": "instance",
    "converting-to-vpc": "instance",
    "creating": "none",
    "deleting": "none",
    "failed": "none",
    "inaccessible-encryption-credentials": "none",
    "incompatible-network": "none",
    "incompatible-option-group": "instance",
    "incompatible-parameters": "instance",
    "incompatible-restore": "none",
    "insufficient-capacity": "none",
    "maintenance": "instance",
    "modifying": "instance",
    "moving-to-vpc": "instance",
    "rebooting": "instance",
    "resetting-master-credentials": "instance",
    "renaming": "instance",
    "restore-error": "instance",
    "starting": "storage",
    "stopped": "storage",
    "stopping": "storage",
    "storage-full": "instance",
    "storage-optimization": "instance",
    "upgrading": "instance",
}

#: Locxia's marker for a resource found gone (and the states in which it no longer exists).
GONE = frozenset({"deleted", "terminated"})


def rds_billing(state: str | None) -> RdsBilling:
    """What AWS bills for a DB instance in ``state`` (unknown statuses: the instance)."""
    if state is None:
        return "instance"
    if state in GONE:
        return "none"
    return RDS_STATUS_BILLING.get(state, "instance")


def rds_instance_billed(state: str | None) -> bool:
    """Whether DB instance hours are billed in ``state`` (not when stopped, nor after deletion)."""
    return rds_billing(state) == "instance"


def rds_storage_billed(state: str | None) -> bool:
    """Whether the provisioned storage of a DB instance is billed in ``state``."""
    return rds_billing(state) != "none"


def ec2_instance_billed(state: str | None) -> bool:
    """Whether EC2 instance usage is billed in ``state``: only while ``running``."""
    return state == "running"


def exists(state: str | None) -> bool:
    """Whether a resource in ``state`` still exists (anything is billed for it at all)."""
    return state not in GONE
