-- Security: pinned search_path, SECURITY DEFINER only where needed, grants
-- for three kinds of user, per-rep isolation with row-level security, and
-- hostile objects that try to hijack what the extension calls.
--
-- Real roles (cluster-wide, hence the lm_test_ prefix; dropped at the end):
--   lm_test_writer   an application: captures leads, records events and
--                    deals, works the touch queue
--   lm_test_analyst  reads the funnel
--   lm_test_admin    edits configuration, runs maintenance
--   lm_test_rep_a, lm_test_rep_b   sales reps under rep isolation;
--                    lm_test_alice logs in as a member of lm_test_rep_a
--   lm_test_hostile  may create in public, and plants traps there
SET client_min_messages = warning;
SET timezone = 'UTC';
\set SHOW_CONTEXT never
-- every story starts from a fresh install
DROP EXTENSION lead_mgmt;
CREATE EXTENSION lead_mgmt;
-- leftovers of an interrupted run (roles are cluster-wide)
DROP ROLE IF EXISTS lm_test_writer, lm_test_analyst, lm_test_admin, lm_test_rep_a,
    lm_test_rep_b, lm_test_alice, lm_test_hostile;

-------------------------------------------------------------------------
-- The contract, read from the catalog
-------------------------------------------------------------------------
-- Every function pins search_path, except SQL-standard bodies (bound to
-- their operators and functions when created) and the four C trigger
-- functions that fire for every event: pinning costs a GUC change per
-- call, and every statement they run is fully qualified -- the hostile
-- search_path below goes through all four.  Expected: those four.
SELECT p.oid::regprocedure AS unpinned
  FROM pg_proc p
 WHERE p.pronamespace = 'lead_mgmt'::regnamespace
   AND p.prosqlbody IS NULL
   AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)
 ORDER BY p.oid::regprocedure::text COLLATE "C";
SELECT p.oid::regprocedure AS sql_standard_body
  FROM pg_proc p
 WHERE p.pronamespace = 'lead_mgmt'::regnamespace AND p.prosqlbody IS NOT NULL
 ORDER BY p.oid::regprocedure::text COLLATE "C";

-- SECURITY DEFINER: every trigger function, the maintenance functions
-- (they write internal state), the touch queue, the rep-isolation lookup.
SELECT p.oid::regprocedure AS security_definer,
       p.prorettype = 'trigger'::regtype AS is_trigger
  FROM pg_proc p
 WHERE p.pronamespace = 'lead_mgmt'::regnamespace AND p.prosecdef
 ORDER BY 2 DESC, p.oid::regprocedure::text COLLATE "C";
-- ... and no trigger function of the extension runs as its caller.
SELECT p.oid::regprocedure AS invoker_trigger_function
  FROM pg_proc p
 WHERE p.pronamespace = 'lead_mgmt'::regnamespace
   AND p.prorettype = 'trigger'::regtype AND NOT p.prosecdef;

-- Nothing is executable by PUBLIC but _rep_scope (called by the
-- row-level security policies), _segment_funnel and _group_funnel (called
-- by funnel()) and _reach_days (called by the funnel views): they read as
-- their caller, so a role counts only what it may read.
SELECT p.oid::regprocedure AS executable_by_public
  FROM pg_proc p
 WHERE p.pronamespace = 'lead_mgmt'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text COLLATE "C";
-- Nobody but the owner may create in the schema.
SELECT a.grantee = n.nspowner AS only_the_owner_may_create
  FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
 WHERE n.nspname = 'lead_mgmt' AND a.privilege_type = 'CREATE';
-- Every view is security_invoker.  Expected: none.
SELECT c.oid::regclass AS definer_view
  FROM pg_class c
 WHERE c.relnamespace = 'lead_mgmt'::regnamespace AND c.relkind = 'v'
   AND NOT coalesce('security_invoker=true' = ANY (c.reloptions), false);
-- The columns of leads that writers may not write: computed by lead_mgmt,
-- or changed by disqualify().  A new column must be classified here.
SELECT string_agg(a.attname, ', ' ORDER BY a.attnum) AS not_written_by_writers
  FROM pg_attribute a
 WHERE a.attrelid = 'lead_mgmt.leads'::regclass AND a.attnum > 0 AND NOT a.attisdropped
   AND a.attname <> ALL (lead_mgmt._lead_input_columns());
-- Every configuration table exists.
SELECT c AS missing_config_table FROM unnest(lead_mgmt._config_tables()) c
 WHERE to_regclass('lead_mgmt.' || c) IS NULL;

-------------------------------------------------------------------------
-- Configuration (as the superuser who installed the extension)
-------------------------------------------------------------------------
SELECT lead_mgmt.load_example_rules() AS example_rules;
INSERT INTO lead_mgmt.reps (name, email, regions, db_role) VALUES
    ('Ann', 'ann@corp.test', '{EMEA}', 'lm_test_rep_a'),
    ('Ben', 'ben@corp.test', '{NA}',   'lm_test_rep_b'),
    ('Cy',  'cy@corp.test',  '{APAC}', NULL);
INSERT INTO lead_mgmt.assignment_rules (name, priority, method, match_region)
VALUES ('by region', 10, 'round_robin', true);
INSERT INTO lead_mgmt.segments (name, condition)
VALUES ('engaged', '{"field": "score", "op": ">=", "value": 10}');
INSERT INTO lead_mgmt.sequences (name, enroll_condition)
VALUES ('welcome', '{"event": "email_subscribed"}');
INSERT INTO lead_mgmt.sequence_steps (sequence_id, step, delay, action)
SELECT id, v.step, v.delay::interval, v.action
  FROM lead_mgmt.sequences, (VALUES (1, '0', 'welcome email'), (2, '2 days', 'case study')) v(step, delay, action);
INSERT INTO lead_mgmt.campaigns (code, name, channel) VALUES ('ppc', 'Search ads', 'paid_search');
INSERT INTO lead_mgmt.campaign_daily (campaign, day, visitors, spend) VALUES ('ppc', '2026-01-10', 100, 50);

-- The functions below are the documented way to give access; only a
-- superuser (the extension's owner) may call them.
CREATE ROLE lm_test_writer;
CREATE ROLE lm_test_analyst;
CREATE ROLE lm_test_admin;
SELECT lead_mgmt.grant_writer('lm_test_writer');
SELECT lead_mgmt.grant_analyst('lm_test_analyst');
SELECT lead_mgmt.grant_admin('lm_test_admin');
-- idempotent; a role that does not exist is an error, PUBLIC is not a role
SELECT lead_mgmt.grant_writer('lm_test_writer');
SELECT lead_mgmt.grant_writer('lm_test_nobody');
SELECT lead_mgmt.grant_analyst('public');
SET ROLE lm_test_admin;
SELECT lead_mgmt.grant_admin('lm_test_writer');
RESET ROLE;

-------------------------------------------------------------------------
-- A writer (an application)
-------------------------------------------------------------------------
SET ROLE lm_test_writer;
-- capture and track; direct INSERT and UPDATE of lead fields; COPY-style
-- inserts of events
SELECT lead_mgmt.capture('{"email": "ada@example.com", "first_name": "Ada", "region": "EMEA"}') AS ada \gset
SELECT lead_mgmt.capture('{"email": "ada@example.com", "company": "Analytical Engines"}') = :ada AS merged;
INSERT INTO lead_mgmt.leads (email, first_name, region) VALUES ('bob@example.com', 'Bob', 'NA')
RETURNING id AS bob \gset
UPDATE lead_mgmt.leads SET company = 'Bob & Co', job_title = 'CTO' WHERE id = :bob;
SELECT lead_mgmt.track(:ada, 'email_subscribed') IS NOT NULL AS tracked;
SELECT lead_mgmt.track(:ada, 'pricing_page_visited', dedupe_key => 'pv-1') = lead_mgmt.track(:ada, 'pricing_page_visited', dedupe_key => 'pv-1') AS deduplicated;
INSERT INTO lead_mgmt.events (lead_id, event_type, properties) VALUES
    (:bob, 'email_opened', '{}'), (:bob, 'demo_requested', '{"via": "web"}'),
    (:bob, 'consultation_scheduled', '{}');
-- what lead_mgmt wrote on the writer's behalf, without the writer holding
-- any right on it: computed columns, stage history, segment membership,
-- the assignment (Bob, NA, is sales-ready: Ben), enrolment and first touch
SELECT l.email, l.score, l.stage, l.owner_id IS NOT NULL AS owned, l.segment_ids IS NOT NULL AS in_segment
  FROM lead_mgmt.leads l ORDER BY l.id;
RESET ROLE;
SELECT (SELECT count(*) FROM lead_mgmt.stage_history) AS stage_changes,
       (SELECT count(*) FROM lead_mgmt.segment_members) AS memberships,
       (SELECT string_agg(r.name || ':' || a.reason, ', ') FROM lead_mgmt.assignments a
          JOIN lead_mgmt.reps r ON r.id = a.rep_id) AS assignments,
       (SELECT count(*) FROM lead_mgmt.enrollments) AS enrollments,
       (SELECT count(*) FROM lead_mgmt.touches) AS touches;
SET ROLE lm_test_writer;
-- a deal, won: the purchase event and the customer stage follow
INSERT INTO lead_mgmt.deals (lead_id, amount) VALUES (:bob, 1200) RETURNING id AS deal \gset
UPDATE lead_mgmt.deals SET status = 'won' WHERE id = :deal;
SELECT stage, converted_at IS NOT NULL AS converted FROM lead_mgmt.leads WHERE id = :bob;
-- the touch queue: claim the welcome email, report it sent
SELECT touch_id AS touch, email, step, action FROM lead_mgmt.claim_touches('sender-1') \gset
\echo :email :step :action
SELECT lead_mgmt.complete_touch(:touch) IS NOT NULL AS next_step_queued;
-- an unregistered event type is registered when the writer asks for it
-- (documented: lead_mgmt.unknown_event_types = register)
SET lead_mgmt.unknown_event_types = register;
SELECT lead_mgmt.track(:ada, 'webinar_attended') IS NOT NULL AS tracked;
RESET lead_mgmt.unknown_event_types;

-- ... and nothing more.  Computed columns, internal tables, configuration,
-- deletes, analytics and maintenance are refused.
UPDATE lead_mgmt.leads SET score = 100 WHERE id = :ada;
UPDATE lead_mgmt.leads SET owner_id = NULL WHERE id = :bob;
UPDATE lead_mgmt.leads SET disqualified_at = now() WHERE id = :ada;
INSERT INTO lead_mgmt.leads (email, stage) VALUES ('eve@example.com', 'customer');
INSERT INTO lead_mgmt.events (lead_id, event_type, points) VALUES (:ada, 'email_opened', 1000);
UPDATE lead_mgmt.events SET occurred_at = now() WHERE lead_id = :ada;
DELETE FROM lead_mgmt.events WHERE lead_id = :ada;
DELETE FROM lead_mgmt.leads WHERE id = :ada;
DELETE FROM lead_mgmt.deals WHERE id = :deal;
TRUNCATE lead_mgmt.events;
INSERT INTO lead_mgmt.stage_history (lead_id, to_stage, changed_at, reason) VALUES (:ada, 'customer', now(), 'manual');
INSERT INTO lead_mgmt.segment_members (segment_id, lead_id, since) VALUES (1, :ada, now());
INSERT INTO lead_mgmt.assignments (lead_id, rep_id, method, assigned_at, reason) VALUES (:ada, 1, 'manual', now(), 'manual');
UPDATE lead_mgmt.rotation_state SET cursor = NULL;
UPDATE lead_mgmt.touches SET done_at = now(), outcome = 'sent';
UPDATE lead_mgmt.enrollments SET status = 'exited';
UPDATE lead_mgmt.engine_state SET rules_version = 0;
INSERT INTO lead_mgmt.event_types (name) VALUES ('forged');
UPDATE lead_mgmt.scoring_rules SET points = 1000;
SELECT count(*) FROM lead_mgmt.scoring_rules;
SELECT * FROM lead_mgmt.funnel_summary;
SELECT lead_mgmt.rescore();
SELECT lead_mgmt.set_stage(:ada, 'customer');
SELECT lead_mgmt.disqualify(:ada);
SELECT lead_mgmt.assign(:ada, 1);
SELECT lead_mgmt.run_maintenance();
SELECT lead_mgmt._record_deal_won(:ada, 999, now(), 1);
SELECT lead_mgmt._enroll(ARRAY[:ada]::bigint[], ARRAY[1]::bigint[], ARRAY[now()]);
SELECT lead_mgmt.grant_admin('lm_test_writer');
-- _segment_funnel and _group_funnel, which anyone may run, read as their
-- caller: the writer may not read the stages, so they count nothing
SELECT * FROM lead_mgmt._segment_funnel('-infinity', 'infinity');
SELECT * FROM lead_mgmt._group_funnel('-infinity', 'infinity', 'channel');
-- nor can the internal trigger functions be attached to a table of the
-- writer's own, to run them as the extension's owner on forged rows
CREATE TEMP TABLE forged (id bigint);
CREATE TRIGGER t AFTER DELETE ON forged REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._leads_after_delete();
RESET ROLE;

-------------------------------------------------------------------------
-- An analyst
-------------------------------------------------------------------------
SET ROLE lm_test_analyst;
-- every view (they are security_invoker: the analyst's own rights on the
-- tables apply) and funnel()
SELECT leads, iql, mql, sql, customers, visitors FROM lead_mgmt.funnel_summary;
SELECT stage, leads FROM lead_mgmt.stage_counts;
SELECT name, open_leads, leads_assigned, deals_won, revenue FROM lead_mgmt.rep_performance ORDER BY rep_id;
SELECT segment, count(*) FROM lead_mgmt.lead_segments GROUP BY 1;
SELECT count(*) AS rows_read FROM (
    SELECT 1 FROM lead_mgmt.funnel_by_month UNION ALL SELECT 1 FROM lead_mgmt.acquisition_costs
    UNION ALL SELECT 1 FROM lead_mgmt.sales_by_month UNION ALL SELECT 1 FROM lead_mgmt.customer_ltv
    UNION ALL SELECT 1 FROM lead_mgmt.ltv_summary UNION ALL SELECT 1 FROM lead_mgmt.sales_cycle
    UNION ALL SELECT 1 FROM lead_mgmt.unknown_campaigns UNION ALL SELECT 1 FROM lead_mgmt.unassigned
    UNION ALL SELECT 1 FROM lead_mgmt.followups UNION ALL SELECT 1 FROM lead_mgmt._lead_reach) x;
SELECT group_value, leads, customers FROM lead_mgmt.funnel(NULL, NULL, 'owner');
SELECT group_value, leads, customers FROM lead_mgmt.funnel(NULL, NULL, 'segment');
-- leads without contact data; events, deals, rules, history
SELECT id, company, region, score, stage FROM lead_mgmt.leads ORDER BY id;
SELECT count(*) AS events FROM lead_mgmt.events;
SELECT sum(amount) AS won FROM lead_mgmt.deals WHERE status = 'won';
SELECT count(*) AS rules FROM lead_mgmt.scoring_rules;
-- contact data is not the analyst's (nor a SELECT * of leads, nor
-- explain_score(), which reads the whole row)
SELECT email FROM lead_mgmt.leads;
SELECT * FROM lead_mgmt.leads;
SELECT * FROM lead_mgmt.explain_score(:ada);
-- nothing is written
SELECT lead_mgmt.capture('{"email": "x@example.com"}');
SELECT lead_mgmt.track(:ada, 'email_opened');
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (:ada, 'email_opened');
INSERT INTO lead_mgmt.deals (lead_id, amount) VALUES (:ada, 1);
UPDATE lead_mgmt.leads SET company = 'x' WHERE id = :ada;
UPDATE lead_mgmt.scoring_rules SET points = 0;
UPDATE lead_mgmt.settings SET value = '1 day' WHERE name = 'default_sla';
SELECT lead_mgmt.rescore(:ada);
SELECT * FROM lead_mgmt.claim_touches('analyst');
RESET ROLE;
-- with contact_data the analyst reads the whole row; without, not again
SELECT lead_mgmt.grant_analyst('lm_test_analyst', contact_data => true);
SET ROLE lm_test_analyst;
SELECT email FROM lead_mgmt.leads ORDER BY id;
SELECT sum(points) AS explained FROM lead_mgmt.explain_score(:ada);
RESET ROLE;
SELECT lead_mgmt.grant_analyst('lm_test_analyst');
SET ROLE lm_test_analyst;
SELECT email FROM lead_mgmt.leads;
RESET ROLE;

-------------------------------------------------------------------------
-- An admin
-------------------------------------------------------------------------
SET ROLE lm_test_admin;
-- configuration: rules, stages, segments, settings, reps, assignment
-- rules, sequences, campaigns; changes to scoring apply to every lead at
-- once (the rescore runs as the extension's owner)
INSERT INTO lead_mgmt.scoring_rules (name, event_type, points) VALUES ('demo', 'demo_requested', 40);
SELECT email, score, stage FROM lead_mgmt.leads ORDER BY id;
UPDATE lead_mgmt.scoring_rules SET points = 45 WHERE name = 'demo';
UPDATE lead_mgmt.stages SET min_score = 35 WHERE name = 'mql';
INSERT INTO lead_mgmt.event_types (name, category) VALUES ('webinar_registered', 'web');
INSERT INTO lead_mgmt.segments (name, condition) VALUES ('emea', '{"field": "region", "op": "=", "value": "EMEA"}');
UPDATE lead_mgmt.segments SET active = false WHERE name = 'engaged';
UPDATE lead_mgmt.settings SET value = '3 days' WHERE name = 'default_sla';
INSERT INTO lead_mgmt.reps (name, regions) VALUES ('Dee', '{EMEA}') RETURNING id AS dee \gset
INSERT INTO lead_mgmt.assignment_rules (name, priority, method) VALUES ('fallback', 100, 'least_loaded');
INSERT INTO lead_mgmt.sequences (name, enroll_condition) VALUES ('trial', '{"event": "trial_started"}');
INSERT INTO lead_mgmt.sequence_steps (sequence_id, step, action)
SELECT id, 1, 'trial tips' FROM lead_mgmt.sequences WHERE name = 'trial';
INSERT INTO lead_mgmt.campaigns (code, channel) VALUES ('seo', 'organic');
INSERT INTO lead_mgmt.campaign_daily (campaign, day, visitors) VALUES ('seo', '2026-01-10', 40);
DELETE FROM lead_mgmt.campaign_daily WHERE campaign = 'seo';
-- maintenance, by hand
SELECT lead_mgmt.rescore() AS rescored;
SELECT lead_mgmt.refresh_segments() AS membership_changes;
SELECT lead_mgmt.run_maintenance(now() + interval '31 days') - 'at' AS maintenance;
SELECT lead_mgmt.set_stage(:ada, 'mql', 'call went well');
SELECT lead_mgmt.assign(:ada, :dee);
SELECT lead_mgmt.redistribute(:dee) AS moved;
SELECT lead_mgmt.disqualify(:ada, 'student');
UPDATE lead_mgmt.leads SET disqualified_at = NULL, disqualified_reason = NULL WHERE id = :ada;
SELECT lead_mgmt.load_example_rules() AS added;
SELECT l.email, l.stage, r.name AS owner, l.disqualified_at IS NULL AS qualified
  FROM lead_mgmt.leads l LEFT JOIN lead_mgmt.reps r ON r.id = l.owner_id ORDER BY l.id;
SELECT to_stage, reason, note FROM lead_mgmt.stage_history WHERE lead_id = :ada ORDER BY id;
-- ... and nothing more: no data writes, no history forged, no computed
-- column, no internal state
INSERT INTO lead_mgmt.leads (email) VALUES ('eve@example.com');
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (:ada, 'email_opened');
UPDATE lead_mgmt.leads SET score = 1000 WHERE id = :ada;
UPDATE lead_mgmt.leads SET email = 'mallory@example.com' WHERE id = :ada;
DELETE FROM lead_mgmt.leads WHERE id = :ada;
INSERT INTO lead_mgmt.stage_history (lead_id, to_stage, changed_at, reason) VALUES (:ada, 'customer', now(), 'manual');
INSERT INTO lead_mgmt.assignments (lead_id, rep_id, method, assigned_at, reason) VALUES (:ada, 1, 'manual', now(), 'manual');
UPDATE lead_mgmt.rotation_state SET cursor = NULL;
UPDATE lead_mgmt.touches SET outcome = 'sent';
INSERT INTO lead_mgmt.enrollments (lead_id, sequence_id, enrolled_at) VALUES (:ada, 1, now());
UPDATE lead_mgmt.engine_state SET rules_version = 0;
TRUNCATE lead_mgmt.scoring_rules;
SELECT lead_mgmt.capture('{"email": "x@example.com"}');
SELECT * FROM lead_mgmt.claim_touches('admin');
SELECT lead_mgmt._exit(ARRAY[:ada]::bigint[], ARRAY[0]::bigint[], ARRAY['forged'], ARRAY[now()]);
SELECT lead_mgmt.enable_rep_isolation();
ALTER TABLE lead_mgmt.scoring_rules ADD COLUMN x int;
RESET ROLE;

-- revoke_access() takes it all away
SELECT lead_mgmt.revoke_access('lm_test_analyst');
SET ROLE lm_test_analyst;
SELECT count(*) FROM lead_mgmt.stages;
SELECT lead_mgmt.funnel(NULL, NULL);
RESET ROLE;

-------------------------------------------------------------------------
-- Rep isolation
-------------------------------------------------------------------------
-- Ann's database role is lm_test_rep_a, Ben's lm_test_rep_b; Alice logs in
-- as a member of lm_test_rep_a.  Reps get the writer grants without the
-- touch queue, and the analyst grants.
CREATE ROLE lm_test_rep_a;
CREATE ROLE lm_test_rep_b;
CREATE ROLE lm_test_alice LOGIN IN ROLE lm_test_rep_a;
SELECT id AS ann FROM lead_mgmt.reps WHERE name = 'Ann' \gset
SELECT id AS ben FROM lead_mgmt.reps WHERE name = 'Ben' \gset
SELECT lead_mgmt.grant_writer('lm_test_rep_a', touch_queue => false);
SELECT lead_mgmt.grant_analyst('lm_test_rep_a');
SELECT lead_mgmt.grant_writer('lm_test_rep_b');     -- the queue, by mistake
SELECT lead_mgmt.grant_analyst('lm_test_rep_b');
-- two more leads: Dana is Ann's, Carl nobody's yet
SET ROLE lm_test_writer;
SELECT lead_mgmt.capture('{"email": "dana@example.com", "region": "EMEA"}') AS dana \gset
SELECT lead_mgmt.capture('{"email": "carl@example.com", "region": "NA"}') AS carl \gset
RESET ROLE;
SELECT lead_mgmt.assign(:dana, :ann);
INSERT INTO lead_mgmt.deals (lead_id, amount, rep_id) VALUES (:ada, 500, :ann), (:carl, 700, NULL);
SELECT l.email, r.name AS owner FROM lead_mgmt.leads l LEFT JOIN lead_mgmt.reps r ON r.id = l.owner_id ORDER BY l.id;

-- enable_rep_isolation() warns about reps it cannot hold to their leads
SELECT lead_mgmt.enable_rep_isolation();
SELECT lead_mgmt.grant_writer('lm_test_rep_b', touch_queue => false);
SELECT lead_mgmt.enable_rep_isolation();
SELECT rep_isolation FROM lead_mgmt.security_state;
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
  FROM pg_class c WHERE c.relnamespace = 'lead_mgmt'::regnamespace AND c.relrowsecurity
 ORDER BY c.relname COLLATE "C";

-- Ann sees and changes only her own leads, their events and deals
SET ROLE lm_test_rep_a;
SELECT id, email, stage FROM lead_mgmt.leads ORDER BY id;
SELECT lead_id, count(*) AS events FROM lead_mgmt.events GROUP BY 1 ORDER BY 1;
SELECT lead_id, amount, status FROM lead_mgmt.deals ORDER BY id;
SELECT name FROM lead_mgmt.reps;
SELECT count(*) AS others_history FROM lead_mgmt.stage_history WHERE lead_id NOT IN (:ada, :dana);
SELECT count(*) AS others_assignments FROM lead_mgmt.assignments WHERE lead_id NOT IN (:ada, :dana);
SELECT count(*) AS others_touches FROM lead_mgmt.touches WHERE lead_id NOT IN (:ada, :dana);
-- ... through the views too (security_invoker)
SELECT leads, iql, mql, sql, customers FROM lead_mgmt.funnel_summary;
SELECT name, open_leads, leads_assigned, deals_won FROM lead_mgmt.rep_performance;
SELECT stage, leads FROM lead_mgmt.stage_counts WHERE leads > 0;
SELECT lead_id, segment FROM lead_mgmt.lead_segments ORDER BY 1, 2;
SELECT group_value, leads FROM lead_mgmt.funnel(NULL, NULL, 'owner');
SELECT sum(points) AS explained FROM lead_mgmt.explain_score(:ada);
SELECT * FROM lead_mgmt.explain_score(:bob);
-- her own leads take events, deals and edits; what lead_mgmt writes in
-- return (history, segments, enrolment, the purchase) is not blocked
SELECT lead_mgmt.track(:dana, 'email_subscribed') IS NOT NULL AS tracked;
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (:ada, 'email_opened');
UPDATE lead_mgmt.leads SET company = 'Dana GmbH' WHERE id = :dana;
UPDATE lead_mgmt.deals SET status = 'won' WHERE lead_id = :ada;
SELECT l.email, l.stage, l.company,
       (SELECT count(*) FROM lead_mgmt.touches t WHERE t.lead_id = l.id) AS touches
  FROM lead_mgmt.leads l ORDER BY l.id;
-- Ben's and nobody's leads are out of reach: invisible, not updated, and
-- no event or deal can be added to them
SELECT lead_mgmt.track(:bob, 'email_opened');
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (:bob, 'email_opened');
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (:carl, 'email_opened');
INSERT INTO lead_mgmt.deals (lead_id, amount) VALUES (:bob, 1);
WITH u AS (UPDATE lead_mgmt.leads SET company = 'mine now' WHERE id IN (:bob, :carl) RETURNING 1)
SELECT count(*) AS leads_updated FROM u;
WITH u AS (UPDATE lead_mgmt.deals SET amount = 0 WHERE lead_id IN (:bob, :carl) RETURNING 1)
SELECT count(*) AS deals_updated FROM u;
-- nor can her deal move to Ben's lead
INSERT INTO lead_mgmt.deals (lead_id, amount) VALUES (:dana, 10) RETURNING id AS dana_deal \gset
UPDATE lead_mgmt.deals SET lead_id = :bob WHERE id = :dana_deal;
-- nor be credited to Ben, whose record the performance rule reads (0.2)
INSERT INTO lead_mgmt.deals (lead_id, amount, status, rep_id) VALUES (:dana, 10, 'lost', :ben);
UPDATE lead_mgmt.deals SET rep_id = :ben WHERE id = :dana_deal;
UPDATE lead_mgmt.deals SET rep_id = :ann WHERE id = :dana_deal;
-- reps do not create leads: applications capture them, rules assign them
SELECT lead_mgmt.capture('{"email": "new@example.com"}');
RESET ROLE;

-- Alice, a member of Ann's role, is held to Ann's leads
SET ROLE lm_test_alice;
SELECT id, email FROM lead_mgmt.leads ORDER BY id;
RESET ROLE;
-- Ben sees only Bob; roles that are not reps see everything granted
SET ROLE lm_test_rep_b;
SELECT id, email FROM lead_mgmt.leads ORDER BY id;
SELECT count(*) AS events_of_others FROM lead_mgmt.events WHERE lead_id <> :bob;
RESET ROLE;
SET ROLE lm_test_writer;
SELECT count(*) AS leads, (SELECT count(*) FROM lead_mgmt.deals) AS deals FROM lead_mgmt.leads;
RESET ROLE;
SET ROLE lm_test_admin;
SELECT leads, customers FROM lead_mgmt.funnel_summary;
-- lead_mgmt's own writes are not blocked by the policies: Ann leaves,
-- her open lead goes to Ben (the only rep left)
UPDATE lead_mgmt.reps SET active = false WHERE id <> :ben;
SELECT lead_mgmt.redistribute(:ann) AS moved;
RESET ROLE;
SET ROLE lm_test_rep_a;
SELECT count(*) AS ann_sees FROM lead_mgmt.leads;
RESET ROLE;
SET ROLE lm_test_rep_b;
SELECT id, email FROM lead_mgmt.leads ORDER BY id;
RESET ROLE;

-- Off again: grants alone decide
SELECT lead_mgmt.disable_rep_isolation();
SET ROLE lm_test_rep_a;
SELECT count(*) AS ann_sees FROM lead_mgmt.leads;
RESET ROLE;
SELECT rep_isolation, (SELECT count(*) FROM pg_class
                        WHERE relnamespace = 'lead_mgmt'::regnamespace AND relrowsecurity) AS tables_under_rls,
       (SELECT count(*) FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
         WHERE c.relnamespace = 'lead_mgmt'::regnamespace) AS policies
  FROM lead_mgmt.security_state;

-- The one-row tables lead_mgmt runs on cannot be emptied by TRUNCATE, not
-- even by the superuser (0.2); their row is still there.
TRUNCATE lead_mgmt.security_state;
TRUNCATE lead_mgmt.engine_state;
TRUNCATE lead_mgmt.engine_state, lead_mgmt.security_state, lead_mgmt.settings;
SELECT (SELECT count(*) FROM lead_mgmt.security_state) AS security_state_rows,
       (SELECT count(*) FROM lead_mgmt.engine_state) AS engine_state_rows,
       (SELECT count(*) FROM lead_mgmt.settings) AS settings_rows;
-- Tables whose rows are not checked one by one may be truncated: settings
-- then fall back to their documented defaults.
TRUNCATE lead_mgmt.settings;
SELECT count(*) AS settings_rows, lead_mgmt._setting_interval('touch_lease') AS touch_lease
  FROM lead_mgmt.settings;
INSERT INTO lead_mgmt.settings (name, value) VALUES
    ('mql_stall_after', '14 days'), ('winback_after', '30 days'),
    ('default_sla', '2 days'), ('touch_lease', '5 minutes');

-- With every kind of user granted: no role but the owner may write
-- lead_mgmt's internal state -- internal tables, computed columns of
-- leads, points of events.  Expected: none.
SELECT r.rolname, t.rel, p.priv
  FROM pg_roles r,
       unnest(ARRAY['stage_history', 'segment_members', 'assignments', 'rotation_state',
                    'enrollments', 'touches', 'engine_state', 'security_state']) t(rel),
       unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p(priv)
 WHERE r.rolname LIKE 'lm\_test\_%'
   AND CASE WHEN p.priv IN ('INSERT', 'UPDATE')
            THEN has_any_column_privilege(r.oid, 'lead_mgmt.' || t.rel, p.priv)
            ELSE has_table_privilege(r.oid, 'lead_mgmt.' || t.rel, p.priv) END
UNION ALL
SELECT r.rolname, 'leads.' || a.attname, p.priv
  FROM pg_roles r, pg_attribute a, unnest(ARRAY['INSERT', 'UPDATE']) p(priv)
 WHERE r.rolname LIKE 'lm\_test\_%'
   AND a.attrelid = 'lead_mgmt.leads'::regclass AND a.attnum > 0 AND NOT a.attisdropped
   AND a.attname NOT IN (SELECT unnest(lead_mgmt._lead_input_columns()))
   AND a.attname NOT IN ('disqualified_at', 'disqualified_reason')
   AND has_column_privilege(r.oid, a.attrelid, a.attname, p.priv)
UNION ALL
SELECT r.rolname, 'events.points', p.priv
  FROM pg_roles r, unnest(ARRAY['INSERT', 'UPDATE']) p(priv)
 WHERE r.rolname LIKE 'lm\_test\_%'
   AND has_column_privilege(r.oid, 'lead_mgmt.events', 'points', p.priv);

-------------------------------------------------------------------------
-- Hostile objects
-------------------------------------------------------------------------
-- A role that may create in public plants functions, operators, an
-- aggregate and tables named like what the extension uses.  Every trap
-- records its call in public.hijacked and returns a wrong answer.
CREATE ROLE lm_test_hostile;
GRANT CREATE ON SCHEMA public TO lm_test_hostile;
SET ROLE lm_test_hostile;
CREATE TABLE public.hijacked (what text, by_whom name DEFAULT current_user);
GRANT INSERT, SELECT ON public.hijacked TO PUBLIC;
CREATE FUNCTION public.lm_trap(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.hijacked (what) VALUES (what);
END;
$$;
-- functions the extension calls
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('lower(text)'); RETURN 'hijacked'; END $$;
CREATE FUNCTION public.btrim(text) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('btrim(text)'); RETURN 'hijacked'; END $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('now()'); RETURN 'epoch'; END $$;
CREATE FUNCTION public.jsonb_typeof(jsonb) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('jsonb_typeof(jsonb)'); RETURN 'object'; END $$;
CREATE FUNCTION public.jsonb_build_object(text, bigint, text, numeric) RETURNS jsonb LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('jsonb_build_object(...)'); RETURN '{}'; END $$;
CREATE FUNCTION public.unnest(bigint[]) RETURNS SETOF bigint LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('unnest(bigint[])'); END $$;
CREATE FUNCTION public.format(text, text) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('format(text, text)'); RETURN 'hijacked'; END $$;
CREATE FUNCTION public.pg_has_role(name, oid, text) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('pg_has_role(name, oid, text)'); RETURN false; END $$;
CREATE FUNCTION public.lm_count_step(bigint) RETURNS bigint LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('count(*)'); RETURN 41; END $$;
CREATE AGGREGATE public.count(*) (sfunc = public.lm_count_step, stype = bigint, initcond = '0');
-- operators the extension uses
CREATE FUNCTION public.lm_eq_text(text, text) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('text = text'); RETURN true; END $$;
CREATE OPERATOR public.= (leftarg = text, rightarg = text, function = public.lm_eq_text);
CREATE FUNCTION public.lm_ne_text(text, text) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('text <> text'); RETURN false; END $$;
CREATE OPERATOR public.<> (leftarg = text, rightarg = text, function = public.lm_ne_text);
CREATE FUNCTION public.lm_eq_int8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('bigint = bigint'); RETURN true; END $$;
CREATE OPERATOR public.= (leftarg = bigint, rightarg = bigint, function = public.lm_eq_int8);
CREATE FUNCTION public.lm_eq_int84(bigint, integer) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('bigint = integer'); RETURN true; END $$;
CREATE OPERATOR public.= (leftarg = bigint, rightarg = integer, function = public.lm_eq_int84);
CREATE FUNCTION public.lm_pl_int8(bigint, bigint) RETURNS bigint LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('bigint + bigint'); RETURN 0; END $$;
CREATE OPERATOR public.+ (leftarg = bigint, rightarg = bigint, function = public.lm_pl_int8);
CREATE FUNCTION public.lm_le_tstz(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('timestamptz <= timestamptz'); RETURN true; END $$;
CREATE OPERATOR public.<= (leftarg = timestamptz, rightarg = timestamptz, function = public.lm_le_tstz);
CREATE FUNCTION public.lm_exists(jsonb, text) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('jsonb ? text'); RETURN true; END $$;
CREATE OPERATOR public.? (leftarg = jsonb, rightarg = text, function = public.lm_exists);
CREATE FUNCTION public.lm_get_text(jsonb, text) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('jsonb ->> text'); RETURN 'hijacked'; END $$;
CREATE OPERATOR public.->> (leftarg = jsonb, rightarg = text, function = public.lm_get_text);
CREATE FUNCTION public.lm_cat(text, text) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM public.lm_trap('text || text'); RETURN 'hijacked'; END $$;
CREATE OPERATOR public.|| (leftarg = text, rightarg = text, function = public.lm_cat);
-- tables named like the extension's
CREATE TABLE public.leads (id bigint, email text, score integer, owner_id bigint);
CREATE TABLE public.events (id bigint, lead_id bigint, event_type text);
CREATE TABLE public.stages (name text, rank integer);
CREATE TABLE public.reps (id bigint, db_role name);
GRANT ALL ON public.leads, public.events, public.stages, public.reps TO PUBLIC;
RESET ROLE;

-- The traps work: with public before pg_catalog, plain SQL falls into them.
SET search_path = public, pg_catalog, lead_mgmt;
SELECT lower('ABC') AS lower, 'a' = 'b' AS a_is_b, 1::bigint + 1::bigint AS two, count(*) AS one FROM (VALUES (1)) v;
RESET search_path;
SELECT what FROM public.hijacked ORDER BY what COLLATE "C";
TRUNCATE public.hijacked;
-- Belt and braces: even without its pinned search_path, a trigger function
-- of lead_mgmt does not fall into them, because the SQL it runs qualifies
-- every operator (reps_validate adds a rep's leads and assignments with
-- OPERATOR(pg_catalog.+) before a rep may be deleted).  Expected: no call.
-- (The ALTER is undone by the rollback.)
BEGIN;
ALTER FUNCTION lead_mgmt._config_validate() RESET search_path;
INSERT INTO lead_mgmt.reps (name) VALUES ('Temp') RETURNING id AS temp_rep \gset
SET LOCAL search_path = public, pg_catalog, lead_mgmt;
DELETE FROM lead_mgmt.reps WHERE id OPERATOR(pg_catalog.=) :temp_rep;
RESET search_path;
SELECT what FROM public.hijacked ORDER BY what COLLATE "C";
ROLLBACK;
SELECT count(*) AS calls FROM public.hijacked;

-- Now use the extension with the traps first in search_path, as each kind
-- of user, with temporary tables named like the extension's besides (the
-- session's temporary schema is searched first for tables).
SET search_path = public, pg_catalog, lead_mgmt;
SELECT lead_mgmt.grant_analyst('lm_test_analyst');
SELECT lead_mgmt.enable_rep_isolation();
UPDATE lead_mgmt.reps SET active = true WHERE id OPERATOR(pg_catalog.=) :ann;
SET ROLE lm_test_writer;
SET search_path = public, pg_catalog, lead_mgmt;
CREATE TEMP TABLE leads (id bigint, email text, score integer, owner_id bigint);
CREATE TEMP TABLE events (id bigint, lead_id bigint, event_type text);
CREATE TEMP TABLE stages (name text, rank integer);
SELECT lead_mgmt.capture('{"email": "Hal@Example.com", "region": "NA", "first_name": "Hal"}') AS hal \gset
SELECT lead_mgmt.capture('{"email": "hal@example.COM", "company": "Hal Inc", "attributes": {"plan": "pro"}}') AS hal_again \gset
SELECT lead_mgmt.capture('{"external_id": "crm-9", "email": "ivy@example.com", "region": "EMEA"}') AS ivy \gset
SELECT lead_mgmt.track(:hal, 'email_subscribed') AS e1 \gset
SELECT lead_mgmt.track(:hal, 'pricing_page_visited', '{"plan": "pro"}', dedupe_key => 'pv-hal') AS e2 \gset
SELECT lead_mgmt.track(:hal, 'pricing_page_visited', '{"plan": "pro"}', dedupe_key => 'pv-hal') AS e2_again \gset
INSERT INTO lead_mgmt.events (lead_id, event_type, properties) VALUES
    (:hal, 'demo_requested', '{}'), (:ivy, 'email_opened', '{}'), (:ivy, 'trial_started', '{}');
UPDATE lead_mgmt.leads SET company_size = 500 WHERE id OPERATOR(pg_catalog.=) :ivy;
INSERT INTO lead_mgmt.deals (lead_id, amount, rep_id) VALUES (:hal, 900, :ben) RETURNING id AS hal_deal \gset
UPDATE lead_mgmt.deals SET status = 'won' WHERE id OPERATOR(pg_catalog.=) :hal_deal;
UPDATE lead_mgmt.deals SET amount = 950 WHERE id OPERATOR(pg_catalog.=) :hal_deal;
SET lead_mgmt.unknown_event_types = register;
SELECT lead_mgmt.track(:ivy, 'webinar_joined') AS e_new_type \gset
-- a sales touch dated later, which the assignment of ivy below finds
SELECT lead_mgmt.track(:ivy, 'rep_contacted', '{}',
                       pg_catalog.now() OPERATOR(pg_catalog.+) '1 hour'::pg_catalog.interval) AS e_touch \gset
RESET lead_mgmt.unknown_event_types;
SELECT pg_catalog.array_agg(c.touch_id) AS claimed FROM lead_mgmt.claim_touches('sender-2', 10) c \gset
SELECT pg_catalog.count(lead_mgmt.complete_touch(t.id)) AS next_touches
  FROM pg_catalog.unnest(:'claimed'::pg_catalog.int8[]) t(id) \gset
RESET ROLE;
SET ROLE lm_test_admin;
SET search_path = public, pg_catalog, lead_mgmt;
INSERT INTO lead_mgmt.scoring_rules (name, event_type, properties, points)
VALUES ('pro pricing', 'pricing_page_visited', '{"plan": "pro"}', 7);
INSERT INTO lead_mgmt.scoring_rules (name, condition, points)
VALUES ('mid-size', '{"field": "company_size", "op": ">=", "value": 200}', 3);
UPDATE lead_mgmt.stages SET min_score = 30 WHERE name OPERATOR(pg_catalog.=) 'mql';
INSERT INTO lead_mgmt.segments (name, condition)
VALUES ('pro plan', '{"field": "attributes.plan", "op": "=", "value": "pro"}');
INSERT INTO lead_mgmt.reps (name, regions) VALUES ('Temp', '{}') RETURNING id AS temp_rep \gset
DELETE FROM lead_mgmt.reps WHERE id OPERATOR(pg_catalog.=) :temp_rep;
SELECT lead_mgmt.rescore() AS rescored \gset
SELECT lead_mgmt.refresh_segments() AS repaired \gset
SELECT lead_mgmt.run_maintenance(pg_catalog.now() OPERATOR(pg_catalog.+) '3 days'::pg_catalog.interval) AS maint \gset
SELECT lead_mgmt.set_stage(:ivy, 'sql', 'hostile path');
SELECT lead_mgmt.assign(:ivy, :ann);
SELECT lead_mgmt.disqualify(:carl, 'test');
SELECT pg_catalog.sum(points) AS hal_explained FROM lead_mgmt.explain_score(:hal) \gset
SELECT lead_mgmt.evaluate('{"all": [{"field": "email", "op": "=", "value": "HAL@example.com"}, {"event": "demo_requested"}]}', :hal) AS hal_evaluated \gset
RESET ROLE;
SET ROLE lm_test_analyst;
SET search_path = public, pg_catalog, lead_mgmt;
SELECT leads AS funnel_leads, customers AS funnel_customers FROM lead_mgmt.funnel_summary \gset
SELECT pg_catalog.sum(open_leads) AS open_leads FROM lead_mgmt.rep_performance \gset
SELECT pg_catalog.count(*) AS followups FROM lead_mgmt.followups \gset
SELECT pg_catalog.count(*) AS unassigned FROM lead_mgmt.unassigned \gset
SELECT pg_catalog.count(*) AS memberships FROM lead_mgmt.lead_segments \gset
SELECT pg_catalog.sum(leads) AS funnel_fn_leads FROM lead_mgmt.funnel(NULL, NULL, 'channel') \gset
RESET ROLE;
SET ROLE lm_test_rep_b;
SET search_path = public, pg_catalog, lead_mgmt;
SELECT pg_catalog.string_agg(email, ', ' ORDER BY id) AS ben_sees FROM lead_mgmt.leads \gset
SELECT lead_mgmt.track(:hal, 'rep_contacted', pg_catalog.jsonb_build_object('rep_id', :ben)) AS e3 \gset
RESET ROLE;
-- the superuser edits an event and deletes a lead (with its events)
UPDATE lead_mgmt.events SET occurred_at = occurred_at OPERATOR(pg_catalog.-) '1 hour'::pg_catalog.interval
 WHERE id OPERATOR(pg_catalog.=) :e1;
SELECT lead_mgmt.capture('{"email": "tmp@example.com"}') AS tmp \gset
SELECT lead_mgmt.track(:tmp, 'email_opened') AS e_tmp \gset
DELETE FROM lead_mgmt.leads WHERE id OPERATOR(pg_catalog.=) :tmp;
SELECT lead_mgmt.disable_rep_isolation();
RESET search_path;

-- Not one trap was sprung, and the results are right.
SELECT count(*) AS calls FROM public.hijacked;
SELECT :hal = :hal_again AS hal_merged, :e2 = :e2_again AS deduplicated,
       cardinality(:'claimed'::bigint[]) AS claimed, :next_touches AS next_steps_queued,
       :rescored AS rescored, :repaired AS segments_repaired,
       (:'maint')::jsonb - 'at' AS maintenance;
SELECT l.email, l.company, l.score, l.stage, r.name AS owner, l.disqualified_at IS NOT NULL AS disqualified,
       (SELECT string_agg(s.name, ', ' ORDER BY s.name) FROM lead_mgmt.segments s
         WHERE s.id = ANY (l.segment_ids)) AS segments
  FROM lead_mgmt.leads l LEFT JOIN lead_mgmt.reps r ON r.id = l.owner_id ORDER BY l.id;
-- every score is what explain_score() explains, and rescore() changes nothing
SELECT count(*) AS unexplained FROM lead_mgmt.leads l
 WHERE l.score IS DISTINCT FROM (SELECT coalesce(sum(points), 0) FROM lead_mgmt.explain_score(l.id));
SELECT e.event_type, e.points, e.properties FROM lead_mgmt.events e WHERE e.lead_id = :hal ORDER BY e.id;
SELECT (SELECT count(*) FROM lead_mgmt.events WHERE lead_id = :tmp) AS tmp_events,
       (SELECT description FROM lead_mgmt.event_types WHERE name = 'webinar_joined') AS registered_type;
SELECT d.amount, d.status, d.closed_at IS NOT NULL AS closed FROM lead_mgmt.deals d WHERE d.id = :hal_deal;
SELECT a.reason, r.name FROM lead_mgmt.assignments a JOIN lead_mgmt.reps r ON r.id = a.rep_id
 WHERE a.lead_id IN (:hal, :ivy) ORDER BY a.id;
SELECT l.email, t.step, t.action, t.claimed_by, t.outcome
  FROM lead_mgmt.touches t JOIN lead_mgmt.leads l ON l.id = t.lead_id ORDER BY t.id;
SELECT :funnel_leads AS funnel_leads, :funnel_customers AS funnel_customers, :open_leads AS open_leads,
       :followups AS followups, :unassigned AS unassigned, :memberships AS memberships,
       :funnel_fn_leads AS funnel_fn_leads, :hal_explained AS hal_explained, :'hal_evaluated' AS hal_evaluated,
       :'ben_sees' AS ben_sees;

-------------------------------------------------------------------------
-- Installing into a schema that others control is refused
-------------------------------------------------------------------------
-- (DROP EXTENSION leaves the schema lead_mgmt behind: CREATE EXTENSION
-- made it, it is not a member.)
DROP EXTENSION lead_mgmt;
GRANT CREATE ON SCHEMA lead_mgmt TO lm_test_hostile;
CREATE EXTENSION lead_mgmt;
REVOKE CREATE ON SCHEMA lead_mgmt FROM lm_test_hostile;
ALTER SCHEMA lead_mgmt OWNER TO lm_test_hostile;
CREATE EXTENSION lead_mgmt;
ALTER SCHEMA lead_mgmt OWNER TO CURRENT_USER;
CREATE FUNCTION lead_mgmt.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT 'hijacked' $$;
CREATE EXTENSION lead_mgmt;
DROP FUNCTION lead_mgmt.lower(text);
CREATE EXTENSION lead_mgmt;
SELECT extname FROM pg_extension WHERE extname = 'lead_mgmt';

-- the roles go (they are cluster-wide)
DROP OWNED BY lm_test_writer, lm_test_analyst, lm_test_admin, lm_test_rep_a, lm_test_rep_b,
    lm_test_alice, lm_test_hostile;
DROP ROLE lm_test_writer, lm_test_analyst, lm_test_admin, lm_test_rep_a, lm_test_rep_b,
    lm_test_alice, lm_test_hostile;
