-- 0061 rejections: every failure of the feed is a version with its reason (issue 15).
--
-- A file that ingest cannot read, a layer refine cannot check or project, a working file
-- publish cannot load: each is recorded as a version with status 'rejected', the step that
-- refused it, and one line naming the cause and the remedy (the line the CLI printed). The
-- reason is written once, in Python, and read by `locxia datasets show/list`, the Layers
-- dashboard and the report alike.
--
-- A file rejected at ingest is not stored in landing (its uri is the source it came from):
-- landing holds layers that read. Trying the same bytes again tries the file again (a rule or
-- the software may have changed), so the one-landing-per-checksum index leaves those out.

ALTER TABLE ops.dataset_versions
    ADD COLUMN reason      text CHECK (reason IS NULL OR (
                               length(reason) BETWEEN 1 AND 1000
                               AND strpos(reason, E'\n') = 0)),
    ADD COLUMN rejected_by text CHECK (rejected_by IN ('ingest', 'refine', 'publish'));
COMMENT ON COLUMN ops.dataset_versions.reason IS
    'Why the version was rejected: one line, cause and remedy (NULL unless rejected)';
COMMENT ON COLUMN ops.dataset_versions.rejected_by IS
    'The step that rejected the version: ingest, refine or publish (NULL unless rejected)';

-- Rejections recorded before this migration were all refine's: their reason is the error, or
-- the failed checks of their report.
UPDATE ops.dataset_versions v
   SET rejected_by = 'refine',
       reason = left(regexp_replace(coalesce(
           v.quality ->> 'error',
           (SELECT string_agg((c ->> 'rule') || ': ' || (c ->> 'detail'), '; ')
              FROM jsonb_array_elements(
                   CASE WHEN jsonb_typeof(v.quality -> 'checks') = 'array'
                        THEN v.quality -> 'checks' ELSE '[]'::jsonb END) c
             WHERE (c ->> 'passed') = 'false'),
           'quality check failed'), '\s+', ' ', 'g'), 1000)
 WHERE v.status = 'rejected';

ALTER TABLE ops.dataset_versions ADD CONSTRAINT dataset_versions_rejected_reason
    CHECK ((status = 'rejected') = (reason IS NOT NULL AND rejected_by IS NOT NULL));

-- Only files that read land; unreadable bytes are a rejected row per distinct reason.
DROP INDEX ops.dataset_versions_landing_key;
CREATE UNIQUE INDEX dataset_versions_landing_key
    ON ops.dataset_versions (dataset, checksum)
    WHERE zone = 'landing' AND rejected_by IS DISTINCT FROM 'ingest';

-- The Layers dashboard and the report list rejections with their reason: two columns added
-- at the end of the view (the contract of 0044: columns are only ever added at the end).
CREATE OR REPLACE VIEW reporting.dataset_versions AS
SELECT v.id                                         AS version_id,
       v.dataset,
       v.zone,
       v.status,
       v.zone = 'exposure' AND v.status = 'published' AS live,
       v.parent_id,
       v.rows,
       v.bytes,
       v.crs,
       array_to_string(v.geometry_types, ', ')      AS geometry_types,
       v.layer,
       v.uri,
       v.created_at,
       v.updated_at,
       v.run_id,
       v.reason,
       v.rejected_by
  FROM ops.dataset_versions v;
COMMENT ON VIEW reporting.dataset_versions IS
    'Every dataset version: zone (landing/working/exposure), status, live, rows, bytes, CRS, '
    'geometry types, created/updated, and for rejected ones the step and the reason';
