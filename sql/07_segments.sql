-- Segments: live membership by demographics, interests, behaviour and
-- geography.
--
-- A segment is a named condition.  Membership is decided in the same
-- transaction that changes a lead, its events, its score or its stage, and
-- only the segments whose condition can be affected are re-evaluated.
SET client_min_messages = warning;
SET timezone = 'UTC';
-- every story starts from a fresh install
DROP EXTENSION lead_mgmt;
CREATE EXTENSION lead_mgmt;

SELECT lead_mgmt.load_example_rules() > 0 AS loaded;

INSERT INTO lead_mgmt.leads (email, first_name, job_title, industry, company_size,
                             country, region, city, lead_magnet, attributes) VALUES
    ('ana@example.com', 'Ana', 'CFO', 'fintech', 800, 'PT', 'Lisboa', 'Lisbon', 'pricing-guide.pdf',
     '{"age": 41, "gender": "f", "education": "master", "children": 2,
       "interests": ["Investing", "sailing"], "values": ["sustainability"]}'),
    ('ben@example.com', 'Ben', 'Developer', 'retail', 40, 'DE', 'Bayern', 'Munich', NULL,
     '{"age": 29, "gender": "m", "education": "bachelor", "children": 0,
       "interests": ["gaming", "investing"]}'),
    ('cai@example.com', 'Cai', 'Head of Finance', 'banking', 5000, 'BR', 'SP', 'São Paulo', 'roi-calculator',
     '{"age": 52, "interests": ["golf"], "values": ["family", "sustainability"]}'),
    ('dee@example.com', 'Dee', 'Student', NULL, NULL, 'PT', 'Porto', 'Porto', NULL, '{}');

-- Four kinds of segment, and combinations.
INSERT INTO lead_mgmt.segments (name, description, condition) VALUES
    ('parents over 35', 'demographic',
     '{"all": [{"field": "attributes.age", "op": ">", "value": 35},
               {"field": "attributes.children", "op": ">=", "value": 1}]}'),
    ('sustainability-minded investors', 'psychographic',
     '{"all": [{"field": "attributes.interests", "op": "contains", "value": "investing"},
               {"field": "attributes.values", "op": "contains", "value": "sustainability"}]}'),
    ('pricing-guide readers, active this month', 'behavioural',
     '{"all": [{"field": "lead_magnet", "op": "=", "value": "pricing-guide.pdf"},
               {"event": "email_opened", "within": "30 days", "min_count": 2}]}'),
    ('iberia', 'geographic',
     '{"field": "country", "op": "in", "value": ["pt", "es"]}'),
    ('finance leaders outside iberia', 'combination',
     '{"all": [{"any": [{"field": "job_title", "op": "matches", "value": "^(cfo|head of finance)$"},
                        {"field": "industry", "op": "in", "value": ["banking", "fintech"]}]},
               {"not": {"field": "country", "op": "in", "value": ["PT", "ES"]}},
               {"field": "company_size", "op": ">=", "value": 500}]}'),
    ('sales ready', 'by stage',
     '{"field": "stage", "op": ">=", "value": "sql"}'),
    ('hot', 'by score',
     '{"field": "score", "op": ">=", "value": 25}');

-- Creating the segments filled them at once.
SELECT segment, string_agg(l.first_name, ', ' ORDER BY l.first_name) AS members
  FROM lead_mgmt.lead_segments s JOIN lead_mgmt.leads l ON l.id = s.lead_id
 GROUP BY segment ORDER BY segment;

-- Behaviour moves leads in and out at commit.
INSERT INTO lead_mgmt.events (lead_id, event_type)
SELECT id, 'email_opened' FROM lead_mgmt.leads, generate_series(1, 2) WHERE first_name IN ('Ana', 'Ben');
SELECT l.first_name, array_agg(s.segment ORDER BY s.segment) AS segments
  FROM lead_mgmt.leads l JOIN lead_mgmt.lead_segments s ON s.lead_id = l.id
 GROUP BY l.first_name ORDER BY l.first_name;

-- A score change moves Ben into "hot"; a demo request makes Ana sales ready.
-- Your own row triggers on segment_members see each entry, a single
-- event's too (lead_mgmt writes those without a statement).
CREATE FUNCTION public.tell_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE '% entered %', (SELECT first_name FROM lead_mgmt.leads WHERE id = NEW.lead_id),
        (SELECT name FROM lead_mgmt.segments WHERE id = NEW.segment_id);
    RETURN NULL;
END $$;
CREATE TRIGGER tell_entry AFTER INSERT ON lead_mgmt.segment_members
    FOR EACH ROW EXECUTE FUNCTION public.tell_entry();
SET client_min_messages = notice;
SELECT lead_mgmt.track(id, 'email_replied') > 0 AS ok FROM lead_mgmt.leads WHERE first_name = 'Ben';
SELECT lead_mgmt.track(id, 'demo_requested') > 0 AS ok FROM lead_mgmt.leads WHERE first_name = 'Ana';
SET client_min_messages = warning;
DROP TRIGGER tell_entry ON lead_mgmt.segment_members;
DROP FUNCTION public.tell_entry();
SELECT segment, string_agg(l.first_name, ', ' ORDER BY l.first_name) AS members
  FROM lead_mgmt.lead_segments s JOIN lead_mgmt.leads l ON l.id = s.lead_id
 WHERE segment IN ('hot', 'sales ready')
 GROUP BY segment ORDER BY segment;

-- Field changes too: Dee moves to Madrid... and Ben learns about sustainability.
UPDATE lead_mgmt.leads SET country = 'ES', city = 'Madrid' WHERE first_name = 'Dee';
UPDATE lead_mgmt.leads SET attributes = attributes || '{"values": ["Sustainability"]}' WHERE first_name = 'Ben';
UPDATE lead_mgmt.leads SET country = 'BR' WHERE first_name = 'Ana';
SELECT l.first_name, array_agg(s.segment ORDER BY s.segment) AS segments
  FROM lead_mgmt.leads l JOIN lead_mgmt.lead_segments s ON s.lead_id = l.id
 GROUP BY l.first_name ORDER BY l.first_name;

-- since says when a lead entered.
SELECT count(*) FILTER (WHERE since IS NULL) AS without_since FROM lead_mgmt.segment_members;

-- Editing a condition refills the segment in the same transaction.
UPDATE lead_mgmt.segments SET condition = '{"field": "country", "op": "in", "value": ["PT", "ES", "BR"]}'
 WHERE name = 'iberia';
SELECT string_agg(l.first_name, ', ' ORDER BY l.first_name) AS "iberia (and brazil)"
  FROM lead_mgmt.lead_segments s JOIN lead_mgmt.leads l ON l.id = s.lead_id WHERE segment = 'iberia';
-- Deactivating one empties it; deleting one removes its members.
UPDATE lead_mgmt.segments SET active = false WHERE name = 'hot';
SELECT count(*) AS hot_members FROM lead_mgmt.lead_segments WHERE segment = 'hot';
DELETE FROM lead_mgmt.segments WHERE name = 'sales ready';
SELECT count(*) AS members_left FROM lead_mgmt.segment_members m
 WHERE NOT EXISTS (SELECT 1 FROM lead_mgmt.segments s WHERE s.id = m.segment_id AND s.active);

-- Windowed conditions follow time through run_maintenance(): in 31 days the
-- opens leave the 30-day window.
SELECT count(*) AS readers_now FROM lead_mgmt.lead_segments
 WHERE segment = 'pricing-guide readers, active this month';
SELECT (lead_mgmt.run_maintenance(now() + interval '31 days') ->> 'leads_rechecked')::int > 0 AS rechecked;
SELECT count(*) AS readers_in_31_days FROM lead_mgmt.lead_segments
 WHERE segment = 'pricing-guide readers, active this month';

-- Age follows time the same way: a lead's recheck_at says when it turns 30
-- days old, and maintenance then moves it into "a month old"; a corrected
-- created_at moves it at once.  Segments on the columns lead_mgmt computes
-- (last_event_at, converted_at, owner_id, assigned_at, stage_changed_at)
-- follow them at commit.
BEGIN;
INSERT INTO lead_mgmt.segments (name, condition) VALUES
    ('a month old', '{"field": "age", "op": ">=", "value": "30 days"}'),
    ('ever active', '{"field": "last_event_at", "op": "exists"}'),
    ('bought', '{"field": "converted_at", "op": "exists"}'),
    ('assigned', '{"field": "assigned_at", "op": "exists"}'),
    ('staged', '{"field": "stage_changed_at", "op": "exists"}');
INSERT INTO lead_mgmt.reps (name) VALUES ('Rita') RETURNING id AS rita \gset
INSERT INTO lead_mgmt.leads (email, first_name, created_at)
VALUES ('eve@example.com', 'Eve', now() - interval '20 days') RETURNING id AS eve \gset
SELECT recheck_at - created_at AS eve_rechecked_after FROM lead_mgmt.leads WHERE id = :eve;
SELECT array_agg(segment ORDER BY segment) AS eve_when_new FROM lead_mgmt.lead_segments WHERE lead_id = :eve;
SELECT lead_mgmt.track(:eve, 'email_opened') > 0 AS tracked;
SELECT lead_mgmt.assign(:eve, :rita);
INSERT INTO lead_mgmt.deals (lead_id, amount, status) VALUES (:eve, 100, 'won');
SELECT array_agg(segment ORDER BY segment) AS eve_now FROM lead_mgmt.lead_segments WHERE lead_id = :eve;
SELECT :eve IN (SELECT lead_id FROM lead_mgmt.lead_segments WHERE segment = 'a month old') AS eve_a_month_old;
SELECT (lead_mgmt.run_maintenance(now() + interval '11 days') ->> 'leads_rechecked')::int > 0 AS rechecked;
SELECT :eve IN (SELECT lead_id FROM lead_mgmt.lead_segments WHERE segment = 'a month old') AS eve_a_month_old;
UPDATE lead_mgmt.leads SET created_at = now() - interval '40 days' WHERE first_name = 'Dee';
UPDATE lead_mgmt.leads SET created_at = now() WHERE id = :eve;
SELECT l.first_name FROM lead_mgmt.lead_segments s JOIN lead_mgmt.leads l ON l.id = s.lead_id
 WHERE s.segment = 'a month old' ORDER BY 1;
-- A BEFORE UPDATE trigger of yours whose name sorts before leads_before_row
-- runs first on lead_mgmt's own updates too: segments see what it set, as
-- the scores do.
CREATE FUNCTION public.mark_touched() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.attributes := NEW.attributes OPERATOR(pg_catalog.||) '{"touched": true}'::jsonb;
    RETURN NEW;
END $$;
CREATE TRIGGER a_mark_touched BEFORE UPDATE ON lead_mgmt.leads
    FOR EACH ROW EXECUTE FUNCTION public.mark_touched();
INSERT INTO lead_mgmt.segments (name, condition)
VALUES ('touched', '{"field": "attributes.touched", "op": "exists"}');
SELECT lead_mgmt.track(:eve, 'email_clicked') > 0 AS tracked;
SELECT array_agg(segment ORDER BY segment) AS eve_touched FROM lead_mgmt.lead_segments WHERE lead_id = :eve;
SELECT lead_mgmt.refresh_segments() AS changes;
ROLLBACK;

-- The same under REPEATABLE READ: Ben moves to Portugal and back, one
-- transaction each.  (A single change's entry is then written by a
-- statement rather than directly: ON CONFLICT DO NOTHING under a
-- transaction snapshot is left to the executor.)
BEGIN ISOLATION LEVEL REPEATABLE READ;
UPDATE lead_mgmt.leads SET country = 'PT' WHERE first_name = 'Ben';
SELECT array_agg(s.segment ORDER BY s.segment) AS ben_in_portugal
  FROM lead_mgmt.lead_segments s JOIN lead_mgmt.leads l ON l.id = s.lead_id WHERE l.first_name = 'Ben';
COMMIT;
BEGIN ISOLATION LEVEL REPEATABLE READ;
UPDATE lead_mgmt.leads SET country = 'DE' WHERE first_name = 'Ben';
COMMIT;
SELECT array_agg(s.segment ORDER BY s.segment) AS ben_back_home
  FROM lead_mgmt.lead_segments s JOIN lead_mgmt.leads l ON l.id = s.lead_id WHERE l.first_name = 'Ben';

-- refresh_segments() rebuilds from scratch and changes nothing that is right.
SELECT lead_mgmt.refresh_segments() AS changes;
SELECT lead_mgmt.refresh_segments(id) AS changes FROM lead_mgmt.segments WHERE name = 'iberia';
-- ... but repairs segment_members if someone edited it behind our back.
SELECT count(*) AS members FROM lead_mgmt.segment_members;
DELETE FROM lead_mgmt.segment_members WHERE lead_id = (SELECT id FROM lead_mgmt.leads WHERE first_name = 'Ana');
INSERT INTO lead_mgmt.segment_members (segment_id, lead_id, since)
SELECT s.id, l.id, now() FROM lead_mgmt.segments s, lead_mgmt.leads l
 WHERE s.name = 'parents over 35' AND l.first_name = 'Ben';
SELECT lead_mgmt.refresh_segments() AS changes;
SELECT count(*) AS members FROM lead_mgmt.segment_members;
SELECT count(*) AS ben_is_no_parent FROM lead_mgmt.lead_segments s JOIN lead_mgmt.leads l ON l.id = s.lead_id
 WHERE l.first_name = 'Ben' AND s.segment = 'parents over 35';

-- How the repair works: for the leads the refresh leaves as they are, it
-- compares in memory what leads.segment_ids says with the rows of
-- segment_members; a lead it updates on the way (here Cai, whose stored
-- state predates a rule change) is compared by statement after its update,
-- and so is everything when many are updated.  Twenty more leads, half in
-- Spain, all parents over 35.
INSERT INTO lead_mgmt.leads (email, first_name, country, attributes)
SELECT 'parent' || g || '@example.com', 'Parent ' || g, CASE WHEN g % 2 = 0 THEN 'ES' ELSE 'FR' END,
       '{"age": 40, "children": 1}'
  FROM generate_series(1, 20) AS g;
CREATE TEMP VIEW disagreements AS
SELECT count(*) AS disagreements FROM (
    (SELECT s.id, l.id FROM lead_mgmt.leads l, unnest(l.segment_ids) AS s(id)
     EXCEPT SELECT segment_id, lead_id FROM lead_mgmt.segment_members)
    UNION ALL
    (SELECT segment_id, lead_id FROM lead_mgmt.segment_members
     EXCEPT SELECT s.id, l.id FROM lead_mgmt.leads l, unnest(l.segment_ids) AS s(id))) AS d;
BEGIN;
SET LOCAL lead_mgmt.defer_rescore = on;
UPDATE lead_mgmt.scoring_rules SET points = points + 1 WHERE name = 'opened an email';
SELECT count(*) AS recomputed FROM lead_mgmt.leads l, lead_mgmt.rescore(l.id)
 WHERE l.first_name IS DISTINCT FROM 'Cai';
-- Parent 2 loses her iberia row, Parent 4 gains a wrong one; Cai loses his
-- rows and gains a wrong one.
DELETE FROM lead_mgmt.segment_members
 WHERE lead_id = (SELECT id FROM lead_mgmt.leads WHERE first_name = 'Parent 2')
   AND segment_id = (SELECT id FROM lead_mgmt.segments WHERE name = 'iberia');
DELETE FROM lead_mgmt.segment_members WHERE lead_id = (SELECT id FROM lead_mgmt.leads WHERE first_name = 'Cai');
INSERT INTO lead_mgmt.segment_members (segment_id, lead_id, since)
SELECT s.id, l.id, now() FROM lead_mgmt.segments s, lead_mgmt.leads l
 WHERE (s.name = 'finance leaders outside iberia' AND l.first_name = 'Parent 4')
    OR (s.name = 'parents over 35' AND l.first_name = 'Cai');
SELECT * FROM disagreements;
-- One segment's repair leaves the others' rows alone: Cai is brought up to
-- date, and his and Parent 2's iberia rows are added...
SELECT lead_mgmt.refresh_segments(id) AS changes FROM lead_mgmt.segments WHERE name = 'iberia';
SELECT * FROM disagreements;
-- ... the whole repair (Cai now current, so all in memory): Parent 4's and
-- Cai's wrong rows removed, Cai's missing one added.
SELECT lead_mgmt.refresh_segments() AS changes;
SELECT * FROM disagreements;
-- Every lead updated: the statements compare everything.
UPDATE lead_mgmt.scoring_rules SET points = points - 1 WHERE name = 'opened an email';
DELETE FROM lead_mgmt.segment_members WHERE lead_id = (SELECT id FROM lead_mgmt.leads WHERE first_name = 'Ana');
SET client_min_messages = debug1;
SELECT lead_mgmt.refresh_segments() AS changes;
SET client_min_messages = warning;
SELECT * FROM disagreements;
COMMIT;

-- What the refresh compares, and how, shows at DEBUG1: in memory...
SET client_min_messages = debug1;
SELECT lead_mgmt.refresh_segments() AS changes;
-- ... and by statement once the memberships pass maintenance_work_mem (its
-- least, 1 MB, holds 65,536 of them): 40,000 more leads in Spain.
SET client_min_messages = warning;
INSERT INTO lead_mgmt.leads (email, country)
SELECT 'es' || g || '@example.com', 'ES' FROM generate_series(1, 40000) AS g;
DELETE FROM lead_mgmt.segment_members
 WHERE lead_id IN (SELECT id FROM lead_mgmt.leads WHERE email IN ('es1@example.com', 'es2@example.com'));
SET maintenance_work_mem = '1MB';
SET client_min_messages = debug1;
SELECT lead_mgmt.refresh_segments() AS changes;
SET client_min_messages = warning;
RESET maintenance_work_mem;
SELECT * FROM disagreements;
DELETE FROM lead_mgmt.leads WHERE email LIKE 'es%@example.com';

-- Errors.
INSERT INTO lead_mgmt.segments (name, condition) VALUES ('typo', '{"field": "contry", "op": "=", "value": "PT"}');
INSERT INTO lead_mgmt.segments (name, condition) VALUES ('', '{"field": "country", "op": "=", "value": "PT"}');
INSERT INTO lead_mgmt.segments (name, condition) VALUES ('no condition', NULL);
SELECT lead_mgmt.refresh_segments(-1);
SELECT lead_mgmt.refresh_segments(id) FROM lead_mgmt.segments WHERE name = 'hot';
