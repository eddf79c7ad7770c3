"""Grafana's PostgreSQL macros and template variables, expanded the way Grafana expands them.

A panel's SQL is not runnable as written: Grafana rewrites it in three passes before sending it
to PostgreSQL, and this module repeats them so that panels can be proven against a real
database without a Grafana server:

1. **Template variables** (the frontend): ``$var``, ``${var}``, ``${var:format}``,
   ``[[var]]`` and the built-ins ``$__interval``, ``$__interval_ms``, ``$__range``,
   ``$__from``/``$__to``. A multi-value or "include All" variable becomes a list of quoted
   literals (``'a','b'``), a single-value one its value with quotes doubled; "All" becomes every
   option, or the variable's custom all-value verbatim. Unknown names are left alone.
2. **Global substitutions** (``sqleng.Interpolate``): ``$__interval_ms``, ``$__interval``,
   ``$__unixEpochFrom()``, ``$__unixEpochTo()``.
3. **Macros** (the PostgreSQL macro engine): ``$__time``, ``$__timeEpoch``, ``$__timeFilter``,
   ``$__timeFrom``, ``$__timeTo``, ``$__timeGroup[Alias]``, ``$__unixEpochFilter``,
   ``$__unixEpochNanoFilter/From/To``, ``$__unixEpochGroup[Alias]``; any other ``$__name(...)``
   is an error, as in Grafana.

Times are rendered as Grafana does (RFC 3339 in UTC, millisecond precision of the picker) and
bucket widths with Go's float formatting, so the SQL run here is the SQL Grafana would run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

ALL = "$__all"


class MacroError(ValueError):
    """A macro or variable cannot be expanded (unknown macro, bad interval, bad fill)."""


# --- time ranges and intervals ---------------------------------------------------------------
_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    # Grafana counts calendar months/years back from now; 30/365 days is what a range means
    # for bucketing purposes here.
    "M": timedelta(days=30),
    "y": timedelta(days=365),
}
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w|M|y)$")

# gtime.RoundInterval: (upper bound inclusive, rounded interval), in milliseconds.
_ROUNDING_MS = (
    (10, 1),
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1_500, 1_000),
    (3_500, 2_000),
    (7_500, 5_000),
    (12_500, 10_000),
    (17_500, 15_000),
    (25_000, 20_000),
    (45_000, 30_000),
    (90_000, 60_000),
    (210_000, 120_000),
    (450_000, 300_000),
    (750_000, 600_000),
    (1_050_000, 900_000),
    (1_500_000, 1_200_000),
    (2_700_000, 1_800_000),
    (5_400_000, 3_600_000),
    (9_000_000, 7_200_000),
    (16_200_000, 10_800_000),
    (32_400_000, 21_600_000),
    (86_400_000, 43_200_000),
    (172_800_000, 86_400_000),
    (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000),
    (3_628_800_000 - 1, 2_592_000_000),
)


def parse_duration(text: str) -> timedelta:
    """``"5m"`` → 5 minutes (units ms, s, m, h, d, w, M, y; a bare number is seconds).

    Raises:
        MacroError: not a duration Grafana accepts.
    """
    value = text.strip().strip("'").strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    match = _DURATION.match(value)
    if match is None:
        raise MacroError(f"error parsing interval {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def format_duration(interval: timedelta) -> str:
    """Grafana's short form of an interval (``gtime.FormatInterval``): ``10m``, ``1d``..."""
    ms = int(interval / timedelta(milliseconds=1))
    for unit, size in (("y", 31_536_000_000), ("d", 86_400_000), ("h", 3_600_000)):
        if ms >= size:
            return f"{ms // size}{unit}"
    for unit, size in (("m", 60_000), ("s", 1_000), ("ms", 1)):
        if ms >= size:
            return f"{ms // size}{unit}"
    return "1ms"


def round_interval(interval: timedelta) -> timedelta:
    """Snap a computed interval to Grafana's "nice" steps (``gtime.RoundInterval``)."""
    ms = interval / timedelta(milliseconds=1)
    for bound, rounded in _ROUNDING_MS:
        if ms <= bound:
            return timedelta(milliseconds=rounded)
    return timedelta(milliseconds=31_536_000_000)


@dataclass(frozen=True)
class TimeRange:
    """The dashboard's time picker: ``[start, end]`` in UTC, to the millisecond like Grafana."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise MacroError("time range bounds must be timezone-aware")
        if self.start > self.end:
            raise MacroError(f"time range starts after it ends ({self.start} > {self.end})")
        object.__setattr__(self, "start", _to_ms(self.start))
        object.__setattr__(self, "end", _to_ms(self.end))

    @classmethod
    def last(cls, duration: str | timedelta, now: datetime | None = None) -> TimeRange:
        """``now-<duration>`` to ``now`` (``TimeRange.last("7d")``)."""
        span = parse_duration(duration) if isinstance(duration, str) else duration
        end = now or datetime.now(UTC)
        return cls(end - span, end)

    @classmethod
    def from_grafana(cls, start: str, end: str, now: datetime | None = None) -> TimeRange:
        """A dashboard's ``time`` setting: ``now-7d`` / ``now``.

        Rounded bounds (``now/d``) are not supported.

        Raises:
            MacroError: the bounds are not ``now`` or ``now-<duration>``.
        """
        moment = now or datetime.now(UTC)
        return cls(_relative(start, moment), _relative(end, moment))

    def interval(
        self, max_data_points: int = 1000, min_interval: timedelta | None = None
    ) -> timedelta:
        """``$__interval`` as Grafana computes it.

        The range divided by the panel's points, at least the panel's minimum interval,
        rounded to one of Grafana's steps.
        """
        computed = (self.end - self.start) / max(1, max_data_points)
        if min_interval is not None and computed < min_interval:
            computed = min_interval
        return round_interval(computed)


def _to_ms(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _relative(expr: str, now: datetime) -> datetime:
    text = expr.strip()
    if text == "now":
        return now
    if text.startswith("now-"):
        return now - parse_duration(text[4:])
    raise MacroError(f"time {expr!r}: only 'now' and 'now-<duration>' are supported")


def rfc3339(moment: datetime) -> str:
    """Go's ``time.RFC3339Nano`` in UTC: ``2024-05-01T10:00:00.25Z`` (trailing zeros cut)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def go_float(value: float) -> str:
    """A float as Go's ``%v`` prints it: shortest digits, exponent form from 1e6 or below 1e-4.

    Grafana formats bucket widths with ``%v``, so a 30-day bucket is ``2.592e+06`` seconds.
    """
    dec = Decimal(repr(float(value))).normalize()
    exponent = dec.adjusted()
    if exponent < -4 or exponent >= 6:
        digits = dec.as_tuple().digits
        mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
        sign = "-" if dec < 0 else ""
        return f"{sign}{mantissa}e{exponent:+03d}"
    return format(dec, "f")


# --- template variables ----------------------------------------------------------------------
@dataclass(frozen=True)
class Variable:
    """A dashboard variable with its options and what is selected.

    Attributes:
        name: the variable's name (``job`` for ``$job``).
        options: every value the variable offers (the results of its query).
        selected: the selected values, or ``("$__all",)`` for "All".
        multi: several values may be selected.
        include_all: an "All" option exists.
        all_value: the custom value of "All" (inserted verbatim), if any.
    """

    name: str
    options: tuple[str, ...]
    selected: tuple[str, ...] = (ALL,)
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None

    def values(self) -> list[str]:
        """The values the selection stands for ("All" expanded to every option)."""
        if self.selected == (ALL,):
            return list(self.options)
        return list(self.selected)

    @property
    def is_all(self) -> bool:
        """True when "All" is selected."""
        return self.selected == (ALL,)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _regex_escape(value: str) -> str:
    return re.sub(r"[\\^$*+?.()|{}\[\]/]", lambda m: "\\" + m.group(0), value)


_FORMATS = {
    "csv": lambda vs: ",".join(vs),
    "raw": lambda vs: ",".join(vs),
    "text": lambda vs: " + ".join(vs),
    "pipe": lambda vs: "|".join(vs),
    "sqlstring": lambda vs: ",".join(_quote(v) for v in vs),
    "singlequote": lambda vs: ",".join("'" + v.replace("'", "\\'") + "'" for v in vs),
    "doublequote": lambda vs: ",".join('"' + v.replace('"', '\\"') + '"' for v in vs),
    "regex": lambda vs: (
        _regex_escape(vs[0]) if len(vs) == 1 else "(" + "|".join(map(_regex_escape, vs)) + ")"
    ),
}


def format_variable(var: Variable, fmt: str | None = None) -> str:
    """The text Grafana puts in place of ``var`` in SQL (``SqlDatasource.interpolateVariable``).

    Raises:
        MacroError: an unknown format, or a variable with nothing selected.
    """
    if var.is_all and var.all_value is not None and fmt not in ("text", "percentencode"):
        return var.all_value
    values = var.values()
    if not values:
        raise MacroError(f"variable ${var.name} has no value")
    if fmt is not None:
        formatter = _FORMATS.get(fmt)
        if formatter is None:
            raise MacroError(f"variable ${{{var.name}:{fmt}}}: unsupported format {fmt!r}")
        return str(formatter(values))
    if var.multi or var.include_all:
        return ",".join(_quote(v) for v in values)
    return values[0].replace("'", "''")


# Grafana's variable syntax: $name | [[name(:fmt)?]] | ${name(.path)?(:fmt)?}
_VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}"
)


@dataclass(frozen=True)
class Context:
    """Everything expansion needs: the time range, ``$__interval`` and the variables."""

    time_range: TimeRange
    interval: timedelta
    variables: Mapping[str, Variable] = field(default_factory=dict)

    def builtins(self) -> dict[str, str]:
        """Grafana's global variables that can appear in SQL."""
        span = self.time_range.end - self.time_range.start
        return {
            "__interval": format_duration(self.interval),
            "__interval_ms": str(int(self.interval / timedelta(milliseconds=1))),
            "__range": format_duration(span),
            "__range_s": str(int(span.total_seconds())),
            "__range_ms": str(int(span / timedelta(milliseconds=1))),
            "__from": str(int(self.time_range.start.timestamp() * 1000)),
            "__to": str(int(self.time_range.end.timestamp() * 1000)),
        }


def interpolate_variables(sql: str, ctx: Context) -> str:
    """Pass 1: template variables and global built-ins (what Grafana's frontend does)."""
    builtins = ctx.builtins()

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if name in ctx.variables:
            return format_variable(ctx.variables[name], fmt)
        if name in builtins and fmt is None:
            return builtins[name]
        return match.group(0)

    return _VARIABLE.sub(replace, sql)


# --- macros ----------------------------------------------------------------------------------
_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
_FILL = re.compile(r"^(NULL|previous|-?\d+(\.\d+)?)$")


def _need_column(name: str, args: Sequence[str]) -> str:
    if not args or not args[0]:
        raise MacroError(f"missing time column argument for macro {name}")
    return args[0]


def _group(name: str, args: Sequence[str]) -> timedelta:
    if len(args) < 2:
        raise MacroError(f"macro {name} needs time column and interval and optional fill value")
    interval = parse_duration(args[1])
    if len(args) == 3 and not _FILL.match(args[2]):
        raise MacroError(f"macro {name}: fill value {args[2]!r} is not NULL, previous or a number")
    return interval


def evaluate_macro(name: str, args: Sequence[str], time_range: TimeRange) -> str:
    """One macro of Grafana's PostgreSQL macro engine (``macros.go``), without TimescaleDB.

    Raises:
        MacroError: unknown macro or bad arguments, with Grafana's message.
    """
    start, end = time_range.start, time_range.end
    if name == "__time":
        return f'{_need_column(name, args)} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {_need_column(name, args)}) as "time"'
    if name == "__timeFilter":
        column = _need_column(name, args)
        return f"{column} BETWEEN '{rfc3339(start)}' AND '{rfc3339(end)}'"
    if name == "__timeFrom":
        return f"'{rfc3339(start)}'"
    if name == "__timeTo":
        return f"'{rfc3339(end)}'"
    if name in ("__timeGroup", "__timeGroupAlias"):
        seconds = go_float(_group(name, args).total_seconds())
        expr = f"floor(extract(epoch from {args[0]})/{seconds})*{seconds}"
        return expr + (' AS "time"' if name.endswith("Alias") else "")
    if name == "__unixEpochFilter":
        column = _need_column(name, args)
        return f"{column} >= {int(start.timestamp())} AND {column} <= {int(end.timestamp())}"
    if name == "__unixEpochNanoFilter":
        column = _need_column(name, args)
        return f"{column} >= {_nanos(start)} AND {column} <= {_nanos(end)}"
    if name == "__unixEpochNanoFrom":
        return str(_nanos(start))
    if name == "__unixEpochNanoTo":
        return str(_nanos(end))
    if name in ("__unixEpochGroup", "__unixEpochGroupAlias"):
        seconds = go_float(_group(name, args).total_seconds())
        expr = f"floor(({args[0]})/{seconds})*{seconds}"
        return expr + (' AS "time"' if name.endswith("Alias") else "")
    raise MacroError(f"unknown macro {name!r}")


def _nanos(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def interpolate_macros(sql: str, time_range: TimeRange) -> str:
    """Pass 3: the PostgreSQL macro engine (``$__name(args)``)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        # Grafana < 5.3 compatibility: `$__timeGroup(...)` directly followed by a comma is
        # treated as `$__timeGroupAlias` (Grafana checks the first occurrence of the text).
        if name == "__timeGroup":
            index = sql.find(match.group(0)) + len(match.group(0))
            if index < len(sql) and sql[index] == ",":
                name = "__timeGroupAlias"
        args = [arg.strip() for arg in match.group(2).split(",")]
        return evaluate_macro(name, args, time_range)

    return _MACRO.sub(replace, sql)


def expand(sql: str, ctx: Context) -> str:
    """Everything Grafana does to a panel's SQL before PostgreSQL sees it.

    Raises:
        MacroError: a macro or variable cannot be expanded.
    """
    text = interpolate_variables(sql, ctx)
    builtins = ctx.builtins()
    text = text.replace("$__interval_ms", builtins["__interval_ms"])
    text = text.replace("$__interval", builtins["__interval"])
    text = text.replace("$__unixEpochFrom()", str(int(ctx.time_range.start.timestamp())))
    text = text.replace("$__unixEpochTo()", str(int(ctx.time_range.end.timestamp())))
    return interpolate_macros(text, ctx.time_range)
