-- Capturing leads and recording their behaviour.
--
-- Applications insert leads with lead_mgmt.capture() (or plain INSERT) and
-- events with lead_mgmt.track() (or plain INSERT / COPY).  Everything
-- computed -- score, stage, counts -- is maintained by the extension.
SET client_min_messages = warning;
SET timezone = 'UTC';
-- every story starts from a fresh install
DROP EXTENSION lead_mgmt;
CREATE EXTENSION lead_mgmt;

-- A new lead: capture returns its id.
SELECT lead_mgmt.capture('{"email": "Ada@Example.com", "first_name": "Ada",
                          "company": "Analytical Engines", "channel": "organic",
                          "attributes": {"interests": ["math", "engines"]}}') AS ada \gset
SELECT first_name, email, stage, score FROM lead_mgmt.leads WHERE id = :ada;

-- Capturing the same person again merges: by email, case-insensitively.
-- Given fields overwrite, attributes merge.
SELECT lead_mgmt.capture('{"email": "ada@example.COM", "job_title": "Countess",
                          "attributes": {"children": 3}}') = :ada AS same_lead;
SELECT first_name, job_title, attributes FROM lead_mgmt.leads WHERE id = :ada;
SELECT count(*) AS leads FROM lead_mgmt.leads;

-- external_id takes precedence over email; a lead may be known by both.
SELECT lead_mgmt.capture('{"external_id": "crm-42", "email": "grace@example.com",
                          "first_name": "Grace"}') AS grace \gset
SELECT lead_mgmt.capture('{"external_id": "crm-42", "last_name": "Hopper"}') = :grace AS same_lead;
SELECT first_name, last_name, external_id FROM lead_mgmt.leads WHERE id = :grace;

-- Bad input is refused with a message that says what to do.
SELECT lead_mgmt.capture('{"first_name": "Nobody"}');
SELECT lead_mgmt.capture('{"email": "x@example.com", "favourite_color": "blue"}');
SELECT lead_mgmt.capture('{"email": "x@example.com", "score": 100}');
SELECT lead_mgmt.capture('[1, 2]');
SELECT lead_mgmt.capture('{"email": "not-an-email"}');
SELECT lead_mgmt.capture('{"email": "x@example.com", "attributes": [1]}');
SELECT lead_mgmt.capture('{"external_id": "crm-43", "email": "GRACE@example.com"}');
SELECT lead_mgmt.capture('{"email": "x@example.com", "company_size": "large"}');
SELECT count(*) AS leads FROM lead_mgmt.leads;
-- An external_id and an email that belong to two different leads: the
-- capture would merge by external_id and give that lead the other's email.
-- The error names both leads (here the email's lead has no external_id).
SELECT lead_mgmt.capture('{"email": "mary@example.com"}') AS mary_by_email \gset
SELECT lead_mgmt.capture('{"external_id": "crm-44"}') AS mary_by_crm \gset
SELECT lead_mgmt.capture('{"external_id": "crm-44", "email": "Mary@example.com"}');
-- Either one alone still merges into its own lead.
SELECT lead_mgmt.capture('{"external_id": "crm-44", "first_name": "Mary"}') = :mary_by_crm AS same_lead;
SELECT lead_mgmt.capture('{"email": "mary@example.com", "first_name": "Mary"}') = :mary_by_email AS same_lead;
DELETE FROM lead_mgmt.leads WHERE id IN (:mary_by_email, :mary_by_crm);

-- Plain INSERT works too; computed columns are not the application's to write.
INSERT INTO lead_mgmt.leads (email, first_name) VALUES ('alan@example.com', 'Alan')
RETURNING stage, score, fit_score, engagement_score;
INSERT INTO lead_mgmt.leads (email, score) VALUES ('eve@example.com', 99);
-- ... and, like capture(), a lead needs an external_id or an email (0.2),
-- to be found again; nor may an update take away the last of them.
INSERT INTO lead_mgmt.leads (first_name) VALUES ('Nobody');
UPDATE lead_mgmt.leads SET email = NULL WHERE email = 'alan@example.com';
UPDATE lead_mgmt.leads SET stage = 'customer' WHERE email = 'alan@example.com';
UPDATE lead_mgmt.leads SET owner_id = 1 WHERE email = 'alan@example.com';
-- ... while ordinary fields can be updated freely.
UPDATE lead_mgmt.leads SET company = 'Bletchley Park' WHERE email = 'alan@example.com'
RETURNING company, stage;

-- Events: track() records one and returns its id.
SELECT lead_mgmt.track(:ada, 'email_opened') > 0 AS tracked;
SELECT lead_mgmt.track(:ada, 'pricing_page_visited', '{"page": "/pricing"}') > 0 AS tracked;
SELECT event_type, properties, points FROM lead_mgmt.events WHERE lead_id = :ada ORDER BY id;
SELECT last_event_at IS NOT NULL AS has_last_event FROM lead_mgmt.leads WHERE id = :ada;

-- A duplicate delivery (same dedupe_key) returns the first event's id.
SELECT lead_mgmt.track(:ada, 'email_clicked', '{}', now(), 'esp-msg-1') AS first_id \gset
SELECT lead_mgmt.track(:ada, 'email_clicked', '{}', now(), 'esp-msg-1') = :first_id AS same_event;
SELECT count(*) AS clicks FROM lead_mgmt.events WHERE lead_id = :ada AND event_type = 'email_clicked';
-- Plain INSERT ... ON CONFLICT DO NOTHING is the bulk way to the same effect.
INSERT INTO lead_mgmt.events (lead_id, event_type, dedupe_key)
VALUES (:ada, 'email_clicked', 'esp-msg-1') ON CONFLICT (dedupe_key) DO NOTHING;
SELECT count(*) AS clicks FROM lead_mgmt.events WHERE lead_id = :ada AND event_type = 'email_clicked';
-- A redelivery is of the same lead and event type.  The key of another
-- lead's event, or of another type, is a collision: returning the first
-- event would silently drop this one (0.2: an error).
SELECT lead_mgmt.track(:grace, 'email_clicked', '{}', now(), 'esp-msg-1');
SELECT lead_mgmt.track(:ada, 'purchase', '{}', now(), 'esp-msg-1');
-- An empty key is refused: it would be one key for every event given it.
SELECT lead_mgmt.track(:ada, 'email_clicked', '{}', now(), '');
INSERT INTO lead_mgmt.events (lead_id, event_type, dedupe_key) VALUES (:ada, 'email_clicked', '');

-- Unknown event types are refused, with the way out in the hint.
SELECT lead_mgmt.track(:ada, 'webinar_attended');
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (:ada, 'webinar_attended');
-- ... or registered on the fly, for pipelines that must never refuse.
SET lead_mgmt.unknown_event_types = register;
SELECT lead_mgmt.track(:ada, 'webinar_attended') > 0 AS tracked;
RESET lead_mgmt.unknown_event_types;
SELECT name, description FROM lead_mgmt.event_types WHERE name = 'webinar_attended';
SET lead_mgmt.unknown_event_types = sometimes;

-- Other bad events.
SELECT lead_mgmt.track(999999, 'email_opened');
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (999999, 'email_opened');
SELECT lead_mgmt.track(NULL, 'email_opened');
SELECT lead_mgmt.track(:ada, 'email_opened', '"just a string"');
INSERT INTO lead_mgmt.events (lead_id, event_type, points) VALUES (:ada, 'email_opened', 50);
UPDATE lead_mgmt.events SET points = 50 WHERE lead_id = :ada;
INSERT INTO lead_mgmt.event_types (name) VALUES ('has space');
SELECT count(*) AS events FROM lead_mgmt.events WHERE lead_id = :ada;

-- An event type in use cannot be deleted or renamed (0.2): not while
-- events were recorded with it, nor while a scoring rule or a condition
-- (of a stage, segment, assignment rule or sequence) names it, nor if
-- lead_mgmt records it itself.
\set SHOW_CONTEXT never
DELETE FROM lead_mgmt.event_types WHERE name = 'webinar_attended';
UPDATE lead_mgmt.event_types SET name = 'webinar_watched' WHERE name = 'webinar_attended';
DELETE FROM lead_mgmt.event_types WHERE name IN ('lead_magnet_downloaded', 'form_submitted');
INSERT INTO lead_mgmt.scoring_rules (name, event_type, points) VALUES ('chatted', 'chat_started', 3);
INSERT INTO lead_mgmt.segments (name, condition)
VALUES ('quiet', '{"all": [{"field": "channel", "op": "=", "value": "organic"},
                           {"not": {"any": [{"event": "chat_started"}, {"event": "demo_requested"}]}}]}');
DELETE FROM lead_mgmt.event_types WHERE name = 'chat_started';
DELETE FROM lead_mgmt.event_types WHERE name = 'demo_requested';
INSERT INTO lead_mgmt.assignment_rules (name, priority, condition)
VALUES ('repliers first', 1, '{"event": "email_replied"}');
INSERT INTO lead_mgmt.sequences (name, enroll_condition, exit_condition)
VALUES ('paid welcome', '{"field": "channel", "op": "=", "value": "paid"}', '{"event": "email_replied"}');
DELETE FROM lead_mgmt.event_types WHERE name = 'email_replied';
-- nor the types lead_mgmt records itself, even before any use
DELETE FROM lead_mgmt.event_types WHERE name = 'purchase';
UPDATE lead_mgmt.event_types SET name = 'mail_sent' WHERE name = 'email_sent';
TRUNCATE lead_mgmt.event_types;
\set SHOW_CONTEXT errors
-- Description and category may change; a type nothing uses may be renamed
-- or deleted (a properties filter with a key "event" does not name a
-- type); once the rules, segment and sequence are gone, so may theirs.
UPDATE lead_mgmt.event_types SET description = 'attended a webinar', category = 'web'
 WHERE name = 'webinar_attended';
INSERT INTO lead_mgmt.event_types (name) VALUES ('fax_received');
INSERT INTO lead_mgmt.scoring_rules (name, condition, points)
VALUES ('fax fan', '{"event": "email_opened", "properties": {"event": "fax_received"}}', 1);
UPDATE lead_mgmt.event_types SET name = 'fax_sent' WHERE name = 'fax_received';
DELETE FROM lead_mgmt.event_types WHERE name = 'fax_sent';
DELETE FROM lead_mgmt.scoring_rules WHERE name IN ('chatted', 'fax fan');
DELETE FROM lead_mgmt.segments WHERE name = 'quiet';
DELETE FROM lead_mgmt.assignment_rules WHERE name = 'repliers first';
DELETE FROM lead_mgmt.sequences WHERE name = 'paid welcome';
DELETE FROM lead_mgmt.event_types WHERE name IN ('chat_started', 'email_replied');
SELECT count(*) AS event_types FROM lead_mgmt.event_types;

-- Deleting a lead deletes its events and history (e.g. an erasure request).
DELETE FROM lead_mgmt.leads WHERE id = :ada;
SELECT count(*) AS events_left FROM lead_mgmt.events WHERE lead_id = :ada;
SELECT count(*) AS history_left FROM lead_mgmt.stage_history WHERE lead_id = :ada;
-- ... and a type only its events used may go now.
DELETE FROM lead_mgmt.event_types WHERE name = 'webinar_attended';
SELECT count(*) AS webinar_type_left FROM lead_mgmt.event_types WHERE name = 'webinar_attended';

-- A misspelt setting of ours is an error, not silently ignored.
SET lead_mgmt.defer_rescorr = on;
