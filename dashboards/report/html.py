"""The report as one self-contained HTML file: inline CSS and SVG, no script, no URL.

A Content-Security-Policy forbids every load (styles inline only, images as ``data:``), so
the file opens offline and anything that tried to reach out would show as a browser console
error, which the tests check for. Every figure, table cell and chart value carries its raw
value in ``data-*`` attributes so a reader (or a test) can check it against the database; a
chart's numbers are also under it as a table (accessible, and searchable).
"""

from __future__ import annotations

from datetime import date, datetime
from html import escape
from typing import Any

from dashboards.report.charts import to_svg
from dashboards.report.model import Chart, Figure, Report, Section, SectionContent, Table

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSS = """
:root { color-scheme: light; --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --accent: #1565c0; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 "DejaVu Sans", system-ui, sans-serif; color: var(--ink);
       background: #f5f7fa; }
header { background: #102a43; color: #fff; padding: 24px 40px 16px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 0; color: #bcccdc; }
nav { margin-top: 12px; display: flex; flex-wrap: wrap; gap: 6px 16px; }
nav a { color: #9fb3c8; text-decoration: none; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 24px 40px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin: 18px 0;
          padding: 18px 24px; }
h2 { margin: 0; font-size: 19px; }
.question { margin: 2px 0 12px; color: var(--muted); }
.source { float: right; color: var(--muted); font-size: 12px; }
dl.figures { display: flex; flex-wrap: wrap; gap: 12px; margin: 0 0 12px; }
dl.figures div { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px;
                 min-width: 120px; }
dl.figures dt { color: var(--muted); font-size: 12px; }
dl.figures dd { margin: 0; font-size: 22px; font-weight: bold; }
figure { margin: 12px 0; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { font-weight: bold; margin-bottom: 4px; }
details { margin-top: 4px; color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 13px; }
caption { text-align: left; font-weight: bold; padding: 6px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left;
         vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.empty { color: var(--muted); font-style: italic; }
footer { max-width: 1100px; margin: 0 auto; padding: 0 24px 32px; color: var(--muted);
         font-size: 12px; }
"""


def render(report: Report) -> str:
    """The whole report as an HTML document (string)."""
    sections = "\n".join(_section(s, c) for s, c in report.sections)
    toc = " ".join(f'<a href="#{escape(s.key)}">{escape(s.title)}</a>' for s, _ in report.sections)
    generated = f"{report.generated_at:%Y-%m-%d %H:%M} UTC"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Locxia report — {escape(report.period.label)}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>Locxia report — {escape(report.period.label)}</h1>
<p data-period="{report.period.slug}">Generated {generated} from {escape(report.source)},
built from the <code>reporting</code> views only (the ones Grafana reads).</p>
<nav>{toc}</nav>
</header>
<main>
{sections}
</main>
<footer>Days are UTC days. Made by <code>locxia report</code>; charts are also available as
PNG with <code>--png DIR</code>.</footer>
</body>
</html>
"""


def _section(section: Section, content: SectionContent) -> str:
    parts = [
        f'<section id="{escape(section.key)}" data-section="{escape(section.key)}"'
        f' data-view="reporting.{escape(section.view)}">',
        f'<span class="source">{escape(", ".join(f"reporting.{v}" for v in section.views))}</span>',
        f"<h2>{escape(section.title)}</h2>",
        f'<p class="question">{escape(section.question)}</p>',
    ]
    if content.figures:
        parts.append(
            '<dl class="figures">' + "".join(_figure(f) for f in content.figures) + "</dl>"
        )
    if content.empty:
        parts.append(
            f'<p class="empty" data-empty="{escape(section.key)}">{escape(content.empty)}</p>'
        )
    else:
        parts.extend(_chart(c) for c in content.charts)
        parts.extend(_table(t) for t in content.tables)
    parts.append("</section>")
    return "\n".join(parts)


def _figure(figure: Figure) -> str:
    raw = "" if figure.value is None else str(figure.value)
    return (
        f'<div><dt>{escape(figure.label)}</dt><dd data-figure="{escape(figure.key)}"'
        f' data-value="{escape(raw)}">{escape(format_value(figure.value, figure.unit))}</dd></div>'
    )


def format_value(value: Any, unit: str = "count") -> str:
    """How a value reads in the report: thousands separators, units, dashes for nothing."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float) and unit != "text":
        if unit == "percent":
            return f"{value:.1f} %"
        if unit == "usd":  # cents, unless that would round a small cost away
            return f"$ {value:,.2f}" if value == 0 or abs(value) >= 1 else f"$ {value:.4f}"
        if unit == "seconds":
            return f"{value:,.1f} s"
        return f"{value:,}" if isinstance(value, int) else f"{value:,.3f}".rstrip("0").rstrip(".")
    return str(value)


def _raw(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _table(table: Table, caption: bool = True) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    if not table.rows:
        body = (
            f'<tr><td class="empty" colspan="{len(table.columns)}">{escape(table.empty)}</td></tr>'
        )
    else:
        units = [table.units.get(c, "count") for c in table.columns]
        body = "".join(
            "<tr>" + "".join(_cell(v, u) for v, u in zip(row, units, strict=True)) + "</tr>"
            for row in table.rows
        )
    title = f"<caption>{escape(table.title)}</caption>" if caption else ""
    return (
        f'<table data-table="{escape(table.key)}">{title}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _cell(value: Any, unit: str = "count") -> str:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    css = ' class="num"' if numeric else ""
    shown = escape(format_value(value, unit))
    return f'<td{css} data-value="{escape(_raw(value))}">{shown}</td>'


def _chart(chart: Chart) -> str:
    return (
        f'<figure data-chart="{escape(chart.key)}">'
        f"<figcaption>{escape(chart.title)}</figcaption>{to_svg(chart)}"
        f"<details><summary>Numbers</summary>{_table(chart.as_table(), caption=False)}</details>"
        "</figure>"
    )
