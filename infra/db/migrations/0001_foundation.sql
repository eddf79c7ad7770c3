-- 0001 foundation: schemas, PostGIS, roles, the parameter-audit mechanism, run records.
--
-- Later migrations create their own tables; a parameter table joins the audit/NOTIFY
-- mechanism with one call:  SELECT params.enable_audit('params.my_table');

CREATE EXTENSION IF NOT EXISTS postgis;

CREATE SCHEMA IF NOT EXISTS params;
CREATE SCHEMA IF NOT EXISTS ops;
CREATE SCHEMA IF NOT EXISTS metrics;
CREATE SCHEMA IF NOT EXISTS costs;
CREATE SCHEMA IF NOT EXISTS reporting;
CREATE SCHEMA IF NOT EXISTS exposure;

COMMENT ON SCHEMA params IS 'Editable parameter tables (people write, audited, NOTIFY locxia_params)';
COMMENT ON SCHEMA ops IS 'Orchestrator records: runs, terraform runs, lineage, dataset versions';
COMMENT ON SCHEMA metrics IS 'Discovered resources, CloudWatch datapoints, watermarks';
COMMENT ON SCHEMA costs IS 'Daily costs, price catalog, estimates, recommendations';
COMMENT ON SCHEMA reporting IS 'Views for Grafana and reports; the only schema locxia_grafana reads';
COMMENT ON SCHEMA exposure IS 'Published PostGIS layers served to applications';

-- Roles are cluster-wide and NOLOGIN: operators grant them to login users
-- (CREATE ROLE grafana LOGIN PASSWORD '...' IN ROLE locxia_grafana), so no secret lives here.
-- Two databases migrating at once may race on CREATE ROLE: the loser's error is swallowed.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'locxia_grafana') THEN
        BEGIN
            CREATE ROLE locxia_grafana NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'locxia_editor') THEN
        BEGIN
            CREATE ROLE locxia_editor NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
END
$$;

-- Grafana: SELECT on reporting views only, including views created by later migrations.
GRANT USAGE ON SCHEMA reporting TO locxia_grafana;
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO locxia_grafana;
ALTER DEFAULT PRIVILEGES IN SCHEMA reporting GRANT SELECT ON TABLES TO locxia_grafana;

-- Editors: change params, nothing else (history is written by a SECURITY DEFINER trigger).
GRANT USAGE ON SCHEMA params TO locxia_editor;
ALTER DEFAULT PRIVILEGES IN SCHEMA params
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO locxia_editor;
ALTER DEFAULT PRIVILEGES IN SCHEMA params GRANT USAGE, SELECT ON SEQUENCES TO locxia_editor;

-- ---------------------------------------------------------------------------------------------
-- Parameter audit: every INSERT/UPDATE/DELETE on an audited params table leaves one history
-- row (who, when, old row, new row) and a NOTIFY on channel locxia_params, in the same
-- transaction, so the history can never disagree with the table.
CREATE TABLE params.history (
    id          bigserial PRIMARY KEY,
    table_name  text NOT NULL,
    op          text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE')),
    row_key     text,
    old_row     jsonb,
    new_row     jsonb,
    changed_by  text NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    application text,
    txid        bigint NOT NULL DEFAULT txid_current()
);
CREATE INDEX history_table_key_idx ON params.history (table_name, row_key, changed_at DESC);
COMMENT ON TABLE params.history IS
    'Append-only audit of params.*: written by params.audit(), never by people';
REVOKE INSERT, UPDATE, DELETE ON params.history FROM locxia_editor;
GRANT SELECT ON params.history TO locxia_editor;

-- The key of a row for history look-ups: its "name" column if it has one, else its primary
-- key (the value of a one-column key, or the key columns as JSON).
CREATE FUNCTION params.row_key(tbl regclass, rec jsonb) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        rec ->> 'name',
        (SELECT CASE WHEN count(*) = 1 THEN min(rec ->> a.attname::text)
                     ELSE jsonb_object_agg(a.attname, rec -> a.attname::text)::text END
           FROM pg_index i
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
          WHERE i.indrelid = tbl AND i.indisprimary)
    )
$$;

CREATE FUNCTION params.audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, params AS $$
DECLARE
    old_j jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    new_j jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    who   text  := coalesce(nullif(current_setting('locxia.actor', true), ''), session_user);
BEGIN
    IF TG_OP = 'UPDATE' AND old_j = new_j THEN
        RETURN NULL;  -- a no-op UPDATE is not a change
    END IF;
    INSERT INTO params.history (table_name, op, row_key, old_row, new_row, changed_by, application)
    VALUES (TG_TABLE_NAME, TG_OP,
            params.row_key(TG_RELID, coalesce(new_j, old_j)),
            old_j, new_j, who, nullif(current_setting('application_name', true), ''));
    PERFORM pg_notify('locxia_params', json_build_object(
        'table', TG_TABLE_NAME, 'op', TG_OP,
        'key', params.row_key(TG_RELID, coalesce(new_j, old_j)))::text);
    RETURN NULL;
END
$$;

-- Attach audit + NOTIFY to a params table (idempotent).
CREATE FUNCTION params.enable_audit(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP TRIGGER IF EXISTS audit ON %s', tbl);
    EXECUTE format(
        'CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON %s '
        'FOR EACH ROW EXECUTE FUNCTION params.audit()', tbl);
END
$$;

-- ---------------------------------------------------------------------------------------------
-- User-defined schedules: run a registered task at a cadence, or override the cadence of a
-- job the orchestrator plans itself (same job id). Exactly one of every_seconds / cron.
CREATE TABLE params.schedules (
    job            text PRIMARY KEY CHECK (job ~ '^[a-z][a-z0-9_.:-]{0,79}$'),
    task           text NOT NULL CHECK (task ~ '^[a-z][a-z0-9_.-]{0,79}$'),
    every_seconds  integer CHECK (every_seconds BETWEEN 1 AND 31622400),
    cron           text CHECK (cron ~ '^\S+( \S+){4}$'),
    timezone       text NOT NULL DEFAULT 'Europe/Paris',
    args           jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(args) = 'object'),
    enabled        boolean NOT NULL DEFAULT true,
    note           text,
    CHECK ((every_seconds IS NULL) <> (cron IS NULL))
);
COMMENT ON TABLE params.schedules IS
    'Cadence per job: a row runs a registered task, or overrides a planned job with the same id';
SELECT params.enable_audit('params.schedules');

-- ---------------------------------------------------------------------------------------------
-- Run records: one row per job execution, whatever started it. The unique key makes a
-- scheduled tick run at most once even if two schedulers ever believed they were leader.
CREATE TABLE ops.runs (
    id            bigserial PRIMARY KEY,
    job_id        text NOT NULL,
    task          text NOT NULL,
    trigger       text NOT NULL CHECK (trigger IN ('schedule', 'manual', 'chain', 'service')),
    scheduled_at  timestamptz,
    started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended_at      timestamptz,
    status        text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'success', 'failed', 'interrupted')),
    error         text,
    details       jsonb NOT NULL DEFAULT '{}',
    parent_id     bigint REFERENCES ops.runs (id) ON DELETE CASCADE,
    host          text NOT NULL DEFAULT '',
    pid           integer,
    UNIQUE (job_id, scheduled_at),
    CHECK (status = 'running' OR ended_at IS NOT NULL)
);
CREATE INDEX runs_task_started_idx ON ops.runs (task, started_at DESC);
CREATE INDEX runs_started_idx ON ops.runs (started_at DESC);
CREATE INDEX runs_running_idx ON ops.runs (status) WHERE status = 'running';
CREATE INDEX runs_parent_idx ON ops.runs (parent_id) WHERE parent_id IS NOT NULL;
COMMENT ON TABLE ops.runs IS 'Every job run: job, start, end, status, error, details JSON';

-- Services seen: heartbeat of every `locxia serve`, and which one leads.
CREATE TABLE ops.services (
    id            text PRIMARY KEY,
    host          text NOT NULL,
    pid           integer NOT NULL,
    version       text NOT NULL,
    role          text NOT NULL CHECK (role IN ('leader', 'standby', 'stopped')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now()
);
