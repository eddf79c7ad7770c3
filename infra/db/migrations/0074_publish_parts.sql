-- 0074 the ledger of partitioned publish (issue 17, decision 86): one row per part of a
-- partitioned working version COPYed into its staging table exposure_staging.<name>__v<id>.
--
-- A Dask task inserts its part's row and COPYs the part in ONE transaction, so the row exists
-- exactly when the part's rows are in the staging table. A second attempt of the same part (a
-- worker presumed lost, a rescheduled task, a publish resumed after a crash) finds the row and
-- skips; a killed worker's uncommitted COPY vanishes with its row. Rows are deleted in the
-- transaction that swaps the staging table in or drops it. Owned by the service; no other role
-- reads it (ops has no grants).
CREATE TABLE ops.publish_parts (
    staging    text NOT NULL CHECK (staging ~ '^[a-z][a-z0-9_]{0,39}__v[0-9]+$'),
    part       text NOT NULL CHECK (length(part) BETWEEN 1 AND 1000),
    rows       bigint NOT NULL CHECK (rows >= 0),
    copied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (staging, part)
);
COMMENT ON TABLE ops.publish_parts IS
    'Parts of a partitioned working version committed into exposure_staging.<staging>, each in '
    'the transaction of its COPY (exactly once); cleared when the staging table is swapped in '
    'or dropped';
