-- 0073 what an instance is for: 'general' (every row so far) or 'dask-worker', an EC2 instance
-- whose user data starts a Dask worker pointed at the platform's scheduler (docs/scale.md).
-- Capacity windows (issue 17) add and remove such rows for the duration of a run; the
-- Terraform modules read the purpose to render the user data.
ALTER TABLE params.instances
    ADD COLUMN purpose text NOT NULL DEFAULT 'general'
        CONSTRAINT purpose_known CHECK (purpose IN ('general', 'dask-worker')),
    ADD CONSTRAINT dask_workers_are_ec2 CHECK (purpose <> 'dask-worker' OR kind = 'ec2');
COMMENT ON COLUMN params.instances.purpose IS
    'general, or dask-worker: an EC2 instance whose user data starts a Dask worker pointed at '
    'the scheduler (LOCXIA_DASK_SCHEDULER)';
