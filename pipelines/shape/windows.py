"""Maintenance and backup windows of an instance, in AWS's own formats (UTC).

``maintenance_window`` is weekly, ``ddd:hh24:mi-ddd:hh24:mi`` (``sun:03:00-sun:04:00``); it is
passed to RDS and is also when Locxia applies a change that causes downtime (RDS class,
Multi-AZ, storage type; EC2 type — see :mod:`pipelines.shape.downtime`). ``backup_window`` is
daily, ``hh24:mi-hh24:mi``, RDS only. Rules, from the RDS API reference (ModifyDBInstance,
``PreferredMaintenanceWindow`` and ``PreferredBackupWindow``,
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBInstance.html):

* formats ``ddd:hh24:mi-ddd:hh24:mi`` (days ``mon | tue | wed | thu | fri | sat | sun``) and
  ``hh24:mi-hh24:mi``, in UTC;
* each at least 30 minutes;
* the two must not conflict (overlap).

A window whose end is before its start wraps (``sun:23:30-mon:00:30``, ``23:45-00:15``). The
database checks the same rules (migration 0059); both give one line naming the column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.errors import InputError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
MIN_MINUTES = 30  # RDS API reference: "Must be at least 30 minutes" (both windows)

_HHMM = r"([01][0-9]|2[0-3]):([0-5][0-9])"
_DAY = r"(mon|tue|wed|thu|fri|sat|sun)"
_WEEKLY = re.compile(rf"^{_DAY}:{_HHMM}-{_DAY}:{_HHMM}$")
_DAILY = re.compile(rf"^{_HHMM}-{_HHMM}$")


@dataclass(frozen=True)
class Span:
    """A window as minutes on a circle.

    ``start`` counts from Monday 00:00 UTC (from midnight for a daily window), ``length`` is in
    minutes, ``period`` is a week or a day.
    """

    text: str
    start: int
    length: int
    period: int

    def covers(self, now: datetime) -> bool:
        """True when the aware time ``now`` is inside the window."""
        return (_minute(now, self.period) - self.start) % self.period < self.length

    def next_open(self, now: datetime) -> datetime:
        """When the window next opens at or after ``now`` (``now`` itself when it is open)."""
        if self.covers(now):
            return now
        wait = (self.start - _minute(now, self.period)) % self.period
        floor = now.astimezone(UTC).replace(second=0, microsecond=0)
        return floor + timedelta(minutes=wait)

    def overlaps(self, other: Span) -> bool:
        """True when the two windows share a minute (a daily window repeats every day)."""
        week = MINUTES_PER_WEEK
        mine = _repeat(self)
        theirs = _repeat(other)
        return any((b - a) % week < la or (a - b) % week < lb for a, la in mine for b, lb in theirs)


def _repeat(span: Span) -> list[tuple[int, int]]:
    """The window's occurrences in one week, as (start, length)."""
    times = MINUTES_PER_WEEK // span.period
    return [(span.start + i * span.period, span.length) for i in range(times)]


def _minute(now: datetime, period: int) -> int:
    utc = now.astimezone(UTC)
    return (utc.weekday() * MINUTES_PER_DAY + utc.hour * 60 + utc.minute) % period


def parse_maintenance(value: Any, where: str) -> Span | None:
    """``"sun:03:00-sun:04:00"`` (case-insensitive; stored lowercase) → a weekly span.

    Raises:
        InputError: not the AWS format, or shorter than 30 minutes.
    """
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    match = _WEEKLY.match(text)
    if match is None:
        raise InputError(
            f"{value!r}: expected ddd:hh24:mi-ddd:hh24:mi in UTC (e.g. sun:03:00-sun:04:00)",
            where,
        )
    d1, h1, m1, d2, h2, m2 = match.groups()
    start = DAYS.index(d1) * MINUTES_PER_DAY + int(h1) * 60 + int(m1)
    end = DAYS.index(d2) * MINUTES_PER_DAY + int(h2) * 60 + int(m2)
    return _checked(Span(text, start, (end - start) % MINUTES_PER_WEEK, MINUTES_PER_WEEK), where)


def parse_backup(value: Any, where: str) -> Span | None:
    """``"01:00-01:30"`` → a daily span.

    Raises:
        InputError: not the AWS format, or shorter than 30 minutes.
    """
    if value is None or value == "":
        return None
    text = str(value).strip()
    match = _DAILY.match(text)
    if match is None:
        raise InputError(f"{value!r}: expected hh24:mi-hh24:mi in UTC (e.g. 01:00-01:30)", where)
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    return _checked(Span(text, start, (end - start) % MINUTES_PER_DAY, MINUTES_PER_DAY), where)


def _checked(span: Span, where: str) -> Span:
    if span.length < MIN_MINUTES:
        raise InputError(
            f"{span.text!r} lasts {span.length} min; AWS needs at least {MIN_MINUTES} min", where
        )
    return span


def check_apart(maintenance: Span | None, backup: Span | None, where: str) -> None:
    """The backup window must not overlap the maintenance window (RDS API reference).

    Raises:
        InputError: they overlap.
    """
    if maintenance is not None and backup is not None and maintenance.overlaps(backup):
        raise InputError(
            f"backup window {backup.text} overlaps maintenance window {maintenance.text}"
            " (AWS: they must not conflict)",
            where,
        )
