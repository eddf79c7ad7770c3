"""The demo's run: database, stand-in AWS, the estate, the jobs, the service, the report.

Every step is a task run through the :class:`~infra.jobs.runner.Runner`, so it is recorded in
``ops.runs`` like a scheduled run, and the demo stops at the first step that fails. The steps
are data (:data:`STEPS`): the real jobs (discover, collect, costs, recommendations,
reconcile, ingest → publish) join the list, in order, as their features land.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from infra.db import connect
from infra.db.setup import upgrade_database
from infra.demo import motoserver
from infra.demo.database import demo_database_url, demo_home
from infra.demo.standin import demo_settings, fake_credentials
from infra.errors import DemoError
from infra.settings import Settings

Say = Callable[[str], None]


@dataclass(frozen=True)
class Step:
    """One step of the demo: a registered task, and how to say what it did in one line."""

    name: str
    task: str
    describe: Callable[[Mapping[str, Any]], str]
    args: Mapping[str, Any] = field(default_factory=dict)


def _estate_line(d: Mapping[str, Any]) -> str:
    made = sum(d.get("created", {}).values())
    kept = sum(d.get("existing", {}).values())
    return f"{d.get('resources', 0)} resources in the stand-in AWS ({made} created, {kept} kept)"


def _metrics_line(d: Mapping[str, Any]) -> str:
    return (
        f"{d.get('datapoints', 0):,} CloudWatch datapoints put over {d.get('days')} days"
        f" ({d.get('series_put', 0)} series, {d.get('series_present', 0)} already there,"
        f" {d.get('put_calls', 0)} calls)"
    )


def _costs_line(d: Mapping[str, Any]) -> str:
    what = (
        f"{d.get('responses', 0)} Cost Explorer responses queued"
        if d.get("queued")
        else ("Cost Explorer responses already queued")
    )
    return f"{what}: {d.get('first_day')} → {d.get('last_day')}, $ {d.get('total_usd', 0):,.2f}"


STEPS: tuple[Step, ...] = (
    Step("estate", "demo.estate", _estate_line),
    Step("metrics", "demo.metrics", _metrics_line, {"days": 7}),
    Step("costs", "demo.costs", _costs_line),
    # The real jobs go here, in order, as the features land: observe discover → collect →
    # costs → recommendations; shape reconcile after a class bump; feed ingest → refine →
    # publish. Each is Step(name, "<plugin>.<task>", describe, args).
)

DEMO_SCHEDULES = (
    "INSERT INTO params.schedules (job, task, every_seconds, args, note) VALUES"
    " ('demo.heartbeat', 'core.noop', 1, '{}', 'demo: a heartbeat every second'),"
    " ('demo.chain', 'core.chain', 2,"
    '  \'{"steps": [{"task": "core.noop"}, {"task": "core.noop"}]}\','
    "  'demo: a two-step chain every two seconds')"
    " ON CONFLICT (job) DO NOTHING"
)


@dataclass
class DemoReport:
    """What the demo did, step by step (printed by the CLI, checked by tests)."""

    database_url: str = ""
    own_cluster: bool = False
    aws_endpoint: str = ""
    aws_pid: int | None = None
    steps: list[tuple[str, str]] = field(default_factory=list)
    runs: list[tuple[Any, ...]] = field(default_factory=list)
    report_path: Path | None = None


def run_demo(
    settings: Settings,
    *,
    seconds: float = 4.0,
    keep_running: bool = False,
    report_path: Path | None = None,
    screenshot_path: Path | None = None,
    say: Say = lambda _: None,
) -> DemoReport:
    """Run the whole demo; return what it did. Stops the stand-in AWS however it ends.

    Args:
        settings: base settings (the database and AWS endpoint are the demo's own).
        seconds: how long the service runs before the report is written.
        keep_running: after the report, keep the service (and the stand-in) running until
            SIGINT/SIGTERM.
        report_path: where the HTML report goes (default: ``report.html`` in the demo's home).
        screenshot_path: also open the report in headless Chromium and save a PNG here.
        say: progress lines.

    Raises:
        DemoError: moto is not installed, or a step failed.
        ReportError: the report cannot be written, or (with a screenshot) rendered cleanly.
    """
    from infra.demo.tasks import plugin
    from infra.jobs import Registry
    from infra.jobs.runner import Runner

    out = DemoReport()
    url, out.own_cluster = demo_database_url(settings)
    out.database_url = url
    _step(out, say, "database", ("its own local PostgreSQL" if out.own_cluster
                                  else "LOCXIA_DATABASE_URL") + f": {url}")  # fmt: skip
    with connect(url, application_name="locxia:demo") as conn:
        upgraded = upgrade_database(conn)
        conn.execute(DEMO_SCHEDULES)
        conn.commit()
    _step(out, say, "migrate", f"{len(upgraded.applied)} migration(s) applied")
    home = demo_home(settings)
    registry = Registry.from_entry_points(extra=[plugin])
    with motoserver.running(home / "moto.log") as aws, fake_credentials():
        out.aws_endpoint, out.aws_pid = aws.endpoint, aws.pid
        _step(out, say, "aws", f"moto server (pid {aws.pid}) on {aws.endpoint} as AWS")
        live = demo_settings(settings, url, aws.endpoint)
        runner = Runner(live, registry)
        try:
            for step in STEPS:
                result = runner.run(step.task, step.args, job_id=f"demo.{step.name}")
                if result.status != "success":
                    raise DemoError(f"demo step {step.name} ({step.task}) failed: {result.error}")
                _step(out, say, step.name, step.describe(result.details))
        finally:
            runner.close()
        started = _now(url)
        _serve(live, registry, seconds=seconds)
        out.runs = _runs_since(url, started)
        total = sum(int(r[2]) for r in out.runs)
        _step(out, say, "serve", f"service ran {seconds:.0f}s: {total} run(s) recorded")
        out.report_path = _write_report(url, report_path or home / "report.html")
        _step(out, say, "report", f"wrote {out.report_path}")
        if screenshot_path is not None:
            from infra.report import screenshot

            height = screenshot(out.report_path, screenshot_path)
            _step(out, say, "screenshot", f"wrote {screenshot_path} ({height} px, no errors)")
        if keep_running:
            say("service and stand-in AWS keep running; Ctrl-C stops both")
            _serve(live, registry, seconds=None)
    return out


def _step(out: DemoReport, say: Say, name: str, line: str) -> None:
    out.steps.append((name, line))
    say(line)


def _serve(settings: Settings, registry: Any, *, seconds: float | None) -> None:
    """Run the service until ``seconds`` pass (None: until SIGINT/SIGTERM)."""
    from infra.service import Service

    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set) if seconds is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        with _stop_on_signals(stop, enabled=seconds is None):
            Service(settings, registry, stop=stop).run()
    finally:
        if timer is not None:
            timer.cancel()


@contextmanager
def _stop_on_signals(stop: threading.Event, *, enabled: bool) -> Iterator[None]:
    """While serving for good, SIGINT/SIGTERM ask the service to stop instead of raising."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _write_report(url: str, path: Path) -> Path:
    from infra.report import make_report

    path.parent.mkdir(parents=True, exist_ok=True)
    return make_report(url, path).html


def _now(url: str) -> Any:
    with connect(url) as conn:
        row = conn.execute("SELECT now()").fetchone()
        return row[0] if row else None


def _runs_since(url: str, started: Any) -> list[tuple[Any, ...]]:
    with connect(url) as conn:
        return conn.execute(
            "SELECT job_id, status, count(*) FROM ops.runs WHERE started_at >= %s"
            " GROUP BY 1, 2 ORDER BY 1, 2",
            (started,),
        ).fetchall()
