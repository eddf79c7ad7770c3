"""The weekday-aware baseline and the verdict, on series built in code (no database, no clock)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest

from infra.settings import Settings
from pipelines.observe.costs.anomalies import NOT_ESTIMATED, Series, find, service_drivers
from pipelines.observe.costs.baseline import (
    MIN_HISTORY_DAYS,
    RELATIVE_FLOOR,
    judge,
    weekday_baseline,
    window,
)
from tests.support.cost_history import generate

DAY = date(2026, 3, 9)  # a Monday


def _series(level: Callable[[date], float], days: int = 28) -> dict[date, float]:
    return {DAY - timedelta(days=n): level(DAY - timedelta(days=n)) for n in range(1, days + 1)}


def _weekly(d: date) -> float:
    """10 USD on weekdays, 30 on Mondays, 0 at weekends (an instance stopped then)."""
    return 0.0 if d.weekday() >= 5 else (30.0 if d.weekday() == 0 else 10.0)


def test_the_window_is_the_28_days_before_the_day() -> None:
    days = window(DAY)
    assert len(days) == 28 and days[0] == DAY - timedelta(days=28) and days[-1] < DAY


def test_a_monday_is_expected_at_mondays_level_and_a_sunday_at_zero() -> None:
    history = _series(_weekly)
    monday = weekday_baseline(history, DAY)
    sunday = weekday_baseline(history, DAY - timedelta(days=1) + timedelta(days=7))
    assert monday is not None and monday.expected == pytest.approx(30.0)
    assert sunday is not None and sunday.expected == pytest.approx(0.0)
    # A usual Monday is no anomaly; a plain weekday median (10 USD) would score it sky-high.
    assert not judge(30.0, monday, threshold=5, floor_usd=1).anomaly


def test_a_flat_cost_has_a_scale_floor_instead_of_mad_zero() -> None:
    base = weekday_baseline(_series(lambda _: 20.0), DAY)
    assert base is not None
    assert base.scale == pytest.approx(RELATIVE_FLOOR * 20.0)
    assert not judge(20.5, base, threshold=5, floor_usd=0.1).anomaly  # +2.5 %
    assert judge(40.0, base, threshold=5, floor_usd=1).score == pytest.approx(20.0)


def test_one_past_spike_does_not_raise_the_bar() -> None:
    history = _series(lambda _: 20.0)
    history[DAY - timedelta(days=3)] = 200.0
    base = weekday_baseline(history, DAY)
    assert base is not None and base.expected == pytest.approx(20.0)
    assert judge(40.0, base, threshold=5, floor_usd=1).anomaly


@pytest.mark.parametrize(
    ("observed", "floor", "anomaly"),
    [(40.0, 1.0, True), (40.0, 25.0, False), (10.0, 0.0, False), (20.9, 0.0, False)],
    ids=["doubled", "under-the-floor", "a-drop", "within-noise"],
)
def test_only_rises_over_the_score_and_the_floor_count(
    observed: float, floor: float, anomaly: bool
) -> None:
    base = weekday_baseline(_series(lambda _: 20.0), DAY)
    assert base is not None
    assert judge(observed, base, threshold=5, floor_usd=floor).anomaly is anomaly


def test_too_short_a_history_is_not_judged() -> None:
    assert weekday_baseline(_series(lambda _: 5.0, MIN_HISTORY_DAYS - 1), DAY) is None
    assert weekday_baseline(_series(lambda _: 5.0, MIN_HISTORY_DAYS), DAY) is not None


def _flat(scope: str, key: str, service: str, usd: float, today: float) -> Series:
    costs = _series(lambda _: usd)
    costs[DAY] = today
    return Series(scope, key, service, "estimates", costs, 1 if scope == "resource" else None)


def test_drivers_rank_resources_by_rise_and_name_what_estimates_miss() -> None:
    resources = [
        _flat("resource", "db", "svc", 10.0, 10.0),
        _flat("resource", "big", "svc", 5.0, 25.0),
        _flat("resource", "small", "svc", 1.0, 3.0),
    ]
    drivers = service_drivers(DAY, 30.0, resources)
    assert [d["key"] for d in drivers] == ["big", NOT_ESTIMATED, "small"]
    assert [d["delta"] for d in drivers] == pytest.approx([20.0, 8.0, 2.0])
    assert drivers[0]["share"] == pytest.approx(20 / 30, abs=1e-4)


def test_find_ranks_services_first_then_by_rise_and_skips_incomplete_ce_days() -> None:
    services = [_flat("service", "A", "A", 10.0, 30.0), _flat("service", "B", "B", 10.0, 60.0)]
    resources = [_flat("resource", "r", "B", 8.0, 58.0)]
    found, short = find(
        services, resources, [DAY], threshold=5, floor_usd=1, service_until=DAY + timedelta(1)
    )
    assert short == 0
    assert [(a.series.scope, a.series.key) for a in found] == [
        ("service", "B"),
        ("service", "A"),
        ("resource", "r"),
    ]
    assert found[0].drivers[0]["key"] == "r"
    incomplete, _ = find(services, resources, [DAY], threshold=5, floor_usd=1, service_until=DAY)
    assert [a.series.key for a in incomplete] == ["r"]


def _false_positives(seed: int, threshold: float, floor: float) -> int:
    """Anomalies judged over 90 clean days of the seeded history (every series)."""
    first = date(2026, 6, 1)
    history = generate(first, first + timedelta(days=117), seed=seed)
    count = 0
    for series in [*history.resources.values(), *history.services.values()]:
        for n in range(28, 118):
            day = first + timedelta(days=n)
            base = weekday_baseline(series, day)
            assert base is not None
            count += judge(series[day], base, threshold=threshold, floor_usd=floor).anomaly
    return count


def test_clean_histories_of_20_seeds_stay_quiet_at_the_defaults() -> None:
    """At most one false positive in 90 days for every seed; the floor's part measured too."""
    score = Settings.model_fields["anomaly_score"].default
    floor = Settings.model_fields["anomaly_floor_usd"].default
    defaults = [_false_positives(s, score, floor) for s in range(1, 21)]
    unfloored = [_false_positives(s, score, 0.0) for s in range(1, 21)]
    print(
        f"\nclean, 20 seeds × 900 series-days: defaults {sum(defaults)} false positive(s)"
        f" (max {max(defaults)} per seed); without the USD floor {sum(unfloored)}"
        f" (max {max(unfloored)})"
    )
    assert max(defaults) <= 1
