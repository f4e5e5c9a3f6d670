-- Time: windows expire and absence conditions become true as time passes.
--
-- Every lead carries recheck_at, the next time a windowed event leaves its
-- window or an age condition flips.  run_maintenance(at) recomputes exactly
-- the leads due by then; run twice at the same time, it does nothing more.
-- It finds them through lead_mgmt.rechecks, which holds an entry at or
-- before every lead's recheck_at (the end of this story).
SET client_min_messages = warning;
SET timezone = 'UTC';
-- every story starts from a fresh install
DROP EXTENSION lead_mgmt;
CREATE EXTENSION lead_mgmt;

SELECT lead_mgmt.load_example_rules() > 0 AS loaded;
INSERT INTO lead_mgmt.scoring_rules (name, event_type, points, within)
VALUES ('visited pricing this week', 'pricing_page_visited', 20, '7 days');

-- Zoe signed up 40 days ago; we sent her emails and she opened none.
INSERT INTO lead_mgmt.leads (email, created_at) VALUES ('zoe@example.com', now() - interval '40 days')
RETURNING id AS zoe \gset
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at) VALUES
    (:zoe, 'email_subscribed', now() - interval '40 days'),
    (:zoe, 'email_sent', now() - interval '35 days'),
    (:zoe, 'email_sent', now() - interval '5 days');
-- The "no email opened in 30 days" rule already holds: 5 - 10.
SELECT score FROM lead_mgmt.leads WHERE id = :zoe;
SELECT rule, points FROM lead_mgmt.explain_score(:zoe);

-- She opens one (+5, and the -10 is gone) and visits pricing (+10 +20).
SELECT lead_mgmt.track(:zoe, 'email_opened') > 0 AS ok;
SELECT lead_mgmt.track(:zoe, 'pricing_page_visited') > 0 AS ok;
SELECT score FROM lead_mgmt.leads WHERE id = :zoe;

-- Nothing is due now.
SELECT lead_mgmt.run_maintenance() ->> 'leads_rechecked' AS rechecked;

-- Eight days on, the pricing visit leaves its 7-day window: -20.
SELECT lead_mgmt.run_maintenance(now() + interval '8 days') ->> 'leads_rechecked' AS rechecked;
SELECT score FROM lead_mgmt.leads WHERE id = :zoe;
SELECT lead_mgmt.run_maintenance(now() + interval '8 days') ->> 'leads_rechecked' AS rechecked_again;

-- Thirty-one days on, her open is more than 30 days old: -10 again.
SELECT lead_mgmt.run_maintenance(now() + interval '31 days') ->> 'leads_rechecked' AS rechecked;
SELECT score FROM lead_mgmt.leads WHERE id = :zoe;
SELECT rule, points FROM lead_mgmt.explain_score(:zoe);

-- A brand-new lead who was sent an email: the rule waits for the lead to
-- be 30 days old, and maintenance applies it on the day.
INSERT INTO lead_mgmt.leads (email) VALUES ('yan@example.com') RETURNING id AS yan \gset
SELECT lead_mgmt.track(:yan, 'email_sent') > 0 AS ok;
SELECT score, recheck_at = created_at + interval '30 days' AS recheck_when_30_days_old
  FROM lead_mgmt.leads WHERE id = :yan;
SELECT lead_mgmt.run_maintenance(now() + interval '29 days') IS NOT NULL AS ran;
SELECT score FROM lead_mgmt.leads WHERE id = :yan;
SELECT lead_mgmt.run_maintenance(now() + interval '30 days 1 second') IS NOT NULL AS ran;
SELECT score FROM lead_mgmt.leads WHERE id = :yan;

SELECT lead_mgmt.run_maintenance(NULL);

-- How maintenance finds the leads due without scanning them: rechecks has,
-- for every lead with a recheck_at, an entry at or before it.  This query
-- lists the leads that break that rule; it stays empty whatever happens.
\set missing 'SELECT count(*) AS leads_missing_an_entry FROM lead_mgmt.leads l WHERE l.recheck_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM lead_mgmt.rechecks r WHERE r.lead_id = l.id AND r.due_at <= l.recheck_at)'
:missing;
-- Xia, new today: the "no email opened in 30 days" rule may change her
-- score on her 30th day (an entry then); her pricing visit leaves its
-- 7-day window before that (recheck_at moves earlier: another entry).
INSERT INTO lead_mgmt.leads (email) VALUES ('xia@example.com') RETURNING id AS xia \gset
SELECT r.due_at - l.created_at AS after_creation, r.due_at = l.recheck_at AS is_recheck_at
  FROM lead_mgmt.rechecks r JOIN lead_mgmt.leads l ON l.id = r.lead_id WHERE l.id = :xia;
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at)
SELECT id, 'pricing_page_visited', created_at FROM lead_mgmt.leads WHERE id = :xia;
SELECT r.due_at - l.created_at AS after_creation, r.due_at = l.recheck_at AS is_recheck_at
  FROM lead_mgmt.rechecks r JOIN lead_mgmt.leads l ON l.id = r.lead_id WHERE l.id = :xia
 ORDER BY r.due_at;
-- Maintenance on day 8 takes the first entry and recomputes her; her next
-- time, day 30, has its entry already.
SELECT lead_mgmt.run_maintenance(now() + interval '8 days') ->> 'leads_rechecked' AS rechecked;
SELECT r.due_at - l.created_at AS after_creation, r.due_at = l.recheck_at AS is_recheck_at
  FROM lead_mgmt.rechecks r JOIN lead_mgmt.leads l ON l.id = r.lead_id WHERE l.id = :xia;
:missing;

-- Many leads in one statement: their entries are written by one statement.
INSERT INTO lead_mgmt.leads (email, created_at)
SELECT 'bulk' || g || '@example.com', now() - make_interval(days => g) FROM generate_series(1, 40) g;
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at)
SELECT id, 'pricing_page_visited', now() - interval '1 day'
  FROM lead_mgmt.leads WHERE email LIKE 'bulk%';
:missing;
SELECT count(*) AS bulk_leads_with_an_entry
  FROM lead_mgmt.leads l WHERE email LIKE 'bulk%'
   AND EXISTS (SELECT 1 FROM lead_mgmt.rechecks r WHERE r.lead_id = l.id);

-- An event rolled back to a savepoint leaves no entry behind.
BEGIN;
INSERT INTO lead_mgmt.leads (email) VALUES ('undone@example.com') RETURNING id AS undone \gset
SELECT count(*) AS entries_before FROM lead_mgmt.rechecks WHERE lead_id = :undone \gset
SAVEPOINT s;
SELECT lead_mgmt.track(:undone, 'pricing_page_visited') > 0 AS ok;
SELECT count(*) - :entries_before AS entries_added_by_the_visit
  FROM lead_mgmt.rechecks WHERE lead_id = :undone;
ROLLBACK TO s;
COMMIT;
SELECT count(*) - :entries_before AS entries_left_by_the_visit
  FROM lead_mgmt.rechecks WHERE lead_id = :undone;

-- A deleted lead's entries stay until they are due; maintenance then
-- drops them.
DELETE FROM lead_mgmt.leads WHERE email = 'bulk1@example.com';
SELECT lead_mgmt.run_maintenance(now() + interval '10 days') ->> 'leads_rechecked' AS rechecked;
:missing;
SELECT count(*) AS entries_of_missing_leads
  FROM lead_mgmt.rechecks r WHERE NOT EXISTS (SELECT 1 FROM lead_mgmt.leads l WHERE l.id = r.lead_id);
SELECT lead_mgmt.run_maintenance(now() + interval '31 days') ->> 'leads_rechecked' AS rechecked;
SELECT count(*) AS entries_of_missing_leads
  FROM lead_mgmt.rechecks r WHERE NOT EXISTS (SELECT 1 FROM lead_mgmt.leads l WHERE l.id = r.lead_id);
:missing;
-- Each lead taken is entered again at its new recheck_at, unless it has
-- an entry there already.
SELECT count(*) AS leads_with_two_entries_at_one_time FROM (
    SELECT lead_id FROM lead_mgmt.rechecks GROUP BY lead_id, due_at HAVING count(*) > 1) d;

-- If the entries were lost (say, a dump of 0.1 restored into 0.2), a full
-- rescore rebuilds them from the leads.
DELETE FROM lead_mgmt.rechecks;
:missing;
SELECT lead_mgmt.rescore() > 0 AS rescored;
:missing;
SELECT count(*) = count(DISTINCT lead_id) AS one_entry_per_lead FROM lead_mgmt.rechecks;

-- TRUNCATE of leads empties rechecks with them.
BEGIN;
TRUNCATE lead_mgmt.leads CASCADE;
SELECT count(*) AS rechecks_left FROM lead_mgmt.rechecks;
ROLLBACK;

-- A month window ends when "at - 1 month" passes the event, which is not
-- always the event + 1 month: an event on Jan 31 is still inside the
-- window on Feb 28 (Feb 28 - 1 month is Jan 28) and leaves it on Mar 1.
-- recheck_at is that first instant outside, so maintenance before it has
-- nothing to do, and maintenance at it recomputes the lead once.
-- (A lead and a rule of their own: no other rule depends on time.)
TRUNCATE lead_mgmt.leads CASCADE;
UPDATE lead_mgmt.scoring_rules SET active = false;
INSERT INTO lead_mgmt.scoring_rules (name, event_type, points, within)
VALUES ('chat this month', 'chat_started', 10, '1 month');
INSERT INTO lead_mgmt.leads (email, created_at) VALUES ('mia@example.com', '2127-01-01 00:00+00')
RETURNING id AS mia \gset
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at)
VALUES (:mia, 'chat_started', '2127-01-31 00:00+00');
SELECT score, recheck_at FROM lead_mgmt.leads WHERE id = :mia;
SELECT lead_mgmt.run_maintenance('2127-02-28 12:00+00') ->> 'leads_rechecked' AS rechecked_feb_28;
SELECT lead_mgmt.run_maintenance('2127-02-28 23:59:59.999999+00') ->> 'leads_rechecked' AS rechecked_just_before;
SELECT lead_mgmt.run_maintenance('2127-03-01 00:00+00') ->> 'leads_rechecked' AS rechecked_mar_1;
SELECT lead_mgmt.run_maintenance('2127-03-01 00:00+00') ->> 'leads_rechecked' AS rechecked_again;
SELECT recheck_at FROM lead_mgmt.leads WHERE id = :mia;
SELECT score FROM lead_mgmt.leads WHERE id = :mia;

-- Windows count months and days in UTC, whatever the session's time zone:
-- across the change to summer time in Paris (2127-03-28), a "1 day" window
-- is 24 hours for a session in Paris as for one in UTC.  Ola chatted 25
-- and 23.5 hours before the maintenance run.
INSERT INTO lead_mgmt.scoring_rules (name, event_type, points, within)
VALUES ('chat today', 'chat_started', 5, '1 day');
INSERT INTO lead_mgmt.leads (email, created_at) VALUES ('ola@example.com', '2127-03-01 00:00+00')
RETURNING id AS ola \gset
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at)
VALUES (:ola, 'chat_started', '2127-03-27 11:00+00'), (:ola, 'chat_started', '2127-03-27 12:30+00');
BEGIN;
SET LOCAL timezone = 'UTC';
SELECT lead_mgmt.run_maintenance('2127-03-28 12:00+00') ->> 'leads_rechecked' AS rechecked;
SELECT score AS in_utc FROM lead_mgmt.leads WHERE id = :ola;
ROLLBACK;
BEGIN;
SET LOCAL timezone = 'Europe/Paris';
SELECT lead_mgmt.run_maintenance('2127-03-28 12:00+00') ->> 'leads_rechecked' AS rechecked;
SELECT score AS in_paris FROM lead_mgmt.leads WHERE id = :ola;
ROLLBACK;
