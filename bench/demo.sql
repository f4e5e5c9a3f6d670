-- bench/demo.sql: the lead_mgmt demo.
--
--   createdb lm_demo && psql -d lm_demo -c 'CREATE EXTENSION lead_mgmt'
--   psql -v ON_ERROR_STOP=1 -X -d lm_demo -f bench/demo.sql
--
-- (bash test/harness.sh demo does all of it against a throwaway cluster.)
-- Loads the guide's example scoring rules plus a few more, sets up a sales
-- team (reps and assignment rules), segments and a nurture sequence,
-- generates a realistic, deterministic data set (bench/generate.sql) with one
-- INSERT for the leads and one for the events -- the extension scores,
-- stages, assigns, segments and enrols them as they commit -- follows a few
-- named leads through capture() and track(), records the marketing and sales
-- side (campaigns, their daily visitors and spend, deals), and prints the
-- funnel analytics.  Every draw is a hash (lm_bench.u), never random(): the
-- same seed, size and day give the same output.  Runs in a few seconds on a
-- fresh database.
--
-- Variables (psql -v NAME=VALUE): seed (42), n_leads (5000).

\set ON_ERROR_STOP 1
\set QUIET 1
\pset footer off
\pset null ''
SET client_min_messages = warning;
-- The generator's expressions are large; compiling them costs more than it saves.
SET jit = off;

\if :{?seed}
\else
\set seed 42
\endif
\if :{?n_leads}
\else
\set n_leads 5000
\endif

-- Everything generated is relative to this instant (the data set is the same
-- for the same seed, size and anchor).
SELECT pg_catalog.clock_timestamp() AS t_begin,
       pg_catalog.date_trunc('second', pg_catalog.now()) AS anchor \gset

\echo
\echo '=================================================================='
\echo ' lead_mgmt demo: a company''s lead process inside PostgreSQL'
\echo '=================================================================='
\echo ' 1. load the guide''s example scoring rules and a few more'
\echo ' 2. set up the sales team (6 reps, 3 assignment rules), 5 segments and'
\echo '    a nurture sequence'
\echo ' 3. generate' :n_leads 'leads over 9 months and their events, seed' :seed
\echo '    with one INSERT each: scores, stages, owners, segments and nurture'
\echo '    enrolments are correct at commit'
\echo ' 4. follow named leads through lead_mgmt.capture() and track()'
\echo ' 5. record the marketing and sales side: campaigns, their daily visitors'
\echo '    and spend, deals won, lost and open'
\echo ' 6. report: stages, funnel by channel, top leads, score explanations'
\echo ' 7. funnel analytics: summary, by month and channel, acquisition costs,'
\echo '    sales by month, lifetime value, sales cycle'
\echo ' 8. sales team, segments, follow-ups and nurture'
\echo ' 9. rescore check, maintenance'
\echo

\ir generate.sql
\ir sales.sql

--------------------------------------------------------------------------
\echo '--- 1. Scoring rules ---------------------------------------------'
--------------------------------------------------------------------------
SELECT lead_mgmt.load_example_rules() AS n_example_rules \gset

-- ... and what a real team adds: demo requests and forms, interest in the
-- enterprise plan (a properties filter), recent pricing visits (a window),
-- and fit (condition rules on lead fields).
INSERT INTO lead_mgmt.scoring_rules (name, event_type, properties, condition, points, max_occurrences, within)
VALUES
    ('requested a demo',           'demo_requested',       NULL, NULL,  30, 1, NULL),
    ('submitted a form',           'form_submitted',       NULL, NULL,  10, 3, NULL),
    ('viewed enterprise pricing',  'pricing_page_visited', '{"plan": "enterprise"}', NULL, 15, 2, NULL),
    ('visited pricing this week',  'pricing_page_visited', NULL, NULL,  10, 1, '7 days'),
    ('fit: 200+ employees',        NULL, NULL,
     '{"field": "company_size", "op": ">=", "value": 200}', 10, NULL, NULL),
    ('fit: target industry',       NULL, NULL,
     '{"field": "industry", "op": "in", "value": ["Software", "Financial Services", "Healthcare"]}', 5, NULL, NULL),
    ('fit: decision maker',        NULL, NULL,
     '{"field": "attributes.seniority", "op": "in", "value": ["c_level", "vp", "director"]}', 10, NULL, NULL),
    ('fit: student or intern',     NULL, NULL,
     '{"field": "attributes.seniority", "op": "=", "value": "student"}', -20, NULL, NULL);

\echo 'lead_mgmt.load_example_rules() added' :n_example_rules 'rules; 8 more added by hand:'
SELECT r.name AS rule,
       CASE WHEN r.event_type IS NOT NULL
            THEN 'event ' || r.event_type || COALESCE(' ' || r.properties::text, '')
            ELSE 'condition ' || CASE WHEN length(r.condition::text) > 58
                                      THEN left(r.condition::text, 56) || '..'
                                      ELSE r.condition::text END
       END AS "when",
       r.points,
       r.max_occurrences AS "max",
       r.within
  FROM lead_mgmt.scoring_rules AS r
 ORDER BY r.id;

\echo 'Stages (a lead holds the highest it has reached; they never move down by themselves):'
SELECT s.name AS stage, s.rank, s.min_score AS "score >=",
       CASE WHEN length(s.condition::text) > 70 THEN left(s.condition::text, 68) || '..'
            ELSE s.condition::text END AS "or condition",
       s.assign_on_entry AS assigns
  FROM lead_mgmt.stages AS s
 ORDER BY s.rank;

--------------------------------------------------------------------------
\echo '--- 2. Sales team, segments and nurture ---------------------------'
--------------------------------------------------------------------------
-- Set up before the data arrives, so that every lead that becomes sales-ready
-- gets an owner, joins its segments and is enrolled in the same transaction.
-- Regions and industries are those of bench/generate.sql.
INSERT INTO lead_mgmt.reps (name, email, regions, industries, seniority, weight, capacity) VALUES
    ('Dana Whitfield', 'dana.whitfield@leadco.example', '{NA}',        '{Software,"Financial Services"}',           'enterprise', 1, NULL),
    ('Henrik Larsen',  'henrik.larsen@leadco.example',  '{EMEA}',      '{Manufacturing,Logistics}',                 'enterprise', 1, NULL),
    ('Mei Tanaka',     'mei.tanaka@leadco.example',     '{APAC,NA}',   '{Healthcare,Education}',                    'senior',     1, NULL),
    ('Lucia Ferreira', 'lucia.ferreira@leadco.example', '{LATAM,EMEA}', '{Retail,"Real Estate"}',                   'senior',     1, NULL),
    ('Sam Okoro',      'sam.okoro@leadco.example',      '{NA,EMEA}',   '{Software,"Marketing & Advertising"}',      'junior',     2, NULL),
    ('Ruth Alvarez',   'ruth.alvarez@leadco.example',   '{NA,LATAM}',  '{"Professional Services",Healthcare}',      'junior',     1, 40);

INSERT INTO lead_mgmt.assignment_rules
       (name, priority, condition, method, match_region, match_industry, min_seniority, sla) VALUES
    -- experience: big companies to the senior reps of their territory, in turn
    ('enterprise accounts', 10, '{"field": "company_size", "op": ">=", "value": 1000}',
     'round_robin', true, false, 'senior', '2 days'),
    -- expertise: industry specialists; of the Software leads, Sam (weight 2)
    -- gets two for each one of Dana's
    ('industry experts', 20,
     '{"field": "industry", "op": "in", "value": ["Software", "Financial Services", "Healthcare", "Manufacturing", "Logistics"]}',
     'weighted', false, true, NULL, NULL),
    -- everyone else: the rep with the fewest open leads (Ruth takes at most 40)
    ('everyone else', 100, NULL, 'least_loaded', false, false, NULL, NULL);

INSERT INTO lead_mgmt.segments (name, description, condition) VALUES
    ('decision makers', 'demographic (attributes)',
     '{"field": "attributes.seniority", "op": "in", "value": ["c_level", "vp", "director"]}'),
    ('EMEA', 'geographic',
     '{"field": "region", "op": "=", "value": "EMEA"}'),
    ('pricing visitors, last 30 days', 'behavioural, windowed',
     '{"event": "pricing_page_visited", "within": "30 days"}'),
    ('ebook readers who never bought', 'lead magnet + absence',
     '{"all": [{"field": "lead_magnet", "op": "=", "value": "ebook-lead-scoring-101"},
               {"event": "purchase", "max_count": 0}]}'),
    ('hot, not yet customers', 'score + stage',
     '{"all": [{"field": "score", "op": ">=", "value": 50},
               {"not": {"field": "stage", "op": ">=", "value": "customer"}}]}');

INSERT INTO lead_mgmt.sequences (name, enroll_condition, exit_condition) VALUES
    ('lead magnet follow-up', '{"field": "lead_magnet", "op": "exists"}',
                              '{"field": "stage", "op": ">=", "value": "sql"}');
INSERT INTO lead_mgmt.sequence_steps (sequence_id, step, delay, action, channel)
SELECT s.id, v.step, v.delay::interval, v.action, v.channel
  FROM (VALUES (1, '0',      'deliver the asset, say hello',      'email'),
               (2, '3 days', 'FAQ: how teams put it to work',     'email'),
               (3, '1 week', 'invite to a 30-minute consultation', 'email'))
       AS v(step, delay, action, channel)
  JOIN lead_mgmt.sequences s ON s.name = 'lead magnet follow-up';

\echo 'Reps:'
SELECT r.name AS rep, r.seniority, pg_catalog.array_to_string(r.regions, ' ') AS regions,
       pg_catalog.array_to_string(r.industries, ', ') AS industries, r.weight, r.capacity
  FROM lead_mgmt.reps AS r
 ORDER BY r.id;
\echo 'Assignment rules (tried by priority when a lead enters sql without an owner):'
SELECT a.priority, a.name AS rule, a.method,
       CASE WHEN length(a.condition::text) > 60 THEN left(a.condition::text, 58) || '..'
            ELSE COALESCE(a.condition::text, '(always)') END AS "condition",
       pg_catalog.concat_ws(', ', CASE WHEN a.match_region THEN 'region' END,
                            CASE WHEN a.match_industry THEN 'industry' END,
                            CASE WHEN a.min_seniority IS NOT NULL THEN a.min_seniority || '+' END) AS "rep must match",
       a.sla
  FROM lead_mgmt.assignment_rules AS a
 ORDER BY a.priority;
\echo 'Segments (membership is live) and the nurture sequence:'
SELECT g.name AS segment, g.description AS kind,
       CASE WHEN length(g.condition::text) > 78 THEN left(g.condition::text, 76) || '..'
            ELSE g.condition::text END AS "condition"
  FROM lead_mgmt.segments AS g
 ORDER BY g.id;
SELECT q.name AS sequence, st.step, st.delay, st.action, st.channel,
       CASE WHEN st.step = 1 THEN 'enrol: ' || q.enroll_condition::text
            WHEN st.step = 2 THEN 'exit:  ' || q.exit_condition::text END AS "enrol / exit"
  FROM lead_mgmt.sequences AS q
  JOIN lead_mgmt.sequence_steps AS st ON st.sequence_id = q.id
 ORDER BY q.id, st.step;

--------------------------------------------------------------------------
\echo '--- 3. Generated data set ----------------------------------------'
--------------------------------------------------------------------------
SELECT pg_catalog.clock_timestamp() AS t0 \gset
INSERT INTO lead_mgmt.leads
       (external_id, email, first_name, last_name, company, job_title, industry,
        company_size, annual_revenue, country, region, city, channel, campaign,
        lead_magnet, attributes, created_at)
SELECT g.external_id, g.email, g.first_name, g.last_name, g.company, g.job_title, g.industry,
       g.company_size, g.annual_revenue, g.country, g.region, g.city, g.channel, g.campaign,
       g.lead_magnet, g.attributes, g.created_at
  FROM lm_bench.gen_leads(:n_leads, :seed, :'anchor') AS g;
SELECT pg_catalog.count(*) AS n,
       pg_catalog.round(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() - :'t0'::timestamptz)::numeric, 2) AS secs
  FROM lead_mgmt.leads \gset
\echo 'leads: ' :n 'inserted in' :secs 's (one INSERT ... SELECT)'

SELECT pg_catalog.clock_timestamp() AS t0 \gset
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at, properties)
SELECT l.id, e.event_type, e.occurred_at, e.properties
  FROM lead_mgmt.leads AS l
 CROSS JOIN LATERAL lm_bench.lead_events(:seed, :'anchor', l.external_id, l.created_at, l.channel,
                                         l.company_size, l.lead_magnet, l.attributes) AS e
 ORDER BY e.occurred_at, l.external_id, e.event_type;
SELECT pg_catalog.count(*) AS n,
       pg_catalog.round(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() - :'t0'::timestamptz)::numeric, 2) AS secs
  FROM lead_mgmt.events \gset
\echo 'events:' :n 'inserted in' :secs 's (one INSERT ... SELECT; scored and staged at commit)'
SELECT pg_catalog.count(*) FILTER (WHERE l.stage = 'sql') AS n_sql,
       pg_catalog.count(l.owner_id) FILTER (WHERE l.stage = 'sql') AS n_sql_owned,
       (SELECT pg_catalog.count(*) FROM lead_mgmt.segment_members) AS n_members,
       (SELECT pg_catalog.count(*) FROM lead_mgmt.enrollments) AS n_enrolled
  FROM lead_mgmt.leads AS l \gset
\echo 'at commit:' :n_sql_owned 'of' :n_sql 'sales-ready (sql) leads got an owner;' :n_members 'segment memberships;' :n_enrolled 'nurture enrolments'
\echo

\echo 'Leads by channel (the campaigns, and how many came through a lead magnet):'
SELECT l.channel,
       pg_catalog.count(*) AS leads,
       pg_catalog.count(DISTINCT l.campaign) AS campaigns,
       pg_catalog.round(100.0 * pg_catalog.count(l.lead_magnet) / pg_catalog.count(*), 1) AS "magnet %",
       pg_catalog.string_agg(DISTINCT l.region, ' ') AS regions,
       pg_catalog.min(l.created_at)::date AS first,
       pg_catalog.max(l.created_at)::date AS last
  FROM lead_mgmt.leads AS l
 GROUP BY l.channel
 ORDER BY leads DESC;

\echo 'Events by type (share of leads with at least one):'
SELECT e.event_type AS event,
       pg_catalog.count(*) AS events,
       pg_catalog.count(DISTINCT e.lead_id) AS leads,
       pg_catalog.round(100.0 * pg_catalog.count(DISTINCT e.lead_id)
                        / (SELECT pg_catalog.count(*) FROM lead_mgmt.leads), 1) AS "% of leads"
  FROM lead_mgmt.events AS e
 GROUP BY e.event_type
 ORDER BY events DESC, event;

--------------------------------------------------------------------------
\echo '--- 4. Named leads: capture() and track() -------------------------'
--------------------------------------------------------------------------
\echo 'The guide''s example: Lena subscribes, opens and clicks an email, visits'
\echo 'the pricing page, replies, schedules a consultation, cancels it and'
\echo 'unsubscribes.  Her score and stage after each event (each track() commits):'
SELECT lead_mgmt.capture(pg_catalog.jsonb_build_object(
           'external_id', 'crm-guide-0001',
           'email', 'lena.fischer@fernhill-media.example',
           'first_name', 'Lena', 'last_name', 'Fischer',
           'company', 'Fernhill Media GmbH', 'job_title', 'Marketing Manager',
           'industry', 'Marketing & Advertising', 'company_size', 45,
           'country', 'Germany', 'region', 'EMEA', 'city', 'Hamburg',
           'channel', 'organic', 'campaign', 'org-blog',
           'attributes', '{"seniority": "manager", "interests": ["email marketing"]}'::jsonb,
           'created_at', pg_catalog.now() - interval '22 days')) AS lena \gset
SELECT score AS s0, stage AS st0 FROM lead_mgmt.leads WHERE id = :lena \gset
SELECT lead_mgmt.track(:lena, 'email_subscribed', '{"list": "newsletter"}', pg_catalog.now() - interval '21 days') IS NOT NULL AS ok \gset
SELECT score AS s1, stage AS st1 FROM lead_mgmt.leads WHERE id = :lena \gset
SELECT lead_mgmt.track(:lena, 'email_opened', '{"email": "welcome"}', pg_catalog.now() - interval '20 days 3 hours') IS NOT NULL AS ok \gset
SELECT score AS s2, stage AS st2 FROM lead_mgmt.leads WHERE id = :lena \gset
SELECT lead_mgmt.track(:lena, 'email_clicked', '{"email": "welcome"}', pg_catalog.now() - interval '20 days 2 hours') IS NOT NULL AS ok \gset
SELECT score AS s3, stage AS st3 FROM lead_mgmt.leads WHERE id = :lena \gset
SELECT lead_mgmt.track(:lena, 'pricing_page_visited', '{"page": "/pricing", "plan": "pro"}', pg_catalog.now() - interval '18 days') IS NOT NULL AS ok \gset
SELECT score AS s4, stage AS st4 FROM lead_mgmt.leads WHERE id = :lena \gset
SELECT lead_mgmt.track(:lena, 'email_replied', '{"email": "nurture-01"}', pg_catalog.now() - interval '15 days') IS NOT NULL AS ok \gset
SELECT score AS s5, stage AS st5 FROM lead_mgmt.leads WHERE id = :lena \gset
SELECT lead_mgmt.track(:lena, 'consultation_scheduled', '{"with": "solutions engineer", "minutes": 30}', pg_catalog.now() - interval '12 days') IS NOT NULL AS ok \gset
SELECT score AS s6, stage AS st6 FROM lead_mgmt.leads WHERE id = :lena \gset
SELECT lead_mgmt.track(:lena, 'appointment_cancelled', '{"reason": "rescheduling"}', pg_catalog.now() - interval '10 days') IS NOT NULL AS ok \gset
SELECT score AS s7, stage AS st7 FROM lead_mgmt.leads WHERE id = :lena \gset
SELECT lead_mgmt.track(:lena, 'email_unsubscribed', '{"email": "nurture-02"}', pg_catalog.now() - interval '9 days') IS NOT NULL AS ok \gset
SELECT score AS s8, stage AS st8 FROM lead_mgmt.leads WHERE id = :lena \gset
SELECT v.step, v.what AS "Lena ...", v.score, v.stage AS "stage at commit"
  FROM (VALUES (0, 'is captured (capture())',          :s0, :'st0'),
               (1, 'subscribes to the newsletter',     :s1, :'st1'),
               (2, 'opens the welcome email',          :s2, :'st2'),
               (3, 'clicks a link in it',              :s3, :'st3'),
               (4, 'visits the pricing page',          :s4, :'st4'),
               (5, 'replies to an email',              :s5, :'st5'),
               (6, 'schedules a consultation',         :s6, :'st6'),
               (7, 'cancels the appointment',          :s7, :'st7'),
               (8, 'unsubscribes',                     :s8, :'st8')) AS v(step, what, score, stage)
 ORDER BY v.step;

SELECT lead_mgmt.capture(pg_catalog.jsonb_build_object(
           'external_id', 'crm-guide-0002',
           'email', 'tom.becker@granitefreight.example',
           'first_name', 'Tom', 'last_name', 'Becker',
           'company', 'Granite Freight Inc.', 'job_title', 'VP of Sales',
           'industry', 'Logistics', 'company_size', 850, 'annual_revenue', 160000000,
           'country', 'United States', 'region', 'NA', 'city', 'Chicago',
           'channel', 'events', 'campaign', 'evt-saas-summit',
           'attributes', '{"seniority": "vp", "interests": ["sales automation", "crm integration"]}'::jsonb,
           'created_at', pg_catalog.now() - interval '75 days')) AS tom \gset
SELECT pg_catalog.count(t.id) AS n_tom_events
  FROM (SELECT lead_mgmt.track(:tom, v.event_type, v.properties::jsonb, pg_catalog.now() - v.ago) AS id
          FROM (SELECT * FROM (VALUES
                    ('form_submitted',         '{"form": "badge_scan"}',                    interval '75 days'),
                    ('email_opened',           '{"email": "welcome"}',                      interval '73 days'),
                    ('demo_requested',         '{"source": "event booth"}',                 interval '60 days'),
                    ('rep_contacted',          '{"channel": "phone", "by": "sdr"}',         interval '59 days'),
                    ('pricing_page_visited',   '{"page": "/pricing", "plan": "enterprise"}', interval '50 days'),
                    ('trial_started',          '{"plan": "enterprise", "seats": 25}',       interval '45 days'),
                    ('pricing_page_visited',   '{"page": "/pricing", "plan": "enterprise"}', interval '30 days'),
                    ('purchase',               '{"plan": "enterprise", "currency": "USD", "amount": 41000}', interval '14 days')
                ) AS x(event_type, properties, ago)
                ORDER BY x.ago DESC OFFSET 0) AS v) AS t \gset
-- A CRM that delivers the same call twice: the dedupe_key keeps one event.
SELECT lead_mgmt.track(:tom, 'rep_contacted', '{"channel": "phone", "by": "account executive"}',
                       pg_catalog.now() - interval '2 days', 'crm-call-88123') AS call_1 \gset
SELECT lead_mgmt.track(:tom, 'rep_contacted', '{"channel": "phone", "by": "account executive"}',
                       pg_catalog.now() - interval '2 days', 'crm-call-88123') AS call_2 \gset

SELECT lead_mgmt.capture(pg_catalog.jsonb_build_object(
           'email', 'priya.raman@cedarhealth.example',
           'first_name', 'Priya', 'last_name', 'Raman',
           'company', 'Cedar Health Pvt Ltd', 'job_title', 'Head of Operations',
           'industry', 'Healthcare', 'company_size', 320,
           'country', 'India', 'region', 'APAC', 'city', 'Pune',
           'channel', 'paid_search', 'campaign', 'ppc-roi-calculator', 'lead_magnet', 'roi-calculator',
           'attributes', '{"seniority": "director", "interests": ["analytics"], "utm_source": "google"}'::jsonb,
           'created_at', pg_catalog.now() - interval '3 days')) AS priya \gset
SELECT lead_mgmt.track(:priya, 'lead_magnet_downloaded', '{"asset": "roi-calculator"}',
                       pg_catalog.now() - interval '3 days') IS NOT NULL AS ok \gset
SELECT lead_mgmt.capture('{"email": "PRIYA.RAMAN@CEDARHEALTH.EXAMPLE", "job_title": "VP of Operations",
                           "attributes": {"seniority": "vp", "newsletter": "weekly"}}') AS priya_again \gset

\echo 'Two more: Tom, met at the SaaS summit, asks for a demo, trials and buys'
\echo '(a batch of track() calls); Priya downloads the ROI calculator, and a'
\echo 'second capture of her (another form, email in capitals) merges into her lead:'
SELECT l.first_name || ' ' || l.last_name AS lead, l.company, l.channel,
       l.score, l.engagement_score AS engagement, l.fit_score AS fit, l.stage,
       (SELECT pg_catalog.string_agg(h.to_stage, ' > ' ORDER BY h.changed_at, h.id)
          FROM lead_mgmt.stage_history AS h WHERE h.lead_id = l.id) AS "stage history"
  FROM lead_mgmt.leads AS l
 WHERE l.id IN (:lena, :tom, :priya)
 ORDER BY l.created_at;
SELECT :call_1 = :call_2 AS "duplicate CRM call: same event id",
       :priya = :priya_again AS "second capture: same lead",
       (SELECT l.attributes FROM lead_mgmt.leads AS l WHERE l.id = :priya) AS "Priya's merged attributes";

\echo 'Late data: badge scans from the EU roadshow, uploaded today but dated'
\echo 'the day they were taken (track() with a past occurred_at); uploaded twice:'
SELECT pg_catalog.count(*) AS n_scans,
       pg_catalog.round(pg_catalog.avg(pg_catalog.date_part('epoch', pg_catalog.now() - s.at) / 86400)) AS days_late,
       pg_catalog.count(DISTINCT s.ev) AS n_scan_events
  FROM (SELECT l.created_at + interval '1 hour' AS at,
               lead_mgmt.track(l.id, 'form_submitted',
                               '{"form": "badge_scan", "event": "evt-roadshow-eu"}',
                               l.created_at + interval '1 hour', 'badge:' || l.external_id) AS ev
          FROM (SELECT * FROM lead_mgmt.leads
                 WHERE campaign = 'evt-roadshow-eu' ORDER BY external_id LIMIT 25 OFFSET 0) AS l) AS s \gset
SELECT pg_catalog.count(DISTINCT lead_mgmt.track(l.id, 'form_submitted',
                               '{"form": "badge_scan", "event": "evt-roadshow-eu"}',
                               l.created_at + interval '1 hour', 'badge:' || l.external_id)) AS n_again
  FROM (SELECT * FROM lead_mgmt.leads
         WHERE campaign = 'evt-roadshow-eu' ORDER BY external_id LIMIT 25 OFFSET 0) AS l \gset
SELECT pg_catalog.count(*) AS n_badge_events FROM lead_mgmt.events
 WHERE dedupe_key LIKE 'badge:%' \gset
\echo :n_scans 'scans,' :days_late 'days late on average; after the second upload there are' :n_badge_events 'badge events.'
\echo

--------------------------------------------------------------------------
\echo '--- 5. Marketing and sales records: campaigns, visitors, spend, deals'
--------------------------------------------------------------------------
-- What a nightly load from the ad platforms and the CRM would bring, all
-- derived from the generated leads and hashes of (seed, key, salt)
-- (bench/sales.sql): campaigns, every code found on leads, and their
-- visitors and spend for every day of the 9 months.
SELECT lm_bench.load_campaigns(:seed, :'anchor') AS n_campaign_days \gset

SELECT pg_catalog.format('campaigns: %s, from the codes on leads; campaign_daily: %s rows (every day of the 9 months), %s visitors, spend %s',
                         (SELECT pg_catalog.count(*) FROM lead_mgmt.campaigns),
                         pg_catalog.count(*), pg_catalog.sum(d.visitors), pg_catalog.sum(d.spend)) AS msg
  FROM lead_mgmt.campaign_daily AS d \gset
\echo :msg
SELECT c.channel, pg_catalog.count(*) AS campaigns,
       pg_catalog.string_agg(c.code || ' (' || c.funnel_position || ')', ', ' ORDER BY c.code) AS "campaigns (funnel position)",
       pg_catalog.string_agg(DISTINCT c.lead_magnet, ', ') AS "lead magnets"
  FROM lead_mgmt.campaigns AS c
 GROUP BY c.channel
 ORDER BY c.channel;

-- Deals.  Customers whose events arrived in one batch jumped to customer
-- without passing through sql, the stage that assigns on entry, so they have
-- no owner yet: the CRM says who closed them (here the reps of their region
-- in turn, by date of purchase), recorded with lead_mgmt.assign() (reason
-- manual).
SELECT pg_catalog.count(*) AS n_assigned_by_hand
  FROM (SELECT lead_mgmt.assign(c.id, r.id)
          FROM (SELECT l.id, l.region,
                       pg_catalog.row_number() OVER (PARTITION BY l.region ORDER BY l.converted_at, l.id) AS seq
                  FROM lead_mgmt.leads AS l
                 WHERE l.converted_at IS NOT NULL AND l.owner_id IS NULL) AS c
         CROSS JOIN LATERAL (
                SELECT x.id
                  FROM (SELECT rp.id, pg_catalog.row_number() OVER (ORDER BY rp.id) AS rn,
                               pg_catalog.count(*) OVER () AS n
                          FROM lead_mgmt.reps AS rp
                         WHERE c.region = ANY (rp.regions)) AS x
                 WHERE x.rn = 1 + (c.seq - 1) % x.n) AS r
         ORDER BY c.id
        OFFSET 0) AS a \gset

-- A won deal for every customer: closed when it bought (converted_at), by
-- its owner, for the amount of its (first) purchase.  Winning it records a
-- purchase event for the deal (its dedupe_key deal:<id>); converted_at stays
-- the first purchase, the same.  Lost deals for about half of the
-- sales-qualified leads older than 40 days that did not buy, open ones for
-- about half of the rest of the last 60 days (bench/sales.sql).
SELECT lm_bench.load_deals(:seed, :'anchor') AS n_deals \gset

SELECT pg_catalog.count(*) FILTER (WHERE d.status = 'won')  AS n_won,
       pg_catalog.count(*) FILTER (WHERE d.status = 'lost') AS n_lost,
       pg_catalog.count(*) FILTER (WHERE d.status = 'open') AS n_open,
       (SELECT pg_catalog.count(*) FROM lead_mgmt.events WHERE dedupe_key LIKE 'deal:%') AS n_deal_purchases,
       (SELECT pg_catalog.count(*) FROM lead_mgmt.leads AS l
         WHERE l.converted_at IS DISTINCT FROM
               (SELECT pg_catalog.min(e.occurred_at) FROM lead_mgmt.events AS e
                 WHERE e.lead_id = l.id AND e.event_type = 'purchase')) AS n_conv_off
  FROM lead_mgmt.deals AS d \gset
\echo 'deals:' :n_won 'won (one per customer;' :n_assigned_by_hand 'customers got their closing rep by hand),' :n_lost 'lost,' :n_open 'open'
\echo 'the won deals recorded' :n_deal_purchases 'purchase events (deal:<id>); leads whose converted_at is not their first purchase:' :n_conv_off
\echo

--------------------------------------------------------------------------
\echo '--- 6. Reports ----------------------------------------------------'
--------------------------------------------------------------------------
SELECT (SELECT pg_catalog.count(*) FROM lead_mgmt.leads) AS n_leads_total,
       (SELECT pg_catalog.count(*) FROM lead_mgmt.events) AS n_events_total,
       (SELECT pg_catalog.count(*) FROM lead_mgmt.stage_history) AS n_history_total \gset
\echo 'In the database now:' :n_leads_total 'leads,' :n_events_total 'events,' :n_history_total 'stage changes.'
\echo
\echo 'Leads per stage:'
SELECT s.name AS stage, s.rank,
       pg_catalog.count(l.id) AS leads,
       pg_catalog.round(100.0 * pg_catalog.count(l.id)
                        / NULLIF(pg_catalog.sum(pg_catalog.count(l.id)) OVER (), 0), 2) AS "share %"
  FROM lead_mgmt.stages AS s
  LEFT JOIN lead_mgmt.leads AS l ON l.stage = s.name
 GROUP BY s.name, s.rank
 ORDER BY s.rank;

\echo 'Funnel by channel (reached = highest stage in stage_history at or above it):'
WITH rank_of AS (
    SELECT pg_catalog.max(s.rank) FILTER (WHERE s.name = 'iql')      AS iql,
           pg_catalog.max(s.rank) FILTER (WHERE s.name = 'mql')      AS mql,
           pg_catalog.max(s.rank) FILTER (WHERE s.name = 'sql')      AS sql,
           pg_catalog.max(s.rank) FILTER (WHERE s.name = 'customer') AS customer
      FROM lead_mgmt.stages AS s
), reached AS (
    SELECT l.id, l.channel,
           (SELECT pg_catalog.max(s.rank)
              FROM lead_mgmt.stage_history AS h
              JOIN lead_mgmt.stages AS s ON s.name = h.to_stage
             WHERE h.lead_id = l.id) AS top_rank
      FROM lead_mgmt.leads AS l
)
SELECT COALESCE(r.channel, '(all)') AS channel,
       pg_catalog.count(*) AS leads,
       pg_catalog.count(*) FILTER (WHERE r.top_rank >= k.iql)      AS iql,
       pg_catalog.count(*) FILTER (WHERE r.top_rank >= k.mql)      AS mql,
       pg_catalog.count(*) FILTER (WHERE r.top_rank >= k.sql)      AS sql,
       pg_catalog.count(*) FILTER (WHERE r.top_rank >= k.customer) AS customers,
       pg_catalog.round(100.0 * pg_catalog.count(*) FILTER (WHERE r.top_rank >= k.mql)
                        / NULLIF(pg_catalog.count(*), 0), 2) AS "lead>mql %",
       pg_catalog.round(100.0 * pg_catalog.count(*) FILTER (WHERE r.top_rank >= k.customer)
                        / NULLIF(pg_catalog.count(*) FILTER (WHERE r.top_rank >= k.sql), 0), 2) AS "sql>cust %",
       pg_catalog.round(100.0 * pg_catalog.count(*) FILTER (WHERE r.top_rank >= k.customer)
                        / NULLIF(pg_catalog.count(*), 0), 2) AS "lead>cust %"
  FROM reached AS r CROSS JOIN rank_of AS k
 GROUP BY ROLLUP (r.channel)
 ORDER BY GROUPING(r.channel), leads DESC, channel;

\echo 'Top 10 leads by score:'
SELECT l.first_name || ' ' || l.last_name AS name, l.company, l.job_title, l.channel,
       l.score, l.engagement_score AS engagement, l.fit_score AS fit, l.stage
  FROM lead_mgmt.leads AS l
 ORDER BY l.score DESC, l.external_id
 LIMIT 10;

SELECT l.id AS top_id,
       pg_catalog.format('Why the top lead, %s %s, scores %s points (lead_mgmt.explain_score):',
                         l.first_name, l.last_name, l.score) AS top_msg
  FROM lead_mgmt.leads AS l
 ORDER BY l.score DESC, l.external_id
 LIMIT 1 \gset
\echo :top_msg
SELECT x.rule, x.kind, x.occurrences, x.points
  FROM lead_mgmt.explain_score(:top_id) AS x
 ORDER BY x.points DESC, x.rule;

SELECT score AS lena_score FROM lead_mgmt.leads WHERE id = :lena \gset
\echo 'Why Lena (the guide''s example) scores' :lena_score 'points:'
SELECT x.rule, x.kind, x.occurrences, x.points
  FROM lead_mgmt.explain_score(:lena) AS x
 ORDER BY x.points DESC, x.rule;

--------------------------------------------------------------------------
\echo '--- 7. Funnel analytics -------------------------------------------'
--------------------------------------------------------------------------
SELECT pg_catalog.date_trunc('month', :'anchor'::timestamptz)::date AS this_month \gset
\echo 'The whole funnel (lead_mgmt.funnel_summary; rates in %):'
\x on
SELECT * FROM lead_mgmt.funnel_summary;
\x off

\echo 'By month, all channels, the last 6 months (lead_mgmt.funnel_by_month summed;'
\echo 'leads by month of creation, and the stages they reached since; the current month is partial):'
SELECT f.month,
       pg_catalog.sum(f.visitors) AS visitors, pg_catalog.sum(f.leads) AS leads,
       pg_catalog.sum(f.iql) AS iql, pg_catalog.sum(f.mql) AS mql, pg_catalog.sum(f.sql) AS sql,
       pg_catalog.sum(f.customers) AS customers, pg_catalog.sum(f.trials) AS trials,
       pg_catalog.round(100.0 * pg_catalog.sum(f.leads) / NULLIF(pg_catalog.sum(f.visitors), 0), 2) AS "opt-in %",
       pg_catalog.round(100.0 * pg_catalog.sum(f.mql) / NULLIF(pg_catalog.sum(f.leads), 0), 2) AS "lead>mql %",
       pg_catalog.round(100.0 * pg_catalog.sum(f.customers) / NULLIF(pg_catalog.sum(f.leads), 0), 2) AS "lead>cust %"
  FROM lead_mgmt.funnel_by_month AS f
 WHERE f.month >= :'this_month'::date - interval '5 months'
 GROUP BY f.month
 ORDER BY f.month;

\echo 'By month and channel, the last 3 months (lead_mgmt.funnel_by_month as it is):'
SELECT f.month, f.channel, f.visitors, f.leads, f.iql, f.mql, f.sql, f.customers, f.trials,
       f.opt_in_rate AS "opt-in %", f.sales_conversion_rate AS "lead>cust %"
  FROM lead_mgmt.funnel_by_month AS f
 WHERE f.month >= :'this_month'::date - interval '2 months'
 ORDER BY f.month, f.leads DESC, f.channel;

\echo 'Leads created in the last 90 days, by channel:'
\echo '  lead_mgmt.funnel(now() - interval ''90 days'', now(), ''channel'')'
SELECT f.group_value AS channel, f.visitors, f.leads, f.iql, f.mql, f.sql, f.customers, f.trials,
       f.opt_in_rate AS "opt-in %", f.lead_to_mql_rate AS "lead>mql %", f.mql_to_sql_rate AS "mql>sql %",
       f.sql_to_customer_rate AS "sql>cust %", f.sales_conversion_rate AS "lead>cust %"
  FROM lead_mgmt.funnel(pg_catalog.now() - interval '90 days', pg_catalog.now(), 'channel') AS f
 ORDER BY f.leads DESC, f.group_value;

\echo 'Acquisition costs: the 12 campaigns that spent most over the 9 months'
\echo '(lead_mgmt.acquisition_costs summed over months; CPL = spend / leads,'
\echo 'CAC = spend / customers, ROI % = (revenue - spend) / spend; revenue = won deals of the campaign''s leads):'
SELECT a.campaign, a.channel,
       pg_catalog.sum(a.spend) AS spend, pg_catalog.sum(a.visitors) AS visitors,
       pg_catalog.sum(a.leads) AS leads, pg_catalog.sum(a.customers) AS customers,
       pg_catalog.sum(a.revenue) AS revenue,
       pg_catalog.round(pg_catalog.sum(a.spend) / NULLIF(pg_catalog.sum(a.leads), 0), 2) AS cpl,
       pg_catalog.round(pg_catalog.sum(a.spend) / NULLIF(pg_catalog.sum(a.customers), 0), 2) AS cac,
       pg_catalog.round(100 * (pg_catalog.sum(a.revenue) - pg_catalog.sum(a.spend))
                        / NULLIF(pg_catalog.sum(a.spend), 0), 1) AS "roi %"
  FROM lead_mgmt.acquisition_costs AS a
 GROUP BY a.campaign, a.channel
 ORDER BY spend DESC, a.campaign
 LIMIT 12;
SELECT pg_catalog.format('All %s campaigns: spend %s, leads %s, customers %s, revenue %s; CPL %s, CAC %s, ROI %s %%',
           pg_catalog.count(DISTINCT a.campaign), pg_catalog.sum(a.spend), pg_catalog.sum(a.leads),
           pg_catalog.sum(a.customers), pg_catalog.sum(a.revenue),
           pg_catalog.round(pg_catalog.sum(a.spend) / NULLIF(pg_catalog.sum(a.leads), 0), 2),
           pg_catalog.round(pg_catalog.sum(a.spend) / NULLIF(pg_catalog.sum(a.customers), 0), 2),
           pg_catalog.round(100 * (pg_catalog.sum(a.revenue) - pg_catalog.sum(a.spend))
                            / NULLIF(pg_catalog.sum(a.spend), 0), 1)) AS msg
  FROM lead_mgmt.acquisition_costs AS a \gset
\echo :msg
\echo '(leads without a campaign, about 30% of the organic ones, are not in acquisition_costs)'
\echo

\echo 'Sales by month (lead_mgmt.sales_by_month: won deals by month of closing):'
SELECT s.month, s.deals_won, s.revenue, s.avg_deal_size, s.mom_growth_pct AS "growth %"
  FROM lead_mgmt.sales_by_month AS s
 ORDER BY s.month;

\echo 'Customer lifetime value (lead_mgmt.ltv_summary):'
SELECT * FROM lead_mgmt.ltv_summary;

\echo 'Sales cycle, days from lead to first purchase (lead_mgmt.sales_cycle):'
SELECT * FROM lead_mgmt.sales_cycle;

--------------------------------------------------------------------------
\echo '--- 8. Sales team, segments, follow-ups and nurture ---------------'
--------------------------------------------------------------------------
\echo 'Per rep (lead_mgmt.rep_performance; hours to first touch count only sales'
\echo 'touches after the assignment, and every assignment here was made today):'
SELECT p.name AS rep, r.seniority, pg_catalog.array_to_string(r.regions, ' ') AS regions,
       p.open_leads, p.leads_assigned, p.deals_won, p.deals_lost, p.win_rate AS "win %",
       p.revenue, p.median_hours_to_first_touch AS "h to 1st touch"
  FROM lead_mgmt.rep_performance AS p
  JOIN lead_mgmt.reps AS r ON r.id = p.rep_id
 ORDER BY p.rep_id;

\echo 'Assignments by rule (lead_mgmt.assignments):'
SELECT COALESCE(ar.name, '(by hand)') AS rule, a.method, a.reason,
       pg_catalog.sum(a.n) AS assignments,
       pg_catalog.string_agg(rp.name || ' ' || a.n, ', ' ORDER BY rp.id) AS "per rep"
  FROM (SELECT x.rule_id, x.method, x.reason, x.rep_id, pg_catalog.count(*) AS n
          FROM lead_mgmt.assignments AS x
         GROUP BY 1, 2, 3, 4) AS a
  JOIN lead_mgmt.reps AS rp ON rp.id = a.rep_id
  LEFT JOIN lead_mgmt.assignment_rules AS ar ON ar.id = a.rule_id
 GROUP BY ar.priority, ar.name, a.method, a.reason
 ORDER BY ar.priority NULLS LAST, a.reason;
SELECT pg_catalog.count(*) AS n_unassigned FROM lead_mgmt.unassigned \gset
\echo 'Sales-ready leads waiting for an owner (lead_mgmt.unassigned):' :n_unassigned
\echo

\echo 'Segments: members and the stages they are in (lead_mgmt.lead_segments):'
SELECT g.name AS segment, pg_catalog.count(m.lead_id) AS members,
       pg_catalog.count(*) FILTER (WHERE l.stage = 'lead')     AS lead,
       pg_catalog.count(*) FILTER (WHERE l.stage = 'iql')      AS iql,
       pg_catalog.count(*) FILTER (WHERE l.stage = 'mql')      AS mql,
       pg_catalog.count(*) FILTER (WHERE l.stage = 'sql')      AS sql,
       pg_catalog.count(*) FILTER (WHERE l.stage = 'customer') AS customer
  FROM lead_mgmt.segments AS g
  LEFT JOIN lead_mgmt.lead_segments AS m ON m.segment = g.name
  LEFT JOIN lead_mgmt.leads AS l ON l.id = m.lead_id
 GROUP BY g.id, g.name
 ORDER BY g.id;

\echo 'Follow-ups (lead_mgmt.followups: leads that did not buy, by reason).  The batch'
\echo 'staged and assigned every lead today, so mql_stalled (14 days in mql) and'
\echo 'sql_not_contacted (no sales touch within the SLA) appear as the days pass:'
SELECT f.reason, f.action, pg_catalog.count(*) AS leads,
       pg_catalog.min(f.since)::date AS "oldest since", pg_catalog.max(f.since)::date AS "newest since"
  FROM lead_mgmt.followups AS f
 GROUP BY f.reason, f.action
 ORDER BY f.reason;

\echo 'Nurture: enrolments in the sequence, by status:'
SELECT q.name AS sequence, e.status, COALESCE(e.exit_reason, '') AS "exit reason",
       pg_catalog.count(*) AS enrolments
  FROM lead_mgmt.enrollments AS e
  JOIN lead_mgmt.sequences AS q ON q.id = e.sequence_id
 GROUP BY q.name, e.status, e.exit_reason
 ORDER BY q.name, e.status, enrolments DESC;

-- A sender claims a batch of due touches and reports them sent (each one
-- records an email_sent event and queues the next step, due in 3 days).
SELECT pg_catalog.count(*) AS n_claimed,
       pg_catalog.count(lead_mgmt.complete_touch(c.touch_id, 'sent')) AS n_next
  FROM (SELECT t.touch_id FROM lead_mgmt.claim_touches('demo-mailer', 25) AS t
         ORDER BY t.touch_id OFFSET 0) AS c \gset
\echo 'A sender claimed' :n_claimed 'due touches (lead_mgmt.claim_touches) and reported them sent'
\echo '(lead_mgmt.complete_touch):' :n_next 'next steps queued.  The touch queue now:'
SELECT t.step, t.action,
       pg_catalog.count(*) FILTER (WHERE t.done_at IS NULL AND t.due_at <= pg_catalog.now()) AS "due now",
       pg_catalog.count(*) FILTER (WHERE t.done_at IS NULL AND t.due_at > pg_catalog.now())  AS "due later",
       pg_catalog.count(*) FILTER (WHERE t.outcome = 'sent')      AS sent,
       pg_catalog.count(*) FILTER (WHERE t.outcome = 'cancelled') AS cancelled
  FROM lead_mgmt.touches AS t
 GROUP BY t.step, t.action
 ORDER BY t.step;
\echo

--------------------------------------------------------------------------
\echo '--- 9. Checks and maintenance -------------------------------------'
--------------------------------------------------------------------------
\echo 'Incremental == from scratch: every lead recomputed by lead_mgmt.rescore():'
CREATE TEMP TABLE demo_before AS
SELECT id, score, engagement_score, fit_score, stage FROM lead_mgmt.leads;
SELECT lead_mgmt.rescore() AS n_rescored \gset
SELECT :n_rescored AS "leads rescored",
       pg_catalog.count(*) FILTER (WHERE (b.score, b.engagement_score, b.fit_score, b.stage)
                                         IS DISTINCT FROM (l.score, l.engagement_score, l.fit_score, l.stage))
           AS "differing from what the triggers kept"
  FROM demo_before AS b JOIN lead_mgmt.leads AS l USING (id);
DROP TABLE demo_before;

\echo 'lead_mgmt.run_maintenance() (what a scheduler runs; idempotent):'
SELECT m.key, m.value
  FROM pg_catalog.jsonb_each(lead_mgmt.run_maintenance()) AS m
 ORDER BY m.key;

SELECT pg_catalog.round(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() - :'t_begin'::timestamptz)::numeric, 1) AS total_secs \gset
\echo 'Demo finished in' :total_secs 's.  To explore, keep the cluster'
\echo '(LM_KEEP=1 bash test/harness.sh demo), connect with psql -d lm_demo, then e.g.'
\echo '  SELECT * FROM lead_mgmt.explain_score(<lead id>);'
\echo '  SELECT stage, count(*) FROM lead_mgmt.leads GROUP BY stage;'
\echo
