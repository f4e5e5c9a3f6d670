-- Follow-up: leads that did not buy, and what to do about each.
--
-- lead_mgmt.followups lists, with the reason and since when it holds:
--   sql_not_contacted -> rep_follow_up  a sales-qualified lead whose owner
--                        recorded no sales touch within the SLA (the
--                        assignment rule's sla, else the default_sla setting,
--                        as they were at the assignment)
--   mql_stalled       -> retarget       marketing-qualified for longer than
--                        the mql_stall_after setting (14 days)
--   deal_lost         -> win_back       the lead's last closed deal was lost
--                        more than winback_after (30 days) ago, none is open
-- Disqualified leads are never listed.  The view reads the settings and
-- the clock when it is queried, so leads appear as time passes.
SET client_min_messages = warning;
SET timezone = 'UTC';
SET intervalstyle = 'postgres';
\set SHOW_CONTEXT never
-- every story starts from a fresh install
DROP EXTENSION lead_mgmt;
CREATE EXTENSION lead_mgmt;

-- What the view says, readable: each lead by email, the owner by name, and
-- since as an interval after the moment the reason started counting.
CREATE FUNCTION pg_temp.followups() RETURNS TABLE (email text, owner text, stage text, reason text,
                                                  action text)
LANGUAGE sql AS $$
    SELECT l.email, r.name, f.stage, f.reason, f.action
      FROM lead_mgmt.followups f
      JOIN lead_mgmt.leads l ON l.id = f.lead_id
      LEFT JOIN lead_mgmt.reps r ON r.id = f.owner_id
     ORDER BY f.reason, l.email;
$$;

-- A fit rule: a VP is worth 40 points, enough for mql on arrival.
INSERT INTO lead_mgmt.scoring_rules (name, condition, points)
VALUES ('VP', '{"field": "job_title", "op": "=", "value": "VP"}', 40);

-------------------------------------------------------------------------
-- mql_stalled -> retarget
-------------------------------------------------------------------------
-- Leads captured in the past reach mql on arrival: their stage changed
-- when they were created.  Mia 20 days ago, Max 3 days ago.
INSERT INTO lead_mgmt.leads (email, job_title, created_at) VALUES
    ('mia@example.com', 'VP', now() - interval '20 days'),
    ('max@example.com', 'VP', now() - interval '3 days');
SELECT email, stage, stage_changed_at = created_at AS mql_since_created FROM lead_mgmt.leads ORDER BY email;
-- Mia has been an MQL for longer than 14 days: retarget her.
SELECT * FROM pg_temp.followups();
SELECT f.since - l.stage_changed_at AS since_after_mql
  FROM lead_mgmt.followups f JOIN lead_mgmt.leads l ON l.id = f.lead_id;
-- A DBA shortens the patience to 2 days: Max is listed too.
UPDATE lead_mgmt.settings SET value = '2 days' WHERE name = 'mql_stall_after';
SELECT * FROM pg_temp.followups();
UPDATE lead_mgmt.settings SET value = '14 days' WHERE name = 'mql_stall_after';

-------------------------------------------------------------------------
-- sql_not_contacted -> rep_follow_up
-------------------------------------------------------------------------
INSERT INTO lead_mgmt.reps (name) VALUES ('Ana'), ('Bo');
-- The rule's SLA is tiny here (1 microsecond), so that it runs out by the
-- next statement.
INSERT INTO lead_mgmt.assignment_rules (name, priority, method, sla)
VALUES ('everyone', 1, 'round_robin', '1 microsecond');
-- Mia requests a demo: sales-qualified, assigned to Ana.  She leaves the
-- retarget list and, with nobody calling her, joins the rep's list.
SELECT lead_mgmt.track(id, 'demo_requested') > 0 AS tracked FROM lead_mgmt.leads WHERE email = 'mia@example.com';
SELECT * FROM pg_temp.followups();
SELECT f.since - l.assigned_at AS since_after_assignment
  FROM lead_mgmt.followups f JOIN lead_mgmt.leads l ON l.id = f.lead_id
 WHERE f.reason = 'sql_not_contacted';
-- A sales touch by somebody else does not count ...
SELECT lead_mgmt.track(l.id, 'rep_contacted', jsonb_build_object('rep_id', r.id)) > 0 AS tracked
  FROM lead_mgmt.leads l, lead_mgmt.reps r WHERE l.email = 'mia@example.com' AND r.name = 'Bo';
SELECT email, reason FROM pg_temp.followups();
-- ... Ana's call does.
SELECT lead_mgmt.track(l.id, 'rep_contacted', jsonb_build_object('rep_id', r.id)) > 0 AS tracked
  FROM lead_mgmt.leads l, lead_mgmt.reps r WHERE l.email = 'mia@example.com' AND r.name = 'Ana';
SELECT email, reason FROM pg_temp.followups();

-- Without an sla on the rule, the default_sla setting (2 days) applies, as
-- it was when the lead was assigned: the deadline is fixed then
-- (assignments.sla_due_at), and maintenance reassigns by the same one, so
-- a later change of the setting (or of a rule's sla) applies to later
-- assignments only (0.2; 0.1's view read the current value).
UPDATE lead_mgmt.assignment_rules SET sla = NULL WHERE name = 'everyone';
SELECT lead_mgmt.track(lead_mgmt.capture('{"email": "sam@example.com"}'), 'demo_requested') > 0 AS tracked;
SELECT owner_id IS NOT NULL AS owned, stage FROM lead_mgmt.leads WHERE email = 'sam@example.com';
SELECT count(*) AS listed_within_2_days FROM lead_mgmt.followups WHERE reason = 'sql_not_contacted';
UPDATE lead_mgmt.settings SET value = '1 microsecond' WHERE name = 'default_sla';
SELECT * FROM pg_temp.followups();
SELECT f.since - l.assigned_at AS since_after_assignment
  FROM lead_mgmt.followups f JOIN lead_mgmt.leads l ON l.id = f.lead_id
 WHERE f.reason = 'sql_not_contacted';
-- A manual assignment (no rule, no deadline of its own; maintenance does
-- not reassign it) follows the current default_sla; the clock starts again
-- at the new assignment.
SELECT lead_mgmt.assign(l.id, r.id) FROM lead_mgmt.leads l, lead_mgmt.reps r
 WHERE l.email = 'sam@example.com' AND r.name = 'Ana';
SELECT * FROM pg_temp.followups();
SELECT f.since - l.assigned_at AS since_after_assignment
  FROM lead_mgmt.followups f JOIN lead_mgmt.leads l ON l.id = f.lead_id
 WHERE f.reason = 'sql_not_contacted';
UPDATE lead_mgmt.settings SET value = '2 days' WHERE name = 'default_sla';
SELECT count(*) AS listed_within_2_days FROM lead_mgmt.followups WHERE reason = 'sql_not_contacted';
UPDATE lead_mgmt.settings SET value = '1 microsecond' WHERE name = 'default_sla';

-------------------------------------------------------------------------
-- deal_lost -> win_back
-------------------------------------------------------------------------
-- Deals closed in the past: Lou lost one 40 days ago, Lea 10 days ago; Ned
-- lost one 40 days ago but has another open; Wes lost 40 days ago and won
-- since; Rae won 60 days ago and lost a renewal 35 days ago.
SELECT lead_mgmt.capture(jsonb_build_object('email', e)) IS NOT NULL AS captured
  FROM unnest(ARRAY['lou@example.com', 'lea@example.com', 'ned@example.com',
                    'wes@example.com', 'rae@example.com']) e;
INSERT INTO lead_mgmt.deals (lead_id, amount, status, created_at, closed_at)
SELECT l.id, v.amount, v.status, now() - v.created_ago::interval,
       now() - v.closed_ago::interval
  FROM (VALUES ('lou@example.com', 500, 'lost', '50 days', '40 days'),
               ('lea@example.com', 500, 'lost', '20 days', '10 days'),
               ('ned@example.com', 500, 'lost', '50 days', '40 days'),
               ('wes@example.com', 500, 'lost', '50 days', '40 days'),
               ('wes@example.com', 900, 'won',  '20 days', '5 days'),
               ('rae@example.com', 900, 'won',  '90 days', '60 days'),
               ('rae@example.com', 300, 'lost', '45 days', '35 days'))
       AS v(email, amount, status, created_ago, closed_ago)
  JOIN lead_mgmt.leads l ON l.email = v.email;
INSERT INTO lead_mgmt.deals (lead_id, amount)
SELECT id, 700 FROM lead_mgmt.leads WHERE email = 'ned@example.com';
SELECT email, owner, stage, reason, action FROM pg_temp.followups() WHERE reason = 'deal_lost';
SELECT l.email, f.since - d.closed_at AS since_after_loss
  FROM lead_mgmt.followups f
  JOIN lead_mgmt.leads l ON l.id = f.lead_id
  JOIN lead_mgmt.deals d ON d.lead_id = l.id AND d.status = 'lost'
 WHERE f.reason = 'deal_lost'
 ORDER BY l.email;
-- Ned's open deal is lost too (today): he waits 30 days like anybody.
UPDATE lead_mgmt.deals SET status = 'lost'
 WHERE status = 'open' AND lead_id = (SELECT id FROM lead_mgmt.leads WHERE email = 'ned@example.com');
SELECT email FROM pg_temp.followups() WHERE reason = 'deal_lost';
-- A shorter win-back delay brings Lea (and now Ned) in.
UPDATE lead_mgmt.settings SET value = '1 microsecond' WHERE name = 'winback_after';
SELECT email FROM pg_temp.followups() WHERE reason = 'deal_lost';
UPDATE lead_mgmt.settings SET value = '30 days' WHERE name = 'winback_after';

-------------------------------------------------------------------------
-- One lead, several reasons; disqualified leads are never listed
-------------------------------------------------------------------------
-- Max is a stalled MQL (with a 2-day patience) and lost a deal 40 days ago.
UPDATE lead_mgmt.settings SET value = '2 days' WHERE name = 'mql_stall_after';
INSERT INTO lead_mgmt.deals (lead_id, amount, status, created_at, closed_at)
SELECT id, 100, 'lost', now() - interval '41 days', now() - interval '40 days'
  FROM lead_mgmt.leads WHERE email = 'max@example.com';
SELECT * FROM pg_temp.followups() WHERE email = 'max@example.com';
SELECT count(*) AS before_disqualifying FROM lead_mgmt.followups;
SELECT lead_mgmt.disqualify(id, 'not a fit') FROM lead_mgmt.leads
 WHERE email IN ('max@example.com', 'lou@example.com', 'sam@example.com');
SELECT * FROM pg_temp.followups();

-- The view is security_invoker: row-level security on leads holds through it.
SELECT c.reloptions FROM pg_class c WHERE c.oid = 'lead_mgmt.followups'::regclass;
