-- 0044 reporting views for the Layers dashboard: datasets by zone, versions, freshness,
-- quality checks and the extents of published layers.
--
-- Same contract as 0040: stable names and columns (documented in docs/dashboards.md), columns
-- added at the end only; the views run with their owner's privileges, so locxia_grafana never
-- reads params.datasets, ops.dataset_versions or the exposure tables themselves.

-- Every version of every dataset in every zone, as the feed recorded it (0030_layers.sql).
CREATE VIEW reporting.dataset_versions AS
SELECT v.id                                         AS version_id,
       v.dataset,
       v.zone,
       v.status,
       v.zone = 'exposure' AND v.status = 'published' AS live,
       v.parent_id,
       v.rows,
       v.bytes,
       v.crs,
       array_to_string(v.geometry_types, ', ')      AS geometry_types,
       v.layer,
       v.uri,
       v.created_at,
       v.updated_at,
       v.run_id
  FROM ops.dataset_versions v;
COMMENT ON VIEW reporting.dataset_versions IS
    'Every dataset version: zone (landing/working/exposure), status, live, rows, bytes, CRS, '
    'geometry types, created/updated';

-- One row per dataset (declared, or seen in a zone) with what is live and how fresh it is.
-- A dataset is stale when nothing of it is live, or when its newest landed version is not the
-- one live (a newer source was rejected by quality, is waiting for refine or publish, or the
-- live table was rolled back), or when the last run of its scheduled feed (job layers.<name>)
-- failed. A scheduled source that did not change lands nothing new (the ingest is a no-op), so
-- age alone does not make a dataset stale; the last feed run says it was checked.
CREATE VIEW reporting.datasets AS
WITH names AS (
    SELECT name AS dataset FROM params.datasets
    UNION
    SELECT DISTINCT dataset FROM ops.dataset_versions
), zones AS (
    SELECT dataset,
           count(*) FILTER (WHERE zone = 'landing')                      AS landing_versions,
           count(*) FILTER (WHERE zone = 'working')                      AS working_versions,
           count(*) FILTER (WHERE zone = 'exposure')                     AS exposure_versions,
           count(*) FILTER (WHERE status = 'rejected')                   AS rejected_versions,
           max(created_at) FILTER (WHERE zone = 'landing')               AS last_landed_at,
           max(created_at) FILTER (WHERE zone = 'working')               AS last_refined_at,
           max(id) FILTER (WHERE zone = 'landing')                       AS newest_landing_id,
           bool_or(zone = 'working' AND status = 'ready')                AS has_working
      FROM ops.dataset_versions
     GROUP BY dataset
), live AS (
    -- exposure -> working -> landing: the landed version the live table was made from
    SELECT e.dataset, e.id, e.rows, e.bytes, e.created_at, w.parent_id AS landing_id
      FROM ops.dataset_versions e
      LEFT JOIN ops.dataset_versions w ON w.id = e.parent_id
     WHERE e.zone = 'exposure' AND e.status = 'published'
), feed AS MATERIALIZED (
    -- the latest top-level run of each dataset's scheduled job; aggregated over the job's own
    -- runs (index on job_id) rather than ORDER BY started_at LIMIT 1, which would walk every
    -- run of every job by time for a dataset whose job rarely or never ran
    SELECT n.dataset,
           (array_agg(r.status ORDER BY r.started_at DESC, r.id DESC))[1]  AS status,
           max(r.started_at)                                               AS started_at
      FROM names n
      JOIN ops.runs r ON r.job_id = 'layers.' || n.dataset AND r.parent_id IS NULL
     GROUP BY n.dataset
), newest AS (
    SELECT v.dataset, v.status FROM ops.dataset_versions v JOIN zones z ON v.id = z.newest_landing_id
), judged AS (
    SELECT n.dataset,
           d.name IS NOT NULL                                            AS declared,
           coalesce(d.enabled, false)                                    AS enabled,
           d.cron                                                        AS schedule,
           CASE
               WHEN l.id IS NOT NULL THEN 'exposure'
               WHEN z.has_working THEN 'working'
               WHEN z.landing_versions > 0 THEN 'landing'
               ELSE 'declared'
           END                                                           AS zone,
           coalesce(z.landing_versions, 0)                               AS landing_versions,
           coalesce(z.working_versions, 0)                               AS working_versions,
           coalesce(z.exposure_versions, 0)                              AS exposure_versions,
           coalesce(z.rejected_versions, 0)                              AS rejected_versions,
           z.last_landed_at,
           z.last_refined_at,
           l.id                                                          AS live_version_id,
           l.created_at                                                  AS published_at,
           l.rows                                                        AS live_rows,
           l.bytes                                                       AS live_bytes,
           extract(epoch FROM now() - l.created_at)::double precision    AS age_seconds,
           f.status                                                      AS last_feed_status,
           f.started_at                                                  AS last_feed_at,
           CASE
               WHEN l.id IS NULL THEN 'nothing published'
               WHEN z.newest_landing_id IS DISTINCT FROM l.landing_id
                   THEN 'newer version in landing (' || nw.status || ')'
               WHEN f.status = 'failed' THEN 'last feed run failed'
           END                                                           AS stale_reason
      FROM names n
      LEFT JOIN params.datasets d ON d.name = n.dataset
      LEFT JOIN zones z ON z.dataset = n.dataset
      LEFT JOIN live l ON l.dataset = n.dataset
      LEFT JOIN feed f ON f.dataset = n.dataset
      LEFT JOIN newest nw ON nw.dataset = n.dataset
)
SELECT dataset, declared, enabled, schedule, zone, landing_versions, working_versions,
       exposure_versions, rejected_versions, last_landed_at, last_refined_at, live_version_id,
       published_at, live_rows, live_bytes, age_seconds, last_feed_status, last_feed_at,
       stale_reason IS NOT NULL AS stale,
       stale_reason
  FROM judged;
COMMENT ON VIEW reporting.datasets IS
    'Per dataset: furthest zone, versions per zone, rejected versions, live version, rows, '
    'published_at, age, last feed run, stale and why';

-- The quality checks of every refine outcome, one row per rule. A landing version carries the
-- report of its last refine: refined (every check passed) or rejected (at least one failed).
-- A file that could not be read at all has no checks: it shows as one failed rule `readable`.
CREATE VIEW reporting.quality_checks AS
SELECT v.updated_at                                                   AS time,
       v.dataset,
       v.id                                                           AS version_id,
       v.status,
       coalesce(c ->> 'rule', 'readable')                             AS rule,
       coalesce((c ->> 'passed')::boolean, v.status <> 'rejected')    AS passed,
       coalesce(c ->> 'detail', v.quality ->> 'error')                AS detail,
       v.uri
  FROM ops.dataset_versions v
  LEFT JOIN LATERAL jsonb_array_elements(
           CASE WHEN jsonb_typeof(v.quality -> 'checks') = 'array'
                THEN v.quality -> 'checks' ELSE '[]'::jsonb END) c ON true
 WHERE v.zone = 'landing' AND v.quality IS NOT NULL;
COMMENT ON VIEW reporting.quality_checks IS
    'Quality checks of each refine (landing versions refined or rejected): rule, passed, detail';

-- Published layers on a map. Grafana's geomap (11.x) places markers from latitude/longitude
-- columns (location mode "coords", or "auto" with these names); it draws no polygon from query
-- data, so the extent's centre is the marker and its corners are columns for the tooltip. The
-- extent itself is also given as WKT (the geomap WKT layer of later Grafana versions) and as
-- GeoJSON for other clients. ops.dataset_versions.extent is already in EPSG:4326.
CREATE VIEW reporting.layer_extents AS
SELECT v.dataset,
       v.id                                                  AS version_id,
       v.created_at                                          AS published_at,
       v.rows,
       array_to_string(v.geometry_types, ', ')               AS geometry_types,
       ST_Y(ST_Centroid(v.extent))                           AS latitude,
       ST_X(ST_Centroid(v.extent))                           AS longitude,
       ST_XMin(v.extent)                                     AS lon_min,
       ST_YMin(v.extent)                                     AS lat_min,
       ST_XMax(v.extent)                                     AS lon_max,
       ST_YMax(v.extent)                                     AS lat_max,
       ST_AsText(v.extent)                                   AS wkt,
       ST_AsGeoJSON(v.extent)                                AS geojson
  FROM ops.dataset_versions v
 WHERE v.zone = 'exposure' AND v.status = 'published' AND v.extent IS NOT NULL;
COMMENT ON VIEW reporting.layer_extents IS
    'Live published layers: extent centre (latitude, longitude, EPSG:4326), corners, WKT, GeoJSON';

GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO locxia_grafana;
