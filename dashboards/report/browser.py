"""Open the report in headless Chromium: full-page screenshot, and the console errors it logged.

Chromium (Debian's ``chromium``) is driven over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: commands on fd 3, replies on fd 4, NUL-terminated JSON), so
nothing listens on a port and no WebSocket library is needed. Errors are what DevTools
reports: ``console.error``/``console.assert`` calls, uncaught exceptions, and log entries of
level ``error`` (failed loads, Content-Security-Policy violations).

Chromium runs with a fresh profile directory, without network services, in a session of its
own; it is closed through the protocol, then its process group is killed if it lingers.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.errors import ReportError

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "headless Chromium is needed: install Debian's `chromium` (scripts/bootstrap.sh)"
WIDTH = 1200


def find_chromium() -> str:
    """The Chromium executable on ``PATH``.

    Raises:
        ReportError: no Chromium is installed.
    """
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise ReportError(INSTALL_HINT)


@dataclass
class Rendered:
    """What Chromium saw: errors in the console, and the page as PNG (if asked for)."""

    errors: list[str] = field(default_factory=list)
    screenshot: bytes | None = None
    height: int = 0


class _Pipe:
    """The DevTools protocol over two pipes: send a command, wait for its reply, keep events."""

    def __init__(self, write_fd: int, read_fd: int, deadline: float) -> None:
        self._write, self._read, self._deadline = write_fd, read_fd, deadline
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise ReportError(f"Chromium refused {method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, session: str) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method and event.get("sessionId") == session:
                return event
        while True:
            event = self._receive()
            self.events.append(event)
            if event.get("method") == method and event.get("sessionId") == session:
                return event

    def drain(self, quiet_s: float) -> None:
        """Collect events until none arrives for ``quiet_s`` seconds."""
        while True:
            ready, _, _ = select.select([self._read], [], [], quiet_s)
            if not ready:
                return
            self.events.append(self._receive())

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise ReportError("Chromium did not answer in time")
            ready, _, _ = select.select([self._read], [], [], left)
            if ready:
                chunk = os.read(self._read, 1 << 16)
                if not chunk:
                    raise ReportError("Chromium closed the DevTools pipe (did it crash?)")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(message)
        return parsed


def _errors(events: list[dict[str, Any]], session: str) -> list[str]:
    out = []
    for event in events:
        if event.get("sessionId") != session:
            continue
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = params.get("args", [])
            out.append(
                "console: " + " ".join(str(a.get("value", a.get("description"))) for a in args)
            )
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            description = details.get("exception", {}).get("description") or details.get("text")
            out.append(f"exception: {description}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            out.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
    return out


def render(page: Path, *, screenshot: bool = True, timeout_s: float = 90.0) -> Rendered:
    """Open ``page`` in headless Chromium; return its console errors and a full-page PNG.

    Raises:
        ReportError: Chromium is missing, crashed, or did not load the page in time.
    """
    executable = find_chromium()
    url = page.resolve().as_uri()
    profile = tempfile.mkdtemp(prefix="locxia-chromium-")
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    log = Path(profile) / "chromium.log"

    def plumb() -> None:  # pragma: no cover - runs in the child between fork and exec
        # Copy both ends above 10 first (fds 3 and 4 may be either pipe end already), then
        # onto 3 and 4, inheritable. Everything else Python opened is close-on-exec (PEP 446),
        # which is why close_fds stays off: pass_fds would need 3 and 4 open in the parent.
        read_end = fcntl.fcntl(to_child_r, fcntl.F_DUPFD_CLOEXEC, 10)
        write_end = fcntl.fcntl(from_child_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.dup2(read_end, 3, inheritable=True)
        os.dup2(write_end, 4, inheritable=True)

    with log.open("wb") as log_fh:
        process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},900"],
            stdin=subprocess.DEVNULL,
            stdout=log_fh,
            stderr=subprocess.STDOUT,
            close_fds=False,
            preexec_fn=plumb,
            start_new_session=True,
        )
    os.close(to_child_r)
    os.close(from_child_w)
    pipe = _Pipe(to_child_w, from_child_r, time.monotonic() + timeout_s)
    try:
        return _drive(pipe, url, screenshot)
    except ReportError as exc:
        raise ReportError(f"{exc} ({_last_line(log)})") from exc
    finally:
        _close(pipe, process)
        os.close(to_child_w)
        os.close(from_child_r)
        shutil.rmtree(profile, ignore_errors=True)


def _drive(pipe: _Pipe, url: str, screenshot: bool) -> Rendered:
    target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log"):
        pipe.send(f"{domain}.enable", session=session)
    pipe.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        session,
    )
    pipe.send("Page.navigate", {"url": url}, session)
    pipe.wait_event("Page.loadEventFired", session)
    pipe.drain(0.5)  # late console messages and load errors
    out = Rendered(errors=_errors(pipe.events, session))
    metrics = pipe.send("Page.getLayoutMetrics", session=session)
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    out.height = int(size["height"])
    if screenshot:
        shot = pipe.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": WIDTH, "height": out.height, "scale": 1},
            },
            session,
        )
        out.screenshot = base64.b64decode(shot["data"])
    return out


def _close(pipe: _Pipe, process: subprocess.Popen[bytes]) -> None:
    try:
        pipe.send("Browser.close")
    except (ReportError, OSError):
        pass
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def _last_line(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no Chromium output"
    return lines[-1][:200] if lines else "no Chromium output"
