-- 0020 shape: the instances people want (params.instances), every Terraform run
-- (ops.terraform_runs) and every drift finding (ops.drift_findings).
--
-- The database refuses what it can check on its own (names, kinds, states, storage rules,
-- classes absent from the price catalog); the reconcile code checks the same rules again with
-- the catalog of the configured region and an injected clock (pipelines/shape/validation.py).

-- A schedule is a JSON array of windows:
--   [{"days": "mon-fri", "start": "20:00", "end": "06:00", "instance_class": "db.r6g.2xlarge"},
--    {"days": "sat-sun", "start": "00:00", "end": "23:59", "state": "stopped"}]
-- "start" > "end" wraps past midnight (the window belongs to the day it starts on).
CREATE FUNCTION params.valid_schedule(s jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_typeof(s) = 'array' AND coalesce((
        SELECT bool_and(
            jsonb_typeof(w) = 'object'
            AND (w - ARRAY['days', 'start', 'end', 'instance_class', 'state']) = '{}'::jsonb
            AND coalesce(w ->> 'start', '') ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'
            AND coalesce(w ->> 'end', '') ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'
            AND w ->> 'start' <> w ->> 'end'
            AND coalesce(w ->> 'days', 'mon-sun') ~
                '^(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?(,(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?)*$'
            AND (w ? 'instance_class' OR w ? 'state')
            AND coalesce(w ->> 'state', 'present') IN ('present', 'stopped'))
        FROM jsonb_array_elements(CASE WHEN jsonb_typeof(s) = 'array' THEN s END) AS w), true)
$$;

CREATE TABLE params.instances (
    name                text PRIMARY KEY
                        CONSTRAINT name_is_safe
                        CHECK (name ~ '^[a-z][a-z0-9-]{0,38}[a-z0-9]$' AND name !~ '--'),
    kind                text NOT NULL CONSTRAINT kind_known CHECK (kind IN ('rds', 'ec2')),
    state               text NOT NULL DEFAULT 'present'
                        CONSTRAINT state_known CHECK (state IN ('present', 'stopped', 'absent')),
    instance_class      text NOT NULL
                        CONSTRAINT class_is_safe CHECK (instance_class ~ '^[a-z0-9]+(\.[a-z0-9]+){1,2}$'),
    storage_gb          integer NOT NULL
                        CONSTRAINT storage_in_range CHECK (storage_gb BETWEEN 8 AND 65536),
    storage_type        text NOT NULL DEFAULT 'gp3'
                        CONSTRAINT storage_type_known CHECK (storage_type IN ('gp2', 'gp3', 'io1')),
    engine              text CONSTRAINT engine_known CHECK (engine IN ('postgres')),
    engine_version      text
                        CONSTRAINT engine_version_is_safe CHECK (engine_version ~ '^[0-9]{1,2}(\.[0-9]{1,2})?$'),
    multi_az            boolean NOT NULL DEFAULT false,
    protected           boolean NOT NULL DEFAULT false,
    tags                jsonb NOT NULL DEFAULT '{}'
                        CONSTRAINT tags_are_an_object CHECK (jsonb_typeof(tags) = 'object'),
    timezone            text NOT NULL DEFAULT 'Europe/Paris',
    schedule            jsonb NOT NULL DEFAULT '[]'
                        CONSTRAINT schedule_is_valid CHECK (params.valid_schedule(schedule)),
    storage_changed_at  timestamptz,
    note                text,
    CONSTRAINT protected_never_absent CHECK (NOT (protected AND state = 'absent')),
    CONSTRAINT rds_needs_engine
        CHECK (kind <> 'rds' OR (engine IS NOT NULL AND engine_version IS NOT NULL)),
    CONSTRAINT ec2_has_no_engine
        CHECK (kind <> 'ec2' OR (engine IS NULL AND engine_version IS NULL AND NOT multi_az)),
    CONSTRAINT rds_min_storage CHECK (kind <> 'rds' OR storage_gb >= 20),
    CONSTRAINT class_matches_kind CHECK ((kind = 'rds') = (instance_class LIKE 'db.%'))
);
COMMENT ON TABLE params.instances IS
    'RDS and EC2 instances that should exist (state present/stopped) or be removed (absent); '
    'schedule windows change class or state by time of day';
COMMENT ON COLUMN params.instances.storage_changed_at IS
    'Set by the database when storage_gb changes (AWS allows one storage change per 6 h)';

-- Rules that compare with the previous row or another table (a CHECK cannot).
CREATE FUNCTION params.instances_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, params AS $$
DECLARE
    w      jsonb;
    where_ text := format('params.instances[%s]', NEW.name);
BEGIN
    BEGIN
        PERFORM now() AT TIME ZONE NEW.timezone;
    EXCEPTION WHEN invalid_parameter_value THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s.timezone: unknown time zone %L', where_, NEW.timezone);
    END;
    IF NOT EXISTS (SELECT FROM costs.prices WHERE service = NEW.kind AND item = NEW.instance_class)
    THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s.instance_class: %L is not in the %s price catalog',
                             where_, NEW.instance_class, NEW.kind);
    END IF;
    FOR w IN SELECT * FROM jsonb_array_elements(NEW.schedule) LOOP
        IF w ? 'instance_class' AND NOT EXISTS (
            SELECT FROM costs.prices WHERE service = NEW.kind AND item = w ->> 'instance_class')
        THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('%s.schedule: %L is not in the %s price catalog',
                                 where_, w ->> 'instance_class', NEW.kind);
        END IF;
    END LOOP;
    IF TG_OP = 'INSERT' THEN
        NEW.storage_changed_at := NULL;  -- creating is not a modification
        RETURN NEW;
    END IF;
    IF NEW.name <> OLD.name OR NEW.kind <> OLD.kind THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('params.instances[%s]: name and kind cannot change '
                             '(add a new row and set this one absent)', OLD.name);
    END IF;
    NEW.storage_changed_at := OLD.storage_changed_at;  -- only the database moves it
    IF NEW.storage_gb < OLD.storage_gb THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s.storage_gb: cannot shrink %s → %s (AWS storage never shrinks)',
                             where_, OLD.storage_gb, NEW.storage_gb);
    END IF;
    IF NEW.storage_gb > OLD.storage_gb THEN
        IF NEW.kind = 'rds' AND NEW.storage_gb < ceil(OLD.storage_gb * 1.1) THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('%s.storage_gb: RDS storage grows by at least 10 %% (%s → ≥ %s)',
                                 where_, OLD.storage_gb, ceil(OLD.storage_gb * 1.1)::int);
        END IF;
        IF OLD.storage_changed_at > now() - interval '6 hours' THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('%s.storage_gb: storage changed at %s; AWS allows one change '
                                 'per 6 h', where_, OLD.storage_changed_at);
        END IF;
        NEW.storage_changed_at := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER guard BEFORE INSERT OR UPDATE ON params.instances
    FOR EACH ROW EXECUTE FUNCTION params.instances_guard();
SELECT params.enable_audit('params.instances');

-- ---------------------------------------------------------------------------------------------
-- Every reconcile (plan → guardrails → cost → decision → apply) and every drift check.
CREATE TABLE ops.terraform_runs (
    id                   bigserial PRIMARY KEY,
    purpose              text NOT NULL DEFAULT 'reconcile'
                         CHECK (purpose IN ('reconcile', 'drift')),
    job_run_id           bigint REFERENCES ops.runs (id) ON DELETE SET NULL,
    requested_by         text NOT NULL,
    inputs_hash          text NOT NULL,
    inputs               jsonb NOT NULL,
    status               text NOT NULL DEFAULT 'planning'
                         CHECK (status IN ('planning', 'planned', 'no_changes', 'held', 'rejected',
                                           'applying', 'applied', 'failed', 'superseded')),
    decision             text CHECK (decision IN ('no_changes', 'auto_apply', 'needs_approval',
                                                  'rejected')),
    reasons              jsonb NOT NULL DEFAULT '[]',
    plan_summary         jsonb,
    changes              jsonb NOT NULL DEFAULT '[]',
    plan_json            jsonb,
    plan_file            bytea,
    monthly_cost_before  numeric(12, 2),
    monthly_cost_after   numeric(12, 2),
    approved_by          text,
    approved_at          timestamptz,
    apply_log            text,
    error                text,
    started_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    decided_at           timestamptz,
    ended_at             timestamptz,
    plan_seconds         double precision,
    apply_seconds        double precision,
    CHECK (status IN ('planning', 'applying') OR ended_at IS NOT NULL OR status = 'held')
);
CREATE INDEX terraform_runs_started_idx ON ops.terraform_runs (started_at DESC);
CREATE INDEX terraform_runs_held_idx ON ops.terraform_runs (status) WHERE status = 'held';
COMMENT ON TABLE ops.terraform_runs IS
    'One row per Terraform plan: inputs, per-instance changes (old → new), monthly cost '
    'before/after, decision and reasons, who approved, apply log, timings';
COMMENT ON COLUMN ops.terraform_runs.changes IS
    'Per instance: [{"instance", "kind", "action", "before": {instance_class, storage_gb, '
    'state}, "after": {...}, "replace_paths", "monthly_before", "monthly_after"}]';

CREATE TABLE ops.drift_findings (
    id                bigserial PRIMARY KEY,
    instance          text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('rds', 'ec2')),
    attribute         text NOT NULL,
    expected          text,
    actual            text,
    source            text NOT NULL CHECK (source IN ('describe', 'refresh')),
    terraform_run_id  bigint REFERENCES ops.terraform_runs (id) ON DELETE SET NULL,
    detected_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_seen_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    resolved_at       timestamptz
);
CREATE UNIQUE INDEX drift_open_idx ON ops.drift_findings (instance, attribute, source)
    WHERE resolved_at IS NULL;
COMMENT ON TABLE ops.drift_findings IS
    'Differences between what Terraform applied and what AWS reports; open until resolved_at';
