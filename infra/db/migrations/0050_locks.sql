-- 0050 locks no other login can take (issue 12).
--
-- Advisory locks need no privilege: any login, the read-only Grafana one included, could hold
-- the leader's key and stop the orchestrator. Leadership and the per-feature locks are rows of
-- ops.locks instead (mechanism: infra/db/locks.py). Only the owner — the login that runs the
-- migrations and the service — may lock or write them: SELECT ... FOR UPDATE needs the UPDATE
-- privilege (https://www.postgresql.org/docs/15/sql-select.html#SQL-FOR-UPDATE-SHARE), and no
-- other role is granted anything on this table nor USAGE on schema ops.
--
-- A session lock is held while the backend named by (holder_pid, holder_roleid,
-- holder_started) is alive in pg_stat_activity; backend_start tells a reused pid apart.
CREATE TABLE ops.locks (
    name            text PRIMARY KEY CHECK (name <> ''),
    holder_pid      integer,
    holder_roleid   oid,
    holder_started  timestamptz,
    holder          text,
    taken_at        timestamptz,
    CHECK ((holder_pid IS NULL) = (holder_started IS NULL)
       AND (holder_pid IS NULL) = (holder_roleid IS NULL))
);
COMMENT ON TABLE ops.locks IS
    'Named locks of the service: a session lock is held by the live backend it names, a '
    'transaction lock by whoever has the row FOR UPDATE; no privilege for any other role';
REVOKE ALL ON ops.locks FROM PUBLIC, locxia_grafana, locxia_editor;

INSERT INTO ops.locks (name) VALUES ('leader'), ('shape'), ('metrics.partitions');

-- Partition creators are serialised by the 'metrics.partitions' row instead of an advisory
-- key any login could hold. Creating a day's partition is rare (once a day), so one row for
-- all days costs nothing and keeps the table from growing a row per day.
CREATE OR REPLACE FUNCTION metrics.ensure_datapoint_partitions(
    from_ts timestamptz, to_ts timestamptz
)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    day     date := (from_ts AT TIME ZONE 'UTC')::date;
    last    date := (to_ts AT TIME ZONE 'UTC')::date;
    created integer := 0;
    part    text;
BEGIN
    IF last - day > 3660 THEN
        RAISE EXCEPTION 'refusing to create % daily partitions at once', last - day;
    END IF;
    WHILE day <= last LOOP
        part := 'datapoints_' || to_char(day, 'YYYYMMDD');
        IF to_regclass('metrics.' || part) IS NULL THEN
            -- serialise creators: two collectors may start at once (held until commit)
            PERFORM 1 FROM ops.locks WHERE name = 'metrics.partitions' FOR UPDATE;
            IF to_regclass('metrics.' || part) IS NULL THEN
                -- The look-up may still answer from this backend's catalog cache after the
                -- wait; the creator before us having won is then not an error.
                BEGIN
                    EXECUTE format(
                        'CREATE TABLE metrics.%I PARTITION OF metrics.datapoints'
                        ' FOR VALUES FROM (%L) TO (%L)',
                        part, (day::timestamp AT TIME ZONE 'UTC'),
                        ((day + 1)::timestamp AT TIME ZONE 'UTC'));
                    created := created + 1;
                EXCEPTION WHEN duplicate_table THEN NULL;
                END;
            END IF;
        END IF;
        day := day + 1;
    END LOOP;
    RETURN created;
END
$$;
