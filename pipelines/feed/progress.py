"""Progress of long layer work, reported to whoever listens (the CLI draws a Rich bar).

Tasks run the same way from the scheduler and from the CLI; only the CLI wants a bar. So the
reporter is not an argument of the task but a context variable the CLI sets around the run,
and the default reporter does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal, Protocol

#: What a step counts: bytes (downloads, checksums) or rows (refine, load).
Unit = Literal["bytes", "rows"]


class Reporter(Protocol):
    """Receives progress: a step starts (with a total when known), advances, ends."""

    def start(self, label: str, total: float | None, unit: Unit = "bytes") -> None:
        """A new step; ``total`` in ``unit``, ``None`` if unknown."""
        ...

    def advance(self, amount: float) -> None:
        """``amount`` more units are done."""
        ...

    def finish(self) -> None:
        """The step is over."""
        ...


class Silent:
    """The reporter used when nobody listens."""

    def start(self, label: str, total: float | None, unit: Unit = "bytes") -> None:
        """Ignore."""

    def advance(self, amount: float) -> None:
        """Ignore."""

    def finish(self) -> None:
        """Ignore."""


_SILENT = Silent()
REPORTER: ContextVar[Reporter | None] = ContextVar("REPORTER", default=None)


def reporter() -> Reporter:
    """The reporter of the current context (a silent one when nobody listens)."""
    return REPORTER.get() or _SILENT


@contextmanager
def step(label: str, total: float | None, unit: Unit = "bytes") -> Iterator[Reporter]:
    """Report one step of ``total`` ``unit``; the reporter is yielded to advance it."""
    rep = reporter()
    rep.start(label, total, unit)
    try:
        yield rep
    finally:
        rep.finish()


@contextmanager
def listening(rep: Reporter) -> Iterator[None]:
    """Send progress of everything run inside the block to ``rep``."""
    token = REPORTER.set(rep)
    try:
        yield
    finally:
        REPORTER.reset(token)
