-- 0003 run requests: `locxia jobs trigger` writes a row; the leader runs it and marks it.
--
-- A table, not a NOTIFY payload, carries the request because NOTIFY cannot be restricted:
-- any role that can connect (even locxia_grafana, even in a read-only transaction) could
-- otherwise make the service run jobs. Only roles allowed to INSERT here (the service owner)
-- can request a run; NOTIFY locxia_control merely wakes the leader up.
CREATE TABLE ops.run_requests (
    id            bigserial PRIMARY KEY,
    job_id        text NOT NULL,
    requested_by  text NOT NULL DEFAULT session_user,
    requested_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    handled_at    timestamptz,
    outcome       text CHECK (outcome IN ('started', 'unknown job', 'expired'))
);
CREATE INDEX run_requests_pending_idx ON ops.run_requests (requested_at) WHERE handled_at IS NULL;

-- Session-local temporary tables are the one thing PUBLIC may create by default; the
-- read-only roles have no use for them.
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;
