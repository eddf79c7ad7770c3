-- 0077 a Dask worker (purpose 'dask-worker', migration 0073) holds no data and lives for a run:
-- capacity windows add it and remove it. Protecting one would keep paid capacity that nothing
-- can remove without a person editing the row first, so the database refuses it as the code
-- does (pipelines/shape/model.py). Terraform tags worker instances locxia:purpose=dask-worker;
-- the guardrails read that tag on the instance, not this row.
ALTER TABLE params.instances
    ADD CONSTRAINT dask_workers_unprotected CHECK (purpose <> 'dask-worker' OR NOT protected);
