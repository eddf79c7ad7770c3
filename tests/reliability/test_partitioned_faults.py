"""A Dask worker killed with SIGKILL in the middle of a partitioned refine.

The embedded cluster's nanny starts a new worker process and Dask runs the lost worker's
partitions again; their part files have deterministic names and the manifest lists what the
task results name, so the version holds every row of the layer exactly once.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from infra.db import connect
from infra.settings import Settings
from pipelines.feed import partitioned, partset
from pipelines.feed.geoparquet import FID
from pipelines.feed.ingest import ingest
from pipelines.feed.refine import refine
from pipelines.feed.zones import FileZone, zone
from tests.reliability.conftest import Outcome
from tests.support import formats, geodata

pytestmark = pytest.mark.slow

FEATURES = 60_000
PARTITION_ROWS = 10_000  # six partitions: work left for the cluster after the first
GROUP = "Dask worker killed"


def _kill_a_busy_worker(killed: list[int]) -> Any:
    """The driver's hook: once a partition is done, SIGKILL a worker that is running one."""

    def hook(client: Any, index: int) -> None:
        if killed:
            return
        busy = [addr for addr, keys in client.processing().items() if keys]
        if not busy:
            return  # nothing running right now: try again after the next partition
        pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    return hook


def test_worker_killed_mid_run_loses_and_duplicates_no_row(
    db_url: str,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    outcome: Outcome,
) -> None:
    table = geodata.layer_table(FEATURES, seed=31, invalid_share=0.02)
    path, layer = formats.gpkg_multi(table, tmp_path)
    killed: list[int] = []
    monkeypatch.setattr(partitioned, "on_partition_done", _kill_a_busy_worker(killed))
    on_dask = settings.model_copy(
        update={"dask_min_rows": 0, "dask_partition_rows": PARTITION_ROWS, "dask_local_workers": 2}
    )
    alone = settings.model_copy(update={"dask_min_rows": 10**12})
    with connect(db_url) as conn:
        ingest(conn, on_dask, "killed", str(path), layer)
        version = refine(conn, on_dask, "killed").version
        ingest(conn, alone, "alone", str(path), layer)
        reference = refine(conn, alone, "alone").version
    assert killed, "no worker was busy when a partition finished"
    working = zone(settings, "working")
    assert isinstance(working, FileZone)
    data = pads.dataset(working.root / version.key, format="parquet", partitioning="hive")
    fids = data.to_table(columns=[FID]).column(FID).to_numpy()
    expected = pq.read_table(working.root / reference.key, columns=[FID]).column(FID).to_numpy()
    duplicated = len(fids) - len(np.unique(fids))
    lost = len(np.setdiff1d(expected, fids))
    manifest = partset.read_manifest(working, version.key)
    outcome(
        tries=1,
        survived=int(duplicated == 0 and lost == 0),
        lost=lost,
        duplicated=duplicated,
        group=GROUP,
        case=f"refine: {FEATURES:,} features, {FEATURES // PARTITION_ROWS} partitions",
        note=f"{len(np.unique(fids)):,} rows in the version; worker pid {killed[0]} killed"
        " after the first partition, Dask ran its work again",
    )
    assert duplicated == 0 and lost == 0
    assert len(fids) == len(expected) == manifest.rows == version.rows
    assert set(fids.tolist()) == set(expected.tolist())
    assert (version.quality or {})["rows_out"] == (reference.quality or {})["rows_out"]
