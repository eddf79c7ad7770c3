-- 0002 price catalog: on-demand prices per region, used by cost estimates and plan previews.
-- Filled by `locxia db upgrade` from the shipped file (infra/data/prices-<region>.csv) and
-- refreshable from the AWS Price List API; rows say where they came from and when.
CREATE TABLE costs.prices (
    region          text NOT NULL,
    service         text NOT NULL CHECK (service IN ('rds', 'rds-storage', 'ec2', 'ebs', 's3')),
    item            text NOT NULL,
    variant         text NOT NULL DEFAULT '',
    unit            text NOT NULL CHECK (unit IN ('hour', 'gb-month')),
    usd             numeric(12, 6) NOT NULL CHECK (usd >= 0),
    source          text NOT NULL,
    effective_date  date NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (region, service, item, variant)
);
COMMENT ON TABLE costs.prices IS
    'On-demand USD price per instance class/type (hour) or storage type (GB-month), per region';
