"""The Dask cluster partitioned work runs on: local sockets only, a named scheduler waited for.

A ``tls://`` scheduler is a real one with mutual TLS on 127.0.0.1, joined by a ``dask worker``
process started with the flags the EC2 user data renders, and certificates made per module by
``tests.support.tls``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from infra.cluster import client, wait_for_workers
from infra.errors import ClusterError
from infra.settings import Settings
from tests.support.tls import Pki, make_pki

DASK = Path(sys.executable).parent / "dask"


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
        with client(settings, timeout_s=2):  # Dask retries a refused connection until then
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


# --- mutual TLS --------------------------------------------------------------------------------


def _tls(pki: Pki) -> dict[str, Path]:
    return {
        "dask_tls_ca_file": pki.ca,
        "dask_tls_cert_file": pki.cert,
        "dask_tls_key_file": pki.key,
    }


@pytest.fixture(scope="module")
def tls_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Pki]]:
    """A scheduler requiring mutual TLS on 127.0.0.1, and one ``dask worker`` process joined.

    The worker is started as the EC2 user data starts it (``--tls-ca-file``, ``--tls-cert``,
    ``--tls-key``), so the flags the module renders are the ones this Dask accepts.
    """
    from distributed import LocalCluster
    from distributed.security import Security

    folder = tmp_path_factory.mktemp("tls")
    pki = make_pki(folder / "pki")
    security = Security(
        tls_ca_file=str(pki.ca),
        tls_scheduler_cert=str(pki.cert),
        tls_scheduler_key=str(pki.key),
        tls_client_cert=str(pki.cert),
        tls_client_key=str(pki.key),
        require_encryption=True,
    )
    with LocalCluster(
        n_workers=0,
        processes=False,
        protocol="tls://",
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        security=security,
    ) as cluster:
        address = cluster.scheduler_address
        # as rendered by terraform/modules/dask_worker_user_data (plus loopback-only binding)
        log = (folder / "worker.log").open("w")
        worker = subprocess.Popen(
            [
                str(DASK),
                "worker",
                address,
                *"--nworkers 1 --nthreads 1 --name tls-worker".split(),
                *("--tls-ca-file", str(pki.ca), "--tls-cert", str(pki.cert)),
                *("--tls-key", str(pki.key)),
                *"--host 127.0.0.1 --no-dashboard --local-directory".split(),
                str(folder / "worker"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            yield address, pki
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            log.close()


@pytest.mark.slow
def test_a_tls_scheduler_is_joined_with_the_files_and_runs_a_task(
    tmp_path: Path, tls_scheduler: tuple[str, Pki]
) -> None:
    address, pki = tls_scheduler
    assert address.startswith("tls://127.0.0.1:")
    settings = _settings(tmp_path, dask_scheduler=address, **_tls(pki))
    assert wait_for_workers(settings, 1, 60) == 1
    with client(settings) as c:
        workers: dict[str, Any] = c.scheduler_info(n_workers=-1)["workers"]
        assert [w.split(":")[0] for w in workers] == ["tls"]  # the worker joined over TLS too
        assert c.submit(pow, 2, 10).result() == 1024
        assert c.run(os.getpid) and os.getpid() not in c.run(os.getpid).values()


@pytest.mark.slow
def test_a_tls_scheduler_with_another_ca_is_one_line(
    tmp_path: Path, tls_scheduler: tuple[str, Pki]
) -> None:
    """The scheduler's certificate does not chain to the CA given: refused, not downgraded."""
    address, pki = tls_scheduler
    stranger = make_pki(tmp_path / "other", label="another")
    settings = _settings(
        tmp_path, dask_scheduler=address, **{**_tls(pki), "dask_tls_ca_file": stranger.ca}
    )
    with pytest.raises(ClusterError, match=f"cannot reach the Dask scheduler {address}") as err:
        with client(settings, timeout_s=3):
            pass
    assert "TLS certificate does not match" in str(err.value)
    assert "\n" not in str(err.value) and "Traceback" not in str(err.value)


@pytest.mark.slow
def test_a_client_certificate_from_another_ca_is_refused_by_the_scheduler(
    tmp_path: Path, tls_scheduler: tuple[str, Pki]
) -> None:
    """Mutual TLS: the scheduler checks the client too; its refusal is one line here."""
    address, pki = tls_scheduler
    stranger = make_pki(tmp_path / "other", label="another")
    settings = _settings(
        tmp_path,
        dask_scheduler=address,
        **{**_tls(stranger), "dask_tls_ca_file": pki.ca},
    )
    with pytest.raises(ClusterError, match=f"cannot reach the Dask scheduler {address}") as err:
        with client(settings, timeout_s=3):
            pass
    assert "\n" not in str(err.value) and "Traceback" not in str(err.value)


def test_a_tls_scheduler_without_the_files_is_one_line(tmp_path: Path) -> None:
    settings = _settings(tmp_path, dask_scheduler=f"tls://127.0.0.1:{_free_port()}")
    with pytest.raises(ClusterError) as err:
        with client(settings):
            pass
    assert str(err.value) == (
        f"the Dask scheduler {settings.dask_scheduler} needs mutual TLS: set"
        " LOCXIA_DASK_TLS_CA_FILE, LOCXIA_DASK_TLS_CERT_FILE and LOCXIA_DASK_TLS_KEY_FILE"
    )


@pytest.mark.parametrize(
    "address", ["tcp://10.0.1.5:8786", "10.0.1.5:8786", "tcp://dask.internal:8786"]
)
def test_a_remote_plain_text_scheduler_is_refused_before_any_connection(
    tmp_path: Path, address: str
) -> None:
    with pytest.raises(ClusterError) as err:
        wait_for_workers(_settings(tmp_path, dask_scheduler=address), 1, 1)
    assert str(err.value).startswith(f"refusing the plain-text Dask scheduler {address}:")
    assert "task payloads carry the database credentials" in str(err.value)
    assert "LOCXIA_DASK_ALLOW_PLAINTEXT=true" in str(err.value)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
def test_a_loopback_plain_text_scheduler_is_tried(tmp_path: Path, host: str) -> None:
    """A laptop's scheduler needs no opt-in: the address is tried (nothing listens there)."""
    settings = _settings(tmp_path, dask_scheduler=f"{host}:{_free_port()}")
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler") as err:
        with client(settings, timeout_s=2):
            pass
    assert "\n" not in str(err.value)
