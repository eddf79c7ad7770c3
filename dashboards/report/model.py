"""What a report is made of: a month, sections, and each section's figures, charts and tables.

A section is one function reading one ``reporting`` view (the same contract the dashboards
read), returning plain values; rendering (HTML, SVG, PNG) is done elsewhere from those values,
so tests can compare the report's figures with the database's without parsing pictures.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql

from infra.errors import InputError

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")

Unit = Literal["count", "percent", "seconds", "usd", "text"]
ChartKind = Literal["stacked_bars", "lines", "sparkline"]


@dataclass(frozen=True)
class Period:
    """A calendar month, in UTC (Cost Explorer's days are UTC days too)."""

    start: date

    def __post_init__(self) -> None:
        if self.start.day != 1:
            raise InputError(f"a period starts on the 1st, got {self.start}", "--month")

    @classmethod
    def parse(cls, text: str, today: date) -> Period:
        """Parse ``YYYY-MM``; refuse months that have not started yet.

        Raises:
            InputError: malformed, out of range, or in the future.
        """
        match = _MONTH.match(text.strip())
        if not match:
            raise InputError(f"{text!r} is not a month: expected YYYY-MM, e.g. 2026-11", "--month")
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12 or not 2000 <= year <= 2100:
            raise InputError(f"{text!r} is not a month between 2000-01 and 2100-12", "--month")
        period = cls(date(year, month, 1))
        if period.start > today:
            raise InputError(f"{text} has not started yet (today is {today})", "--month")
        return period

    @classmethod
    def containing(cls, day: date) -> Period:
        """The month ``day`` falls in."""
        return cls(day.replace(day=1))

    @property
    def end(self) -> date:
        """The first day of the next month (exclusive bound)."""
        days = calendar.monthrange(self.start.year, self.start.month)[1]
        return self.start + timedelta(days=days)

    @property
    def label(self) -> str:
        """``November 2026``."""
        return f"{calendar.month_name[self.start.month]} {self.start.year}"

    @property
    def slug(self) -> str:
        """``2026-11``."""
        return f"{self.start:%Y-%m}"

    def bounds(self) -> tuple[datetime, datetime]:
        """``[start, end)`` as aware UTC datetimes, for timestamp columns."""
        return (
            datetime(self.start.year, self.start.month, 1, tzinfo=UTC),
            datetime(self.end.year, self.end.month, 1, tzinfo=UTC),
        )

    def days(self, until: date | None = None) -> list[date]:
        """Every day of the month, stopping before ``until`` when it falls inside."""
        last = min(self.end, until) if until else self.end
        return [self.start + timedelta(days=i) for i in range(max(0, (last - self.start).days))]


def _check_key(key: str) -> None:
    if not _KEY.match(key):
        raise ValueError(f"invalid key {key!r}: lowercase words separated by dots")


@dataclass(frozen=True)
class Figure:
    """One headline number (or short text) with a stable key tests and readers can find."""

    key: str
    label: str
    value: float | int | str | None
    unit: Unit = "count"

    def __post_init__(self) -> None:
        _check_key(self.key)


@dataclass(frozen=True)
class Table:
    """Rows to show as a table; cells are plain values (dates, numbers, text, None).

    ``units`` gives the unit of some columns (by name) so their cells read as such
    (``$ 1,234.50``); the raw value stays in ``data-value`` either way.
    """

    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    empty: str = "nothing to show"
    units: Mapping[str, Unit] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_key(self.key)
        unknown = set(self.units) - set(self.columns)
        if unknown:
            raise ValueError(f"table {self.key}: units for unknown columns {sorted(unknown)}")
        bad = [i for i, row in enumerate(self.rows) if len(row) != len(self.columns)]
        if bad:
            raise ValueError(f"table {self.key}: row {bad[0]} does not match the columns")


@dataclass(frozen=True)
class Chart:
    """A chart over days: one value per day and series. Rendered to SVG and PNG.

    A value is ``None`` where a series has nothing that day (a line breaks there; a bar is
    not drawn), never a made-up zero. ``sparkline`` is a small line chart, one per resource.
    """

    key: str
    title: str
    kind: ChartKind
    x: tuple[date, ...]
    series: tuple[tuple[str, tuple[float | None, ...]], ...]
    y_label: str
    colors: Mapping[str, str] = field(default_factory=dict)
    unit: Unit = "count"

    def __post_init__(self) -> None:
        _check_key(self.key)
        for name, values in self.series:
            if len(values) != len(self.x):
                raise ValueError(f"chart {self.key}: series {name!r} does not match the days")

    def as_table(self) -> Table:
        """The chart's numbers as a table (shown under the chart, and easy to check)."""
        names = tuple(name for name, _ in self.series)
        rows = tuple(
            (day, *(values[i] for _, values in self.series)) for i, day in enumerate(self.x)
        )
        return Table(
            self.key, self.title, ("day", *names), rows, units=dict.fromkeys(names, self.unit)
        )


@dataclass(frozen=True)
class SectionContent:
    """What a section shows; ``empty`` replaces charts and tables when there is no data."""

    figures: tuple[Figure, ...] = ()
    charts: tuple[Chart, ...] = ()
    tables: tuple[Table, ...] = ()
    empty: str | None = None


@dataclass(frozen=True)
class ReportContext:
    """What a section function receives: a read-only connection, the period, today's date."""

    conn: psycopg.Connection[Any]
    period: Period
    today: date

    def days(self) -> list[date]:
        """The month's days up to today (a current month stops at today): a chart's x axis."""
        return self.period.days(until=self.today + timedelta(days=1))

    def query(
        self, view: str, text: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run ``text`` with ``{view}`` standing for ``reporting.<view>``; rows as dicts.

        ``%(start)s`` and ``%(end)s`` are the period's bounds unless ``params`` says otherwise.
        """
        start, end = self.period.bounds()
        query = sql.SQL(text).format(view=sql.Identifier("reporting", view))
        with self.conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            cur.execute(query, {"start": start, "end": end, **(params or {})})
            return cur.fetchall()


@dataclass(frozen=True)
class Section:
    """One part of the report: a title, the question it answers, the view it reads, its builder.

    Attributes:
        key: stable id (HTML anchor, PNG file names).
        title: heading.
        question: the question the section answers, shown under the heading.
        view: the ``reporting`` view it reads (without the schema).
        build: the function that reads the view and returns the content.
        also_reads: other views it needs, when one alone cannot answer (cost to date is
            Cost Explorer's days plus the estimated hours it has not reported yet).
    """

    key: str
    title: str
    question: str
    view: str
    build: Callable[[ReportContext], SectionContent]
    also_reads: tuple[str, ...] = ()

    @property
    def views(self) -> tuple[str, ...]:
        """Every view the section reads, its main one first."""
        return (self.view, *self.also_reads)

    def __post_init__(self) -> None:
        _check_key(self.key)


@dataclass(frozen=True)
class Report:
    """A built report: period, provenance, and every section with its content."""

    period: Period
    generated_at: datetime
    source: str
    sections: tuple[tuple[Section, SectionContent], ...]

    def charts(self) -> list[tuple[Section, Chart]]:
        """Every chart, with its section, in report order."""
        return [(s, c) for s, content in self.sections for c in content.charts]

    def figures(self) -> dict[str, Figure]:
        """Every figure by key."""
        return {f.key: f for _, content in self.sections for f in content.figures}


def sections_by_key(sections: Sequence[Section]) -> dict[str, Section]:
    """Index sections by key, refusing duplicates."""
    out: dict[str, Section] = {}
    for section in sections:
        if section.key in out:
            raise ValueError(f"two sections with key {section.key!r}")
        out[section.key] = section
    return out
