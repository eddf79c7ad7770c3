"""``locxia demo``: see the product work on this machine in a minute."""

from __future__ import annotations

from typing import Annotated

import typer

from infra.cli.output import console, table
from infra.cli.state import state


def demo(
    ctx: typer.Context,
    seconds: Annotated[
        float, typer.Option(min=1, max=600, help="How long the service runs in the demo.")
    ] = 4.0,
    stop: Annotated[
        bool, typer.Option("--stop", help="Stop the demo's own PostgreSQL and exit.")
    ] = False,
) -> None:
    """Run the embedded demo: migrate a database, schedule jobs, run the service, report.

    Uses LOCXIA_DATABASE_URL when set, else starts a private PostgreSQL (from the machine's
    binaries, on 127.0.0.1) in a data directory of its own, left running for the next demo.
    """
    from infra.demo import run_demo, stop_demo_cluster

    settings = state(ctx).settings
    if stop:
        stopped = stop_demo_cluster(settings)
        console.print("demo PostgreSQL stopped" if stopped else "demo PostgreSQL was not running")
        return
    with console.status("running the demo…"):
        report = run_demo(settings, seconds=seconds, say=lambda m: console.log(m))
    console.print(table("What the demo did", ["step", "result"], report.steps))
    console.print(table("Runs recorded in ops.runs", ["job", "status", "runs"], report.runs))
    console.print(
        "\nNext: explore with\n"
        f"  export LOCXIA_DATABASE_URL={report.database_url}\n"
        "  locxia runs list        # every run, newest first\n"
        "  locxia jobs list        # what the service schedules, and why\n"
        "  locxia serve            # keep the scheduler running (Ctrl-C stops it)"
    )
