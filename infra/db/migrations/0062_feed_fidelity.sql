-- 0062 feed fidelity (issue 15): the newest ingest is what moves forward; rules from the CLI.
--
-- A source that goes back to earlier bytes (A -> B -> A) used to leave exposure serving B:
-- A's landing and working versions already existed, so every step was a no-op and "newest"
-- meant the highest id (B). current_at is when a step last produced *or found* a version;
-- refine and publish take the version with the latest current_at, so re-ingesting A makes A
-- current again, refine finds (or makes) A's working version and publish swaps it in.
ALTER TABLE ops.dataset_versions ADD COLUMN current_at timestamptz;
UPDATE ops.dataset_versions SET current_at = created_at;
ALTER TABLE ops.dataset_versions
    ALTER COLUMN current_at SET NOT NULL,
    ALTER COLUMN current_at SET DEFAULT clock_timestamp();
CREATE INDEX dataset_versions_current_idx
    ON ops.dataset_versions (dataset, zone, current_at DESC, id DESC);
COMMENT ON COLUMN ops.dataset_versions.current_at IS
    'When a step last produced or found this version (a no-op re-ingest of older bytes makes '
    'them current again); refine and publish take the latest';

-- `locxia datasets set` writes params.datasets (audited by the params.history trigger, with
-- the --as label in locxia.actor, like `locxia params set`). Rules stay one JSON column; the
-- ones added here are listed for people reading the table.
COMMENT ON COLUMN params.datasets.rules IS
    'Quality rules: crs, crs_override, geometry_types, bounds, required_columns, id_column '
    '(the exposure key), min_rows, max_rows, encoding, repair, null_geometries, max_outside, '
    'where (OGR SQL row filter), max_suspect_text (see docs/feed.md)';

-- Rules are validated in code before they are written; the database refuses at least what
-- no rule set can be: a rules object whose crs_override or where is not a non-empty string.
ALTER TABLE params.datasets
    ADD CONSTRAINT rules_override_is_text CHECK (
        NOT rules ? 'crs_override' OR jsonb_typeof(rules -> 'crs_override') IN ('string', 'null')
    ) NOT VALID,
    ADD CONSTRAINT rules_where_is_printable CHECK (
        NOT rules ? 'where' OR jsonb_typeof(rules -> 'where') = 'null'
        OR (jsonb_typeof(rules -> 'where') = 'string'
            AND rules ->> 'where' !~ '[\x01-\x1f\x7f-\x9f]' AND length(rules ->> 'where') <= 1000)
    ) NOT VALID;

-- No new grant: locxia_editor already edits params.datasets (0001) and reads params.history,
-- which is all `datasets set/history/revert` needs; current_at is written by the login that
-- owns the schema, like every other column of ops.dataset_versions.
