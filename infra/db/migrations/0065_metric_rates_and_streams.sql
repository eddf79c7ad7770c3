-- 0065 observe / metrics: count metrics read as Sum and shown as Sum / period, periods AWS
-- never serves refused at edit time, and the Metric Streams ledger keeping failed files.
-- Rules and their AWS sources: pipelines/observe/metrics/periods.py; docs/observe.md.

-- ---------------------------------------------------------------------------------------------
-- Statistics per metric. A policy owns a resource whole (most specific match wins), so a
-- policy reading CPU (a gauge: Average, Maximum) and network bytes (a count: Sum) needs
-- statistics per metric: metric_stats maps a metric name to its statistics and overrides
-- stats for that metric.
ALTER TABLE params.collection_policies
    ADD COLUMN metric_stats jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metric_stats) = 'object');
COMMENT ON COLUMN params.collection_policies.metric_stats IS
    'Per-metric statistics overriding stats, e.g. {"NetworkIn": ["Sum"]}: counts are read as Sum';

-- The shipped EC2 policies read counts as Sum from now on. "List the available CloudWatch
-- metrics for your instances" (EC2 User Guide): NetworkIn/Out are bytes and EBSRead/WriteOps
-- operations over the sampling interval, 5 minutes in basic and 1 minute in detailed
-- monitoring, so their Average over a period depends on the mode and their Sum does not.
-- Rows someone already gave per-metric statistics are left alone.
SELECT set_config('locxia.actor', 'migration 0065', true);
UPDATE params.collection_policies
   SET metric_stats = (
           SELECT coalesce(jsonb_object_agg(m, jsonb_build_array('Sum')), '{}')
             FROM unnest(metrics) AS m
            WHERE m IN ('NetworkIn', 'NetworkOut', 'EBSReadOps', 'EBSWriteOps'))
 WHERE name IN ('ec2-default', 'ec2-ingestion') AND metric_stats = '{}'
   AND metrics && ARRAY['NetworkIn', 'NetworkOut', 'EBSReadOps', 'EBSWriteOps'];

-- ---------------------------------------------------------------------------------------------
-- Periods AWS never serves for its namespaces: refused when the row is written, in one line.
-- "CloudWatch concepts - periods" / MetricStat: regular-resolution metrics (every AWS/*
-- namespace) take multiples of 60 s; AWS/S3 BucketSizeBytes and NumberOfObjects are published
-- once a day (S3 User Guide, "Metrics and dimensions"), so their period is 86400.
CREATE FUNCTION ops.collection_policies_periods() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    where_  text := format('params.collection_policies[%s]', NEW.name);
    metric  text;
    step    integer;
    key     text;
    val     jsonb;
BEGIN
    IF NEW.namespace LIKE 'AWS/%' THEN
        FOREACH metric IN ARRAY NEW.metrics LOOP
            metric := split_part(metric, '{', 1);
            step := CASE WHEN NEW.namespace = 'AWS/S3'
                              AND metric IN ('BucketSizeBytes', 'NumberOfObjects') THEN 86400
                         ELSE 60 END;
            IF NEW.period_seconds % step <> 0 THEN
                RAISE EXCEPTION USING ERRCODE = 'check_violation',
                    MESSAGE = format('%s.period_seconds: %s s: AWS publishes %s %s %s; use a '
                                     'multiple of %s s (CloudWatch concepts - periods)',
                                     where_, NEW.period_seconds, NEW.namespace, metric,
                                     CASE step WHEN 86400 THEN 'once a day'
                                               ELSE format('every %s s', step) END, step);
            END IF;
        END LOOP;
    END IF;
    FOR key, val IN SELECT * FROM jsonb_each(NEW.metric_stats) LOOP
        IF NOT EXISTS (SELECT 1 FROM unnest(NEW.metrics) AS m WHERE split_part(m, '{', 1) = key)
        THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('%s.metric_stats: %L is not one of the policy''s metrics',
                                 where_, key);
        END IF;
        IF jsonb_typeof(val) <> 'array' OR jsonb_array_length(val) NOT BETWEEN 1 AND 10
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(val) AS s
                       WHERE jsonb_typeof(s) <> 'string') THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('%s.metric_stats[%s]: expected 1 to 10 statistic names',
                                 where_, key);
        END IF;
    END LOOP;
    RETURN NEW;
END
$$;
CREATE TRIGGER periods BEFORE INSERT OR UPDATE ON params.collection_policies
    FOR EACH ROW EXECUTE FUNCTION ops.collection_policies_periods();

-- ---------------------------------------------------------------------------------------------
-- Rates. Count metrics (bytes, operations) are shown only from their Sum, divided by the
-- period: bytes per second, right whatever the sampling interval (basic 5 minutes, detailed 1
-- minute). An Average or Maximum of a count is the mean or peak per *sample*, whose length the
-- view cannot know, so those rows (the old default policies collected them) are not shown as
-- rates. A rate row's stat is 'Average': the mean per-second rate over the period, which is
-- what every panel (stat = 'Average') plots. Same columns as migration 0041.
CREATE OR REPLACE VIEW reporting.instance_metrics AS
SELECT d.ts                                                      AS time,
       r.name                                                    AS resource,
       r.resource_id,
       m.kind,
       m.measure,
       d.metric,
       CASE WHEN m.per_sample THEN 'Average' ELSE d.stat END     AS stat,
       d.period                                                  AS period_seconds,
       CASE WHEN m.per_sample THEN d.value / d.period ELSE d.value END AS value,
       m.unit
  FROM metrics.datapoints d
  JOIN metrics.resources r ON r.id = d.resource_id
  JOIN (VALUES
        ('rds:db', 'rds', 'CPUUtilization', 'cpu', 'percent', false),
        ('rds:db', 'rds', 'FreeStorageSpace', 'free_storage', 'bytes', false),
        ('rds:db', 'rds', 'SwapUsage', 'swap', 'bytes', false),
        ('rds:db', 'rds', 'ReadIOPS', 'read_iops', 'per second', false),
        ('rds:db', 'rds', 'WriteIOPS', 'write_iops', 'per second', false),
        ('rds:db', 'rds', 'DatabaseConnections', 'connections', 'count', false),
        ('rds:db', 'rds', 'NetworkReceiveThroughput', 'network_in', 'bytes per second', false),
        ('rds:db', 'rds', 'NetworkTransmitThroughput', 'network_out', 'bytes per second', false),
        ('ec2:instance', 'ec2', 'CPUUtilization', 'cpu', 'percent', false),
        ('ec2:instance', 'ec2', 'EBSReadOps', 'read_iops', 'per second', true),
        ('ec2:instance', 'ec2', 'EBSWriteOps', 'write_iops', 'per second', true),
        ('ec2:instance', 'ec2', 'NetworkIn', 'network_in', 'bytes per second', true),
        ('ec2:instance', 'ec2', 'NetworkOut', 'network_out', 'bytes per second', true)
       ) AS m (type, kind, metric, measure, unit, per_sample)
    -- metrics.datapoints.metric is COLLATE "C": compare in that collation, or its primary key
    -- (resource_id, metric, stat, ...) cannot serve the join and every metric is read.
    ON m.type = r.type AND d.metric = m.metric COLLATE "C"
 WHERE NOT m.per_sample OR d.stat = 'Sum' COLLATE "C";
COMMENT ON VIEW reporting.instance_metrics IS
    'RDS/EC2 datapoints as common measures (cpu, free_storage, swap, read_iops, write_iops, '
    'connections, network_in, network_out); EC2 counts as Sum / period (per second, stat Average)';

-- ---------------------------------------------------------------------------------------------
-- Metric Streams ledger: a file that cannot be read is recorded too (status failed or refused,
-- with the reason), so it is not downloaded again on every pass; a failed file is retried a
-- bounded number of times (attempts), a refused one (a format Locxia does not read) never.
ALTER TABLE metrics.stream_files
    ADD COLUMN status text NOT NULL DEFAULT 'ingested'
        CHECK (status IN ('ingested', 'failed', 'refused')),
    ADD COLUMN error text,
    ADD COLUMN attempts integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    ADD CONSTRAINT stream_files_error_when_not_ingested
        CHECK ((status = 'ingested') = (error IS NULL));
COMMENT ON COLUMN metrics.stream_files.status IS
    'ingested; failed (unreadable: retried up to the ingester''s limit); refused (never retried)';
