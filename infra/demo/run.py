"""The demo's run: database, stand-in AWS, the estate, the jobs, the service, the report.

Every step is a task run through the :class:`~infra.jobs.runner.Runner`, so it is recorded in
``ops.runs`` like a scheduled run (job id ``demo.<step>``), and the demo stops at the first
step that fails. The steps are data (:data:`STEPS`): the demo's own tasks build the stand-in
estate and the parameter rows, and the real jobs run once each, in order — observe
(discover, collect, Cost Explorer, recommendations), shape (Terraform imports the estate, then
a class bump is planned, priced, decided and applied on the stand-in root module), feed (a
sample layer ingested, refined — inside a capacity window raising the two Dask workers its
refine declares, removed after; the work itself partitioned on the embedded local Dask cluster
— and published, its parts loaded in parallel). Each step says what it did in one line.
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
from infra.db.connection import redact_url
from infra.db.setup import upgrade_database
from infra.demo import gaps, motoserver
from infra.demo.database import demo_database_url, demo_home
from infra.demo.scenario.datapoints import growth_origin as history_start
from infra.demo.scenario.params import ACTOR
from infra.demo.standin import demo_settings, fake_credentials, standin_terraform
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
    #: run with the clock at the start of the demo's week of history (see ``history_start``)
    at_history_start: bool = False


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
        f"{d.get('lines', 0)} Cost Explorer line item(s) seeded"
        if d.get("queued")
        else ("Cost Explorer line items already seeded")
    )
    return f"{what}: {d.get('first_day')} → {d.get('last_day')}, $ {d.get('total_usd', 0):,.2f}"


def _params_line(d: Mapping[str, Any]) -> str:
    i = d.get("instances", {})
    return (
        f"params.instances: {d.get('rows', 0)} rows describe the estate's instances"
        f" ({i.get('created', 0)} created, {i.get('updated', 0)} put back, {i.get('unchanged', 0)}"
        f" already right); collection policies hourly for the week"
        f" ({d.get('policies_changed', 0)} changed); {d.get('budgets', 0)} budgets"
        f" ({d.get('budgets_changed', 0)} changed); all audited as {ACTOR}"
    )


def _discover_line(d: Mapping[str, Any]) -> str:
    tagged = d.get("tagged") or {}
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(tagged.items()))
    lookalikes = len(d.get("untagged_lookalikes") or [])
    return (
        f"{sum(tagged.values())} tagged resources in metrics.resources ({kinds});"
        f" {len(d.get('new') or [])} new, {len(d.get('gone') or [])} gone;"
        f" {lookalikes} untagged look-alike(s) recorded apart, the neighbours left out"
    )


def _collect_line(d: Mapping[str, Any]) -> str:
    return (
        f"{d.get('datapoints', 0):,} datapoints stored from {d.get('metrics_requested', 0)} metrics"
        f" requested in {d.get('api_calls', 0)} GetMetricData call(s)"
        f"{_retried(d)} (≈ $ {d.get('estimated_cost_usd', 0):.4f} of API)"
    )


def _retried(d: Mapping[str, Any]) -> str:
    """The attempts botocore retried, when there were any (``aws_retries``)."""
    return f" ({d['aws_retries']} attempt(s) retried)" if d.get("aws_retries") else ""


def _explorer_line(d: Mapping[str, Any]) -> str:
    first, last = (d.get("days") or ["?", "?"])[:2]
    hours = (d.get("estimates") or {}).get("hours_estimated", 0)
    budgets = ", ".join(
        f"{name} {b.get('status')} (month-end forecast $ {b.get('forecast_usd', 0):,.2f})"
        for name, b in sorted((d.get("budgets") or {}).items())
    )
    return (
        f"{d.get('rows', 0)} daily cost rows from Cost Explorer ({first} → {last},"
        f" {d.get('ce_requests', 0)} request(s)); {hours} resource-hour(s) it has not covered"
        f" yet estimated; budgets: {budgets or 'none'}"
    )


def _history_discover_line(d: Mapping[str, Any]) -> str:
    return "as of the start of the demo's week (uptime counts from there): " + _discover_line(d)


def _recommend_line(d: Mapping[str, Any]) -> str:
    kinds = ", ".join(f"{n} {k}" for k, n in d.get("by_kind", {}).items()) or "none"
    return (
        f"{d.get('open', 0)} open recommendation(s) ({kinds}):"
        f" $ {d.get('monthly_saving_usd', 0):,.2f}/month to save"
    )


def _money(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _plan_line(d: Mapping[str, Any]) -> str:
    """Plan, monthly cost delta, guardrail decision, and what happened to it."""
    changes = d.get("changes", [])
    actions: dict[str, int] = {}
    for change in changes:
        action = str(change.get("action", "?"))
        if action != "no-op":
            actions[action] = actions.get(action, 0) + 1
    imports = sum(1 for c in changes if c.get("importing"))
    plan = (
        ", ".join(
            ([f"{imports} to import"] if imports else [])
            + [f"{n} to {a}" for a, n in sorted(actions.items())]
        )
        or "no changes"
    )
    before, after = _money(d.get("monthly_before")), _money(d.get("monthly_after"))
    resized = [
        f"{c['instance']} {c['before'].get('instance_class')} → {c['after'].get('instance_class')}"
        for c in changes
        if c.get("action") == "update" and c.get("before") and c.get("after")
    ]
    why = "; ".join(r.get("message", "") for r in d.get("reasons", []) if r.get("message"))
    decided = {
        "auto_apply": "within policy",
        "needs_approval": "held for approval",
        "rejected": "refused",
        "no_changes": "nothing to do",
    }.get(str(d.get("decision")), str(d.get("decision")))
    return (
        f"terraform run {d.get('terraform_run')}: plan {plan}"
        + (f" ({', '.join(resized)})" if resized else "")
        + f"; $ {before:,.2f} → $ {after:,.2f}/month ({after - before:+,.2f});"
        f" guardrails: {decided}" + (f" ({why})" if why else "") + f" → {d.get('status')}"
    )


def _approve_line(d: Mapping[str, Any]) -> str:
    if d.get("approved") is None:
        return "nothing held for approval (the reconcile applied it within policy)"
    post = d.get("post_apply") or {}
    drift = post.get("drift") or {}
    return (
        f"terraform run {d['approved']} approved by login {d.get('login')} (as {d.get('label')})"
        f" → {d.get('status')};"
        f" described after apply: {drift.get('open', 0)} open drift finding(s)"
    )


def _bump_line(d: Mapping[str, Any]) -> str:
    return (
        f"params.instances[{d.get('instance')}].instance_class: {d.get('from')} → {d.get('to')}"
        f" (audited as {d.get('by')})"
    )


def _layer_line(d: Mapping[str, Any]) -> str:
    return (
        f"sample layer {d.get('dataset')}: {d.get('features', 0):,} swimming pools"
        f" ({d.get('invalid', 0)} self-intersecting, {d.get('null', 0)} without geometry),"
        f" EPSG:4326 GeoPackage, declared in params.datasets"
    )


def _zone_line(step: str) -> Callable[[Mapping[str, Any]], str]:
    def line(d: Mapping[str, Any]) -> str:
        done = "unchanged, already" if d.get("noop") else "now"
        return f"{step}: version {d.get('version_id')} {done} in {d.get('zone')}" + (
            f" — {d.get('rows'):,} rows at {d.get('uri')}"
            if d.get("rows") is not None
            else f" at {d.get('uri')}"
        )

    return line


def _refine_line(d: Mapping[str, Any]) -> str:
    q = d.get("quality") or {}
    g = q.get("geometry", {})
    checks = q.get("checks", [])
    passed = sum(1 for c in checks if c.get("passed"))
    return (
        _zone_line("refine")(d)
        + f"; quality: {q.get('rows_in', '?')} in → {q.get('rows_out', '?')} kept,"
        f" {g.get('repaired', 0)} repaired, {g.get('null', 0)} null dropped,"
        f" {passed}/{len(checks)} rules passed"
        + (f" — {_window_line(d['capacity'], q)}" if d.get("capacity") else "")
    )


def _capacity_line(d: Mapping[str, Any]) -> str:
    done = "declared" if d.get("changed") else "already declared"
    return (
        f"params.run_capacity[{d.get('job')}]: {d.get('dask_workers')} × {d.get('worker_type')}"
        f" Dask workers for the sample layer's refine ({done}, audited as {d.get('by')})"
    )


def _window_line(w: Mapping[str, Any], quality: Mapping[str, Any]) -> str:
    """The capacity window the run held: raised, where the work ran, removed, priced.

    The demo names no Dask scheduler (:func:`~infra.demo.standin.demo_settings`): the stand-in's
    workers never boot, so the line says where the work really ran, from the quality report's
    engine figures (partitions, workers: :mod:`pipelines.feed.partitioned`).
    """
    plan = w.get("plan") or {}
    made = [c for c in plan.get("changes", []) if c.get("action") == "create"]
    types = sorted({str((c.get("after") or {}).get("instance_class")) for c in made})
    how = "applied after approval" if plan.get("approved") else "applied within policy"
    raised = (
        f"capacity window {w.get('window')}: {len(made)} × {', '.join(types) or '?'} raised"
        f" (terraform run {plan.get('terraform_run')}: {_money(plan.get('monthly_delta')):+,.2f}"
        f" USD/month, {how}, {_money(w.get('raised_s')):.1f} s); the stand-in workers"
        f" never boot (no LOCXIA_DASK_SCHEDULER), so refine ran {_where(quality)}"
    )
    if w.get("state") != "restored":
        return (
            f"{raised}; NOT restored ({w.get('state')}: {w.get('error')}):"
            f" `locxia capacity restore {w.get('window')}`"
        )
    return (
        f"{raised}; workers removed after ({_money(w.get('waited')):.1f} s);"
        f" window cost {_money(w.get('cost_usd')):.4f} USD"
    )


def _where(quality: Mapping[str, Any]) -> str:
    """Where the refine ran, as its quality report records it."""
    if quality.get("engine") != "dask":
        return "in this process (under LOCXIA_DASK_MIN_ROWS)"
    partitions, workers = quality.get("partitions", "?"), quality.get("workers", "?")
    return (
        f"on the embedded local Dask cluster: {partitions} partition"
        f"{'' if partitions == 1 else 's'} on {workers} worker process"
        f"{'' if workers == 1 else 'es'}"
    )


def _publish_line(d: Mapping[str, Any]) -> str:
    """The zone line; a partitioned working version's parts were loaded in parallel."""
    line = _zone_line("publish")(d)
    if d.get("parts") is None or d.get("noop"):
        return line
    parts = d["parts"]
    return line + f" — {parts} part{'' if parts == 1 else 's'} loaded by parallel COPYs on Dask"


DEMO_ACTOR_ARGS = {"force": True, "requested_by": "locxia-demo"}
FEED = {"dataset": "swimming_pools"}
STEPS: tuple[Step, ...] = (
    Step("estate", "demo.estate", _estate_line),
    Step("metrics", "demo.metrics", _metrics_line, {"days": 7}),
    Step("costs", "demo.costs", _costs_line),
    Step("params", "demo.params", _params_line),
    # Observe: the real jobs, as the service runs them.
    # The estate's CloudWatch and Cost Explorer history starts a week ago: a discovery "then"
    # gives the estimates the same week of uptime to price (as the seeded week of the tests).
    Step("discover-week-start", "metrics.discover", _history_discover_line, at_history_start=True),
    Step("discover", "metrics.discover", _discover_line),
    Step("collect", "metrics.collect", _collect_line),
    # 31 days cover the whole month whatever today is (the demo bills the month so far, and at
    # least the last week): the report's month to date is then Cost Explorer's, not 14 days.
    Step("cost-explorer", "costs.explorer", _explorer_line, {"days": 31}),
    Step("recommend", "costs.recommend", _recommend_line),
    # Shape: Terraform imports the estate (it exists already: nothing is created), then a
    # class bump.
    Step("adopt", "shape.reconcile", _plan_line, DEMO_ACTOR_ARGS),
    Step("bump", "demo.bump", _bump_line),
    Step("reconcile", "shape.reconcile", _plan_line, DEMO_ACTOR_ARGS),
    Step("approve", "demo.approve", _approve_line),
    # Feed: a sample layer through landing → working → exposure.
    Step("sample-layer", "demo.layer", _layer_line),
    # The refine declares two Dask workers: its run (job demo.refine) holds a capacity window.
    Step("capacity", "demo.capacity", _capacity_line),
    Step("ingest", "layers.ingest", _zone_line("ingest"), FEED),
    Step("refine", "layers.refine", _refine_line, FEED),
    Step("publish", "layers.publish", _publish_line, FEED),
)

TERRAFORM_LINE = (
    "Terraform core (embedded) on the stand-in root module in {workdir}: the AWS provider"
    " cannot be downloaded offline, so instances are terraform_data whose provisioners call"
    " the stand-in AWS"
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
    dashboards_dir: Path | None = None
    terraform_dir: Path | None = None
    home: Path | None = None


def run_demo(
    settings: Settings,
    *,
    seconds: float = 4.0,
    keep_running: bool = False,
    report_path: Path | None = None,
    screenshot_path: Path | None = None,
    write_dashboards: Callable[[Path], list[str]] | None = None,
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
        write_dashboards: writes the dashboards' JSON into a directory, returning the files it
            changed (``dashboards.grafana.build.write``: given by the CLI, the composition root).
        say: progress lines.

    Raises:
        DemoError: moto is not installed, or a step failed.
        ReportError: the report cannot be written, or (with a screenshot) rendered cleanly.
    """
    from infra.cli.run import failure_line
    from infra.demo.tasks import plugin
    from infra.jobs import Registry
    from infra.jobs.runner import Runner, utcnow

    out = DemoReport()
    url, out.own_cluster = demo_database_url(settings)
    out.database_url = url
    _step(out, say, "database", ("its own local PostgreSQL" if out.own_cluster
                                  else "LOCXIA_DATABASE_URL") + f": {redact_url(url)}")  # fmt: skip
    with connect(url, application_name="locxia:demo") as conn:
        upgraded = upgrade_database(conn)
        conn.execute(DEMO_SCHEDULES)
        conn.commit()
    _step(out, say, "migrate", f"{len(upgraded.applied)} migration(s) applied")
    home = out.home = demo_home(settings)
    registry = Registry.from_entry_points(extra=[plugin])
    with (
        motoserver.running(home / "moto.log") as aws,
        gaps.serving(aws.endpoint) as front,
        fake_credentials(),
        standin_terraform(home / "terraform", front.endpoint) as workdir,
    ):
        out.aws_endpoint, out.aws_pid, out.terraform_dir = front.endpoint, aws.pid, workdir
        _step(out, say, "aws", f"moto server (pid {aws.pid}) behind {front.endpoint} as AWS")
        _step(out, say, "terraform", TERRAFORM_LINE.format(workdir=workdir))
        live = demo_settings(settings, url, front.endpoint, workdir)
        runner = Runner(live, registry)
        start = history_start(utcnow())
        history = Runner(live, registry, now=lambda: start)
        try:
            for step in STEPS:
                by = history if step.at_history_start else runner
                result = by.run(step.task, step.args, job_id=f"demo.{step.name}")
                if result.status != "success":
                    raise DemoError(failure_line(step.task, result, job_id=f"demo.{step.name}"))
                _step(out, say, step.name, step.describe(result.details))
        finally:
            runner.close()
            history.close()
        started = _now(url)
        _serve(live, registry, seconds=seconds)
        out.runs = _runs_since(url, started)
        total = sum(int(r[2]) for r in out.runs)
        _step(out, say, "serve", f"service ran {seconds:.0f}s: {total} run(s) recorded")
        out.report_path = _write_report(url, report_path or home / "report.html")
        _step(out, say, "report", f"wrote {out.report_path}")
        if write_dashboards is not None:
            out.dashboards_dir = home / "dashboards"
            changed = write_dashboards(out.dashboards_dir)
            done = f"{len(changed)} file(s) written" if changed else "up to date"
            _step(
                out, say, "dashboards", f"Grafana dashboards JSON in {out.dashboards_dir}: {done}"
            )
        if screenshot_path is not None:
            from dashboards.report import screenshot

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
    from dashboards.report import make_report

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
