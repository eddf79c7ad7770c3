from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from dashboards.report.charts import to_svg
from dashboards.report.html import format_value
from dashboards.report.model import Chart, Figure, Period, Table
from infra.errors import InputError

TODAY = date(2026, 11, 25)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-13", "between 2000-01 and 2100-12"),
        ("2026-00", "between 2000-01 and 2100-12"),
        ("1999-12", "between 2000-01 and 2100-12"),
        ("26-11", "expected YYYY-MM"),
        ("2026/11", "expected YYYY-MM"),
        ("november", "expected YYYY-MM"),
        ("2026-12", "has not started yet"),
        ("", "expected YYYY-MM"),
    ],
    ids=["month-13", "month-0", "too-old", "short-year", "slash", "word", "future", "empty"],
)
def test_bad_months_are_refused_with_one_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        Period.parse(text, TODAY)
    assert str(caught.value).startswith("--month: ") and "\n" not in str(caught.value)


def test_a_period_knows_its_bounds_and_days() -> None:
    period = Period.parse("2024-02", TODAY)
    assert (period.start, period.end, period.label, period.slug) == (
        date(2024, 2, 1),
        date(2024, 3, 1),
        "February 2024",
        "2024-02",
    )
    assert period.bounds() == (datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))
    assert len(period.days()) == 29
    assert Period.containing(TODAY).days(until=date(2026, 11, 26))[-1] == TODAY
    assert Period.parse("2026-11", TODAY) == Period.containing(TODAY)


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (None, "count", "–"),
        (1234567, "count", "1,234,567"),
        (0.5, "count", "0.5"),
        (12.0, "count", "12"),
        (99.25, "percent", "99.2 %"),
        (1234.5, "usd", "$ 1,234.50"),
        (0.0034, "usd", "$ 0.0034"),
        (0.0, "usd", "$ 0.00"),
        (3.14159, "seconds", "3.1 s"),
        ("vm:42", "text", "vm:42"),
        (True, "count", "yes"),
        (datetime(2026, 11, 25, 9, 3, 44, tzinfo=UTC), "count", "2026-11-25 09:03"),
        (date(2026, 11, 25), "count", "2026-11-25"),
    ],
    ids=["none", "int", "float", "whole-float", "percent", "usd", "usd-small", "usd-zero",
         "seconds", "text", "bool", "datetime", "date"],
)  # fmt: skip
def test_values_read_well(value: object, unit: str, shown: str) -> None:
    assert format_value(value, unit) == shown


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="invalid key"):
        Figure("Runs Total", "Runs", 1)
    with pytest.raises(ValueError, match="row 0 does not match"):
        Table("t.x", "T", ("a", "b"), ((1,),))
    with pytest.raises(ValueError, match="does not match the days"):
        Chart("c.x", "C", "lines", (TODAY,), (("a", (1.0, 2.0)),), "n")
    with pytest.raises(ValueError, match=r"units for unknown columns \['c'\]"):
        Table("t.x", "T", ("a", "b"), (), units={"c": "usd"})


def _chart(key: str) -> Chart:
    days = tuple(date(2026, 11, d) for d in range(1, 8))
    series = (("success", (1, 2, 3, 4, 5, 6, 7)), ("failed", (0, 1, 0, 0, 2, 0, 0)))
    return Chart(key, "Runs", "stacked_bars", days, series, "runs")  # type: ignore[arg-type]


def test_svg_is_deterministic_and_its_ids_are_namespaced() -> None:
    a, b = to_svg(_chart("runs.per_day")), to_svg(_chart("other.chart"))
    assert a == to_svg(_chart("runs.per_day"))
    assert a.startswith("<svg") and "<?xml" not in a
    ids_a = set(re.findall(r'id="([^"]+)"', a))
    ids_b = set(re.findall(r'id="([^"]+)"', b))
    assert ids_a and all(i.startswith("runs-per_day-") for i in ids_a)
    assert not ids_a & ids_b
    for ref in re.findall(r"url\(#([^)]+)\)", a):
        assert ref in ids_a


def test_chart_numbers_become_a_table() -> None:
    table = _chart("runs.per_day").as_table()
    assert table.columns == ("day", "success", "failed")
    assert table.rows[1] == (date(2026, 11, 2), 2, 1)


def test_a_day_without_a_value_is_a_gap_not_a_zero() -> None:
    days = tuple(date(2026, 11, d) for d in range(1, 5))
    spark = Chart("r.cpu.db", "CPU", "sparkline", days, (("average", (3.0, None, 5.0, None)),),
                  "CPU %", unit="percent")  # fmt: skip
    table = spark.as_table()
    assert table.rows[1] == (days[1], None) and table.units == {"average": "percent"}
    svg = to_svg(spark)
    assert svg.startswith("<svg") and "nan" not in svg.lower()
    bars = Chart("c.day", "Cost", "stacked_bars", days, (("rds", (1.0, None, 2.0, 3.0)),), "USD")
    assert to_svg(bars).startswith("<svg")


def test_units_format_table_cells_and_keep_raw_values() -> None:
    from dashboards.report.html import _table

    html = _table(Table("t.x", "T", ("what", "cost"), (("db", 1234.5),), units={"cost": "usd"}))
    assert '<td class="num" data-value="1234.5">$ 1,234.50</td>' in html
    assert '<td data-value="db">db</td>' in html
