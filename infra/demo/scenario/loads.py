"""Load shapes of the scenario's resources: how busy one is at a given time, deterministically.

A shape is a share of the resource's peak (0–1) from the local hour and weekday in Paris,
where the team works: ``batch`` peaks at night (20:00–06:00, when layers are refined),
``web`` follows the audience through the day, ``office`` follows office hours on weekdays,
``idle`` stays at the floor. Noise is seeded by resource, metric and timestamp, so the same
hour always gets the same value, whatever day the demo runs and in whatever order.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from infra.demo.scenario.estate import Profile

LOCAL = ZoneInfo("Europe/Paris")
IDLE_LEVEL = 0.01
SEED = 20_24


def _ramp(value: float, start: float, end: float) -> float:
    """0 before ``start``, 1 after ``end``, smooth in between (smoothstep)."""
    if value <= start:
        return 0.0
    if value >= end:
        return 1.0
    x = (value - start) / (end - start)
    return x * x * (3 - 2 * x)


def busy(profile: Profile, at: datetime) -> float:
    """Share of peak load (0–1) for ``profile`` at ``at`` (an aware datetime).

    Raises:
        ValueError: ``at`` is naive (a local hour needs a time zone).
    """
    if at.tzinfo is None:
        raise ValueError("busy() needs an aware datetime")
    local = at.astimezone(LOCAL)
    hour = local.hour + local.minute / 60
    weekend = local.weekday() >= 5
    if profile == "idle":
        return IDLE_LEVEL
    if profile == "batch":
        # Up from 19:00 to 20:00, down from 06:00 to 07:00; office use by day on weekdays.
        night = max(_ramp(hour, 19, 20), 1 - _ramp(hour, 6, 7))
        day = 0.12 if weekend else 0.30
        return day + (0.88 - day) * night
    if profile == "web":
        # The audience wakes at 07:00 and sleeps at 23:00, peaking early afternoon.
        audience = max(0.0, math.sin(math.pi * (hour - 7) / 16)) if 7 <= hour <= 23 else 0.0
        return (0.10 + 0.65 * audience) * (0.7 if weekend else 1.0)
    if weekend:  # office
        return 0.05
    return 0.05 + 0.55 * _ramp(hour, 8, 9) * (1 - _ramp(hour, 18, 19))


def noise(key: str, at: datetime, seed: int = SEED) -> float:
    """A value in [-1, 1], the same for the same ``key``, time and seed."""
    stamp = at.astimezone(UTC).isoformat()
    return random.Random(f"{seed}|{key}|{stamp}").uniform(-1.0, 1.0)
