"""The ``observe`` scheduler plugin: its tasks, and the jobs it derives from the params tables.

Jobs (ids prefixed ``observe.``; any of them can be re-timed or disabled with a row of the
same id in ``params.schedules``):

* ``observe.collect.<policy>`` — one per enabled collection policy, every ``every_seconds``
  (or ``busy_every_seconds`` when faster: the job wakes at the busy cadence and skips idle
  resources not due yet). Editing a policy row re-plans within a second (NOTIFY).
* ``observe.cap`` — hourly: the monitoring budget (``params.monitoring_budget``) decides the
  cadence step the collection jobs run at (:mod:`.metrics.cap`); a step changes their
  intervals here, through :func:`load_policies`.
* ``observe.discover`` — hourly.
* ``observe.streams`` — every 5 minutes, only when ``LOCXIA_METRIC_STREAMS_URI`` is set.
* ``observe.costs`` — daily at 07:00 UTC (Cost Explorer is refreshed about daily and each
  request costs 0.01 USD); ``observe.estimate`` — hourly (free: no AWS call);
  ``observe.recommend`` — daily; ``observe.retention`` — daily.
* ``observe.exports`` — every 6 hours, only when ``LOCXIA_FOCUS_EXPORT_URI`` is set: AWS Data
  Exports FOCUS 1.2 deliveries into ``costs.actuals`` (an unchanged delivery is not read again).
* ``observe.anomalies`` — daily at 07:20 UTC, after ``observe.costs`` has read yesterday's
  Cost Explorer day: cost anomalies per service and resource (no AWS call).
"""

from __future__ import annotations

from collections.abc import Iterator

from infra.jobs.model import Arg, ArgSchema, JobSpec, PlanContext, Plugin, Task, TriggerSpec
from pipelines.observe.metrics.cap import describe
from pipelines.observe.metrics.policies import load_policies, step_in_force

OWNER = "observe"

#: What ``params.schedules`` may do with observe's tasks: re-time them, and collect one
#: policy by name. ``since`` and ``force`` (wider, costlier reads) and Cost Explorer's
#: ``days`` (0.01 USD per request) stay with people running the CLI.
NO_ARGS = ArgSchema()
POLICY = ArgSchema({"policy": Arg("string", pattern=r"^[a-z][a-z0-9_-]{0,62}$")})


def provide(ctx: PlanContext) -> Iterator[JobSpec]:
    """Every observe job wanted now.

    Raises:
        InputError: a collection policy row is invalid (the plan keeps the previous jobs).
    """
    policies = load_policies(ctx.conn)
    level = step_in_force(ctx.conn)
    ctx.conn.rollback()
    for p in policies:
        cadence = f"every {p.every}s" + (
            f", {p.busy.every_seconds}s when {p.busy.metric} > {p.busy.threshold:g}"
            if p.busy
            else ""
        )
        if level:
            cadence += f"; {describe(level)} by the monitoring budget"
        yield JobSpec(
            f"{OWNER}.collect.{p.name}",
            "metrics.collect",
            TriggerSpec.every(p.job_every),
            {"policy": p.name},
            owner=OWNER,
            description=f"collect {p.resource_type} metrics ({cadence})",
        )
    yield JobSpec(
        f"{OWNER}.cap",
        "metrics.cap",
        TriggerSpec.every(3600),
        owner=OWNER,
        description="own API spend against its monthly cap: step cadences down or up",
    )
    yield JobSpec(
        f"{OWNER}.discover",
        "metrics.discover",
        TriggerSpec.every(3600),
        owner=OWNER,
        description="discover tagged resources",
    )
    if ctx.settings.metric_streams_uri:
        yield JobSpec(
            f"{OWNER}.streams",
            "metrics.streams",
            TriggerSpec.every(300),
            owner=OWNER,
            description="ingest Metric Streams files",
        )
    daily = [
        ("costs", "costs.explorer", "0 7 * * *", "read Cost Explorer, estimate, forecast"),
        ("anomalies", "costs.anomalies", "20 7 * * *", "cost anomalies per service, resource"),
        ("recommend", "costs.recommend", "30 7 * * *", "idle-resource recommendations"),
        ("retention", "metrics.retention", "15 3 * * *", "drop expired datapoint partitions"),
    ]
    for name, task, cron, text in daily:
        yield JobSpec(
            f"{OWNER}.{name}", task, TriggerSpec.crontab(cron), owner=OWNER, description=text
        )
    if ctx.settings.focus_export_uri:
        # AWS refreshes a Data Exports export up to several times a day; the ledger makes an
        # unchanged delivery cost one listing, no GetObject
        yield JobSpec(
            f"{OWNER}.exports",
            "costs.exports",
            TriggerSpec.crontab("40 */6 * * *"),
            owner=OWNER,
            description="read AWS Data Exports FOCUS 1.2 actual costs",
        )
    yield JobSpec(
        f"{OWNER}.estimate",
        "costs.estimate",
        TriggerSpec.every(3600),
        owner=OWNER,
        description="estimate uncovered hours, budget forecasts",
    )


plugin = Plugin(
    name=OWNER,
    tasks=(
        Task(
            "metrics.discover",
            "pipelines.observe.metrics.tasks:discover",
            "discover tagged resources",
            schedulable=NO_ARGS,
        ),
        Task(
            "metrics.collect",
            "pipelines.observe.metrics.tasks:collect",
            "collect CloudWatch metrics",
            schedulable=POLICY,
        ),
        Task(
            "metrics.cap",
            "pipelines.observe.metrics.tasks:cap",
            "own API spend against its monthly cap",
            schedulable=NO_ARGS,
        ),
        Task(
            "metrics.streams",
            "pipelines.observe.metrics.tasks:streams",
            "ingest Metric Streams files",
            schedulable=NO_ARGS,
        ),
        Task(
            "metrics.retention",
            "pipelines.observe.metrics.tasks:retention",
            "drop old datapoints",
            schedulable=NO_ARGS,
        ),
        Task(
            "costs.explorer",
            "pipelines.observe.costs.tasks:explorer",
            "read Cost Explorer daily costs",
            schedulable=NO_ARGS,
        ),
        Task(
            "costs.backfill",
            "pipelines.observe.costs.tasks:backfill",
            "request AWS's cost allocation tag backfill",
        ),
        Task(
            "costs.estimate",
            "pipelines.observe.costs.tasks:estimate",
            "estimate uncovered hours",
            schedulable=NO_ARGS,
        ),
        Task(
            "costs.exports",
            "pipelines.observe.costs.tasks:exports",
            "read AWS Data Exports FOCUS actual costs",
            schedulable=NO_ARGS,
        ),
        Task(
            "costs.anomalies",
            "pipelines.observe.costs.tasks:anomalies",
            "cost anomalies per service and resource",
            schedulable=NO_ARGS,
        ),
        Task(
            "costs.recommend",
            "pipelines.observe.costs.tasks:recommend",
            "idle recommendations",
            schedulable=NO_ARGS,
        ),
        Task(
            "costs.prices",
            "pipelines.observe.costs.tasks:prices",
            "refresh prices (Price List API)",
            schedulable=NO_ARGS,
        ),
    ),
    provide=provide,
)
