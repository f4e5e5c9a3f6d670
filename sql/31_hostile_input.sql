-- Hostile and malformed input (issue 8, item 6).
--
-- Each input below is either refused with a clear error (SQLSTATE, message
-- and, when the error is lead_mgmt's, a hint saying what to do) or accepted
-- as documented; nothing accepted is lost, nothing crashes, and at the end
-- every lead's maintained state still equals a rescore from scratch.
--
-- pg_temp.outcome(sql) runs one statement in a subtransaction and returns
-- 'accepted' or 'SQLSTATE message | HINT: hint' (message and hint cut at
-- 160 characters: some messages quote the hostile input).  An accepted
-- statement stays committed.
SET client_min_messages = warning;
SET timezone = 'UTC';
SET lead_mgmt.unknown_event_types = error;
\set SHOW_CONTEXT never
-- every story starts from a fresh install
DROP EXTENSION lead_mgmt;
CREATE EXTENSION lead_mgmt;

CREATE FUNCTION pg_temp.outcome(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text; hint text;
BEGIN
    EXECUTE stmt;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN st || ' ' || left(msg, 160)
        || CASE WHEN coalesce(hint, '') <> '' THEN ' | HINT: ' || left(hint, 160) ELSE '' END;
END $$;

-- a lead's id by external_id
CREATE FUNCTION pg_temp.lead(ext text) RETURNS bigint LANGUAGE sql AS
$$ SELECT id FROM lead_mgmt.leads WHERE external_id = ext $$;

-- maintained state == from scratch: rescore() and refresh_segments() change
-- nothing, and every explanation sums to the score
CREATE FUNCTION pg_temp.consistency() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n_diff bigint; n_seg bigint; n_expl bigint;
BEGIN
    DROP TABLE IF EXISTS pg_temp.snap;
    CREATE TEMP TABLE snap AS
    SELECT id, score, engagement_score, fit_score, stage, event_counts, recheck_at,
           last_event_at, converted_at, segment_ids, owner_id
      FROM lead_mgmt.leads;
    PERFORM lead_mgmt.rescore();
    SELECT count(*) INTO n_diff FROM (
        (SELECT * FROM pg_temp.snap
         EXCEPT SELECT id, score, engagement_score, fit_score, stage, event_counts, recheck_at,
                       last_event_at, converted_at, segment_ids, owner_id FROM lead_mgmt.leads)
        UNION ALL
        (SELECT id, score, engagement_score, fit_score, stage, event_counts, recheck_at,
                last_event_at, converted_at, segment_ids, owner_id FROM lead_mgmt.leads
         EXCEPT SELECT * FROM pg_temp.snap)) d;
    n_seg := lead_mgmt.refresh_segments();
    SELECT count(*) INTO n_expl FROM lead_mgmt.leads l
     WHERE l.score IS DISTINCT FROM (SELECT coalesce(sum(x.points), 0) FROM lead_mgmt.explain_score(l.id) x);
    RETURN format('leads differing from rescore: %s, segment rows repaired: %s, explanations not summing to the score: %s',
                  n_diff, n_seg, n_expl);
END $$;

-- a realistic configuration: the example rules, a windowed rule, segments
-- (a field test, a windowed event test, an attribute test), a rep and a
-- round-robin rule, a nurture sequence
SELECT lead_mgmt.load_example_rules();
INSERT INTO lead_mgmt.scoring_rules (name, event_type, points, within)
VALUES ('chatted this week', 'chat_started', 3, '7 days');
INSERT INTO lead_mgmt.segments (name, condition) VALUES
  ('big', '{"field": "company_size", "op": ">=", "value": 500}'),
  ('opened this month', '{"event": "email_opened", "within": "30 days"}'),
  ('vip', '{"field": "attributes.tier", "op": "=", "value": "vip"}');
INSERT INTO lead_mgmt.reps (name) VALUES ('Rita'), ('Sam');
INSERT INTO lead_mgmt.assignment_rules (name, priority, method) VALUES ('everyone', 1, 'round_robin');
INSERT INTO lead_mgmt.sequences (name, enroll_condition) VALUES ('welcome', '{"event": "email_subscribed"}');
INSERT INTO lead_mgmt.sequence_steps (sequence_id, step, delay, action)
SELECT id, 1, '1 day', 'welcome email' FROM lead_mgmt.sequences;
SELECT lead_mgmt.capture('{"external_id": "base", "email": "base@example.com"}') AS base \gset

-------------------------------------------------------------------------
-- NULLs everywhere
-------------------------------------------------------------------------
-- Function arguments.  STRICT functions (evaluate, validate_condition,
-- explain_score) return NULL or no rows for NULL input; rescore(NULL) and
-- refresh_segments(NULL) mean "every lead" / "every segment"; every other
-- NULL is refused.
SELECT input, pg_temp.outcome(input) FROM (VALUES
  ($$SELECT lead_mgmt.capture(NULL)$$),
  ($$SELECT lead_mgmt.capture('null')$$),
  ($$SELECT lead_mgmt.capture('{}')$$),
  ($$SELECT lead_mgmt.capture('{"email": null, "external_id": null}')$$),
  ($$SELECT lead_mgmt.track(NULL, 'email_opened')$$),
  ($$SELECT lead_mgmt.track(1, NULL)$$),
  ($$SELECT lead_mgmt.set_stage(NULL, 'sql')$$),
  ($$SELECT lead_mgmt.set_stage(1, NULL)$$),
  ($$SELECT lead_mgmt.disqualify(NULL)$$),
  ($$SELECT lead_mgmt.assign(1, NULL)$$),
  ($$SELECT lead_mgmt.redistribute(NULL)$$),
  ($$SELECT lead_mgmt.run_maintenance(NULL)$$),
  ($$SELECT lead_mgmt.claim_touches(NULL)$$),
  ($$SELECT lead_mgmt.claim_touches('w', NULL)$$),
  ($$SELECT lead_mgmt.complete_touch(NULL)$$),
  ($$SELECT lead_mgmt.complete_touch(1, NULL)$$),
  ($$SELECT lead_mgmt.evaluate('null', 1)$$),
  ($$SELECT lead_mgmt.validate_condition('null')$$),
  ($$SELECT lead_mgmt._record_deal_won(1, NULL, now(), 1)$$)
) AS t(input);
SELECT lead_mgmt.evaluate(NULL, 1) AS evaluate_null,
       lead_mgmt.validate_condition(NULL) AS validate_null,
       (SELECT count(*) FROM lead_mgmt.explain_score(NULL)) AS explain_null_rows,
       lead_mgmt.rescore(NULL) AS rescore_all,
       lead_mgmt.refresh_segments(NULL) AS refresh_all;

-- Columns.  Every NOT NULL column refuses NULL (the extension's own
-- checks first, where they say more); nullable data columns accept it.
SELECT input, pg_temp.outcome(input) FROM (VALUES
  ($$INSERT INTO lead_mgmt.leads (external_id, email, attributes) VALUES ('n1', NULL, NULL)$$),
  ($$INSERT INTO lead_mgmt.leads (external_id, created_at) VALUES ('n1', NULL)$$),
  ($$INSERT INTO lead_mgmt.leads (external_id, email, first_name, last_name, company, job_title,
        industry, company_size, annual_revenue, country, region, city, channel, campaign,
        lead_magnet, disqualified_at, disqualified_reason)
     VALUES ('n1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL)$$),
  ($$INSERT INTO lead_mgmt.leads DEFAULT VALUES$$),
  ($$UPDATE lead_mgmt.leads SET attributes = NULL WHERE external_id = 'n1'$$),
  ($$INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (NULL, 'email_opened')$$),
  ($$INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (1, NULL)$$),
  ($$INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at) VALUES (1, 'email_opened', NULL)$$),
  ($$INSERT INTO lead_mgmt.events (lead_id, event_type, properties) VALUES (1, 'email_opened', NULL)$$),
  ($$INSERT INTO lead_mgmt.events (lead_id, event_type, properties) VALUES (1, 'email_opened', 'null')$$),
  ($$INSERT INTO lead_mgmt.deals (lead_id, amount) VALUES (1, NULL)$$),
  ($$INSERT INTO lead_mgmt.deals (lead_id, amount, status) VALUES (1, 10, NULL)$$),
  ($$INSERT INTO lead_mgmt.deals (lead_id, amount) VALUES (NULL, 10)$$),
  ($$INSERT INTO lead_mgmt.reps (name) VALUES (NULL)$$),
  ($$INSERT INTO lead_mgmt.reps (name, seniority) VALUES ('x', NULL)$$),
  ($$INSERT INTO lead_mgmt.reps (name, weight) VALUES ('x', NULL)$$),
  ($$INSERT INTO lead_mgmt.reps (name, regions, industries) VALUES ('Nulla', '{NULL}', '{NULL}')$$),
  ($$INSERT INTO lead_mgmt.assignment_rules (name, priority) VALUES (NULL, 1)$$),
  ($$INSERT INTO lead_mgmt.assignment_rules (name, priority) VALUES ('x', NULL)$$),
  ($$INSERT INTO lead_mgmt.assignment_rules (name, priority, method) VALUES ('x', 1, NULL)$$),
  ($$INSERT INTO lead_mgmt.assignment_rules (name, priority, condition) VALUES ('x', 1, 'null')$$),
  ($$INSERT INTO lead_mgmt.assignment_rules (name, priority, rep_ids) VALUES ('null reps', 0, '{NULL}')$$),
  ($$INSERT INTO lead_mgmt.scoring_rules (name, event_type, points) VALUES (NULL, 'email_opened', 1)$$),
  ($$INSERT INTO lead_mgmt.scoring_rules (name, event_type, points) VALUES ('x', 'email_opened', NULL)$$),
  ($$INSERT INTO lead_mgmt.scoring_rules (name, event_type, condition, points) VALUES ('x', NULL, NULL, 1)$$),
  ($$INSERT INTO lead_mgmt.scoring_rules (name, condition, points) VALUES ('x', 'null', 1)$$),
  ($$INSERT INTO lead_mgmt.stages (name, rank) VALUES (NULL, 5)$$),
  ($$INSERT INTO lead_mgmt.stages (name, rank) VALUES ('x', NULL)$$),
  ($$INSERT INTO lead_mgmt.segments (name, condition) VALUES ('x', NULL)$$),
  ($$INSERT INTO lead_mgmt.segments (name, condition) VALUES (NULL, '{"field": "email", "op": "exists"}')$$),
  ($$INSERT INTO lead_mgmt.sequences (name, enroll_condition) VALUES ('x', NULL)$$),
  ($$INSERT INTO lead_mgmt.sequence_steps (sequence_id, step, action) VALUES (1, NULL, 'x')$$),
  ($$INSERT INTO lead_mgmt.event_types (name) VALUES (NULL)$$),
  ($$INSERT INTO lead_mgmt.settings (name, value) VALUES (NULL, '1 day')$$),
  ($$INSERT INTO lead_mgmt.settings (name, value) VALUES ('touch_lease', NULL)$$),
  ($$UPDATE lead_mgmt.settings SET value = NULL WHERE name = 'touch_lease'$$),
  ($$INSERT INTO lead_mgmt.campaigns (code) VALUES (NULL)$$)
) AS t(input);
-- (A NULL settings.value crashed the backend before 0.1 was released:
-- sqlsmith found it; it is refused now, above.)

-- The lead with nothing but NULLs exists, starts at stage lead, and the
-- rep with NULL territories and the rule with a NULL rep id are harmless:
-- a NULL never matches (the rule's pool is empty, so the next rule assigns).
SELECT external_id, email, stage, score, attributes FROM lead_mgmt.leads WHERE external_id = 'n1';
SELECT lead_mgmt.track(lead_mgmt.capture('{"external_id": "null-pool", "region": "EMEA"}'), 'demo_requested') > 0 AS tracked;
SELECT r.name AS owner FROM lead_mgmt.leads l JOIN lead_mgmt.reps r ON r.id = l.owner_id
 WHERE l.external_id = 'null-pool';
DELETE FROM lead_mgmt.assignment_rules WHERE name = 'null reps';

-------------------------------------------------------------------------
-- Malformed shapes
-------------------------------------------------------------------------
SELECT input, pg_temp.outcome(input) FROM (VALUES
  ($$SELECT lead_mgmt.capture('[1, 2]')$$),
  ($$SELECT lead_mgmt.capture('"ada@example.com"')$$),
  ($$SELECT lead_mgmt.capture('{"email": "m1@example.com", "attributes": [1]}')$$),
  ($$SELECT lead_mgmt.capture('{"email": "m1@example.com", "score": 100}')$$),
  ($$SELECT lead_mgmt.capture('{"email": "m1@example.com", "Email": "x"}')$$),
  ($$SELECT lead_mgmt.capture('{"email": "m1@example.com", "company_size": "lots"}')$$),
  ($$SELECT lead_mgmt.capture('{"email": "m1@example.com", "company_size": 1e20}')$$),
  ($$SELECT lead_mgmt.capture('{"email": "m1@example.com", "company_size": 2.5}')$$),
  ($$SELECT lead_mgmt.capture('{"email": 5}')$$),
  ($$SELECT lead_mgmt.capture('{"email": "no-at-sign"}')$$),
  ($$SELECT lead_mgmt.capture('{"email": "two words@example.com"}')$$),
  ($$SELECT lead_mgmt.capture('{"email": ""}')$$),
  -- (0.2) a blank key would merge or deduplicate unrelated rows, and a
  -- number or object in a text field would be stored as its JSON text
  ($$SELECT lead_mgmt.capture('{"external_id": ""}')$$),
  ($$SELECT lead_mgmt.capture('{"external_id": " ", "email": "m1@example.com"}')$$),
  ($$SELECT lead_mgmt.capture('{"external_id": 42}')$$),
  ($$SELECT lead_mgmt.capture('{"email": "m1@example.com", "first_name": {"a": 1}}')$$),
  ($$SELECT lead_mgmt.capture('{"email": "m1@example.com", "last_name": 42}')$$),
  ($$SELECT lead_mgmt.capture('{"email": "m1@example.com", "company": true}')$$),
  ($$INSERT INTO lead_mgmt.leads (external_id) VALUES ('')$$),
  ($$INSERT INTO lead_mgmt.leads (first_name) VALUES ('no email, no external id')$$),
  ($$SELECT lead_mgmt.track(1, 'email_opened', '{}', now(), '')$$),
  ($$INSERT INTO lead_mgmt.events (lead_id, event_type, dedupe_key) VALUES (1, 'email_opened', E'\t')$$),
  ($$SELECT lead_mgmt.track(1, 'email_opened', '[1]')$$),
  ($$SELECT lead_mgmt.track(1, 'email_opened', '"x"')$$),
  ($$UPDATE lead_mgmt.leads SET score = 100$$),
  ($$UPDATE lead_mgmt.leads SET event_counts = '{1}'$$),
  ($$UPDATE lead_mgmt.events SET points = 100$$)
) AS t(input);

-- Rows stored before those checks (0.1 accepted them; written here with
-- triggers off, as a restore writes) stay usable: only a write that sets
-- a blank key or removes the last identity is refused, so lead_mgmt's own
-- updates and updates of other columns go through.
SET session_replication_role = replica;
INSERT INTO lead_mgmt.leads (external_id, first_name) VALUES ('', 'legacy blank') RETURNING id AS legacy_blank \gset
INSERT INTO lead_mgmt.leads (first_name) VALUES ('legacy nobody') RETURNING id AS legacy_nobody \gset
INSERT INTO lead_mgmt.events (lead_id, event_type, dedupe_key) VALUES (:legacy_blank, 'email_opened', '');
RESET session_replication_role;
SELECT lead_mgmt.rescore(:legacy_blank) + lead_mgmt.rescore(:legacy_nobody) AS rescored;
SELECT lead_mgmt.track(:legacy_nobody, 'email_opened') > 0 AS tracked;
UPDATE lead_mgmt.leads SET company = 'Legacy Ltd' WHERE id IN (:legacy_blank, :legacy_nobody);
UPDATE lead_mgmt.events SET properties = '{"legacy": true}' WHERE lead_id = :legacy_blank;
SELECT external_id, first_name, company, score > 0 AS scored FROM lead_mgmt.leads
 WHERE id IN (:legacy_blank, :legacy_nobody) ORDER BY id;
SELECT input, pg_temp.outcome(input) FROM (VALUES
  (format($$UPDATE lead_mgmt.leads SET external_id = ' ' WHERE id = %s$$, :legacy_blank)),
  (format($$INSERT INTO lead_mgmt.events (lead_id, event_type, dedupe_key) VALUES (%s, 'email_opened', '')$$, :legacy_nobody))
) AS t(input);
DELETE FROM lead_mgmt.leads WHERE id IN (:legacy_blank, :legacy_nobody);

-------------------------------------------------------------------------
-- Huge and deeply nested jsonb
-------------------------------------------------------------------------
-- Accepted and stored whole: 1 MB of event properties, 100,000 property
-- keys, 1 MB of attributes, attributes nested 1,000 levels deep and an
-- array of 100,000 elements in attributes.
SELECT input, pg_temp.outcome(input) FROM (VALUES
  ($$SELECT lead_mgmt.track(1, 'email_opened', jsonb_build_object('blob', repeat('x', 1048576)), now(), 'big-props')$$),
  ($$SELECT lead_mgmt.track(1, 'email_clicked', (SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 100000) g), now(), 'many-keys')$$),
  ($$SELECT lead_mgmt.capture(jsonb_build_object('external_id', 'big-attrs', 'attributes', jsonb_build_object('blob', repeat('y', 1048576), 'tier', 'vip')))$$),
  ($$SELECT lead_mgmt.capture(jsonb_build_object('external_id', 'deep-attrs', 'attributes', (repeat('{"a": ', 1000) || '"bottom"' || repeat('}', 1000))::jsonb))$$),
  ($$SELECT lead_mgmt.capture(jsonb_build_object('external_id', 'long-array', 'attributes', jsonb_build_object('ids', (SELECT jsonb_agg(g) FROM generate_series(1, 100000) g))))$$)
) AS t(input);
SELECT octet_length(properties ->> 'blob') AS blob_bytes FROM lead_mgmt.events WHERE dedupe_key = 'big-props';
SELECT (SELECT count(*) FROM jsonb_object_keys(properties)) AS keys FROM lead_mgmt.events WHERE dedupe_key = 'many-keys';
SELECT external_id, octet_length(attributes ->> 'blob') AS blob_bytes, segment_ids IS NOT NULL AS in_a_segment
  FROM lead_mgmt.leads WHERE external_id = 'big-attrs';
SELECT attributes #>> (SELECT array_agg('a'::text) FROM generate_series(1, 1000)) AS bottom
  FROM lead_mgmt.leads WHERE external_id = 'deep-attrs';
SELECT jsonb_array_length(attributes -> 'ids') AS ids FROM lead_mgmt.leads WHERE external_id = 'long-array';

-- Conditions: a path 1,000 keys deep and `in` with 100,000 values are
-- valid (and evaluate); nesting is limited to 64 condition objects,
-- however deep the input goes.
SELECT lead_mgmt.evaluate(jsonb_build_object('field', 'attributes.' || (SELECT string_agg('a', '.') FROM generate_series(1, 1000)),
                                             'op', '=', 'value', 'bottom'),
                          (SELECT id FROM lead_mgmt.leads WHERE external_id = 'deep-attrs')) AS path_1000_deep;
SELECT lead_mgmt.evaluate(jsonb_build_object('field', 'attributes.tier', 'op', 'in',
                                             'value', (SELECT jsonb_agg('t' || g) || '["vip"]' FROM generate_series(1, 100000) g)),
                          (SELECT id FROM lead_mgmt.leads WHERE external_id = 'big-attrs')) AS in_100k_values;
INSERT INTO lead_mgmt.segments (name, condition)
SELECT 'huge in', jsonb_build_object('field', 'company_size', 'op', 'in',
                                     'value', (SELECT jsonb_agg(g * 7) FROM generate_series(1, 100000) g));
SELECT input, pg_temp.outcome(input) FROM (VALUES
  ($$SELECT lead_mgmt.validate_condition((repeat('{"not": ', 63) || '{"field": "email", "op": "exists"}' || repeat('}', 63))::jsonb)$$),
  ($$SELECT lead_mgmt.validate_condition((repeat('{"not": ', 64) || '{"field": "email", "op": "exists"}' || repeat('}', 64))::jsonb)$$),
  ($$SELECT lead_mgmt.validate_condition((repeat('{"all": [', 5000) || '{"field": "email", "op": "exists"}' || repeat(']}', 5000))::jsonb)$$),
  ($$INSERT INTO lead_mgmt.segments (name, condition) VALUES ('too deep', (repeat('{"any": [', 100) || '{"event": "email_opened"}' || repeat(']}', 100))::jsonb)$$),
  ($$SELECT lead_mgmt.validate_condition('{"field": "company_size", "op": "in", "value": []}')$$),
  ($$SELECT lead_mgmt.validate_condition('{"field": "company_size", "op": "in", "value": [1, null]}')$$),
  ($$SELECT lead_mgmt.validate_condition('{"field": "attributes..x", "op": "exists"}')$$),
  ($$SELECT lead_mgmt.validate_condition('{"field": "email", "op": "matches", "value": "(unclosed"}')$$),
  ($$SELECT lead_mgmt.validate_condition(jsonb_build_object('field', 'email', 'op', 'matches', 'value', repeat('((((((((((a{1,100}){1,100}){1,100})))))))))', 5)))$$)
) AS t(input);
-- a catastrophic-backtracking pattern is harmless (PostgreSQL's regex
-- engine does not backtrack exponentially)
SELECT lead_mgmt.evaluate(jsonb_build_object('field', 'email', 'op', 'matches', 'value', '^(a+)+$'),
                          (SELECT id FROM lead_mgmt.leads WHERE external_id = 'base')) AS backtracking;
-- A pattern is validated by compiling it as "~*" will (same flags), so a
-- pattern slow to compile is as slow to validate, and no slower.  A cancel
-- or statement_timeout while it compiles is reported as what it is
-- (57014), not as an invalid pattern: this one takes seconds to compile.
SET statement_timeout = '50ms';
SELECT lead_mgmt.validate_condition(jsonb_build_object('field', 'country', 'op', 'matches',
                                                       'value', repeat('(a|b)*', 1000)));
RESET statement_timeout;

-------------------------------------------------------------------------
-- Unknown event types
-------------------------------------------------------------------------
SELECT input, pg_temp.outcome(input) FROM (VALUES
  ($$SELECT lead_mgmt.track(1, 'webinar_attended')$$),
  ($$INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (1, 'email_opened'), (1, 'webinar_attended')$$),
  ($$UPDATE lead_mgmt.events SET event_type = 'webinar_attended' WHERE dedupe_key = 'big-props'$$),
  ($$INSERT INTO lead_mgmt.scoring_rules (name, event_type, points) VALUES ('w', 'webinar_attended', 5)$$),
  ($$INSERT INTO lead_mgmt.segments (name, condition) VALUES ('w', '{"event": "webinar_attended"}')$$),
  ($$SET lead_mgmt.unknown_event_types = 'sometimes'$$)
) AS t(input);
-- SET lead_mgmt.unknown_event_types = register: valid names are added,
-- invalid ones are still refused
SET lead_mgmt.unknown_event_types = register;
SELECT input, pg_temp.outcome(input) FROM (VALUES
  ($$SELECT lead_mgmt.track(1, 'webinar_attended')$$),
  ($$SELECT lead_mgmt.track(1, '')$$),
  ($$SELECT lead_mgmt.track(1, repeat('a', 64))$$),
  ($$SELECT lead_mgmt.track(1, 'webinar attended')$$),
  ($$SELECT lead_mgmt.track(1, 'x''); DROP TABLE lead_mgmt.events; --')$$)
) AS t(input);
SET lead_mgmt.unknown_event_types = error;
SELECT name, description FROM lead_mgmt.event_types WHERE name = 'webinar_attended';

-------------------------------------------------------------------------
-- Numbers: negative and absurd amounts, NaN and Infinity
-------------------------------------------------------------------------
-- Amounts are numeric(14,2): -0.001 rounds to 0.00 and is accepted; NaN
-- (which passes ">= 0") is refused like a negative amount.
SELECT input, pg_temp.outcome(input) FROM (VALUES
  ($$INSERT INTO lead_mgmt.deals (lead_id, amount) VALUES (1, -1)$$),
  ($$INSERT INTO lead_mgmt.deals (lead_id, amount) VALUES (1, -0.001)$$),
  ($$INSERT INTO lead_mgmt.deals (lead_id, amount) VALUES (1, 'NaN')$$),
  ($$INSERT INTO lead_mgmt.deals (lead_id, amount) VALUES (1, 'Infinity')$$),
  ($$INSERT INTO lead_mgmt.deals (lead_id, amount) VALUES (1, 1e12)$$),
  ($$INSERT INTO lead_mgmt.deals (lead_id, amount, status) VALUES (1, 999999999999.99, 'won')$$),
  ($$INSERT INTO lead_mgmt.deals (lead_id, amount, status) VALUES (1, 10, 'WON')$$),
  ($$INSERT INTO lead_mgmt.deals (lead_id, amount) VALUES (-1, 10)$$),
  ($$UPDATE lead_mgmt.deals SET amount = 'NaN'$$),
  ($$INSERT INTO lead_mgmt.campaigns (code) VALUES ('c1')$$),
  ($$INSERT INTO lead_mgmt.campaign_daily (campaign, day, spend) VALUES ('c1', '2024-01-01', -5)$$),
  ($$INSERT INTO lead_mgmt.campaign_daily (campaign, day, spend) VALUES ('c1', '2024-01-02', 'NaN')$$),
  ($$INSERT INTO lead_mgmt.campaign_daily (campaign, day, visitors) VALUES ('c1', '2024-01-03', -1)$$),
  ($$INSERT INTO lead_mgmt.campaign_daily (campaign, day, spend) VALUES ('nope', '2024-01-03', 1)$$),
  ($$INSERT INTO lead_mgmt.scoring_rules (name, event_type, points) VALUES ('huge', 'chat_started', 2147483647)$$),
  ($$INSERT INTO lead_mgmt.reps (name, capacity) VALUES ('x', -1)$$),
  ($$INSERT INTO lead_mgmt.reps (name, weight) VALUES ('x', 0)$$),
  ($$SELECT lead_mgmt.validate_condition('{"field": "company_size", "op": ">", "value": "NaN"}')$$),
  ($$SELECT lead_mgmt.validate_condition('{"field": "company_size", "op": ">", "value": "Infinity"}')$$),
  ($$SELECT lead_mgmt.validate_condition(jsonb_build_object('field', 'annual_revenue', 'op', '<', 'value', 'NaN'::numeric))$$),
  ($$SELECT lead_mgmt.validate_condition('{"event": "email_opened", "min_count": 2.5}')$$),
  ($$SELECT lead_mgmt.validate_condition('{"event": "email_opened", "min_count": -1}')$$),
  ($$SELECT lead_mgmt.validate_condition('{"event": "email_opened", "max_count": 1e20}')$$)
) AS t(input);
-- a rule whose points overflow a lead's score is accepted while no lead
-- has a matching event; the first such event is refused, and so is the
-- rule once a lead has one
SELECT pg_temp.outcome($$SELECT lead_mgmt.track(1, 'chat_started')$$) AS overflowing_event;
DELETE FROM lead_mgmt.scoring_rules WHERE name = 'huge';
SELECT lead_mgmt.track(1, 'chat_started') > 0 AS tracked;
SELECT pg_temp.outcome($$INSERT INTO lead_mgmt.scoring_rules (name, event_type, points) VALUES ('huge', 'chat_started', 2147483647)$$) AS overflowing_rule;
-- the refusal names a lead that would overflow, so that a DBA changing a
-- rule over a million leads can look at it
INSERT INTO lead_mgmt.scoring_rules (name, event_type, points) VALUES ('huge', 'chat_started', 2147483647);
-- One rule's share of a score need not fit an integer while the score
-- does: two opens at 2,000,000,000 beside a click at -2,000,000,000 score
-- 2,000,000,000.  explain_score cannot show a 4,000,000,000-point row in
-- its integer column, and a wrapped or clamped one would not sum to the
-- score: it says so instead.
SELECT lead_mgmt.capture('{"external_id": "opposed"}') AS opposed \gset
INSERT INTO lead_mgmt.scoring_rules (name, event_type, points) VALUES
  ('opened a lot', 'email_opened', 2000000000), ('clicked a lot', 'email_clicked', -2000000000);
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES
  (:opposed, 'email_clicked'), (:opposed, 'email_opened'), (:opposed, 'email_opened');
SELECT score FROM lead_mgmt.leads WHERE id = :opposed;
SELECT * FROM lead_mgmt.explain_score(:opposed);
-- with one open, every row fits again, and the rows sum to the score
DELETE FROM lead_mgmt.events
 WHERE id = (SELECT max(id) FROM lead_mgmt.events WHERE lead_id = :opposed AND event_type = 'email_opened');
SELECT rule, points FROM lead_mgmt.explain_score(:opposed) WHERE rule LIKE '% a lot' ORDER BY rule;
SELECT sum(points) = (SELECT score FROM lead_mgmt.leads WHERE id = :opposed) AS sums_to_score
  FROM lead_mgmt.explain_score(:opposed);
DELETE FROM lead_mgmt.leads WHERE id = :opposed;
DELETE FROM lead_mgmt.scoring_rules WHERE name LIKE '% a lot';
-- the won deal at the largest amount made its lead a customer; analytics
-- sum it without overflow
SELECT stage, converted_at IS NOT NULL AS converted FROM lead_mgmt.leads WHERE id = 1;
SELECT deals_won, revenue FROM lead_mgmt.sales_by_month;
-- Accepted as data: a negative company size, a NaN annual revenue, and
-- numbers beyond double precision in attributes and conditions; they
-- compare numerically (NaN is greater than every number, as in SQL).
SELECT lead_mgmt.capture(jsonb_build_object('external_id', 'odd-numbers', 'company_size', -5,
                                            'annual_revenue', 'NaN'::numeric,
                                            'attributes', '{"big": 1e400, "tiny": 1e-400}'::jsonb)) > 0 AS captured;
SELECT company_size, annual_revenue, attributes ->> 'big' = '1' || repeat('0', 400) AS big_kept
  FROM lead_mgmt.leads WHERE external_id = 'odd-numbers';
SELECT c.cond, lead_mgmt.evaluate(c.cond::jsonb, (SELECT id FROM lead_mgmt.leads WHERE external_id = 'odd-numbers')) AS holds
  FROM (VALUES ('{"field": "company_size", "op": "<", "value": 0}'),
               ('{"field": "company_size", "op": ">", "value": -1e400}'),
               ('{"field": "annual_revenue", "op": ">", "value": 1e300}'),
               ('{"field": "attributes.big", "op": ">", "value": 1e399}'),
               ('{"field": "attributes.tiny", "op": ">", "value": 0}'),
               ('{"field": "attributes.tiny", "op": "<", "value": 1e-399}')) AS c(cond);

-------------------------------------------------------------------------
-- Ancient, future and infinite timestamps
-------------------------------------------------------------------------
-- Accepted: an event in year 1 or 4713 BC (a late event: it counts like
-- any other, and no window contains it), and an event in the far future
-- (it counts, and stays in its windows until occurred_at + within) -- even
-- one so close to the end of the timestamp range that occurred_at + a
-- rule's window is beyond it: its window never closes.
-- Refused: a time beyond the timestamp range (22008, from PostgreSQL).
SELECT lead_mgmt.capture('{"external_id": "time"}') AS tl \gset
SELECT input, pg_temp.outcome(input) FROM (VALUES
  ($$SELECT lead_mgmt.track(pg_temp.lead('time'), 'chat_started', '{}', '0001-01-01 00:00:00+00', 't-year-1')$$),
  ($$SELECT lead_mgmt.track(pg_temp.lead('time'), 'email_opened', '{}', '4713-01-01 00:00:00+00 BC', 't-4713bc')$$),
  ($$SELECT lead_mgmt.track(pg_temp.lead('time'), 'chat_started', '{}', now() + interval '1 year', 't-next-year')$$),
  ($$SELECT lead_mgmt.track(pg_temp.lead('time'), 'chat_started', '{}', '294276-12-20 00:00:00+00', 't-294276')$$),
  ($$SELECT lead_mgmt.track(pg_temp.lead('time'), 'chat_started', '{}', '294276-12-31 23:59:59+00', 't-max')$$),
  ($$SELECT lead_mgmt.track(pg_temp.lead('time'), 'email_opened', '{}', '294276-12-31 23:59:59+00', 't-max-2')$$),
  ($$SELECT lead_mgmt.track(pg_temp.lead('time'), 'email_opened', '{}', '294277-01-01 00:00:00+00', 't-beyond')$$),
  ($$INSERT INTO lead_mgmt.leads (external_id, created_at) VALUES ('born-year-1', '0001-01-01')$$),
  ($$INSERT INTO lead_mgmt.leads (external_id, created_at) VALUES ('born-294276', '294276-12-31')$$)
) AS t(input);
-- the three far-future chats are in the 7-day window (3 x 3 points), the
-- year-1 chat is not; both opens count (no window: 2 x 5 points); the
-- far-future open puts the lead in the 30-day segment, the 4713 BC one
-- would not; the next recheck is when the lead turns 30 days old (the
-- example rule's age term): windows that never close need none
SELECT score, recheck_at - created_at AS recheck_after, last_event_at, segment_ids IS NOT NULL AS in_segment
  FROM lead_mgmt.leads WHERE id = :tl;
SELECT rule, occurrences, points FROM lead_mgmt.explain_score(:tl);
-- a week after next year's chat it has left its window; the far-future
-- ones have not (evaluated as of then, and rolled back)
BEGIN;
SELECT (lead_mgmt.run_maintenance((SELECT occurred_at + interval '8 days' FROM lead_mgmt.events
                                    WHERE dedupe_key = 't-next-year')) ->> 'leads_rechecked')::int > 0 AS rechecked;
SELECT rule, occurrences, points FROM lead_mgmt.explain_score(:tl);
ROLLBACK;
SELECT (lead_mgmt.run_maintenance() ->> 'leads_rechecked')::int AS rechecked_now;

-- Infinite timestamps are refused: an event needs a time it happened, and
-- a lead a time it was captured (-infinity is also lead_mgmt's internal
-- "no time").
SELECT lead_mgmt.capture('{"external_id": "infinite"}') AS il \gset
SELECT input, pg_temp.outcome(input) FROM (VALUES
  ($$SELECT lead_mgmt.track(pg_temp.lead('infinite'), 'email_opened', '{}', 'infinity', 'inf-1')$$),
  ($$SELECT lead_mgmt.track(pg_temp.lead('infinite'), 'chat_started', '{}', '-infinity', 'inf-2')$$),
  ($$INSERT INTO lead_mgmt.leads (external_id, created_at) VALUES ('born-never', 'infinity')$$),
  ($$INSERT INTO lead_mgmt.leads (external_id, created_at) VALUES ('born-always', '-infinity')$$)
) AS t(input);
SELECT score, last_event_at, segment_ids IS NOT NULL AS in_segment FROM lead_mgmt.leads WHERE id = :il;

-------------------------------------------------------------------------
-- Duplicate deliveries in one statement
-------------------------------------------------------------------------
SELECT lead_mgmt.capture('{"external_id": "dup"}') AS dl \gset
-- a multi-row INSERT with the same dedupe_key twice: the statement fails
-- whole, nothing is recorded
SELECT pg_temp.outcome(format($$INSERT INTO lead_mgmt.events (lead_id, event_type, dedupe_key)
                               VALUES (%s, 'email_replied', 'd-1'), (%s, 'email_replied', 'd-1')$$, :dl, :dl)) AS plain_insert;
SELECT count(*) AS recorded, (SELECT score FROM lead_mgmt.leads WHERE id = :dl) AS score
  FROM lead_mgmt.events WHERE dedupe_key = 'd-1';
-- the documented idempotent form: ON CONFLICT (dedupe_key) DO NOTHING keeps
-- the first row of the statement and counts it once
INSERT INTO lead_mgmt.events (lead_id, event_type, dedupe_key)
VALUES (:dl, 'email_replied', 'd-2'), (:dl, 'email_clicked', 'd-2'), (:dl, 'email_replied', 'd-2')
ON CONFLICT (dedupe_key) DO NOTHING;
SELECT event_type, count(*) OVER () AS recorded FROM lead_mgmt.events WHERE dedupe_key = 'd-2';
SELECT score FROM lead_mgmt.leads WHERE id = :dl;
-- DO UPDATE cannot take two rows for one key (PostgreSQL's own rule)
SELECT pg_temp.outcome(format($$INSERT INTO lead_mgmt.events (lead_id, event_type, dedupe_key)
                               VALUES (%s, 'email_opened', 'd-3'), (%s, 'email_opened', 'd-3')
                               ON CONFLICT (dedupe_key) DO UPDATE SET properties = '{}'$$, :dl, :dl)) AS do_update;
-- COPY with a duplicate key fails whole
COPY lead_mgmt.events (lead_id, event_type, dedupe_key) FROM stdin;
1	email_opened	d-4
1	email_opened	d-4
\.
SELECT count(*) AS recorded_by_copy FROM lead_mgmt.events WHERE dedupe_key = 'd-4';
-- track() with a seen key returns the first event's id, whatever the time
-- (a retry records its own now()); a seen key of another lead or event
-- type is a collision, refused (0.2: 0.1 returned the other event's id and
-- recorded nothing, so the purchase below vanished)
SELECT lead_mgmt.track(:dl, 'email_replied', '{}', now() - interval '1 hour', 'd-2') =
       (SELECT id FROM lead_mgmt.events WHERE dedupe_key = 'd-2') AS same_id;
SELECT pg_temp.outcome($$SELECT lead_mgmt.track(1, 'purchase', '{}', now(), 'd-2')$$) AS other_lead;
SELECT pg_temp.outcome(format($$SELECT lead_mgmt.track(%s, 'purchase', '{}', now(), 'd-2')$$, :dl)) AS other_type;
SELECT count(*) AS purchases_of_lead_1 FROM lead_mgmt.events WHERE lead_id = 1 AND event_type = 'purchase' AND dedupe_key = 'd-2';
-- the same person twice in one statement: one lead
SELECT count(DISTINCT id) AS leads
  FROM (SELECT lead_mgmt.capture('{"email": "Twice@Example.com"}') AS id
          FROM generate_series(1, 3)) c;
SELECT pg_temp.outcome($$INSERT INTO lead_mgmt.leads (email) VALUES ('pair@example.com'), ('PAIR@example.com')$$) AS same_email_twice;
INSERT INTO lead_mgmt.leads (email) VALUES ('pair@example.com'), ('PAIR@example.com') ON CONFLICT DO NOTHING;
SELECT count(*) AS pair_leads FROM lead_mgmt.leads WHERE lower(email) = 'pair@example.com';
-- the row skipped by ON CONFLICT leaves no stage history or membership
SELECT (SELECT count(*) FROM lead_mgmt.stage_history h
         WHERE NOT EXISTS (SELECT 1 FROM lead_mgmt.leads l WHERE l.id = h.lead_id)) AS orphan_history,
       (SELECT count(*) FROM lead_mgmt.segment_members m
         WHERE NOT EXISTS (SELECT 1 FROM lead_mgmt.leads l WHERE l.id = m.lead_id)) AS orphan_members,
       (SELECT count(*) FROM lead_mgmt.stage_history h JOIN lead_mgmt.leads l ON l.id = h.lead_id
         WHERE lower(l.email) = 'pair@example.com') AS pair_history;

-------------------------------------------------------------------------
-- Unicode and very long strings
-------------------------------------------------------------------------
-- Unicode is stored as given; emails merge by lower() of the database's
-- collation (here: ASCII letters only compared case-insensitively).
SELECT lead_mgmt.capture('{"email": "ada.lovelace@exämple.com", "first_name": "Ådå 👩‍💻", "company": "Анализ 分析"}') AS ul \gset
SELECT lead_mgmt.capture('{"email": "ADA.LOVELACE@exämple.com", "last_name": "Łovelace"}') = :ul AS merged;
SELECT email, first_name, last_name, company FROM lead_mgmt.leads WHERE id = :ul;
-- long strings: 1 MB names are data; an email or external_id too long to
-- index is refused by PostgreSQL's unique index (54000)
SELECT input, pg_temp.outcome(input) FROM (VALUES
  ($$SELECT lead_mgmt.capture(jsonb_build_object('external_id', 'long-name', 'first_name', repeat('n', 1048576)))$$),
  ($$SELECT lead_mgmt.capture(jsonb_build_object('email', repeat('a', 64) || '@' || repeat('b', 180) || '.com'))$$),
  ($$SELECT lead_mgmt.capture(jsonb_build_object('email', (SELECT string_agg(md5(n::text), '') FROM generate_series(1, 100) AS g(n)) || '@example.com'))$$),
  ($$SELECT lead_mgmt.capture(jsonb_build_object('external_id', (SELECT string_agg(md5(n::text), '') FROM generate_series(1, 100) AS g(n))))$$),
  ($$SELECT lead_mgmt.track(1, 'email_opened', '{}', now(), (SELECT string_agg(md5(n::text), '') FROM generate_series(1, 100) AS g(n)))$$),
  ($$SELECT lead_mgmt.capture('{"email": "nul\u0000byte@example.com"}')$$)
) AS t(input);
SELECT octet_length(first_name) AS name_bytes FROM lead_mgmt.leads WHERE external_id = 'long-name';

-------------------------------------------------------------------------
-- Strings that look like SQL are data
-------------------------------------------------------------------------
SELECT lead_mgmt.capture(jsonb_build_object(
    'external_id', 'bobby',
    'email', 'bobby@example.com',
    'first_name', 'Robert''); DROP TABLE lead_mgmt.leads; --',
    'company', 'x'' OR ''1''=''1',
    'attributes', jsonb_build_object('note''; DELETE FROM lead_mgmt.events; --', '$$; SELECT pg_sleep(10); $$'))) AS bobby \gset
SELECT first_name, company, attributes FROM lead_mgmt.leads WHERE id = :bobby;
SELECT input, pg_temp.outcome(input) FROM (VALUES
  ($$SELECT lead_mgmt.capture('{"email": "e@example.com", "first_name\"; DROP TABLE x; --": "a"}')$$),
  ($$SELECT lead_mgmt.validate_condition('{"field": "email; DROP TABLE lead_mgmt.leads", "op": "exists"}')$$),
  ($$SELECT lead_mgmt.validate_condition('{"field": "stage", "op": "=", "value": "sql'' OR ''1''=''1"}')$$),
  ($$SELECT lead_mgmt.set_stage(1, 'sql''; DROP TABLE lead_mgmt.stages; --')$$),
  ($$INSERT INTO lead_mgmt.segments (name, condition) VALUES ('x''; DROP TABLE lead_mgmt.segments; --',
        '{"all": [{"field": "company", "op": "=", "value": "x'' OR ''1''=''1"},
                  {"field": "attributes.note''; DELETE FROM lead_mgmt.events; --", "op": "exists"}]}')$$),
  ($$INSERT INTO lead_mgmt.reps (name, email) VALUES ('Robert''); DROP TABLE lead_mgmt.reps; --', 'r@example.com')$$),
  ($$INSERT INTO lead_mgmt.segments (name, condition) VALUES ('regex as data', '{"field": "first_name", "op": "matches", "value": "^robert''\\); drop"}')$$)
) AS t(input);
-- the injection-looking segment holds exactly the lead whose company and
-- attribute literally are those strings; the tables are all there
SELECT s.name, l.external_id
  FROM lead_mgmt.segment_members m
  JOIN lead_mgmt.segments s ON s.id = m.segment_id
  JOIN lead_mgmt.leads l ON l.id = m.lead_id
 WHERE s.name IN ('x''; DROP TABLE lead_mgmt.segments; --', 'regex as data')
 ORDER BY 1, 2;
SELECT count(*) AS lead_mgmt_tables FROM pg_tables WHERE schemaname = 'lead_mgmt';

-------------------------------------------------------------------------
-- Nothing lost, state consistent
-------------------------------------------------------------------------
SELECT count(*) AS leads,
       (SELECT count(*) FROM lead_mgmt.events) AS events,
       (SELECT count(*) FROM lead_mgmt.deals) AS deals,
       (SELECT count(*) FROM lead_mgmt.segments) AS segments
  FROM lead_mgmt.leads;
SELECT pg_temp.consistency();
