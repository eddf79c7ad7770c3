"""The Dask cluster partitioned work runs on: an existing scheduler, or an embedded local one.

``LOCXIA_DASK_SCHEDULER`` names any running scheduler (a Kubernetes dask-operator, EC2 workers
started by a capacity window, a laptop); unset, an embedded ``LocalCluster`` of
``LOCXIA_DASK_LOCAL_WORKERS`` worker *processes* on 127.0.0.1 serves for the duration of the
work, so the demo and the tests need nothing more. The product only submits tasks: Dask owns
their distribution, retries and the rescheduling of a lost worker's tasks (decision 84).

A named scheduler is reached over mutual TLS or not at all, unless it is on this host: the
feed's tasks carry the settings, the database URL and its password included (decision 87), in
their payloads. ``tls://`` (and ``wss://``) connect with ``LOCXIA_DASK_TLS_CA_FILE``,
``..._CERT_FILE`` and ``..._KEY_FILE`` and refuse to fall back to plain text; ``tcp://`` (or a
bare ``host:port``, Dask's default protocol) is allowed on a loopback address only, or anywhere
with ``LOCXIA_DASK_ALLOW_PLAINTEXT=true``, the operator's word that the network is private
(decision 96). The embedded cluster never leaves 127.0.0.1 and needs neither.

Worker processes, one thread each: refine's GEOS/PROJ work releases the GIL, but the Arrow and
numpy glue between the calls does not, and a process per core keeps one worker's memory its
own (what the benchmark measures per process).
"""

from __future__ import annotations

import importlib
import ipaddress
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from infra.errors import ClusterError
from infra.settings import Settings

CONNECT_TIMEOUT_S = 30
#: Dask's encrypted transports (``distributed.comm``: TLS over TCP, TLS over WebSocket).
ENCRYPTED = frozenset({"tls", "wss"})


def _distributed() -> Any:
    """``distributed``, imported on first use (a second to import; untyped for mypy)."""
    return importlib.import_module("distributed")


def _scheme_host(address: str) -> tuple[str, str]:
    """Dask's protocol (``tcp`` when the address has none, as Dask assumes) and the host."""
    scheme, sep, _ = address.partition("://")
    if not sep:
        scheme, address = "tcp", f"tcp://{address}"
    return scheme.lower(), (urlsplit(address).hostname or "")


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: not resolved here, so not known to stay on this host


def transport_problem(settings: Settings) -> str | None:
    """Why the named scheduler may not be used as configured, in one line; None if it may.

    Pure (no connection, no name resolution), so the reconcile checks a Dask worker row with
    it before Terraform renders the worker's user data, which refuses the same addresses.
    """
    address = settings.dask_scheduler
    if not address:
        return None
    scheme, host = _scheme_host(address)
    if scheme in ENCRYPTED:
        files = (settings.dask_tls_ca_file, settings.dask_tls_cert_file, settings.dask_tls_key_file)
        if None in files:  # all three or none once validated; model_copy() does not validate
            return (
                f"the Dask scheduler {address} needs mutual TLS: set LOCXIA_DASK_TLS_CA_FILE,"
                " LOCXIA_DASK_TLS_CERT_FILE and LOCXIA_DASK_TLS_KEY_FILE"
            )
        return None
    if _loopback(host) or settings.dask_allow_plaintext:
        return None
    return (
        f"refusing the plain-text Dask scheduler {address}: task payloads carry the database"
        " credentials; use tls:// with LOCXIA_DASK_TLS_* files, or set"
        " LOCXIA_DASK_ALLOW_PLAINTEXT=true on a private network"
    )


def _security(settings: Settings) -> Any:
    """``distributed.security.Security`` for an encrypted scheduler, else None."""
    scheme, _ = _scheme_host(settings.dask_scheduler or "")
    if scheme not in ENCRYPTED:
        return None
    security = importlib.import_module("distributed.security")
    return security.Security(
        tls_ca_file=str(settings.dask_tls_ca_file),
        tls_client_cert=str(settings.dask_tls_cert_file),
        tls_client_key=str(settings.dask_tls_key_file),
        require_encryption=True,
    )


@contextmanager
def client(settings: Settings, timeout_s: float | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` on the named scheduler, or on an embedded local cluster.

    The embedded cluster binds 127.0.0.1 only, has no dashboard, and is closed (its worker
    processes stopped) when the block ends, also on error. A named scheduler must pass
    :func:`transport_problem` first; an encrypted one is reached with the TLS files of the
    settings, its certificate checked against the CA (a TLS handshake that fails is retried
    by Dask until ``timeout_s``, :data:`CONNECT_TIMEOUT_S` by default, then reported as
    unreachable).

    Raises:
        ClusterError: the named scheduler is refused as configured, or cannot be reached.
    """
    dist = _distributed()
    Client, LocalCluster = dist.Client, dist.LocalCluster  # noqa: N806 (the library's names)

    if settings.dask_scheduler:
        problem = transport_problem(settings)
        if problem:
            raise ClusterError(problem)
        try:
            c = Client(
                settings.dask_scheduler,
                timeout=CONNECT_TIMEOUT_S if timeout_s is None else timeout_s,
                security=_security(settings),
            )
        except (OSError, TimeoutError, ValueError) as exc:
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise ClusterError(
                f"cannot reach the Dask scheduler {settings.dask_scheduler} ({reason});"
                " check LOCXIA_DASK_SCHEDULER (and LOCXIA_DASK_TLS_* for tls://) or unset it"
                " to use the embedded local cluster"
            ) from exc
        try:
            yield c
        finally:
            c.close()
        return
    try:
        cluster = LocalCluster(
            n_workers=settings.dask_local_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # its HTTP routes (health) on a free port
            silence_logs=40,  # logging.ERROR: a lost worker is Dask's to report, not the user's
        )
    except (RuntimeError, OSError, TimeoutError) as exc:
        raise ClusterError(
            f"cannot start the embedded Dask cluster ({' '.join(str(exc).split())[:200]})"
        ) from exc
    try:
        c = Client(cluster)
        try:
            yield c
        finally:
            c.close()
    finally:
        cluster.close()


def wait_for_workers(settings: Settings, n: int, timeout_s: float) -> int:
    """Wait until the named scheduler has at least ``n`` workers; return how many it has.

    With no scheduler named the embedded cluster starts its own workers with the work, so
    there is nothing to wait for (returns 0).

    Raises:
        ClusterError: the scheduler cannot be reached, or fewer than ``n`` workers joined
            within ``timeout_s``.
    """
    if not settings.dask_scheduler or n <= 0:
        return 0
    deadline = time.monotonic() + timeout_s
    with client(settings) as c:
        while True:
            count = len(c.scheduler_info(n_workers=-1).get("workers", {}))
            if count >= n:
                return count
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"only {count} of {n} Dask workers joined {settings.dask_scheduler}"
                    f" within {timeout_s:.0f} s"
                )
            time.sleep(min(2.0, max(deadline - time.monotonic(), 0.1)))
