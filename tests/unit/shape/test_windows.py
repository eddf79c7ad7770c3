"""Maintenance and backup windows: AWS's formats, 30 minutes, apart, and the clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infra.errors import InputError
from pipelines.shape.model import InstanceSpec
from pipelines.shape.windows import check_apart, parse_backup, parse_maintenance

WED_NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday

#: Strings AWS refuses (RDS API reference, PreferredMaintenanceWindow / PreferredBackupWindow).
BAD_MAINTENANCE = [
    "sun:03:00",  # no end
    "sun 03:00-sun 04:00",  # wrong separators
    "sunday:03:00-sunday:04:00",  # ddd only
    "sun:3:00-sun:4:00",  # hh24
    "sun:24:00-mon:00:30",  # no hour 24
    "sun:03:60-sun:04:30",  # no minute 60
    "03:00-04:00",  # the daily format
    "sun:03:00-sun:03:29",  # 29 minutes
    "sun:03:00-sun:03:00",  # empty
    "xyz:03:00-sun:04:00",  # unknown day
]
BAD_BACKUP = [
    "01:00",
    "1:00-1:30",
    "01:00-01:29",  # 29 minutes
    "01:00-01:00",  # empty
    "sun:01:00-sun:02:00",  # the weekly format
    "25:00-01:00",
]


@pytest.mark.parametrize("text", BAD_MAINTENANCE, ids=BAD_MAINTENANCE)
def test_bad_maintenance_windows_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_maintenance(text, "params.instances[db].maintenance_window")
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("params.instances[db].maintenance_window")


@pytest.mark.parametrize("text", BAD_BACKUP, ids=BAD_BACKUP)
def test_bad_backup_windows_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_backup(text, "params.instances[db].backup_window")
    assert "\n" not in str(info.value)


def test_good_windows_parse_and_normalise_days_to_lowercase() -> None:
    span = parse_maintenance("Sun:03:00-Sun:03:30", "w")
    assert span is not None and span.text == "sun:03:00-sun:03:30" and span.length == 30
    wrap = parse_maintenance("sun:23:30-mon:00:30", "w")
    assert wrap is not None and wrap.length == 60
    daily = parse_backup("23:45-00:15", "w")
    assert daily is not None and daily.length == 30
    assert parse_maintenance(None, "w") is None and parse_backup("", "w") is None


@pytest.mark.parametrize(
    ("maintenance", "backup", "overlap"),
    [
        ("sun:03:00-sun:04:00", "03:30-04:00", True),
        ("sun:03:00-sun:04:00", "04:00-04:30", False),  # touching is not overlapping
        ("wed:23:45-thu:00:30", "00:00-00:30", True),  # Thursday's backup
        ("sun:23:45-mon:00:30", "00:10-00:40", True),  # across the week's end
        ("mon:10:00-mon:11:00", "02:00-02:30", False),
    ],
    ids=["same-hour", "touching", "across-midnight", "across-week-end", "apart"],
)
def test_backup_must_not_overlap_maintenance(maintenance: str, backup: str, overlap: bool) -> None:
    m, b = parse_maintenance(maintenance, "m"), parse_backup(backup, "b")
    if overlap:
        with pytest.raises(InputError, match="overlaps maintenance window"):
            check_apart(m, b, "b")
    else:
        check_apart(m, b, "b")


def test_covers_and_next_open_use_utc() -> None:
    window = parse_maintenance("wed:11:45-wed:12:15", "m")
    assert window is not None and window.covers(WED_NOON)
    later = parse_maintenance("sun:03:00-sun:04:00", "m")
    assert later is not None and not later.covers(WED_NOON)
    assert later.next_open(WED_NOON) == datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    wrapping = parse_maintenance("sun:23:30-mon:00:30", "m")
    assert wrapping is not None
    assert wrapping.covers(datetime(2026, 11, 30, 0, 10, tzinfo=UTC))  # Monday 00:10


def test_a_row_refuses_a_backup_window_on_ec2_and_overlapping_windows() -> None:
    base = {"name": "vm", "kind": "ec2", "instance_class": "m6i.large", "storage_gb": 20}
    assert InstanceSpec.parse({**base, "maintenance_window": "sun:03:00-sun:04:00"})
    with pytest.raises(InputError, match=r"vm\]\.backup_window: a backup window is for RDS"):
        InstanceSpec.parse({**base, "backup_window": "01:00-01:30"})
    rds = {
        "name": "db",
        "kind": "rds",
        "instance_class": "db.t4g.large",
        "storage_gb": 20,
        "engine": "postgres",
        "engine_version": "16",
        "maintenance_window": "sun:03:00-sun:04:00",
        "backup_window": "03:30-04:30",
    }
    with pytest.raises(InputError, match=r"db\]\.backup_window: backup window"):
        InstanceSpec.parse(rds)
    assert InstanceSpec.parse({**rds, "backup_window": "01:00-01:30"}).row()["backup_window"] == (
        "01:00-01:30"
    )
