-- 0072 a budget for observing itself: a monthly cap on Locxia's own AWS API spend, and the
-- collection cadence step it decides (pipelines/observe/metrics/cap.py).
--
-- The API spend of a run is what it recorded as details ->> 'estimated_cost_usd' in ops.runs
-- (GetMetricData metrics requested, Cost Explorer requests...). When the month-end forecast of
-- that spend at full cadence would pass the target (a share of the cap), collection steps
-- down: idle cadence for every policy (no busy cadence), then the idle cadence multiplied,
-- until the forecast fits. The step is decided from complete UTC days only, so it changes at
-- most once a day; it is recorded here and read by the planner and the collector.

CREATE TABLE params.monitoring_budget (
    name            text PRIMARY KEY CHECK (name = 'default'),
    monthly_usd     numeric(12, 4) NOT NULL CHECK (monthly_usd > 0),
    target_percent  integer NOT NULL DEFAULT 90 CHECK (target_percent BETWEEN 10 AND 100),
    max_multiplier  integer NOT NULL DEFAULT 24 CHECK (max_multiplier BETWEEN 1 AND 96),
    enabled         boolean NOT NULL DEFAULT true,
    note            text
);
COMMENT ON TABLE params.monitoring_budget IS
    'Monthly cap on Locxia''s own AWS API spend (one row, name = default); collection steps '
    'down when the month-end forecast passes target_percent of it';
SELECT params.enable_audit('params.monitoring_budget');

-- One row per month: the latest assessment (recomputed by the metrics.cap job).
CREATE TABLE costs.monitoring_status (
    month             date PRIMARY KEY CHECK (extract(day FROM month) = 1),
    cap_usd           numeric(12, 4),
    target_usd        numeric(12, 4),
    spent_usd         numeric(14, 6) NOT NULL,
    fixed_rate_usd    numeric(14, 6) NOT NULL,
    collect_rate_usd  numeric(14, 6) NOT NULL,
    forecast_usd      numeric(14, 6) NOT NULL,
    planned_usd       numeric(14, 6) NOT NULL,
    level             integer NOT NULL CHECK (level >= 0),
    since             timestamptz NOT NULL,
    reason            text NOT NULL,
    computed_at       timestamptz NOT NULL
);
COMMENT ON TABLE costs.monitoring_status IS
    'Own API spend this month: spent (complete days), daily rates, forecast at full cadence, '
    'forecast at the level chosen; level 0 = full cadence, n >= 1 = idle cadence x n';

-- Every change of level, for the panel and the audit of what the service did on its own.
CREATE TABLE costs.cadence_steps (
    at            timestamptz PRIMARY KEY,
    month         date NOT NULL,
    level         integer NOT NULL CHECK (level >= 0),
    previous      integer NOT NULL CHECK (previous >= 0),
    forecast_usd  numeric(14, 6) NOT NULL,
    planned_usd   numeric(14, 6) NOT NULL,
    cap_usd       numeric(12, 4),
    reason        text NOT NULL
);
COMMENT ON TABLE costs.cadence_steps IS
    'Each change of the collection cadence step decided by the monitoring budget';

CREATE VIEW reporting.monitoring_budget AS
SELECT s.month, s.cap_usd, s.target_usd, s.spent_usd, s.fixed_rate_usd, s.collect_rate_usd,
       s.forecast_usd, s.planned_usd, s.level,
       CASE WHEN s.level = 0 THEN 'full cadence'
            WHEN s.level = 1 THEN 'stepped down: idle cadence'
            ELSE format('stepped down: idle cadence x %s', s.level) END AS cadence,
       s.since, s.reason, s.computed_at
  FROM costs.monitoring_status s;
COMMENT ON VIEW reporting.monitoring_budget IS
    'Own API spend per month against its cap: spent, forecast, and the cadence step in force';

CREATE VIEW reporting.cadence_steps AS
SELECT at, month, previous, level, forecast_usd, planned_usd, cap_usd, reason
  FROM costs.cadence_steps;
COMMENT ON VIEW reporting.cadence_steps IS 'Each step down or up of the collection cadences';

GRANT SELECT ON reporting.monitoring_budget, reporting.cadence_steps TO locxia_grafana;
