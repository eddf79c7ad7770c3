"""Schedule windows: "weekdays 20:00–06:00 use db.r6g.2xlarge", "stop at night".

A window covers some minutes of the week in the instance's time zone. When ``start`` is after
``end`` the window wraps past midnight and belongs to the day it starts on (Friday 20:00 →
Saturday 06:00 is a Friday window). Windows of one instance may not overlap: which one wins
would otherwise be an accident of ordering.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from infra.errors import InputError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_KEYS = frozenset({"days", "start", "end", "instance_class", "state"})

WindowState = Literal["present", "stopped"]


def parse_days(text: str, where: str) -> frozenset[int]:
    """``"mon-fri"``, ``"sat,sun"``, ``"fri-mon"`` (wrapping) → weekday numbers (Monday = 0).

    Raises:
        InputError: an unknown day name or a malformed list.
    """
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise InputError(f"days {text!r}: expected e.g. mon-fri or sat,sun", where)
        a = DAYS.index(first)
        b = DAYS.index(last) if last else a
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return frozenset(days)


def parse_hhmm(text: Any, where: str, field: str) -> time:
    """``"20:00"`` → ``time(20, 0)``.

    Raises:
        InputError: not ``HH:MM`` on a 24-hour clock.
    """
    match = _HHMM.match(text) if isinstance(text, str) else None
    if match is None:
        raise InputError(f"{field} {text!r}: expected HH:MM (00:00–23:59)", where)
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class Window:
    """One validated schedule window and what it changes while it is open."""

    days: frozenset[int]
    start: time
    end: time
    instance_class: str | None = None
    state: WindowState | None = None
    label: str = ""

    @classmethod
    def parse(cls, raw: Any, where: str) -> Window:
        """Validate one JSON window (see the module docstring for the shape).

        Raises:
            InputError: a missing, unknown or malformed key.
        """
        if not isinstance(raw, Mapping):
            raise InputError(f"each window must be a JSON object, got {raw!r}", where)
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise InputError(f"unknown window key(s) {', '.join(unknown)}", where)
        start = parse_hhmm(raw.get("start"), where, "start")
        end = parse_hhmm(raw.get("end"), where, "end")
        if start == end:
            raise InputError(f"window {start:%H:%M}–{end:%H:%M} is empty", where)
        days_text = str(raw.get("days", "mon-sun"))
        state = raw.get("state")
        if state not in (None, "present", "stopped"):
            raise InputError(f"window state {state!r}: expected present or stopped", where)
        klass = raw.get("instance_class")
        if klass is None and state is None:
            raise InputError("a window must set instance_class or state", where)
        if klass is not None and not isinstance(klass, str):
            raise InputError(f"window instance_class {klass!r} must be a string", where)
        label = f"{days_text} {start:%H:%M}-{end:%H:%M}"
        return cls(parse_days(days_text, where), start, end, klass, state, label)

    def intervals(self) -> list[tuple[int, int]]:
        """Minutes of the week covered, as half-open intervals within ``[0, MINUTES_PER_WEEK)``."""
        s = self.start.hour * 60 + self.start.minute
        e = self.end.hour * 60 + self.end.minute
        out: list[tuple[int, int]] = []
        for day in sorted(self.days):
            lo = day * MINUTES_PER_DAY + s
            hi = day * MINUTES_PER_DAY + e + (MINUTES_PER_DAY if e < s else 0)
            if hi <= MINUTES_PER_WEEK:
                out.append((lo, hi))
            else:  # Sunday night into Monday morning
                out += [(lo, MINUTES_PER_WEEK), (0, hi - MINUTES_PER_WEEK)]
        return out

    def covers(self, local: datetime) -> bool:
        """True when the local wall-clock time ``local`` is inside this window."""
        minute = local.weekday() * MINUTES_PER_DAY + local.hour * 60 + local.minute
        return any(lo <= minute < hi for lo, hi in self.intervals())


def parse_schedule(raw: Any, where: str) -> tuple[Window, ...]:
    """Validate a whole schedule: a JSON array of windows that never overlap.

    Raises:
        InputError: a bad window, or two windows covering the same minute.
    """
    if raw is None:
        return ()
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise InputError(f"schedule must be a JSON array of windows, got {raw!r}", where)
    windows = tuple(Window.parse(item, where) for item in raw)
    for i, first in enumerate(windows):
        for second in windows[i + 1 :]:
            if _overlap(first, second):
                raise InputError(
                    f"windows {first.label!r} and {second.label!r} overlap"
                    " (which one applies would be ambiguous)",
                    where,
                )
    return windows


def _overlap(a: Window, b: Window) -> bool:
    return any(lo1 < hi2 and lo2 < hi1 for lo1, hi1 in a.intervals() for lo2, hi2 in b.intervals())


def zone(name: str, where: str) -> ZoneInfo:
    """The IANA time zone ``name``.

    Raises:
        InputError: unknown zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(f"unknown time zone {name!r} (e.g. Europe/Paris)", where) from exc


def open_window(windows: Sequence[Window], tz: ZoneInfo, now: datetime) -> Window | None:
    """The window open at ``now`` (aware), if any; windows never overlap, so at most one."""
    local = now.astimezone(tz)
    return next((w for w in windows if w.covers(local)), None)
