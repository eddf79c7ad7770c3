-- 0056 adoption by import: what discovery found of an instance that exists in AWS but not in
-- Terraform's state, and when Terraform imported it.
--
-- Without import blocks the first plan of an estate made by hand creates every instance: RDS
-- fails with DBInstanceAlreadyExists (identifiers are unique per account and region), EC2
-- launches a duplicate (a Name is only a tag). Before planning, the reconcile describes the
-- instances its rows want and the state lacks (pipelines/shape/adopt.py); each one found is a
-- row here, rendered into the tfvars as an import (until imported) and as the values its
-- force-replacing module inputs keep (for good: they are what AWS has).
CREATE TABLE ops.adoptions (
    name            text PRIMARY KEY
                    CONSTRAINT name_is_safe
                    CHECK (name ~ '^[a-z][a-z0-9-]{0,38}[a-z0-9]$' AND name !~ '--'),
    kind            text NOT NULL CONSTRAINT kind_known CHECK (kind IN ('rds', 'ec2')),
    aws_id          text NOT NULL CONSTRAINT aws_id_present CHECK (aws_id <> ''),
    found           jsonb NOT NULL CONSTRAINT found_is_object CHECK (jsonb_typeof(found) = 'object'),
    found_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    imported_run_id bigint REFERENCES ops.terraform_runs (id) ON DELETE SET NULL,
    imported_at     timestamptz,
    CONSTRAINT imported_with_time CHECK ((imported_run_id IS NULL) OR (imported_at IS NOT NULL))
);
COMMENT ON TABLE ops.adoptions IS
    'Instances found in AWS but not in the Terraform state: imported, never created';
COMMENT ON COLUMN ops.adoptions.aws_id IS
    'The import id: the DB instance identifier (RDS) or the instance id (EC2)';
COMMENT ON COLUMN ops.adoptions.found IS
    'Attributes as discovery described them, under the AWS provider''s names';
COMMENT ON COLUMN ops.adoptions.imported_at IS
    'When the apply that imported it ended; NULL while the import is pending';

-- For the dashboards: one row per adopted instance, pending or imported.
CREATE VIEW reporting.adoptions AS
SELECT a.name                                  AS instance,
       a.kind,
       a.aws_id,
       a.found_at,
       a.imported_run_id,
       a.imported_at,
       CASE WHEN a.imported_at IS NULL THEN 'pending' ELSE 'imported' END AS status
  FROM ops.adoptions a;

GRANT SELECT ON reporting.adoptions TO locxia_grafana;
