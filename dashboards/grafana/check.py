"""Prove every panel against a database: expand its SQL as Grafana would, run it, judge the rows.

A dashboard that renders "No data" is a broken dashboard, even if its JSON is valid. For each
query of a dashboard (panels, annotations, variables) :func:`check_dashboard` resolves the
variables from their own queries (selecting "All" where offered), expands the macros with
:mod:`dashboards.grafana.macros`, runs the SQL through a :class:`Runner` and applies the requirement
of the panel type in :data:`REQUIREMENTS`: a time series needs a ``time`` column sorted
ascending and a numeric value, a stat a non-null number, every panel at least one row.

:class:`PgRunner` runs each query in a read-only transaction as ``locxia_grafana``, the role
Grafana's datasource uses, so a panel reading anything beyond ``reporting`` fails here first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from dashboards.grafana.build import iter_panels
from dashboards.grafana.macros import (
    ALL,
    Context,
    MacroError,
    TimeRange,
    Variable,
    expand,
    parse_duration,
)

DEFAULT_MAX_DATA_POINTS = 1000  # Grafana sends the panel's width in pixels; ~a full-width panel
GRAFANA_ROLE = "locxia_grafana"
#: The datasource's "Min time interval" (``jsonData.timeInterval``): SQL datasources default to
#: 1m, and the provisioned datasource sets it explicitly.
DATASOURCE_MIN_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class Frame:
    """The result of one query: column names and rows."""

    columns: tuple[str, ...]
    rows: Sequence[tuple[Any, ...]]

    def column(self, name: str) -> list[Any]:
        """Every value of column ``name`` (which must exist)."""
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


class Runner(Protocol):
    """Runs one expanded SQL statement and returns its rows; raises on SQL errors."""

    def __call__(self, sql: str) -> Frame:
        """Run ``sql``."""
        ...


@dataclass(frozen=True)
class Query:
    """One SQL of a dashboard, with what it feeds.

    Attributes:
        dashboard: the dashboard's uid.
        title: the panel title, annotation name or ``$variable``.
        kind: the panel type (``timeseries``, ``stat``...), ``annotation`` or ``variable``.
        ref_id: the query's letter in its panel.
        raw_sql: the SQL as stored in the dashboard.
        format: ``time_series`` or ``table``.
        min_interval: the panel's minimum ``$__interval``, if set.
        max_data_points: the panel's maximum number of points (sets ``$__interval``).
    """

    dashboard: str
    title: str
    kind: str
    ref_id: str
    raw_sql: str
    format: str = "table"
    min_interval: timedelta | None = None
    max_data_points: int = DEFAULT_MAX_DATA_POINTS


@dataclass(frozen=True)
class Outcome:
    """What checking one query found; ``problems`` is empty when the panel holds up."""

    query: Query
    sql: str
    columns: tuple[str, ...] = ()
    rows: int = 0
    problems: tuple[str, ...] = ()
    frame: Frame | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


# --- what each panel type needs ----------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _is_time(value: Any) -> bool:
    return isinstance(value, datetime | date) or _is_number(value)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day).timestamp()
    return float(value)


def _numeric_columns(frame: Frame, exclude: tuple[str, ...] = ()) -> list[str]:
    return [
        name
        for name in frame.columns
        if name not in exclude and any(_is_number(v) for v in frame.column(name))
    ]


def _needs_rows(frame: Frame) -> list[str]:
    return [] if frame.rows else ["returned no rows"]


def _needs_number(frame: Frame) -> list[str]:
    if not frame.rows:
        return ["returned no rows"]
    return [] if _numeric_columns(frame) else ["no numeric value (only NULL or text)"]


def _needs_time_column(frame: Frame) -> list[str]:
    if "time" not in frame.columns:
        return [f"no column named 'time' (columns: {', '.join(frame.columns)})"]
    times = frame.column("time")
    if not all(v is not None and _is_time(v) for v in times):
        return ["column 'time' has NULL or non-time values"]
    return []


def _needs_time_series(frame: Frame) -> list[str]:
    if not frame.rows:
        return ["returned no rows"]
    problems = _needs_time_column(frame)
    if problems:
        return problems
    epochs = [_epoch(v) for v in frame.column("time")]
    if any(b < a for a, b in zip(epochs, epochs[1:], strict=False)):
        problems.append("rows are not sorted by 'time' ascending (Grafana rejects long frames)")
    if not _numeric_columns(frame, exclude=("time", "metric")):
        problems.append("no numeric value column besides 'time'")
    if "metric" in frame.columns and not all(isinstance(v, str) for v in frame.column("metric")):
        problems.append("column 'metric' must be text (the series name)")
    return problems


def _needs_annotation(frame: Frame) -> list[str]:
    if not frame.rows:
        return ["returned no rows"]
    problems = _needs_time_column(frame)
    if "text" not in frame.columns:
        problems.append("no column named 'text'")
    return problems


def _needs_category_and_number(frame: Frame) -> list[str]:
    problems = _needs_number(frame)
    if problems:
        return problems
    if not any(
        all(isinstance(v, str | datetime | date) for v in frame.column(name))
        for name in frame.columns
    ):
        problems.append("no text or time column to label the bars")
    return problems


def _needs_coordinates(frame: Frame) -> list[str]:
    """A geomap in ``coords`` mode: numeric ``latitude``/``longitude`` in range on every row."""
    if not frame.rows:
        return ["returned no rows"]
    problems = []
    for name, limit in (("latitude", 90), ("longitude", 180)):
        if name not in frame.columns:
            problems.append(f"no column named {name!r} (columns: {', '.join(frame.columns)})")
            continue
        values = frame.column(name)
        if not all(_is_number(v) and -limit <= v <= limit for v in values):
            problems.append(f"column {name!r} has NULL or values outside ±{limit} degrees")
    return problems


#: Panel type (or ``annotation``/``variable``) → what its rows must satisfy. A panel type
#: missing here fails the check: declare its needs before shipping it.
REQUIREMENTS: dict[str, Callable[[Frame], list[str]]] = {
    "annotation": _needs_annotation,
    "barchart": _needs_category_and_number,
    "bargauge": _needs_number,
    "gauge": _needs_number,
    "geomap": _needs_coordinates,
    "piechart": _needs_number,
    "stat": _needs_number,
    "table": _needs_rows,
    "timeseries": _needs_time_series,
    "variable": _needs_rows,
}


#: Tables that list exceptions (dashboard uid, panel title): no row is their healthy state
#: (no cost anomaly, collection at full cadence), so "no rows" is not a problem for them here.
#: The seeded week proves each on rows (tests/integration/dashboards: every panel ≥ 1 row).
EXCEPTION_TABLES = frozenset(
    {
        ("locxia-costs", "Cost anomalies · CE basis ${cost_basis}"),
        ("locxia-costs", "Monitoring budget: cadence step"),
    }
)


# --- the queries of a dashboard ----------------------------------------------------------------
def dashboard_queries(board: Mapping[str, Any]) -> Iterator[Query]:
    """Every panel and annotation query of a dashboard's JSON (variables are resolved apart)."""
    uid = str(board.get("uid"))
    for panel in iter_panels(dict(board)):
        if panel.get("type") == "row":
            continue
        interval = panel.get("interval")
        for target in panel.get("targets", []):
            yield Query(
                dashboard=uid,
                title=str(panel.get("title")),
                kind=str(panel.get("type")),
                ref_id=str(target.get("refId", "A")),
                raw_sql=str(target.get("rawSql", "")),
                format=str(target.get("format", "table")),
                min_interval=parse_duration(interval) if interval else None,
                max_data_points=int(panel.get("maxDataPoints") or DEFAULT_MAX_DATA_POINTS),
            )
    for annotation in board.get("annotations", {}).get("list", []):
        target = annotation.get("target") or {}
        if "rawSql" in target and annotation.get("enable", True):
            yield Query(uid, str(annotation.get("name")), "annotation", "Anno", target["rawSql"])


@dataclass
class _Resolution:
    variables: dict[str, Variable] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)


def _current(spec: Mapping[str, Any]) -> tuple[str, ...]:
    value = (spec.get("current") or {}).get("value")
    if value is None or value == "":
        return ()
    return tuple(value) if isinstance(value, list) else (str(value),)


def _select(spec: Mapping[str, Any], options: tuple[str, ...]) -> tuple[str, ...]:
    """What Grafana selects: the saved choice if still offered, else All, else the first."""
    current = _current(spec)
    if current == (ALL,) and spec.get("includeAll"):
        return (ALL,)
    kept = tuple(v for v in current if v in options)
    if kept:
        return kept
    if spec.get("includeAll"):
        return (ALL,)
    return options[:1]


def _options_from_frame(spec: Mapping[str, Any], frame: Frame) -> tuple[str, ...]:
    column = "__value" if "__value" in frame.columns else frame.columns[0]
    values = [str(v) for v in frame.column(column) if v is not None]
    pattern = spec.get("regex")
    if pattern:
        regex = re.compile(pattern.strip("/"))
        matched = (regex.search(v) for v in values)
        values = [m.group(1) if m.groups() else m.group(0) for m in matched if m]
    return tuple(dict.fromkeys(values))


def _custom_options(query: str) -> tuple[str, ...]:
    options = []
    for item in re.split(r"(?<!\\),", query):
        text = item.replace("\\,", ",").strip()
        options.append(text.split(" : ", 1)[1].strip() if " : " in text else text)
    return tuple(o for o in options if o)


def resolve_variables(
    run: Runner, board: Mapping[str, Any], time_range: TimeRange
) -> tuple[dict[str, Variable], list[Outcome]]:
    """Resolve the dashboard's variables in order, running query variables' SQL.

    Returns:
        The variables by name, and one outcome per query variable (no rows = a problem).
    """
    state = _Resolution()
    uid = str(board.get("uid"))
    for spec in board.get("templating", {}).get("list", []):
        name, kind = str(spec.get("name")), str(spec.get("type"))
        raw = spec.get("query", "")
        query_text = str(raw.get("rawSql", raw.get("query", "")) if isinstance(raw, dict) else raw)
        if kind == "datasource":
            continue
        if kind == "query":
            query = Query(uid, f"${name}", "variable", "var", query_text)
            outcome, frame = _run_one(run, query, time_range, state.variables)
            state.outcomes.append(outcome)
            options = _options_from_frame(spec, frame) if frame and frame.columns else ()
        elif kind in ("custom", "interval"):
            options = _custom_options(query_text)
        elif kind in ("constant", "textbox"):
            options = (query_text,)
        else:
            query = Query(uid, f"${name}", "variable", "var", query_text)
            problem = f"variable type {kind!r} is not supported by the check"
            state.outcomes.append(Outcome(query, query_text, problems=(problem,)))
            continue
        state.variables[name] = Variable(
            name=name,
            options=options,
            selected=_select(spec, options) if kind not in ("constant", "textbox") else options,
            multi=bool(spec.get("multi")),
            include_all=bool(spec.get("includeAll")),
            all_value=spec.get("allValue") or None,
        )
    return state.variables, state.outcomes


def _run_one(
    run: Runner, query: Query, time_range: TimeRange, variables: Mapping[str, Variable]
) -> tuple[Outcome, Frame | None]:
    interval = time_range.interval(
        query.max_data_points, query.min_interval or DATASOURCE_MIN_INTERVAL
    )
    try:
        sql = expand(query.raw_sql, Context(time_range, interval, variables))
    except MacroError as exc:
        return Outcome(query, query.raw_sql, problems=(f"cannot expand: {exc}",)), None
    try:
        frame = run(sql)
    except Exception as exc:  # a runner reports database errors; each is this panel's problem
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return Outcome(query, sql, problems=(f"query failed: {first}",)), None
    requirement = REQUIREMENTS.get(query.kind)
    if requirement is None:
        problems = [f"no requirement declared for panel type {query.kind!r}"]
    else:
        problems = requirement(frame)
    if not frame.rows and (query.dashboard, query.title) in EXCEPTION_TABLES:
        problems = []
    outcome = Outcome(query, sql, frame.columns, len(frame.rows), tuple(problems), frame)
    return outcome, frame


def check_dashboard(run: Runner, board: Mapping[str, Any], time_range: TimeRange) -> list[Outcome]:
    """Check every variable, panel query and annotation of one dashboard's JSON."""
    variables, outcomes = resolve_variables(run, board, time_range)
    for query in dashboard_queries(board):
        outcome, _ = _run_one(run, query, time_range, variables)
        outcomes.append(outcome)
    return outcomes


class PgRunner:
    """Runs each query in its own read-only transaction as ``locxia_grafana``.

    Args:
        conn: a psycopg connection whose user may ``SET ROLE locxia_grafana`` (a member of it,
            e.g. Grafana's own login, or the database owner).
        role: the role to run as.
        statement_timeout_ms: a panel slower than this fails (Grafana would time out too).
    """

    def __init__(
        self, conn: Any, role: str = GRAFANA_ROLE, statement_timeout_ms: int = 30_000
    ) -> None:
        self.conn = conn
        self.role = role
        self.statement_timeout_ms = statement_timeout_ms

    def __call__(self, sql: str) -> Frame:
        """Run ``sql``; psycopg errors propagate (the checker records them per panel)."""
        from psycopg import sql as pgsql

        with self.conn.transaction():
            self.conn.execute("SET TRANSACTION READ ONLY")
            self.conn.execute(pgsql.SQL("SET LOCAL ROLE {}").format(pgsql.Identifier(self.role)))
            self.conn.execute(
                "SELECT set_config('statement_timeout', %s, true)",
                (str(self.statement_timeout_ms),),
            )
            cur = self.conn.execute(sql.encode())  # bytes: a literal '%' is not a placeholder
            columns = tuple(c.name for c in cur.description or ())
            rows = cur.fetchall() if cur.description else []
        return Frame(columns, rows)
