"""The Dask cluster partitioned work runs on: local sockets only, a named scheduler waited for."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psutil
import pytest

from infra.cluster import client, wait_for_workers
from infra.errors import ClusterError
from infra.settings import Settings


def _settings(tmp_path: Path, **changes: object) -> Settings:
    return Settings(layers_tmp_dir=tmp_path, **changes)  # type: ignore[arg-type]


def _listening(pids: set[int]) -> list[tuple[int, str, int]]:
    return [
        (c.pid, c.laddr.ip, c.laddr.port)
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in pids
    ]


@pytest.mark.slow
def test_the_embedded_cluster_listens_on_loopback_only(tmp_path: Path) -> None:
    """Scheduler, nannies and workers: every listening socket is on 127.0.0.1, none on 8787."""
    with client(_settings(tmp_path, dask_local_workers=2)) as c:
        workers = c.run(os.getpid)
        assert len(workers) == 2
        pids = {os.getpid(), *workers.values()}
        pids |= {p.pid for p in psutil.Process().children(recursive=True)}
        sockets = _listening(pids)
        assert len(sockets) >= 5  # scheduler + its HTTP routes + 2 × (worker, nanny)...
        assert {ip for _, ip, _ in sockets} == {"127.0.0.1"}, sockets
        assert 8787 not in {port for _, _, port in sockets}  # never a fixed, shared port
        assert c.submit(sum, [1, 2, 3]).result() == 6
    assert not any(psutil.pid_exists(p) for p in workers.values())  # gone with the block


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_scheduler_is_one_line(tmp_path: Path) -> None:
    settings = _settings(tmp_path, dask_scheduler=f"tcp://127.0.0.1:{_free_port()}")
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler") as err:
        with client(settings):
            pass
    assert "\n" not in str(err.value)


def test_without_a_named_scheduler_there_is_nothing_to_wait_for(tmp_path: Path) -> None:
    assert wait_for_workers(_settings(tmp_path), 4, 0.1) == 0


@pytest.mark.slow
def test_a_named_scheduler_is_waited_for_then_refused_in_one_line(tmp_path: Path) -> None:
    """A scheduler with 1 worker satisfies 1 and, within the timeout, refuses 2."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        settings = _settings(tmp_path, dask_scheduler=cluster.scheduler_address)
        assert wait_for_workers(settings, 1, 10) == 1
        with pytest.raises(ClusterError, match="only 1 of 2 Dask workers joined") as err:
            wait_for_workers(settings, 2, 1.5)
        assert "\n" not in str(err.value)
