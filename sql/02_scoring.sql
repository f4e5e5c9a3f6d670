-- Scoring: the example scoring system, end to end.
--
-- A fresh install has no scoring rules; load_example_rules() inserts the
-- guide's example (idempotently).  Each event then adds its rule's points
-- at commit, and explain_score() says where every point came from.
SET client_min_messages = warning;
SET timezone = 'UTC';
-- every story starts from a fresh install
DROP EXTENSION lead_mgmt;
CREATE EXTENSION lead_mgmt;

SELECT count(*) AS rules FROM lead_mgmt.scoring_rules;
SELECT lead_mgmt.load_example_rules() AS added;
SELECT lead_mgmt.load_example_rules() AS added_again;
SELECT name, event_type, points, condition IS NOT NULL AS is_condition
  FROM lead_mgmt.scoring_rules ORDER BY id;

-- Ada subscribes (+5), opens (+5) and clicks (+10) an email, visits the
-- pricing page (+10) and replies (+15): 45 points, a marketing qualified lead.
SELECT lead_mgmt.capture('{"email": "ada@example.com", "first_name": "Ada"}') AS ada \gset
SELECT lead_mgmt.track(:ada, 'email_subscribed') > 0 AS ok;
SELECT score, stage FROM lead_mgmt.leads WHERE id = :ada;
SELECT lead_mgmt.track(:ada, 'email_opened') > 0 AS ok;
SELECT lead_mgmt.track(:ada, 'email_clicked') > 0 AS ok;
SELECT lead_mgmt.track(:ada, 'pricing_page_visited') > 0 AS ok;
SELECT lead_mgmt.track(:ada, 'email_replied') > 0 AS ok;
SELECT score, engagement_score, fit_score, stage FROM lead_mgmt.leads WHERE id = :ada;

-- She schedules a consultation (+25): 70 points, sales qualified.
SELECT lead_mgmt.track(:ada, 'consultation_scheduled') > 0 AS ok;
SELECT score, stage FROM lead_mgmt.leads WHERE id = :ada;

-- She cancels an appointment (-5) and unsubscribes (-25): 40 points, but
-- stages never move down by themselves.
SELECT lead_mgmt.track(:ada, 'appointment_cancelled') > 0 AS ok;
SELECT lead_mgmt.track(:ada, 'email_unsubscribed') > 0 AS ok;
SELECT score, stage FROM lead_mgmt.leads WHERE id = :ada;

-- Where every point came from; the rows sum to the score.
SELECT * FROM lead_mgmt.explain_score(:ada);
SELECT sum(points) = (SELECT score FROM lead_mgmt.leads WHERE id = :ada) AS sums_to_score
  FROM lead_mgmt.explain_score(:ada);

-- The way she got there.
SELECT from_stage, to_stage, reason FROM lead_mgmt.stage_history
 WHERE lead_id = :ada ORDER BY id;

-- events.points records what each event earned when it arrived.
SELECT event_type, points FROM lead_mgmt.events WHERE lead_id = :ada ORDER BY id;

-- Bulk loads score the same way: three leads, one multi-row INSERT.
INSERT INTO lead_mgmt.leads (email) VALUES ('b1@example.com'), ('b2@example.com'), ('b3@example.com');
INSERT INTO lead_mgmt.events (lead_id, event_type)
SELECT l.id, t.event_type
  FROM lead_mgmt.leads l
 CROSS JOIN (VALUES ('email_opened'), ('email_opened'), ('email_clicked'), ('pricing_page_visited')) t(event_type)
 WHERE l.email LIKE 'b_@example.com';
SELECT email, score, stage FROM lead_mgmt.leads WHERE email LIKE 'b_@example.com' ORDER BY email;

-- COPY, the bulk loader, goes through the same pipeline (lead 1 is Ada:
-- ids start at 1 in a fresh install).  Two more opens: 40 + 10.
COPY lead_mgmt.events (lead_id, event_type, properties) FROM STDIN;
1	email_opened	{"campaign": "spring"}
1	email_opened	{}
\.
SELECT score FROM lead_mgmt.leads WHERE id = 1;
-- A batch with an event of a lead that does not exist is refused whole.
COPY lead_mgmt.events (lead_id, event_type) FROM STDIN;
1	email_opened
424242	email_opened
\.
SELECT score FROM lead_mgmt.leads WHERE id = 1;

-- Late events (occurred in the past) count like any other.
SELECT lead_mgmt.track(l.id, 'email_replied', '{}', now() - interval '200 days') > 0 AS ok
  FROM lead_mgmt.leads l WHERE email = 'b1@example.com';
SELECT email, score, stage FROM lead_mgmt.leads WHERE email = 'b1@example.com';

-- Event rules can filter on properties, cap occurrences and count a window.
INSERT INTO lead_mgmt.scoring_rules (name, event_type, properties, points, max_occurrences)
VALUES ('watched the enterprise webinar', 'form_submitted', '{"form": "webinar", "tier": "enterprise"}', 20, 1);
INSERT INTO lead_mgmt.scoring_rules (name, event_type, points, within)
VALUES ('chatted recently', 'chat_started', 3, '7 days');
SELECT lead_mgmt.capture('{"email": "carol@example.com"}') AS carol \gset
INSERT INTO lead_mgmt.events (lead_id, event_type, properties, occurred_at) VALUES
    (:carol, 'form_submitted', '{"form": "webinar", "tier": "enterprise", "session": 1}', now()),
    (:carol, 'form_submitted', '{"form": "webinar", "tier": "enterprise", "session": 2}', now()),
    (:carol, 'form_submitted', '{"form": "webinar", "tier": "smb"}', now()),
    (:carol, 'chat_started', '{}', now() - interval '1 day'),
    (:carol, 'chat_started', '{}', now() - interval '30 days');
SELECT * FROM lead_mgmt.explain_score(:carol);
SELECT score, stage FROM lead_mgmt.leads WHERE id = :carol;

-- Condition rules: fit (fields only) and engagement (tests events).
INSERT INTO lead_mgmt.scoring_rules (name, condition, points) VALUES
    ('big company', '{"field": "company_size", "op": ">=", "value": 500}', 15),
    ('in fintech or banking', '{"field": "industry", "op": "in", "value": ["FinTech", "banking"]}', 10),
    ('opened three emails', '{"event": "email_opened", "min_count": 3}', 7);
UPDATE lead_mgmt.leads SET company_size = 1200, industry = 'fintech' WHERE id = :carol;
SELECT score, engagement_score, fit_score FROM lead_mgmt.leads WHERE id = :carol;
INSERT INTO lead_mgmt.events (lead_id, event_type)
SELECT :carol, 'email_opened' FROM generate_series(1, 3);
SELECT * FROM lead_mgmt.explain_score(:carol);
SELECT score, engagement_score, fit_score, stage FROM lead_mgmt.leads WHERE id = :carol;

-- Your own triggers on leads fire on the updates lead_mgmt makes, too:
-- here an audit of score changes, and a BEFORE trigger that tidies a
-- field (it fires before lead_mgmt's, whose name sorts later, so the
-- score sees the tidied value).  An AFTER trigger's OLD is the lead as
-- it was before the event.  With no trigger of yours on UPDATE of leads,
-- lead_mgmt calls its own two directly instead of through the trigger
-- manager -- cheaper, with the same results.
CREATE TABLE public.score_audit (lead_id bigint, old_score integer, new_score integer, stage text);
CREATE FUNCTION public.audit_score() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.score_audit VALUES (NEW.id, OLD.score, NEW.score, NEW.stage);
    RETURN NULL;
END $$;
CREATE TRIGGER audit_score AFTER UPDATE ON lead_mgmt.leads
    FOR EACH ROW WHEN (OLD.score IS DISTINCT FROM NEW.score) EXECUTE FUNCTION public.audit_score();
CREATE FUNCTION public.tidy_industry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.industry := lower(NEW.industry);
    RETURN NEW;
END $$;
CREATE TRIGGER a_tidy_industry BEFORE UPDATE ON lead_mgmt.leads
    FOR EACH ROW EXECUTE FUNCTION public.tidy_industry();
SELECT lead_mgmt.capture('{"email": "dora@example.com", "industry": "FinTech"}') AS dora \gset
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (:dora, 'pricing_page_visited');
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (:dora, 'demo_requested');
SELECT old_score, new_score, stage FROM public.score_audit WHERE lead_id = :dora ORDER BY new_score;
SELECT industry, score, fit_score, stage FROM lead_mgmt.leads WHERE id = :dora;
-- a disabled trigger does not fire; dropped, lead_mgmt goes on alone
ALTER TABLE lead_mgmt.leads DISABLE TRIGGER audit_score;
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (:dora, 'email_replied');
DROP TRIGGER a_tidy_industry ON lead_mgmt.leads;
DROP TRIGGER audit_score ON lead_mgmt.leads;
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (:dora, 'email_clicked');
SELECT count(*) AS audited FROM public.score_audit WHERE lead_id = :dora;
SELECT score, stage FROM lead_mgmt.leads WHERE id = :dora;
-- a trigger of yours whose exception block catches an error (a
-- subtransaction rolled back while lead_mgmt updates the leads) does not
-- cost the statement's events: every lead gets its own
CREATE FUNCTION public.careful_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM 1 / 0;
    EXCEPTION WHEN division_by_zero THEN NULL;
    END;
    RETURN NEW;
END $$;
CREATE TRIGGER a_careful BEFORE UPDATE ON lead_mgmt.leads
    FOR EACH ROW EXECUTE FUNCTION public.careful_trigger();
SELECT lead_mgmt.capture('{"email": "cara@example.com"}') AS cara \gset
SELECT lead_mgmt.capture('{"email": "cato@example.com"}') AS cato \gset
INSERT INTO lead_mgmt.events (lead_id, event_type)
VALUES (:cara, 'pricing_page_visited'), (:cato, 'email_replied'), (:cato, 'email_opened');
SELECT lead_mgmt.track(:cara, 'email_clicked') > 0 AS tracked;
DROP TRIGGER a_careful ON lead_mgmt.leads;
CREATE TEMP TABLE careful AS SELECT id, score, event_counts FROM lead_mgmt.leads WHERE id IN (:cara, :cato);
SELECT lead_mgmt.rescore() > 0 AS rescored;
SELECT l.id = :cara AS is_cara, c.score, c.score = l.score AND c.event_counts = l.event_counts AS as_rescored
  FROM careful c JOIN lead_mgmt.leads l USING (id) ORDER BY 1 DESC;
-- lead_mgmt's update of a lead sets its computed columns: a trigger of
-- yours that is UPDATE OF stage (or score, owner_id, ...) fires on it, and
-- a statement trigger of yours with a transition table sees the leads the
-- statement updated -- for one event, for many in one statement, and for
-- a rescore of every lead.
SELECT lead_mgmt.capture('{"email": "emil@example.com"}') AS emil \gset
SELECT lead_mgmt.capture('{"email": "fay@example.com"}') AS fay \gset
CREATE TABLE public.stage_moves (lead_id bigint, from_stage text, to_stage text);
CREATE FUNCTION public.log_stage_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.stage_moves VALUES (NEW.id, OLD.stage, NEW.stage);
    RETURN NULL;
END $$;
CREATE TRIGGER log_stage_move AFTER UPDATE OF stage ON lead_mgmt.leads
    FOR EACH ROW WHEN (OLD.stage IS DISTINCT FROM NEW.stage)
    EXECUTE FUNCTION public.log_stage_move();
CREATE TABLE public.lead_batches (leads bigint, stages text);
CREATE FUNCTION public.log_batch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.lead_batches
    SELECT count(*), string_agg(DISTINCT stage, ',' ORDER BY stage) FROM updated;
    RETURN NULL;
END $$;
CREATE TRIGGER log_batch AFTER UPDATE ON lead_mgmt.leads
    REFERENCING NEW TABLE AS updated
    FOR EACH STATEMENT EXECUTE FUNCTION public.log_batch();
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (:emil, 'demo_requested');
INSERT INTO lead_mgmt.events (lead_id, event_type)
VALUES (:fay, 'demo_requested'), (:emil, 'email_opened'), (:fay, 'email_opened');
SELECT lead_id = :emil AS is_emil, from_stage, to_stage FROM public.stage_moves ORDER BY 1 DESC;
SELECT leads, stages FROM public.lead_batches ORDER BY leads;
TRUNCATE public.lead_batches;
-- a rescore updates every lead by one statement, which names the computed
-- columns too: a statement trigger that is UPDATE OF score fires once
CREATE TABLE public.score_statements (at timestamptz);
CREATE FUNCTION public.log_score_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.score_statements VALUES (pg_catalog.clock_timestamp());
    RETURN NULL;
END $$;
CREATE TRIGGER log_score_statement AFTER UPDATE OF score ON lead_mgmt.leads
    FOR EACH STATEMENT EXECUTE FUNCTION public.log_score_statement();
SELECT lead_mgmt.rescore() = (SELECT count(*) FROM lead_mgmt.leads) AS rescored_all;
SELECT leads = (SELECT count(*) FROM lead_mgmt.leads) AS saw_every_lead FROM public.lead_batches;
SELECT count(*) AS score_statements FROM public.score_statements;
DROP TRIGGER log_stage_move ON lead_mgmt.leads;
DROP TRIGGER log_batch ON lead_mgmt.leads;
DROP TRIGGER log_score_statement ON lead_mgmt.leads;
-- A rule of yours on UPDATE of leads applies to lead_mgmt's updates too
-- (they then run as a statement).  Prefer a trigger: a rule's NEW is what
-- the statement sets, before lead_mgmt's row trigger derives the new
-- values (here the stage the lead had), and PostgreSQL refuses INSERT ...
-- ON CONFLICT on a table with such a rule, which capture() uses.  An
-- INSTEAD rule would replace lead_mgmt's updates, so lead_mgmt refuses the
-- event instead, and nothing of it is kept.
SELECT lead_mgmt.capture('{"email": "gus@example.com"}') AS gus \gset
CREATE TABLE public.rule_log (lead_id bigint, stage text);
CREATE RULE log_lead_update AS ON UPDATE TO lead_mgmt.leads
    DO ALSO INSERT INTO public.rule_log VALUES (NEW.id, NEW.stage);
\set VERBOSITY terse
SELECT lead_mgmt.capture('{"email": "hal@example.com"}');
\set VERBOSITY default
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (:gus, 'demo_requested');
SELECT lead_id = :gus AS is_gus, stage FROM public.rule_log;
SELECT score, stage FROM lead_mgmt.leads WHERE id = :gus;
DROP RULE log_lead_update ON lead_mgmt.leads;
CREATE RULE swallow_lead_update AS ON UPDATE TO lead_mgmt.leads DO INSTEAD NOTHING;
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (:gus, 'email_opened');
SELECT count(*) AS gus_events FROM lead_mgmt.events WHERE lead_id = :gus;
DROP RULE swallow_lead_update ON lead_mgmt.leads;
-- A stored generated column of yours on leads follows the computed columns
-- it reads, after every update lead_mgmt makes.
ALTER TABLE lead_mgmt.leads ADD COLUMN hot boolean GENERATED ALWAYS AS (score >= 15) STORED;
SELECT lead_mgmt.capture('{"email": "ida@example.com"}') AS ida \gset
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (:ida, 'email_clicked');
SELECT score, hot FROM lead_mgmt.leads WHERE id = :ida;
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (:ida, 'pricing_page_visited');
SELECT score, hot FROM lead_mgmt.leads WHERE id = :ida;
ALTER TABLE lead_mgmt.leads DROP COLUMN hot;
-- Your CHECK constraints on leads hold for the computed columns too: an
-- event that would break one is refused, and nothing of it is kept
-- (NOT VALID: rows already there are not checked, changes are).
ALTER TABLE lead_mgmt.leads ADD CONSTRAINT score_cap CHECK (score <= 50) NOT VALID;
\set VERBOSITY terse
INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (:dora, 'email_clicked');
\set VERBOSITY default
SELECT score, stage, (SELECT count(*) FROM lead_mgmt.events WHERE lead_id = :dora) AS events
  FROM lead_mgmt.leads WHERE id = :dora;
ALTER TABLE lead_mgmt.leads DROP CONSTRAINT score_cap;
DROP TABLE public.score_audit;
DROP FUNCTION public.audit_score();
DROP FUNCTION public.tidy_industry();

-- One statement that both inserts events and changes others counts each
-- event once: an idempotent redelivery by INSERT ... ON CONFLICT DO UPDATE
-- (k1 again, k2 new), and a writable CTE that deletes some and inserts
-- others.  (The two statement triggers may fire in either order; when the
-- recount from scratch runs first it has seen the new events already.)
SELECT lead_mgmt.capture('{"email": "gil@example.com"}') AS gil \gset
INSERT INTO lead_mgmt.events (lead_id, event_type, dedupe_key) VALUES (:gil, 'email_opened', 'gil-k1');
INSERT INTO lead_mgmt.events (lead_id, event_type, dedupe_key)
VALUES (:gil, 'email_opened', 'gil-k1'), (:gil, 'email_replied', 'gil-k2')
ON CONFLICT (dedupe_key) DO UPDATE SET properties = excluded.properties;
SELECT l.score, (SELECT sum(points) FROM lead_mgmt.explain_score(:gil)) AS explained,
       (SELECT count(*) FROM lead_mgmt.events WHERE lead_id = :gil) AS events
  FROM lead_mgmt.leads l WHERE l.id = :gil;
WITH gone AS (DELETE FROM lead_mgmt.events WHERE lead_id = :gil AND event_type = 'email_opened'
              RETURNING lead_id)
INSERT INTO lead_mgmt.events (lead_id, event_type) SELECT DISTINCT lead_id, 'email_clicked' FROM gone;
SELECT l.score, (SELECT sum(points) FROM lead_mgmt.explain_score(:gil)) AS explained,
       (SELECT count(*) FROM lead_mgmt.events WHERE lead_id = :gil) AS events
  FROM lead_mgmt.leads l WHERE l.id = :gil;

-- Explaining or rescoring a lead that does not exist is an error.
SELECT * FROM lead_mgmt.explain_score(-1);
SELECT lead_mgmt.rescore(-1);

-- Every maintained score equals a rescore from scratch.
CREATE TEMP TABLE before AS SELECT id, score, engagement_score, fit_score, stage FROM lead_mgmt.leads;
SELECT lead_mgmt.rescore() > 0 AS rescored;
SELECT count(*) AS differences
  FROM before b JOIN lead_mgmt.leads l USING (id)
 WHERE (b.score, b.engagement_score, b.fit_score, b.stage)
       IS DISTINCT FROM (l.score, l.engagement_score, l.fit_score, l.stage);
