-- 0053 separation of duties: the audit records the authenticated login, and approvals are
-- recorded by the database for logins holding locxia_approver who did not cause the plan.
--
-- "Who" in params.history used to be current_setting('locxia.actor') (any session can SET it)
-- else session_user, so it could be forged and the real login was nowhere. From here on:
--   * params.history.login is session_user, always, written by the audit trigger;
--   * params.history.changed_by stays the label (locxia.actor / --as, else the login).
-- session_user is the login that authenticated; SECURITY DEFINER functions and SET ROLE change
-- current_user, not session_user (https://www.postgresql.org/docs/current/functions-info.html).
-- Only a superuser can change it (SET SESSION AUTHORIZATION): superusers are trusted here.

-- ---------------------------------------------------------------------------------------------
-- The audit: login beside the label.
ALTER TABLE params.history ADD COLUMN login text;
-- Rows written before this migration have no known login: NULL, never a guess (copying
-- changed_by would turn a forgeable label into a claimed identity). NOT VALID keeps those
-- rows and holds every new one to the rule.
ALTER TABLE params.history ADD CONSTRAINT login_recorded CHECK (login IS NOT NULL) NOT VALID;
COMMENT ON COLUMN params.history.login IS
    'The authenticated login (session_user) that made the change; NULL only on rows written '
    'before migration 0053, whose login was never recorded';
COMMENT ON COLUMN params.history.changed_by IS
    'A label: locxia.actor (the CLI''s --as) when set, else the login; not proof of identity';

CREATE OR REPLACE FUNCTION params.audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, params AS $$
DECLARE
    old_j jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    new_j jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    label text  := coalesce(nullif(current_setting('locxia.actor', true), ''), session_user);
BEGIN
    IF TG_OP = 'UPDATE' AND old_j = new_j THEN
        RETURN NULL;  -- a no-op UPDATE is not a change
    END IF;
    INSERT INTO params.history
        (table_name, op, row_key, old_row, new_row, changed_by, login, application)
    VALUES (TG_TABLE_NAME, TG_OP,
            params.row_key(TG_RELID, coalesce(new_j, old_j)),
            old_j, new_j, label, session_user,
            nullif(current_setting('application_name', true), ''));
    PERFORM pg_notify('locxia_params', json_build_object(
        'table', TG_TABLE_NAME, 'op', TG_OP,
        'key', params.row_key(TG_RELID, coalesce(new_j, old_j)))::text);
    RETURN NULL;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Approvers: a NOLOGIN role granted to the logins of the people who may approve held plans
-- (GRANT locxia_approver TO carol). Created like the roles of 0001, race included.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'locxia_approver') THEN
        BEGIN
            CREATE ROLE locxia_approver NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
END
$$;

ALTER TABLE ops.terraform_runs ADD COLUMN approved_login text;
COMMENT ON COLUMN ops.terraform_runs.approved_login IS
    'The login (session_user) that approved a held plan, recorded by ops.approve_plan(); '
    'approved_by beside it is only the label it gave (--as)';
COMMENT ON COLUMN ops.terraform_runs.approved_by IS
    'The label given with the approval (--as); the approving login is approved_login';

-- The authors of held run `run`: the logins that changed, in params.history, the row of an
-- instance the plan changes (an entry of `changes` whose action is not no-op), after the
-- newest reconcile before it that made the rows real (applied or no_changes; its started_at,
-- since it read the rows just before). No such run: every change of those rows counts.
-- Rows written before 0053 have no login and name no author.
CREATE FUNCTION ops.plan_authors(run bigint)
RETURNS TABLE (login text, instance text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH target AS (
        SELECT t.id, t.changes FROM ops.terraform_runs t
         WHERE t.id = run AND t.purpose = 'reconcile'
    ), since AS (
        SELECT max(p.started_at) AS at FROM ops.terraform_runs p, target
         WHERE p.purpose = 'reconcile' AND p.status IN ('applied', 'no_changes')
           AND p.id < target.id
    ), touched AS (
        SELECT DISTINCT c ->> 'instance' AS instance
          FROM target, jsonb_array_elements(target.changes) AS c
         WHERE coalesce(c ->> 'action', 'no-op') <> 'no-op'
    )
    SELECT DISTINCT h.login, h.row_key
      FROM params.history h, touched, since
     WHERE h.table_name = 'instances' AND h.row_key = touched.instance
       AND h.login IS NOT NULL
       AND (since.at IS NULL OR h.changed_at > since.at)
     ORDER BY 1, 2
$$;
REVOKE ALL ON FUNCTION ops.plan_authors(bigint) FROM PUBLIC;
COMMENT ON FUNCTION ops.plan_authors(bigint) IS
    'Logins that changed an instance a held plan changes, since the last applied/no-change run';

-- Approve held run `run` as the session's login, labelled `label` (the CLI's --as). The only
-- way an approval is recorded: the apply (service privileges) refuses a held run without one.
-- Refusals raise insufficient_privilege (no role, author of the change), no_data_found (no such
-- run) or object_not_in_prerequisite_state (not held, already approved), each message starting
-- "run N".
CREATE FUNCTION ops.approve_plan(run bigint, label text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    who    text := session_user;
    r      record;
    author record;
BEGIN
    IF NOT pg_has_role(session_user, 'locxia_approver', 'MEMBER') THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('run %s: approving needs the locxia_approver role (login %s has not)',
                             run, who);
    END IF;
    IF label IS NOT NULL AND (length(label) > 100 OR label ~ '[[:cntrl:]]') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('run %s: the label must be a short printable name', run);
    END IF;
    SELECT t.id, t.status, t.approved_login INTO r FROM ops.terraform_runs t
     WHERE t.id = run AND t.purpose = 'reconcile' FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'no_data_found',
            MESSAGE = format('run %s: no such reconcile run (see `locxia infra status`)', run);
    END IF;
    IF r.status <> 'held' THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('run %s is %s, not held for approval', run, r.status);
    END IF;
    IF r.approved_login IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('run %s is already approved by login %s; it is applied at the '
                             'next reconcile', run, r.approved_login);
    END IF;
    SELECT a.instance INTO author FROM ops.plan_authors(run) a WHERE a.login = who LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('run %s: %s changed params.instances[%s] and cannot approve the '
                             'plan it caused', run, who, author.instance);
    END IF;
    UPDATE ops.terraform_runs
       SET approved_login = who,
           approved_by = coalesce(nullif(btrim(label), ''), who),
           approved_at = clock_timestamp()
     WHERE id = run;
    -- Wakes the leader's reconcile (a wake_on job of table "instances"), which applies it.
    PERFORM pg_notify('locxia_params', json_build_object(
        'table', 'instances', 'op', 'APPROVE', 'key', run::text)::text);
    RETURN who;
END
$$;
REVOKE ALL ON FUNCTION ops.approve_plan(bigint, text) FROM PUBLIC;
GRANT USAGE ON SCHEMA ops TO locxia_approver;
GRANT EXECUTE ON FUNCTION ops.approve_plan(bigint, text) TO locxia_approver;
COMMENT ON FUNCTION ops.approve_plan(bigint, text) IS
    'Record the approval of a held plan by session_user (locxia_approver, not an author)';
