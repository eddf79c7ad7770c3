"""The report in headless Chromium: it renders without a console error, and a screenshot of it
can be taken. A broken page proves the error capture is not blind."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboards.report import make_report, screenshot
from dashboards.report.browser import render
from infra.errors import ReportError
from infra.settings import Settings
from tests.support.orchestrator import seeded_database

pytestmark = pytest.mark.slow


def _png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_the_report_renders_without_console_errors(
    settings: Settings, db_url: str, tmp_path: Path
) -> None:
    with seeded_database(settings, db_url):
        pass
    html = make_report(db_url, tmp_path / "report.html").html
    rendered = render(html)
    assert rendered.errors == []
    assert rendered.screenshot is not None
    width, height = _png_size(rendered.screenshot)
    assert width == 1200 and height == rendered.height > 1500  # the whole page, not a viewport


def test_a_screenshot_is_written(settings: Settings, db_url: str, tmp_path: Path) -> None:
    html = make_report(db_url, tmp_path / "report.html").html
    height = screenshot(html, tmp_path / "shot.png")
    assert _png_size((tmp_path / "shot.png").read_bytes()) == (1200, height)


BROKEN = """<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'">
<title>broken</title></head><body><p>broken</p>
<img src="missing-picture.png" alt="">
<script>console.error("boom from the page"); undefined_function();</script>
</body></html>"""


def test_console_errors_are_caught(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(BROKEN)
    errors = render(page, screenshot=False).errors
    assert any("boom from the page" in e for e in errors), errors
    assert any("undefined_function" in e for e in errors), errors
    assert any("missing-picture.png" in e or "Content Security Policy" in e for e in errors), errors
    with pytest.raises(ReportError, match="logged browser console errors"):
        screenshot(page, tmp_path / "broken.png")
    assert not (tmp_path / "broken.png").exists()
