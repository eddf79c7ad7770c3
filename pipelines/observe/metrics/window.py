"""The time window of one fetch: from the oldest watermark minus the lookback, to now.

Both ends are aligned to the period (``floor(t / period) * period`` in UTC epoch seconds), so
every datapoint stands for one whole period and re-reading a window lands on the same keys.
The end excludes the period in progress: its aggregate is still moving, and the next run's
lookback reads it once complete. The start is capped by CloudWatch's retention for the
period, so a collector that was down for months asks only for what still exists.

The window is shared by every query of a policy run: GetMetricData bills per metric
requested, not per datapoint, so reading a series a little further back than it needs costs
nothing, while splitting queries into several windows would cost extra calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# CloudWatch keeps: < 60 s periods 3 h, 60 s 15 days, 300 s 63 days, >= 3600 s 455 days.
_RETENTION = ((60, timedelta(hours=3)), (300, timedelta(days=15)), (3600, timedelta(days=63)))
_LONG_RETENTION = timedelta(days=455)


def align_down(ts: datetime, period: int) -> datetime:
    """The start of the period containing ``ts`` (UTC)."""
    epoch = int(ts.timestamp())
    return datetime.fromtimestamp(epoch - epoch % period, UTC)


def retention(period: int) -> timedelta:
    """How far back CloudWatch still has datapoints of ``period`` seconds."""
    for below, kept in _RETENTION:
        if period < below:
            return kept
    return _LONG_RETENTION


@dataclass(frozen=True)
class Window:
    """``[start, end)`` aligned to ``period``."""

    start: datetime
    end: datetime
    period: int

    @property
    def periods(self) -> int:
        """How many periods the window spans."""
        return int((self.end - self.start).total_seconds()) // self.period


def window_for(
    watermarks: Iterable[datetime | None],
    *,
    period: int,
    lookback: int,
    backfill: int,
    now: datetime,
    since: datetime | None = None,
) -> Window | None:
    """The window to fetch for series with these watermarks; None when nothing is due.

    Args:
        watermarks: one per series; None for a series never fetched (reads ``backfill``).
        period: seconds per datapoint.
        lookback: seconds re-read before each watermark (late datapoints).
        backfill: seconds read for a series never fetched.
        now: the injected clock.
        since: an explicit start (``collect --since``), overriding the watermarks.
    """
    end = align_down(now, period)
    if since is not None:
        start = since
    else:
        starts = [
            (w - timedelta(seconds=lookback)) if w else end - timedelta(seconds=backfill)
            for w in watermarks
        ]
        if not starts:
            return None
        start = min(starts)
    start = align_down(max(start, end - retention(period)), period)
    if start >= end:
        return None
    return Window(start, end, period)


_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: datetime) -> datetime:
    """``--since``: a duration back from now (``30m``, ``6h``, ``2d``, ``1w``) or an ISO time.

    ISO times without a zone are UTC (``2026-11-20``, ``2026-11-20T06:00``).

    Raises:
        InputError: unreadable, or in the future.
    """
    from infra.errors import InputError

    raw = text.strip()
    if raw[:-1].isdigit() and raw[-1:] in _UNITS:
        amount = int(raw[:-1])
        if amount <= 0:
            raise InputError(f"--since {text!r}: the duration must be positive")
        return now - timedelta(seconds=amount * _UNITS[raw[-1]])
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(
            f"--since {text!r}: expected a duration (30m, 6h, 2d, 1w) or an ISO time"
            " (2026-11-20T06:00Z)"
        ) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when >= now:
        raise InputError(f"--since {text!r} is not in the past")
    return when
