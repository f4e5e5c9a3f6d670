-- Distribution: sales-ready leads reach the right rep in the same
-- transaction.
--
-- When a lead enters a stage with assign_on_entry (sql by default) and has
-- no owner, the active assignment rules are tried by priority; the first
-- whose condition holds and whose pool has an eligible rep assigns, by its
-- method.  Every assignment is kept in lead_mgmt.assignments.
SET client_min_messages = warning;
SET timezone = 'UTC';
-- every story starts from a fresh install
DROP EXTENSION lead_mgmt;
CREATE EXTENSION lead_mgmt;

INSERT INTO lead_mgmt.reps (name, email, regions, industries, seniority, weight, capacity) VALUES
    ('Ana',  'ana@acme.test',  '{EMEA}',        '{fintech,banking}', 'enterprise', 1, NULL),
    ('Bo',   'bo@acme.test',   '{EMEA,NA}',     '{retail}',          'senior',     2, NULL),
    ('Cy',   'cy@acme.test',   '{NA}',          '{fintech}',         'junior',     1, NULL),
    ('Di',   'di@acme.test',   '{APAC}',        '{}',                'junior',     3, 2);

-- A helper: make a lead sales ready by a demo request.
CREATE FUNCTION pg_temp.sales_ready(email text, region text DEFAULT NULL, industry text DEFAULT NULL,
                                    size int DEFAULT NULL) RETURNS bigint LANGUAGE sql AS $$
    SELECT lead_mgmt.track(lead_mgmt.capture(jsonb_build_object('email', email, 'region', region,
                                  'industry', industry, 'company_size', size)), 'demo_requested');
    SELECT id FROM lead_mgmt.leads WHERE leads.email = sales_ready.email;
$$;
CREATE FUNCTION pg_temp.owner(lead bigint) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(r.name, '(nobody)') FROM lead_mgmt.leads l LEFT JOIN lead_mgmt.reps r ON r.id = l.owner_id
     WHERE l.id = lead;
$$;

-- Without rules nobody is assigned: the lead waits in lead_mgmt.unassigned.
SELECT pg_temp.owner(pg_temp.sales_ready('early@x.test'));
SELECT count(*) AS waiting FROM lead_mgmt.unassigned;

-- Round robin over everyone: each rep in turn, by id.
INSERT INTO lead_mgmt.assignment_rules (name, priority, method) VALUES ('everyone', 100, 'round_robin');
SELECT pg_temp.owner(pg_temp.sales_ready('rr' || i || '@x.test')) AS owner FROM generate_series(1, 6) i;

-- Enterprise deals in EMEA go to enterprise reps who cover the region.
INSERT INTO lead_mgmt.assignment_rules (name, priority, condition, method, match_region, min_seniority) VALUES
    ('enterprise EMEA', 10, '{"field": "company_size", "op": ">=", "value": 1000}', 'round_robin', true, 'enterprise');
SELECT pg_temp.owner(pg_temp.sales_ready('big@x.test', 'EMEA', 'retail', 5000)) AS big_emea;
-- ... a big company elsewhere has no enterprise rep: falls through to everyone.
SELECT pg_temp.owner(pg_temp.sales_ready('big@y.test', 'NA', 'retail', 5000)) AS big_na;

-- Round robin takes turns within each lead's pool.  With match_region the
-- pool depends on the lead's territory: EMEA leads alternate between the
-- EMEA reps and NA leads between the NA reps, however the two kinds of
-- lead interleave (one cursor for the whole rule would hand every lead of
-- a territory to its first rep).  The rule remembers which rep it chose
-- least recently; a rep it never chose has the next turn.
BEGIN;
UPDATE lead_mgmt.assignment_rules SET active = false;
INSERT INTO lead_mgmt.reps (name, regions) VALUES ('Eve', '{EMEA}'), ('Nat', '{NA}'), ('Ned', '{NA}');
INSERT INTO lead_mgmt.assignment_rules (name, priority, method, match_region, rep_ids)
SELECT 'by territory', 5, 'round_robin', true, array_agg(id) FROM lead_mgmt.reps WHERE name IN ('Ana', 'Eve', 'Nat', 'Ned');
WITH leads AS MATERIALIZED (
    SELECT i, r.region, pg_temp.owner(pg_temp.sales_ready('terr' || i || '@x.test', r.region)) AS owner
      FROM generate_series(1, 12) i, LATERAL (SELECT CASE WHEN i % 2 = 1 THEN 'EMEA' ELSE 'NA' END AS region) r)
SELECT region, string_agg(owner, ' ' ORDER BY i) AS owners_in_turn FROM leads GROUP BY region ORDER BY region;
-- Ned is away for a while: Nat takes the NA leads meanwhile; back, Ned has
-- the next turn (he was chosen least recently), and no more than that.
UPDATE lead_mgmt.reps SET away_until = now() + interval '1 day' WHERE name = 'Ned';
SELECT string_agg(pg_temp.owner(pg_temp.sales_ready('away' || i || '@x.test', 'NA')), ' ' ORDER BY i) AS ned_away
  FROM generate_series(1, 2) i;
UPDATE lead_mgmt.reps SET away_until = NULL WHERE name = 'Ned';
SELECT string_agg(pg_temp.owner(pg_temp.sales_ready('back' || i || '@x.test', 'NA')), ' ' ORDER BY i) AS ned_back
  FROM generate_series(1, 4) i;
ROLLBACK;

-- Industry expertise: fintech leads go to fintech experts, weighted.
INSERT INTO lead_mgmt.assignment_rules (name, priority, condition, method, match_industry) VALUES
    ('fintech experts', 20, '{"field": "industry", "op": "=", "value": "fintech"}', 'weighted', true);
UPDATE lead_mgmt.reps SET weight = 2 WHERE name = 'Ana';
SELECT string_agg(pg_temp.owner(pg_temp.sales_ready('fin' || i || '@x.test', NULL, 'FinTech')), ' ' ORDER BY i) AS weighted_2_to_1
  FROM generate_series(1, 6) i;

-- Availability: Bo is away, Cy unavailable, Di at capacity (2 open leads).
UPDATE lead_mgmt.reps SET away_until = now() + interval '1 week' WHERE name = 'Bo';
UPDATE lead_mgmt.reps SET available = false WHERE name = 'Cy';
SELECT name, (SELECT count(*) FROM lead_mgmt.leads l WHERE l.owner_id = r.id) AS owned FROM lead_mgmt.reps r ORDER BY id;
SELECT string_agg(pg_temp.owner(pg_temp.sales_ready('av' || i || '@x.test')), ' ' ORDER BY i) AS only_ana_and_di
  FROM generate_series(1, 3) i;

-- Least loaded: the rep with the fewest open leads.
UPDATE lead_mgmt.reps SET away_until = NULL, available = true, capacity = NULL;
UPDATE lead_mgmt.assignment_rules SET method = 'least_loaded' WHERE name = 'everyone';
SELECT pg_temp.owner(pg_temp.sales_ready('ll1@x.test')) AS least_loaded;
SELECT name, (SELECT count(*) FROM lead_mgmt.leads l WHERE l.owner_id = r.id) AS owned FROM lead_mgmt.reps r ORDER BY id;

-- Nobody eligible anywhere: the lead waits (and NOTIFY lead_mgmt_unassigned
-- goes out with its id: see the isolation spec assignment_notify).
UPDATE lead_mgmt.reps SET available = false;
SELECT pg_temp.owner(pg_temp.sales_ready('nobody@x.test')) AS owner;
SELECT count(*) AS waiting FROM lead_mgmt.unassigned;
UPDATE lead_mgmt.reps SET available = true;

-- By hand: assign() closes the previous assignment.
SELECT lead_mgmt.assign(id, (SELECT id FROM lead_mgmt.reps WHERE name = 'Cy'))
  FROM lead_mgmt.leads WHERE email = 'nobody@x.test';
SELECT pg_temp.owner(id), assigned_at IS NOT NULL AS has_assigned_at FROM lead_mgmt.leads WHERE email = 'nobody@x.test';
SELECT lead_mgmt.assign(id, (SELECT id FROM lead_mgmt.reps WHERE name = 'Ana'))
  FROM lead_mgmt.leads WHERE email = 'nobody@x.test';
SELECT r.name, a.reason, a.ended_at IS NOT NULL AS ended FROM lead_mgmt.assignments a
  JOIN lead_mgmt.reps r ON r.id = a.rep_id
 WHERE a.lead_id = (SELECT id FROM lead_mgmt.leads WHERE email = 'nobody@x.test') ORDER BY a.id;

-- A rep who leaves: redistribute() moves their open leads to others.
UPDATE lead_mgmt.reps SET active = false WHERE name = 'Di';
SELECT lead_mgmt.redistribute(id) AS moved FROM lead_mgmt.reps WHERE name = 'Di';
SELECT count(*) AS di_open FROM lead_mgmt.leads l JOIN lead_mgmt.reps r ON r.id = l.owner_id WHERE r.name = 'Di';
SELECT count(*) FILTER (WHERE reason = 'reassigned') AS reassigned_rows FROM lead_mgmt.assignments;

-- SLA: an owner who records no sales touch within it loses the lead.
UPDATE lead_mgmt.assignment_rules SET sla = '4 hours', method = 'round_robin' WHERE name = 'everyone';
SELECT pg_temp.sales_ready('sla1@x.test') IS NOT NULL AS ready, pg_temp.sales_ready('sla2@x.test') IS NOT NULL AS ready2;
SELECT lead_mgmt.track(id, 'rep_contacted', '{}', now() + interval '1 hour') > 0 AS touched
  FROM lead_mgmt.leads WHERE email = 'sla1@x.test';
SELECT (lead_mgmt.run_maintenance(now() + interval '5 hours') ->> 'sla_reassigned')::int >= 1 AS reassigned;
SELECT email, (SELECT count(*) FROM lead_mgmt.assignments a WHERE a.lead_id = l.id) AS assignments,
       (SELECT reason FROM lead_mgmt.assignments a WHERE a.lead_id = l.id ORDER BY id DESC LIMIT 1) AS last_reason
  FROM lead_mgmt.leads l WHERE email IN ('sla1@x.test', 'sla2@x.test') ORDER BY email;
SELECT (lead_mgmt.run_maintenance(now() + interval '5 hours') ->> 'sla_reassigned')::int AS again;
-- Nobody else eligible (a one-rep team, or the others away or full): the
-- late owner keeps the lead rather than leaving it to nobody.  The
-- assignment stays open and due (followups lists it as sql_not_contacted),
-- maintenance reports it as sla_kept each run, and reassigns it once
-- another rep can take it.
BEGIN;
INSERT INTO lead_mgmt.reps (name) VALUES ('Sol'), ('Tia');
UPDATE lead_mgmt.assignment_rules SET active = false WHERE name <> 'everyone';
UPDATE lead_mgmt.assignment_rules SET rep_ids = ARRAY[(SELECT id FROM lead_mgmt.reps WHERE name = 'Sol')]
 WHERE name = 'everyone';
SELECT pg_temp.sales_ready('solo@x.test') AS solo \gset
SELECT m ->> 'sla_reassigned' AS sla_reassigned, m ->> 'sla_kept' AS sla_kept
  FROM lead_mgmt.run_maintenance(now() + interval '5 hours') m;
SELECT pg_temp.owner(:solo) AS owner, reason, ended_at IS NULL AS still_open
  FROM lead_mgmt.assignments WHERE lead_id = :solo ORDER BY id;
UPDATE lead_mgmt.assignment_rules SET rep_ids = rep_ids || (SELECT id FROM lead_mgmt.reps WHERE name = 'Tia')
 WHERE name = 'everyone';
SELECT m ->> 'sla_reassigned' AS sla_reassigned, m ->> 'sla_kept' AS sla_kept
  FROM lead_mgmt.run_maintenance(now() + interval '6 hours') m;
SELECT pg_temp.owner(:solo) AS owner_at_last;
ROLLBACK;
-- A sales touch written with triggers quiet (as a restore or a bulk load
-- with session_replication_role = replica writes it) leaves the
-- assignment's first_touch_at empty until rescore(); maintenance still
-- reads the events before it takes a lead from its owner, and keeps it.
BEGIN;
SELECT pg_temp.sales_ready('sla3@x.test') IS NOT NULL AS ready3;
SET LOCAL session_replication_role = replica;
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at)
SELECT id, 'rep_contacted', now() + interval '1 hour' FROM lead_mgmt.leads WHERE email = 'sla3@x.test';
SET LOCAL session_replication_role = origin;
SELECT a.first_touch_at IS NULL AS first_touch_lags
  FROM lead_mgmt.assignments a JOIN lead_mgmt.leads l ON l.id = a.lead_id
 WHERE l.email = 'sla3@x.test' AND a.ended_at IS NULL;
SELECT (lead_mgmt.run_maintenance(now() + interval '5 hours') ->> 'sla_reassigned')::int AS sla3_reassigned;
ROLLBACK;

-- A customer is no open lead, also one moved to customer by hand without a
-- purchase (set_stage): it frees its rep's place under capacity, is not
-- counted in open_leads, and is never reassigned for missing the SLA.
BEGIN;
INSERT INTO lead_mgmt.reps (name, capacity) VALUES ('Paz', 1);
UPDATE lead_mgmt.assignment_rules SET active = false WHERE name <> 'everyone';
UPDATE lead_mgmt.assignment_rules SET rep_ids = ARRAY[(SELECT id FROM lead_mgmt.reps WHERE name = 'Paz')]
 WHERE name = 'everyone';
SELECT pg_temp.owner(pg_temp.sales_ready('paper1@x.test')) AS paper1,
       pg_temp.owner(pg_temp.sales_ready('paper2@x.test')) AS paper2_paz_full;
SELECT lead_mgmt.set_stage(id, 'customer', 'signed on paper') FROM lead_mgmt.leads WHERE email = 'paper1@x.test';
SELECT open_leads AS paz_open FROM lead_mgmt.rep_performance WHERE name = 'Paz';
SELECT pg_temp.owner(pg_temp.sales_ready('paper3@x.test')) AS paper3_paz_free_again;
UPDATE lead_mgmt.assignment_rules SET rep_ids = NULL WHERE name = 'everyone';
SELECT (lead_mgmt.run_maintenance(now() + interval '5 hours') ->> 'sla_reassigned')::int > 0 AS others_reassigned;
SELECT pg_temp.owner(id) AS paper1_after_sla FROM lead_mgmt.leads WHERE email = 'paper1@x.test';
ROLLBACK;

-- Performance: weighted by smoothed win rate (won + 1) / (won + lost + 2)
-- over 90 days.  Ana won 8 of 8 (0.9), Bo won 0 of 8 (0.1): 9 to 1.
INSERT INTO lead_mgmt.deals (lead_id, rep_id, amount, status, closed_at)
SELECT (SELECT min(id) FROM lead_mgmt.leads), r.id, 100, CASE r.name WHEN 'Ana' THEN 'won' ELSE 'lost' END, now() - interval '1 day'
  FROM lead_mgmt.reps r, generate_series(1, 8) WHERE r.name IN ('Ana', 'Bo');
UPDATE lead_mgmt.assignment_rules SET active = false;
INSERT INTO lead_mgmt.assignment_rules (name, priority, method, rep_ids)
SELECT 'by performance', 1, 'performance', array_agg(id ORDER BY id) FROM lead_mgmt.reps WHERE name IN ('Ana', 'Bo');
SELECT name, count(*) AS leads
  FROM generate_series(1, 20) i, LATERAL (SELECT pg_temp.owner(pg_temp.sales_ready('perf' || i || '@x.test')) AS name) o
 GROUP BY name ORDER BY name;
SELECT rep_id, name, open_leads > 0 AS has_open_leads, deals_won, deals_lost, win_rate, revenue
  FROM lead_mgmt.rep_performance ORDER BY rep_id;

-- First sales touch.  Each assignment keeps when its rep first touched the
-- lead -- an event of category sales_touch at or after the assignment that
-- names that rep in rep_id, or names no rep -- kept exact as events come,
-- change and go and as event types change category; rep_performance's
-- median reads it.  "wrong" counts assignments that differ from the
-- definition read off the events (lead_mgmt._first_touch); always 0.
SELECT id AS ft_lead, owner_id AS ft_owner FROM lead_mgmt.leads WHERE email = 'perf1@x.test' \gset
SELECT id AS ft_other FROM lead_mgmt.reps WHERE id <> :ft_owner ORDER BY id LIMIT 1 \gset
SELECT assigned_at AS ft_at FROM lead_mgmt.assignments WHERE lead_id = :ft_lead AND ended_at IS NULL \gset
CREATE FUNCTION pg_temp.first_touch(p_lead bigint, p_at timestamptz)
    RETURNS TABLE (hours_after numeric, wrong bigint) LANGUAGE sql AS $$
    SELECT (SELECT round((extract(epoch FROM first_touch_at) - extract(epoch FROM p_at)) / 3600, 1)
              FROM lead_mgmt.assignments WHERE lead_id = p_lead AND ended_at IS NULL),
           (SELECT count(*) FROM lead_mgmt.assignments
             WHERE first_touch_at IS DISTINCT FROM lead_mgmt._first_touch(lead_id, rep_id, assigned_at))
$$;
-- before the assignment, and by another rep: not the owner's touch
SELECT lead_mgmt.track(:ft_lead, 'rep_contacted', '{}', :'ft_at'::timestamptz - interval '1 hour') > 0 AS before_assignment;
SELECT lead_mgmt.track(:ft_lead, 'rep_contacted', jsonb_build_object('rep_id', :ft_other), :'ft_at'::timestamptz + interval '1 hour') > 0 AS by_another_rep;
SELECT * FROM pg_temp.first_touch(:ft_lead, :'ft_at');
-- naming no rep, 3 hours in; then the owner by name, 2 hours in (a late event)
SELECT lead_mgmt.track(:ft_lead, 'rep_contacted', '{}', :'ft_at'::timestamptz + interval '3 hours') > 0 AS no_rep_named;
SELECT * FROM pg_temp.first_touch(:ft_lead, :'ft_at');
SELECT lead_mgmt.track(:ft_lead, 'rep_contacted', jsonb_build_object('rep_id', :ft_owner), :'ft_at'::timestamptz + interval '2 hours', 'ft-owner') > 0 AS by_owner;
SELECT * FROM pg_temp.first_touch(:ft_lead, :'ft_at');
-- the owner's touch was a mistake: deleted, the first is 3 hours in again
DELETE FROM lead_mgmt.events WHERE dedupe_key = 'ft-owner';
SELECT * FROM pg_temp.first_touch(:ft_lead, :'ft_at');
-- an event corrected into a sales touch counts from then on, one corrected
-- out of it stops counting, and a change to an event that is no touch
-- before or after leaves the first touch as it is
SELECT lead_mgmt.track(:ft_lead, 'email_opened', '{}', :'ft_at'::timestamptz + interval '90 minutes', 'ft-open') > 0 AS opened;
UPDATE lead_mgmt.events SET event_type = 'rep_contacted' WHERE dedupe_key = 'ft-open';
SELECT * FROM pg_temp.first_touch(:ft_lead, :'ft_at');
UPDATE lead_mgmt.events SET event_type = 'email_opened' WHERE dedupe_key = 'ft-open';
SELECT * FROM pg_temp.first_touch(:ft_lead, :'ft_at');
UPDATE lead_mgmt.events SET occurred_at = occurred_at - interval '30 minutes' WHERE dedupe_key = 'ft-open';
SELECT * FROM pg_temp.first_touch(:ft_lead, :'ft_at');
-- a type that stops being a sales touch stops counting, and counts again
UPDATE lead_mgmt.event_types SET category = 'sales' WHERE name = 'rep_contacted';
SELECT * FROM pg_temp.first_touch(:ft_lead, :'ft_at');
UPDATE lead_mgmt.event_types SET category = 'sales_touch' WHERE name = 'rep_contacted';
SELECT * FROM pg_temp.first_touch(:ft_lead, :'ft_at');
SELECT median_hours_to_first_touch IS NOT NULL AS has_median
  FROM lead_mgmt.rep_performance WHERE rep_id = :ft_owner;
-- A first touch counts for the assignment it fell in.  Uma's lead goes to
-- Vic before anyone touched it; Vic's call (naming no rep) an hour later is
-- the first touch since either assignment was made, but Uma no longer owned
-- the lead: it is Vic's first touch, not hers, and her median stays empty.
BEGIN;
INSERT INTO lead_mgmt.reps (name) VALUES ('Uma'), ('Vic');
INSERT INTO lead_mgmt.leads (email) VALUES ('handover@x.test') RETURNING id AS ho_lead \gset
SELECT lead_mgmt.assign(:ho_lead, (SELECT id FROM lead_mgmt.reps WHERE name = 'Uma'));
SELECT lead_mgmt.assign(:ho_lead, (SELECT id FROM lead_mgmt.reps WHERE name = 'Vic'));
SELECT lead_mgmt.track(:ho_lead, 'rep_contacted', '{}', now() + interval '1 hour') > 0 AS vic_called;
SELECT name, leads_assigned, median_hours_to_first_touch
  FROM lead_mgmt.rep_performance WHERE name IN ('Uma', 'Vic') ORDER BY name;
ROLLBACK;
-- A new assignment takes its first touch from the events already recorded:
-- reassigned to the other rep, whose named touch is dated an hour after the
-- first assignment (after this one too), that is its first touch.  TRUNCATE
-- of events leaves no first touch anywhere.
BEGIN;
SELECT lead_mgmt.assign(:ft_lead, :ft_other);
SELECT a.rep_id = :ft_other AS new_owner, a.first_touch_at - :'ft_at'::timestamptz AS first_touch_after_first_assignment,
       (SELECT count(*) FROM lead_mgmt.assignments
         WHERE first_touch_at IS DISTINCT FROM lead_mgmt._first_touch(lead_id, rep_id, assigned_at)) AS wrong
  FROM lead_mgmt.assignments a WHERE a.lead_id = :ft_lead AND a.ended_at IS NULL;
TRUNCATE lead_mgmt.events;
SELECT count(first_touch_at) AS first_touches_left FROM lead_mgmt.assignments;
ROLLBACK;
-- One statement recording the sales touches of several leads, one of them
-- twice (a CRM's call log loaded at once): each lead's open assignment
-- takes its first touch, found through the leads' own assignments, and
-- none is wrong.
BEGIN;
SELECT lead_id AS ft_lead2, assigned_at AS ft_at2 FROM lead_mgmt.assignments
 WHERE ended_at IS NULL AND first_touch_at IS NULL AND lead_id <> :ft_lead
 ORDER BY lead_id LIMIT 1 \gset
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at)
VALUES (:ft_lead2, 'rep_contacted', :'ft_at2'::timestamptz + interval '5 hours'),
       (:ft_lead2, 'rep_contacted', :'ft_at2'::timestamptz + interval '4 hours'),
       (:ft_lead, 'rep_contacted', :'ft_at'::timestamptz + interval '30 minutes');
SELECT * FROM pg_temp.first_touch(:ft_lead, :'ft_at');
SELECT * FROM pg_temp.first_touch(:ft_lead2, :'ft_at2');
ROLLBACK;
-- ... by the event types' categories as they are when it is written, in
-- the same transaction as a change to them too: rep_contacted no longer a
-- sales touch, a reassignment has none; a sales touch again, the next one
-- has the touch 3 hours after the first assignment (the unnamed one).
BEGIN;
UPDATE lead_mgmt.event_types SET category = 'sales' WHERE name = 'rep_contacted';
SELECT lead_mgmt.assign(:ft_lead, :ft_other);
SELECT * FROM pg_temp.first_touch(:ft_lead, :'ft_at');
UPDATE lead_mgmt.event_types SET category = 'sales_touch' WHERE name = 'rep_contacted';
SELECT lead_mgmt.assign(:ft_lead, :ft_owner);
SELECT * FROM pg_temp.first_touch(:ft_lead, :'ft_at');
ROLLBACK;

-- Your own triggers on assignments fire for the rows lead_mgmt writes, as
-- for any insert: a BEFORE ROW trigger may change the row or skip it, an
-- AFTER ROW trigger sees it whole, its SLA and first touch set.  A rule
-- without an SLA of its own takes the setting default_sla, as it is when
-- the row is written.
BEGIN;
UPDATE lead_mgmt.settings SET value = '3 hours' WHERE name = 'default_sla';
CREATE FUNCTION public.assignment_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE '% assignment by %, SLA %, first touch %', NEW.reason, NEW.method,
        NEW.sla_due_at - NEW.assigned_at, coalesce(NEW.first_touch_at::text, 'none yet');
    RETURN NULL;
END $$;
CREATE TRIGGER assignment_seen AFTER INSERT ON lead_mgmt.assignments
    FOR EACH ROW EXECUTE FUNCTION public.assignment_seen();
SET client_min_messages = notice;
SELECT pg_temp.owner(pg_temp.sales_ready('trig1@x.test')) IS NOT NULL AS assigned;
-- a BEFORE ROW trigger that tags the method
CREATE FUNCTION public.assignment_tag() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.method := NEW.method || ' (tagged)';
    RETURN NEW;
END $$;
CREATE TRIGGER assignment_tag BEFORE INSERT ON lead_mgmt.assignments
    FOR EACH ROW EXECUTE FUNCTION public.assignment_tag();
SELECT pg_temp.owner(pg_temp.sales_ready('trig2@x.test')) IS NOT NULL AS assigned;
-- with a statement trigger too, the same row (lead_mgmt then writes it by
-- an INSERT statement, which fires the statement trigger)
CREATE FUNCTION public.assignments_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'assignments written';
    RETURN NULL;
END $$;
CREATE TRIGGER assignments_written AFTER INSERT ON lead_mgmt.assignments
    FOR EACH STATEMENT EXECUTE FUNCTION public.assignments_written();
SELECT pg_temp.owner(pg_temp.sales_ready('trig3@x.test')) IS NOT NULL AS assigned;
DROP TRIGGER assignments_written ON lead_mgmt.assignments;
-- a BEFORE ROW trigger that skips the row: the lead is owned, its
-- assignment not recorded (your trigger's choice, as for any insert)
CREATE FUNCTION public.assignment_skip() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN NULL;
END $$;
CREATE TRIGGER assignment_skip BEFORE INSERT ON lead_mgmt.assignments
    FOR EACH ROW EXECUTE FUNCTION public.assignment_skip();
SELECT pg_temp.owner(pg_temp.sales_ready('trig4@x.test')) IS NOT NULL AS assigned;
SET client_min_messages = warning;
SELECT l.email, a.method, a.reason, a.sla_due_at - a.assigned_at AS sla
  FROM lead_mgmt.leads l LEFT JOIN lead_mgmt.assignments a ON a.lead_id = l.id
 WHERE l.email LIKE 'trig%' ORDER BY l.email;
-- foreign keys hold for those rows too: a trigger naming a rep who does
-- not exist fails the insert, and with it the event
DROP TRIGGER assignment_skip ON lead_mgmt.assignments;
-- without a default_sla row, the SLA of a rule without one is the
-- setting's documented default, two days
DELETE FROM lead_mgmt.settings WHERE name = 'default_sla';
SELECT pg_temp.sales_ready('trig5@x.test') AS trig5 \gset
SELECT method, sla_due_at - assigned_at AS sla FROM lead_mgmt.assignments WHERE lead_id = :trig5;
CREATE FUNCTION public.assignment_nobody() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.rep_id := -1;
    RETURN NEW;
END $$;
CREATE TRIGGER assignment_nobody BEFORE INSERT ON lead_mgmt.assignments
    FOR EACH ROW EXECUTE FUNCTION public.assignment_nobody();
\set SHOW_CONTEXT never
SELECT pg_temp.sales_ready('trig6@x.test');
\set SHOW_CONTEXT errors
ROLLBACK;

-- Round robin in one statement that assigns several leads goes on in turn
-- when a trigger of yours on leads rolls back a subtransaction of its own
-- (an exception block that caught an error) between them; an assignment
-- rolled back to a savepoint does not move the rotation on.
BEGIN;
UPDATE lead_mgmt.assignment_rules SET active = false;
INSERT INTO lead_mgmt.assignment_rules (name, priority, method, rep_ids)
SELECT 'ana and bo', 1, 'round_robin', array_agg(id ORDER BY id) FROM lead_mgmt.reps WHERE name IN ('Ana', 'Bo');
CREATE FUNCTION public.careful_rotation_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM 1 / 0;
    EXCEPTION WHEN division_by_zero THEN NULL;
    END;
    RETURN NEW;
END $$;
CREATE TRIGGER a_careful BEFORE UPDATE ON lead_mgmt.leads
    FOR EACH ROW EXECUTE FUNCTION public.careful_rotation_trigger();
SELECT count(lead_mgmt.capture(jsonb_build_object('email', 'turn' || g || '@x.test'))) FROM generate_series(1, 4) g;
INSERT INTO lead_mgmt.events (lead_id, event_type)
SELECT id, 'demo_requested' FROM lead_mgmt.leads WHERE email LIKE 'turn%' ORDER BY id;
SELECT email, pg_temp.owner(id) FROM lead_mgmt.leads WHERE email LIKE 'turn%' ORDER BY id;
DROP TRIGGER a_careful ON lead_mgmt.leads;
SAVEPOINT before_turn5;
SELECT pg_temp.owner(pg_temp.sales_ready('turn5@x.test')) AS turn5;
ROLLBACK TO SAVEPOINT before_turn5;
SELECT pg_temp.owner(pg_temp.sales_ready('turn6@x.test')) AS turn6;
SELECT pg_temp.owner(pg_temp.sales_ready('turn7@x.test')) AS turn7;
ROLLBACK;

-- A trigger of yours that records an event in an exception block while a
-- statement of lead_mgmt's is under way (here: a lead reaching sql tells
-- another lead, and a seen dedupe_key makes that fail): the statement's
-- own stage changes and assignments are written whatever the block does.
BEGIN;
CREATE FUNCTION public.tell_next() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.stage = 'sql' AND OLD.stage IS DISTINCT FROM 'sql' THEN
        BEGIN
            PERFORM lead_mgmt.track(lead_mgmt.capture('{"email": "told@x.test"}'), 'email_opened',
                                    '{}', NULL, 'told');
            PERFORM lead_mgmt.track(NEW.id, 'email_opened', '{}', NULL, 'told');
        EXCEPTION WHEN unique_violation THEN NULL;
        END;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER tell_next AFTER UPDATE ON lead_mgmt.leads
    FOR EACH ROW EXECUTE FUNCTION public.tell_next();
SELECT pg_temp.sales_ready('teller@x.test') AS teller \gset
DROP TRIGGER tell_next ON lead_mgmt.leads;
SELECT l.stage, l.owner_id IS NOT NULL AS owned,
       (SELECT count(*) FROM lead_mgmt.stage_history h WHERE h.lead_id = l.id AND h.to_stage = 'sql') AS sql_history,
       (SELECT count(*) FROM lead_mgmt.assignments a WHERE a.lead_id = l.id AND a.rep_id = l.owner_id) AS assignments
  FROM lead_mgmt.leads l WHERE l.id = :teller;
SELECT count(*) AS told FROM lead_mgmt.leads WHERE email = 'told@x.test';
ROLLBACK;

-- Errors.
SELECT lead_mgmt.assign(-1, 1);
SELECT lead_mgmt.assign((SELECT min(id) FROM lead_mgmt.leads), -1);
SELECT lead_mgmt.assign((SELECT min(id) FROM lead_mgmt.leads), (SELECT id FROM lead_mgmt.reps WHERE name = 'Di'));
SELECT lead_mgmt.assign(NULL, 1);
SELECT lead_mgmt.redistribute(-1);
SELECT lead_mgmt.redistribute(NULL);
INSERT INTO lead_mgmt.assignment_rules (name, priority, method) VALUES ('bad', 1, 'random');
INSERT INTO lead_mgmt.assignment_rules (name, priority, condition) VALUES ('bad', 1, '{"field": "regio", "op": "=", "value": "x"}');
INSERT INTO lead_mgmt.assignment_rules (name, priority, sla) VALUES ('bad', 1, '0 hours');
-- an SLA, or the default_sla setting, longer than 100 years would put the
-- time by which a lead must be contacted out of range
INSERT INTO lead_mgmt.assignment_rules (name, priority, sla) VALUES ('bad', 1, '1000000 years');
UPDATE lead_mgmt.settings SET value = '1000000 years' WHERE name = 'default_sla';
-- maintenance records its time in assignments: it must be finite
SELECT lead_mgmt.run_maintenance('infinity');
SELECT lead_mgmt.run_maintenance('-infinity');
INSERT INTO lead_mgmt.reps (name, seniority) VALUES ('Eve', 'guru');
INSERT INTO lead_mgmt.reps (name, weight) VALUES ('Eve', 0);
UPDATE lead_mgmt.leads SET owner_id = 1;
DELETE FROM lead_mgmt.reps WHERE name = 'Ana';
-- TRUNCATE would skip that check (and, with CASCADE, empty leads and
-- assignments too): refused (0.2).  A rep without leads or history can go.
\set SHOW_CONTEXT never
TRUNCATE lead_mgmt.reps CASCADE;
\set SHOW_CONTEXT errors
INSERT INTO lead_mgmt.reps (name) VALUES ('Temp');
DELETE FROM lead_mgmt.reps WHERE name = 'Temp';
SELECT string_agg(name, ',' ORDER BY id) AS reps,
       (SELECT count(*) FROM lead_mgmt.assignments) AS assignments_kept
  FROM lead_mgmt.reps;
