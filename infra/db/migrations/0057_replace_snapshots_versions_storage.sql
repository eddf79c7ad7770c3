-- 0057 replacement, snapshots, versions and storage (docs/real-aws.md, same heading).
--
--   * params.instances.engine_version holds the MAJOR version only ("16"): RDS upgrades the
--     minor itself (auto_minor_version_upgrade) and refuses a "downgrade" to a pinned minor
--     afterwards. Existing "16.4" rows become "16" (audited like any change).
--   * params.instances.iops / throughput: provisioned IOPS (io1/io2 need it, gp3 may take it)
--     and gp3 throughput in MiBps; the code checks the ranges and ratios of the RDS User Guide
--     (pipelines/shape/storage.py), the database the rules it can state on one row.
--   * ops.final_snapshots: the final snapshot name of each instance's current incarnation,
--     unique per deleting run, and the run that deleted it (DBSnapshotAlreadyExists otherwise).
--   * ops.rebuild_requests: a rebuild from a named snapshot, requested by one login
--     (params.request_rebuild) and approved by another holding locxia_approver
--     (ops.approve_rebuild); the next reconcile replaces exactly that instance, once.
--   * ops.engine_versions: the engine version AWS reports (describe), read back after apply.

-- ---------------------------------------------------------------------------------------------
-- Engine versions: major only. The guard trigger (price catalog, storage rules) is not about
-- this column; it stays out of the rewrite, the audit trigger records it.
SELECT set_config('locxia.actor', 'migration 0057 (engine_version: major only)', true);
ALTER TABLE params.instances DISABLE TRIGGER guard;
UPDATE params.instances SET engine_version = split_part(engine_version, '.', 1)
 WHERE engine_version LIKE '%.%';
ALTER TABLE params.instances ENABLE TRIGGER guard;
ALTER TABLE params.instances DROP CONSTRAINT engine_version_is_safe;
ALTER TABLE params.instances ADD CONSTRAINT engine_version_is_major
    CHECK (engine_version ~ '^[0-9]{1,2}$');
COMMENT ON COLUMN params.instances.engine_version IS
    'Major engine version (e.g. 16); AWS picks and upgrades the minor (ops.engine_versions '
    'shows the actual one)';

-- ---------------------------------------------------------------------------------------------
-- Storage types and their performance.
ALTER TABLE params.instances DROP CONSTRAINT storage_type_known;
ALTER TABLE params.instances ADD CONSTRAINT storage_type_known
    CHECK (storage_type IN ('gp2', 'gp3', 'io1', 'io2'));
ALTER TABLE params.instances
    ADD COLUMN iops integer CONSTRAINT iops_in_range CHECK (iops BETWEEN 100 AND 256000),
    ADD COLUMN throughput integer
        CONSTRAINT throughput_in_range CHECK (throughput BETWEEN 125 AND 4000);
ALTER TABLE params.instances
    ADD CONSTRAINT iops_for_provisioned_types
        CHECK (iops IS NULL OR storage_type IN ('gp3', 'io1', 'io2')),
    ADD CONSTRAINT throughput_for_gp3 CHECK (throughput IS NULL OR storage_type = 'gp3'),
    ADD CONSTRAINT rds_io_min_storage
        CHECK (kind <> 'rds' OR storage_type NOT IN ('io1', 'io2') OR storage_gb >= 100),
    ADD CONSTRAINT rds_gp3_baseline_fixed
        CHECK (NOT (kind = 'rds' AND storage_type = 'gp3' AND storage_gb < 400
                    AND (iops IS NOT NULL OR throughput IS NOT NULL))),
    ADD CONSTRAINT io1_iops_per_gb CHECK (storage_type <> 'io1' OR iops <= storage_gb * 50),
    ADD CONSTRAINT io2_iops_per_gb CHECK (storage_type <> 'io2' OR iops <= storage_gb * 1000);
-- Existing io1 rows without iops stay readable (NOT VALID) and are reported by the code until
-- someone sets iops: AWS refuses an io1 create or modify without it.
ALTER TABLE params.instances ADD CONSTRAINT provisioned_types_need_iops
    CHECK (storage_type NOT IN ('io1', 'io2') OR iops IS NOT NULL) NOT VALID;
COMMENT ON COLUMN params.instances.iops IS
    'Provisioned IOPS: required for io1/io2, optional for gp3 (RDS: from 400 GiB only)';
COMMENT ON COLUMN params.instances.throughput IS
    'gp3 throughput in MiBps (RDS: from 400 GiB only); null = the baseline';

-- Provisioned IOPS (per IOPS-month) and gp3 throughput (per MiBps-month) are priced.
ALTER TABLE costs.prices DROP CONSTRAINT prices_service_check;
ALTER TABLE costs.prices ADD CONSTRAINT prices_service_check
    CHECK (service IN ('rds', 'rds-storage', 'rds-iops', 'rds-throughput', 'ec2', 'ebs',
                       'ebs-iops', 'ebs-throughput', 's3'));
ALTER TABLE costs.prices DROP CONSTRAINT prices_unit_check;
ALTER TABLE costs.prices ADD CONSTRAINT prices_unit_check
    CHECK (unit IN ('hour', 'gb-month', 'iops-month', 'mibps-month'));

-- ---------------------------------------------------------------------------------------------
-- Final snapshot names: one per incarnation of an instance, never reused.
-- DBSnapshotIdentifier: 1-255 letters, digits or hyphens, first a letter, no "--", no
-- trailing hyphen (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBInstance.html,
-- FinalDBSnapshotIdentifier).
CREATE TABLE ops.final_snapshots (
    snapshot_identifier  text PRIMARY KEY
                         CONSTRAINT snapshot_identifier_is_valid
                         CHECK (length(snapshot_identifier) <= 255
                                AND snapshot_identifier ~ '^[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?$'
                                AND snapshot_identifier !~ '--'),
    instance             text NOT NULL,
    assigned_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_by_run       bigint REFERENCES ops.terraform_runs (id) ON DELETE SET NULL,
    deleted_at           timestamptz
);
CREATE UNIQUE INDEX final_snapshots_current_idx ON ops.final_snapshots (instance)
    WHERE deleted_at IS NULL;
COMMENT ON TABLE ops.final_snapshots IS
    'Final snapshot name of each RDS instance incarnation; deleted_by_run = the run whose '
    'delete or replacement took it (a new name is assigned after)';

-- ---------------------------------------------------------------------------------------------
-- Rebuilds from a named snapshot.
CREATE TABLE ops.rebuild_requests (
    id                   bigserial PRIMARY KEY,
    instance             text NOT NULL
                         CHECK (instance ~ '^[a-z][a-z0-9-]{0,38}[a-z0-9]$' AND instance !~ '--'),
    snapshot_identifier  text NOT NULL
                         CHECK (length(snapshot_identifier) <= 255
                                AND snapshot_identifier ~ '^[A-Za-z]([A-Za-z0-9:-]*[A-Za-z0-9])?$'
                                AND snapshot_identifier !~ '--'),
    status               text NOT NULL DEFAULT 'requested'
                         CHECK (status IN ('requested', 'approved', 'done', 'superseded')),
    requested_login      text NOT NULL DEFAULT session_user,
    requested_by         text NOT NULL,
    requested_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    approved_login       text,
    approved_by          text,
    approved_at          timestamptz,
    terraform_run_id     bigint REFERENCES ops.terraform_runs (id) ON DELETE SET NULL,
    done_at              timestamptz,
    CHECK ((status IN ('approved', 'done')) = (approved_login IS NOT NULL)),
    CHECK ((status = 'done') = (done_at IS NOT NULL))
);
-- At most one open request per instance.
CREATE UNIQUE INDEX rebuild_requests_open_idx ON ops.rebuild_requests (instance)
    WHERE status IN ('requested', 'approved');
COMMENT ON TABLE ops.rebuild_requests IS
    'Rebuilds from a named snapshot: requested by one login, approved by another (approver), '
    'carried out by exactly one reconcile run (terraform_run_id)';

-- Request a rebuild as the session's login (editors may: they already decide what exists).
-- A newer request supersedes an open one of the same instance.
CREATE FUNCTION params.request_rebuild(target text, snapshot text, label text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_id bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM params.instances i WHERE i.name = target AND i.kind = 'rds'
                                                    AND i.state <> 'absent') THEN
        RAISE EXCEPTION USING ERRCODE = 'no_data_found',
            MESSAGE = format('params.instances[%s]: no RDS instance of that name to rebuild',
                             target);
    END IF;
    UPDATE ops.rebuild_requests SET status = 'superseded'
     WHERE instance = target AND status = 'requested';
    IF EXISTS (SELECT FROM ops.rebuild_requests WHERE instance = target AND status = 'approved')
    THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('params.instances[%s]: an approved rebuild is waiting for the '
                             'next reconcile', target);
    END IF;
    INSERT INTO ops.rebuild_requests (instance, snapshot_identifier, requested_by)
    VALUES (target, snapshot, coalesce(nullif(btrim(label), ''), session_user))
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;
REVOKE ALL ON FUNCTION params.request_rebuild(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION params.request_rebuild(text, text, text)
    TO locxia_editor, locxia_approver;

-- Approve rebuild request `request` as the session's login: locxia_approver, not the requester.
CREATE FUNCTION ops.approve_rebuild(request bigint, label text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    who text := session_user;
    r   record;
BEGIN
    IF NOT pg_has_role(session_user, 'locxia_approver', 'MEMBER') THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('rebuild %s: approving needs the locxia_approver role (login %s '
                             'has not)', request, who);
    END IF;
    IF label IS NOT NULL AND (length(label) > 100 OR label ~ '[[:cntrl:]]') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('rebuild %s: the label must be a short printable name', request);
    END IF;
    SELECT * INTO r FROM ops.rebuild_requests WHERE id = request FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'no_data_found',
            MESSAGE = format('rebuild %s: no such request (see `locxia infra status`)', request);
    END IF;
    IF r.status <> 'requested' THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('rebuild %s is %s, not waiting for approval', request, r.status);
    END IF;
    IF r.requested_login = who THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('rebuild %s: %s requested it and cannot approve it', request, who);
    END IF;
    UPDATE ops.rebuild_requests
       SET status = 'approved', approved_login = who,
           approved_by = coalesce(nullif(btrim(label), ''), who),
           approved_at = clock_timestamp()
     WHERE id = request;
    PERFORM pg_notify('locxia_params', json_build_object(
        'table', 'instances', 'op', 'REBUILD', 'key', r.instance)::text);
    RETURN who;
END
$$;
REVOKE ALL ON FUNCTION ops.approve_rebuild(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.approve_rebuild(bigint, text) TO locxia_approver;

-- ---------------------------------------------------------------------------------------------
-- Engine versions as AWS reports them.
CREATE TABLE ops.engine_versions (
    instance          text PRIMARY KEY,
    engine            text NOT NULL,
    wanted_major      text,
    actual_version    text NOT NULL,
    observed_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    terraform_run_id  bigint REFERENCES ops.terraform_runs (id) ON DELETE SET NULL
);
COMMENT ON TABLE ops.engine_versions IS
    'Engine version of each RDS instance as DescribeDBInstances reports it after an apply';
-- No reporting view yet: `locxia infra status` shows these tables; a dashboard panel would add
-- its view and contract entry together (dashboards/contract.py).
