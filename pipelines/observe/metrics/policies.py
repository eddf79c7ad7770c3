"""Collection policies: rows of ``params.collection_policies`` parsed into frozen values.

A policy says which metrics and statistics to read for one resource type, at which period,
how far back to re-read (lookback) and how often (cadence). A resource is collected by the
**most specific** enabled policy of its type whose ``match_tags`` it carries: most tags wins,
then the policy name in alphabetical order — so ``ec2-ingestion`` (``task=ingestion``) takes an
EC2 instance in a heavy job away from ``ec2-default``. One policy owns a resource whole, so the
statistics may differ per metric (``metric_stats``: metric name → statistics, overriding
``stats`` for that metric): counts are read as ``Sum`` and gauges as ``Average``/``Maximum``
by the same policy, and the "most specific match wins" rule stays one decision per resource.
Periods AWS never serves for its namespaces are refused (:mod:`.periods`).

Rows are validated here (as well as by CHECKs in the table), and every error names the row
and column: ``params.collection_policies[rds-default].stats: 'Avg' is not a statistic``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg

from infra.errors import InputError
from pipelines.observe.metrics.periods import period_problem
from pipelines.observe.metrics.resources import DIMENSIONS, Resource, ResourceType

#: GetMetricData: 0.01 USD per 1,000 metrics requested (billed per metric, not per call).
USD_PER_METRIC = 0.01 / 1000

_STAT = re.compile(r"^(SampleCount|Average|Sum|Minimum|Maximum|p\d{1,2}(\.\d{1,2})?|p100)$")
_METRIC = re.compile(r"^([A-Za-z0-9_.:/#-]{1,255})(\{([^{}]*)\})?$")
_DIM = re.compile(r"^([A-Za-z0-9_.:/#-]{1,255})=([^,={}]{1,1024})$")
_COLUMNS = (
    "name, resource_type, namespace, metrics, stats, period_seconds, lookback_seconds,"
    " backfill_seconds, every_seconds, match_tags, busy_metric, busy_threshold,"
    " busy_every_seconds, enabled, metric_stats"
)


@dataclass(frozen=True)
class MetricSpec:
    """One metric of a policy, with constant extra dimensions (canonical order: sorted)."""

    name: str
    dimensions: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str, where: str) -> MetricSpec:
        """``"CPUUtilization"`` or ``"BucketSizeBytes{StorageType=StandardStorage}"``.

        Raises:
            InputError: malformed text.
        """
        match = _METRIC.match(text.strip())
        if match is None:
            raise InputError(f"{text!r} is not a metric (Name or Name{{Dim=Value}})", where)
        dims: list[tuple[str, str]] = []
        for item in filter(None, (match.group(3) or "").split(",")):
            dim = _DIM.match(item.strip())
            if dim is None:
                raise InputError(f"{text!r}: {item!r} is not Dim=Value", where)
            dims.append((dim.group(1), dim.group(2)))
        return cls(match.group(1), tuple(sorted(dims)))


@dataclass(frozen=True)
class Busy:
    """Adaptive cadence: above ``threshold`` (latest Average of ``metric``) sample faster."""

    metric: str
    threshold: float
    every_seconds: int


@dataclass(frozen=True)
class Policy:
    """A validated collection policy."""

    name: str
    resource_type: ResourceType
    namespace: str
    metrics: tuple[MetricSpec, ...]
    stats: tuple[str, ...]
    period: int
    lookback: int
    backfill: int
    every: int
    match_tags: tuple[tuple[str, str], ...] = ()
    busy: Busy | None = None
    enabled: bool = True
    metric_stats: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        where = f"params.collection_policies[{self.name}]"
        if self.resource_type not in DIMENSIONS:
            raise InputError(f"unknown resource type {self.resource_type!r}", f"{where}.type")
        _check_stats(self.stats, f"{where}.stats")
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise InputError("a metric is listed twice", f"{where}.metrics")
        for metric, stats in self.metric_stats:
            if metric not in names:
                raise InputError(
                    f"{metric!r} is not one of the policy's metrics", f"{where}.metric_stats"
                )
            _check_stats(stats, f"{where}.metric_stats[{metric}]")
        if self.period not in (1, 5, 10, 30) and (self.period % 60 or self.period > 86400):
            raise InputError(f"{self.period} is not a CloudWatch period", f"{where}.period")
        problem = period_problem(self.namespace, names, self.period)
        if problem is not None:
            raise InputError(problem, f"{where}.period_seconds")
        if self.busy is not None and self.busy.metric not in names:
            raise InputError(
                f"busy_metric {self.busy.metric!r} is not one of the policy's metrics",
                f"{where}.busy_metric",
            )
        if self.busy is not None and "Average" not in self.stats_for(self.busy.metric):
            raise InputError(
                f"adaptive cadence needs the Average statistic of {self.busy.metric}",
                f"{where}.stats",
            )

    def stats_for(self, metric: str) -> tuple[str, ...]:
        """The statistics read for ``metric``: its own (``metric_stats``) or the policy's."""
        return dict(self.metric_stats).get(metric, self.stats)

    @property
    def job_every(self) -> int:
        """How often the job wakes up: the faster of the two cadences."""
        return min(self.every, self.busy.every_seconds) if self.busy else self.every

    @property
    def queries_per_resource(self) -> int:
        """GetMetricData queries (= metrics requested, the billing unit) per resource."""
        return sum(len(self.stats_for(m.name)) for m in self.metrics)

    def stepped(self, level: int) -> Policy:
        """This policy at cadence step ``level`` (decided by the monitoring budget, cap.py).

        Level 0 is the policy as configured. Level n >= 1 drops the busy cadence and collects
        every resource at the idle cadence multiplied by n: the job wakes n times less often
        and each run reads the longer window since the watermarks, so no point is lost while
        GetMetricData, billed per metric requested and not per datapoint, costs n times less.
        """
        if level <= 0:
            return self
        return replace(self, every=self.every * level, busy=None)

    def matches(self, resource: Resource) -> bool:
        """True when the policy applies to ``resource`` (type and every match tag)."""
        return resource.type == self.resource_type and all(
            resource.tags.get(k) == v for k, v in self.match_tags
        )

    def monthly_api_usd(self, resources: int) -> float:
        """Estimated GetMetricData cost per month at the idle cadence (30 days)."""
        runs = 30 * 86400 / self.every
        return runs * resources * self.queries_per_resource * USD_PER_METRIC

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Policy:
        """Build from a ``params.collection_policies`` row (dict by column).

        Raises:
            InputError: a column is invalid, naming the row and column.
        """
        name = str(row["name"])
        where = f"params.collection_policies[{name}]"
        tags = row["match_tags"] or {}
        if isinstance(tags, str):
            tags = json.loads(tags)
        busy = None
        if row["busy_metric"] is not None:
            busy = Busy(
                str(row["busy_metric"]),
                float(row["busy_threshold"]),
                int(row["busy_every_seconds"]),
            )
        return cls(
            name=name,
            resource_type=row["resource_type"],
            namespace=str(row["namespace"]),
            metrics=tuple(MetricSpec.parse(m, f"{where}.metrics") for m in row["metrics"]),
            stats=tuple(row["stats"]),
            period=int(row["period_seconds"]),
            lookback=int(row["lookback_seconds"]),
            backfill=int(row["backfill_seconds"]),
            every=int(row["every_seconds"]),
            match_tags=tuple(sorted((str(k), str(v)) for k, v in tags.items())),
            busy=busy,
            enabled=bool(row["enabled"]),
            metric_stats=_metric_stats(row.get("metric_stats"), f"{where}.metric_stats"),
        )


def _check_stats(stats: Sequence[str], where: str) -> None:
    for stat in stats:
        if not _STAT.match(stat):
            raise InputError(f"{stat!r} is not a statistic", where)
    if not stats:
        raise InputError("no statistic", where)
    if len(set(stats)) != len(stats):
        raise InputError("a statistic is listed twice", where)


def _metric_stats(raw: Any, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``{"NetworkIn": ["Sum"]}`` (jsonb) → sorted pairs.

    Raises:
        InputError: not an object of string arrays.
    """
    if isinstance(raw, str):
        raw = json.loads(raw)
    if not raw:
        return ()
    if not isinstance(raw, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in raw.values()
    ):
        raise InputError('expected {"Metric": ["Stat", ...], ...}', where)
    return tuple(sorted((str(k), tuple(v)) for k, v in raw.items()))


def load_policies(
    conn: psycopg.Connection[Any], *, enabled_only: bool = True, configured: bool = False
) -> list[Policy]:
    """Every policy, validated, ordered by name, at the cadence step in force.

    This is the one place a cadence step applies: the planner (job intervals) and the
    collector (which resources are due) both load policies here. ``configured`` returns the
    rows as written, without the step (what the monitoring budget's forecast models).

    Raises:
        InputError: a row is invalid (the first one found, named).
    """
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(f"SELECT {_COLUMNS} FROM params.collection_policies ORDER BY name")
        policies = [Policy.from_row(r) for r in rows.fetchall()]
    level = 0 if configured else step_in_force(conn)
    return [p.stepped(level) for p in policies if p.enabled or not enabled_only]


def step_in_force(conn: psycopg.Connection[Any]) -> int:
    """The cadence step of the latest monitoring-budget assessment (0: full cadence)."""
    row = conn.execute(
        "SELECT level FROM costs.monitoring_status ORDER BY month DESC LIMIT 1"
    ).fetchone()
    return int(row[0]) if row else 0


def winner(policies: Sequence[Policy], resource: Resource) -> Policy | None:
    """The most specific enabled policy for ``resource`` (most tags, then name), or None."""
    candidates = [p for p in policies if p.enabled and p.matches(resource)]
    if not candidates:
        return None
    return min(candidates, key=lambda p: (-len(p.match_tags), p.name))


def assign(policies: Sequence[Policy], resources: Iterable[Resource]) -> dict[str, list[Resource]]:
    """Resources per policy name (every policy present, possibly with an empty list)."""
    out: dict[str, list[Resource]] = {p.name: [] for p in policies}
    for resource in resources:
        chosen = winner(policies, resource)
        if chosen is not None:
            out[chosen.name].append(resource)
    return out


def load_resources(conn: psycopg.Connection[Any]) -> list[Resource]:
    """Tagged resources that still exist, ordered by id."""
    rows = conn.execute(
        "SELECT id, arn, type, resource_id, name, region, tags, state, attributes"
        " FROM metrics.resources WHERE tagged AND gone_at IS NULL ORDER BY id"
    ).fetchall()
    return [Resource(*row) for row in rows]
