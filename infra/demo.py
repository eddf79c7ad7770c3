"""The embedded demo: the product on one machine, with nothing to sign up for.

Database: ``LOCXIA_DATABASE_URL`` when set, else a private PostgreSQL cluster started from
the machine's binaries in a data directory of the demo's own (left running between demos so
a second run is fast; ``locxia demo --stop`` stops it).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.db import connect
from infra.db.localcluster import LocalCluster, create_database
from infra.db.setup import upgrade_database
from infra.settings import Settings, default_data_dir, load_settings

DEMO_DB = "locxia_demo"


def demo_cluster_dir(settings: Settings) -> Path:
    """Data directory of the demo's own cluster (``LOCXIA_DEMO_DIR`` overrides it).

    As root the cluster runs as ``postgres``, which cannot enter ``/root``: it then lives in
    ``/var/tmp`` (kept across reboots, unlike ``/tmp``).
    """
    if settings.demo_dir is not None:
        return settings.demo_dir / "postgres"
    if os.geteuid() == 0:
        return Path("/var/tmp/locxia-demo/postgres")
    return default_data_dir() / "demo" / "postgres"


def demo_database_url(settings: Settings) -> tuple[str, bool]:
    """The demo's database URL, and whether the demo started its own cluster."""
    if settings.database_url:
        return settings.database_url, False
    cluster = LocalCluster(demo_cluster_dir(settings))
    server = cluster.ensure_running()
    create_database(server, DEMO_DB)
    return cluster.url(DEMO_DB), True


@dataclass
class DemoReport:
    """What the demo did, step by step (printed by the CLI, checked by tests)."""

    database_url: str = ""
    own_cluster: bool = False
    steps: list[tuple[str, str]] = field(default_factory=list)
    runs: list[tuple[Any, ...]] = field(default_factory=list)


def run_demo(
    settings: Settings,
    *,
    seconds: float = 4.0,
    say: Callable[[str], None] = lambda _: None,
) -> DemoReport:
    """Migrate, plan two demo jobs, run the service for ``seconds``, report what ran."""
    from infra.jobs import Registry
    from infra.service import Service

    report = DemoReport()
    url, own = demo_database_url(settings)
    report.database_url, report.own_cluster = url, own
    where = "its own local PostgreSQL" if own else "LOCXIA_DATABASE_URL"
    report.steps.append(("database", f"{where}: {url}"))
    say(report.steps[-1][1])
    settings = load_settings(database_url=url)
    with connect(url, application_name="locxia:demo") as conn:
        upgraded = upgrade_database(conn)
        report.steps.append(("migrate", f"{len(upgraded.applied)} migration(s) applied"))
        conn.execute(
            "INSERT INTO params.schedules (job, task, every_seconds, args, note) VALUES"
            " ('demo.heartbeat', 'core.noop', 1, '{}', 'demo: a heartbeat every second'),"
            " ('demo.chain', 'core.chain', 2,"
            '  \'{"steps": [{"task": "core.noop"}, {"task": "core.noop"}]}\','
            "  'demo: a two-step chain every two seconds')"
            " ON CONFLICT (job) DO NOTHING"
        )
        conn.commit()
    say(report.steps[-1][1])
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    started = _now(url)
    Service(settings, Registry.from_entry_points(), stop=stop).run()
    timer.cancel()
    with connect(url) as conn:
        report.runs = conn.execute(
            "SELECT job_id, status, count(*) FROM ops.runs WHERE started_at >= %s"
            " GROUP BY 1, 2 ORDER BY 1, 2",
            (started,),
        ).fetchall()
    total = sum(int(r[2]) for r in report.runs)
    report.steps.append(("serve", f"service ran {seconds:.0f}s: {total} run(s) recorded"))
    return report


def _now(url: str) -> Any:
    with connect(url) as conn:
        row = conn.execute("SELECT now()").fetchone()
        return row[0] if row else None


def stop_demo_cluster(settings: Settings) -> bool:
    """Stop the demo's own cluster if it runs; True when something was stopped."""
    cluster = LocalCluster(demo_cluster_dir(settings))
    if cluster.is_running():
        cluster.stop()
        return True
    return False
