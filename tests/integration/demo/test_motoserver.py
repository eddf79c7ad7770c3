"""moto's server as a child process: answers on 127.0.0.1, and never outlives the demo."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from infra.demo.motoserver import MotoServer, running

pytestmark = pytest.mark.slow


def _gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_the_server_answers_on_loopback_and_stops(tmp_path: Path) -> None:
    with running(tmp_path / "moto.log") as server:
        pid = server.pid
        assert pid is not None and server.endpoint.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{server.endpoint}/moto-api/data.json", timeout=10) as r:
            assert r.status == 200
        listening = {c.laddr.ip for c in psutil.Process(pid).net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN}  # fmt: skip
        assert listening == {"127.0.0.1"}
    assert _gone(pid)
    assert server.pid is None
    server.stop()  # idempotent


def test_two_servers_get_two_ports(tmp_path: Path) -> None:
    with running(tmp_path / "a.log") as a, running(tmp_path / "b.log") as b:
        assert a.port != b.port


CHILD = """
import sys, time
from pathlib import Path
from infra.demo.motoserver import MotoServer
server = MotoServer(Path(sys.argv[1]))
server.start()
print(server.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_the_server_dies_with_the_process_that_started_it(tmp_path: Path, signum: int) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "moto.log")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert psutil.Process(pid).is_running()
        parent.send_signal(signum)  # no chance to clean up (SIGTERM: Python's default dies)
        parent.wait(30)
        assert _gone(pid), f"moto server {pid} outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_a_server_that_cannot_start_is_reported_with_its_output(tmp_path: Path) -> None:
    broken = tmp_path / "moto_server"
    broken.write_text("#!/bin/sh\necho 'boom: cannot bind' >&2\nexit 3\n")
    broken.chmod(0o755)
    server = MotoServer(tmp_path / "moto.log", broken)
    from infra.errors import DemoError

    with pytest.raises(DemoError, match="did not start on 127.0.0.1: boom: cannot bind"):
        server.start(timeout_s=20)
    assert server.pid is None
