"""Schedule windows: effective class/state at a given time, wrap-around, overlaps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infra.errors import InputError
from pipelines.shape.model import InstanceSpec, effective
from pipelines.shape.schedule import parse_days, parse_schedule

NIGHT = {"days": "mon-fri", "start": "20:00", "end": "06:00", "instance_class": "db.r6g.2xlarge"}


def _spec(**extra: object) -> InstanceSpec:
    return InstanceSpec.parse(
        {
            "name": "work-db",
            "kind": "rds",
            "instance_class": "db.t4g.large",
            "storage_gb": 100,
            "engine": "postgres",
            "engine_version": "16",
            "schedule": [NIGHT],
            **extra,
        }
    )


@pytest.mark.parametrize(
    ("utc", "klass"),
    [
        (datetime(2026, 11, 25, 11, 0, tzinfo=UTC), "db.t4g.large"),  # Wed 12:00 Paris
        (datetime(2026, 11, 25, 19, 30, tzinfo=UTC), "db.r6g.2xlarge"),  # Wed 20:30 Paris
        (datetime(2026, 11, 26, 4, 30, tzinfo=UTC), "db.r6g.2xlarge"),  # Thu 05:30 (Wed's window)
        (datetime(2026, 11, 28, 4, 30, tzinfo=UTC), "db.r6g.2xlarge"),  # Sat 05:30 (Fri's window)
        (datetime(2026, 11, 29, 4, 30, tzinfo=UTC), "db.t4g.large"),  # Sun 05:30
        (datetime(2026, 11, 24, 5, 0, tzinfo=UTC), "db.t4g.large"),  # Tue 06:00: end excluded
        (datetime(2026, 7, 1, 18, 0, tzinfo=UTC), "db.r6g.2xlarge"),  # summer time: 20:00 Paris
    ],
    ids=[
        "weekday-noon",
        "weekday-evening",
        "after-midnight",
        "friday-night",
        "sunday",
        "end",
        "dst",
    ],
)
def test_windows_apply_in_the_instance_time_zone(utc: datetime, klass: str) -> None:
    assert effective(_spec(), utc).instance_class == klass


def test_stop_at_night_and_absent_wins() -> None:
    spec = _spec(
        schedule=[{"days": "mon-sun", "start": "22:00", "end": "07:00", "state": "stopped"}]
    )
    night = datetime(2026, 11, 25, 23, 0, tzinfo=UTC)
    assert effective(spec, night).state == "stopped"
    assert effective(_spec(state="absent", schedule=spec.raw_schedule), night).state == "absent"


def test_days() -> None:
    assert parse_days("mon-fri", "w") == {0, 1, 2, 3, 4}
    assert parse_days("fri-mon", "w") == {4, 5, 6, 0}
    assert parse_days("sat,sun", "w") == {5, 6}
    with pytest.raises(InputError, match="expected e.g. mon-fri"):
        parse_days("weekdays", "w")


def test_sunday_night_into_monday_overlaps_monday_morning() -> None:
    with pytest.raises(InputError, match="overlap"):
        parse_schedule(
            [
                {"days": "sun", "start": "22:00", "end": "02:00", "state": "stopped"},
                {"days": "mon", "start": "01:00", "end": "03:00", "state": "stopped"},
            ],
            "w",
        )
    assert (
        len(
            parse_schedule(
                [
                    {"days": "sun", "start": "22:00", "end": "02:00", "state": "stopped"},
                    {"days": "mon", "start": "02:00", "end": "03:00", "state": "stopped"},
                ],
                "w",
            )
        )
        == 2
    )
