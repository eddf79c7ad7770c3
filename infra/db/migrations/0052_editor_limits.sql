-- 0052 editors' limits: what a params.schedules row may run, bounds on what editors may set,
-- no control characters in notes, and what locxia_editor needs to edit params.instances.
--
-- Editors (logins granted locxia_editor) write params.*; the service runs what those tables
-- say. The database is where the limits hold, whatever client wrote the row:
--   * params.schedules may only name a task the installed plugins declare schedulable, with
--     arguments its schema allows (ops.schedulable_tasks, filled by `locxia db upgrade`
--     from the registry; the planner checks the same rules again). This binds every writer,
--     the owner included: privileged tasks are never run from a parameter row.
--   * cadences, collection periods and budgets are bounded by ops.editor_limits for logins
--     that do not own the table; the owner (the service's login) may exceed them.
-- Editors have no privilege on schema ops: they can read neither table's rows through it
-- nor write them. The trigger functions are SECURITY DEFINER with search_path pg_catalog,
-- pg_temp (temporary objects last) and every relation schema-qualified, as PostgreSQL
-- advises: https://www.postgresql.org/docs/current/sql-createfunction.html#SQL-CREATEFUNCTION-SECURITY

CREATE TABLE ops.schedulable_tasks (
    task         text PRIMARY KEY CHECK (task ~ '^[a-z][a-z0-9_.-]{0,79}$'),
    plugin       text NOT NULL,
    args_schema  jsonb NOT NULL
                 CHECK (jsonb_typeof(args_schema) = 'object'
                        AND jsonb_typeof(args_schema -> 'args') = 'object'),
    synced_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ops.schedulable_tasks IS
    'Tasks a params.schedules row may name, and the arguments it may give (from the plugins)';

CREATE TABLE ops.editor_limits (
    name   text PRIMARY KEY,
    value  numeric NOT NULL CHECK (value > 0),
    note   text NOT NULL
);
COMMENT ON TABLE ops.editor_limits IS
    'Bounds on what non-owner logins may set in params.* (the owner may exceed them)';
INSERT INTO ops.editor_limits (name, value, note) VALUES
    ('schedules.min_every_seconds', 60,
     'shortest interval of a schedule row (a cron row is at most once a minute anyway)'),
    -- CloudWatch: periods of 1, 5, 10 and 30 s exist only for high-resolution custom metrics,
    -- AWS namespaces publish every 60 s at best (detailed monitoring), and GetMetricData is
    -- billed per metric requested (0.01 USD per 1,000), so a shorter cadence only costs more.
    -- https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Resolution_definition
    -- https://aws.amazon.com/cloudwatch/pricing/ (API: GetMetricData)
    ('collection_policies.min_period_seconds', 60,
     'shortest CloudWatch period an editor may set (60 s: standard resolution)'),
    ('collection_policies.min_every_seconds', 60,
     'shortest collection cadence (every_seconds, busy_every_seconds) an editor may set'),
    ('budgets.max_factor', 10,
     'most a budget may be multiplied by in one edit'),
    ('budgets.max_monthly_usd', 100000,
     'highest monthly budget an editor may set');

-- Whether the session's login owns the table (or is a member of its owner, or a superuser):
-- the service and `locxia db upgrade` run as the owner; editors do not.
-- session_user, not current_user: inside a SECURITY DEFINER function current_user is the owner.
CREATE FUNCTION ops.owner_session(tbl regclass) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.pg_has_role(session_user, c.relowner, 'MEMBER')
      FROM pg_catalog.pg_class c WHERE c.oid = tbl
$$;

CREATE FUNCTION ops.editor_limit(limit_name text) RETURNS numeric
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT value FROM ops.editor_limits WHERE name = limit_name
$$;

-- Why args break the task's schema (NULL when they fit). The same rules as
-- infra.jobs.model.ArgSchema.check: declared keys only, JSON type, enum, range, whole-string
-- pattern; "steps" (core.chain) holds 1-20 {task, args} whose tasks are schedulable too.
CREATE FUNCTION ops.schedule_args_error(p_task text, p_args jsonb, p_depth integer)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    schema  jsonb;
    k       text;
    v       jsonb;
    rule    jsonb;
    kind    text;
    fits    boolean;
    i       integer;
    step    jsonb;
    err     text;
BEGIN
    SELECT args_schema -> 'args' INTO schema FROM ops.schedulable_tasks WHERE task = p_task;
    IF NOT FOUND THEN
        RETURN format('task %s is not schedulable (not in ops.schedulable_tasks)', p_task);
    END IF;
    IF jsonb_typeof(p_args) IS DISTINCT FROM 'object' THEN
        RETURN 'args must be a JSON object';
    END IF;
    FOR k, v IN SELECT e.key, e.value FROM jsonb_each(p_args) e ORDER BY e.key LOOP
        rule := schema -> k;
        IF rule IS NULL THEN
            RETURN format('argument %L is not allowed (allowed: %s)', k, coalesce(
                (SELECT string_agg(x, ', ' ORDER BY x) FROM jsonb_object_keys(schema) x), 'none'));
        END IF;
        kind := rule ->> 'type';
        fits := CASE kind
            WHEN 'string' THEN jsonb_typeof(v) = 'string'
            WHEN 'integer' THEN jsonb_typeof(v) = 'number' AND v::text::numeric % 1 = 0
            WHEN 'number' THEN jsonb_typeof(v) = 'number'
            WHEN 'boolean' THEN jsonb_typeof(v) = 'boolean'
            WHEN 'steps' THEN jsonb_typeof(v) = 'array'
            ELSE false END;
        IF NOT fits THEN
            RETURN format('argument %L must be a %s', k, kind);
        END IF;
        IF rule ? 'enum' AND NOT (rule -> 'enum') @> jsonb_build_array(v) THEN
            RETURN format('argument %L: %s is not one of %s', k, v, rule -> 'enum');
        END IF;
        IF jsonb_typeof(v) = 'number' THEN
            IF rule ? 'minimum' AND v::text::numeric < (rule ->> 'minimum')::numeric THEN
                RETURN format('argument %L: %s is below %s', k, v, rule ->> 'minimum');
            END IF;
            IF rule ? 'maximum' AND v::text::numeric > (rule ->> 'maximum')::numeric THEN
                RETURN format('argument %L: %s is above %s', k, v, rule ->> 'maximum');
            END IF;
        END IF;
        IF rule ? 'pattern' AND NOT (v #>> '{}') ~ ('^(?:' || (rule ->> 'pattern') || ')$') THEN
            RETURN format('argument %L: %s does not match %s', k, v, rule ->> 'pattern');
        END IF;
        IF kind = 'steps' THEN
            IF p_depth > 0 THEN
                RETURN format('argument %L: a step cannot hold steps', k);
            END IF;
            IF jsonb_array_length(v) NOT BETWEEN 1 AND 20 THEN
                RETURN format('argument %L: 1 to 20 steps', k);
            END IF;
            FOR i IN 0 .. jsonb_array_length(v) - 1 LOOP
                step := v -> i;
                IF jsonb_typeof(step) <> 'object' OR (step - ARRAY['task', 'args']) <> '{}'::jsonb
                   OR jsonb_typeof(step -> 'task') IS DISTINCT FROM 'string' THEN
                    RETURN format('argument %L[%s]: expected {task, args}', k, i);
                END IF;
                err := ops.schedule_args_error(step ->> 'task', coalesce(step -> 'args', '{}'),
                                               p_depth + 1);
                IF err IS NOT NULL THEN
                    RETURN format('argument %L[%s] (%s): %s', k, i, step ->> 'task', err);
                END IF;
            END LOOP;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION ops.schedules_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    where_  text := format('params.schedules[%s]', NEW.job);
    err     text;
    lim     numeric;
BEGIN
    -- Every writer, owner included. Disabling a row (only `enabled` changes) is always allowed.
    IF TG_OP = 'INSERT' OR (NEW.task, NEW.args) IS DISTINCT FROM (OLD.task, OLD.args)
       OR (NEW.enabled AND NOT OLD.enabled) THEN
        IF NOT EXISTS (SELECT FROM ops.schedulable_tasks WHERE task = NEW.task) THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('%s.task: %s is not schedulable from params.schedules '
                                 '(limit: the tasks in ops.schedulable_tasks)', where_, NEW.task);
        END IF;
        err := ops.schedule_args_error(NEW.task, NEW.args, 0);
        IF err IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('%s.args: %s (limit: the %s schema in ops.schedulable_tasks)',
                                 where_, err, NEW.task);
        END IF;
    END IF;
    IF ops.owner_session(TG_RELID) THEN
        RETURN NEW;
    END IF;
    lim := ops.editor_limit('schedules.min_every_seconds');
    IF NEW.every_seconds < lim
       AND (TG_OP = 'INSERT' OR NEW.every_seconds IS DISTINCT FROM OLD.every_seconds) THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s.every_seconds: %s is below the editor limit of %s '
                             '(schedules.min_every_seconds in ops.editor_limits)',
                             where_, NEW.every_seconds, lim);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER guard BEFORE INSERT OR UPDATE ON params.schedules
    FOR EACH ROW EXECUTE FUNCTION ops.schedules_guard();

-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION ops.collection_policies_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    where_      text := format('params.collection_policies[%s]', NEW.name);
    min_period  numeric := ops.editor_limit('collection_policies.min_period_seconds');
    min_every   numeric := ops.editor_limit('collection_policies.min_every_seconds');
BEGIN
    IF ops.owner_session(TG_RELID) THEN
        RETURN NEW;
    END IF;
    IF NEW.period_seconds < min_period
       AND (TG_OP = 'INSERT' OR NEW.period_seconds IS DISTINCT FROM OLD.period_seconds) THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s.period_seconds: %s is below the editor limit of %s '
                             '(collection_policies.min_period_seconds in ops.editor_limits)',
                             where_, NEW.period_seconds, min_period);
    END IF;
    IF NEW.every_seconds < min_every
       AND (TG_OP = 'INSERT' OR NEW.every_seconds IS DISTINCT FROM OLD.every_seconds) THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s.every_seconds: %s is below the editor limit of %s '
                             '(collection_policies.min_every_seconds in ops.editor_limits)',
                             where_, NEW.every_seconds, min_every);
    END IF;
    IF NEW.busy_every_seconds < min_every
       AND (TG_OP = 'INSERT' OR NEW.busy_every_seconds IS DISTINCT FROM OLD.busy_every_seconds)
    THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s.busy_every_seconds: %s is below the editor limit of %s '
                             '(collection_policies.min_every_seconds in ops.editor_limits)',
                             where_, NEW.busy_every_seconds, min_every);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER guard BEFORE INSERT OR UPDATE ON params.collection_policies
    FOR EACH ROW EXECUTE FUNCTION ops.collection_policies_guard();

-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION ops.budgets_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    where_   text := format('params.budgets[%s]', NEW.name);
    ceiling  numeric := ops.editor_limit('budgets.max_monthly_usd');
    factor   numeric := ops.editor_limit('budgets.max_factor');
BEGIN
    IF ops.owner_session(TG_RELID)
       OR (TG_OP = 'UPDATE' AND NEW.monthly_usd = OLD.monthly_usd) THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.monthly_usd > OLD.monthly_usd * factor THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s.monthly_usd: %s is more than %s × the current %s in one edit '
                             '(budgets.max_factor in ops.editor_limits)',
                             where_, NEW.monthly_usd, factor, OLD.monthly_usd);
    END IF;
    IF NEW.monthly_usd > ceiling THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s.monthly_usd: %s is above the editor limit of %s USD '
                             '(budgets.max_monthly_usd in ops.editor_limits)',
                             where_, NEW.monthly_usd, ceiling);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER guard BEFORE INSERT OR UPDATE ON params.budgets
    FOR EACH ROW EXECUTE FUNCTION ops.budgets_guard();

-- ---------------------------------------------------------------------------------------------
-- A dataset's source is fetched by the service with its own credentials and network, like
-- layers.transfer-url: an editor may only name a source under a prefix the owner lists here
-- (none by default), never a local file or an address the editor picks.
CREATE TABLE ops.editor_sources (
    prefix  text PRIMARY KEY CHECK (prefix ~ '^(https?|s3)://[^/?#@]+/'),
    note    text NOT NULL
);
COMMENT ON TABLE ops.editor_sources IS
    'Source prefixes (scheme://host/...) under which editors may point params.datasets.source';

CREATE FUNCTION ops.datasets_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF ops.owner_session(TG_RELID) OR NEW.source IS NULL
       OR (TG_OP = 'UPDATE' AND NEW.source IS NOT DISTINCT FROM OLD.source) THEN
        RETURN NEW;
    END IF;
    IF NOT EXISTS (SELECT FROM ops.editor_sources WHERE starts_with(NEW.source, prefix)) THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('params.datasets[%s].source: %s is not under a prefix editors may '
                             'use (editor limit: ops.editor_sources)', NEW.name, NEW.source);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER guard BEFORE INSERT OR UPDATE ON params.datasets
    FOR EACH ROW EXECUTE FUNCTION ops.datasets_guard();

REVOKE ALL ON FUNCTION ops.datasets_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION ops.owner_session(regclass), ops.editor_limit(text),
    ops.schedule_args_error(text, jsonb, integer), ops.schedules_guard(),
    ops.collection_policies_guard(), ops.budgets_guard() FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- No control character (C0, DEL, C1) in free text people write: they would reach terminals
-- through `locxia params history` and Grafana tables. NOT VALID: rows already there are not
-- re-checked (the CLI escapes them on output); every new or changed value is.
ALTER TABLE params.schedules
    ADD CONSTRAINT note_is_printable CHECK (note !~ '[\x01-\x1f\x7f-\x9f]') NOT VALID;
ALTER TABLE params.collection_policies
    ADD CONSTRAINT note_is_printable CHECK (note !~ '[\x01-\x1f\x7f-\x9f]') NOT VALID;
ALTER TABLE params.budgets
    ADD CONSTRAINT note_is_printable CHECK (note !~ '[\x01-\x1f\x7f-\x9f]') NOT VALID,
    ADD CONSTRAINT service_is_printable CHECK (service !~ '[\x01-\x1f\x7f-\x9f]') NOT VALID,
    ADD CONSTRAINT tag_value_is_printable CHECK (tag_value !~ '[\x01-\x1f\x7f-\x9f]') NOT VALID;
ALTER TABLE params.instances
    ADD CONSTRAINT note_is_printable CHECK (note !~ '[\x01-\x1f\x7f-\x9f]') NOT VALID;
ALTER TABLE params.datasets
    ADD CONSTRAINT note_is_printable CHECK (note !~ '[\x01-\x1f\x7f-\x9f]') NOT VALID,
    ADD CONSTRAINT layer_is_printable CHECK (layer !~ '[\x01-\x1f\x7f-\x9f]') NOT VALID;

-- ---------------------------------------------------------------------------------------------
-- locxia_editor may now edit params.instances: its guard (0020) and the CLI's validation
-- check instance classes against costs.prices. Only that table of schema costs is granted:
-- AWS list prices are public; spend, estimates and budgets' status stay unreadable.
GRANT USAGE ON SCHEMA costs TO locxia_editor;
GRANT SELECT ON costs.prices TO locxia_editor;
