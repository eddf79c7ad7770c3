"""``locxia report``: the month's report as one HTML file people can open anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from infra.cli.errors import usage_errors
from infra.cli.output import console, emit_json
from infra.cli.state import state
from infra.errors import InputError


def _existing_parent(path: Path, option: str) -> Path:
    if not path.parent.resolve().is_dir():
        raise InputError(f"directory {path.parent} does not exist", option)
    if path.exists() and path.is_dir():
        raise InputError(f"{path} is a directory, expected a file name", option)
    return path


def report(
    ctx: typer.Context,
    month: Annotated[
        str | None, typer.Option("--month", help="Month to report on, YYYY-MM (default: this one).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path(
        "report.html"
    ),
    png: Annotated[
        Path | None, typer.Option("--png", help="Also write each chart as PNG in this directory.")
    ] = None,
    shot: Annotated[
        Path | None,
        typer.Option(
            "--screenshot",
            help="Also open the report in headless Chromium and save a full-page PNG here"
            " (fails if the page logs console errors).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Write the month's report: one self-contained HTML file (charts inline, no script, no URL).

    Built only from the `reporting` views Grafana reads, in UTC days. Opens offline in any
    browser; mail it, archive it, or put it on a wiki.

    Examples:
      locxia report                                  # this month, ./report.html
      locxia report --month 2026-10 -o october.html --png charts/
      locxia report --screenshot docs/report.png     # also a picture of it (needs chromium)
    """
    from datetime import UTC, datetime

    from dashboards.report import make_report, screenshot
    from dashboards.report.model import Period

    today = datetime.now(UTC).date()
    with usage_errors(ctx):
        period = Period.parse(month, today) if month is not None else Period.containing(today)
    url = state(ctx).settings.require_database_url()
    _existing_parent(out, "--out")
    if shot is not None:
        from dashboards.report.browser import find_chromium

        _existing_parent(shot, "--screenshot")
        find_chromium()  # before anything is written: say now that Chromium is missing
    if png is not None and png.exists() and not png.is_dir():
        raise InputError(f"{png} exists and is not a directory", "--png")
    if png is not None and not png.parent.resolve().is_dir():
        raise InputError(f"directory {png.parent} does not exist", "--png")
    with console.status(f"building the report for {period.label}…"):
        written = make_report(url, out, period=period, png_dir=png, today=today)
    height = None
    if shot is not None:
        with console.status("opening it in headless Chromium…"):
            height = screenshot(out, shot)
    sections = [s.key for s, _ in written.report.sections]
    if as_json:
        emit_json(
            {
                "month": period.slug,
                "html": str(written.html),
                "sections": sections,
                "pngs": [str(p) for p in written.pngs],
                "screenshot": str(shot) if shot else None,
                "figures": {k: f.value for k, f in written.report.figures().items()},
            }
        )
        return
    charts = len(written.report.charts())
    console.print(
        f"wrote {written.html} — {period.label}, {len(sections)} sections, {charts} charts"
    )
    for path in written.pngs:
        console.print(f"wrote {path}")
    if shot is not None:
        console.print(f"wrote {shot} ({height} px tall, no console errors)")
