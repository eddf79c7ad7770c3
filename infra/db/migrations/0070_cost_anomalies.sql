-- 0070 cost anomalies (issue 16): a day whose cost rose far above its weekday-aware baseline
-- (rolling median and MAD over 28 days), per Cost Explorer service and per resource, with the
-- drivers that moved. Written by the observe.anomalies job (pipelines/observe/costs/
-- anomalies.py), acknowledged with `locxia observe anomalies ack ID`. Meaning: docs/observe.md.

CREATE TABLE costs.anomalies (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    day              date NOT NULL,
    scope            text NOT NULL CHECK (scope IN ('service', 'resource')),
    key              text NOT NULL CHECK (length(key) BETWEEN 1 AND 500),
    service          text NOT NULL,
    resource_id      bigint REFERENCES metrics.resources (id),
    source           text NOT NULL CHECK (source IN ('cost-explorer', 'estimates')),
    observed         numeric(14, 6) NOT NULL,
    expected         numeric(14, 6) NOT NULL,
    score            double precision NOT NULL,
    drivers          jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(drivers) = 'array'),
    detected_at      timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    acknowledged_by  text,
    acknowledged_at  timestamptz,
    UNIQUE (day, scope, key),
    CHECK ((acknowledged_by IS NULL) = (acknowledged_at IS NULL)),
    CHECK ((scope = 'resource') = (resource_id IS NOT NULL))
);
CREATE INDEX anomalies_open_idx ON costs.anomalies (day) WHERE acknowledged_at IS NULL;
COMMENT ON TABLE costs.anomalies IS
    'A day whose cost (CE per service, estimates per resource) rose above its weekday-aware '
    '28-day median by more than the score threshold and the USD floor; drivers = what moved';
COMMENT ON COLUMN costs.anomalies.score IS
    '(observed - expected) / robust scale (1.4826 x MAD of the de-seasonalised 28 days, '
    'floored at a share of expected)';
COMMENT ON COLUMN costs.anomalies.drivers IS
    'Ranked list of {kind, key, observed, expected, delta, share}: resources of the service, '
    'the part the estimates do not explain, or the priced basis of a resource before and after';

CREATE VIEW reporting.cost_anomalies AS
SELECT a.id,
       (a.day::timestamp AT TIME ZONE 'UTC')               AS time,
       a.day,
       a.scope,
       a.key,
       a.service,
       r.name                                              AS resource,
       a.source,
       a.observed,
       a.expected,
       a.observed - a.expected                             AS excess,
       a.score,
       a.drivers,
       a.drivers -> 0 ->> 'key'                            AS top_driver,
       (a.drivers -> 0 ->> 'delta')::numeric               AS top_driver_delta,
       a.detected_at,
       a.acknowledged_at IS NOT NULL                       AS acknowledged,
       a.acknowledged_by,
       a.acknowledged_at
  FROM costs.anomalies a
  LEFT JOIN metrics.resources r ON r.id = a.resource_id;
COMMENT ON VIEW reporting.cost_anomalies IS
    'Cost anomalies per day: service or resource, observed vs expected, score, ranked drivers '
    '(top_driver first), acknowledged or not';

GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO locxia_grafana;
