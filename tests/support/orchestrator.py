"""A database seeded with real orchestrator records: runs through the Runner, a leading
service with its heartbeat and re-plans, audited parameter changes (no hand-written rows)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from infra.db import connect
from infra.jobs import Registry
from infra.jobs.runner import Runner
from infra.service import Service
from infra.settings import Settings
from tests.support.tasks import plugin

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 30.0) -> T:
    """Poll ``predicate`` every 50 ms until it returns something true, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


def _count(url: str, sql: str) -> int:
    with connect(url) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


@dataclass
class Seeded:
    url: str
    service: Service


@contextmanager
def seeded_database(settings: Settings, db_url: str) -> Iterator[Seeded]:
    """Seed ``db_url``; the service keeps leading (and beating) until the block ends."""
    registry = Registry.from_entry_points(extra=[plugin])
    runner = Runner(settings, registry)
    try:
        runner.run("core.noop")
        runner.run("core.noop", {"sleep_seconds": 0.05}, job_id="core.noop.slow")
        runner.run("dash.boom")
        runner.run(
            "core.chain",
            {"steps": [{"task": "core.noop"}, {"task": "dash.boom"}]},
            job_id="nightly",
        )
    finally:
        runner.close()

    quiet = settings.model_copy(update={"replan_seconds": 3600, "leader_poll_seconds": 0.2})
    service = Service(quiet, registry)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: service.state.role == "leader")
        with connect(db_url) as conn:
            conn.execute("SET locxia.actor = 'alice'")
            conn.execute(
                "INSERT INTO params.schedules (job, task, every_seconds, note)"
                " VALUES ('dash.tick', 'core.noop', 1, 'heartbeat')"
            )
            conn.commit()
            conn.execute("SET locxia.actor = 'bob'")
            conn.execute(
                "UPDATE params.schedules SET note = 'every second' WHERE job = 'dash.tick'"
            )
            conn.commit()
        wait_for(
            lambda: (
                _count(
                    db_url,
                    "SELECT count(*) FROM ops.runs"
                    " WHERE job_id = 'dash.tick' AND status = 'success'",
                )
                >= 1
            )
        )
        wait_for(
            lambda: _count(db_url, "SELECT count(*) FROM ops.runs WHERE task = 'service.plan'") >= 2
        )
        yield Seeded(db_url, service)
    finally:
        service.stop.set()
        thread.join(15)
    assert not thread.is_alive(), "service did not stop within 15 s"
