"""The demo's database: ``LOCXIA_DATABASE_URL`` when set, else a private cluster of its own.

The private cluster is started from the machine's PostgreSQL binaries in a data directory of
the demo's own and left running between demos, so a second run is fast; ``locxia demo
--stop`` stops it. It is the one process the demo deliberately leaves behind.
"""

from __future__ import annotations

import os
from pathlib import Path

from infra.db.localcluster import LocalCluster, create_database
from infra.settings import Settings, default_data_dir

DEMO_DB = "locxia_demo"


def demo_home(settings: Settings) -> Path:
    """The demo's own directory (``LOCXIA_DEMO_DIR`` overrides it): cluster, logs, report.

    As root the cluster runs as ``postgres``, which cannot enter ``/root``: it then lives in
    ``/var/tmp`` (kept across reboots, unlike ``/tmp``).
    """
    if settings.demo_dir is not None:
        return settings.demo_dir
    if os.geteuid() == 0:
        return Path("/var/tmp/locxia-demo")
    return default_data_dir() / "demo"


def demo_cluster_dir(settings: Settings) -> Path:
    """Data directory of the demo's own PostgreSQL cluster."""
    return demo_home(settings) / "postgres"


def demo_database_url(settings: Settings) -> tuple[str, bool]:
    """The demo's database URL, and whether the demo started its own cluster."""
    if settings.database_url:
        return settings.database_url, False
    cluster = LocalCluster(demo_cluster_dir(settings))
    server = cluster.ensure_running()
    create_database(server, DEMO_DB)
    return cluster.url(DEMO_DB), True


def stop_demo_cluster(settings: Settings) -> bool:
    """Stop the demo's own cluster if it runs; True when something was stopped."""
    cluster = LocalCluster(demo_cluster_dir(settings))
    if cluster.is_running():
        cluster.stop()
        return True
    return False
