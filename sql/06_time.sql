-- Time: windows expire and absence conditions become true as time passes.
--
-- Every lead carries recheck_at, the next time a windowed event leaves its
-- window or an age condition flips.  run_maintenance(at) recomputes exactly
-- the leads due by then; run twice at the same time, it does nothing more.
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
