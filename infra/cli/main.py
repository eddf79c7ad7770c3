"""The ``locxia`` command: root options, command groups, and where errors become exits.

Exit codes: 0 success; 1 a failure (one red line, no traceback, whatever the error); 2 a
usage error (bad flag, argument or value, as Click reports it); 130 interrupted by Ctrl-C.
:mod:`infra.cli.errors` decides which, for every command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from infra import __version__
from infra.cli import (
    capacity,
    dashboards,
    db,
    demo,
    feed,
    jobs,
    notify,
    observe,
    params,
    report,
    serve,
    shape,
)
from infra.cli.errors import run_app
from infra.cli.output import emit_json, error_line
from infra.cli.state import CliState

HELP = """\
[bold]Locxia[/bold] keeps a geospatial data platform on AWS right-sized, observed and fed,
from parameter tables in PostgreSQL.

[bold]Start here[/bold]
  locxia demo                 the whole loop on this machine (moto as AWS, local PostgreSQL)
  locxia db upgrade           create or update the schema in $LOCXIA_DATABASE_URL
  locxia serve                run the scheduler (one leader, others stand by)
  locxia observe discover     find the AWS resources tagged for Locxia, then `observe collect`
  locxia report               this month's report as one HTML file (no Grafana needed)
  locxia ingest FILE -d NAME  land a layer, then `refine NAME` and `publish NAME`

Settings come from LOCXIA_* variables or locxia.toml (see README). Errors print one red
line and exit 1; usage errors exit 2. Most listings take --json for scripts.
"""

app = typer.Typer(
    help=HELP,
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="TOML settings file (default: $LOCXIA_CONFIG, ./locxia.toml)"
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log what happens (INFO) on stderr.")
    ] = False,
) -> None:
    """Root options shared by every command."""
    from infra import logs

    # Commands report through their own output; library warnings would repeat the one red
    # error line, so only errors are logged unless --verbose (serve sets its own level).
    logs.configure("INFO" if verbose else "ERROR")
    ctx.obj = CliState(config=config)


@app.command()
def version(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the version of Locxia and of the engines it drives."""
    import platform

    info = {"locxia": __version__, "python": platform.python_version()}
    if as_json:
        emit_json(info)
    else:
        typer.echo(f"locxia {__version__} (Python {info['python']})")


app.add_typer(db.app, name="db")
app.add_typer(jobs.app, name="jobs")
app.add_typer(jobs.runs_app, name="runs")
app.add_typer(dashboards.app, name="dashboards")
app.add_typer(params.app, name="params")
app.add_typer(shape.app, name="infra")
app.add_typer(observe.app, name="observe")
app.add_typer(notify.app, name="notify")
app.add_typer(capacity.app, name="capacity")
app.command(name="serve")(serve.serve)
app.command(name="demo")(demo.demo)
app.command(name="report")(report.report)
app.command(name="ingest")(feed.ingest)
app.command(name="refine")(feed.refine)
app.command(name="publish")(feed.publish)
app.command(name="rollback")(feed.rollback)
app.add_typer(feed.transfer_app, name="transfer")
app.add_typer(feed.datasets_app, name="datasets")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``locxia`` script; returns the process exit code.

    Click's standalone mode prints usage errors itself (exit 2); every other error, from any
    command, is turned into one red line and its exit code by :func:`infra.cli.errors.run_app`
    — the one place that decides it (``docs/cli.md``).
    """
    return run_app(lambda: app(args=argv, prog_name="locxia"), error_line)


if __name__ == "__main__":
    sys.exit(main())
