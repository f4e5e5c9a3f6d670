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
-- The event types a condition names, walking its grammar (all, any, not,
-- event tests): an "event" key inside a properties filter or a value is
-- not a reference.
CREATE FUNCTION lead_mgmt._condition_event_types(condition jsonb)
    RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE node (c, depth) AS (
        SELECT _condition_event_types.condition, 0
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
    SELECT pg_catalog.array_agg(DISTINCT n.c OPERATOR(pg_catalog.->>) 'event')
      FROM node n
     WHERE pg_catalog.jsonb_typeof(n.c OPERATOR(pg_catalog.->) 'event') OPERATOR(pg_catalog.=) 'string';
$$;
COMMENT ON FUNCTION lead_mgmt._condition_event_types(jsonb) IS
    'internal: the event types a condition names (its event tests, at any depth)';

-- An event type that events were recorded with, or that a scoring rule or
-- a condition (stage, segment, assignment rule, sequence) names, cannot be
-- deleted or renamed: the events would keep a type that no longer exists,
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
        SELECT pg_catalog.string_agg(u.what, ', ' ORDER BY u.ord, u.what) INTO v_uses
          FROM (SELECT 1 AS ord, 'recorded events' AS what
                 WHERE EXISTS (SELECT 1 FROM lead_mgmt.events e
                                WHERE e.event_type OPERATOR(pg_catalog.=) v_name)
                UNION ALL
                SELECT 2, pg_catalog.format('scoring rule "%s"', r.name)
                  FROM lead_mgmt.scoring_rules r
                 WHERE r.event_type OPERATOR(pg_catalog.=) v_name
                    OR v_name OPERATOR(pg_catalog.=) ANY (lead_mgmt._condition_event_types(r.condition))
                UNION ALL
                SELECT 3, pg_catalog.format('stage "%s"', s.name)
                  FROM lead_mgmt.stages s
                 WHERE v_name OPERATOR(pg_catalog.=) ANY (lead_mgmt._condition_event_types(s.condition))
                UNION ALL
                SELECT 4, pg_catalog.format('segment "%s"', g.name)
                  FROM lead_mgmt.segments g
                 WHERE v_name OPERATOR(pg_catalog.=) ANY (lead_mgmt._condition_event_types(g.condition))
                UNION ALL
                SELECT 5, pg_catalog.format('assignment rule "%s"', a.name)
                  FROM lead_mgmt.assignment_rules a
                 WHERE v_name OPERATOR(pg_catalog.=) ANY (lead_mgmt._condition_event_types(a.condition))
                UNION ALL
                SELECT 6, pg_catalog.format('sequence "%s"', q.name)
                  FROM lead_mgmt.sequences q
                 WHERE v_name OPERATOR(pg_catalog.=) ANY (lead_mgmt._condition_event_types(q.enroll_condition))
                    OR v_name OPERATOR(pg_catalog.=) ANY (lead_mgmt._condition_event_types(q.exit_condition))) u;
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
REVOKE ALL ON FUNCTION lead_mgmt._condition_event_types(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION lead_mgmt._event_types_in_use() FROM PUBLIC;
REVOKE ALL ON FUNCTION lead_mgmt._refuse_truncate() FROM PUBLIC;

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
