from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infra.demo.scenario.loads import IDLE_LEVEL, busy, noise

# 2026-11-24 is a Tuesday; 2026-11-28 a Saturday. Paris is UTC+1 in November.
TUESDAY_3AM = datetime(2026, 11, 24, 2, tzinfo=UTC)
TUESDAY_11AM = datetime(2026, 11, 24, 10, tzinfo=UTC)
TUESDAY_2PM = datetime(2026, 11, 24, 13, tzinfo=UTC)
SATURDAY_11AM = datetime(2026, 11, 28, 10, tzinfo=UTC)


def test_batch_peaks_at_night() -> None:
    assert busy("batch", TUESDAY_3AM) > 0.8 > 0.4 > busy("batch", TUESDAY_11AM)


def test_web_follows_the_audience() -> None:
    assert busy("web", TUESDAY_2PM) > 0.6 > 0.2 > busy("web", TUESDAY_3AM)
    assert busy("web", SATURDAY_11AM) < busy("web", TUESDAY_11AM)


def test_office_works_on_weekdays() -> None:
    assert busy("office", TUESDAY_11AM) > 0.5 > 0.1 > busy("office", SATURDAY_11AM)
    assert busy("office", TUESDAY_3AM) < 0.1


def test_idle_stays_at_the_floor_all_week() -> None:
    hours = [TUESDAY_3AM + timedelta(hours=h) for h in range(168)]
    assert {busy("idle", t) for t in hours} == {IDLE_LEVEL}


def test_every_shape_stays_within_zero_and_one() -> None:
    hours = [TUESDAY_3AM + timedelta(minutes=30 * i) for i in range(336)]
    for profile in ("batch", "web", "office", "idle"):
        values = [busy(profile, t) for t in hours]  # type: ignore[arg-type]
        assert 0.0 <= min(values) and max(values) <= 1.0, profile


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        busy("web", datetime(2026, 11, 24, 10))


def test_noise_is_deterministic_bounded_and_keyed() -> None:
    values = [noise("work-db/CPUUtilization", TUESDAY_3AM + timedelta(hours=h)) for h in range(200)]
    assert values == [
        noise("work-db/CPUUtilization", TUESDAY_3AM + timedelta(hours=h)) for h in range(200)
    ]
    assert all(-1.0 <= v <= 1.0 for v in values)
    assert len(set(values)) > 190
    assert noise("a", TUESDAY_3AM) != noise("b", TUESDAY_3AM)
    paris = TUESDAY_3AM.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert noise("a", paris) == noise("a", TUESDAY_3AM)  # the instant, not its time zone
