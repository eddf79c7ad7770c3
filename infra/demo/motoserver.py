"""moto's server as the demo's "AWS": a child process on 127.0.0.1, reached only over HTTP.

Production code never imports moto: the demo runs moto's ``moto_server`` executable (from the
``demo`` extra) as a separate process and points ``LOCXIA_AWS_ENDPOINT_URL``-style settings at
it, so the demo exercises exactly the path real AWS takes (AwsClients → botocore → HTTP).

No stray process, whatever happens to the demo:

* the server runs in a session of its own, so Ctrl-C in the terminal reaches only the demo,
  which then stops the server itself (SIGTERM, then SIGKILL after a grace period);
* on Linux the kernel sends it SIGTERM when the thread that started it dies
  (``PR_SET_PDEATHSIG``), which covers a demo killed by SIGKILL or crashing in C code. Start it
  from a thread that lives as long as the demo (the main thread).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from infra.db.localcluster import free_port
from infra.errors import DemoError

EXECUTABLE = "moto_server"
INSTALL_HINT = (
    "the demo needs moto's server as its stand-in AWS: install the demo extra "
    "(pip install 'locxia-orchestrator[demo]', or `make bootstrap` in a checkout)"
)
HOST = "127.0.0.1"
START_ATTEMPTS = 3  # a free port can be taken between our probe and the server's bind
STOP_GRACE_S = 10.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def find_moto_server(search_dirs: list[Path] | None = None) -> Path:
    """Path of the ``moto_server`` executable.

    Looks next to the running Python first (a virtualenv's ``bin``, which need not be on
    ``PATH`` when ``.venv/bin/locxia`` is run directly), then on ``PATH``.

    Args:
        search_dirs: look only in these directories (tests).

    Raises:
        DemoError: moto's server is not installed, with what to install.
    """
    if search_dirs is not None:
        found = shutil.which(EXECUTABLE, path=os.pathsep.join(str(d) for d in search_dirs))
    else:
        found = shutil.which(EXECUTABLE, path=str(Path(sys.executable).parent)) or shutil.which(
            EXECUTABLE
        )
    if not found:
        raise DemoError(INSTALL_HINT)
    return Path(found)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel for SIGTERM when the parent dies (Linux); elsewhere do nothing."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class MotoServer:
    """One ``moto_server`` process; :meth:`start` then :meth:`stop` (or use :func:`running`).

    Attributes:
        log_path: where the server's output goes (read back when it fails to start).
        executable: the ``moto_server`` to run (default: :func:`find_moto_server`).
    """

    log_path: Path
    executable: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    port: int = field(default=0, init=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the server, or None when it is not running."""
        return self.process.pid if self.process is not None else None

    def start(self, timeout_s: float = 60.0) -> str:
        """Start the server on a free port of 127.0.0.1; return its endpoint once it answers.

        Raises:
            DemoError: moto is not installed, or the server did not come up.
        """
        executable = self.executable or find_moto_server()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        deadline = time.monotonic() + timeout_s
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            self.process = self._spawn(executable)
            if self._wait_ready(deadline):
                return self.endpoint
            if self.process.poll() is None:  # alive but silent past the deadline
                break
        self.stop()
        raise DemoError(f"moto's server did not start on {HOST}: {self._last_log_line()}")

    def _spawn(self, executable: Path) -> subprocess.Popen[bytes]:
        # Passing the environment through (plus one moto switch) is not configuration: moto
        # reads MOTO_* itself. No preloaded AMIs: they cost seconds and the demo needs none.
        env = {**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
        return subprocess.Popen(
            [str(executable), "-H", HOST, "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def _wait_ready(self, deadline: float) -> bool:
        """Poll the server until it answers, exits (port taken), or the deadline passes."""
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2) as resp:
                    resp.read()
                    return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        return False

    def _last_log_line(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return lines[-1] if lines else "no output"

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a grace period); idempotent."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> MotoServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the server's process group (its own session), falling back to the process."""
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        try:
            process.send_signal(signum)
        except ProcessLookupError:
            pass


@contextmanager
def running(log_path: Path, executable: Path | None = None) -> Iterator[MotoServer]:
    """A started :class:`MotoServer`, stopped when the block ends however it ends."""
    server = MotoServer(log_path, executable)
    try:
        server.start()
        yield server
    finally:
        server.stop()
