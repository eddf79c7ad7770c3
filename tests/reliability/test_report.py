"""docs/reliability.md is made from the recorded cases: totals per group, failures named."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.reliability.report import render

CASES = [
    {
        "group": "kill -9",
        "case": "collect: x",
        "tries": 1,
        "survived": 1,
        "lost": 0,
        "duplicated": 0,
        "note": "",
    },
    {
        "group": "kill -9",
        "case": "apply: y",
        "tries": 1,
        "survived": 0,
        "lost": 0,
        "duplicated": 2,
        "left": 1,
        "note": "stuck records: 1",
    },
    {
        "group": "bad input",
        "case": "file: empty",
        "tries": 1,
        "survived": 1,
        "lost": 0,
        "duplicated": 0,
        "note": "",
    },
    {
        "group": "bad input",
        "case": "row: budget",
        "tries": 1,
        "survived": 0,
        "lost": 0,
        "duplicated": 0,
        "note": "",
    },
]


def test_totals_and_failures_are_shown() -> None:
    text = render(CASES, datetime(2026, 12, 5, 14, 0, tzinfo=UTC), "a machine")
    assert "_Run 2026-12-05 14:00 UTC on a machine._" in text
    assert "| kill -9 | 2 | 2 | 1 | 0 | 2 | 1 |" in text
    assert "| bad input | 2 | 2 | 1 | 0 | 0 | 0 |" in text
    assert "| apply: y | 1 | 0 | 0 | 2 | 1 | stuck records: 1 |" in text
    assert "- row: budget: see the test" in text
    assert text.index("## kill -9") < text.index("## bad input")
