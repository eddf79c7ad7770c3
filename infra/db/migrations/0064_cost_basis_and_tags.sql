-- 0064 observe / costs: Cost Explorer read on an explicit basis, its coverage ending at the
-- start of the newest day it returned, and the activation of the cost allocation tags it
-- groups by. Meaning of every table: docs/observe.md ("Cost Explorer basis").

-- The basis each row was read on (LOCXIA_COST_BASIS) and whether it is usage (counted in the
-- run rate) or an adjustment (credits, refunds, tax, support, fees: month to date only).
ALTER TABLE costs.daily
    ADD COLUMN basis text NOT NULL DEFAULT 'usage' CHECK (basis IN ('usage', 'net-amortized')),
    ADD COLUMN charge text NOT NULL DEFAULT 'usage' CHECK (charge IN ('usage', 'adjustment'));
ALTER TABLE costs.daily ALTER COLUMN basis DROP DEFAULT;
ALTER TABLE costs.daily DROP CONSTRAINT daily_pkey;
ALTER TABLE costs.daily ADD PRIMARY KEY (day, tag_key, service, tag_value, charge);
COMMENT ON TABLE costs.daily IS
    'Cost Explorer daily cost per service, tag value ('''' = untagged) and charge, on one basis';
COMMENT ON COLUMN costs.daily.basis IS
    'usage = UnblendedCost of RECORD_TYPE Usage; net-amortized = NetAmortizedCost of every record type';
COMMENT ON COLUMN costs.daily.charge IS
    'usage = recurring usage (run rate); adjustment = credits, refunds, tax, support, fees';

-- Every Cost Explorer read: its basis, the days asked, the newest day returned and where the
-- complete days end (the start of that newest day: it is still being filled).
CREATE TABLE costs.explorer_reads (
    read_at        timestamptz PRIMARY KEY,
    basis          text NOT NULL CHECK (basis IN ('usage', 'net-amortized')),
    first_day      date NOT NULL,
    end_day        date NOT NULL,
    newest_day     date,
    covered_until  timestamptz
);
COMMENT ON TABLE costs.explorer_reads IS
    'Cost Explorer reads: basis, days asked [first_day, end_day), newest day returned, coverage end';

-- Rows read before this migration: the newest day they hold is partial under the new rule.
INSERT INTO costs.explorer_reads (read_at, basis, first_day, end_day, newest_day, covered_until)
SELECT max(fetched_at), 'usage', min(day), max(day) + 1, max(day),
       max(day)::timestamp AT TIME ZONE 'UTC'
  FROM costs.daily
HAVING count(*) > 0;

CREATE OR REPLACE VIEW costs.coverage AS
SELECT (SELECT covered_until FROM costs.explorer_reads ORDER BY read_at DESC LIMIT 1)
       AS covered_until;
COMMENT ON VIEW costs.coverage IS
    'Start of the newest day of the last Cost Explorer read (NULL before the first read)';

-- The cost allocation tags Cost Explorer is grouped by, as ce:ListCostAllocationTags said on
-- the last run (Unknown: AWS does not list the key, i.e. no billed resource carried it yet).
CREATE TABLE costs.tag_activation (
    tag_key       text PRIMARY KEY,
    status        text NOT NULL CHECK (status IN ('Active', 'Inactive', 'Unknown')),
    tag_type      text,
    used_for      text NOT NULL,
    last_updated  timestamptz,
    last_used     timestamptz,
    checked_at    timestamptz NOT NULL
);
COMMENT ON TABLE costs.tag_activation IS
    'Activation of each cost allocation tag Cost Explorer is grouped by, checked on every read';

-- Cost Explorer per day and service, now with the basis, whether the day is covered (before
-- the start of the newest day read: later days are estimated instead) and the adjustments.
CREATE OR REPLACE VIEW reporting.daily_costs AS
WITH per_key AS (
    SELECT day, service, tag_key,
           sum(usd)                                          AS usd,
           sum(usd) FILTER (WHERE tag_value <> '')           AS tagged_usd,
           bool_or(estimated)                                AS estimated,
           min(basis)                                        AS basis,
           sum(usd) FILTER (WHERE charge = 'adjustment')     AS adjustment_usd
      FROM costs.daily
     GROUP BY day, service, tag_key
)
SELECT DISTINCT ON (day, service)
       (day::timestamp AT TIME ZONE 'UTC')                   AS time,
       day,
       service,
       usd,
       coalesce(tagged_usd, 0)                               AS tagged_usd,
       estimated,
       coalesce((day::timestamp AT TIME ZONE 'UTC') < c.covered_until, false) AS covered,
       basis,
       coalesce(adjustment_usd, 0)                           AS adjustment_usd
  FROM per_key
 CROSS JOIN costs.coverage c
 ORDER BY day, service, tag_key;
COMMENT ON VIEW reporting.daily_costs IS
    'Cost Explorer per day and service: usd, tagged part, estimated = CE may revise it, '
    'covered = a complete day (later ones are estimated instead), basis, adjustments';

-- The basis of the latest Cost Explorer read (one row, always: panels show it in titles).
CREATE VIEW reporting.cost_basis AS
SELECT coalesce((SELECT basis FROM costs.explorer_reads ORDER BY read_at DESC LIMIT 1),
                'no Cost Explorer read yet') AS basis,
       (SELECT max(read_at) FROM costs.explorer_reads) AS read_at,
       (SELECT covered_until FROM costs.coverage) AS covered_until;
COMMENT ON VIEW reporting.cost_basis IS
    'Basis of the latest Cost Explorer read, when it was read and where its complete days end';

-- Cost allocation tag activation, with the warning a reader must see when it is not active.
CREATE VIEW reporting.cost_tag_activation AS
SELECT tag_key,
       status,
       status <> 'Active'                                    AS inactive,
       used_for,
       last_updated,
       checked_at,
       CASE WHEN status <> 'Active' THEN format(
           'cost allocation tag %s is %s: Cost Explorer groups its costs as untagged (%s$);'
           ' activate it, then run locxia observe costs --backfill', tag_key, status, tag_key)
       END                                                   AS warning
  FROM costs.tag_activation;
COMMENT ON VIEW reporting.cost_tag_activation IS
    'Each cost allocation tag Cost Explorer is grouped by: status, inactive flag, warning text';

GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO locxia_grafana;
