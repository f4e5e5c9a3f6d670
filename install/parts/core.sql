-- lead_mgmt core: configuration, leads, events, scoring and stages.
--
-- Rules of this script (CVE-2018-1058 class hardening): every built-in is
-- schema-qualified, functions pin search_path (security.sql lists the four
-- that need not), conditions are stored
-- as jsonb and never executed as SQL.  Tables holding configuration or data
-- are registered with pg_extension_config_dump so pg_dump keeps them.

\echo Use "CREATE EXTENSION lead_mgmt" to load this file. \quit

--------------------------------------------------------------------------
-- Internal: engine state (rules version, deferred rescore)
--------------------------------------------------------------------------
CREATE TABLE lead_mgmt.engine_state (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    rules_version   bigint NOT NULL DEFAULT 1,
    rescore_pending boolean NOT NULL DEFAULT false
);
INSERT INTO lead_mgmt.engine_state DEFAULT VALUES;
COMMENT ON TABLE lead_mgmt.engine_state IS
    'internal: version of the scoring rules and stages that lead state was computed with';

--------------------------------------------------------------------------
-- C entry points used by constraints and triggers below
--------------------------------------------------------------------------
CREATE FUNCTION lead_mgmt._replace_on_restore() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'lm_replace_on_restore';
CREATE FUNCTION lead_mgmt._config_validate() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'lm_config_validate';
CREATE FUNCTION lead_mgmt._config_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'lm_config_changed';

--------------------------------------------------------------------------
-- Configuration
--------------------------------------------------------------------------
CREATE TABLE lead_mgmt.event_types (
    name        text PRIMARY KEY
                CHECK (name OPERATOR(pg_catalog.~) '^[A-Za-z][A-Za-z0-9_.:-]{0,62}$'),
    description text,
    category    text
);
COMMENT ON TABLE lead_mgmt.event_types IS
    'registered event types; category sales_touch marks rep activity';

INSERT INTO lead_mgmt.event_types (name, description, category) VALUES
    ('email_subscribed',       'opted in to email',                         'email'),
    ('email_unsubscribed',     'opted out of email',                        'email'),
    ('email_sent',             'an email was sent to the lead',             'email'),
    ('email_opened',           'opened an email',                           'email'),
    ('email_clicked',          'clicked a link in an email',                'email'),
    ('email_replied',          'replied to an email',                       'email'),
    ('pricing_page_visited',   'visited the pricing page',                  'web'),
    ('form_submitted',         'submitted a form',                          'web'),
    ('lead_magnet_downloaded', 'downloaded a lead magnet',                  'web'),
    ('chat_started',           'started a chat',                            'web'),
    ('demo_requested',         'requested a demo',                          'sales'),
    ('consultation_scheduled', 'scheduled a consultation',                  'sales'),
    ('appointment_cancelled',  'cancelled an appointment',                  'sales'),
    ('trial_started',          'started a trial',                           'product'),
    ('purchase',               'bought (recorded by a won deal)',           'commerce'),
    ('rep_contacted',          'a sales rep contacted the lead',            'sales_touch');

CREATE TABLE lead_mgmt.scoring_rules (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    event_type      text,
    properties      jsonb,
    condition       jsonb,
    points          integer NOT NULL,
    max_occurrences integer CHECK (max_occurrences > 0),
    within          interval,
    active          boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE lead_mgmt.scoring_rules IS
    'event rules (event_type set: points per matching event) and condition rules (condition set: points once while it holds)';

CREATE TABLE lead_mgmt.stages (
    name            text PRIMARY KEY
                    CHECK (name OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]{0,62}$'),
    rank            integer NOT NULL UNIQUE,
    min_score       integer,
    condition       jsonb,
    assign_on_entry boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE lead_mgmt.stages IS
    'qualification stages; a lead holds the highest-ranked stage it has reached';

-- Conditions are validated before the row is stored; a malformed one is
-- refused with a message saying where.  (A trigger, not a CHECK, so that a
-- restore in replication mode does not depend on table order.)
INSERT INTO lead_mgmt.stages (name, rank, min_score, condition, assign_on_entry) VALUES
    ('lead',      0, NULL, NULL, false),
    ('iql',      10, NULL,
     '{"any": [{"field": "lead_magnet", "op": "exists"},
               {"event": "lead_magnet_downloaded"},
               {"event": "form_submitted"},
               {"event": "email_subscribed"}]}', false),
    ('mql',      20, 40,
     '{"all": [{"event": "form_submitted"}, {"event": "pricing_page_visited"}]}', false),
    ('sql',      30, 60,
     '{"any": [{"event": "consultation_scheduled"}, {"event": "demo_requested"}]}', true),
    ('customer', 40, NULL, '{"event": "purchase"}', false);

CREATE TABLE lead_mgmt.settings (
    name  text PRIMARY KEY,
    value text NOT NULL
);
COMMENT ON TABLE lead_mgmt.settings IS 'policy knobs (see README for each)';
INSERT INTO lead_mgmt.settings (name, value) VALUES
    ('mql_stall_after', '14 days'),
    ('winback_after',   '30 days'),
    ('default_sla',     '2 days'),
    ('touch_lease',     '5 minutes');

--------------------------------------------------------------------------
-- Data
--------------------------------------------------------------------------
CREATE TABLE lead_mgmt.leads (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id         text UNIQUE,
    email               text,
    first_name          text,
    last_name           text,
    company             text,
    job_title           text,
    industry            text,
    company_size        integer,
    annual_revenue      numeric(14,2),
    country             text,
    region              text,
    city                text,
    channel             text,
    campaign            text,
    lead_magnet         text,
    attributes          jsonb NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    disqualified_at     timestamptz,
    disqualified_reason text,
    -- computed by the extension; read-only to applications
    score               integer,
    engagement_score    integer,
    fit_score           integer,
    stage               text,
    stage_changed_at    timestamptz,
    owner_id            bigint,
    assigned_at         timestamptz,
    last_event_at       timestamptz,
    converted_at        timestamptz,
    -- internal bookkeeping, read-only: per-predicate event counts, the time
    -- a windowed or age-based term next changes, the rules version used,
    -- the segments the lead is in (mirrored in segment_members), the
    -- sequences it was ever enrolled in (mirrored in enrollments)
    event_counts        integer[],
    recheck_at          timestamptz,
    rules_version       bigint,
    segment_ids         bigint[],
    sequence_ids        bigint[],
    -- computed (0.2): the stage a move by hand down (set_stage) holds the
    -- lead back from; it rises back to it, or to a stage between, only when
    -- it earns it anew.  NULL: no hold.
    stage_ceiling       text
-- fillfactor: room for HOT updates, as every event updates its lead.
-- autovacuum_vacuum_scale_factor: every update clears its page's bit in the
-- visibility map, and the analytics read leads by index-only scans of
-- leads_funnel_idx, which fetch the heap for pages without it.  At 1M
-- leads, 30 s of single-row ingest left 584k heap fetches in such a scan
-- (acquisition_costs 0.9 s -> 1.4-1.9 s) while the default (20 % of the
-- rows dead) had not yet started a vacuum; the vacuum that brings the map
-- back took 1.1 s.  1 % starts it long before that.
) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01);
-- No query filters or joins on the internal arrays, so ANALYZE keeps no
-- statistics on them: building their element statistics was a quarter of
-- an ANALYZE of leads (100k leads: 650 -> 500 ms), which autovacuum runs
-- about once a minute while events arrive.
ALTER TABLE lead_mgmt.leads
    ALTER COLUMN event_counts SET STATISTICS 0,
    ALTER COLUMN segment_ids SET STATISTICS 0,
    ALTER COLUMN sequence_ids SET STATISTICS 0;
CREATE UNIQUE INDEX leads_email_key ON lead_mgmt.leads (pg_catalog.lower(email));
-- stage_changed_at changes only with the stage: no HOT update lost;
-- followups finds the marketing-qualified leads stalled by a range of it
CREATE INDEX leads_stage_idx ON lead_mgmt.leads (stage, stage_changed_at);
CREATE INDEX leads_owner_idx ON lead_mgmt.leads (owner_id) WHERE owner_id IS NOT NULL;
-- each rep's open leads (rep_performance, capacity), by an index-only count
-- (the stage tells a customer set by hand, without a purchase)
CREATE INDEX leads_open_owner_idx ON lead_mgmt.leads (owner_id) INCLUDE (stage)
    WHERE owner_id IS NOT NULL AND converted_at IS NULL AND disqualified_at IS NULL;
COMMENT ON TABLE lead_mgmt.leads IS
    'leads; score, stage and the other computed columns are maintained by lead_mgmt';

-- When leads are next due for maintenance: for every lead whose recheck_at
-- is set, at least one entry at or before it.  run_maintenance(at) takes
-- the entries due by `at`, recomputes those of their leads that are due
-- and enters the next time of each again.  An entry is added only when a
-- lead's recheck_at moves earlier (mostly: from none to a time), so entries
-- can be early or left by deleted leads; either is only looked at once.
-- recheck_at itself is not indexed: an event that changed it would then
-- not be a HOT update of its lead, and at 100k leads that was a fifth of
-- all events, each adding an entry to every index of leads.
-- Written only by lead_mgmt (its trigger functions run as the owner).
CREATE TABLE lead_mgmt.rechecks (
    due_at  timestamptz NOT NULL,
    lead_id bigint NOT NULL
);
CREATE INDEX rechecks_due_idx ON lead_mgmt.rechecks (due_at, lead_id);
-- no key (an entry may repeat): logical replication identifies rows whole
ALTER TABLE lead_mgmt.rechecks REPLICA IDENTITY FULL;
COMMENT ON TABLE lead_mgmt.rechecks IS
    'internal: when leads are next due for run_maintenance (an entry at or before each lead''s recheck_at)';

CREATE TABLE lead_mgmt.events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Integrity with leads is kept by lead_mgmt's triggers, set-based, not
    -- by a foreign key: a per-row RI check would double the cost of COPY.
    -- An event for a missing lead is refused; deleting a lead deletes its
    -- events.
    lead_id     bigint NOT NULL,
    event_type  text NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    properties  jsonb NOT NULL DEFAULT '{}',
    dedupe_key  text UNIQUE,
    points      integer
);
CREATE INDEX events_lead_idx ON lead_mgmt.events (lead_id, occurred_at);
COMMENT ON TABLE lead_mgmt.events IS
    'lead behaviour; points is what the active event rules gave the event when it was recorded';

-- No foreign key, like events: rows are written only by lead_mgmt, for a
-- lead it has just updated (and so locked), and a per-row RI check would
-- cost the single-event path a query and a row lock per stage change.
-- Deleting or truncating leads deletes their history (trigger on leads).
CREATE TABLE lead_mgmt.stage_history (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id    bigint NOT NULL,
    from_stage text,
    to_stage   text NOT NULL,
    changed_at timestamptz NOT NULL,
    reason     text NOT NULL
               CHECK (reason IN ('score', 'condition', 'manual', 'deal_won')),
    note       text
);
CREATE INDEX stage_history_lead_idx ON lead_mgmt.stage_history (lead_id, changed_at);
COMMENT ON TABLE lead_mgmt.stage_history IS 'every stage change of every lead';

--------------------------------------------------------------------------
-- Triggers
--------------------------------------------------------------------------
CREATE FUNCTION lead_mgmt._leads_before_row() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'lm_leads_before_row';
CREATE FUNCTION lead_mgmt._leads_after_statement() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'lm_leads_after_statement';
CREATE FUNCTION lead_mgmt._leads_after_delete() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'lm_leads_after_delete';
CREATE FUNCTION lead_mgmt._events_before_row() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'lm_events_before_row';
CREATE FUNCTION lead_mgmt._events_after_insert() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'lm_events_after_insert';
CREATE FUNCTION lead_mgmt._events_after_change() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'lm_events_after_change';

CREATE TRIGGER leads_before_row BEFORE INSERT OR UPDATE ON lead_mgmt.leads
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._leads_before_row();
CREATE TRIGGER leads_after_statement AFTER INSERT OR UPDATE ON lead_mgmt.leads
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._leads_after_statement();
CREATE TRIGGER leads_after_delete AFTER DELETE ON lead_mgmt.leads
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._leads_after_delete();
CREATE TRIGGER leads_after_truncate AFTER TRUNCATE ON lead_mgmt.leads
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._leads_after_delete();

CREATE TRIGGER events_before_row BEFORE INSERT OR UPDATE ON lead_mgmt.events
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._events_before_row();
CREATE TRIGGER events_after_insert AFTER INSERT ON lead_mgmt.events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._events_after_insert();
CREATE TRIGGER events_after_update AFTER UPDATE ON lead_mgmt.events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._events_after_change();
CREATE TRIGGER events_after_delete AFTER DELETE ON lead_mgmt.events
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._events_after_change();
CREATE TRIGGER events_after_truncate AFTER TRUNCATE ON lead_mgmt.events
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._events_after_change();

-- configuration: validate rows, then invalidate caches and rescore
CREATE TRIGGER event_types_validate BEFORE INSERT OR UPDATE ON lead_mgmt.event_types
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._config_validate();
CREATE TRIGGER scoring_rules_validate BEFORE INSERT OR UPDATE ON lead_mgmt.scoring_rules
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._config_validate();
CREATE TRIGGER stages_validate BEFORE INSERT OR UPDATE OR DELETE ON lead_mgmt.stages
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._config_validate();
CREATE TRIGGER settings_validate BEFORE INSERT OR UPDATE ON lead_mgmt.settings
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._config_validate();

CREATE TRIGGER event_types_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON lead_mgmt.event_types
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._config_changed();
CREATE TRIGGER scoring_rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON lead_mgmt.scoring_rules
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._config_changed();
CREATE TRIGGER stages_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON lead_mgmt.stages
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._config_changed();
CREATE TRIGGER settings_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON lead_mgmt.settings
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._config_changed();

-- A restore (pg_restore with session_replication_role = replica) replaces
-- the shipped rows that CREATE EXTENSION made with the dumped ones.
CREATE TRIGGER event_types_restore BEFORE INSERT ON lead_mgmt.event_types
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._replace_on_restore('name');
CREATE TRIGGER stages_restore BEFORE INSERT ON lead_mgmt.stages
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._replace_on_restore('name');
CREATE TRIGGER settings_restore BEFORE INSERT ON lead_mgmt.settings
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._replace_on_restore('name');
CREATE TRIGGER engine_state_restore BEFORE INSERT ON lead_mgmt.engine_state
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._replace_on_restore('singleton');
ALTER TABLE lead_mgmt.event_types ENABLE ALWAYS TRIGGER event_types_restore;
ALTER TABLE lead_mgmt.stages ENABLE ALWAYS TRIGGER stages_restore;
ALTER TABLE lead_mgmt.settings ENABLE ALWAYS TRIGGER settings_restore;
ALTER TABLE lead_mgmt.engine_state ENABLE ALWAYS TRIGGER engine_state_restore;

--------------------------------------------------------------------------
-- Guards (0.2): event types in use, TRUNCATE of checked tables
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

--------------------------------------------------------------------------
-- Functions
--------------------------------------------------------------------------
CREATE FUNCTION lead_mgmt.validate_condition(condition jsonb, context text DEFAULT 'segment')
    RETURNS boolean
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_validate_condition';
COMMENT ON FUNCTION lead_mgmt.validate_condition(jsonb, text) IS
    'true if the condition is valid in the context (scoring_rule, stage, segment, assignment_rule, sequence); otherwise raises an error saying where';

CREATE FUNCTION lead_mgmt.evaluate(condition jsonb, lead_id bigint)
    RETURNS boolean
    LANGUAGE c STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_evaluate';
COMMENT ON FUNCTION lead_mgmt.evaluate(jsonb, bigint) IS
    'evaluates a condition for one lead now';

CREATE FUNCTION lead_mgmt.explain_score(lead_id bigint)
    RETURNS TABLE (rule text, kind text, occurrences integer, points integer)
    LANGUAGE c STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_explain_score';
COMMENT ON FUNCTION lead_mgmt.explain_score(bigint) IS
    'one row per rule contributing to the lead''s score; the points sum to the score';

CREATE FUNCTION lead_mgmt.rescore(lead_id bigint DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c CALLED ON NULL INPUT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_rescore';
COMMENT ON FUNCTION lead_mgmt.rescore(bigint) IS
    'recomputes one lead, or every lead, from its events; returns the number of leads recomputed';

CREATE FUNCTION lead_mgmt.set_stage(lead_id bigint, stage text, reason text DEFAULT NULL)
    RETURNS void
    LANGUAGE c CALLED ON NULL INPUT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_set_stage';
COMMENT ON FUNCTION lead_mgmt.set_stage(bigint, text, text) IS
    'moves a lead to a stage by hand, up or down; recorded in stage_history with reason manual';

CREATE FUNCTION lead_mgmt.disqualify(lead_id bigint, reason text DEFAULT NULL)
    RETURNS void
    LANGUAGE c CALLED ON NULL INPUT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_disqualify';
COMMENT ON FUNCTION lead_mgmt.disqualify(bigint, text) IS
    'marks a lead disqualified: it keeps its score but is no longer assigned or nurtured';

CREATE FUNCTION lead_mgmt.run_maintenance(at timestamptz DEFAULT pg_catalog.now())
    RETURNS jsonb
    LANGUAGE c CALLED ON NULL INPUT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_run_maintenance';
COMMENT ON FUNCTION lead_mgmt.run_maintenance(timestamptz) IS
    'applies what time changes (expired windows, absence and age conditions) as of at; idempotent; returns counts';

CREATE FUNCTION lead_mgmt._record_deal_won(lead_id bigint, deal_id bigint,
                                           closed_at timestamptz, amount numeric)
    RETURNS bigint
    LANGUAGE c CALLED ON NULL INPUT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_record_deal_won';
COMMENT ON FUNCTION lead_mgmt._record_deal_won(bigint, bigint, timestamptz, numeric) IS
    'internal: records the purchase event of a won deal (once per deal), stage change reason deal_won';

-- capture: insert or merge a lead by external_id, else email (case-insensitive)
CREATE FUNCTION lead_mgmt.capture(lead jsonb)
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
COMMENT ON FUNCTION lead_mgmt.capture(jsonb) IS
    'inserts a lead, or merges it into the lead with the same external_id, else email (case-insensitive); returns its id';

-- track: record one event, idempotent on dedupe_key
CREATE FUNCTION lead_mgmt.track(lead_id bigint, event_type text,
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

-- the example scoring system of the lead-management guide
CREATE FUNCTION lead_mgmt.load_example_rules()
    RETURNS integer
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH ins AS (
        INSERT INTO lead_mgmt.scoring_rules (name, event_type, condition, points)
        VALUES
            ('subscribed to email',     'email_subscribed',       NULL,   5),
            ('opened an email',         'email_opened',           NULL,   5),
            ('clicked an email',        'email_clicked',          NULL,  10),
            ('visited the pricing page','pricing_page_visited',   NULL,  10),
            ('replied to an email',     'email_replied',          NULL,  15),
            ('scheduled a consultation','consultation_scheduled', NULL,  25),
            ('started a trial',         'trial_started',          NULL,  25),
            ('cancelled an appointment','appointment_cancelled',  NULL,  -5),
            ('unsubscribed',            'email_unsubscribed',     NULL, -25),
            ('no email opened in 30 days', NULL,
             '{"all": [{"field": "age", "op": ">=", "value": "30 days"},
                       {"event": "email_sent"},
                       {"not": {"event": "email_opened", "within": "30 days"}}]}', -10)
        ON CONFLICT (name) DO NOTHING
        RETURNING 1)
    SELECT pg_catalog.count(*)::integer FROM ins;
$$;
COMMENT ON FUNCTION lead_mgmt.load_example_rules() IS
    'inserts the example scoring rules (idempotent); returns how many were added';

--------------------------------------------------------------------------
-- pg_dump: configuration and data tables, with their sequences
--------------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.engine_state', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.event_types', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.scoring_rules', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.stages', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.settings', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.leads', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.events', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.stage_history', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.rechecks', '');
-- identity sequences are not dumped with their tables: register them too
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.scoring_rules_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.leads_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.stage_history_id_seq', '');
