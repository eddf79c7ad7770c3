"""``locxia serve``: the long-running scheduler process."""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import Annotated

import typer

from infra.cli.state import state


def serve(
    ctx: typer.Context,
    for_seconds: Annotated[
        float | None,
        typer.Option("--for", min=0.1, help="Stop by itself after this many seconds (demos)."),
    ] = None,
) -> None:
    """Run the scheduler: plan jobs from the parameter tables and run them, recorded.

    Start as many as you like against one database: one leads (a lock only its login can take),
    the others stand by and take over within seconds if it dies. A change to any params.* table
    re-plans the jobs within a second (LISTEN locxia_params). SIGTERM or Ctrl-C stops cleanly:
    running jobs get LOCXIA_STOP_GRACE_SECONDS (30 s) to finish, a running Terraform command
    gets its own graceful stop at once (the apply in flight ends and writes its state), and
    serve exits 0; if jobs are still running when the grace runs out, it says so and exits 1
    without waiting for them (a Terraform command left running finishes on its own).
    """
    from infra import logs
    from infra.db import connect, migrate
    from infra.errors import MigrationError
    from infra.jobs import Registry
    from infra.service import Service

    settings = state(ctx).settings
    logs.configure(settings.log_level)
    with connect(settings.require_database_url()) as conn:
        pending = [s for s in migrate.status(conn) if s.state != "applied"]
    if pending:
        raise MigrationError(
            f"{len(pending)} migration(s) not applied; run `locxia db upgrade` first"
        )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if for_seconds is not None:
        timer = threading.Timer(for_seconds, stop.set)
        timer.daemon = True
        timer.start()
    service = Service(settings, Registry.from_entry_points(), stop=stop)
    service.run()
    if service.unfinished_jobs:
        # Their threads would hold the interpreter's exit (it joins the job threads), so the
        # grace would not bound the stop: exit now; the next start marks their runs.
        print(
            f"locxia serve: {service.unfinished_jobs} job(s) still running after"
            f" {settings.stop_grace_seconds:g}s; stopped without them",
            file=sys.stderr,
            flush=True,
        )
        sys.stdout.flush()
        os._exit(1)
