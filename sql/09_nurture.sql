-- Nurture: sequences chosen by behaviour, segment and lead magnet; a touch
-- queue that senders drain.
--
-- A lead whose state satisfies an active sequence's enroll_condition is
-- enrolled once, in the transaction that made it true, and its first touch
-- is queued, due the step's delay after enrolment.  The extension sends
-- nothing: senders claim due touches (lead_mgmt.claim_touches), perform
-- them, and report (lead_mgmt.complete_touch), which queues the next step,
-- due its delay after this one was done.  The sequence's exit_condition,
-- becoming a customer, being disqualified or unsubscribing exits the lead
-- and cancels what is pending.
SET client_min_messages = warning;
SET timezone = 'UTC';
SET intervalstyle = 'postgres';
\set SHOW_CONTEXT never
-- every story starts from a fresh install
DROP EXTENSION lead_mgmt;
CREATE EXTENSION lead_mgmt;

-- Sequences, each with typical steps.  Enrolment conditions use the one
-- condition language: behaviour (events), segment-like fields, lead magnet.
INSERT INTO lead_mgmt.sequences (name, enroll_condition, exit_condition) VALUES
    -- behaviour: attended the webinar; stop once sales takes over
    ('webinar follow-up', '{"event": "form_submitted", "properties": {"form": "webinar"}}',
                          '{"field": "stage", "op": ">=", "value": "sql"}'),
    -- behaviour: started a trial
    ('trial upgrade',     '{"event": "trial_started"}', NULL),
    -- segment-like: mid-size fintech companies; stop when they click
    ('fintech engagement', '{"all": [{"field": "industry", "op": "=", "value": "fintech"},
                                     {"field": "company_size", "op": ">=", "value": 100}]}',
                           '{"event": "email_clicked"}'),
    -- lead magnet: downloaded the pricing guide
    ('pricing guide',     '{"field": "lead_magnet", "op": "=", "value": "pricing-guide"}', NULL);
INSERT INTO lead_mgmt.sequences (name, enroll_condition, active) VALUES
    ('old newsletter', '{"event": "email_subscribed"}', false);

INSERT INTO lead_mgmt.sequence_steps (sequence_id, step, delay, action, channel)
SELECT s.id, v.step, v.delay::interval, v.action, v.channel
  FROM (VALUES
    ('webinar follow-up',  1, '0',       'webinar: send the recording',    'email'),
    ('webinar follow-up',  2, '2 days',  'webinar: invite to the next one', 'email'),
    ('trial upgrade',      1, '0',       'upgrade: plans and prices',      'email'),
    ('trial upgrade',      2, '0',       'upgrade: onboarding call',       'call'),
    ('trial upgrade',      3, '0',       'upgrade: last chance offer',     'email'),
    ('fintech engagement', 1, '0',       'engagement: fintech case study', 'email'),
    ('fintech engagement', 2, '3 days',  'engagement: compliance FAQ',     'email'),
    ('pricing guide',      1, '0',       'deliver the pricing guide',      'email'),
    ('pricing guide',      2, '0',       'FAQ: pricing questions',         'email'),
    ('pricing guide',      3, '1 week',  'offer a consultation',           'email'),
    ('old newsletter',     1, '0',       'newsletter',                     'email')
  ) AS v(seq, step, delay, action, channel)
  JOIN lead_mgmt.sequences s ON s.name = v.seq;

-- Helpers for reading the queue without timestamps: each touch with the
-- time it was due after the previous step was done (step 1: after
-- enrolment), and its state.
CREATE FUNCTION pg_temp.queue(who text) RETURNS TABLE (sequence text, step int, action text,
                                                       due_after interval, state text)
LANGUAGE sql AS $$
    SELECT s.name, t.step, t.action,
           t.due_at - coalesce((SELECT p.done_at FROM lead_mgmt.touches p
                                 WHERE p.enrollment_id = t.enrollment_id AND p.step < t.step
                                 ORDER BY p.step DESC LIMIT 1), e.enrolled_at),
           coalesce(t.outcome, 'claimed by ' || t.claimed_by, 'pending')
      FROM lead_mgmt.touches t
      JOIN lead_mgmt.enrollments e ON e.id = t.enrollment_id
      JOIN lead_mgmt.sequences s ON s.id = e.sequence_id
      JOIN lead_mgmt.leads l ON l.id = t.lead_id
     WHERE l.email = who
     ORDER BY s.name, t.step;
$$;
CREATE FUNCTION pg_temp.enrolments(who text) RETURNS TABLE (sequence text, step int, status text,
                                                            exit_reason text)
LANGUAGE sql AS $$
    SELECT s.name, e.step, e.status, e.exit_reason
      FROM lead_mgmt.enrollments e
      JOIN lead_mgmt.sequences s ON s.id = e.sequence_id
      JOIN lead_mgmt.leads l ON l.id = e.lead_id
     WHERE l.email = who
     ORDER BY s.name;
$$;

-- Enrolment by lead magnet: Ada downloads the pricing guide.
SELECT lead_mgmt.capture('{"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
                          "lead_magnet": "pricing-guide"}') AS ada \gset
SELECT * FROM pg_temp.enrolments('ada@example.com');
SELECT * FROM pg_temp.queue('ada@example.com');

-- Enrolment by behaviour: Ben attends the webinar, Dee starts a trial.
SELECT lead_mgmt.capture('{"email": "ben@example.com", "first_name": "Ben"}') AS ben \gset
SELECT lead_mgmt.track(:ben, 'form_submitted', '{"form": "webinar"}') > 0 AS tracked;
SELECT lead_mgmt.capture('{"email": "dee@example.com", "first_name": "Dee"}') AS dee \gset
SELECT lead_mgmt.track(:dee, 'trial_started') > 0 AS tracked;
-- A form that is not the webinar enrols nobody.
SELECT lead_mgmt.capture('{"email": "fay@example.com"}') AS fay \gset
SELECT lead_mgmt.track(:fay, 'form_submitted', '{"form": "contact"}') > 0 AS tracked;
SELECT count(*) AS fay_enrolments FROM pg_temp.enrolments('fay@example.com');

-- Enrolment by segment-like fields: Cy works at a 500-person fintech; the
-- same company at 50 people would not qualify.  The inactive sequence
-- (old newsletter) enrols nobody, though Cy subscribes.
SELECT lead_mgmt.capture('{"email": "cy@example.com", "first_name": "Cy", "industry": "FinTech",
                          "company_size": 50}') AS cy \gset
SELECT count(*) AS cy_enrolments_at_50 FROM pg_temp.enrolments('cy@example.com');
SELECT lead_mgmt.capture('{"email": "cy@example.com", "company_size": 500}') = :cy AS same_lead;
SELECT lead_mgmt.track(:cy, 'email_subscribed') > 0 AS tracked;
SELECT * FROM pg_temp.enrolments('cy@example.com');

-- Once per lead and sequence: Ben attends a second webinar, Ada downloads
-- the guide again; nobody is enrolled twice.
SELECT lead_mgmt.track(:ben, 'form_submitted', '{"form": "webinar"}') > 0 AS tracked;
SELECT lead_mgmt.capture('{"email": "ada@example.com", "lead_magnet": "pricing-guide"}') = :ada AS same_lead;
SELECT s.name AS sequence, count(*) AS enrolments
  FROM lead_mgmt.enrollments e JOIN lead_mgmt.sequences s ON s.id = e.sequence_id
 GROUP BY s.name ORDER BY s.name;

-- The sender loop.  A sender claims what is due (each touch goes to one
-- worker), performs it, and reports.  Here one statement does a round:
-- claim, "send", complete.  complete_touch returns the next touch's id
-- (null when the enrolment ended).
SELECT c.sequence_name, c.step, c.action, c.channel, c.email, c.first_name,
       lead_mgmt.complete_touch(c.touch_id,
                                CASE c.channel WHEN 'email' THEN 'sent' ELSE 'done' END) IS NOT NULL AS has_next
  FROM lead_mgmt.claim_touches('sender-1') c
 ORDER BY c.touch_id;
-- Second round: the steps with no delay are due at once.
SELECT c.sequence_name, c.step, c.action, c.channel,
       lead_mgmt.complete_touch(c.touch_id,
                                CASE c.channel WHEN 'email' THEN 'sent' ELSE 'done' END) IS NOT NULL AS has_next
  FROM lead_mgmt.claim_touches('sender-1') c
 ORDER BY c.touch_id;
-- Third round: Dee's last trial email; then nothing is due.
SELECT c.sequence_name, c.step, c.action,
       lead_mgmt.complete_touch(c.touch_id) IS NOT NULL AS has_next
  FROM lead_mgmt.claim_touches('sender-1') c
 ORDER BY c.touch_id;
SELECT count(*) AS nothing_due FROM lead_mgmt.claim_touches('sender-1');

-- Later steps wait their delay after the previous touch was done.
SELECT * FROM pg_temp.queue('ada@example.com');
SELECT * FROM pg_temp.queue('ben@example.com');
SELECT * FROM pg_temp.queue('cy@example.com');
-- Dee finished the trial sequence: completed.
SELECT * FROM pg_temp.enrolments('dee@example.com');
SELECT * FROM pg_temp.queue('dee@example.com');

-- Every sent email step is an email_sent event of the lead (the call is
-- not), with the sequence, step and touch; dedupe_key touch:<id>.
SELECT l.first_name, e.properties ->> 'sequence' AS sequence, e.properties ->> 'step' AS step,
       e.properties ->> 'action' AS action,
       e.dedupe_key = 'touch:' || (e.properties ->> 'touch_id') AS deduped_by_touch
  FROM lead_mgmt.events e JOIN lead_mgmt.leads l ON l.id = e.lead_id
 WHERE e.event_type = 'email_sent'
 ORDER BY e.id;

-- Maintenance counts what is due (a gauge: the queue's length): nothing now;
-- in 8 days Ada's consultation offer, Ben's invitation and Cy's FAQ.
SELECT lead_mgmt.run_maintenance() ->> 'touches_due' AS due_now;
SELECT lead_mgmt.run_maintenance(now() + interval '8 days') ->> 'touches_due' AS due_in_8_days;

-- A sender as a procedure that commits each batch: here it hands the
-- emails to an outbox table that the mail system reads.
CREATE TABLE pg_temp.outbox (touch_id bigint, email text, action text);
CREATE PROCEDURE pg_temp.send_due_touches(worker text)
LANGUAGE plpgsql AS $$
DECLARE
    t record;
    n integer;
BEGIN
    LOOP
        n := 0;
        FOR t IN SELECT * FROM lead_mgmt.claim_touches(worker, 100) LOOP
            INSERT INTO pg_temp.outbox VALUES (t.touch_id, t.email, t.action);
            PERFORM lead_mgmt.complete_touch(t.touch_id, 'sent');
            n := n + 1;
        END LOOP;
        COMMIT;
        EXIT WHEN n = 0;
    END LOOP;
END;
$$;
SELECT lead_mgmt.capture('{"email": "gus@example.com", "first_name": "Gus", "lead_magnet": "pricing-guide"}') AS gus \gset
CALL pg_temp.send_due_touches('outbox-sender');
SELECT email, action FROM pg_temp.outbox ORDER BY touch_id;
SELECT * FROM pg_temp.queue('gus@example.com');

-- Claims are leased.  A worker that claimed and went silent keeps the touch
-- for touch_lease (5 minutes): another worker does not get it meanwhile.
SELECT lead_mgmt.capture('{"email": "hal@example.com", "first_name": "Hal"}') AS hal \gset
SELECT lead_mgmt.track(:hal, 'trial_started') > 0 AS tracked;
SELECT touch_id AS hal_touch, action FROM lead_mgmt.claim_touches('crashed-worker') \gset
SELECT :'action' AS claimed_by_the_crashed_worker;
SELECT count(*) AS other_worker_gets FROM lead_mgmt.claim_touches('sender-2');
-- Once the lease has run out, maintenance puts the claim back in the queue
-- (and says how many); a second run at the same time changes nothing.
SELECT now() + interval '6 minutes' AS later \gset
SELECT lead_mgmt.run_maintenance(:'later') ->> 'touches_released' AS released;
SELECT lead_mgmt.run_maintenance(:'later') ->> 'touches_released' AS released_again;
SELECT * FROM pg_temp.queue('hal@example.com');
-- ... and the next claim hands it out again.
SELECT touch_id = :hal_touch AS same_touch, action FROM lead_mgmt.claim_touches('sender-2');
-- claim_touches itself also takes back expired claims, without maintenance:
-- with a lease of 1 microsecond, sender-2's claim has expired by the next
-- statement.
UPDATE lead_mgmt.settings SET value = '1 microsecond' WHERE name = 'touch_lease';
SELECT touch_id = :hal_touch AS same_touch FROM lead_mgmt.claim_touches('sender-3');
SELECT * FROM pg_temp.queue('hal@example.com');
UPDATE lead_mgmt.settings SET value = '5 minutes' WHERE name = 'touch_lease';
-- A late report of the first claim still counts (a touch is done once).
SELECT lead_mgmt.complete_touch(:hal_touch) IS NOT NULL AS has_next;
SELECT * FROM pg_temp.queue('hal@example.com');

-- A paused sequence (active = false) hands out nothing and enrols nobody;
-- reactivated, its touches are due again.
UPDATE lead_mgmt.sequences SET active = false WHERE name = 'trial upgrade';
SELECT count(*) AS while_paused FROM lead_mgmt.claim_touches('sender-1');
UPDATE lead_mgmt.sequences SET active = true WHERE name = 'trial upgrade';
SELECT sequence_name, action FROM lead_mgmt.claim_touches('sender-1');

-- A retried report is harmless: the same outcome again is a no-op that
-- returns the same next touch; no second email_sent.
SELECT lead_mgmt.complete_touch(:hal_touch) IS NOT NULL AS has_next;
SELECT count(*) AS hal_emails_sent FROM lead_mgmt.events WHERE lead_id = :hal AND event_type = 'email_sent';
-- A touch can end another way than sent: skipped (no email_sent), and the
-- enrolment still moves on.
SELECT lead_mgmt.complete_touch(t.id, 'skipped') IS NOT NULL AS has_next
  FROM lead_mgmt.touches t WHERE t.lead_id = :hal AND t.done_at IS NULL;
SELECT * FROM pg_temp.queue('hal@example.com');
SELECT count(*) AS hal_emails_sent FROM lead_mgmt.events WHERE lead_id = :hal AND event_type = 'email_sent';
-- The last step done, the enrolment is completed.
SELECT action, lead_mgmt.complete_touch(touch_id) IS NOT NULL AS has_next FROM lead_mgmt.claim_touches('sender-1');
SELECT * FROM pg_temp.enrolments('hal@example.com');

-- Exits.  Each cancels the lead's pending touches, which are never handed
-- out.
-- (1) exit_condition: Ben requests a demo and becomes sales-qualified.
SELECT lead_mgmt.track(:ben, 'demo_requested') > 0 AS tracked;
SELECT stage FROM lead_mgmt.leads WHERE id = :ben;
SELECT * FROM pg_temp.enrolments('ben@example.com');
SELECT * FROM pg_temp.queue('ben@example.com');
-- (2) purchase: Ada buys (a won deal), becomes a customer.
INSERT INTO lead_mgmt.deals (lead_id, amount, status) VALUES (:ada, 1200, 'won');
SELECT stage FROM lead_mgmt.leads WHERE id = :ada;
SELECT * FROM pg_temp.enrolments('ada@example.com');
SELECT * FROM pg_temp.queue('ada@example.com');
-- (3) disqualify(): Cy turns out to be a competitor.
SELECT lead_mgmt.disqualify(:cy, 'competitor');
SELECT * FROM pg_temp.enrolments('cy@example.com');
SELECT * FROM pg_temp.queue('cy@example.com');
-- (4) email_unsubscribed: Ivy downloads the guide, a sender claims her
-- first email, and she unsubscribes before it is reported.
SELECT lead_mgmt.capture('{"email": "ivy@example.com", "lead_magnet": "pricing-guide"}') AS ivy \gset
SELECT touch_id AS ivy_touch FROM lead_mgmt.claim_touches('sender-1') \gset
SELECT lead_mgmt.track(:ivy, 'email_unsubscribed') > 0 AS tracked;
SELECT * FROM pg_temp.enrolments('ivy@example.com');
SELECT * FROM pg_temp.queue('ivy@example.com');
-- The sender's report is refused: the lead left the sequence.
SELECT lead_mgmt.complete_touch(:ivy_touch);
-- (5) a customer moved there by hand (set_stage, a contract signed on
-- paper, no purchase recorded) exits like one who bought.
BEGIN;
SELECT lead_mgmt.capture('{"email": "pat@example.com", "lead_magnet": "pricing-guide"}') AS pat \gset
SELECT lead_mgmt.set_stage(:pat, 'customer', 'signed on paper');
SELECT * FROM pg_temp.enrolments('pat@example.com');
SELECT * FROM pg_temp.queue('pat@example.com');
ROLLBACK;
-- Cancelled touches never come back: in 30 days, the only touch due is
-- Gus's consultation offer.
SELECT l.first_name, t.action FROM lead_mgmt.touches t JOIN lead_mgmt.leads l ON l.id = t.lead_id
 WHERE t.done_at IS NULL ORDER BY t.id;
SELECT lead_mgmt.run_maintenance(now() + interval '30 days') ->> 'touches_due' AS due_in_30_days;
-- Exited leads are not enrolled again: Ben attends another webinar, the
-- customer Ada starts a trial.
SELECT lead_mgmt.track(:ben, 'form_submitted', '{"form": "webinar"}') > 0 AS tracked;
SELECT lead_mgmt.track(:ada, 'trial_started') > 0 AS tracked;
SELECT * FROM pg_temp.enrolments('ben@example.com');
SELECT * FROM pg_temp.enrolments('ada@example.com');

-- An exit_condition can be met by the email_sent that complete_touch
-- records: then the enrolment ends there and complete_touch returns null.
INSERT INTO lead_mgmt.sequences (name, enroll_condition, exit_condition) VALUES
    ('one email only', '{"event": "chat_started"}',
     '{"event": "email_sent", "properties": {"sequence": "one email only"}}');
INSERT INTO lead_mgmt.sequence_steps (sequence_id, step, delay, action)
SELECT id, g, '0', 'chat follow-up ' || g FROM lead_mgmt.sequences, generate_series(1, 2) g
 WHERE name = 'one email only';
SELECT lead_mgmt.capture('{"email": "joe@example.com"}') AS joe \gset
SELECT lead_mgmt.track(:joe, 'chat_started') > 0 AS tracked;
SELECT lead_mgmt.complete_touch(touch_id) AS next_touch FROM lead_mgmt.claim_touches('sender-1');
SELECT * FROM pg_temp.enrolments('joe@example.com');
SELECT * FROM pg_temp.queue('joe@example.com');

-- A new sequence is retroactive: the leads that already meet its
-- enroll_condition are enrolled when it is inserted.  Created the usual
-- way, the sequence first and its steps after, those enrolments wait for
-- the first step and get its touch when it is added (a sequence without
-- steps does not complete them: they would miss the sequence for good).
BEGIN;
SELECT lead_mgmt.capture('{"email": "old@example.com", "lead_magnet": "checklist"}') AS old_lead \gset
INSERT INTO lead_mgmt.sequences (name, enroll_condition)
VALUES ('checklist', '{"field": "lead_magnet", "op": "=", "value": "checklist"}');
SELECT * FROM pg_temp.enrolments('old@example.com');
SELECT count(*) AS touches_before_steps FROM lead_mgmt.touches WHERE lead_id = :old_lead;
INSERT INTO lead_mgmt.sequence_steps (sequence_id, step, delay, action)
SELECT id, v.step, v.delay::interval, v.action FROM lead_mgmt.sequences,
       (VALUES (1, '0', 'deliver the checklist'), (2, '3 days', 'checklist: next steps')) v(step, delay, action)
 WHERE name = 'checklist';
SELECT * FROM pg_temp.enrolments('old@example.com');
SELECT * FROM pg_temp.queue('old@example.com');
-- ... and a lead captured now is enrolled with its first touch at once
SELECT lead_mgmt.capture('{"email": "new@example.com", "lead_magnet": "checklist"}') IS NOT NULL AS captured;
SELECT * FROM pg_temp.queue('new@example.com');
ROLLBACK;

-- Steps are taken in step order, gaps and all: a sequence numbered 10, 20
-- starts at step 10, due at enrolment, and goes on to step 20.
BEGIN;
INSERT INTO lead_mgmt.sequences (name, enroll_condition) VALUES ('numbered by tens', '{"event": "consultation_scheduled"}');
INSERT INTO lead_mgmt.sequence_steps (sequence_id, step, delay, action)
SELECT id, v.step, v.delay::interval, v.action FROM lead_mgmt.sequences,
       (VALUES (10, '0', 'tens: first'), (20, '1 day', 'tens: second')) v(step, delay, action)
 WHERE name = 'numbered by tens';
SELECT lead_mgmt.capture('{"email": "ten@example.com"}') AS ten \gset
SELECT lead_mgmt.track(:ten, 'consultation_scheduled') > 0 AS tracked;
SELECT * FROM pg_temp.enrolments('ten@example.com');
SELECT lead_mgmt.complete_touch(touch_id) IS NOT NULL AS next_queued
  FROM lead_mgmt.claim_touches('sender-1') WHERE email = 'ten@example.com';
SELECT * FROM pg_temp.queue('ten@example.com');
ROLLBACK;

-- A sequence whose condition depends on time enrols when maintenance finds
-- it true: no email opened in 30 days.  Kim opened one 25 days ago.
INSERT INTO lead_mgmt.sequences (name, enroll_condition) VALUES
    ('win back attention', '{"all": [{"field": "age", "op": ">=", "value": "30 days"},
                                     {"event": "email_sent"},
                                     {"not": {"event": "email_opened", "within": "30 days"}}]}');
INSERT INTO lead_mgmt.sequence_steps (sequence_id, step, delay, action)
SELECT id, 1, '1 day', 're-engagement: we miss you' FROM lead_mgmt.sequences WHERE name = 'win back attention';
INSERT INTO lead_mgmt.leads (email, created_at) VALUES ('kim@example.com', now() - interval '40 days')
RETURNING id AS kim \gset
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at) VALUES
    (:kim, 'email_sent', now() - interval '35 days'),
    (:kim, 'email_opened', now() - interval '25 days');
SELECT count(*) AS kim_enrolments FROM pg_temp.enrolments('kim@example.com');
SELECT (lead_mgmt.run_maintenance(now() + interval '6 days') ->> 'leads_rechecked')::int >= 1 AS rechecked;
SELECT * FROM pg_temp.enrolments('kim@example.com');
SELECT * FROM pg_temp.queue('kim@example.com');

-- Deleting a sequence deletes its enrolments and touches.
DELETE FROM lead_mgmt.sequences WHERE name = 'one email only';
SELECT count(*) AS joe_touches FROM lead_mgmt.touches WHERE lead_id = :joe;

-- Errors.
SELECT * FROM lead_mgmt.claim_touches(NULL);
SELECT * FROM lead_mgmt.claim_touches('  ');
SELECT * FROM lead_mgmt.claim_touches('w', 0);
SELECT * FROM lead_mgmt.claim_touches('w', 10001);
SELECT * FROM lead_mgmt.claim_touches('w', NULL);
SELECT lead_mgmt.complete_touch(NULL);
SELECT lead_mgmt.complete_touch(-1);
SELECT lead_mgmt.complete_touch(:hal_touch, NULL);
SELECT lead_mgmt.complete_touch(:hal_touch, '');
SELECT lead_mgmt.complete_touch(:hal_touch, 'cancelled');
-- done already, with another outcome
SELECT lead_mgmt.complete_touch(:hal_touch, 'failed');
-- cancelled by an exit
SELECT lead_mgmt.complete_touch(t.id) FROM lead_mgmt.touches t
 WHERE t.lead_id = :ben AND t.outcome = 'cancelled';
-- settings must stay positive intervals, and no longer than 100 years
-- (the lease's end would be out of range, and every claim would fail)
UPDATE lead_mgmt.settings SET value = '0' WHERE name = 'touch_lease';
UPDATE lead_mgmt.settings SET value = '1000000 years' WHERE name = 'touch_lease';
-- a step's delay is from 0 to 100 years: a negative one would be due
-- before the previous step was done, a huge one out of range
INSERT INTO lead_mgmt.sequence_steps (sequence_id, step, delay, action)
SELECT id, 9, '-5 days', 'too early' FROM lead_mgmt.sequences WHERE name = 'pricing guide';
INSERT INTO lead_mgmt.sequence_steps (sequence_id, step, delay, action)
SELECT id, 9, '1000000 years', 'too late' FROM lead_mgmt.sequences WHERE name = 'pricing guide';
UPDATE lead_mgmt.sequence_steps SET delay = '-1 day'
 WHERE step = 2 AND sequence_id = (SELECT id FROM lead_mgmt.sequences WHERE name = 'pricing guide');
-- ... 100 years itself is accepted
BEGIN;
INSERT INTO lead_mgmt.sequence_steps (sequence_id, step, delay, action)
SELECT id, 9, '100 years', 'a century later' FROM lead_mgmt.sequences WHERE name = 'pricing guide';
ROLLBACK;
-- nothing above changed the queue
SELECT count(*) FILTER (WHERE done_at IS NULL) AS pending,
       count(*) FILTER (WHERE outcome = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE outcome NOT IN ('cancelled')) AS done
  FROM lead_mgmt.touches;
