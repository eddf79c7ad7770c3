-- 0067 cost lines the modules turn on (issue 14): EC2 detailed monitoring (CloudWatch metrics),
-- RDS log exports (CloudWatch Logs ingestion and storage) and RDS Extended Support are priced
-- from the catalog like instance hours and storage (infra/costlines.py).
ALTER TABLE costs.prices DROP CONSTRAINT prices_service_check;
ALTER TABLE costs.prices ADD CONSTRAINT prices_service_check
    CHECK (service IN ('rds', 'rds-storage', 'rds-iops', 'rds-throughput', 'ec2', 'ebs',
                       'ebs-iops', 'ebs-throughput', 's3', 'rds-extended-support', 'cloudwatch',
                       'cloudwatch-logs'));
ALTER TABLE costs.prices DROP CONSTRAINT prices_unit_check;
ALTER TABLE costs.prices ADD CONSTRAINT prices_unit_check
    CHECK (unit IN ('hour', 'gb-month', 'iops-month', 'mibps-month', 'vcpu-hour',
                    'metric-month', 'gb'));
