-- Rule changes are retroactive and transactional.
--
-- Editing scoring_rules or stages rescores every lead in the same
-- transaction.  With lead_mgmt.defer_rescore = on the rescore waits for
-- lead_mgmt.rescore(); leads touched meanwhile are recomputed with the new
-- rules at once, so no lead ever mixes old and new rules.
SET client_min_messages = warning;
SET timezone = 'UTC';
-- every story starts from a fresh install
DROP EXTENSION lead_mgmt;
CREATE EXTENSION lead_mgmt;

INSERT INTO lead_mgmt.scoring_rules (name, event_type, points) VALUES
    ('opened', 'email_opened', 5),
    ('clicked', 'email_clicked', 10);
INSERT INTO lead_mgmt.leads (email) SELECT 'r' || i || '@example.com' FROM generate_series(1, 5) i;
INSERT INTO lead_mgmt.events (lead_id, event_type)
SELECT l.id, CASE WHEN g % 2 = 0 THEN 'email_opened' ELSE 'email_clicked' END
  FROM lead_mgmt.leads l, generate_series(1, 4) g;
SELECT email, score FROM lead_mgmt.leads ORDER BY id;

-- Doubling the points of a click rescores everyone now ...
UPDATE lead_mgmt.scoring_rules SET points = 20 WHERE name = 'clicked';
SELECT email, score FROM lead_mgmt.leads ORDER BY id;
-- ... and a rolled-back change leaves no trace.
BEGIN;
UPDATE lead_mgmt.scoring_rules SET points = 1000 WHERE name = 'opened';
SELECT max(score) AS inside_transaction FROM lead_mgmt.leads;
ROLLBACK;
SELECT max(score) AS after_rollback FROM lead_mgmt.leads;

-- Deactivating or deleting a rule takes its points away.
UPDATE lead_mgmt.scoring_rules SET active = false WHERE name = 'opened';
SELECT max(score) AS without_opens FROM lead_mgmt.leads;
UPDATE lead_mgmt.scoring_rules SET active = true WHERE name = 'opened';
SELECT max(score) AS with_opens FROM lead_mgmt.leads;

-- Deferred: the rule change waits for rescore() ...
SET lead_mgmt.defer_rescore = on;
UPDATE lead_mgmt.scoring_rules SET points = 1 WHERE name = 'opened';
SELECT rescore_pending FROM lead_mgmt.engine_state;
SELECT email, score FROM lead_mgmt.leads ORDER BY id;
-- ... except for leads touched meanwhile, which use the new rules at once.
SELECT lead_mgmt.track((SELECT id FROM lead_mgmt.leads WHERE email = 'r1@example.com'), 'email_opened') > 0 AS ok;
SELECT email, score FROM lead_mgmt.leads ORDER BY id;
SELECT lead_mgmt.rescore() AS rescored;
SELECT rescore_pending FROM lead_mgmt.engine_state;
SELECT email, score FROM lead_mgmt.leads ORDER BY id;
RESET lead_mgmt.defer_rescore;

-- Malformed rules are refused, saying what is wrong and what to do.
INSERT INTO lead_mgmt.scoring_rules (name, points) VALUES ('nothing', 5);
INSERT INTO lead_mgmt.scoring_rules (name, event_type, condition, points)
VALUES ('both', 'email_opened', '{"event": "email_opened"}', 5);
INSERT INTO lead_mgmt.scoring_rules (name, event_type, points) VALUES ('ghost', 'webinar_attended', 5);
INSERT INTO lead_mgmt.scoring_rules (name, event_type, properties, points) VALUES ('props', 'email_opened', '[1]', 5);
INSERT INTO lead_mgmt.scoring_rules (name, event_type, within, points) VALUES ('window', 'email_opened', '-1 day', 5);
INSERT INTO lead_mgmt.scoring_rules (name, event_type, max_occurrences, points) VALUES ('cap', 'email_opened', 0, 5);
INSERT INTO lead_mgmt.scoring_rules (name, condition, within, points)
VALUES ('cond window', '{"event": "email_opened"}', '7 days', 5);
INSERT INTO lead_mgmt.scoring_rules (name, condition, points)
VALUES ('circular', '{"field": "score", "op": ">", "value": 10}', 5);
INSERT INTO lead_mgmt.scoring_rules (name, condition, points)
VALUES ('bad op', '{"field": "industry", "op": "~", "value": "x"}', 5);
INSERT INTO lead_mgmt.scoring_rules (name, event_type, points) VALUES ('', 'email_opened', 5);
INSERT INTO lead_mgmt.scoring_rules (name, event_type, points) VALUES ('opened', 'email_opened', 5);
SELECT count(*) AS rules FROM lead_mgmt.scoring_rules;

-- Settings are checked too.
UPDATE lead_mgmt.settings SET value = 'soon' WHERE name = 'default_sla';
UPDATE lead_mgmt.settings SET value = '-2 days' WHERE name = 'default_sla';
INSERT INTO lead_mgmt.settings VALUES ('mql_stall', '3 days');
UPDATE lead_mgmt.settings SET value = '3 days' WHERE name = 'default_sla';
SELECT name, value FROM lead_mgmt.settings ORDER BY name;
