-- 0076 capacity windows (issue 17): the ledger of capacity raised for one run and restored
-- after. The pending restore lives here, not in a process's memory: a window whose run is no
-- longer running and which is not ``restored`` is restored by the next sweep (service start,
-- every sweep while leading, before every CLI task), whatever killed its run.
--
-- States: raising (rows edited, plan and apply under way) → held (the plan waits for an
-- approval, up to LOCXIA_CAPACITY_WAIT_SECONDS) → running (capacity available, the run works)
-- → restoring (rows put back, plan and apply under way) → restored. ``failed``: the restore
-- could not complete (a plan held or refused, Terraform failed); the sweep tries again.
CREATE TABLE ops.capacity_windows (
    id               bigserial PRIMARY KEY,
    run_id           bigint NOT NULL UNIQUE REFERENCES ops.runs (id),
    job_id           text NOT NULL,
    declared_by      text NOT NULL,
    declared         jsonb NOT NULL CHECK (jsonb_typeof(declared) = 'object'),
    state            text NOT NULL DEFAULT 'raising'
                     CHECK (state IN ('raising', 'held', 'running', 'restoring', 'restored',
                                      'failed')),
    added            jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(added) = 'array'),
    previous         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(previous) = 'object'),
    raise_runs       bigint[] NOT NULL DEFAULT '{}',
    restore_runs     bigint[] NOT NULL DEFAULT '{}',
    plan             jsonb,
    opened_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    available_at     timestamptz,
    restoring_at     timestamptz,
    restored_at      timestamptz,
    reason           text,
    error            text,
    cost_usd         numeric(14, 8),
    cost_basis       jsonb,
    CHECK (state <> 'restored' OR restored_at IS NOT NULL)
);
CREATE INDEX capacity_windows_open_idx ON ops.capacity_windows (state)
    WHERE state <> 'restored';
COMMENT ON TABLE ops.capacity_windows IS
    'Capacity raised for one run: rows added (worker names), previous values of rows changed, '
    'Terraform runs of raise and restore, times, why it ended, and its cost';
COMMENT ON COLUMN ops.capacity_windows.added IS
    'Names of the params.instances rows the window inserted (Dask workers), removed on restore';
COMMENT ON COLUMN ops.capacity_windows.previous IS
    'Per row the window changed: {"<name>": {"instance_class": [before, during]}}, put back on restore';
COMMENT ON COLUMN ops.capacity_windows.plan IS
    'What the raise plan showed: terraform run, the changes of the window''s rows, monthly cost '
    'before/after and delta (USD)';
COMMENT ON COLUMN ops.capacity_windows.cost_basis IS
    'Per worker and database: seconds billed, hourly price, source; the billing rule applied';

CREATE VIEW reporting.capacity_windows AS
SELECT w.id, w.run_id, w.job_id, r.status AS run_status, w.state, w.declared_by,
       (w.declared ->> 'dask_workers')::int                     AS dask_workers,
       w.declared ->> 'worker_type'                              AS worker_type,
       w.declared ->> 'database'                                 AS database,
       w.declared ->> 'database_class'                           AS database_class,
       jsonb_array_length(w.added)                               AS workers_added,
       (w.plan ->> 'monthly_delta')::numeric                     AS plan_monthly_delta_usd,
       w.opened_at, w.available_at, w.restored_at,
       extract(epoch FROM w.available_at - w.opened_at)          AS seconds_to_available,
       w.cost_usd, w.reason, w.error
  FROM ops.capacity_windows w
  JOIN ops.runs r ON r.id = w.run_id;
COMMENT ON VIEW reporting.capacity_windows IS
    'Every capacity window: what was declared, raised, how long it took, what it cost';
GRANT SELECT ON reporting.capacity_windows TO locxia_grafana;
