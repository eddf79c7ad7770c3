"""The one definition of billed states, status by status as AWS documents it."""

from __future__ import annotations

import pytest

from infra.billing import (
    RDS_STATUS_BILLING,
    ec2_instance_billed,
    rds_billing,
    rds_instance_billed,
    rds_storage_billed,
)

# Every row of the RDS User Guide's table, "Viewing Amazon RDS DB instance status"
# (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.DBInstance.Status.html),
# with its "Billed" column as written there: "Billed" = instance and storage, "Billed for
# storage" = storage only, "Not billed" = nothing. insufficient-capacity has an empty cell (the
# instance cannot be created): nothing runs, nothing is billed.
DOCUMENTED = {
    "available": "Billed",
    "backing-up": "Billed",
    "backtracking": "Billed",
    "configuring-enhanced-monitoring": "Billed",
    "configuring-iam-database-auth": "Billed",
    "configuring-log-exports": "Billed",
    "converting-to-vpc": "Billed",
    "creating": "Not billed",
    "deleting": "Not billed",
    "failed": "Not billed",
    "inaccessible-encryption-credentials": "Not billed",
    "incompatible-network": "Not billed",
    "incompatible-option-group": "Billed",
    "incompatible-parameters": "Billed",
    "incompatible-restore": "Not billed",
    "insufficient-capacity": "",
    "maintenance": "Billed",
    "modifying": "Billed",
    "moving-to-vpc": "Billed",
    "rebooting": "Billed",
    "resetting-master-credentials": "Billed",
    "renaming": "Billed",
    "restore-error": "Billed",
    "starting": "Billed for storage",
    "stopped": "Billed for storage",
    "stopping": "Billed for storage",
    "storage-full": "Billed",
    "storage-optimization": "Billed",
    "upgrading": "Billed",
}


@pytest.mark.parametrize(("status", "column"), sorted(DOCUMENTED.items()), ids=str)
def test_every_documented_rds_status(status: str, column: str) -> None:
    assert rds_instance_billed(status) is (column == "Billed")
    assert rds_storage_billed(status) is (column in ("Billed", "Billed for storage"))


def test_the_table_in_code_is_the_documented_table() -> None:
    assert set(RDS_STATUS_BILLING) == set(DOCUMENTED)


@pytest.mark.parametrize("status", ["storage-config-upgrade", "a-status-aws-adds-later", None])
def test_an_rds_status_missing_from_the_table_is_billed(status: str | None) -> None:
    assert rds_instance_billed(status)


@pytest.mark.parametrize("status", ["deleted", "terminated"])
def test_nothing_is_billed_after_deletion(status: str) -> None:
    assert rds_billing(status) == "none"
    assert not ec2_instance_billed(status)


# "Amazon EC2 instance state changes", Billing by instance state
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html).
@pytest.mark.parametrize(
    ("state", "billed"),
    [
        ("pending", False),
        ("running", True),
        ("stopping", False),
        ("stopped", False),
        ("shutting-down", False),
        ("terminated", False),
    ],
    ids=str,
)
def test_ec2_instance_usage_is_billed_only_while_running(state: str, billed: bool) -> None:
    assert ec2_instance_billed(state) is billed
