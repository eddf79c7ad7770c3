-- 0063 state history per resource, and estimates that are final once their hour is known
-- (issue 14). Meaning of every table: docs/observe.md.
--
-- metrics.resource_states: the state (RDS DBInstanceStatus, EC2 instance state, ...) and the
-- priced attributes (class/type, multi-AZ, storage size/type/IOPS/throughput, volume size and
-- type, monitoring, platform, log exports, engine version: whatever Describe gave) of each
-- resource, from `since` until the next row. Written by discovery (source 'discovery') and by
-- every power action or apply shape takes (source 'shape:<action>', with the time of the call),
-- only when something changed (pipelines/observe/metrics/history.py). A resource found gone
-- gets a 'deleted' row at gone_at. Estimates price each past hour with the rows in force then.
CREATE TABLE metrics.resource_states (
    resource_id  bigint NOT NULL REFERENCES metrics.resources (id),
    since        timestamptz NOT NULL,
    state        text NOT NULL,
    attributes   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    source       text NOT NULL CHECK (source = 'discovery' OR source ~ '^shape:[a-z][a-z0-9-]*$'),
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (resource_id, since)
);
COMMENT ON TABLE metrics.resource_states IS
    'State and priced attributes of each resource, in force from since until the next row; '
    'source: discovery or shape:<action>';

-- Backfill: what is known of each existing resource is its current state and attributes, since
-- it was first seen; a resource already gone is 'deleted' from gone_at. (Like the other metrics
-- tables, no grant: only the owner reads it; Grafana reads reporting views.)
INSERT INTO metrics.resource_states (resource_id, since, state, attributes, source)
SELECT id, first_seen, coalesce(state, 'unknown'), attributes, 'discovery'
  FROM metrics.resources;
INSERT INTO metrics.resource_states (resource_id, since, state, attributes, source)
SELECT id, gone_at, 'deleted', attributes, 'discovery'
  FROM metrics.resources
 WHERE gone_at IS NOT NULL AND gone_at > first_seen;

-- costs.estimates.final: the hour's state is fully known (a later observation exists, or the
-- resource is gone), so no later run rewrites it. Runs recompute only provisional or missing
-- hours. Hours the previous code had stopped recomputing (older than 48 h and than Cost
-- Explorer's coverage) were already frozen: they stay as they are, now marked final.
ALTER TABLE costs.estimates ADD COLUMN final boolean NOT NULL DEFAULT false;
UPDATE costs.estimates
   SET final = true
 WHERE hour < least(now() - interval '48 hours',
                    (SELECT covered_until FROM costs.coverage));
CREATE INDEX estimates_provisional_idx ON costs.estimates (resource_id, hour) WHERE NOT final;
COMMENT ON COLUMN costs.estimates.final IS
    'true once the hour''s state is known (a later observation, or the resource gone): never '
    'rewritten; false = provisional, priced with the latest known state and recomputed';
