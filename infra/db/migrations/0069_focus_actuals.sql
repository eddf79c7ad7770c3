-- 0069 observe / costs: actual resource-level costs read from AWS Data Exports (FOCUS 1.2
-- Parquet in S3), used instead of the estimates for the hours a delivery covers (issue 16).
-- Reader: pipelines/observe/costs/dataexports.py; meaning of every table: docs/observe.md
-- ("Actual costs from AWS Data Exports").

-- One row per delivery of a billing period read (or refused): the files it was made of and
-- their fingerprint. The ledger that makes reading idempotent: a period whose files have the
-- fingerprint of its last ingested delivery is not read again; a different fingerprint (a
-- re-delivery) replaces the period's actuals in one transaction.
CREATE TABLE costs.export_deliveries (
    id              bigserial PRIMARY KEY,
    export_uri      text NOT NULL CHECK (export_uri ~ '^s3://'),
    billing_period  date NOT NULL CHECK (extract(day FROM billing_period) = 1),
    fingerprint     text NOT NULL,
    manifest_key    text NOT NULL,
    files           jsonb NOT NULL CHECK (jsonb_typeof(files) = 'array'),
    status          text NOT NULL CHECK (status IN ('ingested', 'refused')),
    error           text,
    basis           text CHECK (basis IN ('BilledCost', 'EffectiveCost')),
    rows_read       integer NOT NULL DEFAULT 0,
    rows_matched    integer NOT NULL DEFAULT 0,
    matched_usd     numeric(14, 6) NOT NULL DEFAULT 0,
    unmatched_usd   numeric(14, 6) NOT NULL DEFAULT 0,
    read_at         timestamptz NOT NULL,
    UNIQUE (export_uri, billing_period, fingerprint),
    CHECK ((status = 'refused') = (error IS NOT NULL))
);
COMMENT ON TABLE costs.export_deliveries IS
    'Data Exports deliveries read: one per (export, billing period, file fingerprint); '
    'ingested, or refused with the reason (not read again until the files change)';

-- Actual cost per resource and hour, from the latest ingested delivery of each billing period.
-- A FOCUS row's cost is spread evenly over the hours of its charge period (hourly exports:
-- one hour; daily exports: 24). usd is the basis column of the delivery (BilledCost for
-- LOCXIA_COST_BASIS=usage, EffectiveCost for net-amortized); the others are kept beside it.
CREATE TABLE costs.actuals (
    export_uri      text NOT NULL,
    billing_period  date NOT NULL,
    resource_id     bigint NOT NULL REFERENCES metrics.resources (id),
    hour            timestamptz NOT NULL CHECK (date_trunc('hour', hour) = hour),
    service         text NOT NULL,
    usd             numeric(14, 6) NOT NULL,
    billed_usd      numeric(14, 6) NOT NULL,
    effective_usd   numeric(14, 6) NOT NULL,
    list_usd        numeric(14, 6) NOT NULL,
    delivery_id     bigint NOT NULL REFERENCES costs.export_deliveries (id),
    PRIMARY KEY (export_uri, billing_period, resource_id, hour, service)
);
CREATE INDEX actuals_resource_hour_idx ON costs.actuals (resource_id, hour);
COMMENT ON TABLE costs.actuals IS
    'Actual cost per resource, hour and service from AWS Data Exports (FOCUS 1.2), Usage charges';

-- Per resource and delivery: the hours the delivery speaks for. A resource the delivery names
-- is covered from the billing period start to the end of its own latest charge period in the
-- delivery: an hour of it without a row cost nothing (a stopped instance's hour). A resource
-- the delivery never names keeps its estimates (its id may be spelled otherwise).
CREATE TABLE costs.actual_coverage (
    export_uri      text NOT NULL,
    billing_period  date NOT NULL,
    resource_id     bigint NOT NULL REFERENCES metrics.resources (id),
    covered_from    timestamptz NOT NULL,
    covered_until   timestamptz NOT NULL CHECK (covered_until >= covered_from),
    PRIMARY KEY (export_uri, billing_period, resource_id)
);
COMMENT ON TABLE costs.actual_coverage IS
    'Hours [covered_from, covered_until) of a resource a Data Exports delivery reports: '
    'the actual (0 without a row) replaces the estimate there';

-- The cost of each resource-hour: actual where a delivery covers it, else the estimate.
CREATE VIEW costs.hourly AS
WITH act AS (
    SELECT resource_id, hour, min(service) AS service, sum(usd) AS usd
      FROM costs.actuals
     GROUP BY resource_id, hour
), joined AS (
    SELECT coalesce(a.resource_id, e.resource_id)   AS resource_id,
           coalesce(a.hour, e.hour)                 AS hour,
           coalesce(e.service, a.service)           AS service,
           e.usd                                    AS estimated_usd,
           a.usd                                    AS actual_usd,
           e.basis                                  AS estimate_basis
      FROM costs.estimates e
      FULL JOIN act a ON a.resource_id = e.resource_id AND a.hour = e.hour
)
SELECT j.resource_id,
       j.hour,
       j.service,
       CASE WHEN k.covered THEN coalesce(j.actual_usd, 0) ELSE j.estimated_usd END AS usd,
       CASE WHEN k.covered THEN 'actual' ELSE 'estimate' END                     AS source,
       j.estimated_usd,
       j.actual_usd,
       j.estimate_basis
  FROM joined j
 CROSS JOIN LATERAL (
     SELECT j.actual_usd IS NOT NULL OR EXISTS (
         SELECT 1 FROM costs.actual_coverage c
          WHERE c.resource_id = j.resource_id
            AND j.hour >= c.covered_from AND j.hour < c.covered_until) AS covered
 ) k;
COMMENT ON VIEW costs.hourly IS
    'Cost per resource and hour: the actual (Data Exports) where covered, else the estimate; '
    'source actual/estimate, both figures beside it';

-- The dashboards' and the report's per-resource hourly cost now says which figures are
-- actual: usd is the actual where a delivery covers the hour, source says which.
CREATE OR REPLACE VIEW reporting.resource_costs AS
SELECT h.hour                                                   AS time,
       r.name                                                   AS resource,
       r.resource_id,
       r.type,
       h.service,
       h.usd::numeric(12, 6)                                    AS usd,
       CASE WHEN h.source = 'actual'
            THEN 'actual: AWS Data Exports (FOCUS 1.2)'
            ELSE h.estimate_basis END                           AS basis,
       h.source = 'estimate'
           AND (c.covered_until IS NULL OR h.hour >= c.covered_until) AS uncovered,
       c.covered_until,
       h.source,
       h.estimated_usd
  FROM costs.hourly h
  JOIN metrics.resources r ON r.id = h.resource_id
 CROSS JOIN costs.coverage c;
COMMENT ON VIEW reporting.resource_costs IS
    'Cost per resource and hour: actual (AWS Data Exports) where covered, else estimated '
    '(source); uncovered = an estimated hour not in Cost Explorer yet';

-- What the Data Exports reader last did per billing period (the Costs dashboard, the report).
CREATE VIEW reporting.export_deliveries AS
SELECT DISTINCT ON (export_uri, billing_period)
       export_uri, billing_period, status, error, basis, rows_read, rows_matched,
       matched_usd, unmatched_usd, read_at
  FROM costs.export_deliveries
 ORDER BY export_uri, billing_period, read_at DESC, id DESC;
COMMENT ON VIEW reporting.export_deliveries IS
    'Latest Data Exports delivery read per billing period: status, rows, matched/unmatched USD';

GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO locxia_grafana;
