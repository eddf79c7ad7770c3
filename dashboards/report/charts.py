"""Charts as inline SVG (for the HTML) and PNG (for ``--png``), drawn with matplotlib.

matplotlib draws without a display (``Figure`` + its own canvas, no pyplot state), and its SVG
is deterministic here: no date in the metadata, a fixed hash salt per chart, text kept as
text. Several SVGs share one HTML document, so every ``id`` inside a chart's SVG is prefixed
with the chart's key: two charts never reference each other's clip paths.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any, cast

from dashboards.report.model import Chart

WIDTH_IN, HEIGHT_IN = 10.0, 3.2
SPARK_HEIGHT_IN = 1.5  # one per resource: many fit on a page
LEGEND_COLUMNS = 4
LEGEND_CHARS = 120  # characters of legend text a row holds across WIDTH_IN
LEGEND_ROW_IN = 0.2
PNG_DPI = 144
PALETTE = ("#1565c0", "#6a1b9a", "#00838f", "#ef6c00", "#558b2f", "#ad1457", "#4e342e", "#37474f")
_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#e0e0e0",
    "axes.axisbelow": True,
}
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|href="#)([^)"]+)')


def _figure(chart: Chart) -> Any:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    small = chart.kind == "sparkline"
    columns, rows = _legend_grid(chart)
    height = SPARK_HEIGHT_IN if small else HEIGHT_IN + LEGEND_ROW_IN * max(rows - 1, 0)
    fig = Figure(figsize=(WIDTH_IN, height), layout="constrained")
    ax = fig.add_subplot()
    positions = list(range(len(chart.x)))
    bottom = [0.0] * len(chart.x)
    for index, (name, values) in enumerate(chart.series):
        color = chart.colors.get(name, PALETTE[index % len(PALETTE)])
        if chart.kind == "stacked_bars":
            heights = [v or 0.0 for v in values]  # a day without a value has no bar
            ax.bar(positions, heights, bottom=bottom, label=name, color=color, width=0.8)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        else:
            points = [math.nan if v is None else v for v in values]  # a gap, not a zero
            ax.plot(positions, points, label=name, color=color, linewidth=1.2 if small else 1.6)
    ax.set_xticks(positions, [f"{d:%d}" for d in chart.x])
    ax.set_xlim(-0.6, max(len(chart.x), 1) - 0.4)
    if chart.x and not small:
        ax.set_xlabel(f"day of {chart.x[0]:%B %Y} (UTC)")
    ax.set_ylabel(chart.y_label)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=3 if small else "auto", integer=True))
    if small and chart.series:
        ax.legend(loc="upper left", frameon=False, ncols=len(chart.series), fontsize=8)
    elif chart.series:
        # Above the axes, not over them: long names (Cost Explorer's services) would hide bars.
        fig.legend(loc="outside upper left", frameon=False, ncols=columns)
    return fig


def _legend_grid(chart: Chart) -> tuple[int, int]:
    """Columns and rows of the legend: as many columns as the longest name lets fit."""
    if not chart.series:
        return 1, 0
    longest = max(len(name) for name, _ in chart.series)
    columns = max(1, min(LEGEND_COLUMNS, len(chart.series), LEGEND_CHARS // (longest + 8)))
    return columns, -(-len(chart.series) // columns)


def to_svg(chart: Chart) -> str:
    """The chart as an ``<svg>`` element to inline in HTML (ids prefixed by the chart key)."""
    import matplotlib

    with matplotlib.rc_context(cast(Any, {**_RC, "svg.hashsalt": chart.key})):
        buffer = io.StringIO()
        _figure(chart).savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    svg = text[text.index("<svg") :]
    prefix = chart.key.replace(".", "-") + "-"
    svg = _ID.sub(lambda m: f'id="{prefix}{m[1]}"', svg)
    return _REF.sub(lambda m: f"{m[1]}{prefix}{m[2]}", svg)


def to_png(chart: Chart) -> bytes:
    """The chart as PNG bytes."""
    import matplotlib

    with matplotlib.rc_context(cast(Any, _RC)):
        buffer = io.BytesIO()
        _figure(chart).savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return buffer.getvalue()
