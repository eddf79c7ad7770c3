"""House defaults shared by every Locxia dashboard: datasource, folder, panel styles, helpers.

A panel function starts from one of the ``default_*`` builders here and adds its title, query
and unit, so every dashboard looks and behaves the same (legend at the bottom, tooltips over
all series, tables filterable). Names that Grafana keys on — the datasource uid, the folder
uid — live here once; the provisioning files and ``locxia dashboards push`` use the same
constants, so a dashboard always finds its datasource.
"""

from __future__ import annotations

import textwrap

from grafana_foundation_sdk.builders import bargauge, dashboard, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from dashboards.grafana.postgres import Format, PostgresQueryBuilder, SqlAnnotationTargetBuilder

#: Grafana's plugin id of its built-in PostgreSQL datasource (``postgres`` before Grafana 10.3).
DATASOURCE_TYPE = "grafana-postgresql-datasource"
DATASOURCE_UID = "locxia-postgres"
DATASOURCE_NAME = "Locxia PostgreSQL"
FOLDER_UID = "locxia"
FOLDER_TITLE = "Locxia"
TAGS = ["locxia"]
#: The Grafana version the JSON is generated for (the SDK build pinned in pyproject.toml).
GRAFANA_VERSION = "11.6"


def datasource() -> DataSourceRef:
    """The Locxia PostgreSQL datasource (read-only role, ``reporting`` views only)."""
    return DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)


def sql(query: str, fmt: Format = "table", ref_id: str = "A") -> PostgresQueryBuilder:
    """A PostgreSQL target from an indented triple-quoted string (dedented, trimmed)."""
    return (
        PostgresQueryBuilder(textwrap.dedent(query).strip())
        .format(fmt)
        .ref_id(ref_id)
        .datasource(datasource())
    )


def thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    """Absolute thresholds; the first step's value is ``None`` (from minus infinity)."""
    return (
        dashboard.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for value, color in steps])
    )


def default_timeseries() -> timeseries.Panel:
    """Lines, legend below as a table of last/max, tooltip over every series."""
    return (
        timeseries.Panel()
        .datasource(datasource())
        .height(8)
        .span(12)
        .line_width(1)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .span_nulls(False)
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(
            common_builder.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )


def default_bars() -> timeseries.Panel:
    """Stacked bars over time: counts per interval (runs, failures, changes)."""
    return (
        default_timeseries()
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(common_builder.StackingConfig().mode(common.StackingMode.NORMAL))
        .unit("short")
        .decimals(0)
    )


def default_stat() -> stat.Panel:
    """One big number: the last value of the query, coloured by thresholds."""
    return (
        stat.Panel()
        .datasource(datasource())
        .height(4)
        .span(6)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]))
        .color_mode(common.BigValueColorMode.VALUE)
        .graph_mode(common.BigValueGraphMode.NONE)
    )


def default_bargauge() -> bargauge.Panel:
    """Horizontal bars, one per row of a table query (a label column and a numeric one)."""
    return (
        bargauge.Panel()
        .datasource(datasource())
        .height(8)
        .span(12)
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .show_unfilled(True)
        .reduce_options(common_builder.ReduceDataOptions().values(True).calcs([]).limit(20))
    )


def default_table() -> table.Panel:
    """A filterable table, rows as the query orders them."""
    return (
        table.Panel()
        .datasource(datasource())
        .height(8)
        .span(24)
        .filterable(True)
        .cell_height(common.TableCellHeight.SM)
    )


def query_variable(name: str, label: str, query: str) -> dashboard.QueryVariable:
    """A multi-value variable from SQL (first column), "All" selected by default."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .query(textwrap.dedent(query).strip())
        .datasource(datasource())
        .current(VariableOption(selected=True, text="All", value="$__all"))
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
    )


def sql_annotation(name: str, query: str, color: str) -> dashboard.AnnotationQuery:
    """Events from SQL (columns ``time``, ``text``, ``tags``) drawn on every time series."""
    return (
        dashboard.AnnotationQuery()
        .name(name)
        .datasource(datasource())
        .enable(True)
        .icon_color(color)
        .target(SqlAnnotationTargetBuilder(textwrap.dedent(query).strip(), datasource()))
    )


def base_dashboard(title: str, uid: str, description: str) -> dashboard.Dashboard:
    """A dashboard with the house settings: tags, shared crosshair, last 7 days, UTC."""
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .time("now-7d", "now")
        .timezone("utc")
        .refresh("1m")
    )
