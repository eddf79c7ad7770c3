-- 0059 windows: maintenance and backup windows of params.instances, in AWS's formats (UTC).
--
-- maintenance_window  weekly 'ddd:hh24:mi-ddd:hh24:mi' (RDS PreferredMaintenanceWindow, and
--                     when Locxia applies changes that cause downtime: RDS class, Multi-AZ,
--                     storage type, EC2 type — decision 60); NULL = no window: such changes
--                     wait for an approval.
-- backup_window       daily 'hh24:mi-hh24:mi' (RDS PreferredBackupWindow), RDS only; NULL =
--                     AWS's choice.
-- Rules from the RDS API reference (ModifyDBInstance, PreferredMaintenanceWindow and
-- PreferredBackupWindow): those formats, UTC, days mon|tue|wed|thu|fri|sat|sun, each at least
-- 30 minutes, and the two must not conflict.
-- https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBInstance.html
-- The code checks the same (pipelines/shape/windows.py) and says which rule broke first.

-- A window as {start minute, length in minutes, period}: the week starts Monday 00:00 UTC, a
-- daily window's period is a day. NULL when the text is not one of the two formats.
CREATE FUNCTION params.window_span(w text) RETURNS integer[]
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    days  text[] := ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
    g     text[];
    s     integer;
    e     integer;
BEGIN
    g := regexp_match(w, '^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):([0-5][0-9])-'
                         '(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):([0-5][0-9])$');
    IF g IS NOT NULL THEN
        s := (array_position(days, g[1]) - 1) * 1440 + g[2]::int * 60 + g[3]::int;
        e := (array_position(days, g[4]) - 1) * 1440 + g[5]::int * 60 + g[6]::int;
        RETURN ARRAY[s, ((e - s) % 10080 + 10080) % 10080, 10080];
    END IF;
    g := regexp_match(w, '^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])$');
    IF g IS NOT NULL THEN
        s := g[1]::int * 60 + g[2]::int;
        e := g[3]::int * 60 + g[4]::int;
        RETURN ARRAY[s, ((e - s) % 1440 + 1440) % 1440, 1440];
    END IF;
    RETURN NULL;
END
$$;

-- Whether a weekly window and a daily one share a minute (the daily one repeats every day).
CREATE FUNCTION params.windows_overlap(weekly text, daily text) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(bool_or(((b - m[1]) % 10080 + 10080) % 10080 < m[2]
                            OR ((m[1] - b) % 10080 + 10080) % 10080 < d[2]), false)
      FROM (SELECT params.window_span(weekly) AS m, params.window_span(daily) AS d) x,
           LATERAL (SELECT d[1] + i * 1440 AS b FROM generate_series(0, 6) i) days
     WHERE m IS NOT NULL AND d IS NOT NULL
$$;

ALTER TABLE params.instances
    ADD COLUMN maintenance_window text
        CONSTRAINT maintenance_window_valid CHECK (
            maintenance_window ~ '^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$'
            AND (params.window_span(maintenance_window))[2] >= 30),
    ADD COLUMN backup_window text
        CONSTRAINT backup_window_valid CHECK (
            backup_window ~ '^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$'
            AND (params.window_span(backup_window))[2] >= 30),
    ADD CONSTRAINT backup_window_rds_only CHECK (kind = 'rds' OR backup_window IS NULL),
    ADD CONSTRAINT windows_do_not_overlap
        CHECK (NOT params.windows_overlap(maintenance_window, backup_window));
COMMENT ON COLUMN params.instances.maintenance_window IS
    'Weekly UTC window ddd:hh24:mi-ddd:hh24:mi (>= 30 min): RDS maintenance, and when changes '
    'that cause downtime are applied; NULL: they wait for an approval';
COMMENT ON COLUMN params.instances.backup_window IS
    'Daily UTC window hh24:mi-hh24:mi (>= 30 min, RDS only, apart from maintenance_window); '
    'NULL: AWS chooses';
-- Editors already edit every column of params.instances (table grants of 0001 and 0052).
