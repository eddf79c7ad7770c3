-- 0042 reporting views for the Costs dashboard: Cost Explorer days, hourly estimates, budgets,
-- idle recommendations and what observing itself costs. Contract as in 0040.

-- Cost Explorer's daily cost per service. costs.daily holds one grouping per tag key (the
-- Locxia tag, plus any key a budget names); each grouping adds up to the same total, so one
-- of them (the first key, alphabetically) gives the day's cost without counting it twice.
CREATE VIEW reporting.daily_costs AS
WITH per_key AS (
    SELECT day, service, tag_key,
           sum(usd)                                   AS usd,
           sum(usd) FILTER (WHERE tag_value <> '')   AS tagged_usd,
           bool_or(estimated)                         AS estimated
      FROM costs.daily
     GROUP BY day, service, tag_key
)
SELECT DISTINCT ON (day, service)
       (day::timestamp AT TIME ZONE 'UTC')           AS time,
       day,
       service,
       usd,
       coalesce(tagged_usd, 0)                        AS tagged_usd,
       estimated
  FROM per_key
 ORDER BY day, service, tag_key;
COMMENT ON VIEW reporting.daily_costs IS
    'Cost Explorer per day and service: usd, the part carrying a tag value, estimated = CE may revise it';

-- Hourly cost estimates per resource (uptime x price). uncovered = an hour Cost Explorer has
-- not reported yet (at or after the end of its last complete day, or before any CE read).
CREATE VIEW reporting.resource_costs AS
SELECT e.hour                                                   AS time,
       r.name                                                   AS resource,
       r.resource_id,
       r.type,
       e.service,
       e.usd,
       e.basis,
       c.covered_until IS NULL OR e.hour >= c.covered_until    AS uncovered,
       c.covered_until
  FROM costs.estimates e
  JOIN metrics.resources r ON r.id = e.resource_id
 CROSS JOIN costs.coverage c;
COMMENT ON VIEW reporting.resource_costs IS
    'Estimated cost per resource and hour, with its basis; uncovered = not in Cost Explorer yet';

-- Budgets with their month-to-date spend and month-end forecast (as computed by the costs jobs).
CREATE VIEW reporting.budgets AS
SELECT s.budget,
       b.scope,
       CASE b.scope
           WHEN 'service' THEN b.service
           WHEN 'tag' THEN b.tag_key || '=' || b.tag_value
           ELSE 'all services'
       END                                                      AS applies_to,
       s.month,
       s.budget_usd,
       s.actual_usd,
       s.estimated_usd,
       s.forecast_usd,
       s.run_rate_usd,
       (100 * s.actual_usd / s.budget_usd)::double precision    AS used_percent,
       (100 * s.forecast_usd / s.budget_usd)::double precision  AS forecast_percent,
       b.alert_percent,
       s.status,
       s.computed_at
  FROM costs.budget_status s
  LEFT JOIN params.budgets b ON b.name = s.budget;
COMMENT ON VIEW reporting.budgets IS
    'Per budget and month: spent so far (estimated_usd of it from estimates), run rate per day, '
    'month-end forecast, percentages of the budget, status ok/warning/over';

-- Idle-resource recommendations (open ones have resolved_at NULL).
CREATE VIEW reporting.recommendations AS
SELECT r.name                      AS resource,
       r.resource_id,
       r.type,
       c.kind,
       c.action,
       c.monthly_saving_usd,
       c.resolved_at IS NULL       AS open,
       c.first_seen,
       c.last_seen,
       c.resolved_at,
       c.evidence::text            AS evidence
  FROM costs.recommendations c
  JOIN metrics.resources r ON r.id = c.resource_id;
COMMENT ON VIEW reporting.recommendations IS
    'Idle resources: the action, the monthly saving, open or resolved, and the evidence';

-- What observing costs: each collection run's CloudWatch metrics requested (GetMetricData is
-- billed per metric requested) and each Cost Explorer run's requests, with the estimated USD
-- the run recorded (requests x price) in ops.runs.details.
CREATE VIEW reporting.observation_costs AS
SELECT r.id                                                              AS run_id,
       r.job_id,
       r.task,
       r.status,
       r.started_at,
       CASE WHEN r.details ? 'ce_requests' THEN 'Cost Explorer'
            ELSE 'CloudWatch GetMetricData' END                          AS api,
       coalesce(r.details ->> 'ce_requests', r.details ->> 'metrics_requested')::bigint
                                                                         AS requests,
       coalesce(r.details ->> 'api_calls', r.details ->> 'ce_requests')::bigint AS calls,
       coalesce((r.details ->> 'estimated_cost_usd')::numeric, 0)        AS usd
  FROM ops.runs r
 WHERE jsonb_typeof(r.details) = 'object'
   AND (r.details ? 'metrics_requested' OR r.details ? 'ce_requests');
COMMENT ON VIEW reporting.observation_costs IS
    'Runs that called paid observation APIs: requests (metrics requested or CE requests), calls, usd';

GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO locxia_grafana;
