"""Back-off of failed reconciles: the schedule and the one wording of its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipelines.shape.backoff import delay, reason_line


def test_the_schedule_doubles_from_one_minute_and_holds_at_an_hour() -> None:
    minutes = [delay(n) // timedelta(minutes=1) for n in range(1, 11)]
    assert minutes == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]


def test_no_delay_before_a_failure() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        delay(0)


def test_tries_in_ten_minutes_of_thirty_second_ticks() -> None:
    """What the tick does with the schedule: a try, then none before its next try."""
    start = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    tries: list[int] = []
    next_try, failures = start, 0
    for tick in range(21):  # 0 s … 600 s
        now = start + timedelta(seconds=30 * tick)
        if now >= next_try:
            failures += 1
            tries.append(30 * tick)
            next_try = now + delay(failures)
    assert tries == [0, 60, 180, 420]


def test_the_reason_names_the_count_the_first_error_line_and_the_next_try() -> None:
    at = datetime(2026, 11, 25, 11, 7, tzinfo=UTC)
    line = reason_line(3, "terraform apply failed: Error: boom\nmore detail", at)
    assert line == (
        "held after 3 failures: terraform apply failed: Error: boom;"
        " next try at 2026-11-25 11:07:00 UTC"
    )
    assert reason_line(1, "x" * 400, at).startswith("held after 1 failure: " + "x" * 299 + "…;")
