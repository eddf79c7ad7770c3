"""What AWS shows of a window's instances, and what is still missing (read role only)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from infra.errors import AwsError
from infra.settings import Settings


@dataclass(frozen=True)
class Seen:
    """Workers by Name with their EC2 state; the database's status and class (None: absent)."""

    workers: Mapping[str, str]
    db_status: str | None = None
    db_class: str | None = None


def observe(settings: Settings, workers: list[str], database: str | None) -> Seen:
    """Describe the window's instances with the read role (terminated ones are left out).

    Raises:
        AwsError: a describe failed.
    """
    from infra.aws import AwsClients, aws_errors

    aws = AwsClients(settings)
    states: dict[str, str] = {}
    if workers:
        ec2 = aws.client("ec2", role="read")
        with aws_errors("ec2", "DescribeInstances"):
            pages = ec2.get_paginator("describe_instances").paginate(
                Filters=[
                    {"Name": f"tag:{settings.tag_key}", "Values": [settings.tag_value]},
                    {"Name": "tag:Name", "Values": workers},
                ]
            )
            for page in pages:
                for res in page["Reservations"]:
                    for inst in res["Instances"]:
                        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                        state = inst["State"]["Name"]
                        if state != "terminated":
                            states[tags.get("Name", "")] = state
    if not database:
        return Seen(states)
    rds = aws.client("rds", role="read")
    try:
        with aws_errors("rds", "DescribeDBInstances"):
            found = rds.describe_db_instances(DBInstanceIdentifier=database)["DBInstances"]
    except AwsError as exc:
        if "NotFound" not in exc.code:
            raise
        found = []
    if not found:
        return Seen(states)
    return Seen(states, found[0].get("DBInstanceStatus"), found[0].get("DBInstanceClass"))


Observe = Callable[[Settings, list[str], str | None], Seen]


def raised_missing(seen: Seen, workers: list[str], database: str | None, cls: str | None) -> str:
    """What is not yet there for a raise ('' when everything is)."""
    waiting = [n for n in workers if seen.workers.get(n) != "running"]
    parts = [f"workers not running: {', '.join(waiting)}"] if waiting else []
    if database and (seen.db_status != "available" or seen.db_class != cls):
        parts.append(f"database {database} is {seen.db_status} as {seen.db_class}, wants {cls}")
    return "; ".join(parts)


def restored_missing(seen: Seen, workers: list[str], database: str | None, cls: str | None) -> str:
    """What is not yet back for a restore ('' when everything is)."""
    left = [n for n in workers if n in seen.workers]
    parts = [f"workers still there: {', '.join(left)}"] if left else []
    if database and cls and seen.db_class not in (None, cls):
        parts.append(f"database {database} is {seen.db_class}, was {cls}")
    return "; ".join(parts)
