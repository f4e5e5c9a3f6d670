-- pgTAP: what CREATE EXTENSION lead_mgmt installs (DESIGN.md section 3).
-- Run by `bash test/harness.sh test` (pg_prove, database lm_pgtap, where
-- pgtap and lead_mgmt are already created).  Every file runs in a
-- transaction that is rolled back, so files do not see each other's changes.
BEGIN;
SELECT plan(17);

SELECT has_schema('lead_mgmt', 'schema lead_mgmt exists');

SELECT has_table('lead_mgmt', 'event_types',   'table lead_mgmt.event_types exists');
SELECT has_table('lead_mgmt', 'scoring_rules', 'table lead_mgmt.scoring_rules exists');
SELECT has_table('lead_mgmt', 'stages',        'table lead_mgmt.stages exists');
SELECT has_table('lead_mgmt', 'settings',      'table lead_mgmt.settings exists');
SELECT has_table('lead_mgmt', 'leads',         'table lead_mgmt.leads exists');
SELECT has_table('lead_mgmt', 'events',        'table lead_mgmt.events exists');
SELECT has_table('lead_mgmt', 'stage_history', 'table lead_mgmt.stage_history exists');

SELECT results_eq(
    $$SELECT name FROM lead_mgmt.event_types ORDER BY name COLLATE "C"$$,
    $$VALUES ('appointment_cancelled'::text),
             ('chat_started'),
             ('consultation_scheduled'),
             ('demo_requested'),
             ('email_clicked'),
             ('email_opened'),
             ('email_replied'),
             ('email_sent'),
             ('email_subscribed'),
             ('email_unsubscribed'),
             ('form_submitted'),
             ('lead_magnet_downloaded'),
             ('pricing_page_visited'),
             ('purchase'),
             ('rep_contacted'),
             ('trial_started')$$,
    'the 16 shipped event types'
);

SELECT results_eq(
    $$SELECT name, rank FROM lead_mgmt.stages ORDER BY rank$$,
    $$VALUES ('lead'::text, 0), ('iql', 10), ('mql', 20), ('sql', 30), ('customer', 40)$$,
    'the 5 shipped stages with ranks 0, 10, 20, 30, 40'
);

SELECT has_function('lead_mgmt', 'capture', ARRAY['jsonb'],
    'lead_mgmt.capture(jsonb) exists');
SELECT has_function('lead_mgmt', 'track',
    ARRAY['bigint', 'text', 'jsonb', 'timestamp with time zone', 'text'],
    'lead_mgmt.track(bigint, text, jsonb, timestamptz, text) exists');
SELECT has_function('lead_mgmt', 'rescore', ARRAY['bigint'],
    'lead_mgmt.rescore(bigint) exists');
SELECT has_function('lead_mgmt', 'explain_score', ARRAY['bigint'],
    'lead_mgmt.explain_score(bigint) exists');
SELECT has_function('lead_mgmt', 'evaluate', ARRAY['jsonb', 'bigint'],
    'lead_mgmt.evaluate(jsonb, bigint) exists');

SELECT has_extension('lead_mgmt', 'extension lead_mgmt is installed');

-- ANALYZE keeps statistics on what queries filter on, and none on the
-- internal arrays of leads (per-predicate counts, segments, sequences)
INSERT INTO lead_mgmt.leads (email)
SELECT 'stats' || g || '@example.com' FROM generate_series(1, 20) AS g;
ANALYZE lead_mgmt.leads;
SELECT results_eq(
    $$SELECT count(*) FILTER (WHERE attname = 'email')::integer,
             count(*) FILTER (WHERE attname IN ('event_counts', 'segment_ids', 'sequence_ids'))::integer
        FROM pg_stats
       WHERE schemaname = 'lead_mgmt' AND tablename = 'leads'$$,
    $$VALUES (1, 0)$$,
    'ANALYZE keeps no statistics on event_counts, segment_ids and sequence_ids of leads'
);

SELECT * FROM finish();
ROLLBACK;
