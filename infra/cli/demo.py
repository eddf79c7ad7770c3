"""``locxia demo``: see the product work on this machine in a minute."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from infra.cli.output import console, table
from infra.cli.state import state


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C: everything started is stopped


def demo(
    ctx: typer.Context,
    seconds: Annotated[
        float, typer.Option(min=1, max=600, help="How long the service runs in the demo.")
    ] = 4.0,
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running",
            help="After the report, keep the service and the stand-in AWS running (Ctrl-C stops).",
        ),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Where to write the HTML report (default: the demo's dir)."),
    ] = None,
    shot: Annotated[
        Path | None,
        typer.Option(
            "--screenshot", help="Also save a full-page PNG of the report (headless Chromium)."
        ),
    ] = None,
    stop: Annotated[
        bool, typer.Option("--stop", help="Stop the demo's own PostgreSQL and exit.")
    ] = False,
) -> None:
    """Run the embedded demo: a stand-in AWS with a Locxia estate, the jobs, the service, a report.

    "AWS" is moto's server, started on 127.0.0.1 for the demo and stopped when it ends (it
    comes with the `demo` extra). The estate: RDS and EC2 instances and the zone buckets,
    tagged project=locxia (plus untagged neighbours), a week of CloudWatch datapoints and the
    month's Cost Explorer figures. Uses LOCXIA_DATABASE_URL when set, else a private
    PostgreSQL (127.0.0.1) in a directory of its own, left running for the next demo.

    Examples:
      locxia demo
      locxia demo --report /tmp/report.html --seconds 10
      locxia demo --keep-running      # explore while it runs; Ctrl-C stops everything
      locxia demo --screenshot docs/report.png
      locxia demo --stop              # stop the demo's own PostgreSQL
    """
    from infra.demo import run_demo, stop_demo_cluster

    settings = state(ctx).settings
    if stop:
        stopped = stop_demo_cluster(settings)
        console.print("demo PostgreSQL stopped" if stopped else "demo PostgreSQL was not running")
        return
    for path, option in ((report, "--report"), (shot, "--screenshot")):
        if path is not None and not path.parent.resolve().is_dir():
            from infra.errors import InputError

            raise InputError(f"directory {path.parent} does not exist", option)
    if shot is not None:
        from infra.report.browser import find_chromium

        find_chromium()  # fail before the demo runs, not after
    signal.signal(signal.SIGTERM, _interrupt)
    with console.status("running the demo…"):
        result = run_demo(
            settings,
            seconds=seconds,
            keep_running=keep_running,
            report_path=report,
            screenshot_path=shot,
            say=lambda m: console.log(m),
        )
    console.print(table("What the demo did", ["step", "result"], result.steps))
    console.print(table("Runs recorded in ops.runs", ["job", "status", "runs"], result.runs))
    console.print(
        f"\nThe report: {result.report_path} (open it in a browser; it works offline)\n"
        "Next: explore with\n"
        f"  export LOCXIA_DATABASE_URL={result.database_url}\n"
        "  locxia runs list        # every run, newest first\n"
        "  locxia report           # this month's report again, as ./report.html\n"
        "  locxia jobs list        # what the service schedules, and why\n"
        "  locxia serve            # keep the scheduler running (Ctrl-C stops it)"
    )
