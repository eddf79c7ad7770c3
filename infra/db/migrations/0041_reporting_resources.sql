-- 0041 reporting views for the Resources dashboard: what is observed, and its metrics.
--
-- Same contract as 0040: stable names and columns (documented in docs/dashboards.md), columns
-- added at the end only; the views run with their owner's privileges, so locxia_grafana never
-- reads metrics.* itself.

-- Every resource discovery has seen (tagged ones and untagged look-alikes), with the shape
-- Describe reported: class or type, storage, engine.
CREATE VIEW reporting.resources AS
SELECT r.resource_id,
       r.name,
       r.type,
       CASE r.type
           WHEN 'rds:db' THEN 'rds'
           WHEN 'ec2:instance' THEN 'ec2'
           WHEN 'ec2:volume' THEN 'ebs'
           WHEN 's3:bucket' THEN 's3'
       END                                                       AS kind,
       r.region,
       r.state,
       coalesce(r.attributes ->> 'instance_class', r.attributes ->> 'instance_type',
                r.attributes ->> 'volume_type')                  AS instance_class,
       coalesce(r.attributes ->> 'storage_gb', r.attributes ->> 'size_gb')::integer AS storage_gb,
       r.attributes ->> 'engine'                                 AS engine,
       coalesce((r.attributes ->> 'multi_az')::boolean, false)  AS multi_az,
       r.tagged,
       r.gone_at IS NULL                                         AS present,
       r.first_seen,
       r.last_seen,
       r.gone_at,
       r.arn
  FROM metrics.resources r;
COMMENT ON VIEW reporting.resources IS
    'Discovered resources: kind (rds/ec2/ebs/s3), state, class/type, storage, tagged, present';

-- CloudWatch's names differ between RDS and EC2; dashboards ask for one measure across both.
-- RDS publishes rates (IOPS, bytes/s). EC2 publishes counts per sample (EBSReadOps, NetworkIn):
-- a Sum over the period divides by the period; an Average or Maximum is one sample's count,
-- divided by the sampling interval (60 s for the 1-minute periods of detailed monitoring,
-- 300 s — basic monitoring — otherwise). Units after conversion: percent, bytes, per second.
CREATE VIEW reporting.instance_metrics AS
SELECT d.ts                                                      AS time,
       r.name                                                    AS resource,
       r.resource_id,
       m.kind,
       m.measure,
       d.metric,
       d.stat,
       d.period                                                  AS period_seconds,
       CASE
           WHEN NOT m.per_sample THEN d.value
           WHEN d.stat = 'Sum' THEN d.value / d.period
           WHEN d.period < 300 THEN d.value / 60
           ELSE d.value / 300
       END                                                       AS value,
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
    ON m.type = r.type AND d.metric = m.metric COLLATE "C";
COMMENT ON VIEW reporting.instance_metrics IS
    'RDS/EC2 datapoints as common measures (cpu, free_storage, swap, read_iops, write_iops, '
    'connections, network_in, network_out), EC2 counts converted to per-second rates';

-- S3 storage metrics (daily): size of the Standard storage class and the number of objects.
CREATE VIEW reporting.bucket_sizes AS
SELECT d.ts                                                                AS time,
       r.name                                                              AS bucket,
       max(d.value) FILTER (WHERE d.metric = 'BucketSizeBytes')            AS size_bytes,
       max(d.value) FILTER (WHERE d.metric = 'NumberOfObjects')::bigint    AS objects
  FROM metrics.datapoints d
  JOIN metrics.resources r ON r.id = d.resource_id
 WHERE r.type = 's3:bucket' AND d.stat = 'Average'
   AND d.metric IN ('BucketSizeBytes', 'NumberOfObjects')
 GROUP BY d.ts, r.name;
COMMENT ON VIEW reporting.bucket_sizes IS
    'Per bucket and day: BucketSizeBytes (Standard storage) and NumberOfObjects (Average)';

GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO locxia_grafana;
