-- lead_mgmt 0.1 -> 0.2 (ALTER EXTENSION lead_mgmt UPDATE TO '0.2')
--
-- Brings a 0.1 installation to exactly what CREATE EXTENSION lead_mgmt
-- VERSION '0.2' installs from install/parts/: every object below is
-- created with the same text as there (test/t/060_upgrade.pl compares the
-- upgraded schema with a fresh one, object by object, and checks data and
-- behaviour across the update).  Changes of 0.2 appended by anyone go at
-- the end, in a section of their own, and the same change goes into
-- install/parts/.  Once 0.2 is released this file is never edited again.
--
-- Rules of this script, as of the install parts (CVE-2018-1058 class
-- hardening): every built-in is schema-qualified, every function pins
-- search_path, new functions are not executable by PUBLIC, trigger
-- functions are SECURITY DEFINER.

\echo Use "ALTER EXTENSION lead_mgmt UPDATE" to load this file. \quit

--------------------------------------------------------------------------
-- 0.2: event types in use cannot be deleted or renamed; TRUNCATE of the
-- tables whose row checks it would skip is refused
-- (install/parts/core.sql, assignment.sql, security.sql)
--------------------------------------------------------------------------
-- The nodes of a condition, walking its grammar (all, any, not): every
-- object the condition is made of, itself included.  A key inside a
-- properties filter or a value is not a node.
CREATE FUNCTION lead_mgmt._condition_nodes(condition jsonb)
    RETURNS SETOF jsonb
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE node (c, depth) AS (
        SELECT _condition_nodes.condition, 0
        UNION ALL
        SELECT k.c, n.depth OPERATOR(pg_catalog.+) 1
          FROM node n
         CROSS JOIN LATERAL (
                SELECT a.c FROM pg_catalog.jsonb_array_elements(
                    CASE WHEN pg_catalog.jsonb_typeof(n.c OPERATOR(pg_catalog.->) 'all') OPERATOR(pg_catalog.=) 'array'
                         THEN n.c OPERATOR(pg_catalog.->) 'all' ELSE '[]'::pg_catalog.jsonb END) AS a (c)
                UNION ALL
                SELECT a.c FROM pg_catalog.jsonb_array_elements(
                    CASE WHEN pg_catalog.jsonb_typeof(n.c OPERATOR(pg_catalog.->) 'any') OPERATOR(pg_catalog.=) 'array'
                         THEN n.c OPERATOR(pg_catalog.->) 'any' ELSE '[]'::pg_catalog.jsonb END) AS a (c)
                UNION ALL
                SELECT n.c OPERATOR(pg_catalog.->) 'not'
                 WHERE n.c OPERATOR(pg_catalog.?) 'not') k
         WHERE pg_catalog.jsonb_typeof(n.c) OPERATOR(pg_catalog.=) 'object'
           AND n.depth OPERATOR(pg_catalog.<) 64)
    SELECT n.c FROM node n WHERE pg_catalog.jsonb_typeof(n.c) OPERATOR(pg_catalog.=) 'object';
$$;
COMMENT ON FUNCTION lead_mgmt._condition_nodes(jsonb) IS
    'internal: the objects a condition is made of (itself, and its all, any and not members at any depth)';

-- The event types a condition names: its event tests, at any depth.
CREATE FUNCTION lead_mgmt._condition_event_types(condition jsonb)
    RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.array_agg(DISTINCT n OPERATOR(pg_catalog.->>) 'event')
      FROM lead_mgmt._condition_nodes(_condition_event_types.condition) n
     WHERE pg_catalog.jsonb_typeof(n OPERATOR(pg_catalog.->) 'event') OPERATOR(pg_catalog.=) 'string';
$$;
COMMENT ON FUNCTION lead_mgmt._condition_event_types(jsonb) IS
    'internal: the event types a condition names (its event tests, at any depth)';

-- An event type that lead_mgmt records itself (purchase for a won deal,
-- email_sent for a sent touch), that events were recorded with, or that a
-- scoring rule or a condition (stage, segment, assignment rule, sequence)
-- names, cannot be deleted or renamed: the events would keep a type that no longer exists,
-- and the rules and conditions would not validate any more.  Checked after
-- the statement, once per type that is gone (a type renamed back and forth
-- in one statement is not gone).  Events have no index on event_type: the
-- check of a type that no event uses reads them all, as deleting a type is
-- rare.
CREATE FUNCTION lead_mgmt._event_types_in_use() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name text;
    v_uses text;
BEGIN
    FOR v_name IN
        SELECT o.name FROM old_rows o
         WHERE NOT EXISTS (SELECT 1 FROM lead_mgmt.event_types t
                            WHERE t.name OPERATOR(pg_catalog.=) o.name)
         ORDER BY o.name
    LOOP
        IF v_name OPERATOR(pg_catalog.=) ANY (ARRAY['purchase', 'email_sent']) THEN
            RAISE EXCEPTION USING ERRCODE = 'object_in_use',
                MESSAGE = pg_catalog.format('event type "%s" is recorded by lead_mgmt itself', v_name),
                DETAIL = 'Won deals record purchase events and sent touches record email_sent events.',
                HINT = 'Keep the type; change its description or category instead if they do not suit you.';
        END IF;
        v_uses := pg_catalog.concat_ws(', ',
            CASE WHEN EXISTS (SELECT 1 FROM lead_mgmt.events e
                               WHERE e.event_type OPERATOR(pg_catalog.=) v_name)
                 THEN 'recorded events' END,
            lead_mgmt._conditions_naming('event_type', v_name));
        IF v_uses OPERATOR(pg_catalog.=) '' THEN
            v_uses := NULL;
        END IF;
        IF v_uses IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
                MESSAGE = pg_catalog.format('event type "%s" is still in use', v_name),
                DETAIL = pg_catalog.format('It is used by: %s.', v_uses),
                HINT = 'Change or delete the rules and conditions that name it first. A type with recorded events stays registered while those events exist (they go with their leads).';
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION lead_mgmt._event_types_in_use() IS
    'internal: refuses to delete or rename event types that events, scoring rules or conditions use';
CREATE TRIGGER event_types_in_use_delete AFTER DELETE ON lead_mgmt.event_types
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._event_types_in_use();
CREATE TRIGGER event_types_in_use_update AFTER UPDATE ON lead_mgmt.event_types
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._event_types_in_use();

-- The stages a condition names: the values of its tests of the field stage
-- (a name, or a list of names for in / not_in), at any depth.
CREATE FUNCTION lead_mgmt._condition_stages(condition jsonb)
    RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.array_agg(DISTINCT v.name)
      FROM lead_mgmt._condition_nodes(_condition_stages.condition) n
     CROSS JOIN LATERAL (
            SELECT n OPERATOR(pg_catalog.->>) 'value'
             WHERE pg_catalog.jsonb_typeof(n OPERATOR(pg_catalog.->) 'value') OPERATOR(pg_catalog.=) 'string'
            UNION ALL
            SELECT e.name FROM pg_catalog.jsonb_array_elements_text(
                CASE WHEN pg_catalog.jsonb_typeof(n OPERATOR(pg_catalog.->) 'value') OPERATOR(pg_catalog.=) 'array'
                     THEN n OPERATOR(pg_catalog.->) 'value' ELSE '[]'::pg_catalog.jsonb END) AS e (name)) v (name)
     WHERE n OPERATOR(pg_catalog.->>) 'field' OPERATOR(pg_catalog.=) 'stage';
$$;
COMMENT ON FUNCTION lead_mgmt._condition_stages(jsonb) IS
    'internal: the stages a condition names (the values of its stage tests, at any depth)';

-- The event types ('event_type') or stages ('stage') a condition names.
CREATE FUNCTION lead_mgmt._condition_names(p_kind text, condition jsonb)
    RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE p_kind
           WHEN 'event_type' THEN lead_mgmt._condition_event_types(_condition_names.condition)
           WHEN 'stage' THEN lead_mgmt._condition_stages(_condition_names.condition)
           END;
$$;
COMMENT ON FUNCTION lead_mgmt._condition_names(text, jsonb) IS
    'internal: the event types or the stages a condition names';

-- The rules and conditions that name an event type (p_kind 'event_type':
-- a scoring rule's event_type or any condition's event tests) or a stage
-- ('stage': any condition's stage tests): "scoring rule "x", segment "y""
-- in that order (scoring rules, stages, segments, assignment rules,
-- sequences; by name within each), or NULL when none does.  Shared by the
-- guards that refuse to delete or rename what is in use.
CREATE FUNCTION lead_mgmt._conditions_naming(p_kind text, p_name text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_uses text;
BEGIN
    SELECT pg_catalog.string_agg(u.what, ', ' ORDER BY u.ord, u.what) INTO v_uses
      FROM (SELECT 1 AS ord, pg_catalog.format('scoring rule "%s"', r.name) AS what
              FROM lead_mgmt.scoring_rules r
             WHERE (p_kind OPERATOR(pg_catalog.=) 'event_type' AND r.event_type OPERATOR(pg_catalog.=) p_name)
                OR p_name OPERATOR(pg_catalog.=) ANY (lead_mgmt._condition_names(p_kind, r.condition))
            UNION ALL
            SELECT 2, pg_catalog.format('stage "%s"', s.name)
              FROM lead_mgmt.stages s
             WHERE p_name OPERATOR(pg_catalog.=) ANY (lead_mgmt._condition_names(p_kind, s.condition))
            UNION ALL
            SELECT 3, pg_catalog.format('segment "%s"', g.name)
              FROM lead_mgmt.segments g
             WHERE p_name OPERATOR(pg_catalog.=) ANY (lead_mgmt._condition_names(p_kind, g.condition))
            UNION ALL
            SELECT 4, pg_catalog.format('assignment rule "%s"', a.name)
              FROM lead_mgmt.assignment_rules a
             WHERE p_name OPERATOR(pg_catalog.=) ANY (lead_mgmt._condition_names(p_kind, a.condition))
            UNION ALL
            SELECT 5, pg_catalog.format('sequence "%s"', q.name)
              FROM lead_mgmt.sequences q
             WHERE p_name OPERATOR(pg_catalog.=) ANY (lead_mgmt._condition_names(p_kind, q.enroll_condition))
                OR p_name OPERATOR(pg_catalog.=) ANY (lead_mgmt._condition_names(p_kind, q.exit_condition))) u;
    RETURN v_uses;
END;
$$;
COMMENT ON FUNCTION lead_mgmt._conditions_naming(text, text) IS
    'internal: the rules and conditions that name an event type or a stage, or NULL';

-- A stage that the funnel views count by name (iql, mql, sql, customer),
-- or that a condition names (of a scoring rule, segment, assignment rule
-- or sequence; a stage condition cannot test the stage), cannot be
-- deleted or renamed: the views would count nobody there, a segment on
-- "stage >= sql" would silently empty, and the conditions would not
-- validate any more.  Checked after the statement, once per name that is
-- gone; stages_validate has refused a stage that leads are in already.
CREATE FUNCTION lead_mgmt._stages_in_use() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name text;
    v_uses text;
BEGIN
    FOR v_name IN
        SELECT o.name FROM old_rows o
         WHERE NOT EXISTS (SELECT 1 FROM lead_mgmt.stages s
                            WHERE s.name OPERATOR(pg_catalog.=) o.name)
         ORDER BY o.rank
    LOOP
        IF v_name OPERATOR(pg_catalog.=) ANY (ARRAY['iql', 'mql', 'sql', 'customer']) THEN
            RAISE EXCEPTION USING ERRCODE = 'object_in_use',
                MESSAGE = pg_catalog.format('stage "%s" is counted by the funnel views', v_name),
                DETAIL = 'funnel_summary, funnel_by_month, funnel(), acquisition_costs and followups count the leads that reached iql, mql, sql and customer by these names.',
                HINT = 'Keep the stage; change its rank, min_score, condition or assign_on_entry instead.';
        END IF;
        v_uses := lead_mgmt._conditions_naming('stage', v_name);
        IF v_uses IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
                MESSAGE = pg_catalog.format('stage "%s" is still in use', v_name),
                DETAIL = pg_catalog.format('It is named by: %s.', v_uses),
                HINT = 'Change or delete the rules and conditions that name it first.';
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION lead_mgmt._stages_in_use() IS
    'internal: refuses to delete or rename the funnel''s stages and stages that conditions name';
CREATE TRIGGER stages_in_use_delete AFTER DELETE ON lead_mgmt.stages
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._stages_in_use();
CREATE TRIGGER stages_in_use_update AFTER UPDATE ON lead_mgmt.stages
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._stages_in_use();

-- TRUNCATE fires no row trigger: it would skip the checks that refuse to
-- delete a stage leads are in, an event type in use or a rep with leads or
-- history, and it would empty the one-row tables lead_mgmt runs on.  So it
-- is refused on those tables (stages, event_types and engine_state here;
-- reps and security_state where they are created).  lead_mgmt itself
-- never truncates them; a restore (session_replication_role = replica)
-- does not fire these triggers, and DROP EXTENSION does not truncate.
CREATE FUNCTION lead_mgmt._refuse_truncate() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_detail text;
    v_hint   text;
BEGIN
    CASE TG_TABLE_NAME
    WHEN 'stages' THEN
        v_detail := 'TRUNCATE would skip the check that keeps a stage while leads are in it.';
        v_hint := 'Delete stages with DELETE FROM lead_mgmt.stages, after moving their leads with lead_mgmt.set_stage().';
    WHEN 'event_types' THEN
        v_detail := 'TRUNCATE would skip the check that keeps an event type while events, scoring rules or conditions use it.';
        v_hint := 'Delete the event types nothing uses with DELETE FROM lead_mgmt.event_types.';
    WHEN 'reps' THEN
        v_detail := 'TRUNCATE would skip the check that keeps a rep who owns leads or has assignment history.';
        v_hint := 'Deactivate reps instead (UPDATE lead_mgmt.reps SET active = false) and move their leads with lead_mgmt.redistribute().';
    WHEN 'engine_state' THEN
        v_detail := 'It holds the one row of lead_mgmt''s internal state.';
        v_hint := 'To recompute every lead, SELECT lead_mgmt.rescore(); to start over, DROP EXTENSION lead_mgmt and CREATE EXTENSION lead_mgmt.';
    WHEN 'security_state' THEN
        v_detail := 'It holds the one row that says whether rep isolation is on.';
        v_hint := 'Use lead_mgmt.enable_rep_isolation() or lead_mgmt.disable_rep_isolation().';
    ELSE
        v_detail := 'Its rows are checked one by one when they are deleted.';
        v_hint := 'Delete the rows with DELETE instead.';
    END CASE;
    RAISE EXCEPTION USING ERRCODE = 'feature_not_supported',
        MESSAGE = pg_catalog.format('cannot truncate lead_mgmt.%s', TG_TABLE_NAME),
        DETAIL = v_detail,
        HINT = v_hint;
END;
$$;
COMMENT ON FUNCTION lead_mgmt._refuse_truncate() IS
    'internal: refuses TRUNCATE of the tables whose row checks it would skip';
CREATE TRIGGER event_types_refuse_truncate BEFORE TRUNCATE ON lead_mgmt.event_types
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._refuse_truncate();
CREATE TRIGGER stages_refuse_truncate BEFORE TRUNCATE ON lead_mgmt.stages
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._refuse_truncate();
CREATE TRIGGER engine_state_refuse_truncate BEFORE TRUNCATE ON lead_mgmt.engine_state
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._refuse_truncate();

-- (install/parts/assignment.sql)
CREATE TRIGGER reps_refuse_truncate BEFORE TRUNCATE ON lead_mgmt.reps
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._refuse_truncate();
-- (install/parts/security.sql)
CREATE TRIGGER security_state_refuse_truncate BEFORE TRUNCATE ON lead_mgmt.security_state
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._refuse_truncate();

-- what install/parts/security.sql does for every function at its end
REVOKE ALL ON FUNCTION lead_mgmt._condition_nodes(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION lead_mgmt._condition_event_types(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION lead_mgmt._event_types_in_use() FROM PUBLIC;
REVOKE ALL ON FUNCTION lead_mgmt._refuse_truncate() FROM PUBLIC;
REVOKE ALL ON FUNCTION lead_mgmt._condition_stages(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION lead_mgmt._condition_names(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION lead_mgmt._conditions_naming(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION lead_mgmt._stages_in_use() FROM PUBLIC;

--------------------------------------------------------------------------
-- 0.2: the four trigger functions that fire for every event no longer pin
-- search_path with a function SET clause, which costs a GUC change on
-- entry and exit of every call; every statement they run is fully
-- qualified (install/parts/security.sql)
--------------------------------------------------------------------------
ALTER FUNCTION lead_mgmt._leads_before_row()       RESET search_path;
ALTER FUNCTION lead_mgmt._leads_after_statement()  RESET search_path;
ALTER FUNCTION lead_mgmt._events_before_row()      RESET search_path;
ALTER FUNCTION lead_mgmt._events_after_insert()    RESET search_path;

--------------------------------------------------------------------------
-- 0.2: capture() takes leads' ROW EXCLUSIVE lock before it locks a row,
-- so that merging a lead cannot deadlock with a rule change; it names both
-- leads when the external_id and the email belong to two different leads,
-- and refuses an empty external_id and a non-string value for a text field
-- (install/parts/core.sql)
--------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION lead_mgmt.capture(lead jsonb)
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id        bigint;
    v_ext       text := lead OPERATOR(pg_catalog.->>) 'external_id';
    v_email     text := lead OPERATOR(pg_catalog.->>) 'email';
    v_key       text;
    v_cols      text[];
    v_other     text;
    v_other_id  bigint;
    v_is_text   boolean;
    v_attempt   integer := 0;
    v_sql       text;
BEGIN
    IF lead IS NULL OR pg_catalog.jsonb_typeof(lead) OPERATOR(pg_catalog.<>) 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'lead must be a jsonb object',
            HINT = 'Pass an object such as {"email": "ada@example.com", "first_name": "Ada"}.';
    END IF;
    FOR v_key IN SELECT k FROM pg_catalog.jsonb_object_keys(lead) AS k LOOP
        IF v_key OPERATOR(pg_catalog.=) ANY (ARRAY['id', 'score', 'engagement_score', 'fit_score',
                'stage', 'stage_changed_at', 'owner_id', 'assigned_at', 'last_event_at',
                'converted_at', 'event_counts', 'recheck_at', 'rules_version',
                'disqualified_at', 'disqualified_reason']) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = pg_catalog.format('lead field "%s" cannot be captured', v_key),
                DETAIL = 'It is computed by lead_mgmt or changed only through its functions.',
                HINT = 'Remove the key; use lead_mgmt.set_stage() or lead_mgmt.disqualify() to change it.';
        END IF;
        SELECT a.atttypid OPERATOR(pg_catalog.=) 'pg_catalog.text'::pg_catalog.regtype INTO v_is_text
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid OPERATOR(pg_catalog.=) 'lead_mgmt.leads'::pg_catalog.regclass
           AND a.attname OPERATOR(pg_catalog.=) v_key
           AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = pg_catalog.format('unknown lead field "%s"', v_key),
                HINT = 'Put custom data under "attributes", for example {"attributes": {"' || v_key || '": ...}}.';
        END IF;
        -- a number or object in a text field would be stored as its JSON
        -- text ('42', '{"a": 1}'): most likely a mapping mistake
        IF v_is_text AND pg_catalog.jsonb_typeof(lead OPERATOR(pg_catalog.->) v_key)
                         OPERATOR(pg_catalog.<>) ALL (ARRAY['string', 'null']) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = pg_catalog.format('lead field "%s" must be a string, found %s', v_key,
                                            pg_catalog.jsonb_typeof(lead OPERATOR(pg_catalog.->) v_key)),
                HINT = 'Pass text as a JSON string, such as {"' || v_key || '": "42"}; put structured data under "attributes".';
        END IF;
        IF v_key OPERATOR(pg_catalog.<>) 'attributes' THEN
            v_cols := v_cols OPERATOR(pg_catalog.||) v_key;
        END IF;
    END LOOP;
    IF v_ext IS NULL AND v_email IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'a captured lead needs an external_id or an email',
            HINT = 'Leads are merged by external_id, else by email; give at least one.';
    END IF;
    IF pg_catalog.btrim(v_ext, E' \t\n\r\f\v') OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'external_id must not be empty',
            HINT = 'Leave external_id out if the lead has none: leads are merged by it, so every lead with an empty one would be one lead.';
    END IF;

    -- Take leads' ROW EXCLUSIVE lock before locking a row: SELECT ... FOR
    -- UPDATE takes only ROW SHARE, and the UPDATE that follows it would
    -- then ask for ROW EXCLUSIVE -- which a rule change (SHARE ROW
    -- EXCLUSIVE) granted in between blocks while it waits for our row
    -- lock: a deadlock.  A no-op UPDATE takes the lock with the column
    -- privilege a writer has (LOCK TABLE would need a table privilege);
    -- a role without it cannot merge, so it has nothing to upgrade.
    IF pg_catalog.has_column_privilege('lead_mgmt.leads', 'email', 'UPDATE') THEN
        UPDATE lead_mgmt.leads l SET email = l.email WHERE false;
    END IF;

    LOOP
        v_attempt := v_attempt OPERATOR(pg_catalog.+) 1;
        v_id := NULL;
        IF v_ext IS NOT NULL THEN
            SELECT l.id INTO v_id FROM lead_mgmt.leads l
             WHERE l.external_id OPERATOR(pg_catalog.=) v_ext FOR UPDATE;
            -- merging by external_id would give this lead another lead's
            -- email: say which two leads, rather than fail on the index
            IF v_id IS NOT NULL AND v_email IS NOT NULL THEN
                SELECT l.id INTO v_other_id FROM lead_mgmt.leads l
                 WHERE pg_catalog.lower(l.email) OPERATOR(pg_catalog.=) pg_catalog.lower(v_email)
                   AND l.id OPERATOR(pg_catalog.<>) v_id;
                IF v_other_id IS NOT NULL THEN
                    RAISE EXCEPTION USING ERRCODE = 'unique_violation',
                        MESSAGE = pg_catalog.format('email "%s" belongs to lead %s, external_id "%s" to lead %s',
                                                    v_email, v_other_id, v_ext, v_id),
                        DETAIL = pg_catalog.format('A lead is merged by external_id first; giving lead %s the email would make two leads share it.', v_id),
                        HINT = 'If they are one person, move the events of one lead to the other (UPDATE lead_mgmt.events SET lead_id = ...) and delete it; otherwise capture without the email, or correct the email of one lead.';
                END IF;
            END IF;
        END IF;
        IF v_id IS NULL AND v_email IS NOT NULL THEN
            SELECT l.id, l.external_id INTO v_id, v_other FROM lead_mgmt.leads l
             WHERE pg_catalog.lower(l.email) OPERATOR(pg_catalog.=) pg_catalog.lower(v_email)
             FOR UPDATE;
            IF v_id IS NOT NULL AND v_ext IS NOT NULL AND v_other IS NOT NULL
               AND v_other OPERATOR(pg_catalog.<>) v_ext THEN
                RAISE EXCEPTION USING ERRCODE = 'unique_violation',
                    MESSAGE = pg_catalog.format('email "%s" already belongs to lead %s with external_id "%s"',
                                                v_email, v_id, v_other),
                    DETAIL = pg_catalog.format('The captured lead has external_id "%s".', v_ext),
                    HINT = 'Capture with the existing external_id, or change the email of one of the two leads.';
            END IF;
        END IF;

        IF v_id IS NOT NULL THEN
            IF v_cols IS NOT NULL THEN
                v_sql := pg_catalog.format(
                    'UPDATE lead_mgmt.leads l SET (%1$s) = (SELECT %2$s FROM pg_catalog.jsonb_populate_record(NULL::lead_mgmt.leads, $1) r) WHERE l.id OPERATOR(pg_catalog.=) $2',
                    (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ') FROM pg_catalog.unnest(v_cols) c),
                    (SELECT pg_catalog.string_agg('r.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c), ', ') FROM pg_catalog.unnest(v_cols) c));
                -- (a one-column list takes the sub-SELECT as is: "SET ROW(c)"
                -- is not SQL, and a payload with one field, such as an email
                -- alone, is the common repeat capture)
                EXECUTE v_sql USING lead, v_id;
            END IF;
            IF lead ? 'attributes' AND pg_catalog.jsonb_typeof(lead OPERATOR(pg_catalog.->) 'attributes') OPERATOR(pg_catalog.=) 'object' THEN
                UPDATE lead_mgmt.leads l
                   SET attributes = l.attributes OPERATOR(pg_catalog.||) (lead OPERATOR(pg_catalog.->) 'attributes')
                 WHERE l.id OPERATOR(pg_catalog.=) v_id;
            ELSIF lead ? 'attributes' THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                    MESSAGE = 'lead attributes must be a jsonb object',
                    HINT = 'Pass attributes as {"key": value, ...}.';
            END IF;
            RETURN v_id;
        END IF;

        v_sql := pg_catalog.format(
            'INSERT INTO lead_mgmt.leads (%1$s) SELECT %2$s FROM pg_catalog.jsonb_populate_record(NULL::lead_mgmt.leads, $1) r ON CONFLICT DO NOTHING RETURNING id',
            (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ')
               FROM pg_catalog.unnest(v_cols OPERATOR(pg_catalog.||) CASE WHEN lead ? 'attributes' THEN ARRAY['attributes'] ELSE '{}'::text[] END) c),
            (SELECT pg_catalog.string_agg(CASE WHEN c OPERATOR(pg_catalog.=) 'attributes'
                                               THEN 'COALESCE(r.attributes, ''{}'')'
                                               ELSE 'r.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c) END, ', ')
               FROM pg_catalog.unnest(v_cols OPERATOR(pg_catalog.||) CASE WHEN lead ? 'attributes' THEN ARRAY['attributes'] ELSE '{}'::text[] END) c));
        EXECUTE v_sql USING lead INTO v_id;
        IF v_id IS NOT NULL THEN
            RETURN v_id;
        END IF;
        -- a concurrent capture inserted the same person: merge into it
        IF v_attempt OPERATOR(pg_catalog.>=) 3 THEN
            RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
                MESSAGE = 'could not capture lead: it keeps conflicting with concurrent captures',
                HINT = 'Retry the transaction.';
        END IF;
    END LOOP;
END;
$$;

--------------------------------------------------------------------------
-- 0.2: assignments keep their first sales touch (first_touch_at), so that
-- rep_performance and followups read assignments instead of walking every
-- assignment's events; leads_stage_idx covers stage_changed_at (stalled
-- marketing-qualified leads) and leads_open_owner_idx counts each rep's
-- open leads (install/parts/assignment.sql, nurture_queue.sql, core.sql,
-- security.sql)
--------------------------------------------------------------------------
ALTER TABLE lead_mgmt.assignments ADD COLUMN first_touch_at timestamptz;
--------------------------------------------------------------------------
-- First sales touch of each assignment
--
-- assignments.first_touch_at is the time of the first event of category
-- sales_touch on the assignment's lead, at or after assigned_at, made by
-- the assignment's rep: the event names that rep in properties.rep_id, or
-- names no rep.  rep_performance and followups read it instead of walking
-- every assignment's events.  Kept exact at commit: the events statement
-- trigger lowers it for new sales touches (src/triggers.c, the same
-- predicate), an assignment gets it when inserted, and event updates and
-- deletes, TRUNCATE of events and category changes of event types
-- recompute it from the events.
--------------------------------------------------------------------------
-- In C (src/assignment.c, lm_assign_first_touch): one definition, with a
-- kept plan, for this function (the recompute below runs it per
-- assignment) and for the row trigger on assignments.
CREATE FUNCTION lead_mgmt._first_touch(lead_id bigint, rep_id bigint, since timestamptz)
    RETURNS timestamptz
    LANGUAGE c STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_first_touch';
COMMENT ON FUNCTION lead_mgmt._first_touch(bigint, bigint, timestamptz) IS
    'internal: the first sales touch of a lead by a rep (or by no named rep) at or after since';

-- recomputes first_touch_at of the assignments of the given leads (all when
-- NULL).  The given leads' assignments are found through
-- assignments_lead_idx, by a statement of their own: one statement for both
-- cases (lead_ids IS NULL OR lead_id = ANY (lead_ids)) would read every
-- assignment and compare it with every id, so that a rep's logged call
-- would cost a scan of the table, and a bulk load's sales touches its size
-- times their number.  The CTE computes each first touch once (the planner
-- would otherwise copy the call into every test of it); PL/pgSQL keeps the
-- plans for the session.
CREATE FUNCTION lead_mgmt._first_touch_recompute(lead_ids bigint[])
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF _first_touch_recompute.lead_ids IS NULL THEN
        WITH f AS MATERIALIZED (
            SELECT x.id, lead_mgmt._first_touch(x.lead_id, x.rep_id, x.assigned_at) AS t
              FROM lead_mgmt.assignments x)
        UPDATE lead_mgmt.assignments a
           SET first_touch_at = f.t
          FROM f
         WHERE a.id OPERATOR(pg_catalog.=) f.id
           AND NOT (a.first_touch_at IS NULL AND f.t IS NULL)
           AND (a.first_touch_at IS NULL OR f.t IS NULL
                OR a.first_touch_at OPERATOR(pg_catalog.<>) f.t);
    ELSE
        WITH f AS MATERIALIZED (
            SELECT x.id, lead_mgmt._first_touch(x.lead_id, x.rep_id, x.assigned_at) AS t
              FROM lead_mgmt.assignments x
             WHERE x.lead_id OPERATOR(pg_catalog.=) ANY (_first_touch_recompute.lead_ids))
        UPDATE lead_mgmt.assignments a
           SET first_touch_at = f.t
          FROM f
         WHERE a.id OPERATOR(pg_catalog.=) f.id
           AND NOT (a.first_touch_at IS NULL AND f.t IS NULL)
           AND (a.first_touch_at IS NULL OR f.t IS NULL
                OR a.first_touch_at OPERATOR(pg_catalog.<>) f.t);
    END IF;
END;
$$;
COMMENT ON FUNCTION lead_mgmt._first_touch_recompute(bigint[]) IS
    'internal: recomputes assignments.first_touch_at of the given leads (every lead when NULL)';

-- a new (or re-pointed) assignment gets its first touch from the events
-- already recorded (events dated at or after the assignment).  In C: it
-- looks the lead's events since the assignment up in events_lead_idx and
-- their types in the rules cache, and runs _first_touch's query only when
-- one of them is a sales touch.
CREATE FUNCTION lead_mgmt._assignments_first_touch() RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_assignments_first_touch';
COMMENT ON FUNCTION lead_mgmt._assignments_first_touch() IS
    'internal: sets first_touch_at of an assignment from the events recorded';
CREATE TRIGGER assignments_first_touch
    BEFORE INSERT OR UPDATE OF lead_id, rep_id, assigned_at ON lead_mgmt.assignments
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._assignments_first_touch();

-- a type that becomes, or stops being, a sales touch changes first touches
CREATE FUNCTION lead_mgmt._event_types_touch_changed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n ON n.name OPERATOR(pg_catalog.=) o.name
                WHERE (o.category OPERATOR(pg_catalog.=) 'sales_touch')
                      OPERATOR(pg_catalog.<>) (n.category OPERATOR(pg_catalog.=) 'sales_touch')
                   OR (o.category IS NULL) OPERATOR(pg_catalog.<>) (n.category IS NULL)) THEN
        PERFORM lead_mgmt._first_touch_recompute(NULL);
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION lead_mgmt._event_types_touch_changed() IS
    'internal: recomputes first sales touches when an event type enters or leaves category sales_touch';
CREATE TRIGGER event_types_touch_changed AFTER UPDATE ON lead_mgmt.event_types
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._event_types_touch_changed();
ALTER FUNCTION lead_mgmt._assignments_first_touch() SECURITY DEFINER;
ALTER FUNCTION lead_mgmt._event_types_touch_changed() SECURITY DEFINER;
REVOKE ALL ON FUNCTION lead_mgmt._first_touch(bigint, bigint, timestamptz),
                       lead_mgmt._first_touch_recompute(bigint[]),
                       lead_mgmt._assignments_first_touch(),
                       lead_mgmt._event_types_touch_changed() FROM PUBLIC;
-- the first touches of the assignments made under 0.1
SELECT lead_mgmt._first_touch_recompute(NULL);
-- each rep's first-touch times (rep_performance), without the heap
CREATE INDEX assignments_rep_touch_idx ON lead_mgmt.assignments (rep_id)
    INCLUDE (assigned_at, first_touch_at, ended_at) WHERE first_touch_at IS NOT NULL;
-- the open assignments whose SLA can still be breached: one with a first
-- touch leaves it, so maintenance reads what may be due, not every
-- assignment ever touched
DROP INDEX lead_mgmt.assignments_sla_idx;
CREATE INDEX assignments_sla_idx ON lead_mgmt.assignments (sla_due_at)
    WHERE ended_at IS NULL AND sla_due_at IS NOT NULL AND first_touch_at IS NULL;
DROP INDEX lead_mgmt.leads_stage_idx;
-- stage_changed_at changes only with the stage: no HOT update lost;
-- followups finds the marketing-qualified leads stalled by a range of it
CREATE INDEX leads_stage_idx ON lead_mgmt.leads (stage, stage_changed_at);
-- each rep's open leads (rep_performance, capacity), by an index-only count
CREATE INDEX leads_open_owner_idx ON lead_mgmt.leads (owner_id) INCLUDE (stage)
    WHERE owner_id IS NOT NULL AND converted_at IS NULL AND disqualified_at IS NULL;
-- rep_performance reads these first touches: it is replaced once, with the
-- open-lead change below, in its final form
CREATE OR REPLACE VIEW lead_mgmt.followups WITH (security_invoker = true) AS
WITH cfg AS (
    SELECT lead_mgmt._setting_interval('mql_stall_after') AS mql_stall_after,
           lead_mgmt._setting_interval('winback_after')   AS winback_after,
           lead_mgmt._setting_interval('default_sla')     AS default_sla
)
-- sales-qualified, owned, and the owner recorded no sales touch within the SLA
SELECT l.id AS lead_id, l.owner_id, l.stage,
       'sql_not_contacted'::pg_catalog.text AS reason,
       COALESCE(a.sla_due_at,
                a.assigned_at OPERATOR(pg_catalog.+) COALESCE(a.sla, cfg.default_sla)) AS since,
       'rep_follow_up'::pg_catalog.text AS action
  FROM cfg
 CROSS JOIN lead_mgmt.leads l
 CROSS JOIN LATERAL (
        SELECT COALESCE(oa.assigned_at, l.assigned_at) AS assigned_at, r.sla, oa.sla_due_at,
               oa.id AS assignment_id, oa.first_touch_at
          FROM (SELECT 1) one
          LEFT JOIN LATERAL (
                SELECT x.id, x.assigned_at, x.rule_id, x.first_touch_at, x.sla_due_at
                  FROM lead_mgmt.assignments x
                 WHERE x.lead_id OPERATOR(pg_catalog.=) l.id
                   AND x.rep_id OPERATOR(pg_catalog.=) l.owner_id
                   AND x.ended_at IS NULL
                 ORDER BY x.assigned_at DESC, x.id DESC LIMIT 1) oa ON true
          LEFT JOIN lead_mgmt.assignment_rules r ON r.id OPERATOR(pg_catalog.=) oa.rule_id) a
 WHERE l.stage OPERATOR(pg_catalog.=) 'sql'
   AND l.owner_id IS NOT NULL
   AND l.disqualified_at IS NULL
   AND a.assigned_at IS NOT NULL
   -- the deadline fixed at assignment, which maintenance reassigns by; an
   -- owner without one (set by hand under 0.1) by the rule's or default SLA
   AND COALESCE(a.sla_due_at,
                a.assigned_at OPERATOR(pg_catalog.+) COALESCE(a.sla, cfg.default_sla))
       OPERATOR(pg_catalog.<=) pg_catalog.now()
   -- no sales touch by the owner since: the open assignment keeps its
   -- first one; an owner without an assignment row reads the events
   AND CASE WHEN a.assignment_id IS NOT NULL THEN a.first_touch_at IS NULL
            ELSE NOT EXISTS (
                SELECT 1 FROM lead_mgmt.events e
                  JOIN lead_mgmt.event_types et ON et.name OPERATOR(pg_catalog.=) e.event_type
                                               AND et.category OPERATOR(pg_catalog.=) 'sales_touch'
                 WHERE e.lead_id OPERATOR(pg_catalog.=) l.id
                   AND e.occurred_at OPERATOR(pg_catalog.>=) a.assigned_at
                   AND (NOT (e.properties OPERATOR(pg_catalog.?) 'rep_id')
                        OR e.properties OPERATOR(pg_catalog.->>) 'rep_id'
                           OPERATOR(pg_catalog.=) l.owner_id::pg_catalog.text)) END
UNION ALL
-- marketing-qualified for longer than mql_stall_after
SELECT l.id, l.owner_id, l.stage,
       'mql_stalled',
       l.stage_changed_at OPERATOR(pg_catalog.+) cfg.mql_stall_after,
       'retarget'
  FROM cfg
 CROSS JOIN lead_mgmt.leads l
 WHERE l.stage OPERATOR(pg_catalog.=) 'mql'
   AND l.disqualified_at IS NULL
   AND l.stage_changed_at OPERATOR(pg_catalog.+) cfg.mql_stall_after OPERATOR(pg_catalog.<=) pg_catalog.now()
   -- the same, loosened by the most that month arithmetic can shift it,
   -- in a form a range of leads_stage_idx (stage, stage_changed_at) answers
   AND l.stage_changed_at OPERATOR(pg_catalog.<=)
       ((pg_catalog.now() OPERATOR(pg_catalog.-) cfg.mql_stall_after) OPERATOR(pg_catalog.+) '4 days'::pg_catalog.interval)
UNION ALL
-- the last closed deal was lost more than winback_after ago, none is open
-- (driven by the lost deals old enough, deals_status_closed_idx: the cost
-- follows the deals, not the leads)
SELECT l.id, l.owner_id, l.stage,
       'deal_lost',
       d.closed_at OPERATOR(pg_catalog.+) cfg.winback_after,
       'win_back'
  FROM cfg
  JOIN lead_mgmt.deals d
    ON d.status OPERATOR(pg_catalog.=) 'lost'
   AND d.closed_at OPERATOR(pg_catalog.<=) (pg_catalog.now() OPERATOR(pg_catalog.-) cfg.winback_after)
  JOIN lead_mgmt.leads l ON l.id OPERATOR(pg_catalog.=) d.lead_id
 WHERE l.disqualified_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM lead_mgmt.deals o
                    WHERE o.lead_id OPERATOR(pg_catalog.=) d.lead_id
                      AND (o.status OPERATOR(pg_catalog.=) 'open'
                           OR o.closed_at OPERATOR(pg_catalog.>) d.closed_at
                           OR (o.closed_at OPERATOR(pg_catalog.=) d.closed_at
                               AND o.id OPERATOR(pg_catalog.>) d.id)));

--------------------------------------------------------------------------
-- 0.2: stage_history has no foreign key to leads, like events and
-- segment_members: lead_mgmt writes it only for a lead it has just updated,
-- and a single event's stage change no longer pays an RI query and row lock.
-- The trigger on leads deletes (and truncates) the history of deleted leads.
-- (install/parts/core.sql)
--------------------------------------------------------------------------
ALTER TABLE lead_mgmt.stage_history DROP CONSTRAINT stage_history_lead_id_fkey;

--------------------------------------------------------------------------
-- 0.2: _manual_reach reads the history of the leads moved by hand lead by
-- lead when they are few, instead of scanning all of stage_history
-- (install/parts/analytics.sql)
--------------------------------------------------------------------------
CREATE OR REPLACE VIEW lead_mgmt._manual_reach WITH (security_invoker = true) AS
-- Read by the lead: when the history rows of leads moved by hand are fewer
-- than a 100th of all history rows (as the planner counts them), each such
-- lead's history is looked up by stage_history_lead_idx; else the history
-- is scanned once.  At 1M leads (1.5M history rows, 2,061 leads moved by
-- hand) the lookups take 0.05 s and the scan, which the planner prefers,
-- 0.3 s; both branches are planned, the one-time filter runs one.
WITH few AS (
    SELECT (SELECT pg_catalog.count(*)
              FROM (SELECT FROM lead_mgmt.stage_history mh
                     WHERE mh.reason OPERATOR(pg_catalog.=) 'manual'
                     LIMIT c.cap) x) OPERATOR(pg_catalog.<) c.cap AS few
      FROM (SELECT (GREATEST(p.reltuples, 0) OPERATOR(pg_catalog./) 100)::pg_catalog.int8 AS cap
              FROM pg_catalog.pg_class p
             WHERE p.oid OPERATOR(pg_catalog.=) 'lead_mgmt.stage_history'::pg_catalog.regclass) c
)
SELECT m.lead_id, r.rank
  FROM (SELECT DISTINCT mh.lead_id FROM lead_mgmt.stage_history mh
         WHERE mh.reason OPERATOR(pg_catalog.=) 'manual') m
 CROSS JOIN LATERAL (SELECT pg_catalog.max(s.rank) AS rank
                       FROM lead_mgmt.stage_history sh
                       JOIN lead_mgmt.stages s ON s.name OPERATOR(pg_catalog.=) sh.to_stage
                      WHERE sh.lead_id OPERATOR(pg_catalog.=) m.lead_id) r
 WHERE r.rank IS NOT NULL
   AND (SELECT f.few FROM few f)
UNION ALL
SELECT sh.lead_id, pg_catalog.max(s.rank) AS rank
  FROM lead_mgmt.stage_history sh
  JOIN lead_mgmt.stages s ON s.name OPERATOR(pg_catalog.=) sh.to_stage
 WHERE sh.lead_id IN (SELECT mh.lead_id FROM lead_mgmt.stage_history mh
                       WHERE mh.reason OPERATOR(pg_catalog.=) 'manual')
   AND NOT (SELECT f.few FROM few f)
 GROUP BY sh.lead_id;

--------------------------------------------------------------------------
-- 0.2: funnel() by segment counts many leads in C (_segment_funnel: one
-- pass over the leads of the range, one lookup per membership), and few by
-- looking up each lead's segments, instead of joining every membership to
-- its lead; every other grouping counts in C too (_group_funnel: one pass,
-- each lead's trial looked up in an array) instead of joining every lead to
-- the trials (install/parts/analytics.sql).
--------------------------------------------------------------------------
-- The counts behind funnel(from, to, 'segment') over many leads: per
-- segment (NULL: no segment) the leads created in [from, to), those at or
-- beyond iql, mql, sql and customer at their current stage, and those that
-- started a trial (src/analytics.c).  Reads as the caller.
CREATE FUNCTION lead_mgmt._segment_funnel(from_time timestamptz, to_time timestamptz)
    RETURNS TABLE (segment_id bigint, leads bigint, iql bigint, mql bigint,
                   sql bigint, customers bigint, trials bigint)
    LANGUAGE c STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_segment_funnel';
COMMENT ON FUNCTION lead_mgmt._segment_funnel(timestamptz, timestamptz) IS
    'internal: funnel counts per segment of the leads created in [from, to), at their current stage';

-- The same per channel, campaign or owner (owner_id as text), or for all
-- the leads ('all': one group, '(all)'): funnel() by those, and over a
-- range (src/analytics.c).  Reads as the caller.
CREATE FUNCTION lead_mgmt._group_funnel(from_time timestamptz, to_time timestamptz, group_by text)
    RETURNS TABLE (group_value text, leads bigint, iql bigint, mql bigint,
                   sql bigint, customers bigint, trials bigint)
    LANGUAGE c STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_group_funnel';
COMMENT ON FUNCTION lead_mgmt._group_funnel(timestamptz, timestamptz, text) IS
    'internal: funnel counts per channel, campaign or owner (or all) of the leads created in [from, to), at their current stage';

-- run by funnel() as its caller, and reading as the caller: anyone may
-- run it (see the end of install/parts/security.sql)
REVOKE ALL ON FUNCTION lead_mgmt._segment_funnel(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lead_mgmt._segment_funnel(timestamptz, timestamptz) TO PUBLIC;
REVOKE ALL ON FUNCTION lead_mgmt._group_funnel(timestamptz, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lead_mgmt._group_funnel(timestamptz, timestamptz, text) TO PUBLIC;
CREATE OR REPLACE FUNCTION lead_mgmt.funnel(from_time timestamptz, to_time timestamptz,
                                 group_by text DEFAULT NULL)
    RETURNS TABLE (group_value text, visitors bigint, leads bigint, iql bigint, mql bigint,
                   sql bigint, customers bigint, trials bigint,
                   opt_in_rate numeric, lead_to_mql_rate numeric, mql_to_sql_rate numeric,
                   sql_to_customer_rate numeric, sales_conversion_rate numeric)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    -- its statements scan every lead of the range once: JIT compiles them
    -- for longer than they run (1M leads: 0.71 -> 0.97 s over all leads)
    SET jit = off
AS $fn$
DECLARE
    g        text := pg_catalog.lower(pg_catalog.btrim(group_by));
    v_lo     timestamptz := COALESCE(from_time, '-infinity'::timestamptz);
    v_hi     timestamptz := COALESCE(to_time, 'infinity'::timestamptz);
    v_group  text := '''(all)''::pg_catalog.text';  -- the group of a lead
    v_join   text := '';                             -- what that needs joined
    v_vis    text := '''(all)''::pg_catalog.text';  -- the group of a campaign's visitors
    v_manual text;                                   -- rows of the leads moved by hand
    v_lf     text;                                   -- CTEs ending in lf, the counts per group
    v_scan   boolean := false;                       -- by segment, by _segment_funnel
    v_counts text;                                   -- rows of r from the leads themselves
    v_x      text;                                   -- or, counted in C, rows of x
    v_cap    bigint;
BEGIN
    IF g OPERATOR(pg_catalog.=) ANY (ARRAY['', 'none']) THEN
        g := NULL;
    END IF;
    IF g IS NULL THEN
        NULL;   -- the whole funnel
    ELSIF g OPERATOR(pg_catalog.=) 'channel' THEN
        v_group := 'l.channel';
        v_vis := 'c.channel';
    ELSIF g OPERATOR(pg_catalog.=) 'campaign' THEN
        v_group := 'l.campaign';
        v_vis := 'c.code';
    ELSIF g OPERATOR(pg_catalog.=) 'owner' THEN
        v_group := 'l.owner_id::pg_catalog.text';
        v_vis := NULL;      -- visitors have no owner
    ELSIF g OPERATOR(pg_catalog.=) 'segment' THEN
        -- current membership: a lead in several segments counts in each,
        -- a lead in none under NULL.  Each lead's segments are looked up
        -- (OFFSET 0 keeps the lookup per lead: as a join, the planner may
        -- hash all 1.6M memberships of 1M leads for a few thousand).
        v_group := 'sg.name';
        v_join := 'LEFT JOIN LATERAL (SELECT sg.name
                                        FROM lead_mgmt.segment_members sm
                                        JOIN lead_mgmt.segments sg ON sg.id OPERATOR(pg_catalog.=) sm.segment_id
                                       WHERE sm.lead_id OPERATOR(pg_catalog.=) l.id OFFSET 0) sg ON true';
        v_vis := NULL;      -- nor a segment
    ELSE
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = pg_catalog.format('unknown funnel grouping "%s"', group_by),
            HINT = 'Group by channel, campaign, segment or owner, or pass NULL for the whole funnel.';
    END IF;
    IF v_lo OPERATOR(pg_catalog.>) v_hi THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'funnel range starts after it ends',
            DETAIL = pg_catalog.format('from is %s, to is %s.', from_time, to_time),
            HINT = 'The range is [from, to): leads created at or after from and before to.';
    END IF;
    -- By segment, _segment_funnel (below) reads the leads of the range
    -- and every membership once; looking up each lead's segments instead
    -- costs per lead, and pays off only for ranges of fewer leads than a
    -- 256th of the memberships (as the planner counts them).  funnel() at
    -- 1M leads and 1.7M memberships, by the one pass (by lookups): every
    -- lead 0.3 s (1.6 s), a fifth 0.17 s (0.65), 1 % 0.16 s (0.27); a day
    -- of leads 0.21 s by lookups, about what the pass takes.
    IF g OPERATOR(pg_catalog.=) 'segment' THEN
        IF from_time IS NULL AND to_time IS NULL THEN
            v_scan := true;
        ELSE
            SELECT (GREATEST(c.reltuples, 0) OPERATOR(pg_catalog./) 256)::pg_catalog.int8 INTO v_cap
              FROM pg_catalog.pg_class c
             WHERE c.oid OPERATOR(pg_catalog.=) 'lead_mgmt.segment_members'::pg_catalog.regclass;
            SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) v_cap INTO v_scan
              FROM (SELECT FROM lead_mgmt.leads l
                     WHERE l.created_at OPERATOR(pg_catalog.>=) v_lo AND l.created_at OPERATOR(pg_catalog.<) v_hi
                     LIMIT v_cap) AS s;
        END IF;
    END IF;

    -- Only the fixed fragments above are spliced in; the range is passed
    -- as parameters.  Counting as in _reach_rows: every lead at its current
    -- stage, leads moved by hand moved to the highest stage of their
    -- history, trials.  lf: per group, the leads, those that reached each
    -- stage, and the trials.
    v_manual := pg_catalog.format($m$
        SELECT %1$s AS grp, v.rank, v.leads, 0::pg_catalog.int8 AS trials
          FROM lead_mgmt._manual_reach m
          JOIN lead_mgmt.leads l ON l.id OPERATOR(pg_catalog.=) m.lead_id
          %2$s
          LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) l.stage
         CROSS JOIN LATERAL (VALUES (cur.rank, -1::bigint), (GREATEST(cur.rank, m.rank), 1::bigint)) AS v(rank, leads)
         WHERE l.created_at OPERATOR(pg_catalog.>=) $1 AND l.created_at OPERATOR(pg_catalog.<) $2$m$,
        v_group, v_join);
    -- In C (src/analytics.c): by segment over many leads (above), and
    -- every other funnel, where the SQL joined every lead of the range to
    -- the leads with a trial and aggregated the join (1M leads, warm:
    -- 0.9-1.1 s by channel, campaign or owner, now 0.22-0.36 s).  The SQL
    -- below is left for a few leads by segment.
    IF v_scan THEN
        v_x := $x$
        SELECT sg.name AS grp, f.leads, f.iql, f.mql, f.sql, f.customers, f.trials
          FROM lead_mgmt._segment_funnel($1, $2) AS f
          LEFT JOIN lead_mgmt.segments sg ON sg.id OPERATOR(pg_catalog.=) f.segment_id
         WHERE f.leads OPERATOR(pg_catalog.>) 0$x$;
    ELSIF g IS DISTINCT FROM 'segment' THEN
        v_x := pg_catalog.format($x$
        SELECT f.group_value AS grp, f.leads, f.iql, f.mql, f.sql, f.customers, f.trials
          FROM lead_mgmt._group_funnel($1, $2, %L) AS f$x$, COALESCE(g, 'all'));
    END IF;
    IF v_x IS NULL THEN
        v_counts := pg_catalog.format($c$
        SELECT g.grp, cur.rank, g.leads, g.trials
          FROM (SELECT %1$s AS grp, l.stage,
                       pg_catalog.count(*) AS leads, pg_catalog.count(t.lead_id) AS trials
                  FROM lead_mgmt.leads l
                  %2$s
                  LEFT JOIN lead_mgmt._trial_leads t ON t.lead_id OPERATOR(pg_catalog.=) l.id
                 WHERE l.created_at OPERATOR(pg_catalog.>=) $1 AND l.created_at OPERATOR(pg_catalog.<) $2
                 GROUP BY 1, 2) g
          LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) g.stage$c$,
            v_group, v_join);
        -- r: rows of (group, stage rank, leads, trials), summed per group
        v_lf := pg_catalog.format($r$
    r AS (%1$s
        UNION ALL%2$s
    ), lf AS (
        SELECT r.grp,
               pg_catalog.sum(r.leads) AS leads,
               COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
                   (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'iql')), 0) AS iql,
               COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
                   (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'mql')), 0) AS mql,
               COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
                   (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'sql')), 0) AS sql,
               COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
                   (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'customer')), 0) AS customers,
               pg_catalog.sum(r.trials) AS trials
          FROM r
         GROUP BY r.grp
    )$r$, v_counts, v_manual);
    ELSE
        -- By segment over many leads, r would join the memberships (1.6M
        -- for 1M leads) to the leads: a hash table of a million leads and
        -- a probe for every membership (1.2 s at 1M leads; 1.6 s through
        -- bitmaps made of bit strings).  _segment_funnel (C) reads the
        -- leads of the range once into an array by id and counts each
        -- membership with one lookup; _group_funnel (C) reads them once,
        -- looking each one's trial up in an array and its group in a hash
        -- table of the few groups.
        --   x: per group (segment: NULL for the leads in no segment), the
        --      leads and those at or beyond each stage, at their current
        --      stage;
        --   lf: x, and the leads moved by hand as rows of r.
        v_lf := pg_catalog.format($s$
    x AS (%1$s
    ), r AS (%2$s
    ), lf AS (
        SELECT q.grp,
               pg_catalog.sum(q.leads) AS leads, pg_catalog.sum(q.iql) AS iql,
               pg_catalog.sum(q.mql) AS mql, pg_catalog.sum(q.sql) AS sql,
               pg_catalog.sum(q.customers) AS customers, pg_catalog.sum(q.trials) AS trials
          FROM (SELECT x.grp, x.leads, x.iql, x.mql, x.sql, x.customers, x.trials
                  FROM x
                UNION ALL
                SELECT r.grp, r.leads,
                       CASE WHEN r.rank OPERATOR(pg_catalog.>=) th.iql THEN r.leads ELSE 0 END,
                       CASE WHEN r.rank OPERATOR(pg_catalog.>=) th.mql THEN r.leads ELSE 0 END,
                       CASE WHEN r.rank OPERATOR(pg_catalog.>=) th.sql THEN r.leads ELSE 0 END,
                       CASE WHEN r.rank OPERATOR(pg_catalog.>=) th.customer THEN r.leads ELSE 0 END,
                       r.trials
                  FROM r
                 CROSS JOIN (SELECT pg_catalog.max(st.rank) FILTER (WHERE st.name OPERATOR(pg_catalog.=) 'iql') AS iql,
                                    pg_catalog.max(st.rank) FILTER (WHERE st.name OPERATOR(pg_catalog.=) 'mql') AS mql,
                                    pg_catalog.max(st.rank) FILTER (WHERE st.name OPERATOR(pg_catalog.=) 'sql') AS sql,
                                    pg_catalog.max(st.rank) FILTER (WHERE st.name OPERATOR(pg_catalog.=) 'customer') AS customer
                               FROM lead_mgmt.stages st) th) q
         GROUP BY q.grp
    )$s$, v_x, v_manual);
    END IF;

    RETURN QUERY EXECUTE pg_catalog.format($q$
    WITH %1$s, vis AS (
        -- visitors of the days that start in the range, through their campaign
        SELECT %2$s AS grp, pg_catalog.sum(d.visitors) AS visitors
          FROM lead_mgmt.campaign_daily d
          JOIN lead_mgmt.campaigns c ON c.code OPERATOR(pg_catalog.=) d.campaign
         WHERE %3$s
           AND d.day::pg_catalog.timestamptz OPERATOR(pg_catalog.>=) $1
           AND d.day::pg_catalog.timestamptz OPERATOR(pg_catalog.<) $2
         GROUP BY 1
    ), u AS (
        SELECT vis.grp, vis.visitors, 0::bigint AS leads, 0::bigint AS iql, 0::bigint AS mql,
               0::bigint AS sql, 0::bigint AS customers, 0::bigint AS trials
          FROM vis
        UNION ALL
        SELECT lf.grp, NULL, lf.leads, lf.iql, lf.mql, lf.sql, lf.customers, lf.trials
          FROM lf
        UNION ALL   -- the whole funnel is one row even when the range is empty
        SELECT '(all)', NULL, 0, 0, 0, 0, 0, 0 WHERE %4$s
    ), s AS (
        SELECT u.grp,
               CASE WHEN %3$s THEN COALESCE(pg_catalog.sum(u.visitors), 0) END::bigint AS visitors,
               pg_catalog.sum(u.leads)::bigint AS leads,
               pg_catalog.sum(u.iql)::bigint AS iql,
               pg_catalog.sum(u.mql)::bigint AS mql,
               pg_catalog.sum(u.sql)::bigint AS sql,
               pg_catalog.sum(u.customers)::bigint AS customers,
               pg_catalog.sum(u.trials)::bigint AS trials
          FROM u
         GROUP BY u.grp
    )
    SELECT s.grp, s.visitors, s.leads, s.iql, s.mql, s.sql, s.customers, s.trials,
           lead_mgmt._pct(s.leads, s.visitors),
           lead_mgmt._pct(s.mql, s.leads),
           lead_mgmt._pct(s.sql, s.mql),
           lead_mgmt._pct(s.customers, s.sql),
           lead_mgmt._pct(s.customers, s.leads)
      FROM s
     ORDER BY s.grp
    $q$, v_lf, COALESCE(v_vis, 'NULL::pg_catalog.text'),
         CASE WHEN v_vis IS NULL THEN 'false' ELSE 'true' END,
         CASE WHEN g IS NULL THEN 'true' ELSE 'false' END)
    USING v_lo, v_hi;
END;
$fn$;

--------------------------------------------------------------------------
-- 0.2: leads are vacuumed at 1 % dead rows rather than 20 %: event updates
-- clear the visibility map that the analytics' index-only scans of
-- leads_funnel_idx rely on (see install/parts/core.sql)
--------------------------------------------------------------------------
ALTER TABLE lead_mgmt.leads SET (autovacuum_vacuum_scale_factor = 0.01);

--------------------------------------------------------------------------
-- 0.2: no statistics on the internal arrays of leads, which no query
-- filters on (see install/parts/core.sql)
--------------------------------------------------------------------------
ALTER TABLE lead_mgmt.leads
    ALTER COLUMN event_counts SET STATISTICS 0,
    ALTER COLUMN segment_ids SET STATISTICS 0,
    ALTER COLUMN sequence_ids SET STATISTICS 0;

--------------------------------------------------------------------------
-- 0.2: when leads are next due for maintenance moves from an index on
-- leads.recheck_at to a table of its own, so that an event that only moves
-- recheck_at is a HOT update of its lead (see install/parts/core.sql)
--------------------------------------------------------------------------
CREATE TABLE lead_mgmt.rechecks (
    due_at  timestamptz NOT NULL,
    lead_id bigint NOT NULL
);
CREATE INDEX rechecks_due_idx ON lead_mgmt.rechecks (due_at, lead_id);
ALTER TABLE lead_mgmt.rechecks REPLICA IDENTITY FULL;
COMMENT ON TABLE lead_mgmt.rechecks IS
    'internal: when leads are next due for run_maintenance (an entry at or before each lead''s recheck_at)';
INSERT INTO lead_mgmt.rechecks (due_at, lead_id)
SELECT recheck_at, id FROM lead_mgmt.leads WHERE recheck_at IS NOT NULL;
DROP INDEX lead_mgmt.leads_recheck_idx;
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.rechecks', '');

-- analysts are not granted rechecks: it lists every lead (a rep's others'
-- too) and tells nothing the leads do not
CREATE OR REPLACE FUNCTION lead_mgmt.grant_analyst(role name, contact_data boolean DEFAULT false)
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

--------------------------------------------------------------------------
-- 0.2: the funnel views (through _reach_rows), acquisition_costs and
-- unknown_campaigns count the leads per day, channel, campaign and stage
-- in C (_reach_days: one pass, each lead's trial and won deals looked up
-- in arrays) instead of joining every lead to the trials and the won
-- deals and aggregating the join (install/parts/analytics.sql)
--------------------------------------------------------------------------
CREATE FUNCTION lead_mgmt._reach_days(with_deals boolean)
    RETURNS TABLE (day date, channel text, campaign text, stage text, leads bigint,
                   trials bigint, deals_won bigint, revenue numeric,
                   first_created_at timestamptz, last_created_at timestamptz)
    LANGUAGE c STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_reach_days';
COMMENT ON FUNCTION lead_mgmt._reach_days(boolean) IS
    'internal: leads and trials (and won deals and their revenue), and the first and last creation time, per creation day, channel, campaign and current stage';

-- read by the funnel views as their caller, and reading as the caller
REVOKE ALL ON FUNCTION lead_mgmt._reach_days(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lead_mgmt._reach_days(boolean) TO PUBLIC;

CREATE OR REPLACE VIEW lead_mgmt._reach_rows WITH (security_invoker = true) AS
SELECT d.day, d.channel, d.campaign, cur.rank, d.leads, d.trials
  FROM lead_mgmt._reach_days(false) d
  LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) d.stage
UNION ALL
SELECT l.created_at::date, l.channel, l.campaign, v.rank, v.leads, 0
  FROM lead_mgmt._manual_reach m
  JOIN lead_mgmt.leads l ON l.id OPERATOR(pg_catalog.=) m.lead_id
  LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) l.stage
 CROSS JOIN LATERAL (VALUES (cur.rank, -1::bigint), (GREATEST(cur.rank, m.rank), 1::bigint)) AS v(rank, leads);

CREATE OR REPLACE VIEW lead_mgmt.acquisition_costs WITH (security_invoker = true) AS
WITH sp AS (
    SELECT d.campaign, pg_catalog.date_trunc('month', d.day::timestamp)::date AS month,
           pg_catalog.sum(d.spend) AS spend, pg_catalog.sum(d.visitors) AS visitors
      FROM lead_mgmt.campaign_daily d
     GROUP BY 1, 2
), ld AS (
    -- as _reach_rows, by campaign, with the won deals of the leads in the
    -- same pass (_reach_days counts them)
    SELECT r.campaign, pg_catalog.date_trunc('month', r.day::timestamp)::date AS month,
           pg_catalog.sum(r.leads) AS leads,
           COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
               (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'customer')), 0) AS customers,
           pg_catalog.sum(r.deals_won) AS deals_won,
           pg_catalog.sum(r.revenue) AS revenue
      FROM (SELECT d.day, d.campaign, cur.rank, d.leads, d.deals_won, d.revenue
              FROM lead_mgmt._reach_days(true) d
              LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) d.stage
             WHERE EXISTS (SELECT 1 FROM lead_mgmt.campaigns c
                            WHERE c.code OPERATOR(pg_catalog.=) d.campaign)
            UNION ALL
            SELECT l.created_at::date, l.campaign, v.rank, v.leads, 0, 0.00
              FROM lead_mgmt._manual_reach m
              JOIN lead_mgmt.leads l ON l.id OPERATOR(pg_catalog.=) m.lead_id
              LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) l.stage
             CROSS JOIN LATERAL (VALUES (cur.rank, -1::bigint),
                                        (GREATEST(cur.rank, m.rank), 1::bigint)) AS v(rank, leads)
             WHERE EXISTS (SELECT 1 FROM lead_mgmt.campaigns c
                            WHERE c.code OPERATOR(pg_catalog.=) l.campaign)) r
     GROUP BY 1, 2
), k AS (
    SELECT sp.campaign, sp.month FROM sp
    UNION
    SELECT ld.campaign, ld.month FROM ld
), a AS (
    SELECT k.month, k.campaign, c.channel,
           COALESCE(sp.spend, 0.00) AS spend,
           COALESCE(sp.visitors, 0)::bigint AS visitors,
           COALESCE(ld.leads, 0)::bigint AS leads,
           COALESCE(ld.customers, 0)::bigint AS customers,
           COALESCE(ld.revenue, 0.00) AS revenue,
           COALESCE(ld.deals_won, 0) AS deals_won
      FROM k
      JOIN lead_mgmt.campaigns c ON c.code OPERATOR(pg_catalog.=) k.campaign
      LEFT JOIN sp ON sp.campaign OPERATOR(pg_catalog.=) k.campaign
                  AND sp.month OPERATOR(pg_catalog.=) k.month
      LEFT JOIN ld ON ld.campaign OPERATOR(pg_catalog.=) k.campaign
                  AND ld.month OPERATOR(pg_catalog.=) k.month
)
SELECT a.month, a.campaign, a.channel, a.spend, a.visitors, a.leads, a.customers, a.revenue,
       lead_mgmt._ratio(a.spend, a.leads)     AS cost_per_lead,
       lead_mgmt._ratio(a.spend, a.customers) AS customer_acquisition_cost,
       lead_mgmt._ratio(a.revenue, a.deals_won) AS avg_deal_size,
       lead_mgmt._pct(a.revenue OPERATOR(pg_catalog.-) a.spend, a.spend) AS roi_pct,
       lead_mgmt._ratio(a.spend, a.leads) OPERATOR(pg_catalog.>)
           lead_mgmt._ratio(a.revenue, a.deals_won) AS cpl_exceeds_avg_deal
  FROM a
 ORDER BY a.month, a.campaign;
CREATE OR REPLACE VIEW lead_mgmt.unknown_campaigns WITH (security_invoker = true) AS
-- per campaign code from _reach_days' rows (a few thousand, where the
-- SQL read and anti-joined every lead: 1M leads 0.6-0.8 s)
SELECT g.campaign, g.leads, g.first_lead_at, g.last_lead_at
  FROM (SELECT d.campaign,
               pg_catalog.sum(d.leads)::bigint AS leads,
               pg_catalog.min(d.first_created_at) AS first_lead_at,
               pg_catalog.max(d.last_created_at) AS last_lead_at
          FROM lead_mgmt._reach_days(false) d
         WHERE d.campaign IS NOT NULL
         GROUP BY d.campaign) g
 WHERE NOT EXISTS (SELECT 1 FROM lead_mgmt.campaigns c
                    WHERE c.code OPERATOR(pg_catalog.=) g.campaign)
 ORDER BY g.leads DESC, g.campaign;

--------------------------------------------------------------------------
-- Finite times for campaign days and deals (install/parts/analytics.sql)
--------------------------------------------------------------------------
-- (0.2) a day is a calendar day: infinity would put visitors and spend in
-- a month no range of funnel() reaches
ALTER TABLE lead_mgmt.campaign_daily
    ADD CONSTRAINT campaign_daily_day_finite CHECK (pg_catalog.isfinite(day));
CREATE OR REPLACE FUNCTION lead_mgmt._deals_before_row() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.amount IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'not_null_violation',
            MESSAGE = 'deal amount must not be null',
            HINT = 'Give the value of the deal; use 0 when it is not known yet.';
    END IF;
    -- NaN passes "amount >= 0" (it sorts above every number) and would make
    -- every revenue figure NaN
    IF NEW.amount OPERATOR(pg_catalog.=) 'NaN'::pg_catalog.numeric THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'deal amount must be a number, not NaN',
            HINT = 'Give the value of the deal as zero or more; use 0 when it is not known yet.';
    END IF;
    IF NEW.amount OPERATOR(pg_catalog.<) 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = pg_catalog.format('deal amount must not be negative: %s', NEW.amount),
            HINT = 'Give the value of the deal as zero or more; a deal that fell through is marked lost.';
    END IF;
    IF NEW.status IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'not_null_violation',
            MESSAGE = 'deal status must not be null',
            HINT = 'A deal''s status is open, won or lost.';
    END IF;
    IF NOT NEW.status OPERATOR(pg_catalog.=) ANY (ARRAY['open', 'won', 'lost']) THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = pg_catalog.format('invalid deal status "%s"', NEW.status),
            HINT = 'A deal''s status is open, won or lost.';
    END IF;

    -- (0.2) infinite times would put a deal in no month, or in followups
    -- "since -infinity"; a won one fails later, as its purchase event's time
    IF NOT pg_catalog.isfinite(NEW.created_at) THEN
        RAISE EXCEPTION USING ERRCODE = 'datetime_field_overflow',
            MESSAGE = 'deal created_at must be finite',
            HINT = 'Record when the deal was opened; leave created_at out for now().';
    END IF;
    IF NOT pg_catalog.isfinite(NEW.closed_at) THEN
        RAISE EXCEPTION USING ERRCODE = 'datetime_field_overflow',
            MESSAGE = 'deal closed_at must be finite',
            HINT = 'Record when the deal was won or lost; leave closed_at out for now().';
    END IF;

    IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        IF NEW.lead_id IS DISTINCT FROM OLD.lead_id
           AND EXISTS (SELECT 1 FROM lead_mgmt.events e
                        WHERE e.dedupe_key OPERATOR(pg_catalog.=)
                              ('deal:' OPERATOR(pg_catalog.||) OLD.id::pg_catalog.text)) THEN
            RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
                MESSAGE = pg_catalog.format('deal %s was won and cannot move to another lead', OLD.id),
                DETAIL = pg_catalog.format('Its purchase event belongs to lead %s.', OLD.lead_id),
                HINT = 'Mark this deal lost and insert a new deal for the other lead.';
        END IF;
        IF NEW.status OPERATOR(pg_catalog.<>) OLD.status
           AND NEW.closed_at IS NOT DISTINCT FROM OLD.closed_at THEN
            -- the old closed_at belonged to the previous status
            NEW.closed_at := CASE WHEN NEW.status OPERATOR(pg_catalog.=) 'open' THEN NULL
                                  ELSE pg_catalog.now() END;
        END IF;
    END IF;

    IF NEW.status OPERATOR(pg_catalog.=) 'open' THEN
        IF NEW.closed_at IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = 'an open deal cannot have a closed_at',
                DETAIL = pg_catalog.format('closed_at was %s.', NEW.closed_at),
                HINT = 'Set status to won or lost to close the deal, or leave closed_at null while it is open.';
        END IF;
    ELSIF NEW.closed_at IS NULL THEN
        NEW.closed_at := pg_catalog.now();
    END IF;
    RETURN NEW;
END;
$$;
-- (as install/parts/security.sql: CREATE OR REPLACE reset it)
ALTER FUNCTION lead_mgmt._deals_before_row() SECURITY DEFINER;

-- 0.2: round robin rotates within each lead's pool (territory, industry,
-- seniority): the rule keeps the order in which it chose its reps, least
-- recently chosen first, instead of one cursor that a lead of another
-- pool moves past the reps of this one (install/parts/assignment.sql,
-- src/assignment.c).  The column has no default: no rewrite; a rule's
-- first round-robin choice after the update continues from its cursor.
ALTER TABLE lead_mgmt.rotation_state ADD COLUMN rr_order bigint[];
COMMENT ON TABLE lead_mgmt.rotation_state IS
    'internal: per rule, the last rep chosen (cursor), the smooth weighted round-robin current weights and the round-robin order';

-- 0.2: an enrolment starts at its sequence's lowest step, whatever its
-- number: 0.1 looked for step 1 only, so a sequence numbered 10, 20, 30
-- left its enrolments active with nothing queued (install/parts/nurture.sql)
COMMENT ON TABLE lead_mgmt.sequence_steps IS
    'the steps of a sequence: the first (lowest) step is due delay after enrolment, each later step delay after the previous touch is done';
CREATE OR REPLACE FUNCTION lead_mgmt._enroll(lead_ids bigint[], sequence_ids bigint[], times timestamptz[])
    RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH e AS (
        INSERT INTO lead_mgmt.enrollments (lead_id, sequence_id, step, enrolled_at)
        SELECT u.lead_id, u.sequence_id,
               COALESCE((SELECT pg_catalog.min(st.step) FROM lead_mgmt.sequence_steps st
                          WHERE st.sequence_id OPERATOR(pg_catalog.=) u.sequence_id), 1),
               u.at
          FROM ROWS FROM (pg_catalog.unnest(lead_ids), pg_catalog.unnest(sequence_ids), pg_catalog.unnest(times))
               AS u(lead_id, sequence_id, at)
         WHERE EXISTS (SELECT 1 FROM lead_mgmt.leads l WHERE l.id OPERATOR(pg_catalog.=) u.lead_id)
           AND EXISTS (SELECT 1 FROM lead_mgmt.sequences s WHERE s.id OPERATOR(pg_catalog.=) u.sequence_id)
         ORDER BY u.lead_id, u.sequence_id      -- ids in a stable order, whatever the plan
        ON CONFLICT (lead_id, sequence_id) DO NOTHING
        RETURNING id, lead_id, sequence_id, step, enrolled_at)
    INSERT INTO lead_mgmt.touches (enrollment_id, lead_id, step, action, channel, due_at)
    SELECT e.id, e.lead_id, st.step, st.action, st.channel, e.enrolled_at OPERATOR(pg_catalog.+) st.delay
      FROM e JOIN lead_mgmt.sequence_steps st
        ON st.sequence_id OPERATOR(pg_catalog.=) e.sequence_id AND st.step OPERATOR(pg_catalog.=) e.step
     ORDER BY e.id;
    -- a sequence without steps is completed at once
    UPDATE lead_mgmt.enrollments en SET status = 'completed', ended_at = en.enrolled_at
     WHERE en.status OPERATOR(pg_catalog.=) 'active'
       AND en.lead_id OPERATOR(pg_catalog.=) ANY (lead_ids)
       AND NOT EXISTS (SELECT 1 FROM lead_mgmt.sequence_steps st
                        WHERE st.sequence_id OPERATOR(pg_catalog.=) en.sequence_id);
$$;

-- 0.2: a lead at or above the customer stage is not open, also when it got
-- there by set_stage without a purchase (DESIGN: open leads are owned, not
-- customer, not disqualified): it does not count against capacity or in
-- rep_performance.open_leads, is not listed as unassigned, is not
-- SLA-reassigned or redistributed, and exits nurture (src/lead_state.c,
-- src/assignment.c).  leads_open_owner_idx (created above, new in 0.2)
-- carries the stage so the counts stay index-only (install/parts/core.sql,
-- assignment.sql)
CREATE OR REPLACE VIEW lead_mgmt.unassigned WITH (security_invoker = true) AS
SELECT l.id AS lead_id, l.stage, l.score, l.region, l.industry, l.stage_changed_at AS since
  FROM lead_mgmt.leads l
  JOIN lead_mgmt.stages s ON s.name OPERATOR(pg_catalog.=) l.stage
 WHERE l.owner_id IS NULL
   AND l.disqualified_at IS NULL
   AND l.converted_at IS NULL
   AND s.rank OPERATOR(pg_catalog.>=) (SELECT pg_catalog.min(a.rank) FROM lead_mgmt.stages a WHERE a.assign_on_entry)
   AND NOT EXISTS (SELECT 1 FROM lead_mgmt.stages c
                    WHERE c.name OPERATOR(pg_catalog.=) 'customer' AND s.rank OPERATOR(pg_catalog.>=) c.rank);
COMMENT ON VIEW lead_mgmt.unassigned IS 'sales-ready leads without an owner';
CREATE OR REPLACE VIEW lead_mgmt.rep_performance WITH (security_invoker = true) AS
SELECT r.id AS rep_id,
       r.name,
       (SELECT pg_catalog.count(*) FROM lead_mgmt.leads l
         WHERE l.owner_id OPERATOR(pg_catalog.=) r.id
           AND l.converted_at IS NULL AND l.disqualified_at IS NULL
           AND l.stage OPERATOR(pg_catalog.<>) ALL (ARRAY(
                 SELECT s.name FROM lead_mgmt.stages s JOIN lead_mgmt.stages c
                     ON c.name OPERATOR(pg_catalog.=) 'customer' AND s.rank OPERATOR(pg_catalog.>=) c.rank))) AS open_leads,
       (SELECT pg_catalog.count(DISTINCT a.lead_id) FROM lead_mgmt.assignments a
         WHERE a.rep_id OPERATOR(pg_catalog.=) r.id) AS leads_assigned,
       d.deals_won,
       d.deals_lost,
       pg_catalog.round(100.0 * d.deals_won / NULLIF(d.deals_won + d.deals_lost, 0), 2) AS win_rate,
       d.revenue,
       (SELECT pg_catalog.round((pg_catalog.percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY pg_catalog.date_part('epoch', a.first_touch_at OPERATOR(pg_catalog.-) a.assigned_at)
                            OPERATOR(pg_catalog./) 3600.0))::numeric, 2)
          FROM lead_mgmt.assignments a
         WHERE a.rep_id OPERATOR(pg_catalog.=) r.id
           AND a.first_touch_at IS NOT NULL
           -- while the rep owned the lead: first_touch_at is the first touch
           -- since assigned_at, and one after ended_at is the next owner's
           -- (or, naming this rep, made when no longer the owner)
           AND (a.ended_at IS NULL
                OR a.first_touch_at OPERATOR(pg_catalog.<) a.ended_at)) AS median_hours_to_first_touch
  FROM lead_mgmt.reps r
  LEFT JOIN LATERAL (
        SELECT pg_catalog.count(*) FILTER (WHERE x.status OPERATOR(pg_catalog.=) 'won')  AS deals_won,
               pg_catalog.count(*) FILTER (WHERE x.status OPERATOR(pg_catalog.=) 'lost') AS deals_lost,
               COALESCE(pg_catalog.sum(x.amount) FILTER (WHERE x.status OPERATOR(pg_catalog.=) 'won'), 0) AS revenue
          FROM lead_mgmt.deals x
         WHERE x.rep_id OPERATOR(pg_catalog.=) r.id) d ON true;
COMMENT ON VIEW lead_mgmt.rep_performance IS
    'per rep: open leads, leads assigned, deals won and lost, win rate %, revenue, median hours to first sales touch';

-- 0.2: configuration intervals are refused when they would put computed
-- times out of range (settings, a rule's sla, a step's delay: at most 100
-- years), and a step's delay must not be negative; 0.1 accepted them and
-- then failed every writer that computed a time from them
-- (src/triggers.c, install/parts/nurture.sql)
CREATE TRIGGER sequence_steps_validate BEFORE INSERT OR UPDATE ON lead_mgmt.sequence_steps
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._config_validate();

-- 0.2: a sequence without steps no longer completes its enrolments at
-- once: they wait, and the first steps added to the sequence queue their
-- first touches, so that creating a sequence and then its steps (the
-- README's recipe) nurtures the existing leads it enrolls retroactively
-- (install/parts/nurture.sql, security.sql)
CREATE OR REPLACE FUNCTION lead_mgmt._enroll(lead_ids bigint[], sequence_ids bigint[], times timestamptz[])
    RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH e AS (
        INSERT INTO lead_mgmt.enrollments (lead_id, sequence_id, step, enrolled_at)
        SELECT u.lead_id, u.sequence_id,
               COALESCE((SELECT pg_catalog.min(st.step) FROM lead_mgmt.sequence_steps st
                          WHERE st.sequence_id OPERATOR(pg_catalog.=) u.sequence_id), 1),
               u.at
          FROM ROWS FROM (pg_catalog.unnest(lead_ids), pg_catalog.unnest(sequence_ids), pg_catalog.unnest(times))
               AS u(lead_id, sequence_id, at)
         WHERE EXISTS (SELECT 1 FROM lead_mgmt.leads l WHERE l.id OPERATOR(pg_catalog.=) u.lead_id)
           AND EXISTS (SELECT 1 FROM lead_mgmt.sequences s WHERE s.id OPERATOR(pg_catalog.=) u.sequence_id)
         ORDER BY u.lead_id, u.sequence_id      -- ids in a stable order, whatever the plan
        ON CONFLICT (lead_id, sequence_id) DO NOTHING
        RETURNING id, lead_id, sequence_id, step, enrolled_at)
    INSERT INTO lead_mgmt.touches (enrollment_id, lead_id, step, action, channel, due_at)
    SELECT e.id, e.lead_id, st.step, st.action, st.channel, e.enrolled_at OPERATOR(pg_catalog.+) st.delay
      FROM e JOIN lead_mgmt.sequence_steps st
        ON st.sequence_id OPERATOR(pg_catalog.=) e.sequence_id AND st.step OPERATOR(pg_catalog.=) e.step
     ORDER BY e.id;
    -- (0.2) an enrolment in a sequence without steps yet waits, active
    -- and without a touch, for its first step (_sequence_steps_added)
$$;
CREATE FUNCTION lead_mgmt._sequence_steps_added() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    WITH f AS (
        SELECT DISTINCT ON (st.sequence_id) st.sequence_id, st.step, st.delay, st.action, st.channel
          FROM lead_mgmt.sequence_steps st
         WHERE st.sequence_id IN (SELECT n.sequence_id FROM new_steps n)
         ORDER BY st.sequence_id, st.step
    ), e AS (
        UPDATE lead_mgmt.enrollments en SET step = f.step
          FROM f
         WHERE en.sequence_id OPERATOR(pg_catalog.=) f.sequence_id
           AND en.status OPERATOR(pg_catalog.=) 'active'
           AND NOT EXISTS (SELECT 1 FROM lead_mgmt.touches t
                            WHERE t.enrollment_id OPERATOR(pg_catalog.=) en.id)
        RETURNING en.id, en.lead_id, en.enrolled_at, f.step, f.delay, f.action, f.channel)
    INSERT INTO lead_mgmt.touches (enrollment_id, lead_id, step, action, channel, due_at)
    SELECT e.id, e.lead_id, e.step, e.action, e.channel, e.enrolled_at OPERATOR(pg_catalog.+) e.delay
      FROM e
     ORDER BY e.id;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION lead_mgmt._sequence_steps_added() IS
    'internal: queues the first touch of the enrolments that waited for their sequence''s first step';
CREATE TRIGGER sequence_steps_added AFTER INSERT ON lead_mgmt.sequence_steps
    REFERENCING NEW TABLE AS new_steps
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._sequence_steps_added();
ALTER FUNCTION lead_mgmt._sequence_steps_added() SECURITY DEFINER;
REVOKE ALL ON FUNCTION lead_mgmt._sequence_steps_added() FROM PUBLIC;

--------------------------------------------------------------------------
-- Rep isolation: a rep's deals are credited to itself or to nobody
-- (install/parts/security.sql); policies in place are made again
--------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION lead_mgmt._rep_isolation_on()
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
SELECT lead_mgmt._rep_isolation_on() FROM lead_mgmt.security_state WHERE rep_isolation;

--------------------------------------------------------------------------
-- 0.2: track() refuses ambiguous input (install/parts/core.sql; capture()'s
-- checks are in its section above): track() refuses an empty dedupe_key and
-- a seen one of another lead or event type (instead of returning that
-- event's id).  The checks of plain INSERT/COPY (empty external_id or
-- dedupe_key, a lead with neither identity) are in the library's triggers.
-- Replaced in place (capture() too, above): neither is SECURITY DEFINER,
-- and CREATE OR REPLACE keeps their grants.
--------------------------------------------------------------------------
COMMENT ON FUNCTION lead_mgmt.capture(jsonb) IS
    'inserts a lead, or merges it into the lead with the same external_id, else email (case-insensitive); returns its id';

CREATE OR REPLACE FUNCTION lead_mgmt.track(lead_id bigint, event_type text,
                                properties jsonb DEFAULT '{}',
                                occurred_at timestamptz DEFAULT pg_catalog.now(),
                                dedupe_key text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id   bigint;
    v_lead bigint;
    v_type text;
BEGIN
    IF lead_id IS NULL OR event_type IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'lead_id and event_type must not be null',
            HINT = 'Call lead_mgmt.track(lead_id, event_type, ...) with both.';
    END IF;
    -- (as the events trigger: checked before the look-up, which would
    -- otherwise find an event stored with a blank key under 0.1)
    IF pg_catalog.btrim(dedupe_key, E' \t\n\r\f\v') OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'dedupe_key must not be empty',
            HINT = 'Leave dedupe_key NULL for an event that needs no deduplication, or use the id the source gave the delivery.';
    END IF;
    IF dedupe_key IS NOT NULL THEN
        SELECT e.id, e.lead_id, e.event_type INTO v_id, v_lead, v_type FROM lead_mgmt.events e
         WHERE e.dedupe_key OPERATOR(pg_catalog.=) track.dedupe_key;
    END IF;
    IF v_id IS NULL THEN
        IF NOT EXISTS (SELECT 1 FROM lead_mgmt.leads l WHERE l.id OPERATOR(pg_catalog.=) track.lead_id) THEN
            RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
                MESSAGE = pg_catalog.format('lead %s does not exist', lead_id),
                HINT = 'Capture the lead first with lead_mgmt.capture().';
        END IF;
        INSERT INTO lead_mgmt.events AS e (lead_id, event_type, properties, occurred_at, dedupe_key)
        VALUES (track.lead_id, track.event_type, COALESCE(track.properties, '{}'),
                COALESCE(track.occurred_at, pg_catalog.now()), track.dedupe_key)
        ON CONFLICT ON CONSTRAINT events_dedupe_key_key DO NOTHING
        RETURNING e.id INTO v_id;
        IF v_id IS NOT NULL THEN
            RETURN v_id;
        END IF;
        -- delivered concurrently by another transaction that committed first
        SELECT e.id, e.lead_id, e.event_type INTO v_id, v_lead, v_type FROM lead_mgmt.events e
         WHERE e.dedupe_key OPERATOR(pg_catalog.=) track.dedupe_key;
    END IF;
    -- a redelivery is of the same lead and type; anything else is another
    -- event under a colliding key, which returning the first would lose
    IF v_lead OPERATOR(pg_catalog.<>) track.lead_id
       OR v_type OPERATOR(pg_catalog.<>) track.event_type THEN
        RAISE EXCEPTION USING ERRCODE = 'unique_violation',
            MESSAGE = pg_catalog.format('dedupe_key "%s" already belongs to event %s (%s of lead %s)',
                                        dedupe_key, v_id, v_type, v_lead),
            DETAIL = pg_catalog.format('This call''s event (%s of lead %s) was not recorded: a redelivery is of the same lead and event type.',
                                       event_type, lead_id),
            HINT = 'Make dedupe keys unique per event, for example by prefixing the source''s message id with the event type.';
    END IF;
    RETURN v_id;
END;
$$;
COMMENT ON FUNCTION lead_mgmt.track(bigint, text, jsonb, timestamptz, text) IS
    'records an event; returns its id, or the id already recorded for the same dedupe_key';

--------------------------------------------------------------------------
-- 0.2: a move by hand down holds.  0.1 raised the lead back at its next
-- event when its criteria still met the stage it was moved down from; the
-- row trigger now keeps that stage in stage_ceiling (computed, like stage)
-- and raises the lead to it only when it earns it anew.  A lead whose last
-- stage change was a move by hand down, still in the stage it was moved to,
-- gets that ceiling now (written past the row trigger, which refuses writes
-- to computed columns), and is then recomputed, which lowers the ceiling to
-- what the lead's criteria still reach or drops it (a lead moved up by
-- hand and back down may reach less than the stage it left); nothing else
-- of a lead that 0.1 kept current changes.
--------------------------------------------------------------------------
ALTER TABLE lead_mgmt.leads ADD COLUMN stage_ceiling text;
SET LOCAL session_replication_role = replica;
UPDATE lead_mgmt.leads l
   SET stage_ceiling = h.from_stage
  FROM lead_mgmt.stage_history h
  JOIN lead_mgmt.stages f ON f.name OPERATOR(pg_catalog.=) h.from_stage
  JOIN lead_mgmt.stages t ON t.name OPERATOR(pg_catalog.=) h.to_stage
 WHERE h.lead_id OPERATOR(pg_catalog.=) l.id
   AND h.reason OPERATOR(pg_catalog.=) 'manual'
   AND t.rank OPERATOR(pg_catalog.<) f.rank
   AND l.stage OPERATOR(pg_catalog.=) h.to_stage
   AND NOT EXISTS (SELECT 1 FROM lead_mgmt.stage_history x
                    WHERE x.lead_id OPERATOR(pg_catalog.=) h.lead_id
                      AND (x.changed_at, x.id) OPERATOR(pg_catalog.>) (h.changed_at, h.id));
SET LOCAL session_replication_role = origin;
SELECT pg_catalog.count(lead_mgmt.rescore(l.id))
  FROM lead_mgmt.leads l WHERE l.stage_ceiling IS NOT NULL;
-- roles that read leads column by column (grant_analyst, grant_rep,
-- grant_admin) read the new column too, as they would after a fresh install
-- and the same grant_*() call.  A GRANT in an extension script is recorded
-- as one of the extension's initial privileges, which pg_dump leaves out;
-- these are the roles' own grants, so that record is removed and a dump
-- carries them like the grants on the other columns.
DO $$
DECLARE
    v_grantee text;
BEGIN
    FOR v_grantee IN
        SELECT CASE WHEN x.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                    ELSE pg_catalog.quote_ident(r.rolname) END
          FROM pg_catalog.pg_attribute a,
               LATERAL pg_catalog.aclexplode(a.attacl) WITH ORDINALITY
                   AS x(grantor, grantee, privilege_type, is_grantable, n)
               LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) x.grantee
         WHERE a.attrelid OPERATOR(pg_catalog.=) 'lead_mgmt.leads'::pg_catalog.regclass
           AND a.attname OPERATOR(pg_catalog.=) 'stage'
           AND x.privilege_type OPERATOR(pg_catalog.=) 'SELECT'
         GROUP BY 1
         ORDER BY pg_catalog.min(x.n)    -- in the order they were granted
    LOOP
        EXECUTE pg_catalog.format('GRANT SELECT (stage_ceiling) ON lead_mgmt.leads TO %s', v_grantee);
    END LOOP;
    DELETE FROM pg_catalog.pg_init_privs p
     WHERE p.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND p.objoid OPERATOR(pg_catalog.=) 'lead_mgmt.leads'::pg_catalog.regclass
       AND p.objsubid OPERATOR(pg_catalog.=)
           (SELECT a.attnum FROM pg_catalog.pg_attribute a
             WHERE a.attrelid OPERATOR(pg_catalog.=) 'lead_mgmt.leads'::pg_catalog.regclass
               AND a.attname OPERATOR(pg_catalog.=) 'stage_ceiling');
END;
$$;
