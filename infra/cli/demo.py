"""``locxia demo``: see the product work on this machine in a minute."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.panel import Panel

from infra.cli.errors import masked
from infra.cli.output import console, table
from infra.cli.state import state

if TYPE_CHECKING:
    from infra.demo.run import DemoReport


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
    month's Cost Explorer figures. Then the real jobs once each: discover, collect, costs,
    recommendations; Terraform adopts the instances and applies a class bump (plan, cost
    delta, guardrail decision) on a stand-in root module, since the AWS provider cannot be
    downloaded offline; a sample layer goes landing → working → exposure with its quality
    report. Last, the service for --seconds, the report and the dashboards' JSON. Uses
    LOCXIA_DATABASE_URL when set, else a private PostgreSQL (127.0.0.1) in a directory of its
    own, left running for the next demo.

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
        from dashboards.report.browser import find_chromium

        find_chromium()  # fail before the demo runs, not after
    from dashboards.grafana.build import write as write_dashboards

    signal.signal(signal.SIGTERM, _interrupt)
    with console.status("running the demo…"):
        result = run_demo(
            settings,
            seconds=seconds,
            keep_running=keep_running,
            report_path=report,
            screenshot_path=shot,
            write_dashboards=write_dashboards,
            say=lambda m: console.log(escape(masked(m))),
        )
    steps = [(name, escape(masked(line))) for name, line in result.steps]  # lines hold [brackets]
    console.print(table("What the demo did", ["step", "result"], steps))
    console.print(
        table("Runs the service recorded (ops.runs)", ["job", "status", "runs"], result.runs)
    )
    console.print(_next_steps(result))


def _next_steps(result: DemoReport) -> Panel:
    """Where to look next: the outputs, the CLI on the demo's database, the docs."""
    url = masked(result.database_url)
    lines = [
        f"[bold]report[/bold]      {result.report_path}  (open it in a browser; works offline)",
        f"[bold]dashboards[/bold]  {result.dashboards_dir}  (Grafana JSON; see docs/dashboards.md)",
        f"[bold]terraform[/bold]   {result.terraform_dir}  (stand-in root module, its state)",
        f"[bold]database[/bold]    psql {url}",
        "",
        f"  export LOCXIA_DATABASE_URL={url}",
        "  locxia runs list            # every run, newest first",
        "  locxia infra status         # the terraform runs: plan, cost delta, decision, apply",
        "  locxia datasets show swimming_pools   # versions, lineage, quality report",
        "  locxia params history work-db         # who changed the class, and when",
        "  locxia capacity list        # the refine's capacity window: plan, restore, cost",
        "  locxia demo --keep-running  # keep the service and the stand-in AWS up; Ctrl-C stops",
        "",
        "docs: docs/demo.md (what each step did), docs/observe.md, docs/shape.md, docs/feed.md",
    ]
    return Panel("\n".join(lines), title="Where to look next", title_align="left")
