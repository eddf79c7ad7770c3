"""Tasks the dashboard tests run through the real Runner, to record failures and durations."""

from __future__ import annotations

from typing import Any

from infra.errors import JobError
from infra.jobs import Plugin, Task, TaskContext


def boom(ctx: TaskContext) -> dict[str, Any]:
    ctx.details["checked"] = "/data"
    raise JobError("disk full on /data")


plugin = Plugin(
    name="dash",
    tasks=(Task("dash.boom", "tests.support.tasks:boom", "always fails"),),
)
