"""Collection: for each policy due, queries → window → batches → fetch → store, recorded.

One run handles one policy or all of them. Per policy: the resources it wins (see
:func:`~pipelines.observe.metrics.policies.winner`), minus — on scheduled runs of an
adaptive policy — those not due yet; one query per (resource × metric × statistic); the
queries split by (region, period) — CloudWatch answers for a resource only in the resource's
own region, so each region is read through its own client (``AwsClients.client(region=)``),
one per region per run — each part with one window from its oldest watermark minus the
lookback to now; batches of ≤ 500 queries, each fetched (all its pages) and written in **its
own transaction** together with its watermarks.

A policy that fails (AWS error after retries) is recorded in ``errors`` and the others go on;
the run then fails with the list, so dashboards see it while the data that could be read is
kept. Two collections of the same policy never overlap: a session lock per policy
(:mod:`infra.db.locks`) makes the second one skip it (recorded) instead of racing.

Details recorded in ``ops.runs`` (:class:`CollectResult`; keys dashboards rely on):
``api_calls``, ``metrics_requested``, ``datapoints``, ``estimated_cost_usd``; plus
``aws_retries`` (attempts botocore's retry handler repeated: not calls, not billed again),
``rows_changed``, ``queries``, ``batches``, ``resources``, ``skipped_not_due``, ``policies``,
``errors``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

import psycopg

from infra.aws import AwsClients
from infra.db import locks
from infra.errors import AwsError, InputError, JobError
from infra.names import required_name
from infra.settings import Settings
from pipelines.observe.metrics.batching import Query, batches, build_queries, groups
from pipelines.observe.metrics.fetch import FetchCounters, fetch_pages
from pipelines.observe.metrics.policies import Policy, assign, load_policies, load_resources
from pipelines.observe.metrics.resources import Resource
from pipelines.observe.metrics.store import DatapointStore, watermarks_of
from pipelines.observe.metrics.window import Window, window_for

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient


#: Called after each batch with (policy, batches done, batches in total); set by the CLI.
PROGRESS: ContextVar[Callable[[str, int, int], None] | None] = ContextVar("PROGRESS", default=None)


def policy_lock(policy: str) -> str:
    """The name of the session lock of one policy's collection."""
    return f"collect:{policy}"


class PolicySummary(TypedDict):
    """One policy's part of a collection: ``window`` is ``[start, end]`` (ISO) or None."""

    resources: int
    queries: int
    skipped_not_due: int
    batches: int
    window: list[str] | None


class CollectResult(TypedDict):
    """What ``metrics.collect`` records; ``reporting.observation_costs`` reads the first four."""

    api_calls: int
    aws_retries: int
    metrics_requested: int
    datapoints: int
    estimated_cost_usd: float
    errors: list[str]
    policies: dict[str, PolicySummary]
    queries: int
    batches: int
    resources: int
    rows_changed: int
    skipped_not_due: int


@dataclass(frozen=True)
class PlanPart:
    """The queries of one region and period, and the window they are read over."""

    region: str
    period: int
    queries: list[Query]
    window: Window


@dataclass
class PolicyPlan:
    """What one policy run will do: ``parts`` per (region, period), each with its window."""

    policy: Policy
    resources: list[Resource]
    queries: list[Query]
    parts: list[PlanPart]
    skipped_not_due: int

    @property
    def window(self) -> Window | None:
        """The span of every part's window (None when nothing is due)."""
        if not self.parts:
            return None
        start = min(p.window.start for p in self.parts)
        end = max(p.window.end for p in self.parts)
        return Window(start, end, min(p.period for p in self.parts))


def _empty_result() -> CollectResult:
    return CollectResult(
        api_calls=0,
        aws_retries=0,
        metrics_requested=0,
        datapoints=0,
        estimated_cost_usd=0.0,
        errors=[],
        policies={},
        queries=0,
        batches=0,
        resources=0,
        rows_changed=0,
        skipped_not_due=0,
    )


class Collector:
    """Collects CloudWatch metrics for the policies of the database at ``url``.

    ``details`` is the run's shared details dict: every change to :attr:`result` is copied
    into it at once, so a run that fails half-way still records what it did.
    """

    def __init__(
        self,
        settings: Settings,
        clients: AwsClients,
        conn: psycopg.Connection[Any],
        *,
        now: datetime,
        details: dict[str, Any],
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.conn = conn
        self.now = now
        self.details = details
        self.result = _empty_result()
        self.counters = FetchCounters()
        self._clients: dict[str, CloudWatchClient] = {}
        self._retries_before = clients.retry_count

    def _cloudwatch(self, region: str) -> CloudWatchClient:
        """One client per region (``""``: the settings' region), made on first use."""
        if region not in self._clients:
            self._clients[region] = self.clients.client("cloudwatch", region=region or None)
        return self._clients[region]

    def _record(self) -> None:
        """Counters into :attr:`result`, and the whole result into the shared details."""
        c, r = self.counters, self.result
        r["api_calls"] = c.api_calls
        r["aws_retries"] = self.clients.retry_count - self._retries_before
        r["metrics_requested"] = c.metrics_requested
        r["datapoints"] = c.datapoints
        r["estimated_cost_usd"] = c.estimated_cost_usd
        r["errors"] = list(c.errors)
        self.details.update(r)

    def run(
        self, policy: str | None = None, since: datetime | None = None, scheduled: bool = False
    ) -> CollectResult:
        """Collect one policy (or every enabled one); return the details recorded.

        Raises:
            InputError: ``policy`` is unknown or disabled, or a policy row is invalid.
            JobError: at least one policy failed (the others' data is kept; see ``errors``).
        """
        if policy is not None:
            required_name(policy, "collection policy name", "metrics.collect")
        policies = load_policies(self.conn)
        if policy is not None:
            chosen = [p for p in policies if p.name == policy]
            if not chosen:
                known = ", ".join(p.name for p in policies) or "none"
                raise InputError(f"no enabled collection policy {policy!r} (enabled: {known})")
        else:
            chosen = policies
        owned = assign(policies, load_resources(self.conn))
        self.conn.commit()
        self.result = _empty_result()
        self._record()
        failed: list[str] = []
        for pol in chosen:
            try:
                self._collect_policy(pol, owned[pol.name], since, scheduled)
            except AwsError as exc:
                self.conn.rollback()
                self.counters.errors.append(f"{pol.name}: {exc}")
                failed.append(pol.name)
            self._record()
        if failed:
            raise JobError(f"collection failed for {', '.join(failed)}: {self.counters.errors[-1]}")
        return self.result

    def plan(
        self, policy: Policy, resources: list[Resource], since: datetime | None, scheduled: bool
    ) -> PolicyPlan:
        """Resources due, their queries, and the window to read."""
        all_queries = build_queries(policy, resources)
        marks = watermarks_of(self.conn, all_queries)
        skipped = 0
        if scheduled and policy.busy is not None and since is None:
            due = self._due(policy, resources, all_queries, marks)
            skipped = len(resources) - len(due)
            resources = due
        queries = build_queries(policy, resources)
        parts: list[PlanPart] = []
        for (region, period), part in groups(queries).items():
            window = window_for(
                [marks[q.key][0] if q.key in marks else None for q in part],
                period=period,
                lookback=policy.lookback,
                backfill=policy.backfill,
                now=self.now,
                since=since,
            )
            if window is not None:
                parts.append(PlanPart(region, period, part, window))
        return PolicyPlan(policy, resources, queries, parts, skipped)

    def _due(
        self,
        policy: Policy,
        resources: list[Resource],
        queries: list[Query],
        marks: dict[tuple[int, str, str, int], tuple[datetime, datetime]],
    ) -> list[Resource]:
        """Adaptive cadence: busy resources every ``busy.every_seconds``, idle every ``every``.

        A resource is due when one of its series was never fetched, or when its least
        recently fetched series is older than its interval (less half a tick: ticks jitter).
        """
        assert policy.busy is not None
        busy = self._busy_resources(policy, [r.id for r in resources])
        slack = timedelta(seconds=policy.job_every / 2)
        oldest: dict[int, datetime | None] = {}
        for q in queries:
            fetched = marks[q.key][1] if q.key in marks else None
            seen = oldest.get(q.resource, fetched)
            oldest[q.resource] = None if seen is None or fetched is None else min(seen, fetched)
        due: list[Resource] = []
        for r in resources:
            every = policy.busy.every_seconds if r.id in busy else policy.every
            last = oldest.get(r.id)
            if last is None or self.now - last >= timedelta(seconds=every) - slack:
                due.append(r)
        return due

    def _busy_resources(self, policy: Policy, ids: list[int]) -> set[int]:
        assert policy.busy is not None
        rows = self.conn.execute(
            "SELECT DISTINCT ON (resource_id) resource_id, value FROM metrics.datapoints"
            # period >= the policy's: a basic-monitoring instance is read at 300 s (periods.py)
            " WHERE resource_id = ANY(%s) AND metric = %s AND stat = 'Average' AND period >= %s"
            " AND ts >= %s ORDER BY resource_id, ts DESC",
            (
                ids,
                policy.busy.metric,
                policy.period,
                self.now - timedelta(seconds=3 * max(policy.every, policy.period)),
            ),
        ).fetchall()
        self.conn.commit()
        return {int(r[0]) for r in rows if float(r[1]) > policy.busy.threshold}

    def _collect_policy(
        self, policy: Policy, resources: list[Resource], since: datetime | None, scheduled: bool
    ) -> None:
        plan = self.plan(policy, resources, since, scheduled)
        summary = PolicySummary(
            resources=len(plan.resources),
            queries=len(plan.queries),
            skipped_not_due=plan.skipped_not_due,
            batches=0,
            window=None,
        )
        self.result["policies"][policy.name] = summary
        self.result["skipped_not_due"] += plan.skipped_not_due
        self._record()
        window = plan.window
        if window is None or not plan.queries:
            return
        summary["window"] = [window.start.isoformat(), window.end.isoformat()]
        if not self._try_lock(policy.name):
            self.counters.errors.append(f"{policy.name}: skipped, another collection is running")
            return
        try:
            self._fetch_and_store(plan, summary)
        finally:
            self._unlock(policy.name)

    def _fetch_and_store(self, plan: PolicyPlan, summary: PolicySummary) -> None:
        store = DatapointStore(self.conn)
        chunks = [(part, batch) for part in plan.parts for batch in batches(part.queries)]
        progress = PROGRESS.get()
        for done, (part, batch) in enumerate(chunks, start=1):
            window = part.window
            with self.conn.transaction():
                store.begin(window.start, window.end)
                for series in fetch_pages(
                    self._cloudwatch(part.region),
                    batch,
                    plan.policy.namespace,
                    window,
                    self.counters,
                ):
                    store.stage(series)
                changed = store.merge()
                store.advance(batch, window.end, plan.policy.name, self.now)
            summary["batches"] = done
            self.result["batches"] += 1
            self.result["rows_changed"] += changed
            self._record()
            if progress is not None:
                progress(plan.policy.name, done, len(chunks))
        self.result["queries"] += len(plan.queries)
        self.result["resources"] += len(plan.resources)
        self._record()

    def _try_lock(self, policy: str) -> bool:
        self.conn.commit()
        return locks.try_lock(self.conn, policy_lock(policy))

    def _unlock(self, policy: str) -> None:
        self.conn.rollback()
        locks.unlock(self.conn, policy_lock(policy))
