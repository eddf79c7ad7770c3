"""What the feed commands print for people: progress in the step's unit, no ``None``."""

from __future__ import annotations

import io

import pytest
from rich.progress import Progress

from infra.cli import feed
from infra.cli.output import SafeConsole


def _render(unit: str, total: float | None, done: float) -> str:
    column = feed._amount_column()
    progress = Progress(console=SafeConsole(file=io.StringIO()))
    task_id = progress.add_task("refine x", total=total, unit=unit)
    progress.advance(task_id, done)
    return str(column.render(progress.tasks[0]))


def test_rows_are_counted_as_rows_against_their_total() -> None:
    assert _render("rows", 500_000, 12_000) == "12,000/500,000 rows"
    assert _render("rows", None, 12_000) == "12,000 rows"


def test_bytes_stay_sizes() -> None:
    assert _render("bytes", 4 * 1024 * 1024, 1024 * 1024) == "1.0/4.0 MiB"


@pytest.mark.parametrize(
    ("details", "line"),
    [
        (
            {"version_id": 7, "uri": "s3://b/k.zip", "rows": None, "run_id": 3},
            "landed version 7 → s3://b/k.zip (run 3)",
        ),
        (
            {"version_id": 8, "uri": "file:///l/x.zip", "rows": 40, "run_id": 4},
            "landed version 8 → file:///l/x.zip (40 rows, run 4)",
        ),
    ],
    ids=["transfer-url-no-rows", "ingest-rows"],
)
def test_done_lines_never_print_none(
    details: dict[str, object], line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(feed, "console", SafeConsole(file=out, width=200))
    feed._done(details, "landed")
    assert out.getvalue().strip() == line
