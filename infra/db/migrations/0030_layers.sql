-- 0030 layers: datasets as parameters, every version in every zone, every move as lineage.
--
-- People declare datasets in params.datasets (audited, NOTIFY); the feed records what it did
-- in ops.dataset_versions and ops.lineage. Published layers live in exposure.<name>; the
-- previous version of each is kept in exposure_previous.<name> for `locxia rollback`, and
-- loads happen in exposure_staging (never visible half-done: see docs/feed.md).

CREATE SCHEMA IF NOT EXISTS exposure_previous;
CREATE SCHEMA IF NOT EXISTS exposure_staging;
COMMENT ON SCHEMA exposure_previous IS
    'The version each exposure.<name> replaced, kept for locxia rollback (one per layer)';
COMMENT ON SCHEMA exposure_staging IS
    'Layers being loaded by locxia publish; never read by applications';

CREATE TABLE params.datasets (
    name      text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
    source    text CHECK (source IS NULL OR source ~ '^(https?|s3|file)://'),
    layer     text CHECK (layer IS NULL OR length(layer) BETWEEN 1 AND 200),
    rules     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(rules) = 'object'),
    cron      text CHECK (cron ~ '^\S+( \S+){4}$'),
    timezone  text NOT NULL DEFAULT 'Europe/Paris',
    enabled   boolean NOT NULL DEFAULT true,
    note      text,
    CHECK (cron IS NULL OR source IS NOT NULL)
);
COMMENT ON TABLE params.datasets IS
    'Datasets to feed: source URI, layer, quality rules (JSON), optional cron to re-feed';
COMMENT ON COLUMN params.datasets.rules IS
    'Quality rules: crs, geometry_types, bounds, required_columns, id_column, min_rows, '
    'max_rows, encoding, repair, null_geometries, max_outside (see docs/feed.md)';
SELECT params.enable_audit('params.datasets');

CREATE TABLE ops.dataset_versions (
    id              bigserial PRIMARY KEY,
    dataset         text NOT NULL,
    zone            text NOT NULL CHECK (zone IN ('landing', 'working', 'exposure')),
    uri             text NOT NULL,
    parent_id       bigint REFERENCES ops.dataset_versions (id),
    fingerprint     text NOT NULL,
    rows            bigint CHECK (rows >= 0),
    bytes           bigint CHECK (bytes >= 0),
    checksum        text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    crs             text,
    bbox            double precision[] CHECK (bbox IS NULL OR cardinality(bbox) = 4),
    extent          geometry(Polygon, 4326),
    geometry_types  text[] NOT NULL DEFAULT '{}',
    layer           text,
    status          text NOT NULL CHECK (status IN (
                        'landed', 'rejected', 'refined',   -- landing
                        'ready',                           -- working
                        'published', 'previous', 'retired' -- exposure
                    )),
    quality         jsonb,
    provenance      jsonb NOT NULL DEFAULT '{}',
    run_id          bigint REFERENCES ops.runs (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- Re-runs are no-ops: the same bytes land once, the same landing version refines once under
-- the same rules (fingerprint = parent + rules hash).
CREATE UNIQUE INDEX dataset_versions_landing_key
    ON ops.dataset_versions (dataset, checksum) WHERE zone = 'landing';
CREATE UNIQUE INDEX dataset_versions_working_key
    ON ops.dataset_versions (dataset, fingerprint) WHERE zone = 'working';
-- At most one live and one kept-for-rollback exposure version per dataset.
CREATE UNIQUE INDEX dataset_versions_live_key
    ON ops.dataset_versions (dataset) WHERE zone = 'exposure' AND status = 'published';
CREATE UNIQUE INDEX dataset_versions_previous_key
    ON ops.dataset_versions (dataset) WHERE zone = 'exposure' AND status = 'previous';
CREATE INDEX dataset_versions_dataset_idx ON ops.dataset_versions (dataset, zone, id DESC);
CREATE INDEX dataset_versions_extent_idx ON ops.dataset_versions USING gist (extent);
COMMENT ON TABLE ops.dataset_versions IS
    'Every version of every dataset in every zone: URI, rows, bytes, SHA-256, CRS, bbox '
    '(in crs), extent (EPSG:4326), geometry types, status, quality report';
COMMENT ON COLUMN ops.dataset_versions.bbox IS 'xmin, ymin, xmax, ymax in the version''s CRS';
COMMENT ON COLUMN ops.dataset_versions.extent IS 'the bbox as a polygon in EPSG:4326 (maps)';

CREATE TABLE ops.lineage (
    id               bigserial PRIMARY KEY,
    dataset          text NOT NULL,
    step             text NOT NULL CHECK (step IN (
                         'ingest', 'refine', 'publish', 'rollback', 'transfer')),
    from_version_id  bigint REFERENCES ops.dataset_versions (id),
    from_uri         text NOT NULL,
    to_version_id    bigint REFERENCES ops.dataset_versions (id),
    to_uri           text NOT NULL,
    rows             bigint,
    started_at       timestamptz NOT NULL,
    duration_ms      integer NOT NULL CHECK (duration_ms >= 0),
    run_id           bigint REFERENCES ops.runs (id) ON DELETE SET NULL
);
CREATE INDEX lineage_dataset_idx ON ops.lineage (dataset, started_at DESC);
COMMENT ON TABLE ops.lineage IS
    'Every move of a layer: from (version or URI) to (version or URI), step, duration';
