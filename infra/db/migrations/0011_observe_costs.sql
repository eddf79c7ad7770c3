-- 0011 observe / costs: Cost Explorer daily costs, per-resource hourly estimates, budgets and
-- their month-end forecast, idle recommendations. Meaning of every table: docs/observe.md.

-- Cost Explorer GetCostAndUsage, DAILY, UnblendedCost, grouped by SERVICE and one tag key.
-- One grouping per tag key: the Locxia tag key always, plus any tag key a budget names.
-- The last N days are re-read and replaced on every run (AWS revises them).
CREATE TABLE costs.daily (
    day          date NOT NULL,
    service      text NOT NULL,
    tag_key      text NOT NULL,
    tag_value    text NOT NULL,
    usd          numeric(14, 6) NOT NULL,
    estimated    boolean NOT NULL,
    fetched_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (day, tag_key, service, tag_value)
);
COMMENT ON TABLE costs.daily IS
    'Cost Explorer daily unblended cost per service and tag value (tag_value '''' = untagged)';

-- Until when Cost Explorer has complete days: hours from here on are covered by estimates.
CREATE VIEW costs.coverage AS
SELECT (max(day) + 1)::timestamp AT TIME ZONE 'UTC' AS covered_until FROM costs.daily;
COMMENT ON VIEW costs.coverage IS
    'End of the last complete day read from Cost Explorer (NULL before the first read)';

-- Estimated cost per resource and hour: uptime x the price catalog. Kept for every hour
-- computed, so per-resource daily cost can be summed from it; the hours CE has not covered
-- yet are those with hour >= costs.coverage.covered_until.
CREATE TABLE costs.estimates (
    resource_id  bigint NOT NULL REFERENCES metrics.resources (id),
    hour         timestamptz NOT NULL,
    service      text NOT NULL,
    usd          numeric(12, 6) NOT NULL CHECK (usd >= 0),
    basis        text NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (resource_id, hour)
);
CREATE INDEX estimates_hour_idx ON costs.estimates (hour);
COMMENT ON TABLE costs.estimates IS
    'Per-resource hourly cost estimate (uptime x price); service uses Cost Explorer''s names';

-- Monthly budgets: for the whole account, one service (Cost Explorer name) or one tag value.
CREATE TABLE params.budgets (
    name           text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    scope          text NOT NULL CHECK (scope IN ('total', 'service', 'tag')),
    service        text,
    tag_key        text CHECK (tag_key ~ '^[\w .:/=+\-@]{1,128}$'),
    tag_value      text,
    monthly_usd    numeric(12, 2) NOT NULL CHECK (monthly_usd > 0),
    alert_percent  integer NOT NULL DEFAULT 80 CHECK (alert_percent BETWEEN 1 AND 1000),
    enabled        boolean NOT NULL DEFAULT true,
    note           text,
    CHECK (scope <> 'total' OR (service IS NULL AND tag_key IS NULL AND tag_value IS NULL)),
    CHECK (scope <> 'service' OR (service IS NOT NULL AND tag_key IS NULL AND tag_value IS NULL)),
    CHECK (scope <> 'tag' OR (service IS NULL AND tag_key IS NOT NULL AND tag_value IS NOT NULL))
);
COMMENT ON TABLE params.budgets IS
    'Monthly USD budgets per account, service or tag value; forecast in costs.budget_status';
SELECT params.enable_audit('params.budgets');

-- Month-to-date and month-end forecast per budget (recomputed by the costs jobs).
CREATE TABLE costs.budget_status (
    budget        text NOT NULL,
    month         date NOT NULL CHECK (extract(day FROM month) = 1),
    budget_usd    numeric(12, 2) NOT NULL,
    actual_usd    numeric(14, 6) NOT NULL,
    estimated_usd numeric(14, 6) NOT NULL,
    forecast_usd  numeric(14, 6) NOT NULL,
    run_rate_usd  numeric(14, 6) NOT NULL,
    status        text NOT NULL CHECK (status IN ('ok', 'warning', 'over')),
    computed_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (budget, month)
);
COMMENT ON TABLE costs.budget_status IS
    'Per budget and month: spent so far (CE + estimates), daily run rate, month-end forecast';
COMMENT ON COLUMN costs.budget_status.actual_usd IS
    'Month to date: Cost Explorer days plus estimates (estimated_usd) for hours CE has not covered';

-- Idle resources and what acting on them would save per month.
CREATE TABLE costs.recommendations (
    resource_id         bigint NOT NULL REFERENCES metrics.resources (id),
    kind                text NOT NULL
                        CHECK (kind IN ('rds-idle', 'ec2-low-cpu', 'ec2-stopped-volumes')),
    action              text NOT NULL,
    monthly_saving_usd  numeric(12, 2) NOT NULL CHECK (monthly_saving_usd >= 0),
    evidence            jsonb NOT NULL DEFAULT '{}',
    first_seen          timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_seen           timestamptz NOT NULL DEFAULT clock_timestamp(),
    resolved_at         timestamptz,
    PRIMARY KEY (resource_id, kind)
);
COMMENT ON TABLE costs.recommendations IS
    'Idle-resource recommendations with the monthly saving; resolved_at set once no longer true';
