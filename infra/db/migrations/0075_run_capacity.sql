-- 0075 capacity a run declares (issue 17): N Dask workers of an EC2 class, and/or a database
-- class for the duration. Before a matching run starts, the orchestrator raises it through the
-- same path as a parameter edit (rows of params.instances, Terraform plan, guardrails, cost
-- delta, approval above the limit), waits until it is available, runs, and restores it after
-- (infra/capacity/, docs/shape.md "Capacity windows").
--
-- ``job`` matches like params.job_compute (0068): a job id, or a prefix ending with ``*``; the
-- longest match wins. A dataset's feed runs are jobs named after it (``layers.<name>`` for its
-- chain, ``layers.<name>/<step>`` for a step), so ``layers.buildings*`` declares capacity for
-- every run of that layer. A run inside a run that holds a window (a chain's step) uses the
-- parent's window and opens none of its own.

CREATE TABLE params.run_capacity (
    job             text PRIMARY KEY CHECK (job ~ '^[a-z][a-z0-9_.:/-]{0,118}\*?$'),
    dask_workers    integer NOT NULL DEFAULT 0 CHECK (dask_workers BETWEEN 0 AND 100),
    worker_type     text CHECK (worker_type ~ '^[a-z0-9]+[a-z0-9-]*\.[a-z0-9]+$'),
    worker_storage_gb integer NOT NULL DEFAULT 20 CHECK (worker_storage_gb BETWEEN 8 AND 16384),
    database        text CHECK (database ~ '^[a-z][a-z0-9-]{0,38}[a-z0-9]$'),
    database_class  text CHECK (database_class ~ '^db\.[a-z0-9-]+\.[a-z0-9]+$'),
    note            text CHECK (note !~ '[\x01-\x1f\x7f-\x9f]'),
    CONSTRAINT workers_need_a_type CHECK ((dask_workers = 0) = (worker_type IS NULL)),
    CONSTRAINT database_needs_a_class CHECK ((database IS NULL) = (database_class IS NULL)),
    CONSTRAINT declares_something CHECK (dask_workers > 0 OR database IS NOT NULL)
);
COMMENT ON TABLE params.run_capacity IS
    'Capacity a job raises for its runs (Dask workers of an EC2 type, a database class), per '
    'job id or prefix*; restored after each run';

INSERT INTO ops.editor_limits (name, value, note) VALUES
    ('run_capacity.max_dask_workers', 20,
     'most Dask worker instances an editor may declare for one run');

-- Rules that read other tables: classes known in the price catalog (as params.instances, 0020),
-- the database an RDS row of params.instances, and the editors' ceiling on workers.
CREATE FUNCTION ops.run_capacity_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    where_ text := format('params.run_capacity[%s]', NEW.job);
    lim    numeric;
BEGIN
    IF NEW.worker_type IS NOT NULL AND NOT EXISTS (
        SELECT FROM costs.prices WHERE service = 'ec2' AND item = NEW.worker_type)
    THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s.worker_type: %L is not in the ec2 price catalog',
                             where_, NEW.worker_type);
    END IF;
    IF NEW.database_class IS NOT NULL AND NOT EXISTS (
        SELECT FROM costs.prices WHERE service = 'rds' AND item = NEW.database_class)
    THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s.database_class: %L is not in the rds price catalog',
                             where_, NEW.database_class);
    END IF;
    IF NEW.database IS NOT NULL AND NOT EXISTS (
        SELECT FROM params.instances WHERE name = NEW.database AND kind = 'rds')
    THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s.database: %L is not an rds row of params.instances',
                             where_, NEW.database);
    END IF;
    IF ops.owner_session(TG_RELID) THEN
        RETURN NEW;
    END IF;
    lim := ops.editor_limit('run_capacity.max_dask_workers');
    IF NEW.dask_workers > lim THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s.dask_workers: %s is above the editor limit of %s '
                             '(run_capacity.max_dask_workers in ops.editor_limits)',
                             where_, NEW.dask_workers, lim);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER guard BEFORE INSERT OR UPDATE ON params.run_capacity
    FOR EACH ROW EXECUTE FUNCTION ops.run_capacity_guard();
SELECT params.enable_audit('params.run_capacity');
-- locxia_editor edits it like every params table (default privileges of 0001).

-- A window's workers are removed when its run ends: a protected worker could never be, and the
-- restore would wait for nothing. Rows already there are general-purpose (0073), so this holds.
ALTER TABLE params.instances
    ADD CONSTRAINT dask_workers_unprotected CHECK (purpose <> 'dask-worker' OR NOT protected);
