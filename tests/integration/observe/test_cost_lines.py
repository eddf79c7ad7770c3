"""Discovery reads what turns cost lines on, and the estimate prices each line (moto server).

moto's DescribeInstances has no ``PlatformDetails``; the gap server in front of it completes
the answer as AWS describes a Linux AMI's instance (``Linux/UNIX``). The first test replaces
the field in the parsed answer through botocore's ``after-call`` event, as a Windows instance
would describe itself; an instance without the field at all is a unit test (left unpriced,
never priced as Linux).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3

from infra.aws import AwsClients
from infra.db import connect
from infra.prices import HOURS_PER_MONTH, PriceCatalog
from infra.settings import Settings
from pipelines.observe.costs.estimates import hourly_cost
from pipelines.observe.metrics.discovery import discover
from pipelines.observe.metrics.resources import Resource

NOW = datetime(2026, 12, 6, 10, tzinfo=UTC)
TAGS = [{"Key": "project", "Value": "locxia"}]


def _estate(endpoint: str) -> str:
    kw: dict[str, Any] = {"endpoint_url": endpoint, "region_name": "eu-west-3",
                          "aws_access_key_id": "x", "aws_secret_access_key": "x"}  # fmt: skip
    ec2 = boto3.client("ec2", **kw)
    reply = ec2.run_instances(
        ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="m6i.large",
        Monitoring={"Enabled": True},
        TagSpecifications=[{"ResourceType": "instance", "Tags": TAGS}],
    )  # fmt: skip
    boto3.client("rds", **kw).create_db_instance(
        DBInstanceIdentifier="old-db", DBInstanceClass="db.r6g.xlarge", Engine="postgres",
        EngineVersion="13.4", AllocatedStorage=200, StorageType="io1", Iops=3000,
        EnableCloudwatchLogsExports=["postgresql", "upgrade"], MasterUsername="locxia",
        MasterUserPassword="not-a-secret-1", Tags=TAGS,
    )  # fmt: skip
    return str(reply["Instances"][0]["InstanceId"])


def _windows(parsed: dict[str, Any], **_: Any) -> None:
    for reservation in parsed.get("Reservations", []):
        for inst in reservation.get("Instances", []):
            inst["PlatformDetails"] = "Windows"


def _resources(settings: Settings, platform_details: bool) -> dict[str, Resource]:
    clients = AwsClients(settings)
    if platform_details:
        clients.session("read").events.register("after-call.ec2.DescribeInstances", _windows)
    with connect(settings.require_database_url()) as conn:
        discover(settings, clients, conn, NOW)
        conn.commit()
        rows = conn.execute(
            "SELECT id, arn, type, resource_id, name, region, tags, state, attributes"
            " FROM metrics.resources WHERE tagged AND type IN ('ec2:instance', 'rds:db')"
        ).fetchall()
    return {row[2]: Resource(*row) for row in rows}


def test_discovered_lines_are_priced_from_the_catalog(aws_settings: Settings) -> None:
    _estate(str(aws_settings.aws_endpoint_url))
    found = _resources(aws_settings, platform_details=True)
    vm, db = found["ec2:instance"], found["rds:db"]
    assert vm.attributes["monitoring"] == "enabled" and vm.attributes["platform"] == "Windows"
    assert db.attributes["iops"] == 3000 and db.attributes["engine_version"] == "13.4"
    assert db.attributes["log_exports"] == ["postgresql", "upgrade"]

    with connect(aws_settings.require_database_url()) as conn:
        catalog = PriceCatalog.load(conn, "eu-west-3")

    def price(service: Any, item: str, variant: str = "") -> Decimal:
        row = catalog.get(service, item, variant)
        assert row is not None
        return row.usd

    vm_cost = hourly_cost(vm, catalog, None, NOW)
    lines = {line.name: line.usd for line in vm_cost.lines}
    # Windows variant, and CloudWatch pricing's 7 detailed-monitoring metrics per instance
    assert lines["compute"] == price("ec2", "m6i.large", "windows")
    assert float(lines["detailed-monitoring"]) == float(
        7 * price("cloudwatch", "metric") / HOURS_PER_MONTH
    )

    db_cost = hourly_cost(db, catalog, None, NOW)
    lines = {line.name: line.usd for line in db_cost.lines}
    assert float(lines["iops"]) == float(3000 * price("rds-iops", "io1", "postgres") / 730)
    assert float(lines["storage"]) == float(200 * price("rds-storage", "io1", "postgres") / 730)
    # PostgreSQL 13 left standard support on 2026-02-28: db.r6g.xlarge has 4 vCPUs
    assert lines["extended-support"] == 4 * price("rds-extended-support", "yr1-yr2", "postgres")
    assert lines["log-ingestion"] == 0
    assert db_cost.priced and "declared: log exports postgresql,upgrade" in db_cost.basis
    assert float(db_cost.usd) == float(sum(lines.values()))


def test_instance_described_as_linux_is_priced_as_linux(aws_settings: Settings) -> None:
    _estate(str(aws_settings.aws_endpoint_url))
    vm = _resources(aws_settings, platform_details=False)["ec2:instance"]
    assert vm.attributes["platform"] == "Linux/UNIX"
    with connect(aws_settings.require_database_url()) as conn:
        catalog = PriceCatalog.load(conn, "eu-west-3")
        cost = hourly_cost(vm, catalog, None, NOW)
    linux = catalog.get("ec2", "m6i.large", "linux")
    assert linux is not None and cost.priced
    assert {line.name: line.usd for line in cost.lines}["compute"] == linux.usd
