-- 0071 notifications: who gets what (params.notification_rules), every event recorded
-- (ops.notifications) and every delivery attempt's outcome (ops.notification_deliveries).
--
-- An event is written by infra.notify.emit in the caller's transaction; it is delivered
-- later by the notify.deliver job (never inside that transaction), once per matching rule.

-- Who gets what. `kinds` is a glob over the event kinds (`*`, `budget_*`, `drift`); `target`
-- is an e-mail address for `email`, and for `webhook` either an http(s) URL without secrets
-- or `setting:NAME`, resolved from LOCXIA_NOTIFY_WEBHOOKS (a JSON object in the environment)
-- so that a webhook URL's token never lives in a table, its history or a log line.
-- Quiet hours [quiet_start, quiet_end) in `timezone` (may wrap midnight): deliveries due then
-- are held and sent when the quiet period ends, never dropped.
CREATE TABLE params.notification_rules (
    name         text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    kinds        text NOT NULL DEFAULT '*' CHECK (kinds ~ '^[a-z_*?]{1,64}$'),
    channel      text NOT NULL CHECK (channel IN ('webhook', 'email')),
    target       text NOT NULL CHECK (length(target) BETWEEN 3 AND 2000 AND target !~ '[[:cntrl:][:space:]]'),
    quiet_start  time,
    quiet_end    time,
    timezone     text NOT NULL DEFAULT 'UTC' CHECK (timezone ~ '^[A-Za-z0-9_+/-]{1,64}$'),
    enabled      boolean NOT NULL DEFAULT true,
    note         text,
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL)),
    CHECK (quiet_start IS NULL OR quiet_start <> quiet_end),
    CHECK (channel <> 'email' OR target ~ '^[^@,;<>]+@[^@,;<>]+$'),
    CHECK (channel <> 'webhook' OR target ~ '^(https?://[^@]+|setting:[a-z0-9_-]{1,64})$')
);
COMMENT ON TABLE params.notification_rules IS
    'Who gets which notifications: kind glob, channel (webhook|email), target, quiet hours';
SELECT params.enable_audit('params.notification_rules');

-- Every event people must act on. Open (resolved_at IS NULL) events dedupe new ones of the
-- same (kind, key) for LOCXIA_NOTIFY_DEDUPE_HOURS; an emitter that sees the condition end
-- resolves it, so a later recurrence notifies again at once.
CREATE TABLE ops.notifications (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('plan_held', 'budget_forecast', 'cost_anomaly',
                     'drift', 'job_backoff', 'job_failing', 'dataset_stale', 'monitoring_cap',
                     'test')),
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 500),
    subject      text NOT NULL,
    body         text NOT NULL,
    details      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
    created_at   timestamptz NOT NULL,
    resolved_at  timestamptz,
    routed_at    timestamptz
);
CREATE INDEX notifications_open_idx ON ops.notifications (kind, key) WHERE resolved_at IS NULL;
CREATE INDEX notifications_unrouted_idx ON ops.notifications (id) WHERE routed_at IS NULL;
COMMENT ON TABLE ops.notifications IS
    'Events to act on (plan held, budget forecast, anomaly, drift, failing jobs, stale data)';

-- One row per (notification, rule): pending -> sent, or held (quiet hours) -> sent, or
-- retry (failed attempt, next_attempt_at backs off) -> sent | failed (gave up), or
-- dropped (the rule was removed or disabled before delivery).
CREATE TABLE ops.notification_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id  bigint NOT NULL REFERENCES ops.notifications (id) ON DELETE CASCADE,
    rule             text NOT NULL,
    channel          text NOT NULL CHECK (channel IN ('webhook', 'email')),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'held', 'retry', 'sent', 'failed', 'dropped')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL,
    last_error       text,
    sent_at          timestamptz,
    created_at       timestamptz NOT NULL,
    UNIQUE (notification_id, rule)
);
CREATE INDEX notification_deliveries_due_idx ON ops.notification_deliveries (next_attempt_at)
    WHERE status IN ('pending', 'held', 'retry');
COMMENT ON TABLE ops.notification_deliveries IS
    'Each notification to each matching rule: status, attempts, next attempt, last error';

CREATE VIEW reporting.notifications AS
SELECT n.id, n.kind, n.key, n.subject, n.created_at, n.resolved_at,
       d.rule, d.channel, d.status, d.attempts, d.last_error, d.sent_at, d.next_attempt_at
  FROM ops.notifications n
  LEFT JOIN ops.notification_deliveries d ON d.notification_id = n.id;
COMMENT ON VIEW reporting.notifications IS
    'Every notification and the state of each of its deliveries';
GRANT SELECT ON reporting.notifications TO locxia_grafana;
