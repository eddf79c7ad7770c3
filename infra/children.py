"""Child processes a stop must interrupt, once, with their own graceful stop.

A feature that runs work in a child process it started in a session of its own (so a Ctrl-C
at a terminal, sent to the whole foreground process group, does not reach it behind the
parent's back) registers it here for as long as it runs. When ``locxia serve`` is asked to
stop, :func:`interrupt_all` sends each registered child exactly one SIGINT — for the
Terraform core, its graceful stop: resource operations in flight finish, the state is
written, the command exits non-zero. Never a second one (for Terraform, a second interrupt
means "exit immediately", with possible data loss), and never SIGKILL: a child still running
when the parent gives up waiting finishes on its own, since it is not in the parent's session.

While a stop is under way (:func:`stopping`), features start no new child; the service
clears the flag once it has stopped (:func:`reset`), so a process that serves again, or runs
in-process tests after a stop, starts children normally.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

_lock = threading.Lock()
_live: dict[int, subprocess.Popen[Any]] = {}
_interrupted: set[int] = set()
_stopping = False


@contextmanager
def interruptible(proc: subprocess.Popen[Any]) -> Iterator[None]:
    """Register ``proc`` while the block runs; interrupted at once if a stop is under way."""
    with _lock:
        _live[proc.pid] = proc
        late = _stopping
    if late:
        _interrupt(proc)
    try:
        yield
    finally:
        with _lock:
            _live.pop(proc.pid, None)
            _interrupted.discard(proc.pid)


def _interrupt(proc: subprocess.Popen[Any]) -> bool:
    with _lock:
        if proc.pid in _interrupted or proc.poll() is not None:
            return False
        _interrupted.add(proc.pid)
    try:
        proc.send_signal(signal.SIGINT)
    except ProcessLookupError:  # ended between poll() and the signal
        return False
    log.info("asked child process %d to stop (SIGINT, its graceful stop)", proc.pid)
    return True


def interrupt_all() -> int:
    """Start a stop: SIGINT once to every registered child; returns how many were signalled."""
    global _stopping
    with _lock:
        _stopping = True
        live = list(_live.values())
    return sum(_interrupt(proc) for proc in live)


def stopping() -> bool:
    """True between :func:`interrupt_all` and :func:`reset`: start no new child."""
    with _lock:
        return _stopping


def reset() -> None:
    """The stop is over (the service has stopped): children may be started again."""
    global _stopping
    with _lock:
        _stopping = False
