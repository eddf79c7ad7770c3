-- 0058 power kept on every tick, and back-off after a failed reconcile (issue 13).
--
-- ops.power_events: every stop/start the orchestrator issued (or refrained from issuing while
-- AWS was busy with the instance), why, and how it ended. Written by pipelines/shape/power.py
-- with the service's clock; `attempt` and `next_try_at` carry the retry back-off of a failed
-- call.
--
-- ops.apply_backoff: one row per inputs hash whose reconcile failed (plan or apply). The tick
-- does not plan those inputs again before next_try_at (1, 2, 4, 8, 16, 32, then every 60
-- minutes); a new inputs hash starts afresh, and ops.clear_backoff() lets a person retry now.
-- `reason` is the line `locxia infra status` and the dashboards show, written by
-- pipelines/shape/backoff.py (one wording, one place).
CREATE TABLE ops.power_events (
    id                bigserial PRIMARY KEY,
    instance          text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('rds', 'ec2')),
    from_state        text NOT NULL,
    wanted            text NOT NULL CHECK (wanted IN ('present', 'stopped')),
    action            text NOT NULL CHECK (action IN ('stop', 'start', 'wait')),
    reason            text NOT NULL CHECK (reason IN ('row', 'schedule-window', 'aws-auto-start',
                                                      'started-outside', 'modify-stopped')),
    result            text NOT NULL CHECK (result IN ('ok', 'failed', 'waiting')),
    error             text,
    attempt           integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    next_try_at       timestamptz,
    terraform_run_id  bigint REFERENCES ops.terraform_runs (id) ON DELETE SET NULL,
    at                timestamptz NOT NULL,
    CHECK ((result = 'failed') = (error IS NOT NULL)),
    CHECK ((result = 'failed') = (next_try_at IS NOT NULL))
);
CREATE INDEX power_events_instance_idx ON ops.power_events (instance, id DESC);
COMMENT ON TABLE ops.power_events IS
    'Power actions on RDS/EC2 instances (stop, start, or wait while AWS is busy): the state '
    'described, why (row, schedule-window, aws-auto-start, started-outside, modify-stopped), '
    'the result and the retry back-off of a failed call';

CREATE TABLE ops.apply_backoff (
    inputs_hash      text PRIMARY KEY,
    failures         integer NOT NULL CHECK (failures >= 1),
    last_run_id      bigint REFERENCES ops.terraform_runs (id) ON DELETE SET NULL,
    last_error       text NOT NULL,
    first_failed_at  timestamptz NOT NULL,
    last_failed_at   timestamptz NOT NULL,
    next_try_at      timestamptz NOT NULL CHECK (next_try_at > last_failed_at),
    reason           text NOT NULL
);
COMMENT ON TABLE ops.apply_backoff IS
    'Reconciles of one inputs hash that failed: how often, the last error, when the tick plans '
    'them again; reason is the line shown by `locxia infra status`';

-- Retry now: forget every back-off (all inputs hashes). Open to approvers besides the owner: it
-- grants nothing, the next reconcile still goes through the guardrails and their approvals.
-- Returns how many inputs hashes were waiting; 0 when there was nothing to clear (idempotent).
CREATE FUNCTION ops.clear_backoff() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cleared integer;
BEGIN
    DELETE FROM ops.apply_backoff;
    GET DIAGNOSTICS cleared = ROW_COUNT;
    IF cleared > 0 THEN  -- wakes the leader's reconcile (a wake_on job of table "instances")
        PERFORM pg_notify('locxia_params', json_build_object(
            'table', 'instances', 'op', 'RETRY', 'key', session_user)::text);
    END IF;
    RETURN cleared;
END
$$;
REVOKE ALL ON FUNCTION ops.clear_backoff() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.clear_backoff() TO locxia_approver;  -- USAGE on ops: 0053
COMMENT ON FUNCTION ops.clear_backoff() IS
    'Forget the back-off of failed reconciles so the next tick plans again; returns the count';

-- Power actions for the dashboards, newest first by `time`.
CREATE VIEW reporting.power_events AS
SELECT e.id                AS event_id,
       e.at                AS time,
       e.instance,
       e.kind,
       e.from_state,
       e.wanted,
       e.action,
       e.reason,
       e.result,
       left(e.error, 500)  AS error,
       e.attempt,
       e.next_try_at,
       e.terraform_run_id  AS run_id
  FROM ops.power_events e;
COMMENT ON VIEW reporting.power_events IS
    'Power actions: instance, state described, stop/start/wait, reason, result, error, retry';

-- Failed reconciles waiting for their next try.
CREATE VIEW reporting.apply_backoff AS
SELECT b.inputs_hash,
       b.failures,
       b.last_run_id                                                      AS run_id,
       left(b.last_error, 500)                                            AS last_error,
       b.first_failed_at,
       b.last_failed_at,
       b.next_try_at,
       extract(epoch FROM b.next_try_at - b.last_failed_at)::double precision / 60
                                                                          AS wait_minutes,
       b.reason,
       'locxia infra retry'                                               AS retry_with
  FROM ops.apply_backoff b;
COMMENT ON VIEW reporting.apply_backoff IS
    'Reconciles held back after failures: count, last error, next try, the reason line';

GRANT SELECT ON reporting.power_events, reporting.apply_backoff TO locxia_grafana;
