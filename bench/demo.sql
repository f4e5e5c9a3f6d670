-- bench/demo.sql: the lead_mgmt demo.
--
--   createdb lm_demo && psql -d lm_demo -c 'CREATE EXTENSION lead_mgmt'
--   psql -v ON_ERROR_STOP=1 -X -d lm_demo -f bench/demo.sql
--
-- (bash test/harness.sh demo does all of it against a throwaway cluster.)
-- Loads the guide's example scoring rules plus a few more, generates a
-- realistic, deterministic data set (bench/generate.sql) with one INSERT for
-- the leads and one for the events -- the extension scores and stages them
-- as they commit -- follows a few named leads through capture() and track(),
-- and prints the funnel.  Runs in a few seconds on a fresh database.
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
\echo ' 2. generate' :n_leads 'leads over 9 months and their events, seed' :seed
\echo '    with one INSERT each: scores and stages are correct at commit'
\echo ' 3. follow named leads through lead_mgmt.capture() and track()'
\echo ' 4. report: stages, funnel by channel, top leads, score explanations,'
\echo '    rescore check, maintenance'
\echo

\ir generate.sql

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
\echo '--- 2. Generated data set ----------------------------------------'
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
\echo '--- 3. Named leads: capture() and track() -------------------------'
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
\echo '--- 4. Reports ----------------------------------------------------'
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
\echo 'Demo finished in' :total_secs 's.  Explore: psql, then e.g.'
\echo '  SELECT * FROM lead_mgmt.explain_score(<lead id>);'
\echo '  SELECT stage, count(*) FROM lead_mgmt.leads GROUP BY stage;'
\echo
