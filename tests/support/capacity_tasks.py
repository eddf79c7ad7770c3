"""Tasks run inside capacity windows by the tests: they look at what AWS has while they run."""

from __future__ import annotations

from typing import Any

from infra.errors import JobError
from infra.jobs import Plugin, Task, TaskContext


def _running_workers(ctx: TaskContext) -> list[str]:
    ec2 = ctx.aws().client("ec2", role="read")
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": ["running"]}]
    )
    names = [
        {t["Key"]: t["Value"] for t in inst.get("Tags", [])}.get("Name", "")
        for page in pages
        for res in page["Reservations"]
        for inst in res["Instances"]
    ]
    return sorted(n for n in names if n.startswith("cap"))


def look(ctx: TaskContext, sleep_seconds: float = 0.0) -> dict[str, Any]:
    """Record the Dask worker instances running now (then sleep, for kill tests)."""
    import time

    ctx.details["workers_seen"] = _running_workers(ctx)
    time.sleep(sleep_seconds)
    return {"workers_seen": ctx.details["workers_seen"]}


def fail(ctx: TaskContext) -> None:
    """Look, then fail as a layer would."""
    ctx.details["workers_seen"] = _running_workers(ctx)
    raise JobError("partition 3 of 8 failed: invalid geometry")


plugin = Plugin(
    name="captest",
    tasks=(
        Task("captest.look", "tests.support.capacity_tasks:look", "see the workers"),
        Task("captest.fail", "tests.support.capacity_tasks:fail", "see the workers, fail"),
    ),
)
