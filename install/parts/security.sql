--------------------------------------------------------------------------
-- Security: who may do what (DESIGN section 7)
--
-- This part comes last: it sees every object the other parts created.
--
--   * The schema is dedicated: only its owner may create in it, and it
--     holds nothing but the extension's own objects (checked below).
--   * Every function names tables lead_mgmt.x and operators
--     OPERATOR(pg_catalog.x) and pins search_path (pg_catalog, pg_temp),
--     but for the four per-event C trigger functions, whose statements are
--     fully qualified (see below); conditions are jsonb evaluated in C,
--     never SQL text.  The two SQL-standard helpers (_pct, _ratio) are
--     bound to their operators when created.
--   * SECURITY DEFINER (run as the extension's owner, a superuser) are
--     exactly: every trigger function; the maintenance functions admins
--     call (rescore, refresh_segments, run_maintenance, set_stage,
--     disqualify, assign, redistribute); the touch queue's claim_touches
--     and complete_touch; and _rep_scope.  So an application inserting an
--     event needs no right on stage_history, segment_members, assignments,
--     rotation_state, enrollments, touches, engine_state or the computed
--     columns of leads -- no role but the owner may write lead_mgmt's
--     internal state, lead_mgmt writes it itself -- and row-level security
--     (rep isolation) never blocks what lead_mgmt writes.  CREATE TRIGGER
--     checks EXECUTE, and nobody but the owner may execute the trigger
--     functions, so nobody can attach them to a table of their own.
--   * Everything else runs with the caller's rights (SECURITY INVOKER):
--     capture, track, the views, funnel, explain_score, evaluate; row-level
--     security holds for them.  No function is executable by PUBLIC except
--     _rep_scope, which the row-level security policies call.  Access is
--     given per kind of user with grant_writer(), grant_analyst() and
--     grant_admin().
--   * Rep isolation (enable_rep_isolation()) is row-level security on the
--     tables holding lead data, keyed on reps.db_role.
--------------------------------------------------------------------------

--------------------------------------------------------------------------
-- The schema is the extension's alone
--------------------------------------------------------------------------
-- CREATE EXTENSION uses a schema lead_mgmt that already exists.  Whoever
-- can create objects in it could shadow what the extension calls, so
-- refuse to install into a schema that someone other than the installing
-- superuser owns or may create in, or that holds foreign objects.
DO $$
DECLARE
    v_owner  oid;
    v_acl    pg_catalog.aclitem[];
    v_who    text;
    v_what   text;
BEGIN
    SELECT n.nspowner, n.nspacl INTO v_owner, v_acl
      FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) 'lead_mgmt';
    IF v_owner OPERATOR(pg_catalog.<>) (SELECT r.oid FROM pg_catalog.pg_roles r
                                         WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)
       AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) v_owner) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = pg_catalog.format('schema lead_mgmt is owned by %s, who is not a superuser',
                                        v_owner::pg_catalog.regrole),
            HINT = 'Install lead_mgmt into a schema only superusers control: drop or rename the existing schema lead_mgmt first.';
    END IF;
    SELECT pg_catalog.string_agg(CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                      ELSE a.grantee::pg_catalog.regrole::pg_catalog.text END, ', ')
      INTO v_who
      FROM pg_catalog.aclexplode(v_acl) a
     WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
       AND a.grantee OPERATOR(pg_catalog.<>) v_owner;
    IF v_who IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = pg_catalog.format('%s may create objects in schema lead_mgmt', v_who),
            HINT = 'Revoke CREATE on schema lead_mgmt from them (only its owner may create in it), then install again.';
    END IF;
    SELECT pg_catalog.string_agg(o.what, ', ') INTO v_what
      FROM (SELECT p.oid::pg_catalog.regprocedure::pg_catalog.text AS what,
                   'pg_catalog.pg_proc'::pg_catalog.regclass AS classid, p.oid
              FROM pg_catalog.pg_proc p
             WHERE p.pronamespace OPERATOR(pg_catalog.=) 'lead_mgmt'::pg_catalog.regnamespace
            UNION ALL
            SELECT o.oid::pg_catalog.regoperator::pg_catalog.text,
                   'pg_catalog.pg_operator'::pg_catalog.regclass, o.oid
              FROM pg_catalog.pg_operator o
             WHERE o.oprnamespace OPERATOR(pg_catalog.=) 'lead_mgmt'::pg_catalog.regnamespace
            UNION ALL
            SELECT c.oid::pg_catalog.regclass::pg_catalog.text,
                   'pg_catalog.pg_class'::pg_catalog.regclass, c.oid
              FROM pg_catalog.pg_class c
             WHERE c.relnamespace OPERATOR(pg_catalog.=) 'lead_mgmt'::pg_catalog.regnamespace
               AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'v', 'm', 'f', 'p']::pg_catalog."char"[])
            UNION ALL
            SELECT t.oid::pg_catalog.regtype::pg_catalog.text,
                   'pg_catalog.pg_type'::pg_catalog.regclass, t.oid
              FROM pg_catalog.pg_type t
             WHERE t.typnamespace OPERATOR(pg_catalog.=) 'lead_mgmt'::pg_catalog.regnamespace
               AND t.typrelid OPERATOR(pg_catalog.=) 0
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e
                                WHERE e.typarray OPERATOR(pg_catalog.=) t.oid)) o
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                        WHERE d.classid OPERATOR(pg_catalog.=) o.classid
                          AND d.objid OPERATOR(pg_catalog.=) o.oid
                          AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
                          AND d.deptype OPERATOR(pg_catalog.=) 'e');
    IF v_what IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = 'schema lead_mgmt holds objects that are not part of the extension',
            DETAIL = pg_catalog.format('Found: %s.', v_what),
            HINT = 'Install lead_mgmt into a schema of its own: drop or rename the existing schema lead_mgmt first.';
    END IF;
END;
$$;

--------------------------------------------------------------------------
-- Internal functions run as the extension's owner
--------------------------------------------------------------------------
-- The C trigger functions run SPI statements; pinning search_path makes
-- them parse with pg_catalog first whatever the session's search_path.
--
-- Except the four that fire for every event: a pinned search_path is a
-- GUC change on entry and exit of every call (the path re-parsed and its
-- schemas looked up again each time), ~10% of a single-event INSERT's
-- server CPU.  They do not need it: every statement they (and what they
-- call) run names tables lead_mgmt.x, functions pg_catalog.f and operators
-- OPERATOR(pg_catalog.x), and no type by an unqualified name, so no search
-- path can change what they mean -- sql/30_security.sql runs them with
-- hostile objects first in search_path and a temporary schema holding
-- tables named like the extension's, and none is touched.
ALTER FUNCTION lead_mgmt._leads_before_row()       SECURITY DEFINER;
ALTER FUNCTION lead_mgmt._leads_after_statement()  SECURITY DEFINER;
ALTER FUNCTION lead_mgmt._leads_after_delete()     SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION lead_mgmt._events_before_row()      SECURITY DEFINER;
ALTER FUNCTION lead_mgmt._events_after_insert()    SECURITY DEFINER;
ALTER FUNCTION lead_mgmt._events_after_change()    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION lead_mgmt._config_validate()        SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION lead_mgmt._config_changed()         SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION lead_mgmt._replace_on_restore()     SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
-- PL/pgSQL trigger functions (their search_path is pinned where created)
ALTER FUNCTION lead_mgmt._segments_prune()         SECURITY DEFINER;
ALTER FUNCTION lead_mgmt._deals_before_row()       SECURITY DEFINER;
ALTER FUNCTION lead_mgmt._deals_after_won()        SECURITY DEFINER;
ALTER FUNCTION lead_mgmt._assignments_first_touch() SECURITY DEFINER;
ALTER FUNCTION lead_mgmt._event_types_touch_changed() SECURITY DEFINER;
ALTER FUNCTION lead_mgmt._sequence_steps_added() SECURITY DEFINER;
-- The internal helpers the triggers call (_record_deal_won, _enroll,
-- _exit) and the one run_maintenance calls (_nurture_maintenance) stay
-- SECURITY INVOKER: they are only ever called by the functions above, as
-- the owner, and nobody else may execute them.

-- Maintenance (admins): these write lead_mgmt's internal state -- a lock on
-- leads, computed columns, stage history, segment membership, assignments,
-- the touch queue -- which no role but the owner may write directly.
ALTER FUNCTION lead_mgmt.rescore(bigint)                   SECURITY DEFINER;
ALTER FUNCTION lead_mgmt.refresh_segments(bigint)          SECURITY DEFINER;
ALTER FUNCTION lead_mgmt.run_maintenance(timestamptz)      SECURITY DEFINER;
ALTER FUNCTION lead_mgmt.set_stage(bigint, text, text)     SECURITY DEFINER;
ALTER FUNCTION lead_mgmt.disqualify(bigint, text)          SECURITY DEFINER;
ALTER FUNCTION lead_mgmt.assign(bigint, bigint)            SECURITY DEFINER;
ALTER FUNCTION lead_mgmt.redistribute(bigint)              SECURITY DEFINER;
-- The touch queue (writers): senders change it only through these two.
ALTER FUNCTION lead_mgmt.claim_touches(text, integer)      SECURITY DEFINER;
ALTER FUNCTION lead_mgmt.complete_touch(bigint, text)      SECURITY DEFINER;

--------------------------------------------------------------------------
-- Rep isolation: which reps a role acts for
--------------------------------------------------------------------------
-- The ids of the reps whose db_role is `who` or a role `who` is a member
-- of; NULL when there is none (the role is not a rep: isolation does not
-- apply to it).  SECURITY DEFINER so that any role may be checked without
-- reading reps; the policies call it once per query, as an InitPlan.
CREATE FUNCTION lead_mgmt._rep_scope(who name)
    RETURNS bigint[]
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.array_agg(r.id ORDER BY r.id)
      FROM lead_mgmt.reps r
      JOIN pg_catalog.pg_roles ro ON ro.rolname OPERATOR(pg_catalog.=) r.db_role
     WHERE pg_catalog.pg_has_role(_rep_scope.who, ro.oid, 'MEMBER');
$$;
COMMENT ON FUNCTION lead_mgmt._rep_scope(name) IS
    'internal: the reps a role acts for (reps.db_role is the role or one it is a member of); NULL when none';

-- Tables under rep isolation and how a row belongs to a rep:
--   leads                       owner_id
--   reps                        id (a rep sees its own row)
--   assignments                 lead owned, or rep_id (its own assignment history)
--   events, deals, stage_history, segment_members, enrollments, touches
--                               lead_id of a lead owned; a deal a rep writes
--                               is credited to it or to nobody (rep_id)
-- Policies are permissive, for every command and every role: a role that
-- is not a rep passes them (_rep_scope is NULL); a rep's rows must belong
-- to it, read or written (WITH CHECK is the same test).
CREATE FUNCTION lead_mgmt._rep_isolation_on()
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- an uncorrelated scalar subquery: evaluated once per query (InitPlan)
    scope constant text := '(SELECT lead_mgmt._rep_scope(CURRENT_USER))::pg_catalog.int8[]';
    t     text;
    r     record;
    n     integer := 0;
BEGIN
    PERFORM lead_mgmt._rep_isolation_off();
    EXECUTE pg_catalog.format(
        'CREATE POLICY lm_rep_isolation ON lead_mgmt.leads
             USING (%1$s IS NULL OR owner_id OPERATOR(pg_catalog.=) ANY (%1$s))', scope);
    EXECUTE pg_catalog.format(
        'CREATE POLICY lm_rep_isolation ON lead_mgmt.reps
             USING (%1$s IS NULL OR id OPERATOR(pg_catalog.=) ANY (%1$s))', scope);
    EXECUTE pg_catalog.format(
        'CREATE POLICY lm_rep_isolation ON lead_mgmt.assignments
             USING (%1$s IS NULL OR rep_id OPERATOR(pg_catalog.=) ANY (%1$s)
                    OR EXISTS (SELECT 1 FROM lead_mgmt.leads l
                                WHERE l.id OPERATOR(pg_catalog.=) assignments.lead_id
                                  AND l.owner_id OPERATOR(pg_catalog.=) ANY (%1$s)))', scope);
    -- (0.2) a rep's deal is on a lead of its own and credited to itself or
    -- to nobody: rep_performance and the performance rule read rep_id
    EXECUTE pg_catalog.format(
        'CREATE POLICY lm_rep_isolation ON lead_mgmt.deals
             USING (%1$s IS NULL
                    OR EXISTS (SELECT 1 FROM lead_mgmt.leads l
                                WHERE l.id OPERATOR(pg_catalog.=) deals.lead_id
                                  AND l.owner_id OPERATOR(pg_catalog.=) ANY (%1$s)))
             WITH CHECK (%1$s IS NULL
                         OR (EXISTS (SELECT 1 FROM lead_mgmt.leads l
                                      WHERE l.id OPERATOR(pg_catalog.=) deals.lead_id
                                        AND l.owner_id OPERATOR(pg_catalog.=) ANY (%1$s))
                             AND (deals.rep_id IS NULL
                                  OR deals.rep_id OPERATOR(pg_catalog.=) ANY (%1$s))))', scope);
    FOREACH t IN ARRAY ARRAY['events', 'stage_history', 'segment_members',
                             'enrollments', 'touches'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE POLICY lm_rep_isolation ON lead_mgmt.%2$I
                 USING (%1$s IS NULL
                        OR EXISTS (SELECT 1 FROM lead_mgmt.leads l
                                    WHERE l.id OPERATOR(pg_catalog.=) %2$I.lead_id
                                      AND l.owner_id OPERATOR(pg_catalog.=) ANY (%1$s)))', scope, t);
    END LOOP;
    -- never FORCE: the owner (lead_mgmt's own functions) must bypass it
    FOREACH t IN ARRAY lead_mgmt._rep_isolated_tables() LOOP
        EXECUTE pg_catalog.format('ALTER TABLE lead_mgmt.%I ENABLE ROW LEVEL SECURITY, NO FORCE ROW LEVEL SECURITY', t);
    END LOOP;

    -- reps the isolation cannot hold to their leads
    FOR r IN SELECT x.id, x.name, x.db_role, ro.oid AS roid, ro.rolsuper, ro.rolbypassrls
               FROM lead_mgmt.reps x
               LEFT JOIN pg_catalog.pg_roles ro ON ro.rolname OPERATOR(pg_catalog.=) x.db_role
              WHERE x.db_role IS NOT NULL
              ORDER BY x.id LOOP
        n := n OPERATOR(pg_catalog.+) 1;
        IF r.roid IS NULL THEN
            RAISE WARNING 'rep % (%) names database role "%", which does not exist', r.id, r.name, r.db_role
                USING HINT = 'Create the role, or correct reps.db_role.';
        ELSIF r.rolsuper OR r.rolbypassrls THEN
            RAISE WARNING 'rep % (%): role "%" bypasses row-level security and sees every lead', r.id, r.name, r.db_role
                USING HINT = pg_catalog.format('ALTER ROLE %I NOSUPERUSER NOBYPASSRLS', r.db_role);
        ELSIF pg_catalog.has_function_privilege(r.roid, 'lead_mgmt.claim_touches(text, integer)', 'EXECUTE')
              OR pg_catalog.has_function_privilege(r.roid, 'lead_mgmt.complete_touch(bigint, text)', 'EXECUTE') THEN
            RAISE WARNING 'rep % (%): role "%" may work the touch queue, which holds every lead''s touches', r.id, r.name, r.db_role
                USING HINT = pg_catalog.format('Give reps the writer grants without the queue: SELECT lead_mgmt.grant_writer(%L, touch_queue => false).', r.db_role);
        END IF;
    END LOOP;
    RAISE NOTICE 'rep isolation is on: % rep(s) with a database role see only their own leads', n;
END;
$$;
COMMENT ON FUNCTION lead_mgmt._rep_isolation_on() IS
    'internal: creates the rep isolation policies and enables row-level security (security_state.rep_isolation true)';

CREATE FUNCTION lead_mgmt._rep_isolation_off()
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY lead_mgmt._rep_isolated_tables() LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_policy p
                    WHERE p.polrelid OPERATOR(pg_catalog.=) ('lead_mgmt.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(t))::pg_catalog.regclass
                      AND p.polname OPERATOR(pg_catalog.=) 'lm_rep_isolation') THEN
            EXECUTE pg_catalog.format('DROP POLICY lm_rep_isolation ON lead_mgmt.%I', t);
        END IF;
        EXECUTE pg_catalog.format('ALTER TABLE lead_mgmt.%I DISABLE ROW LEVEL SECURITY', t);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION lead_mgmt._rep_isolation_off() IS
    'internal: drops the rep isolation policies and disables row-level security (security_state.rep_isolation false)';

-- Whether rep isolation is on is configuration: pg_dump does not carry
-- row-level security of an extension's tables (policies and the flag are
-- left out of a dump), so the switch lives in a dumped table, and
-- restoring its row turns the policies back on (the trigger is enabled
-- ALWAYS: it fires in a restore with session_replication_role = replica).
CREATE TABLE lead_mgmt.security_state (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    rep_isolation boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE lead_mgmt.security_state IS
    'whether rep isolation is on; change it with enable_rep_isolation() and disable_rep_isolation()';
INSERT INTO lead_mgmt.security_state DEFAULT VALUES;

CREATE FUNCTION lead_mgmt._security_state_apply() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.rep_isolation THEN
        PERFORM lead_mgmt._rep_isolation_on();
    ELSE
        PERFORM lead_mgmt._rep_isolation_off();
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER security_state_restore BEFORE INSERT ON lead_mgmt.security_state
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._replace_on_restore('singleton');
CREATE TRIGGER security_state_apply AFTER INSERT OR UPDATE ON lead_mgmt.security_state
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._security_state_apply();
-- (0.2) one row, always: TRUNCATE is refused (see _refuse_truncate)
CREATE TRIGGER security_state_refuse_truncate BEFORE TRUNCATE ON lead_mgmt.security_state
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._refuse_truncate();
ALTER TABLE lead_mgmt.security_state ENABLE ALWAYS TRIGGER security_state_restore;
ALTER TABLE lead_mgmt.security_state ENABLE ALWAYS TRIGGER security_state_apply;
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.security_state', '');

CREATE FUNCTION lead_mgmt.enable_rep_isolation()
    RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO lead_mgmt.security_state (singleton, rep_isolation) VALUES (true, true)
    ON CONFLICT (singleton) DO UPDATE SET rep_isolation = true;
$$;
COMMENT ON FUNCTION lead_mgmt.enable_rep_isolation() IS
    'turns on row-level security: a role named in reps.db_role (or a member of it) sees and changes only its own leads and their events, deals and history';

CREATE FUNCTION lead_mgmt.disable_rep_isolation()
    RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO lead_mgmt.security_state (singleton, rep_isolation) VALUES (true, false)
    ON CONFLICT (singleton) DO UPDATE SET rep_isolation = false;
$$;
COMMENT ON FUNCTION lead_mgmt.disable_rep_isolation() IS
    'turns rep isolation off: every role sees what its grants allow';

CREATE FUNCTION lead_mgmt._rep_isolated_tables()
    RETURNS text[]
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY['leads', 'reps', 'assignments', 'events', 'deals', 'stage_history',
                 'segment_members', 'enrollments', 'touches'];
$$;
COMMENT ON FUNCTION lead_mgmt._rep_isolated_tables() IS
    'internal: the tables enable_rep_isolation() puts under row-level security';

--------------------------------------------------------------------------
-- Grants for three kinds of user
--------------------------------------------------------------------------
-- Columns of leads an application writes; the rest are computed by
-- lead_mgmt (the row trigger refuses writes to them as well) or changed
-- only through functions (disqualified_at and disqualified_reason:
-- disqualify()).
CREATE FUNCTION lead_mgmt._lead_input_columns()
    RETURNS text[]
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY['external_id', 'email', 'first_name', 'last_name', 'company', 'job_title',
                 'industry', 'company_size', 'annual_revenue', 'country', 'region', 'city',
                 'channel', 'campaign', 'lead_magnet', 'attributes', 'created_at'];
$$;
COMMENT ON FUNCTION lead_mgmt._lead_input_columns() IS
    'internal: the columns of leads that writers insert and update';

-- Personal contact data, which analysts do not read unless granted.
CREATE FUNCTION lead_mgmt._lead_contact_columns()
    RETURNS text[]
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY['email', 'first_name', 'last_name'];
$$;
COMMENT ON FUNCTION lead_mgmt._lead_contact_columns() IS
    'internal: the columns of leads that grant_analyst() leaves out unless contact_data';

-- Configuration, edited by admins.
CREATE FUNCTION lead_mgmt._config_tables()
    RETURNS text[]
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY['event_types', 'scoring_rules', 'stages', 'segments', 'settings', 'reps',
                 'assignment_rules', 'sequences', 'sequence_steps', 'campaigns', 'campaign_daily'];
$$;
COMMENT ON FUNCTION lead_mgmt._config_tables() IS
    'internal: the configuration tables grant_admin() lets edit';

-- The role, quoted for a GRANT; a clear error when it does not exist.
CREATE FUNCTION lead_mgmt._grantee(role name)
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF role IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                                    WHERE r.rolname OPERATOR(pg_catalog.=) _grantee.role) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = pg_catalog.format('role "%s" does not exist', role),
            HINT = 'Create the role first (CREATE ROLE ... LOGIN); access is granted to a role, never to PUBLIC.';
    END IF;
    RETURN pg_catalog.quote_ident(role);
END;
$$;
COMMENT ON FUNCTION lead_mgmt._grantee(name) IS 'internal: a role name checked and quoted for GRANT';

-- writers: applications that capture leads, record events and deals, and
-- send nurture touches
CREATE FUNCTION lead_mgmt.grant_writer(role name, touch_queue boolean DEFAULT true)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g    text := lead_mgmt._grantee(role);
    cols text := (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ')
                    FROM pg_catalog.unnest(lead_mgmt._lead_input_columns()) c);
BEGIN
    EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA lead_mgmt TO %s', g);
    EXECUTE pg_catalog.format('GRANT SELECT ON lead_mgmt.leads, lead_mgmt.events, lead_mgmt.deals TO %s', g);
    EXECUTE pg_catalog.format('GRANT INSERT (%1$s), UPDATE (%1$s) ON lead_mgmt.leads TO %2$s', cols, g);
    EXECUTE pg_catalog.format('GRANT INSERT (lead_id, event_type, occurred_at, properties, dedupe_key)
                                  ON lead_mgmt.events TO %s', g);
    EXECUTE pg_catalog.format('GRANT INSERT (lead_id, rep_id, amount, status, created_at, closed_at),
                                     UPDATE (lead_id, rep_id, amount, status, created_at, closed_at)
                                  ON lead_mgmt.deals TO %s', g);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION lead_mgmt.capture(jsonb),
                                     lead_mgmt.track(bigint, text, jsonb, timestamptz, text) TO %s', g);
    EXECUTE pg_catalog.format('%s EXECUTE ON FUNCTION lead_mgmt.claim_touches(text, integer),
                                     lead_mgmt.complete_touch(bigint, text) %s %s',
                              CASE WHEN touch_queue THEN 'GRANT' ELSE 'REVOKE' END,
                              CASE WHEN touch_queue THEN 'TO' ELSE 'FROM' END, g);
END;
$$;
COMMENT ON FUNCTION lead_mgmt.grant_writer(name, boolean) IS
    'grants an application role what writers need: read leads, events, deals; insert and update lead fields and deals; insert events; capture, track and (touch_queue) the touch queue';

-- analysts: read everything but personal contact data (unless contact_data)
CREATE FUNCTION lead_mgmt.grant_analyst(role name, contact_data boolean DEFAULT false)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g       text := lead_mgmt._grantee(role);
    rels    text;
    visible text;
    contact text := (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ')
                       FROM pg_catalog.unnest(lead_mgmt._lead_contact_columns()) c);
BEGIN
    EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA lead_mgmt TO %s', g);
    -- every table and view of the extension but leads (column by column,
    -- below) and rechecks (bookkeeping that lists every lead, a rep's
    -- others' too, and tells nothing the leads do not)
    SELECT pg_catalog.string_agg(c.oid::pg_catalog.regclass::pg_catalog.text, ', ' ORDER BY c.relname)
      INTO rels
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace OPERATOR(pg_catalog.=) 'lead_mgmt'::pg_catalog.regnamespace
       AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'v', 'm', 'p']::pg_catalog."char"[])
       AND c.relname OPERATOR(pg_catalog.<>) ALL (ARRAY['leads', 'rechecks']::pg_catalog.name[]);
    EXECUTE pg_catalog.format('GRANT SELECT ON %s TO %s', rels, g);
    -- leads column by column
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
      INTO visible
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) 'lead_mgmt.leads'::pg_catalog.regclass
       AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
       AND NOT a.attname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (lead_mgmt._lead_contact_columns());
    EXECUTE pg_catalog.format('GRANT SELECT (%s) ON lead_mgmt.leads TO %s', visible, g);
    EXECUTE pg_catalog.format('%s SELECT (%s) ON lead_mgmt.leads %s %s',
                              CASE WHEN contact_data THEN 'GRANT' ELSE 'REVOKE' END, contact,
                              CASE WHEN contact_data THEN 'TO' ELSE 'FROM' END, g);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION
                                     lead_mgmt.funnel(timestamptz, timestamptz, text),
                                     lead_mgmt.explain_score(bigint),
                                     lead_mgmt.evaluate(jsonb, bigint),
                                     lead_mgmt.validate_condition(jsonb, text),
                                     lead_mgmt._pct(numeric, numeric),
                                     lead_mgmt._ratio(numeric, numeric),
                                     lead_mgmt._setting_interval(text) TO %s', g);
END;
$$;
COMMENT ON FUNCTION lead_mgmt.grant_analyst(name, boolean) IS
    'grants a role read access to every table and view (lead contact columns only with contact_data) and the read-only functions';

-- admins: configuration and the maintenance functions
CREATE FUNCTION lead_mgmt.grant_admin(role name)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g    text := lead_mgmt._grantee(role);
    cfg  text := (SELECT pg_catalog.string_agg('lead_mgmt.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c), ', ')
                    FROM pg_catalog.unnest(lead_mgmt._config_tables()) c);
BEGIN
    PERFORM lead_mgmt.grant_analyst(role, contact_data => true);
    EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s', cfg, g);
    -- requalifying a disqualified lead is clearing disqualified_at
    EXECUTE pg_catalog.format('GRANT UPDATE (disqualified_at, disqualified_reason)
                                  ON lead_mgmt.leads TO %s', g);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION
                                     lead_mgmt.rescore(bigint),
                                     lead_mgmt.refresh_segments(bigint),
                                     lead_mgmt.run_maintenance(timestamptz),
                                     lead_mgmt.set_stage(bigint, text, text),
                                     lead_mgmt.disqualify(bigint, text),
                                     lead_mgmt.assign(bigint, bigint),
                                     lead_mgmt.redistribute(bigint),
                                     lead_mgmt.load_example_rules() TO %s', g);
END;
$$;
COMMENT ON FUNCTION lead_mgmt.grant_admin(name) IS
    'grants a role the analyst grants (with contact data), editing of the configuration tables and the maintenance functions';

CREATE FUNCTION lead_mgmt.revoke_access(role name)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g text := lead_mgmt._grantee(role);
BEGIN
    EXECUTE pg_catalog.format('REVOKE ALL ON ALL TABLES IN SCHEMA lead_mgmt FROM %s', g);
    EXECUTE pg_catalog.format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA lead_mgmt FROM %s', g);
    EXECUTE pg_catalog.format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA lead_mgmt FROM %s', g);
    EXECUTE pg_catalog.format('REVOKE ALL ON SCHEMA lead_mgmt FROM %s', g);
END;
$$;
COMMENT ON FUNCTION lead_mgmt.revoke_access(name) IS
    'takes every privilege on lead_mgmt''s schema, tables, views and functions away from a role';

--------------------------------------------------------------------------
-- Nothing is executable by PUBLIC (functions default to it), except what
-- the row-level security policies call, and what funnel() and the funnel
-- views call that reads only as its caller (a role may then count what it
-- may read, no more)
--------------------------------------------------------------------------
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA lead_mgmt FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lead_mgmt._rep_scope(name) TO PUBLIC;
GRANT EXECUTE ON FUNCTION lead_mgmt._segment_funnel(timestamptz, timestamptz) TO PUBLIC;
GRANT EXECUTE ON FUNCTION lead_mgmt._group_funnel(timestamptz, timestamptz, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION lead_mgmt._reach_days(boolean) TO PUBLIC;
