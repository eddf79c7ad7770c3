-- 0040 reporting views for the Orchestrator dashboard.
--
-- Grafana reads `reporting` and nothing else (role locxia_grafana): these views are the
-- contract between the database and the dashboards. Their names and columns are stable and
-- documented in docs/dashboards.md; add columns at the end, never rename or drop one without
-- updating the panels that read it. The views run with their owner's privileges, so
-- locxia_grafana needs no access to ops, params or costs themselves.

-- One row per run (scheduled, manual, chain step, service re-plan), as recorded by the Runner.
CREATE VIEW reporting.job_runs AS
SELECT r.id                                 AS run_id,
       r.job_id,
       r.task,
       r.trigger,
       r.status,
       r.scheduled_at,
       r.started_at,
       r.ended_at,
       extract(epoch FROM r.ended_at - r.started_at)::double precision AS duration_seconds,
       r.parent_id IS NOT NULL              AS is_step,
       left(r.error, 500)                   AS error,
       r.host
  FROM ops.runs r;
COMMENT ON VIEW reporting.job_runs IS
    'Every run: job, task, trigger, status, start/end, duration (NULL while running), one-line error';

-- One row per job (chain steps excluded): its latest run and its latest success, so a job that
-- silently stopped succeeding shows up even when it still runs.
CREATE VIEW reporting.job_status AS
WITH top AS (
    SELECT * FROM ops.runs WHERE parent_id IS NULL
), latest AS (
    SELECT DISTINCT ON (job_id) job_id, task, status, started_at, ended_at, error
      FROM top ORDER BY job_id, started_at DESC, id DESC
), totals AS (
    SELECT job_id,
           count(*)                                            AS runs,
           count(*) FILTER (WHERE status = 'failed')           AS failures,
           max(started_at) FILTER (WHERE status = 'success')   AS last_success_at,
           max(started_at) FILTER (WHERE status = 'failed')    AS last_failure_at
      FROM top GROUP BY job_id
)
SELECT l.job_id,
       l.task,
       l.status                                                AS last_status,
       l.started_at                                            AS last_started_at,
       l.ended_at                                              AS last_ended_at,
       left(l.error, 500)                                      AS last_error,
       t.last_success_at,
       t.last_failure_at,
       extract(epoch FROM now() - t.last_success_at)::double precision AS seconds_since_success,
       t.runs,
       t.failures
  FROM latest l JOIN totals t USING (job_id);
COMMENT ON VIEW reporting.job_status IS
    'Per job: last run (status, error), last success and failure, runs and failures kept';

-- Every `locxia serve` seen, with the age of its heartbeat (a leader beats every 5 s).
CREATE VIEW reporting.services AS
SELECT s.id                                                   AS service_id,
       s.host,
       s.pid,
       s.version,
       s.role,
       s.started_at,
       s.heartbeat_at,
       extract(epoch FROM now() - s.heartbeat_at)::double precision AS heartbeat_age_seconds,
       s.role <> 'stopped' AND s.heartbeat_at > now() - interval '30 seconds' AS alive
  FROM ops.services s;
COMMENT ON VIEW reporting.services IS
    'Services: role (leader/standby/stopped), heartbeat and its age, alive = beat in the last 30 s';

-- Re-plans that changed the schedule (recorded by the service as runs of `service.plan`).
CREATE VIEW reporting.schedule_changes AS
SELECT r.started_at                                              AS planned_at,
       r.status,
       coalesce(jsonb_array_length(r.details -> 'added'), 0)    AS jobs_added,
       coalesce(jsonb_array_length(r.details -> 'replaced'), 0) AS jobs_replaced,
       coalesce(jsonb_array_length(r.details -> 'removed'), 0)  AS jobs_removed,
       coalesce((r.details ->> 'kept')::integer, 0)             AS jobs_kept,
       concat_ws('; ',
           'added ' || nullif(array_to_string(ARRAY(
               SELECT jsonb_array_elements_text(r.details -> 'added') ORDER BY 1), ', '), ''),
           'replaced ' || nullif(array_to_string(ARRAY(
               SELECT jsonb_array_elements_text(r.details -> 'replaced') ORDER BY 1), ', '), ''),
           'removed ' || nullif(array_to_string(ARRAY(
               SELECT jsonb_array_elements_text(r.details -> 'removed') ORDER BY 1), ', '), '')
       )                                                         AS summary,
       left(r.error, 500)                                        AS error
  FROM ops.runs r
 WHERE r.task = 'service.plan' AND jsonb_typeof(r.details) = 'object';
COMMENT ON VIEW reporting.schedule_changes IS
    'Re-plans that changed the schedule: jobs added/replaced/removed and which';

-- The parameter audit (params.history) as "what changed": the changed fields of an UPDATE with
-- old → new values, so a dashboard can explain why the platform moved.
CREATE VIEW reporting.parameter_changes AS
SELECT h.id                                        AS change_id,
       h.changed_at,
       h.table_name,
       h.op,
       h.row_key,
       h.changed_by,
       h.application,
       CASE h.op
           WHEN 'INSERT' THEN 'created'
           WHEN 'DELETE' THEN 'deleted'
           ELSE coalesce((
               SELECT string_agg(k || ': ' || coalesce(h.old_row ->> k, 'null') || ' → '
                                 || coalesce(h.new_row ->> k, 'null'), ', ' ORDER BY k)
                 FROM jsonb_object_keys(h.old_row || h.new_row) k
                WHERE (h.old_row -> k) IS DISTINCT FROM (h.new_row -> k)), 'no field changed')
       END                                         AS summary
  FROM params.history h;
COMMENT ON VIEW reporting.parameter_changes IS
    'Audited parameter changes: when, table, row, who, and a summary of fields old → new';

-- Where the schema stands (the last migration applied and when).
CREATE VIEW reporting.schema_migrations AS
SELECT version, name, applied_at FROM ops.schema_migrations;
COMMENT ON VIEW reporting.schema_migrations IS 'Applied schema migrations: version, name, when';

-- The price catalog estimates and plan previews rely on, with where each price came from.
CREATE VIEW reporting.price_catalog AS
SELECT region, service, item, variant, unit, usd, source, effective_date, updated_at
  FROM costs.prices;
COMMENT ON VIEW reporting.price_catalog IS
    'On-demand prices per region/service/item, with their source and effective date';

-- Default privileges (0001) cover views created by the role that ran 0001; grant explicitly in
-- case another owner applies this migration.
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO locxia_grafana;
