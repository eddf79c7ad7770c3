"""A fleet in moto shaped like the acceptance scenario, with the datapoints it should yield.

20 RDS + 20 EC2 (5 of them ``task=ingestion``, root volumes tagged too) + 20 S3 buckets carry
``project=locxia``; 5 untagged look-alikes (named like Locxia, wrong tag value, an untagged
volume attached to a tagged instance) must be reported and never collected. Every metric of
the default policies gets 3 datapoints, one per period, inside the first collect window;
``expected`` is computed from what was seeded, independently of the collector.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

REGION = "eu-west-3"
TAG = {"Key": "project", "Value": "locxia"}
RDS_METRICS = [
    "CPUUtilization",
    "FreeStorageSpace",
    "SwapUsage",
    "ReadIOPS",
    "WriteIOPS",
    "DatabaseConnections",
]
EC2_METRICS = ["CPUUtilization", "NetworkIn", "NetworkOut", "EBSReadOps", "EBSWriteOps"]
S3_METRICS = [("BucketSizeBytes", "StandardStorage"), ("NumberOfObjects", "AllStorageTypes")]
POINTS = 3

#: (resource id, metric, stat, period, ts) -> value
Expected = dict[tuple[str, str, str, int, datetime], float]


def client(endpoint: str, service: str, region: str = REGION) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=endpoint)


def rds_instance(rds: Any, ident: str, tags: list[dict[str, str]] | None = None) -> str:
    """A small PostgreSQL instance (moto makes it available at once)."""
    rds.create_db_instance(
        DBInstanceIdentifier=ident,
        DBInstanceClass="db.t4g.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="locxia",
        MasterUserPassword="not-a-secret-1",
        **({"Tags": tags} if tags else {}),
    )
    return ident


def ec2_instance(
    ec2: Any, tags: list[dict[str, str]], volume_tags: list[dict[str, str]] | None = None
) -> str:
    """A t3.micro with these tags (its root volume tagged with ``volume_tags`` if given)."""
    specs = [{"ResourceType": "instance", "Tags": tags}]
    if volume_tags:
        specs.append({"ResourceType": "volume", "Tags": volume_tags})
    out = ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=specs,
    )
    return str(out["Instances"][0]["InstanceId"])


def align(ts: datetime, period: int) -> datetime:
    epoch = int(ts.timestamp())
    return datetime.fromtimestamp(epoch - epoch % period, UTC)


@dataclass
class Fleet:
    endpoint: str
    now: datetime
    rds: list[str] = field(default_factory=list)
    ec2: list[str] = field(default_factory=list)
    ingestion: list[str] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)
    untagged: dict[str, str] = field(default_factory=dict)  # resource id -> expected reason
    points: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)

    def expected(self, rds_stats: list[str], ec2_stats: list[str]) -> Expected:
        """Datapoints one collect of the seeded metrics must store, by natural key."""
        out: Expected = {}
        for namespace, data in self.points:
            for item in data:
                rid = item["Dimensions"][0]["Value"]
                if rid in self.untagged:
                    continue
                if namespace == "AWS/RDS":
                    stats, period = rds_stats, 300
                elif namespace == "AWS/EC2":
                    stats, period = ec2_stats, 60 if rid in self.ingestion else 300
                else:
                    stats, period = ["Average"], 86400
                for stat in stats:
                    value = 1.0 if stat == "SampleCount" else item["Value"]
                    ts = align(item["Timestamp"], period)
                    out[(rid, item["MetricName"], stat, period, ts)] = value
        return out


def build(endpoint: str, now: datetime) -> Fleet:
    """Create the resources and put the metrics; returns what was made."""
    fleet = Fleet(endpoint, now)
    ec2, rds, s3 = client(endpoint, "ec2"), client(endpoint, "rds"), client(endpoint, "s3")
    for i in range(20):
        tags = [TAG] + ([{"Key": "task", "Value": "ingestion"}] if i < 5 else [])
        iid = ec2_instance(ec2, tags, volume_tags=[TAG])
        fleet.ec2.append(iid)
        if i < 5:
            fleet.ingestion.append(iid)
        ident = rds_instance(rds, f"db-{i:02d}", [TAG])
        fleet.rds.append(ident)
        bucket = f"data-{i:02d}-bucket"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [TAG]})
        fleet.buckets.append(bucket)
    _untagged(fleet, ec2, rds, s3)
    _seed_metrics(fleet)
    return fleet


def _untagged(fleet: Fleet, ec2: Any, rds: Any, s3: Any) -> None:
    named = ec2_instance(ec2, [{"Key": "Name", "Value": "locxia-scratch"}])
    fleet.untagged[named] = "named like"
    wrong = ec2_instance(ec2, [{"Key": "project", "Value": "other"}])
    fleet.untagged[wrong] = "tag project='other'"
    vol = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=50, VolumeType="gp3")["VolumeId"]
    ec2.attach_volume(VolumeId=vol, InstanceId=fleet.ec2[0], Device="/dev/sdf")
    fleet.untagged[vol] = "attached to a tagged instance"
    rds_instance(rds, "locxia-legacy")
    fleet.untagged["locxia-legacy"] = "named like"
    s3.create_bucket(
        Bucket="locxia-untagged-logs", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    fleet.untagged["locxia-untagged-logs"] = "named like"


def _seed_metrics(fleet: Fleet) -> None:
    """3 points per metric: RDS/EC2 every 5 minutes before now, S3 on the 3 previous days."""
    end5 = align(fleet.now, 300)
    day = align(fleet.now, 86400)
    rds_ids = fleet.rds + ["locxia-legacy"]
    ec2_ids = fleet.ec2 + [i for i in fleet.untagged if i.startswith("i-")]
    for n, ident in enumerate(rds_ids):
        fleet.points.append(
            (
                "AWS/RDS",
                list(
                    _series(
                        "DBInstanceIdentifier",
                        ident,
                        RDS_METRICS,
                        n,
                        [end5 - timedelta(minutes=5 * k) for k in range(1, POINTS + 1)],
                    )
                ),
            )
        )
    for n, ident in enumerate(ec2_ids):
        fleet.points.append(
            (
                "AWS/EC2",
                list(
                    _series(
                        "InstanceId",
                        ident,
                        EC2_METRICS,
                        n,
                        [end5 - timedelta(minutes=5 * k) for k in range(1, POINTS + 1)],
                    )
                ),
            )
        )
    for n, bucket in enumerate(fleet.buckets + ["locxia-untagged-logs"]):
        data = [
            {
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "BucketName", "Value": bucket},
                    {"Name": "StorageType", "Value": storage},
                ],
                "Timestamp": day - timedelta(days=k),
                "Value": float(1_000_000 * (n + 1) + 100 * m + k),
            }
            for m, (metric, storage) in enumerate(S3_METRICS)
            for k in range(1, POINTS + 1)
        ]
        fleet.points.append(("AWS/S3", data))
    cw = client(fleet.endpoint, "cloudwatch")
    for namespace, data in fleet.points:
        for chunk in range(0, len(data), 500):
            cw.put_metric_data(Namespace=namespace, MetricData=data[chunk : chunk + 500])


def _series(
    dim: str, ident: str, metrics: list[str], n: int, stamps: list[datetime]
) -> Iterator[dict[str, Any]]:
    for m, metric in enumerate(metrics):
        for k, ts in enumerate(stamps):
            yield {
                "MetricName": metric,
                "Dimensions": [{"Name": dim, "Value": ident}],
                "Timestamp": ts,
                "Value": float(100 * n + 10 * m + k + 1),
            }


def seed_cost_explorer(endpoint: str, results: list[dict[str, Any]]) -> None:
    """Queue canned GetCostAndUsage responses in moto (one per distinct request, in order)."""
    req = urllib.request.Request(
        f"{endpoint}/moto-api/static/ce/cost-and-usage-results",
        data=json.dumps({"results": results}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()
