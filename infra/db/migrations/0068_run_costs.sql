-- 0068 the cost of every run (issue 16): the AWS API spend a run caused and its share of the
-- compute it used, written by the Runner when the run ends (infra/runcost.py), rolled up per
-- job, per dataset and per month, and set against Cost Explorer's monthly cost of the Locxia
-- tag. Meaning of every figure: docs/unit-economics.md.

ALTER TABLE ops.runs
    ADD COLUMN cost_usd numeric(14, 8),
    ADD COLUMN cost_basis jsonb;
COMMENT ON COLUMN ops.runs.cost_usd IS
    'USD the run cost: AWS API spend it caused + its share of the compute it used (what could be priced)';
COMMENT ON COLUMN ops.runs.cost_basis IS
    'How cost_usd was made: api {kind: {count, usd, price, source}}, compute {host, database, seconds, usd}, problems';

-- Which instance a job runs on and which database it loads, declared per job. ``job`` is a job
-- id, or a prefix ending with ``*`` (``layers.*``: every feed job); the longest match wins.
-- A job without a row runs on LOCXIA_RUN_HOST_TYPE and loads LOCXIA_RUN_DATABASE_CLASS.
CREATE TABLE params.job_compute (
    job                text PRIMARY KEY CHECK (job ~ '^[a-z][a-z0-9_.:/-]{0,118}\*?$'),
    host_type          text CHECK (host_type ~ '^[a-z0-9]+[a-z0-9-]*\.[a-z0-9]+$'),
    database_class     text CHECK (database_class ~ '^db\.[a-z0-9-]+\.[a-z0-9]+$'),
    database_engine    text NOT NULL DEFAULT 'postgres' CHECK (database_engine ~ '^[a-z][a-z-]*$'),
    note               text
);
COMMENT ON TABLE params.job_compute IS
    'Instance a job runs on (EC2 type) and database it loads (RDS class), per job id or prefix*';
SELECT params.enable_audit('params.job_compute');

-- One row per run with its cost split into API spend and compute share, and the dataset of
-- a feed run: the task's details name it, else the scheduled chain's job id (layers.<name>,
-- layers.<name>/<step>), else the version it produced.
CREATE VIEW reporting.run_costs AS
SELECT r.id                                                          AS run_id,
       r.job_id,
       r.task,
       r.status,
       r.started_at,
       date_trunc('month', r.started_at AT TIME ZONE 'UTC')::date    AS month,
       coalesce(r.details ->> 'dataset',
                CASE WHEN r.task IN ('core.chain', 'layers.ingest', 'layers.refine',
                                     'layers.publish', 'layers.rollback', 'layers.transfer-url')
                          AND r.job_id <> r.task
                     THEN substring(r.job_id FROM '^layers\.([a-z][a-z0-9_]*)(?:/|$)') END,
                v.dataset)                                           AS dataset,
       r.cost_usd,
       coalesce((r.cost_basis #>> '{api,usd}')::numeric, 0)          AS api_usd,
       coalesce((r.cost_basis #>> '{compute,usd}')::numeric, 0)      AS compute_usd,
       r.cost_basis #>> '{compute,host}'                             AS host_type,
       r.cost_basis #>> '{compute,database}'                         AS database_class,
       coalesce(jsonb_array_length(r.cost_basis -> 'problems'), 0) > 0 AS incomplete,
       r.cost_basis
  FROM ops.runs r
  LEFT JOIN LATERAL (
      SELECT dv.dataset FROM ops.dataset_versions dv
       WHERE dv.id = CASE WHEN r.details ->> 'version_id' ~ '^[0-9]{1,18}$'
                          THEN (r.details ->> 'version_id')::bigint END
  ) v ON true
 WHERE r.status <> 'running';
COMMENT ON VIEW reporting.run_costs IS
    'Every ended run: cost_usd (NULL before 0068 or if not priced), API and compute parts, dataset of feed runs';

-- Per job and month: runs, total, API and compute parts.
CREATE VIEW reporting.job_costs AS
SELECT month, job_id,
       count(*)                                   AS runs,
       count(*) FILTER (WHERE cost_usd IS NULL)   AS unpriced_runs,
       coalesce(sum(cost_usd), 0)                 AS usd,
       sum(api_usd)                               AS api_usd,
       sum(compute_usd)                           AS compute_usd
  FROM reporting.run_costs
 GROUP BY month, job_id;
COMMENT ON VIEW reporting.job_costs IS
    'Cost of each job per month: runs, usd (API + compute), unpriced runs';

-- Per dataset and month: every feed run of the layer (chain, its steps and manual runs; a
-- chain's own compute share excludes the time of its steps, so nothing is counted twice).
CREATE VIEW reporting.dataset_costs AS
SELECT month, dataset,
       count(*)                                   AS runs,
       count(*) FILTER (WHERE cost_usd IS NULL)   AS unpriced_runs,
       coalesce(sum(cost_usd), 0)                 AS usd,
       sum(api_usd)                               AS api_usd,
       sum(compute_usd)                           AS compute_usd
  FROM reporting.run_costs
 WHERE dataset IS NOT NULL
 GROUP BY month, dataset;
COMMENT ON VIEW reporting.dataset_costs IS
    'Cost of each layer per month: every feed run of the dataset, usd (API + compute)';

-- Per month: Cost Explorer's cost of each tag value (the basis it was read on), what runs
-- and priced resources (costs.estimates) explain, and the remainder. Nothing is forced to add
-- up: explained may exceed the CE cost (remainder negative) or fall short of it.
CREATE VIEW reporting.cost_explained AS
WITH ce AS (
    SELECT date_trunc('month', day)::date AS month, tag_key, tag_value,
           min(basis) AS basis, sum(usd) AS ce_usd, bool_or(estimated) AS ce_estimated
      FROM costs.daily
     WHERE tag_value <> ''
     GROUP BY 1, 2, 3
), runs AS (
    SELECT month, sum(cost_usd) AS runs_usd, sum(api_usd) AS api_usd,
           sum(compute_usd) AS compute_usd, count(*) AS runs
      FROM reporting.run_costs GROUP BY month
), resources AS (
    SELECT date_trunc('month', hour AT TIME ZONE 'UTC')::date AS month, sum(usd) AS resources_usd
      FROM costs.estimates GROUP BY 1
)
SELECT ce.month, ce.tag_key, ce.tag_value, ce.basis, ce.ce_usd, ce.ce_estimated,
       coalesce(runs.runs_usd, 0)                                        AS runs_usd,
       coalesce(runs.api_usd, 0)                                         AS api_usd,
       coalesce(runs.compute_usd, 0)                                     AS compute_usd,
       coalesce(resources.resources_usd, 0)                              AS resources_usd,
       coalesce(runs.runs_usd, 0) + coalesce(resources.resources_usd, 0) AS explained_usd,
       CASE WHEN ce.ce_usd > 0
            THEN 100 * (coalesce(runs.runs_usd, 0) + coalesce(resources.resources_usd, 0))
                     / ce.ce_usd END                                     AS explained_percent,
       ce.ce_usd - coalesce(runs.runs_usd, 0) - coalesce(resources.resources_usd, 0)
                                                                         AS remainder_usd
  FROM ce
  LEFT JOIN runs ON runs.month = ce.month
  LEFT JOIN resources ON resources.month = ce.month;
COMMENT ON VIEW reporting.cost_explained IS
    'Per month and tag value: Cost Explorer cost, what runs and resource estimates explain, remainder';

GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO locxia_grafana;
