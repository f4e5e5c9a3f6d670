-- lead_mgmt core: configuration, leads, events, scoring and stages.
--
-- Rules of this script (CVE-2018-1058 class hardening): every built-in is
-- schema-qualified, every function pins search_path, conditions are stored
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
    sequence_ids        bigint[]
) WITH (fillfactor = 70);   -- room for HOT updates: every event updates its lead
CREATE UNIQUE INDEX leads_email_key ON lead_mgmt.leads (pg_catalog.lower(email));
CREATE INDEX leads_stage_idx ON lead_mgmt.leads (stage);
CREATE INDEX leads_owner_idx ON lead_mgmt.leads (owner_id) WHERE owner_id IS NOT NULL;
CREATE INDEX leads_recheck_idx ON lead_mgmt.leads (recheck_at) WHERE recheck_at IS NOT NULL;
COMMENT ON TABLE lead_mgmt.leads IS
    'leads; score, stage and the other computed columns are maintained by lead_mgmt';

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

CREATE TABLE lead_mgmt.stage_history (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id    bigint NOT NULL REFERENCES lead_mgmt.leads (id) ON DELETE CASCADE,
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
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid OPERATOR(pg_catalog.=) 'lead_mgmt.leads'::pg_catalog.regclass
                          AND a.attname OPERATOR(pg_catalog.=) v_key
                          AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = pg_catalog.format('unknown lead field "%s"', v_key),
                HINT = 'Put custom data under "attributes", for example {"attributes": {"' || v_key || '": ...}}.';
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

    LOOP
        v_attempt := v_attempt OPERATOR(pg_catalog.+) 1;
        v_id := NULL;
        IF v_ext IS NOT NULL THEN
            SELECT l.id INTO v_id FROM lead_mgmt.leads l
             WHERE l.external_id OPERATOR(pg_catalog.=) v_ext FOR UPDATE;
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
    v_id bigint;
BEGIN
    IF lead_id IS NULL OR event_type IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'lead_id and event_type must not be null',
            HINT = 'Call lead_mgmt.track(lead_id, event_type, ...) with both.';
    END IF;
    IF dedupe_key IS NOT NULL THEN
        SELECT e.id INTO v_id FROM lead_mgmt.events e
         WHERE e.dedupe_key OPERATOR(pg_catalog.=) track.dedupe_key;
        IF FOUND THEN
            RETURN v_id;
        END IF;
    END IF;
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
    IF v_id IS NULL THEN
        -- delivered concurrently by another transaction that committed first
        SELECT e.id INTO v_id FROM lead_mgmt.events e
         WHERE e.dedupe_key OPERATOR(pg_catalog.=) track.dedupe_key;
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
-- identity sequences are not dumped with their tables: register them too
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.scoring_rules_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.leads_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.stage_history_id_seq', '');
--------------------------------------------------------------------------
-- Segments: named conditions with live membership
--
-- Membership is decided in C by the row trigger on leads, for the segments
-- whose condition can be affected by what changed, and mirrored into
-- segment_members only when it changes.  A change to segments re-evaluates
-- every lead in the same transaction (unless lead_mgmt.defer_rescore).
--------------------------------------------------------------------------
CREATE TABLE lead_mgmt.segments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    condition   jsonb NOT NULL,
    description text,
    active      boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE lead_mgmt.segments IS
    'named conditions on lead fields, attributes, behaviour and geography; membership is live';

-- No foreign keys, like events: rows are written only by lead_mgmt, in
-- bulk, and a per-row RI check would dominate a rebuild.  Deleting a lead
-- or a segment deletes its rows (triggers on leads and segments).
CREATE TABLE lead_mgmt.segment_members (
    segment_id bigint NOT NULL,
    lead_id    bigint NOT NULL,
    since      timestamptz NOT NULL,
    PRIMARY KEY (segment_id, lead_id)
);
CREATE INDEX segment_members_lead_idx ON lead_mgmt.segment_members (lead_id);
COMMENT ON TABLE lead_mgmt.segment_members IS
    'current members of each active segment, maintained by lead_mgmt; since = when the lead entered';

CREATE TRIGGER segments_validate BEFORE INSERT OR UPDATE ON lead_mgmt.segments
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._config_validate();
CREATE TRIGGER segments_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON lead_mgmt.segments
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._config_changed();

-- members of deleted or deactivated segments go at once, even while a
-- rescore is deferred
CREATE FUNCTION lead_mgmt._segments_prune() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM lead_mgmt.segment_members m
     WHERE NOT EXISTS (SELECT 1 FROM lead_mgmt.segments s
                        WHERE s.id OPERATOR(pg_catalog.=) m.segment_id AND s.active);
    RETURN NULL;
END;
$$;
CREATE TRIGGER segments_prune AFTER UPDATE OR DELETE OR TRUNCATE ON lead_mgmt.segments
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._segments_prune();

CREATE VIEW lead_mgmt.lead_segments WITH (security_invoker = true) AS
SELECT m.lead_id, s.name AS segment, m.since
  FROM lead_mgmt.segment_members m
  JOIN lead_mgmt.segments s ON s.id OPERATOR(pg_catalog.=) m.segment_id;
COMMENT ON VIEW lead_mgmt.lead_segments IS 'which lead is in which segment, since when';

CREATE FUNCTION lead_mgmt.refresh_segments(segment_id bigint DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c CALLED ON NULL INPUT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_refresh_segments';
COMMENT ON FUNCTION lead_mgmt.refresh_segments(bigint) IS
    're-evaluates membership of one segment, or all, for every lead and repairs segment_members; returns the number of changes made';

SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.segments', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.segments_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.segment_members', '');
--------------------------------------------------------------------------
-- Funnel analytics: campaigns, their daily spend and visitors, deals, and
-- the views analysts read (DESIGN section 6).
--
-- Conventions of every view here:
--   * security_invoker, so that row-level security on leads, events and
--     deals holds through them;
--   * rates are percentages, numeric rounded to 2 decimals, and NULL when
--     the denominator is 0 (never a division error);
--   * months are the first day of the month (date) in the session time zone;
--   * a lead has "reached" a stage when the highest rank among the stages in
--     its stage_history (and its current stage) is >= that stage's rank, so
--     a lead that jumped from lead to sql counts as iql, mql and sql reached.
--     Stage ranks are read from lead_mgmt.stages when the view runs (as
--     scalar subqueries: evaluated once, and the plan may go parallel).
-- Built-ins are schema-qualified; operators are written
-- OPERATOR(pg_catalog.x) (CVE-2018-1058 class hardening).
--------------------------------------------------------------------------

--------------------------------------------------------------------------
-- Configuration: campaigns and what they cost and brought, per day
--------------------------------------------------------------------------
CREATE TABLE lead_mgmt.campaigns (
    code            text PRIMARY KEY,
    name            text,
    channel         text,
    funnel_position text
                    CHECK (funnel_position OPERATOR(pg_catalog.=) ANY (ARRAY['top', 'middle', 'bottom'])),
    lead_magnet     text
);
COMMENT ON TABLE lead_mgmt.campaigns IS
    'marketing campaigns; leads.campaign holds a code (not a foreign key: see view unknown_campaigns)';

CREATE TABLE lead_mgmt.campaign_daily (
    campaign text NOT NULL REFERENCES lead_mgmt.campaigns (code) ON UPDATE CASCADE,
    day      date NOT NULL,
    visitors integer NOT NULL DEFAULT 0 CHECK (visitors OPERATOR(pg_catalog.>=) 0),
    -- (NaN passes ">= 0": it sorts above every number)
    spend    numeric(14,2) NOT NULL DEFAULT 0
             CHECK (spend OPERATOR(pg_catalog.>=) 0 AND spend OPERATOR(pg_catalog.<>) 'NaN'::pg_catalog.numeric),
    PRIMARY KEY (campaign, day)
);
CREATE INDEX campaign_daily_day_idx ON lead_mgmt.campaign_daily (day);
COMMENT ON TABLE lead_mgmt.campaign_daily IS
    'per campaign and day: visitors (of its landing pages) and spend';

--------------------------------------------------------------------------
-- Data: deals
--------------------------------------------------------------------------
CREATE TABLE lead_mgmt.deals (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id    bigint NOT NULL REFERENCES lead_mgmt.leads (id) ON DELETE CASCADE,
    rep_id     bigint,      -- the rep who owns the deal (a reference to reps once reps exist)
    amount     numeric(14,2) NOT NULL CHECK (amount OPERATOR(pg_catalog.>=) 0),
    status     text NOT NULL DEFAULT 'open'
               CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['open', 'won', 'lost'])),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    closed_at  timestamptz,
    -- the trigger below keeps this true (it fills or clears closed_at);
    -- the constraint guards data loaded with triggers off
    CONSTRAINT deals_closed_at_check
        CHECK ((status OPERATOR(pg_catalog.=) 'open') OPERATOR(pg_catalog.=) (closed_at IS NULL))
);
CREATE INDEX deals_lead_idx ON lead_mgmt.deals (lead_id);
CREATE INDEX deals_status_closed_idx ON lead_mgmt.deals (status, closed_at);
-- per rep, recent closes (rep_performance, the performance assignment method)
CREATE INDEX deals_rep_idx ON lead_mgmt.deals (rep_id, closed_at) WHERE rep_id IS NOT NULL;
COMMENT ON TABLE lead_mgmt.deals IS
    'sales opportunities; a deal that becomes won records a purchase event for its lead at closed_at';

-- Indexes the analytics read (on core tables).  The funnel views read
-- every lead's created_at, stage, channel, campaign and owner: the covering
-- index lets them do so by an index-only scan instead of reading the wide,
-- often-updated leads heap.  Its columns change rarely, and stage and
-- owner_id are indexed already, so it takes no HOT update away from the
-- event path.
CREATE INDEX leads_funnel_idx ON lead_mgmt.leads (created_at, id)
    INCLUDE (stage, channel, campaign, owner_id);
-- customers, for sales_cycle (converted_at is set once, with the customer stage)
CREATE INDEX leads_converted_idx ON lead_mgmt.leads (channel)
    INCLUDE (created_at, converted_at) WHERE converted_at IS NOT NULL;
-- leads moved by hand (see _manual_reach)
CREATE INDEX stage_history_manual_idx ON lead_mgmt.stage_history (lead_id)
    WHERE reason OPERATOR(pg_catalog.=) 'manual';
-- "leads with a trial_started event", without scanning every event
CREATE INDEX events_trial_started_idx ON lead_mgmt.events (lead_id)
    WHERE event_type OPERATOR(pg_catalog.=) 'trial_started';

--------------------------------------------------------------------------
-- Deal triggers
--
--   * amount: NOT NULL and >= 0, else a clear error;
--   * status: open, won or lost, else a clear error;
--   * closed_at: a won or lost deal always has one -- NULL means now()
--     (the transaction time); an open deal never has one -- inserting or
--     updating an open deal with a closed_at is an error.  An UPDATE that
--     changes the status but leaves closed_at as it was sets closed_at to
--     now() (closing) or NULL (reopening): the old value belonged to the
--     previous status;
--   * a deal that becomes won (inserted won, or updated to won) records a
--     purchase event for its lead at closed_at with _record_deal_won(): the
--     lead becomes a customer (stage_history reason deal_won), converted_at
--     is its first purchase.  One purchase event per deal, ever
--     (dedupe_key 'deal:<id>'): while the deal is won the event follows its
--     closed_at and amount; when the deal is lost, reopened or deleted the
--     event is kept -- the lead did buy then, its history and customer stage
--     stay (stages never move down by themselves); winning it again moves
--     the same event to the new closed_at;
--   * a deal that has a purchase event cannot move to another lead.
--------------------------------------------------------------------------
CREATE FUNCTION lead_mgmt._deals_before_row() RETURNS trigger
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

CREATE FUNCTION lead_mgmt._deals_after_won() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF lead_mgmt._record_deal_won(NEW.lead_id, NEW.id, NEW.closed_at, NEW.amount) IS NULL THEN
        -- won before (or its close changed): the deal's one purchase event
        -- follows its latest win; leads are recomputed by the events trigger
        UPDATE lead_mgmt.events e
           SET occurred_at = NEW.closed_at,
               properties = pg_catalog.jsonb_build_object('deal_id', NEW.id, 'amount', NEW.amount)
         WHERE e.dedupe_key OPERATOR(pg_catalog.=) ('deal:' OPERATOR(pg_catalog.||) NEW.id::pg_catalog.text)
           AND (e.occurred_at IS DISTINCT FROM NEW.closed_at
                OR e.properties IS DISTINCT FROM
                   pg_catalog.jsonb_build_object('deal_id', NEW.id, 'amount', NEW.amount));
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER deals_before_row BEFORE INSERT OR UPDATE ON lead_mgmt.deals
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._deals_before_row();
CREATE TRIGGER deals_after_insert_won AFTER INSERT ON lead_mgmt.deals
    FOR EACH ROW WHEN (NEW.status OPERATOR(pg_catalog.=) 'won')
    EXECUTE FUNCTION lead_mgmt._deals_after_won();
CREATE TRIGGER deals_after_update_won AFTER UPDATE ON lead_mgmt.deals
    FOR EACH ROW WHEN (NEW.status OPERATOR(pg_catalog.=) 'won'
                       AND (OLD.status IS DISTINCT FROM NEW.status
                            OR OLD.closed_at IS DISTINCT FROM NEW.closed_at
                            OR OLD.amount IS DISTINCT FROM NEW.amount))
    EXECUTE FUNCTION lead_mgmt._deals_after_won();

--------------------------------------------------------------------------
-- Helpers (SQL-standard bodies: bound when created, inlined when used)
--------------------------------------------------------------------------
CREATE FUNCTION lead_mgmt._pct(part numeric, whole numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN pg_catalog.round(part OPERATOR(pg_catalog.*) 100
                            OPERATOR(pg_catalog./) NULLIF(whole, 0), 2);
COMMENT ON FUNCTION lead_mgmt._pct(numeric, numeric) IS
    'internal: part / whole x 100 rounded to 2 decimals; NULL when whole is 0 or NULL';

CREATE FUNCTION lead_mgmt._ratio(num numeric, den numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN pg_catalog.round(num OPERATOR(pg_catalog./) NULLIF(den, 0), 2);
COMMENT ON FUNCTION lead_mgmt._ratio(numeric, numeric) IS
    'internal: num / den rounded to 2 decimals; NULL when den is 0 or NULL';

-- The highest stage a lead has reached.  By DESIGN it is the highest rank
-- in the lead's stage_history.  Stages only move up by themselves (score,
-- condition, deal_won), and every change is written to stage_history, so
-- for a lead that was never moved by hand the highest stage in its history
-- is its current stage.  Only leads with a 'manual' history row (set_stage
-- can move down) need their history read: _manual_reach does that for
-- them, and the views take GREATEST(current stage, _manual_reach).  This
-- keeps the funnel views from aggregating the whole stage_history (2M rows
-- for 1M leads).  It assumes the ranks of stages are not reordered after
-- leads have passed through them (the regress test checks both agree).
CREATE VIEW lead_mgmt._manual_reach WITH (security_invoker = true) AS
SELECT sh.lead_id, pg_catalog.max(s.rank) AS rank
  FROM lead_mgmt.stage_history sh
  JOIN lead_mgmt.stages s ON s.name OPERATOR(pg_catalog.=) sh.to_stage
 WHERE sh.lead_id IN (SELECT mh.lead_id FROM lead_mgmt.stage_history mh
                       WHERE mh.reason OPERATOR(pg_catalog.=) 'manual')
 GROUP BY sh.lead_id;
COMMENT ON VIEW lead_mgmt._manual_reach IS
    'internal: for leads moved by hand, the highest stage rank in their history';

CREATE VIEW lead_mgmt._trial_leads WITH (security_invoker = true) AS
SELECT DISTINCT e.lead_id
  FROM lead_mgmt.events e
 WHERE e.event_type OPERATOR(pg_catalog.=) 'trial_started';
COMMENT ON VIEW lead_mgmt._trial_leads IS 'internal: leads with a trial_started event';

-- One row per lead: the stage it reached and whether it started a trial.
-- For looking a lead up ("why is she counted?"); the views below count the
-- same thing faster, through _reach_rows.
CREATE VIEW lead_mgmt._lead_reach WITH (security_invoker = true) AS
SELECT l.id AS lead_id,
       l.created_at,
       l.channel,
       l.campaign,
       l.owner_id,
       GREATEST(cur.rank, m.rank) AS reached_rank,
       (t.lead_id IS NOT NULL) AS trial
  FROM lead_mgmt.leads l
  LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) l.stage
  LEFT JOIN lead_mgmt._manual_reach m ON m.lead_id OPERATOR(pg_catalog.=) l.id
  LEFT JOIN lead_mgmt._trial_leads t ON t.lead_id OPERATOR(pg_catalog.=) l.id;
COMMENT ON VIEW lead_mgmt._lead_reach IS
    'internal: per lead, the highest stage rank reached and whether it started a trial';

-- What the funnel views count, pre-aggregated.  Rows of (day, channel,
-- campaign, rank, leads, trials) whose sums give, for any grouping of day,
-- channel and campaign, the number of leads (sum of leads), of leads that
-- reached a stage (sum of leads where rank >= the stage's rank) and of
-- trials (sum of trials):
--   * every lead once, at its current stage -- counted per day, channel,
--     campaign and stage in one pass over the covering index, before any
--     other join (a million leads become a few thousand rows);
--   * each lead moved by hand once more: -1 at its current stage, +1 at the
--     highest stage in its history.
-- day is the creation date in the session time zone; views group by day,
-- then by month, which is cheaper than truncating every timestamp.
CREATE VIEW lead_mgmt._reach_rows WITH (security_invoker = true) AS
SELECT g.day, g.channel, g.campaign, cur.rank, g.leads, g.trials
  FROM (SELECT l.created_at::date AS day, l.channel, l.campaign, l.stage,
               pg_catalog.count(*) AS leads, pg_catalog.count(t.lead_id) AS trials
          FROM lead_mgmt.leads l
          LEFT JOIN lead_mgmt._trial_leads t ON t.lead_id OPERATOR(pg_catalog.=) l.id
         GROUP BY 1, 2, 3, 4) g
  LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) g.stage
UNION ALL
SELECT l.created_at::date, l.channel, l.campaign, v.rank, v.leads, 0
  FROM lead_mgmt._manual_reach m
  JOIN lead_mgmt.leads l ON l.id OPERATOR(pg_catalog.=) m.lead_id
  LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) l.stage
 CROSS JOIN LATERAL (VALUES (cur.rank, -1::bigint), (GREATEST(cur.rank, m.rank), 1::bigint)) AS v(rank, leads);
COMMENT ON VIEW lead_mgmt._reach_rows IS
    'internal: lead, reached-stage and trial counts per day, channel, campaign and stage rank, to be summed';

--------------------------------------------------------------------------
-- Views
--------------------------------------------------------------------------
CREATE VIEW lead_mgmt.funnel_summary WITH (security_invoker = true) AS
SELECT v.visitors,
       f.leads, f.iql, f.mql, f.sql, f.customers, t.trials,
       lead_mgmt._pct(f.leads, v.visitors)     AS opt_in_rate,
       lead_mgmt._pct(f.customers, f.leads)    AS sales_conversion_rate,
       lead_mgmt._pct(f.mql, f.leads)          AS lead_to_mql_rate,
       lead_mgmt._pct(f.sql, f.mql)            AS mql_to_sql_rate,
       lead_mgmt._pct(f.customers, f.sql)      AS sql_to_customer_rate
  FROM (SELECT COALESCE(pg_catalog.sum(r.leads), 0)::bigint AS leads,
               COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
                   (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'iql')), 0)::bigint AS iql,
               COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
                   (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'mql')), 0)::bigint AS mql,
               COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
                   (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'sql')), 0)::bigint AS sql,
               COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
                   (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'customer')), 0)::bigint AS customers
          FROM (-- as _reach_rows, without its keys: leads per current stage
                -- (off the stage index), leads moved by hand moved up
                SELECT cur.rank, g.leads
                  FROM (SELECT l.stage, pg_catalog.count(*) AS leads
                          FROM lead_mgmt.leads l GROUP BY l.stage) g
                  LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) g.stage
                UNION ALL
                SELECT v.rank, v.leads
                  FROM lead_mgmt._manual_reach m
                  JOIN lead_mgmt.leads l ON l.id OPERATOR(pg_catalog.=) m.lead_id
                  LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) l.stage
                 CROSS JOIN LATERAL (VALUES (cur.rank, -1::bigint),
                                            (GREATEST(cur.rank, m.rank), 1::bigint)) AS v(rank, leads)) r) f
 CROSS JOIN (SELECT pg_catalog.count(*) AS trials FROM lead_mgmt._trial_leads) t
 CROSS JOIN (SELECT COALESCE(pg_catalog.sum(d.visitors), 0)::bigint AS visitors
               FROM lead_mgmt.campaign_daily d) v;
COMMENT ON VIEW lead_mgmt.funnel_summary IS
    'the whole funnel in one row: visitors, leads, leads that reached each stage, trials, and the rates between them';

CREATE VIEW lead_mgmt.funnel_by_month WITH (security_invoker = true) AS
WITH lf AS (
    SELECT pg_catalog.date_trunc('month', r.day::timestamp)::date AS month, r.channel,
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
      FROM lead_mgmt._reach_rows r
     GROUP BY 1, 2
), vis AS (
    SELECT pg_catalog.date_trunc('month', d.day::timestamp)::date AS month, c.channel,
           pg_catalog.sum(d.visitors) AS visitors
      FROM lead_mgmt.campaign_daily d
      JOIN lead_mgmt.campaigns c ON c.code OPERATOR(pg_catalog.=) d.campaign
     GROUP BY 1, 2
), u AS (
    SELECT vis.month, vis.channel, vis.visitors,
           0::bigint AS leads, 0::bigint AS iql, 0::bigint AS mql, 0::bigint AS sql,
           0::bigint AS customers, 0::bigint AS trials
      FROM vis
    UNION ALL
    SELECT lf.month, lf.channel, 0, lf.leads, lf.iql, lf.mql, lf.sql, lf.customers, lf.trials
      FROM lf
)
SELECT u.month, u.channel,
       pg_catalog.sum(u.visitors)::bigint  AS visitors,
       pg_catalog.sum(u.leads)::bigint     AS leads,
       pg_catalog.sum(u.iql)::bigint       AS iql,
       pg_catalog.sum(u.mql)::bigint       AS mql,
       pg_catalog.sum(u.sql)::bigint       AS sql,
       pg_catalog.sum(u.customers)::bigint AS customers,
       pg_catalog.sum(u.trials)::bigint    AS trials,
       lead_mgmt._pct(pg_catalog.sum(u.leads), pg_catalog.sum(u.visitors))     AS opt_in_rate,
       lead_mgmt._pct(pg_catalog.sum(u.customers), pg_catalog.sum(u.leads))    AS sales_conversion_rate
  FROM u
 GROUP BY u.month, u.channel
 ORDER BY u.month, u.channel;
COMMENT ON VIEW lead_mgmt.funnel_by_month IS
    'the funnel per month of lead creation and channel, with the visitors of that channel''s campaigns that month';

CREATE VIEW lead_mgmt.stage_counts WITH (security_invoker = true) AS
SELECT s.name AS stage, s.rank, COALESCE(c.leads, 0) AS leads
  FROM lead_mgmt.stages s
  LEFT JOIN (SELECT l.stage, pg_catalog.count(*) AS leads
               FROM lead_mgmt.leads l
              GROUP BY l.stage) c ON c.stage OPERATOR(pg_catalog.=) s.name
 ORDER BY s.rank;
COMMENT ON VIEW lead_mgmt.stage_counts IS 'how many leads are in each stage now';

CREATE VIEW lead_mgmt.acquisition_costs WITH (security_invoker = true) AS
WITH sp AS (
    SELECT d.campaign, pg_catalog.date_trunc('month', d.day::timestamp)::date AS month,
           pg_catalog.sum(d.spend) AS spend, pg_catalog.sum(d.visitors) AS visitors
      FROM lead_mgmt.campaign_daily d
     GROUP BY 1, 2
), won AS (
    SELECT d.lead_id, pg_catalog.count(*) AS deals_won, pg_catalog.sum(d.amount) AS revenue
      FROM lead_mgmt.deals d
     WHERE d.status OPERATOR(pg_catalog.=) 'won'
     GROUP BY d.lead_id
), ld AS (
    -- as _reach_rows, by campaign, with the won deals of the leads in the
    -- same pass
    SELECT r.campaign, pg_catalog.date_trunc('month', r.day::timestamp)::date AS month,
           pg_catalog.sum(r.leads) AS leads,
           COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
               (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'customer')), 0) AS customers,
           pg_catalog.sum(r.deals_won) AS deals_won,
           pg_catalog.sum(r.revenue) AS revenue
      FROM (SELECT g.day, g.campaign, cur.rank, g.leads, g.deals_won, g.revenue
              FROM (SELECT l.created_at::date AS day, l.campaign, l.stage,
                           pg_catalog.count(*) AS leads,
                           COALESCE(pg_catalog.sum(w.deals_won), 0) AS deals_won,
                           COALESCE(pg_catalog.sum(w.revenue), 0.00) AS revenue
                      FROM lead_mgmt.leads l
                      LEFT JOIN won w ON w.lead_id OPERATOR(pg_catalog.=) l.id
                     WHERE EXISTS (SELECT 1 FROM lead_mgmt.campaigns c
                                    WHERE c.code OPERATOR(pg_catalog.=) l.campaign)
                     GROUP BY 1, 2, 3) g
              LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) g.stage
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
COMMENT ON VIEW lead_mgmt.acquisition_costs IS
    'per campaign and month: spend and visitors of that month, the leads created that month and the customers and won revenue they brought';

CREATE VIEW lead_mgmt.sales_by_month WITH (security_invoker = true) AS
WITH w AS (
    SELECT pg_catalog.date_trunc('month', d.closed_at)::date AS month,
           pg_catalog.count(*) AS deals_won, pg_catalog.sum(d.amount) AS revenue
      FROM lead_mgmt.deals d
     WHERE d.status OPERATOR(pg_catalog.=) 'won' AND d.closed_at IS NOT NULL
     GROUP BY 1
), m AS (
    SELECT g.m::date AS month
      FROM (SELECT pg_catalog.min(w.month) AS first, pg_catalog.max(w.month) AS last FROM w) b
     CROSS JOIN LATERAL pg_catalog.generate_series(b.first::timestamp, b.last::timestamp,
                                                   '1 month'::interval) AS g(m)
), s AS (
    SELECT m.month, COALESCE(w.deals_won, 0) AS deals_won, COALESCE(w.revenue, 0.00) AS revenue
      FROM m LEFT JOIN w ON w.month OPERATOR(pg_catalog.=) m.month
)
SELECT s.month, s.deals_won, s.revenue,
       lead_mgmt._ratio(s.revenue, s.deals_won) AS avg_deal_size,
       lead_mgmt._pct(s.revenue OPERATOR(pg_catalog.-) pg_catalog.lag(s.revenue) OVER (ORDER BY s.month),
                      pg_catalog.lag(s.revenue) OVER (ORDER BY s.month)) AS mom_growth_pct
  FROM s
 ORDER BY s.month;
COMMENT ON VIEW lead_mgmt.sales_by_month IS
    'won deals by month of closed_at, every month from the first to the last (empty ones too); growth of revenue against the previous month';

CREATE VIEW lead_mgmt.customer_ltv WITH (security_invoker = true) AS
SELECT d.lead_id,
       pg_catalog.min(d.closed_at) AS first_won_at,
       pg_catalog.count(*) AS deals_won,
       pg_catalog.sum(d.amount) AS lifetime_value,
       pg_catalog.floor((EXTRACT(epoch FROM pg_catalog.now())
                         OPERATOR(pg_catalog.-) EXTRACT(epoch FROM pg_catalog.min(d.closed_at)))
                        OPERATOR(pg_catalog./) 86400)::integer AS tenure_days
  FROM lead_mgmt.deals d
 WHERE d.status OPERATOR(pg_catalog.=) 'won'
 GROUP BY d.lead_id;
COMMENT ON VIEW lead_mgmt.customer_ltv IS
    'per customer (a lead with a won deal): first win, deals won, lifetime value (sum of won amounts), whole days since the first win';

CREATE VIEW lead_mgmt.ltv_summary WITH (security_invoker = true) AS
SELECT pg_catalog.count(*) AS customers,
       pg_catalog.round(pg_catalog.avg(c.lifetime_value), 2) AS avg_lifetime_value,
       pg_catalog.round((pg_catalog.percentile_cont(0.5) WITHIN GROUP
                         (ORDER BY c.lifetime_value::double precision))::numeric, 2) AS median_lifetime_value,
       pg_catalog.round(pg_catalog.avg(c.deals_won), 2) AS avg_deals_per_customer
  FROM lead_mgmt.customer_ltv c;
COMMENT ON VIEW lead_mgmt.ltv_summary IS 'lifetime value over all customers: mean, median, deals per customer';

CREATE VIEW lead_mgmt.sales_cycle WITH (security_invoker = true) AS
WITH c AS (
    SELECT l.channel,
           (EXTRACT(epoch FROM l.converted_at) OPERATOR(pg_catalog.-) EXTRACT(epoch FROM l.created_at))
               OPERATOR(pg_catalog./) 86400 AS days
      FROM lead_mgmt.leads l
     WHERE l.converted_at IS NOT NULL
)
SELECT CASE WHEN GROUPING(c.channel) OPERATOR(pg_catalog.=) 1 THEN '(all)' ELSE c.channel END AS channel,
       pg_catalog.count(*) AS customers,
       pg_catalog.round(pg_catalog.avg(c.days), 2) AS avg_days,
       pg_catalog.round((pg_catalog.percentile_cont(0.5) WITHIN GROUP
                         (ORDER BY c.days::double precision))::numeric, 2) AS median_days,
       pg_catalog.round((pg_catalog.percentile_cont(0.9) WITHIN GROUP
                         (ORDER BY c.days::double precision))::numeric, 2) AS p90_days
  FROM c
 GROUP BY GROUPING SETS ((c.channel), ())
 ORDER BY GROUPING(c.channel), c.channel;
COMMENT ON VIEW lead_mgmt.sales_cycle IS
    'days from a lead''s created_at to its converted_at (first purchase), per channel and for all ''(all)''';

CREATE VIEW lead_mgmt.unknown_campaigns WITH (security_invoker = true) AS
SELECT l.campaign,
       pg_catalog.count(*) AS leads,
       pg_catalog.min(l.created_at) AS first_lead_at,
       pg_catalog.max(l.created_at) AS last_lead_at
  FROM lead_mgmt.leads l
 WHERE l.campaign IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM lead_mgmt.campaigns c
                    WHERE c.code OPERATOR(pg_catalog.=) l.campaign)
 GROUP BY l.campaign
 ORDER BY pg_catalog.count(*) DESC, l.campaign;
COMMENT ON VIEW lead_mgmt.unknown_campaigns IS
    'campaign codes found on leads but missing from lead_mgmt.campaigns, with how many leads carry each';

-- rep_performance (DESIGN section 6) comes with reps and assignments.

--------------------------------------------------------------------------
-- funnel(from, to, group_by): the funnel of the leads created in [from, to)
--------------------------------------------------------------------------
CREATE FUNCTION lead_mgmt.funnel(from_time timestamptz, to_time timestamptz,
                                 group_by text DEFAULT NULL)
    RETURNS TABLE (group_value text, visitors bigint, leads bigint, iql bigint, mql bigint,
                   sql bigint, customers bigint, trials bigint,
                   opt_in_rate numeric, lead_to_mql_rate numeric, mql_to_sql_rate numeric,
                   sql_to_customer_rate numeric, sales_conversion_rate numeric)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    g       text := pg_catalog.lower(pg_catalog.btrim(group_by));
    v_lo    timestamptz := COALESCE(from_time, '-infinity'::timestamptz);
    v_hi    timestamptz := COALESCE(to_time, 'infinity'::timestamptz);
    v_group text := '''(all)''::pg_catalog.text';  -- the group of a lead
    v_join  text := '';                             -- what that needs joined
    v_vis   text := '''(all)''::pg_catalog.text';  -- the group of a campaign's visitors
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
        -- a lead in none under NULL
        v_group := 'sg.name';
        v_join := 'LEFT JOIN (lead_mgmt.segment_members sm
                              JOIN lead_mgmt.segments sg ON sg.id OPERATOR(pg_catalog.=) sm.segment_id)
                          ON sm.lead_id OPERATOR(pg_catalog.=) l.id';
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

    -- Only the fixed fragments above are spliced in; the range is passed
    -- as parameters.  Counting as in _reach_rows: every lead at its current
    -- stage, leads moved by hand moved to the highest stage of their
    -- history, trials.
    RETURN QUERY EXECUTE pg_catalog.format($q$
    WITH r AS (
        SELECT g.grp, cur.rank, g.leads, g.trials
          FROM (SELECT %1$s AS grp, l.stage,
                       pg_catalog.count(*) AS leads, pg_catalog.count(t.lead_id) AS trials
                  FROM lead_mgmt.leads l
                  %2$s
                  LEFT JOIN lead_mgmt._trial_leads t ON t.lead_id OPERATOR(pg_catalog.=) l.id
                 WHERE l.created_at OPERATOR(pg_catalog.>=) $1 AND l.created_at OPERATOR(pg_catalog.<) $2
                 GROUP BY 1, 2) g
          LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) g.stage
        UNION ALL
        SELECT %1$s, v.rank, v.leads, 0
          FROM lead_mgmt._manual_reach m
          JOIN lead_mgmt.leads l ON l.id OPERATOR(pg_catalog.=) m.lead_id
          %2$s
          LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) l.stage
         CROSS JOIN LATERAL (VALUES (cur.rank, -1::bigint), (GREATEST(cur.rank, m.rank), 1::bigint)) AS v(rank, leads)
         WHERE l.created_at OPERATOR(pg_catalog.>=) $1 AND l.created_at OPERATOR(pg_catalog.<) $2
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
    ), vis AS (
        -- visitors of the days that start in the range, through their campaign
        SELECT %3$s AS grp, pg_catalog.sum(d.visitors) AS visitors
          FROM lead_mgmt.campaign_daily d
          JOIN lead_mgmt.campaigns c ON c.code OPERATOR(pg_catalog.=) d.campaign
         WHERE %4$s
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
        SELECT '(all)', NULL, 0, 0, 0, 0, 0, 0 WHERE %5$s
    ), s AS (
        SELECT u.grp,
               CASE WHEN %4$s THEN COALESCE(pg_catalog.sum(u.visitors), 0) END::bigint AS visitors,
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
    $q$, v_group, v_join, COALESCE(v_vis, 'NULL::pg_catalog.text'),
         CASE WHEN v_vis IS NULL THEN 'false' ELSE 'true' END,
         CASE WHEN g IS NULL THEN 'true' ELSE 'false' END)
    USING v_lo, v_hi;
END;
$fn$;
COMMENT ON FUNCTION lead_mgmt.funnel(timestamptz, timestamptz, text) IS
    'the funnel of the leads created in [from, to) (NULL: unbounded), grouped by channel, campaign, segment, owner, or not at all (NULL)';

--------------------------------------------------------------------------
-- pg_dump: configuration and data tables, with their sequences
--------------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.campaigns', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.campaign_daily', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.deals', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.deals_id_seq', '');
--------------------------------------------------------------------------
-- Distribution: reps, assignment rules, assignment history
--
-- When a lead enters a stage with assign_on_entry and has no owner, the row
-- trigger on leads (C) tries the active rules by priority and assigns the
-- lead in the same transaction.  Round robin and weighted rotation keep
-- their cursor in rotation_state, locked per rule, so they stay exact under
-- any concurrency.
--------------------------------------------------------------------------
CREATE TABLE lead_mgmt.reps (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    email       text UNIQUE,
    active      boolean NOT NULL DEFAULT true,
    available   boolean NOT NULL DEFAULT true,
    away_until  timestamptz,
    regions     text[] NOT NULL DEFAULT '{}',
    industries  text[] NOT NULL DEFAULT '{}',
    seniority   text NOT NULL DEFAULT 'junior'
                CHECK (seniority IN ('junior', 'senior', 'enterprise')),
    capacity    integer CHECK (capacity >= 0),
    weight      integer NOT NULL DEFAULT 1 CHECK (weight > 0),
    db_role     name
);
COMMENT ON TABLE lead_mgmt.reps IS
    'sales reps: availability, territory (regions), expertise (industries), seniority, capacity, weight';

CREATE TABLE lead_mgmt.assignment_rules (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    priority       integer NOT NULL,
    condition      jsonb,
    method         text NOT NULL DEFAULT 'round_robin'
                   CHECK (method IN ('round_robin', 'weighted', 'least_loaded', 'performance')),
    rep_ids        bigint[],
    match_region   boolean NOT NULL DEFAULT false,
    match_industry boolean NOT NULL DEFAULT false,
    min_seniority  text CHECK (min_seniority IN ('junior', 'senior', 'enterprise')),
    sla            interval,
    active         boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE lead_mgmt.assignment_rules IS
    'tried by ascending priority; the first whose condition holds and whose pool has an eligible rep assigns';

CREATE TABLE lead_mgmt.assignments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id     bigint NOT NULL REFERENCES lead_mgmt.leads (id) ON DELETE CASCADE,
    rep_id      bigint NOT NULL REFERENCES lead_mgmt.reps (id),
    rule_id     bigint REFERENCES lead_mgmt.assignment_rules (id) ON DELETE SET NULL,
    method      text NOT NULL,
    assigned_at timestamptz NOT NULL,
    ended_at    timestamptz,
    reason      text NOT NULL CHECK (reason IN ('rule', 'manual', 'sla_breach', 'reassigned')),
    -- when the owner must have made a sales touch (assigned_at + the rule's
    -- sla, else default_sla, as they were at assignment); NULL for manual
    sla_due_at  timestamptz
);
CREATE INDEX assignments_lead_idx ON lead_mgmt.assignments (lead_id, assigned_at);
CREATE INDEX assignments_rep_idx ON lead_mgmt.assignments (rep_id, assigned_at);
CREATE INDEX assignments_sla_idx ON lead_mgmt.assignments (sla_due_at)
    WHERE ended_at IS NULL AND sla_due_at IS NOT NULL;
COMMENT ON TABLE lead_mgmt.assignments IS
    'every assignment of a lead to a rep, never overwritten; ended_at closes it';

CREATE TABLE lead_mgmt.rotation_state (
    rule_id     bigint PRIMARY KEY REFERENCES lead_mgmt.assignment_rules (id) ON DELETE CASCADE,
    cursor      bigint,
    wrr_reps    bigint[] NOT NULL DEFAULT '{}',
    wrr_current bigint[] NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE lead_mgmt.rotation_state IS
    'internal: per rule, the round-robin cursor (last rep id) and the smooth weighted round-robin current weights';

ALTER TABLE lead_mgmt.leads
    ADD CONSTRAINT leads_owner_fkey FOREIGN KEY (owner_id) REFERENCES lead_mgmt.reps (id);

CREATE TRIGGER reps_validate BEFORE INSERT OR UPDATE OR DELETE ON lead_mgmt.reps
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._config_validate();
CREATE TRIGGER assignment_rules_validate BEFORE INSERT OR UPDATE ON lead_mgmt.assignment_rules
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._config_validate();
CREATE TRIGGER assignment_rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON lead_mgmt.assignment_rules
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._config_changed();

CREATE FUNCTION lead_mgmt.assign(lead_id bigint, rep_id bigint)
    RETURNS void
    LANGUAGE c CALLED ON NULL INPUT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_assign';
COMMENT ON FUNCTION lead_mgmt.assign(bigint, bigint) IS
    'assigns a lead to a rep by hand (reason manual), closing its current assignment';

CREATE FUNCTION lead_mgmt.redistribute(rep_id bigint)
    RETURNS bigint
    LANGUAGE c CALLED ON NULL INPUT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_redistribute';
COMMENT ON FUNCTION lead_mgmt.redistribute(bigint) IS
    'moves the open leads of a rep to other eligible reps by the assignment rules (reason reassigned); returns how many moved';

-- leads waiting for an owner: in a stage that assigns on entry (or above),
-- open, not disqualified, nobody eligible when they arrived
CREATE VIEW lead_mgmt.unassigned WITH (security_invoker = true) AS
SELECT l.id AS lead_id, l.stage, l.score, l.region, l.industry, l.stage_changed_at AS since
  FROM lead_mgmt.leads l
  JOIN lead_mgmt.stages s ON s.name OPERATOR(pg_catalog.=) l.stage
 WHERE l.owner_id IS NULL
   AND l.disqualified_at IS NULL
   AND l.converted_at IS NULL
   AND s.rank OPERATOR(pg_catalog.>=) (SELECT pg_catalog.min(a.rank) FROM lead_mgmt.stages a WHERE a.assign_on_entry);
COMMENT ON VIEW lead_mgmt.unassigned IS 'sales-ready leads without an owner';

-- one row per rep
CREATE VIEW lead_mgmt.rep_performance WITH (security_invoker = true) AS
SELECT r.id AS rep_id,
       r.name,
       (SELECT pg_catalog.count(*) FROM lead_mgmt.leads l
         WHERE l.owner_id OPERATOR(pg_catalog.=) r.id
           AND l.converted_at IS NULL AND l.disqualified_at IS NULL) AS open_leads,
       (SELECT pg_catalog.count(DISTINCT a.lead_id) FROM lead_mgmt.assignments a
         WHERE a.rep_id OPERATOR(pg_catalog.=) r.id) AS leads_assigned,
       d.deals_won,
       d.deals_lost,
       pg_catalog.round(100.0 * d.deals_won / NULLIF(d.deals_won + d.deals_lost, 0), 2) AS win_rate,
       d.revenue,
       (SELECT pg_catalog.round((pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY t.hours))::numeric, 2)
          FROM (SELECT pg_catalog.date_part('epoch', pg_catalog.min(e.occurred_at) OPERATOR(pg_catalog.-) a.assigned_at) / 3600.0 AS hours
                  FROM lead_mgmt.assignments a
                  JOIN lead_mgmt.events e ON e.lead_id OPERATOR(pg_catalog.=) a.lead_id
                                         AND e.occurred_at OPERATOR(pg_catalog.>=) a.assigned_at
                  JOIN lead_mgmt.event_types et ON et.name OPERATOR(pg_catalog.=) e.event_type
                                              AND et.category OPERATOR(pg_catalog.=) 'sales_touch'
                 WHERE a.rep_id OPERATOR(pg_catalog.=) r.id
                   AND (NOT (e.properties ? 'rep_id')
                        OR e.properties OPERATOR(pg_catalog.->>) 'rep_id' OPERATOR(pg_catalog.=) r.id::text)
                 GROUP BY a.id, a.assigned_at) t) AS median_hours_to_first_touch
  FROM lead_mgmt.reps r
  LEFT JOIN LATERAL (
        SELECT pg_catalog.count(*) FILTER (WHERE x.status OPERATOR(pg_catalog.=) 'won')  AS deals_won,
               pg_catalog.count(*) FILTER (WHERE x.status OPERATOR(pg_catalog.=) 'lost') AS deals_lost,
               COALESCE(pg_catalog.sum(x.amount) FILTER (WHERE x.status OPERATOR(pg_catalog.=) 'won'), 0) AS revenue
          FROM lead_mgmt.deals x
         WHERE x.rep_id OPERATOR(pg_catalog.=) r.id) d ON true;
COMMENT ON VIEW lead_mgmt.rep_performance IS
    'per rep: open leads, leads assigned, deals won and lost, win rate %, revenue, median hours to first sales touch';

SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.reps', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.reps_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.assignment_rules', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.assignment_rules_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.assignments', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.assignments_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.rotation_state', '');
--------------------------------------------------------------------------
-- Nurture: sequences, enrolments, the touch queue
--
-- A lead whose state satisfies an active sequence's enroll_condition is
-- enrolled once (decided in C by the row trigger on leads, like segment
-- membership); its exit_condition, becoming a customer, being disqualified
-- or an email_unsubscribed event exits it and cancels pending touches.
-- Touches are created with their due time; senders claim due ones with
-- claim_touches() (SKIP LOCKED, leased) and report with complete_touch().
--------------------------------------------------------------------------
CREATE TABLE lead_mgmt.sequences (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text NOT NULL UNIQUE,
    enroll_condition jsonb NOT NULL,
    exit_condition   jsonb,
    active           boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE lead_mgmt.sequences IS
    'nurture sequences: who enters (enroll_condition), who leaves early (exit_condition)';

CREATE TABLE lead_mgmt.sequence_steps (
    sequence_id bigint NOT NULL REFERENCES lead_mgmt.sequences (id) ON DELETE CASCADE,
    step        integer NOT NULL CHECK (step >= 1),
    delay       interval NOT NULL DEFAULT '0',
    action      text NOT NULL,
    channel     text NOT NULL DEFAULT 'email',
    PRIMARY KEY (sequence_id, step)
);
COMMENT ON TABLE lead_mgmt.sequence_steps IS
    'the steps of a sequence: step 1 is due delay after enrolment, each later step delay after the previous touch is done';

CREATE TABLE lead_mgmt.enrollments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id     bigint NOT NULL REFERENCES lead_mgmt.leads (id) ON DELETE CASCADE,
    sequence_id bigint NOT NULL REFERENCES lead_mgmt.sequences (id) ON DELETE CASCADE,
    step        integer NOT NULL DEFAULT 1,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'exited')),
    enrolled_at timestamptz NOT NULL,
    ended_at    timestamptz,
    exit_reason text,
    UNIQUE (lead_id, sequence_id)
);
CREATE INDEX enrollments_active_idx ON lead_mgmt.enrollments (lead_id) WHERE status = 'active';
COMMENT ON TABLE lead_mgmt.enrollments IS
    'a lead in a sequence (once per lead and sequence); step is the current step';

CREATE TABLE lead_mgmt.touches (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enrollment_id bigint NOT NULL REFERENCES lead_mgmt.enrollments (id) ON DELETE CASCADE,
    lead_id       bigint NOT NULL REFERENCES lead_mgmt.leads (id) ON DELETE CASCADE,
    step          integer NOT NULL,
    action        text NOT NULL,
    channel       text NOT NULL,
    due_at        timestamptz NOT NULL,
    claimed_at    timestamptz,
    claimed_by    text,
    done_at       timestamptz,
    outcome       text,
    UNIQUE (enrollment_id, step)
);
CREATE INDEX touches_due_idx ON lead_mgmt.touches (due_at, id) WHERE done_at IS NULL;
CREATE INDEX touches_lead_idx ON lead_mgmt.touches (lead_id);
COMMENT ON TABLE lead_mgmt.touches IS
    'the touch queue: one row per step to perform; outcome cancelled when the enrolment exited';

CREATE TRIGGER sequences_validate BEFORE INSERT OR UPDATE ON lead_mgmt.sequences
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._config_validate();
CREATE TRIGGER sequences_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON lead_mgmt.sequences
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._config_changed();

-- writes of the row trigger on leads: enrol (with the first touch) and exit
CREATE FUNCTION lead_mgmt._enroll(lead_ids bigint[], sequence_ids bigint[], times timestamptz[])
    RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH e AS (
        INSERT INTO lead_mgmt.enrollments (lead_id, sequence_id, step, enrolled_at)
        SELECT u.lead_id, u.sequence_id, 1, u.at
          FROM ROWS FROM (pg_catalog.unnest(lead_ids), pg_catalog.unnest(sequence_ids), pg_catalog.unnest(times))
               AS u(lead_id, sequence_id, at)
         WHERE EXISTS (SELECT 1 FROM lead_mgmt.leads l WHERE l.id OPERATOR(pg_catalog.=) u.lead_id)
           AND EXISTS (SELECT 1 FROM lead_mgmt.sequences s WHERE s.id OPERATOR(pg_catalog.=) u.sequence_id)
         ORDER BY u.lead_id, u.sequence_id      -- ids in a stable order, whatever the plan
        ON CONFLICT (lead_id, sequence_id) DO NOTHING
        RETURNING id, lead_id, sequence_id, enrolled_at)
    INSERT INTO lead_mgmt.touches (enrollment_id, lead_id, step, action, channel, due_at)
    SELECT e.id, e.lead_id, st.step, st.action, st.channel, e.enrolled_at OPERATOR(pg_catalog.+) st.delay
      FROM e JOIN lead_mgmt.sequence_steps st
        ON st.sequence_id OPERATOR(pg_catalog.=) e.sequence_id AND st.step OPERATOR(pg_catalog.=) 1
     ORDER BY e.id;
    -- a sequence without steps is completed at once
    UPDATE lead_mgmt.enrollments en SET status = 'completed', ended_at = en.enrolled_at
     WHERE en.status OPERATOR(pg_catalog.=) 'active'
       AND en.lead_id OPERATOR(pg_catalog.=) ANY (lead_ids)
       AND NOT EXISTS (SELECT 1 FROM lead_mgmt.sequence_steps st
                        WHERE st.sequence_id OPERATOR(pg_catalog.=) en.sequence_id);
$$;

CREATE FUNCTION lead_mgmt._exit(lead_ids bigint[], sequence_ids bigint[], reasons text[], times timestamptz[])
    RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
    -- sequence_id 0: every active enrolment of the lead
    WITH x AS (
        UPDATE lead_mgmt.enrollments en
           SET status = 'exited', ended_at = u.at, exit_reason = u.reason
          FROM ROWS FROM (pg_catalog.unnest(lead_ids), pg_catalog.unnest(sequence_ids),
                          pg_catalog.unnest(reasons), pg_catalog.unnest(times)) AS u(lead_id, sequence_id, reason, at)
         WHERE en.lead_id OPERATOR(pg_catalog.=) u.lead_id
           AND (u.sequence_id OPERATOR(pg_catalog.=) 0 OR en.sequence_id OPERATOR(pg_catalog.=) u.sequence_id)
           AND en.status OPERATOR(pg_catalog.=) 'active'
        RETURNING en.id, u.at)
    UPDATE lead_mgmt.touches t SET done_at = x.at, outcome = 'cancelled'
      FROM x
     WHERE t.enrollment_id OPERATOR(pg_catalog.=) x.id AND t.done_at IS NULL;
$$;

SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.sequences', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.sequences_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.sequence_steps', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.enrollments', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.enrollments_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.touches', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.touches_id_seq', '');
--------------------------------------------------------------------------
-- Nurture: the touch queue, follow-ups, and their share of maintenance
--
-- The extension never sends anything: it decides what is due and hands it
-- to the application's senders.  A sender loop is
--     claim_touches(worker, max)  ->  perform each touch  ->  complete_touch(id, outcome)
-- claim_touches hands each due touch to exactly one worker (FOR UPDATE
-- SKIP LOCKED) and leases it for the setting touch_lease: a claim that is
-- never completed (the worker died after committing its claim) returns to
-- the queue once the lease has run out; a claim in a transaction that never
-- commits (the worker died mid-transaction) is not seen at all.
-- complete_touch records the outcome, records email_sent for a sent email
-- step (once: dedupe_key touch:<id>), and advances the enrolment: the next
-- step is due its delay after this touch is done; after the last step the
-- enrolment is completed.
--
-- Lock order, the same as the row trigger on leads (which exits enrolments
-- and cancels their touches while holding the lead's row): lead, then
-- enrolment, then touch.  claim_touches locks only touches, and never waits
-- (SKIP LOCKED), so senders and writers of events cannot deadlock.
--
-- Built-ins are schema-qualified; operators are written
-- OPERATOR(pg_catalog.x) (CVE-2018-1058 class hardening).
--------------------------------------------------------------------------

-- the interval value of a setting, or its documented default when the row
-- was deleted
CREATE FUNCTION lead_mgmt._setting_interval(name text)
    RETURNS interval
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE(
        (SELECT s.value::pg_catalog.interval FROM lead_mgmt.settings s
          WHERE s.name OPERATOR(pg_catalog.=) _setting_interval.name),
        CASE _setting_interval.name
            WHEN 'mql_stall_after' THEN '14 days'::pg_catalog.interval
            WHEN 'winback_after'   THEN '30 days'::pg_catalog.interval
            WHEN 'default_sla'     THEN '2 days'::pg_catalog.interval
            WHEN 'touch_lease'     THEN '5 minutes'::pg_catalog.interval
        END);
$$;
COMMENT ON FUNCTION lead_mgmt._setting_interval(text) IS
    'internal: a setting of lead_mgmt.settings as an interval (its documented default when absent)';

--------------------------------------------------------------------------
-- claim_touches(worker, max): hand due touches to one worker
--------------------------------------------------------------------------
CREATE FUNCTION lead_mgmt.claim_touches(worker text, max integer DEFAULT 100)
    RETURNS TABLE (touch_id bigint, lead_id bigint, email text, first_name text,
                   last_name text, sequence_name text, step integer, action text,
                   channel text, due_at timestamptz)
    LANGUAGE plpgsql
    SET jit = off    -- see _nurture_maintenance
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_lease interval;
BEGIN
    IF claim_touches.worker IS NULL OR pg_catalog.btrim(claim_touches.worker) OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'worker must be a non-empty name',
            HINT = 'Pass a name that identifies the sender process, for example its host and pid; it is stored in touches.claimed_by.';
    END IF;
    IF claim_touches.max IS NULL OR claim_touches.max OPERATOR(pg_catalog.<) 1
       OR claim_touches.max OPERATOR(pg_catalog.>) 10000 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = pg_catalog.format('max must be between 1 and 10000, not %s',
                                        COALESCE(claim_touches.max::pg_catalog.text, 'null')),
            HINT = 'Claim a batch a worker can perform within the touch_lease setting, for example 100.';
    END IF;
    v_lease := lead_mgmt._setting_interval('touch_lease');

    RETURN QUERY
    WITH c AS (
        -- due, not done, never claimed or its lease ran out; oldest first
        SELECT t.id
          FROM lead_mgmt.touches t
         WHERE t.done_at IS NULL
           AND t.due_at OPERATOR(pg_catalog.<=) pg_catalog.now()
           AND (t.claimed_at IS NULL
                OR t.claimed_at OPERATOR(pg_catalog.+) v_lease OPERATOR(pg_catalog.<=) pg_catalog.now())
           -- of an active enrolment in an active sequence: a correlated
           -- lookup by primary key on purpose (see _nurture_maintenance)
           AND COALESCE((SELECT en.status OPERATOR(pg_catalog.=) 'active' AND sq.active
                           FROM lead_mgmt.enrollments en
                           JOIN lead_mgmt.sequences sq ON sq.id OPERATOR(pg_catalog.=) en.sequence_id
                          WHERE en.id OPERATOR(pg_catalog.=) t.enrollment_id), false)
         ORDER BY t.due_at, t.id
         LIMIT claim_touches.max
           FOR UPDATE OF t SKIP LOCKED),
    u AS (
        UPDATE lead_mgmt.touches t
           SET claimed_at = pg_catalog.now(), claimed_by = claim_touches.worker
          FROM c
         WHERE t.id OPERATOR(pg_catalog.=) c.id
        RETURNING t.id, t.enrollment_id, t.lead_id, t.step, t.action, t.channel, t.due_at)
    SELECT u.id, u.lead_id, l.email, l.first_name, l.last_name, sq.name,
           u.step, u.action, u.channel, u.due_at
      FROM u
      JOIN lead_mgmt.leads l ON l.id OPERATOR(pg_catalog.=) u.lead_id
      JOIN lead_mgmt.enrollments en ON en.id OPERATOR(pg_catalog.=) u.enrollment_id
      JOIN lead_mgmt.sequences sq ON sq.id OPERATOR(pg_catalog.=) en.sequence_id
     ORDER BY u.due_at, u.id;
END;
$$;
COMMENT ON FUNCTION lead_mgmt.claim_touches(text, integer) IS
    'claims up to max due touches for a worker (each due touch goes to one worker; a claim not completed returns after the touch_lease setting) and returns what the sender needs';

--------------------------------------------------------------------------
-- complete_touch(touch_id, outcome): report a touch, advance the enrolment
--------------------------------------------------------------------------
CREATE FUNCTION lead_mgmt.complete_touch(touch_id bigint, outcome text DEFAULT 'sent')
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_lead     bigint;
    v_enr      bigint;
    v_t        lead_mgmt.touches%ROWTYPE;
    v_en       lead_mgmt.enrollments%ROWTYPE;
    v_seq      text;
    v_next     lead_mgmt.sequence_steps%ROWTYPE;
    v_next_id  bigint;
BEGIN
    IF complete_touch.touch_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'touch_id must not be null',
            HINT = 'Pass the touch_id that lead_mgmt.claim_touches() returned.';
    END IF;
    IF complete_touch.outcome IS NULL OR pg_catalog.btrim(complete_touch.outcome) OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'outcome must not be null or empty',
            HINT = 'Report what happened, for example ''sent'' (the default), ''skipped'' or ''failed''.';
    END IF;
    IF complete_touch.outcome OPERATOR(pg_catalog.=) 'cancelled' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'outcome "cancelled" is reserved for touches of exited enrolments',
            HINT = 'Report what the sender did, for example ''skipped''; to stop a lead''s nurture, disqualify it or give the sequence an exit_condition.';
    END IF;

    SELECT t.lead_id, t.enrollment_id INTO v_lead, v_enr
      FROM lead_mgmt.touches t WHERE t.id OPERATOR(pg_catalog.=) complete_touch.touch_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'no_data_found',
            MESSAGE = pg_catalog.format('touch %s does not exist', complete_touch.touch_id),
            HINT = 'Pass the touch_id that lead_mgmt.claim_touches() returned; touches are deleted with their lead or sequence.';
    END IF;

    -- lock order of the triggers: lead, enrolment, touch
    PERFORM 1 FROM lead_mgmt.leads l WHERE l.id OPERATOR(pg_catalog.=) v_lead FOR NO KEY UPDATE;
    SELECT en.* INTO v_en FROM lead_mgmt.enrollments en
     WHERE en.id OPERATOR(pg_catalog.=) v_enr FOR NO KEY UPDATE;
    SELECT t.* INTO v_t FROM lead_mgmt.touches t
     WHERE t.id OPERATOR(pg_catalog.=) complete_touch.touch_id FOR UPDATE;
    IF NOT FOUND OR v_en.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'no_data_found',
            MESSAGE = pg_catalog.format('touch %s does not exist', complete_touch.touch_id),
            HINT = 'It was deleted concurrently, with its lead or sequence; there is nothing to report.';
    END IF;

    IF v_t.done_at IS NOT NULL THEN
        IF v_t.outcome OPERATOR(pg_catalog.=) 'cancelled' THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = pg_catalog.format('touch %s was cancelled: lead %s left the sequence (%s)',
                                            v_t.id, v_t.lead_id, COALESCE(v_en.exit_reason, v_en.status)),
                HINT = 'Do not perform it; a touch already performed can be recorded with lead_mgmt.track(), for example an email_sent event.';
        END IF;
        IF v_t.outcome OPERATOR(pg_catalog.=) complete_touch.outcome THEN
            -- a retry of the same report: nothing to do; same answer
            SELECT n.id INTO v_next_id FROM lead_mgmt.touches n
             WHERE n.enrollment_id OPERATOR(pg_catalog.=) v_t.enrollment_id
               AND n.step OPERATOR(pg_catalog.>) v_t.step
             ORDER BY n.step LIMIT 1;
            RETURN v_next_id;
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = pg_catalog.format('touch %s is already done with outcome "%s"', v_t.id, v_t.outcome),
            HINT = 'A touch is reported once; repeating the same outcome is accepted as a retry.';
    END IF;
    IF v_en.status OPERATOR(pg_catalog.<>) 'active' THEN
        -- not reachable through the API (an exit cancels pending touches)
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = pg_catalog.format('touch %s belongs to an enrolment that is %s', v_t.id, v_en.status),
            HINT = 'Do not perform it; claim new touches with lead_mgmt.claim_touches().';
    END IF;

    UPDATE lead_mgmt.touches t
       SET done_at = pg_catalog.now(), outcome = complete_touch.outcome
     WHERE t.id OPERATOR(pg_catalog.=) v_t.id;

    SELECT sq.name INTO v_seq FROM lead_mgmt.sequences sq WHERE sq.id OPERATOR(pg_catalog.=) v_en.sequence_id;
    IF pg_catalog.lower(v_t.channel) OPERATOR(pg_catalog.=) 'email'
       AND complete_touch.outcome OPERATOR(pg_catalog.=) 'sent' THEN
        PERFORM lead_mgmt.track(v_t.lead_id, 'email_sent',
                                pg_catalog.jsonb_build_object('sequence', v_seq, 'step', v_t.step,
                                                              'action', v_t.action, 'touch_id', v_t.id),
                                pg_catalog.now(),
                                'touch:' OPERATOR(pg_catalog.||) v_t.id::pg_catalog.text);
        -- the event may have exited the enrolment (its exit_condition)
        SELECT en.* INTO v_en FROM lead_mgmt.enrollments en WHERE en.id OPERATOR(pg_catalog.=) v_enr;
        IF v_en.status OPERATOR(pg_catalog.<>) 'active' THEN
            RETURN NULL;
        END IF;
    END IF;

    SELECT st.* INTO v_next FROM lead_mgmt.sequence_steps st
     WHERE st.sequence_id OPERATOR(pg_catalog.=) v_en.sequence_id
       AND st.step OPERATOR(pg_catalog.>) v_t.step
     ORDER BY st.step LIMIT 1;
    IF FOUND THEN
        INSERT INTO lead_mgmt.touches (enrollment_id, lead_id, step, action, channel, due_at)
        VALUES (v_en.id, v_t.lead_id, v_next.step, v_next.action, v_next.channel,
                pg_catalog.now() OPERATOR(pg_catalog.+) v_next.delay)
        RETURNING id INTO v_next_id;
        UPDATE lead_mgmt.enrollments en SET step = v_next.step
         WHERE en.id OPERATOR(pg_catalog.=) v_en.id;
    ELSE
        UPDATE lead_mgmt.enrollments en SET status = 'completed', ended_at = pg_catalog.now()
         WHERE en.id OPERATOR(pg_catalog.=) v_en.id;
    END IF;
    RETURN v_next_id;
END;
$$;
COMMENT ON FUNCTION lead_mgmt.complete_touch(bigint, text) IS
    'reports a touch (outcome sent by default; a sent email records email_sent once) and advances the enrolment; returns the next touch id, or null when the enrolment ended';

--------------------------------------------------------------------------
-- followups: leads that did not buy, and what to do about them
--------------------------------------------------------------------------
CREATE VIEW lead_mgmt.followups WITH (security_invoker = true) AS
WITH cfg AS (
    SELECT lead_mgmt._setting_interval('mql_stall_after') AS mql_stall_after,
           lead_mgmt._setting_interval('winback_after')   AS winback_after,
           lead_mgmt._setting_interval('default_sla')     AS default_sla
)
-- sales-qualified, owned, and the owner recorded no sales touch within the SLA
SELECT l.id AS lead_id, l.owner_id, l.stage,
       'sql_not_contacted'::pg_catalog.text AS reason,
       a.assigned_at OPERATOR(pg_catalog.+) COALESCE(a.sla, cfg.default_sla) AS since,
       'rep_follow_up'::pg_catalog.text AS action
  FROM cfg
 CROSS JOIN lead_mgmt.leads l
 CROSS JOIN LATERAL (
        SELECT COALESCE(oa.assigned_at, l.assigned_at) AS assigned_at, r.sla
          FROM (SELECT 1) one
          LEFT JOIN LATERAL (
                SELECT x.assigned_at, x.rule_id FROM lead_mgmt.assignments x
                 WHERE x.lead_id OPERATOR(pg_catalog.=) l.id
                   AND x.rep_id OPERATOR(pg_catalog.=) l.owner_id
                   AND x.ended_at IS NULL
                 ORDER BY x.assigned_at DESC, x.id DESC LIMIT 1) oa ON true
          LEFT JOIN lead_mgmt.assignment_rules r ON r.id OPERATOR(pg_catalog.=) oa.rule_id) a
 WHERE l.stage OPERATOR(pg_catalog.=) 'sql'
   AND l.owner_id IS NOT NULL
   AND l.disqualified_at IS NULL
   AND a.assigned_at IS NOT NULL
   AND a.assigned_at OPERATOR(pg_catalog.+) COALESCE(a.sla, cfg.default_sla) OPERATOR(pg_catalog.<=) pg_catalog.now()
   AND NOT EXISTS (
        SELECT 1 FROM lead_mgmt.events e
          JOIN lead_mgmt.event_types et ON et.name OPERATOR(pg_catalog.=) e.event_type
                                       AND et.category OPERATOR(pg_catalog.=) 'sales_touch'
         WHERE e.lead_id OPERATOR(pg_catalog.=) l.id
           AND e.occurred_at OPERATOR(pg_catalog.>=) a.assigned_at
           AND (NOT (e.properties OPERATOR(pg_catalog.?) 'rep_id')
                OR e.properties OPERATOR(pg_catalog.->>) 'rep_id' OPERATOR(pg_catalog.=) l.owner_id::pg_catalog.text))
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
COMMENT ON VIEW lead_mgmt.followups IS
    'leads that did not buy: sql_not_contacted -> rep_follow_up, mql_stalled -> retarget, deal_lost -> win_back; since = when the reason began to hold';

--------------------------------------------------------------------------
-- run_maintenance's share: expired leases, the queue
--------------------------------------------------------------------------
-- Releases the claims whose lease ran out by `at` (claimed_at, claimed_by
-- cleared: the touch is back in the queue, visibly) and counts the touches
-- due by `at` that wait for a worker.  Claims held by a transaction still
-- running are skipped, never waited for.  Claimed touches were due when
-- claimed, so both scans are ranges of touches_due_idx (due_at <= at):
-- the cost follows the backlog, not the table.  A second run at the same
-- `at` releases nothing; touches_due is the queue length (a gauge).
CREATE FUNCTION lead_mgmt._nurture_maintenance(at timestamptz)
    RETURNS jsonb
    LANGUAGE plpgsql
    -- plan with the value of `at` (an index range scan of due_at <= at);
    -- no JIT: the row estimate of that range is often far too high (done
    -- touches all lie in the past), and compiling would cost more than the
    -- scan of what is really due
    SET plan_cache_mode = force_custom_plan
    SET jit = off
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_lease    interval := lead_mgmt._setting_interval('touch_lease');
    v_released bigint;
    v_due      bigint;
BEGIN
    WITH expired AS (
        SELECT x.id FROM lead_mgmt.touches x
         WHERE x.done_at IS NULL
           AND x.due_at OPERATOR(pg_catalog.<=) _nurture_maintenance.at
           AND x.claimed_at IS NOT NULL
           AND x.claimed_at OPERATOR(pg_catalog.+) v_lease OPERATOR(pg_catalog.<=) _nurture_maintenance.at
           FOR UPDATE OF x SKIP LOCKED),
    released AS (
        UPDATE lead_mgmt.touches t SET claimed_at = NULL, claimed_by = NULL
          FROM expired
         WHERE t.id OPERATOR(pg_catalog.=) expired.id
        RETURNING 1)
    SELECT pg_catalog.count(*) INTO v_released FROM released;

    SELECT pg_catalog.count(*) INTO v_due
      FROM lead_mgmt.touches t
     WHERE t.done_at IS NULL
       AND t.due_at OPERATOR(pg_catalog.<=) _nurture_maintenance.at
       AND (t.claimed_at IS NULL
            OR t.claimed_at OPERATOR(pg_catalog.+) v_lease OPERATOR(pg_catalog.<=) _nurture_maintenance.at)
       -- a correlated lookup by primary key, on purpose: the planner cannot
       -- turn it into a join, so the cost is that of the due touches whatever
       -- it estimates (done touches all lie in the past, which makes
       -- "due_at <= at" among undone ones look far less selective than it is)
       AND COALESCE((SELECT en.status OPERATOR(pg_catalog.=) 'active' AND sq.active
                       FROM lead_mgmt.enrollments en
                       JOIN lead_mgmt.sequences sq ON sq.id OPERATOR(pg_catalog.=) en.sequence_id
                      WHERE en.id OPERATOR(pg_catalog.=) t.enrollment_id), false);

    RETURN pg_catalog.jsonb_build_object('touches_released', v_released, 'touches_due', v_due);
END;
$$;
COMMENT ON FUNCTION lead_mgmt._nurture_maintenance(timestamptz) IS
    'internal, called by run_maintenance(at): releases touch claims whose lease ran out by at; counts touches due by at';
--------------------------------------------------------------------------
-- Security: who may do what (DESIGN section 7)
--
-- This part comes last: it sees every object the other parts created.
--
--   * The schema is dedicated: only its owner may create in it, and it
--     holds nothing but the extension's own objects (checked below).
--   * Every function pins search_path (pg_catalog, pg_temp) and names
--     tables lead_mgmt.x and operators OPERATOR(pg_catalog.x); conditions
--     are jsonb evaluated in C, never SQL text.  The two SQL-standard
--     helpers (_pct, _ratio) are bound to their operators when created.
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
ALTER FUNCTION lead_mgmt._leads_before_row()       SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION lead_mgmt._leads_after_statement()  SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION lead_mgmt._leads_after_delete()     SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION lead_mgmt._events_before_row()      SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION lead_mgmt._events_after_insert()    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION lead_mgmt._events_after_change()    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION lead_mgmt._config_validate()        SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION lead_mgmt._config_changed()         SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION lead_mgmt._replace_on_restore()     SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
-- PL/pgSQL trigger functions (their search_path is pinned where created)
ALTER FUNCTION lead_mgmt._segments_prune()         SECURITY DEFINER;
ALTER FUNCTION lead_mgmt._deals_before_row()       SECURITY DEFINER;
ALTER FUNCTION lead_mgmt._deals_after_won()        SECURITY DEFINER;
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
--                               lead_id of a lead owned
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
    FOREACH t IN ARRAY ARRAY['events', 'deals', 'stage_history', 'segment_members',
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
    -- every table and view of the extension but leads
    SELECT pg_catalog.string_agg(c.oid::pg_catalog.regclass::pg_catalog.text, ', ' ORDER BY c.relname)
      INTO rels
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace OPERATOR(pg_catalog.=) 'lead_mgmt'::pg_catalog.regnamespace
       AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'v', 'm', 'p']::pg_catalog."char"[])
       AND c.relname OPERATOR(pg_catalog.<>) 'leads';
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
-- the row-level security policies call
--------------------------------------------------------------------------
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA lead_mgmt FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lead_mgmt._rep_scope(name) TO PUBLIC;
