-- 0010 observe / metrics: discovered resources, collection policies, datapoints, watermarks,
-- the Metric Streams ledger. Meaning of every table: docs/observe.md.

-- ---------------------------------------------------------------------------------------------
-- Resources carrying the Locxia tag (tagged = true), and untagged look-alikes found by the
-- Describe cross-check (tagged = false: reported, never collected). Never deleted: a resource
-- that disappears gets gone_at, so history in datapoints and costs keeps its name.
CREATE TABLE metrics.resources (
    id           bigserial PRIMARY KEY,
    arn          text NOT NULL UNIQUE,
    type         text NOT NULL CHECK (type IN ('ec2:instance', 'ec2:volume', 'rds:db', 's3:bucket')),
    resource_id  text NOT NULL,
    name         text NOT NULL,
    region       text NOT NULL,
    tags         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(tags) = 'object'),
    tagged       boolean NOT NULL,
    state        text,
    attributes   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    first_seen   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL,
    gone_at      timestamptz
);
CREATE INDEX resources_type_idx ON metrics.resources (type) WHERE gone_at IS NULL;
COMMENT ON TABLE metrics.resources IS
    'AWS resources tagged for Locxia (and untagged look-alikes, tagged=false); gone_at instead of delete';
COMMENT ON COLUMN metrics.resources.resource_id IS
    'CloudWatch dimension value: instance id, volume id, DB identifier or bucket name';
COMMENT ON COLUMN metrics.resources.attributes IS
    'From Describe: instance_type/class, engine, storage_gb, volume_type, multi_az, volumes...';

-- ---------------------------------------------------------------------------------------------
-- What to collect, how often: one scheduled job per enabled policy. A resource is collected by
-- the most specific enabled policy of its type whose match_tags it carries (most tags wins,
-- then the name in alphabetical order). metrics: "Name" or "Name{Dim=Value,...}" for extra
-- constant dimensions (S3's StorageType). Optional adaptive cadence: a resource whose latest
-- busy_metric Average exceeds busy_threshold is sampled every busy_every_seconds, otherwise
-- every every_seconds.
CREATE TABLE params.collection_policies (
    name                text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    resource_type       text NOT NULL
                        CHECK (resource_type IN ('ec2:instance', 'ec2:volume', 'rds:db', 's3:bucket')),
    namespace           text NOT NULL CHECK (namespace ~ '^[A-Za-z0-9/_.#:-]{1,255}$'),
    metrics             text[] NOT NULL CHECK (cardinality(metrics) BETWEEN 1 AND 100),
    stats               text[] NOT NULL CHECK (cardinality(stats) BETWEEN 1 AND 10),
    period_seconds      integer NOT NULL
                        CHECK (period_seconds IN (1, 5, 10, 30) OR (period_seconds % 60 = 0
                               AND period_seconds BETWEEN 60 AND 86400)),
    lookback_seconds    integer NOT NULL DEFAULT 0 CHECK (lookback_seconds BETWEEN 0 AND 1209600),
    backfill_seconds    integer NOT NULL DEFAULT 86400
                        CHECK (backfill_seconds BETWEEN 60 AND 1296000),
    every_seconds       integer NOT NULL CHECK (every_seconds BETWEEN 10 AND 604800),
    match_tags          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(match_tags) = 'object'),
    busy_metric         text,
    busy_threshold      double precision,
    busy_every_seconds  integer CHECK (busy_every_seconds BETWEEN 10 AND 604800),
    enabled             boolean NOT NULL DEFAULT true,
    note                text,
    CHECK ((busy_metric IS NULL) = (busy_threshold IS NULL)
           AND (busy_metric IS NULL) = (busy_every_seconds IS NULL))
);
COMMENT ON TABLE params.collection_policies IS
    'Which CloudWatch metrics/stats to collect for which resources (type + tags), at which cadence';
-- Defaults (seeded before the audit trigger: shipping them is not a change by anyone).
INSERT INTO params.collection_policies
    (name, resource_type, namespace, metrics, stats, period_seconds, lookback_seconds,
     backfill_seconds, every_seconds, match_tags, busy_metric, busy_threshold,
     busy_every_seconds, note)
VALUES
    ('rds-default', 'rds:db', 'AWS/RDS',
     ARRAY['CPUUtilization', 'FreeStorageSpace', 'SwapUsage', 'ReadIOPS', 'WriteIOPS', 'DatabaseConnections'],
     ARRAY['Average', 'Maximum'], 300, 900, 86400, 300, '{}', NULL, NULL, NULL,
     'every RDS instance: 5-minute points every 5 minutes, late points re-read for 15 minutes'),
    ('ec2-default', 'ec2:instance', 'AWS/EC2',
     ARRAY['CPUUtilization', 'NetworkIn', 'NetworkOut', 'EBSReadOps', 'EBSWriteOps'],
     ARRAY['Average', 'Maximum'], 300, 900, 86400, 900, '{}', 'CPUUtilization', 20, 300,
     'every EC2 instance: every 5 minutes while CPU > 20 %, every 15 minutes at rest'),
    ('ec2-ingestion', 'ec2:instance', 'AWS/EC2',
     ARRAY['CPUUtilization', 'NetworkIn', 'NetworkOut', 'EBSReadOps', 'EBSWriteOps'],
     ARRAY['Average', 'Maximum'], 60, 300, 3600, 600, '{"task": "ingestion"}', 'CPUUtilization', 20, 60,
     'EC2 tagged task=ingestion (heavy jobs): 1-minute points; every minute busy, 10 idle'),
    ('ebs-default', 'ec2:volume', 'AWS/EBS',
     ARRAY['VolumeReadOps', 'VolumeWriteOps'],
     ARRAY['Sum'], 300, 900, 86400, 1800, '{}', NULL, NULL, NULL,
     'EBS volumes: read/write operations per 5 minutes, fetched every 30 minutes'),
    ('s3-default', 's3:bucket', 'AWS/S3',
     ARRAY['BucketSizeBytes{StorageType=StandardStorage}', 'NumberOfObjects{StorageType=AllStorageTypes}'],
     ARRAY['Average'], 86400, 172800, 259200, 86400, '{}', NULL, NULL, NULL,
     'S3 storage metrics are daily: one fetch a day');
SELECT params.enable_audit('params.collection_policies');

-- ---------------------------------------------------------------------------------------------
-- Datapoints, from GetMetricData and from Metric Streams files, range-partitioned by day on ts.
-- Partitions are created on demand (metrics.ensure_datapoint_partitions) and dropped whole by
-- the retention job. No foreign key: it would cost a lookup per row on the hot path, and
-- resources are never deleted. metric and stat compare bytewise (COLLATE "C"): they are
-- identifiers, and the key's text comparisons cost a quarter of a bulk load otherwise.
CREATE TABLE metrics.datapoints (
    resource_id  bigint NOT NULL,
    metric       text COLLATE "C" NOT NULL,
    stat         text COLLATE "C" NOT NULL,
    period       integer NOT NULL,
    ts           timestamptz NOT NULL,
    value        double precision NOT NULL,
    PRIMARY KEY (resource_id, metric, stat, period, ts)
) PARTITION BY RANGE (ts);
COMMENT ON TABLE metrics.datapoints IS
    'CloudWatch datapoints: one row per resource, metric, statistic, period (s) and period start ts';

-- Create the daily partitions covering [from_ts, to_ts]; idempotent and safe to race.
CREATE FUNCTION metrics.ensure_datapoint_partitions(from_ts timestamptz, to_ts timestamptz)
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
            -- serialise creators of the same day: two collectors may start at once
            PERFORM pg_advisory_xact_lock(hashtext('metrics.' || part));
            IF to_regclass('metrics.' || part) IS NULL THEN
                EXECUTE format(
                    'CREATE TABLE metrics.%I PARTITION OF metrics.datapoints'
                    ' FOR VALUES FROM (%L) TO (%L)',
                    part, (day::timestamp AT TIME ZONE 'UTC'),
                    ((day + 1)::timestamp AT TIME ZONE 'UTC'));
                created := created + 1;
            END IF;
        END IF;
        day := day + 1;
    END LOOP;
    RETURN created;
END
$$;

-- How far each (resource, metric, stat, period) series has been fetched. The next fetch reads
-- from watermark - lookback; the watermark moves in the same transaction as the datapoints.
CREATE TABLE metrics.watermarks (
    resource_id  bigint NOT NULL REFERENCES metrics.resources (id),
    metric       text COLLATE "C" NOT NULL,
    stat         text COLLATE "C" NOT NULL,
    period       integer NOT NULL,
    watermark    timestamptz NOT NULL,
    policy       text NOT NULL,
    fetched_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (resource_id, metric, stat, period)
);
COMMENT ON TABLE metrics.watermarks IS
    'End (exclusive) of the last fetched window per series; the next window starts at watermark - lookback';

-- Metric Streams files (Firehose JSON to S3) already ingested: each file exactly once.
CREATE TABLE metrics.stream_files (
    uri          text PRIMARY KEY,
    etag         text NOT NULL,
    size_bytes   bigint NOT NULL,
    records      integer NOT NULL,
    datapoints   integer NOT NULL,
    skipped      integer NOT NULL,
    ingested_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE metrics.stream_files IS
    'Ledger of ingested CloudWatch Metric Streams files (s3://bucket/key): never ingested twice';
