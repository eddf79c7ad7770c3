"""A weekday-aware robust baseline of a daily cost: what a day should have cost, and how far off.

The baseline of day ``D`` is built from the :data:`WINDOW_DAYS` days before it (``D`` itself
never counts) in three steps:

1. **Weekday offsets.** Per weekday, the median of its (four) days in the window, minus the
   median of the whole window: ``offset[w]``. Costs here are weekly (a batch instance up on
   weekdays, larger on Mondays): a Monday is compared with Mondays' level, never with Sundays'.
2. **De-seasonalised window.** Each day minus its weekday's offset. Its median is the level;
   its MAD (median absolute deviation) the spread — both ignore up to half the days, so last
   week's spike does not raise today's bar.
3. **Expected and score.** ``expected = level + offset[weekday(D)]`` (never below 0);
   ``score = (observed − expected) / scale`` with ``scale = 1.4826 × MAD`` (the factor makes
   the MAD estimate a standard deviation for normal noise), floored at :data:`RELATIVE_FLOOR`
   of ``expected`` and at :data:`MIN_SCALE_USD`: an always-on instance costs exactly the same
   every day (MAD 0), and without a floor one cent more would score infinity.

Why offsets and not "compare with the same weekday only": four same-weekday values give a
median but no usable MAD (one outlier among four moves it by half), so the spread comes from
all 28 de-seasonalised days while the level still follows the weekday. Why additive offsets
and not weekday *factors*: a weekday that costs 0 (an instance stopped on Sundays) has no
factor to divide by; an offset is just 0 − level.

Pure functions of their arguments (no clock, no database): tests drive them with series.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median

#: Days before ``D`` the baseline reads (four of each weekday).
WINDOW_DAYS = 28
#: Fewest days of history (within the window) a series needs to be judged: three of each weekday.
MIN_HISTORY_DAYS = 21
#: 1 / Φ⁻¹(3/4): MAD × this estimates the standard deviation of normal noise.
MAD_TO_SIGMA = 1.4826
#: The scale is at least this share of the expected cost (a flat cost has MAD 0).
RELATIVE_FLOOR = 0.05
#: ... and at least one cent, so a series at 0 USD keeps a finite score.
MIN_SCALE_USD = 0.01


@dataclass(frozen=True)
class Baseline:
    """What a day was expected to cost, and the spread a normal day shows around it."""

    expected: float
    scale: float
    level: float
    offset: float
    history_days: int

    def score(self, observed: float) -> float:
        """How many scales ``observed`` lies above ``expected`` (negative below)."""
        return (observed - self.expected) / self.scale


def window(day: date) -> list[date]:
    """The days the baseline of ``day`` reads, oldest first (``day`` excluded)."""
    return [day - timedelta(days=n) for n in range(WINDOW_DAYS, 0, -1)]


def weekday_baseline(
    history: Mapping[date, float], day: date, min_days: int = MIN_HISTORY_DAYS
) -> Baseline | None:
    """The baseline of ``day`` from ``history`` (day → cost; only the window is read).

    A day missing from ``history`` is missing, not 0: the caller fills the days it knows
    cost nothing. None when fewer than ``min_days`` days of the window are present.
    """
    days = [d for d in window(day) if d in history]
    if len(days) < max(min_days, 1):
        return None
    overall = median(history[d] for d in days)
    by_weekday: dict[int, list[float]] = {}
    for d in days:
        by_weekday.setdefault(d.weekday(), []).append(history[d])
    offsets = {w: median(values) - overall for w, values in by_weekday.items()}
    flat = [history[d] - offsets[d.weekday()] for d in days]
    level = median(flat)
    mad = median(abs(v - level) for v in flat)
    offset = offsets.get(day.weekday(), 0.0)
    expected = max(level + offset, 0.0)
    scale = max(MAD_TO_SIGMA * mad, RELATIVE_FLOOR * expected, MIN_SCALE_USD)
    return Baseline(expected, scale, level, offset, len(days))


@dataclass(frozen=True)
class Verdict:
    """A judged day: its baseline, score, and whether it is an anomaly."""

    observed: float
    baseline: Baseline
    score: float
    anomaly: bool


def judge(observed: float, baseline: Baseline, *, threshold: float, floor_usd: float) -> Verdict:
    """Whether ``observed`` is an anomaly: a rise of ``threshold`` scales and ``floor_usd`` or more.

    Only rises count (a cost anomaly is spend nobody expected; a drop is a saving). The floor
    is on the rise in USD, so a series of cents never alarms whatever its score.
    """
    score = baseline.score(observed)
    rise = observed - baseline.expected
    return Verdict(observed, baseline, score, score >= threshold and rise >= floor_usd)
