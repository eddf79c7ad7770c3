"""The **Layers** dashboard: what the feed holds in each zone, how fresh it is, what failed.

Every panel reads a view of migration 0044: ``datasets`` (one row per dataset: furthest zone,
versions per zone, live version, age, stale and why), ``dataset_versions`` (every version in
every zone; since 0061 also the step that rejected it and why), ``quality_checks`` (one row
per rule of each refine outcome) and ``layer_extents`` (live layers with their extent in
EPSG:4326). ``$dataset`` narrows every panel.

The map is Grafana's geomap with a markers layer at the centre of each published extent
(location mode ``coords``: Grafana 11 draws no polygon from query data), sized by row count and
red when the dataset is stale; the extent's corners are in the tooltip.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, dashboard, geomap, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardRegexMapOptions,
    DynamicConfigValue,
    FieldColorModeId,
    RegexMap,
    ValueMap,
    ValueMappingResult,
)
from grafana_foundation_sdk.models.geomap import TooltipMode

from dashboards.grafana.common import (
    base_dashboard,
    datasource,
    default_bars,
    default_stat,
    default_table,
    default_timeseries,
    query_variable,
    sql,
    thresholds,
)

UID = "locxia-layers"
TITLE = "Locxia / Layers"

_SELECTED = "dataset IN ($dataset)"
#: Green when fresh, red when stale: the same colours as the map's markers.
_FRESHNESS_MAPPINGS = [
    ValueMap(options={"fresh": ValueMappingResult(color="green", index=0)}),
    RegexMap(
        options=DashboardRegexMapOptions(
            pattern="^stale.*", result=ValueMappingResult(color="red", index=1)
        )
    ),
]


def _freshness_cells(panel: table.Panel, column: str) -> table.Panel:
    """Colour the background of ``column``'s cells: green when fresh, red when stale."""
    background = DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"})
    mappings = DynamicConfigValue(id_val="mappings", value=_FRESHNESS_MAPPINGS)
    return panel.override_by_name(column, [background, mappings])


# --- datasets ----------------------------------------------------------------------------------
def zones_stat() -> stat.Panel:
    """How many datasets have something in each zone."""
    return (
        default_stat()
        .title("Datasets by zone")
        .description(
            "Datasets with a version in landing, in working, and live in exposure "
            "(reporting.datasets)."
        )
        .span(12)
        .reduce_options(common_builder.ReduceDataOptions().values(True).calcs([]))
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .color_mode(common.BigValueColorMode.NONE)
        .decimals(0)
        .with_target(
            sql(
                f"""
                SELECT z.zone, count(d.dataset) AS datasets
                  FROM (VALUES (1, 'landing'), (2, 'working'), (3, 'exposure')) AS z (n, zone)
                  LEFT JOIN reporting.datasets d
                    ON {_SELECTED} AND CASE z.zone
                           WHEN 'landing' THEN d.landing_versions > 0
                           WHEN 'working' THEN d.working_versions > 0
                           ELSE d.live_version_id IS NOT NULL
                       END
                 GROUP BY z.n, z.zone
                 ORDER BY z.n
                """
            )
        )
    )


def stale_stat() -> stat.Panel:
    """How many datasets are stale now."""
    return (
        default_stat()
        .title("Stale datasets")
        .description(
            "Nothing published, a newer landed version not live (rejected or waiting), or the "
            "last scheduled feed failed (reporting.datasets)."
        )
        .decimals(0)
        .thresholds(thresholds((None, "green"), (1, "red")))
        .with_target(
            sql(
                f"""
                SELECT count(*) FILTER (WHERE stale) AS stale_datasets
                  FROM reporting.datasets
                 WHERE {_SELECTED}
                """
            )
        )
    )


def quality_failures_stat() -> stat.Panel:
    """How many refines were rejected in the range."""
    return (
        default_stat()
        .title("Rejected refines")
        .description(
            "Landing versions rejected by a quality rule in the time range "
            "(reporting.quality_checks)."
        )
        .decimals(0)
        .thresholds(thresholds((None, "green"), (1, "orange")))
        .with_target(
            sql(
                f"""
                SELECT count(DISTINCT version_id) AS rejected
                  FROM reporting.quality_checks
                 WHERE NOT passed AND $__timeFilter(time) AND {_SELECTED}
                """
            )
        )
    )


def freshness_table() -> table.Panel:
    """How old each live layer is, and which datasets are stale (and why)."""
    panel = (
        default_table()
        .title("Freshness")
        .description(
            "Per dataset: furthest zone, live version, when it was published and its age, "
            "last landed version, last scheduled feed, and why it is stale (reporting.datasets)."
        )
        .with_target(
            sql(
                f"""
                SELECT dataset, zone, live_version_id, published_at, age_seconds, live_rows,
                       last_landed_at, rejected_versions, schedule, last_feed_status,
                       CASE WHEN stale THEN 'stale: ' || stale_reason ELSE 'fresh' END
                           AS freshness
                  FROM reporting.datasets
                 WHERE {_SELECTED}
                 ORDER BY stale DESC, age_seconds DESC NULLS FIRST, dataset
                """
            )
        )
    )
    panel = _freshness_cells(panel, "freshness")
    return panel.override_by_name("age_seconds", [DynamicConfigValue(id_val="unit", value="s")])


def versions_barchart() -> barchart.Panel:
    """How many versions each dataset has in each zone."""
    return (
        barchart.Panel()
        .datasource(datasource())
        .title("Versions per dataset")
        .description(
            "Versions kept in landing, working and exposure, and landing versions rejected "
            "(reporting.datasets)."
        )
        .height(8)
        .span(12)
        .x_field("dataset")
        .stacking(common.StackingMode.NONE)
        .show_value(common.VisibilityMode.AUTO)
        .decimals(0)
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .with_target(
            sql(
                f"""
                SELECT dataset, landing_versions AS landing, working_versions AS working,
                       exposure_versions AS exposure, rejected_versions AS rejected
                  FROM reporting.datasets
                 WHERE {_SELECTED}
                 ORDER BY dataset
                """
            )
        )
    )


def live_rows_barchart() -> barchart.Panel:
    """How many rows each live layer serves."""
    return (
        barchart.Panel()
        .datasource(datasource())
        .title("Rows live per dataset")
        .description("Rows of the published version of each dataset (reporting.datasets).")
        .height(8)
        .span(12)
        .x_field("dataset")
        .orientation(common.VizOrientation.HORIZONTAL)
        .show_value(common.VisibilityMode.ALWAYS)
        .decimals(0)
        .with_target(
            sql(
                f"""
                SELECT dataset, live_rows
                  FROM reporting.datasets
                 WHERE {_SELECTED} AND live_rows IS NOT NULL
                 ORDER BY live_rows DESC, dataset
                """
            )
        )
    )


def published_rows_timeseries() -> timeseries.Panel:
    """How the row count of each dataset changed from one published version to the next."""
    return (
        default_timeseries()
        .title("Rows per published version")
        .description(
            "Rows of every version published to exposure in the range, at its publication "
            "time (reporting.dataset_versions)."
        )
        .unit("short")
        .decimals(0)
        .show_points(common.VisibilityMode.ALWAYS)
        .line_interpolation(common.LineInterpolation.STEP_AFTER)
        .with_target(
            sql(
                f"""
                SELECT created_at AS time, dataset AS metric, rows
                  FROM reporting.dataset_versions
                 WHERE zone = 'exposure' AND $__timeFilter(created_at) AND {_SELECTED}
                 ORDER BY 1, 2
                """,
                "time_series",
            )
        )
    )


def versions_table() -> table.Panel:
    """Which versions were made in the range, in which zone, from which parent."""
    return (
        default_table()
        .title("Versions")
        .description(
            "Versions created in the time range, newest first: zone, status, rows, size, CRS, "
            "geometry types, parent version (reporting.dataset_versions)."
        )
        .with_target(
            sql(
                f"""
                SELECT created_at, dataset, zone, status, version_id, parent_id, rows, bytes,
                       crs, geometry_types, uri
                  FROM reporting.dataset_versions
                 WHERE $__timeFilter(created_at) AND {_SELECTED}
                 ORDER BY created_at DESC, version_id DESC
                """
            )
        )
        .override_by_name("bytes", [DynamicConfigValue(id_val="unit", value="bytes")])
    )


# --- quality -------------------------------------------------------------------------------------
def quality_failures_timeseries() -> timeseries.Panel:
    """When were refines rejected, and for which datasets."""
    return (
        default_bars()
        .title("Quality failures")
        .description(
            "Landing versions rejected by at least one quality rule, per interval and "
            "dataset (reporting.quality_checks)."
        )
        .with_target(
            sql(
                f"""
                SELECT $__timeGroupAlias(time, $__interval), dataset AS metric,
                       count(DISTINCT version_id) AS rejected
                  FROM reporting.quality_checks
                 WHERE NOT passed AND $__timeFilter(time) AND {_SELECTED}
                 GROUP BY 1, 2
                 ORDER BY 1, 2
                """,
                "time_series",
            )
        )
    )


def failed_checks_table() -> table.Panel:
    """Which rule failed on which version, with the detail the refine recorded."""
    return (
        default_table()
        .title("Failed quality checks")
        .description(
            "Every failed rule of the refines in the range: dataset, landing version, rule, "
            "detail, source file (reporting.quality_checks)."
        )
        .span(12)
        .with_target(
            sql(
                f"""
                SELECT time, dataset, version_id, rule, detail, uri
                  FROM reporting.quality_checks
                 WHERE NOT passed AND $__timeFilter(time) AND {_SELECTED}
                 ORDER BY time DESC, version_id DESC, rule
                """
            )
        )
    )


def rejections_table() -> table.Panel:
    """Which versions ingest, refine or publish rejected, with the one-line reason."""
    return (
        default_table()
        .title("Rejected versions")
        .description(
            "Every version rejected in the range, newest first: the step that refused it "
            "(ingest, refine, publish) and the reason the command printed, cause and remedy "
            "(reporting.dataset_versions)."
        )
        .span(12)
        .with_target(
            sql(
                f"""
                SELECT updated_at AS time, dataset, zone, version_id, rejected_by, reason, uri
                  FROM reporting.dataset_versions
                 WHERE status = 'rejected' AND $__timeFilter(updated_at) AND {_SELECTED}
                 ORDER BY updated_at DESC, version_id DESC
                """
            )
        )
    )


# --- map -----------------------------------------------------------------------------------------
def _markers() -> common_builder.MapLayerOptions:
    """One marker per live layer: size by rows, red when stale, the dataset's name as label."""
    style = {
        "color": {"field": "stale", "fixed": "green"},
        "opacity": 0.6,
        "size": {"field": "rows", "fixed": 8, "min": 8, "max": 24},
        "symbol": {"mode": "fixed", "fixed": "img/icons/marker/circle.svg"},
        "symbolAlign": {"horizontal": "center", "vertical": "center"},
        "text": {"mode": "field", "field": "dataset", "fixed": ""},
        "textConfig": {
            "fontSize": 12,
            "offsetX": 0,
            "offsetY": -16,
            "textAlign": "center",
            "textBaseline": "bottom",
        },
    }
    return (
        common_builder.MapLayerOptions()
        .type("markers")
        .name("Published layers")
        .location(
            common_builder.FrameGeometrySource()
            .mode(common.FrameGeometrySourceMode.COORDS)
            .latitude("latitude")
            .longitude("longitude")
        )
        .config({"showLegend": False, "style": style})
        .tooltip(True)
    )


def extents_geomap() -> geomap.Panel:
    """Where the published layers are."""
    return (
        geomap.Panel()
        .datasource(datasource())
        .title("Published layer extents")
        .description(
            "Centre of each live layer's extent (EPSG:4326), sized by rows, red when the "
            "dataset is stale; the tooltip gives the extent's corners (reporting.layer_extents)."
        )
        .height(12)
        .span(12)
        .view(geomap.MapViewConfig().id("fit").lat(46).lon(2).zoom(5).all_layers(True))
        .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(True))
        .basemap(common_builder.MapLayerOptions().type("default").name("Basemap"))
        .layers([_markers()])
        .tooltip(geomap.TooltipOptions().mode(TooltipMode.DETAILS))
        .thresholds(thresholds((None, "green"), (1, "red")))
        .color_scheme(dashboard.FieldColor().mode(FieldColorModeId.THRESHOLDS))
        .with_target(
            sql(
                f"""
                SELECT e.dataset, e.latitude, e.longitude, e.rows, e.version_id,
                       e.published_at, e.geometry_types, e.lon_min, e.lat_min, e.lon_max,
                       e.lat_max, d.stale::integer AS stale
                  FROM reporting.layer_extents e
                  JOIN reporting.datasets d USING (dataset)
                 WHERE e.{_SELECTED}
                 ORDER BY e.dataset
                """
            )
        )
    )


# --- the dashboard -----------------------------------------------------------------------------
def dataset_costs_table() -> table.Panel:
    """What each layer costs a month: every feed run of the dataset."""
    return (
        default_table()
        .title("Cost per layer and month")
        .description(
            "reporting.dataset_costs: every feed run of the dataset (chain, steps, manual runs),"
            " USD = AWS API spend (S3 requests through the zones) + share of host and database."
        )
        .span(12)
        .with_target(
            sql(
                """
                SELECT month, dataset, runs, usd, api_usd, compute_usd, unpriced_runs
                  FROM reporting.dataset_costs
                 WHERE dataset IN ($dataset)
                 ORDER BY month DESC, usd DESC, dataset
                """
            )
        )
    )


def dataset_variable() -> dashboard.QueryVariable:
    """``$dataset``: every dataset declared or seen in a zone."""
    return query_variable("dataset", "Dataset", "SELECT dataset FROM reporting.datasets ORDER BY 1")


def layers_dashboard() -> dashboard.Dashboard:
    """The Layers dashboard, uid ``locxia-layers``."""
    return (
        base_dashboard(
            TITLE,
            UID,
            "Datasets by zone, versions, row counts, freshness and quality failures of the "
            "feed (landing → working → exposure), and a map of the published layers.",
        )
        .with_variable(dataset_variable())
        .with_row(dashboard.Row("Datasets"))
        .with_panel(zones_stat())
        .with_panel(stale_stat())
        .with_panel(quality_failures_stat())
        .with_panel(freshness_table())
        .with_panel(versions_barchart())
        .with_panel(live_rows_barchart())
        .with_panel(published_rows_timeseries())
        .with_panel(extents_geomap())
        .with_panel(versions_table())
        .with_row(dashboard.Row("Quality"))
        .with_panel(quality_failures_timeseries())
        .with_panel(failed_checks_table())
        .with_panel(rejections_table())
        .with_row(dashboard.Row("Cost"))
        .with_panel(dataset_costs_table())
    )
