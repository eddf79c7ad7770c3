"""Grafana's SQL expansion, case by case against what Grafana's PostgreSQL engine produces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboards.grafana.macros import (
    Context,
    MacroError,
    TimeRange,
    Variable,
    expand,
    format_duration,
    format_variable,
    go_float,
    parse_duration,
    round_interval,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
RANGE = TimeRange(NOW - timedelta(hours=6), NOW)
CTX = Context(RANGE, timedelta(minutes=5))

MACROS = [
    ("$__time(ts)", 'ts AS "time"'),
    ("$__timeEpoch(ts)", 'extract(epoch from ts) as "time"'),
    ("$__timeFilter(ts)", "ts BETWEEN '2026-03-01T06:00:00.25Z' AND '2026-03-01T12:00:00.25Z'"),
    ("$__timeFrom()", "'2026-03-01T06:00:00.25Z'"),
    ("$__timeTo()", "'2026-03-01T12:00:00.25Z'"),
    ("$__timeGroup(ts, '1h')", "floor(extract(epoch from ts)/3600)*3600"),
    ("$__timeGroupAlias(ts, 5m)", 'floor(extract(epoch from ts)/300)*300 AS "time"'),
    ("$__timeGroup(ts, '1h', 0)", "floor(extract(epoch from ts)/3600)*3600"),
    ("$__timeGroup(ts,'30d'),", 'floor(extract(epoch from ts)/2.592e+06)*2.592e+06 AS "time",'),
    ("$__timeGroupAlias(ts, $__interval)", 'floor(extract(epoch from ts)/300)*300 AS "time"'),
    ("$__unixEpochFilter(t)", "t >= 1772344800 AND t <= 1772366400"),
    ("$__unixEpochFrom() $__unixEpochTo()", "1772344800 1772366400"),
    ("$__unixEpochNanoFrom()", "1772344800250000000"),
    ("$__unixEpochGroupAlias(t, '1m')", 'floor((t)/60)*60 AS "time"'),
    ("$__interval $__interval_ms", "5m 300000"),
]


@pytest.mark.parametrize(("sql", "expected"), MACROS, ids=[m[0] for m in MACROS])
def test_macros_expand_like_grafana(sql: str, expected: str) -> None:
    assert expand(sql, CTX) == expected


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("$__nope(x)", "unknown macro '__nope'"),
        ("$__timeFilter()", "missing time column argument for macro __timeFilter"),
        ("$__timeGroup(ts)", "needs time column and interval"),
        ("$__timeGroup(ts, 'soon')", "error parsing interval"),
        ("$__timeGroup(ts, '1h', maybe)", "fill value 'maybe'"),
    ],
)
def test_bad_macros_are_errors(sql: str, message: str) -> None:
    with pytest.raises(MacroError, match=message):
        expand(sql, CTX)


JOBS = Variable("job", ("a", "o'k"), multi=True, include_all=True)
SINGLE = Variable("zone", ("landing", "it's"), selected=("it's",))
VARIABLES = [
    (JOBS, None, "'a','o''k'"),
    (Variable("job", ("a", "b"), selected=("b",), multi=True), None, "'b'"),
    (SINGLE, None, "it''s"),
    (Variable("job", ("a", "b"), include_all=True, all_value="%"), None, "%"),
    (JOBS, "csv", "a,o'k"),
    (JOBS, "sqlstring", "'a','o''k'"),
    (JOBS, "singlequote", "'a','o\\'k'"),
    (JOBS, "doublequote", '"a","o\'k"'),
    (JOBS, "pipe", "a|o'k"),
    (JOBS, "regex", "(a|o'k)"),
    (SINGLE, "raw", "it's"),
]


@pytest.mark.parametrize(
    ("var", "fmt", "expected"), VARIABLES, ids=[f"{v.name}-{f}-{e}" for v, f, e in VARIABLES]
)
def test_variables_format_like_grafanas_sql_datasources(
    var: Variable, fmt: str | None, expected: str
) -> None:
    assert format_variable(var, fmt) == expected


def test_variable_syntaxes_and_unknown_names() -> None:
    ctx = Context(RANGE, timedelta(minutes=5), {"job": JOBS})
    sql = "x IN ($job) AND y IN (${job}) AND z = '${job:csv}' AND w IN ([[job]]) AND $other"
    assert expand(sql, ctx) == (
        "x IN ('a','o''k') AND y IN ('a','o''k') AND z = 'a,o'k' AND w IN ('a','o''k') AND $other"
    )
    with pytest.raises(MacroError, match="unsupported format"):
        expand("${job:nonsense}", ctx)
    with pytest.raises(MacroError, match="has no value"):
        expand("$job", Context(RANGE, timedelta(minutes=5), {"job": Variable("job", ())}))


@pytest.mark.parametrize(
    ("span", "interval"),
    [("5m", "200ms"), ("1h", "5s"), ("6h", "20s"), ("24h", "1m"), ("7d", "10m"), ("30d", "30m")],
)
def test_interval_follows_grafanas_rounding(span: str, interval: str) -> None:
    assert format_duration(TimeRange.last(span, NOW).interval(1000)) == interval


def test_min_interval_and_rounding_edges() -> None:
    assert TimeRange.last("1h", NOW).interval(1000, timedelta(minutes=1)) == timedelta(minutes=1)
    assert round_interval(timedelta(seconds=45)) == timedelta(seconds=30)
    assert round_interval(timedelta(days=400)) == timedelta(days=365)
    assert parse_duration("'15m'") == timedelta(minutes=15) and parse_duration("90") == timedelta(
        seconds=90
    )
    assert [go_float(x) for x in (0.5, 3600, 604800, 1e6)] == ["0.5", "3600", "604800", "1e+06"]


def test_time_ranges() -> None:
    assert TimeRange.from_grafana("now-7d", "now", NOW) == TimeRange(NOW - timedelta(days=7), NOW)
    with pytest.raises(MacroError, match="only 'now'"):
        TimeRange.from_grafana("now/d", "now", NOW)
    with pytest.raises(MacroError, match="starts after it ends"):
        TimeRange(NOW, NOW - timedelta(seconds=1))
    with pytest.raises(MacroError, match="timezone-aware"):
        TimeRange(datetime(2026, 1, 1), datetime(2026, 1, 2))
