-- 0043 reporting views over the shape feature's records: instance changes (resize history),
-- Terraform runs, plans waiting for approval, drift. Contract as in 0040.

-- One row per instance a reconcile plan changes (no-op entries left out), with old → new
-- class, storage and power state, and who asked and who approved. `time` is when the run
-- ended (applied, rejected...) or, while it waits, when it was decided.
CREATE VIEW reporting.instance_changes AS
WITH c AS (
    SELECT t.id, t.status, t.requested_by, t.approved_by, t.approved_at,
           coalesce(t.ended_at, t.decided_at, t.started_at)  AS time,
           x.value                                          AS change,
           x.value -> 'before'                              AS b,
           x.value -> 'after'                               AS a
      FROM ops.terraform_runs t
     CROSS JOIN LATERAL jsonb_array_elements(
         CASE WHEN jsonb_typeof(t.changes) = 'array' THEN t.changes ELSE '[]' END) x
     WHERE t.purpose = 'reconcile' AND x.value ->> 'action' <> 'no-op'
)
SELECT c.time,
       c.id                                       AS run_id,
       c.status,
       c.change ->> 'instance'                    AS instance,
       c.change ->> 'kind'                        AS kind,
       c.change ->> 'action'                      AS action,
       c.b ->> 'instance_class'                   AS old_class,
       c.a ->> 'instance_class'                   AS new_class,
       (c.b ->> 'storage_gb')::integer            AS old_storage_gb,
       (c.a ->> 'storage_gb')::integer            AS new_storage_gb,
       c.b ->> 'state'                            AS old_state,
       c.a ->> 'state'                            AS new_state,
       (c.change ->> 'monthly_before')::numeric   AS monthly_before_usd,
       (c.change ->> 'monthly_after')::numeric    AS monthly_after_usd,
       c.requested_by,
       c.approved_by,
       c.approved_at,
       CASE c.change ->> 'action'
           WHEN 'create' THEN concat_ws(' ', 'create', c.a ->> 'instance_class',
                                        (c.a ->> 'storage_gb') || ' GB', c.a ->> 'state')
           WHEN 'delete' THEN concat_ws(' ', 'delete', c.b ->> 'instance_class')
           ELSE coalesce(nullif(concat_ws(', ',
               CASE WHEN c.b ->> 'instance_class' IS DISTINCT FROM c.a ->> 'instance_class'
                    THEN (c.b ->> 'instance_class') || ' → ' || (c.a ->> 'instance_class') END,
               CASE WHEN c.b ->> 'storage_gb' IS DISTINCT FROM c.a ->> 'storage_gb'
                    THEN (c.b ->> 'storage_gb') || ' → ' || (c.a ->> 'storage_gb') || ' GB' END,
               CASE WHEN c.b ->> 'state' IS DISTINCT FROM c.a ->> 'state'
                    THEN (c.b ->> 'state') || ' → ' || (c.a ->> 'state') END), ''),
               c.change ->> 'action')
       END                                        AS summary,
       CASE WHEN c.approved_by IS NOT NULL THEN 'approved by ' || c.approved_by
            WHEN c.status = 'applied' THEN 'within policy, applied automatically'
            ELSE c.status END                     AS approval
  FROM c;
COMMENT ON VIEW reporting.instance_changes IS
    'Per Terraform run and instance changed: action, old → new class/storage/state, monthly '
    'cost before/after, requested by, approved by, a one-line summary';

-- Every Terraform run (reconciles and drift checks) with its counts, cost and verdict.
CREATE VIEW reporting.terraform_runs AS
SELECT t.id                                                            AS run_id,
       t.purpose,
       t.status,
       t.decision,
       t.requested_by,
       t.approved_by,
       t.approved_at,
       t.started_at,
       t.decided_at,
       t.ended_at,
       t.plan_seconds,
       t.apply_seconds,
       CASE WHEN jsonb_typeof(t.plan_summary -> 'create') = 'number'
            THEN (t.plan_summary ->> 'create')::integer END            AS creates,
       CASE WHEN jsonb_typeof(t.plan_summary -> 'update') = 'number'
            THEN (t.plan_summary ->> 'update')::integer END            AS updates,
       CASE WHEN jsonb_typeof(t.plan_summary -> 'delete') = 'number'
            THEN (t.plan_summary ->> 'delete')::integer END            AS deletes,
       CASE WHEN jsonb_typeof(t.plan_summary -> 'replace') = 'number'
            THEN (t.plan_summary ->> 'replace')::integer END           AS replaces,
       t.monthly_cost_before,
       t.monthly_cost_after,
       t.monthly_cost_after - t.monthly_cost_before                    AS monthly_cost_delta,
       (SELECT string_agg(ic.instance || ': ' || ic.summary, '; ' ORDER BY ic.instance)
          FROM reporting.instance_changes ic WHERE ic.run_id = t.id)   AS changes,
       (SELECT string_agg(r.value ->> 'message', '; ')
          FROM jsonb_array_elements(
              CASE WHEN jsonb_typeof(t.reasons) = 'array' THEN t.reasons ELSE '[]' END) r)
                                                                       AS reasons,
       left(t.error, 500)                                              AS error,
       t.job_run_id
  FROM ops.terraform_runs t;
COMMENT ON VIEW reporting.terraform_runs IS
    'Terraform runs: purpose, status, decision, who asked/approved, timings, plan counts, '
    'monthly cost before/after/delta, changes and guardrail reasons as text';

-- Plans held for `locxia infra approve RUN`, oldest first.
CREATE VIEW reporting.pending_approvals AS
SELECT t.run_id,
       t.requested_by,
       t.decided_at                                                       AS held_since,
       extract(epoch FROM now() - t.decided_at)::double precision        AS waiting_seconds,
       t.changes,
       t.monthly_cost_before,
       t.monthly_cost_after,
       t.monthly_cost_delta,
       t.reasons,
       'locxia infra approve ' || t.run_id                                AS approve_with
  FROM reporting.terraform_runs t
 WHERE t.status = 'held';
COMMENT ON VIEW reporting.pending_approvals IS
    'Held plans: who asked, since when, what would change, the monthly cost delta, why held';

-- Differences between what Terraform applied and what AWS reports.
CREATE VIEW reporting.drift AS
SELECT f.id                      AS finding_id,
       f.instance,
       f.kind,
       f.attribute,
       f.expected,
       f.actual,
       f.source,
       f.resolved_at IS NULL     AS open,
       f.detected_at,
       f.last_seen_at,
       f.resolved_at,
       f.terraform_run_id        AS run_id
  FROM ops.drift_findings f;
COMMENT ON VIEW reporting.drift IS
    'Drift findings: instance, attribute, expected vs actual, source (describe/refresh), open';

GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO locxia_grafana;
