"""`locxia report` as a user runs it: bad input is one line and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboards.report.sections import SECTIONS
from tests.e2e.conftest import Run

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--month", "2026-13"],
            2,
            "--month: '2026-13' is not a month between 2000-01 and 2100-12",
        ),
        (["--month", "next"], 2, "--month: 'next' is not a month: expected YYYY-MM, e.g. 2026-11"),
        (["--month", "2099-01"], 2, "--month: 2099-01 has not started yet (today is"),
        (["--out", "/nonexistent/r.html"], 1, "--out: directory /nonexistent does not exist"),
    ],
    ids=["month-13", "word", "future", "no-directory"],
)
def test_bad_input_is_reported_once_and_writes_nothing(
    locxia: Run, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    """A bad month is a usage error (2); a missing directory, a failure (1, one red line)."""
    out = locxia("report", *args, "--png", str(tmp_path / "png"))
    assert out.returncode == code, out.stderr
    if code == 1:
        [line] = out.stderr.strip().splitlines()
        assert line.startswith(f"error: {message}")
    else:
        assert out.stderr.startswith("Usage: locxia report") and message in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_report_writes_html_and_pngs(locxia: Run, tmp_path: Path) -> None:
    ran = locxia("jobs", "run", "core.noop")
    assert ran.returncode == 0, ran.stderr
    out = locxia(
        "report", "--out", str(tmp_path / "r.html"), "--png", str(tmp_path / "png"), "--json"
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["sections"] == [s.key for s in SECTIONS]
    assert result["sections"][:2] == ["costs", "budget"]  # money first
    # layer freshness comes right before the orchestrator's own sections
    assert result["sections"][-6:] == [
        "freshness",
        "runs",
        "failures",
        "jobs",
        "services",
        "parameters",
    ]
    assert result["figures"]["runs.total"] == 1
    assert Path(result["html"]).read_text().startswith("<!DOCTYPE html>")
    # the parameters chart: migration 0065's audited edit of the shipped EC2 policies, today
    assert [Path(p).name for p in result["pngs"]] == ["runs-per_day.png", "parameters-per_day.png"]


def test_report_without_a_database_says_so(locxia: Run, tmp_path: Path) -> None:
    out = locxia("report", "--out", str(tmp_path / "r.html"), env={"LOCXIA_DATABASE_URL": ""})
    assert out.returncode == 1
    assert "LOCXIA_DATABASE_URL is not set" in out.stderr


def test_report_screenshot_from_the_cli(locxia: Run, tmp_path: Path) -> None:
    # The CLI process has no fds 3/4 of its own: Chromium's DevTools pipe must still be plumbed.
    out = locxia(
        "report", "--out", str(tmp_path / "r.html"), "--screenshot", str(tmp_path / "r.png"),
        timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "no console errors" in out.stdout
    assert (tmp_path / "r.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
