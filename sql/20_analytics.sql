-- Funnel analytics: campaigns, deals, and the views analysts read.
--
-- A small hand-made data set; every number the views print is computed by
-- hand in the comments before the query.  Rates are percentages rounded to
-- 2 decimals and NULL when their denominator is 0.
SET client_min_messages = warning;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
-- every story starts from a fresh install
DROP EXTENSION lead_mgmt;
CREATE EXTENSION lead_mgmt;
-- errors print their message and hint, not the PL/pgSQL line they come from
\set SHOW_CONTEXT never

-- The contract: every view with exactly its columns, all security_invoker.
SELECT c.relname AS view, c.reloptions,
       (SELECT pg_catalog.string_agg(a.attname, ', ' ORDER BY a.attnum)
          FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0) AS columns
  FROM pg_class c
 WHERE c.relnamespace = 'lead_mgmt'::regnamespace AND c.relkind = 'v'
   AND c.relname IN ('funnel_summary', 'funnel_by_month', 'stage_counts', 'acquisition_costs',
                     'sales_by_month', 'customer_ltv', 'ltv_summary', 'sales_cycle',
                     'unknown_campaigns')
 ORDER BY 1;
-- pg_dump keeps the new tables and the deals sequence
SELECT x::regclass AS dumped
  FROM pg_extension e, unnest(e.extconfig) x
 WHERE e.extname = 'lead_mgmt'
   AND x::regclass::text IN ('lead_mgmt.campaigns', 'lead_mgmt.campaign_daily',
                             'lead_mgmt.deals', 'lead_mgmt.deals_id_seq')
 ORDER BY 1::text;

------------------------------------------------------------------------
-- Nothing yet: every rate's denominator is 0, so every rate is NULL.
------------------------------------------------------------------------
SELECT * FROM lead_mgmt.funnel_summary;
SELECT * FROM lead_mgmt.ltv_summary;
-- the total row is there even with no customers
SELECT * FROM lead_mgmt.sales_cycle;
SELECT count(*) AS months FROM lead_mgmt.sales_by_month;
SELECT * FROM lead_mgmt.funnel(NULL, NULL);

------------------------------------------------------------------------
-- Campaigns and what they cost and brought, per day.
------------------------------------------------------------------------
INSERT INTO lead_mgmt.campaigns (code, name, channel, funnel_position, lead_magnet) VALUES
    ('blog',    'Blog and SEO guides', 'organic',     'top',    'seo-guide.pdf'),
    ('ppc',     'Search ads',          'paid_search', 'middle', NULL),
    ('webinar', 'Product webinar',     'events',      'bottom', NULL);
-- blog:    January 400 + 600 = 1000 visitors, no spend
-- ppc:     January 300 + 200 = 500 visitors, 150 + 150 = 300.00 spent;
--          February 500 visitors, 600.00 spent
-- webinar: February 0 visitors, 250.00 spent
INSERT INTO lead_mgmt.campaign_daily (campaign, day, visitors, spend) VALUES
    ('blog',    '2026-01-05', 400,   0),
    ('blog',    '2026-01-20', 600,   0),
    ('ppc',     '2026-01-10', 300, 150),
    ('ppc',     '2026-01-25', 200, 150),
    ('ppc',     '2026-02-10', 500, 600),
    ('webinar', '2026-02-15',   0, 250);
-- bad rows are refused
INSERT INTO lead_mgmt.campaigns (code, funnel_position) VALUES ('x', 'side');
INSERT INTO lead_mgmt.campaign_daily (campaign, day, visitors) VALUES ('ppc', '2026-03-01', -1);
INSERT INTO lead_mgmt.campaign_daily (campaign, day, spend) VALUES ('ppc', '2026-03-01', -0.01);
INSERT INTO lead_mgmt.campaign_daily (campaign, day) VALUES ('nope', '2026-03-01');
INSERT INTO lead_mgmt.campaign_daily (campaign, day) VALUES ('ppc', 'infinity');
-- renaming a campaign code carries its days along
UPDATE lead_mgmt.campaigns SET code = 'search' WHERE code = 'ppc';
SELECT campaign, count(*) FROM lead_mgmt.campaign_daily GROUP BY 1 ORDER BY 1;
UPDATE lead_mgmt.campaigns SET code = 'ppc' WHERE code = 'search';

------------------------------------------------------------------------
-- Ten leads.  Stages come from behaviour (the shipped stage conditions):
-- email_subscribed or form_submitted -> iql; form_submitted and
-- pricing_page_visited -> mql; demo_requested or consultation_scheduled
-- -> sql; a won deal (a purchase) -> customer.
------------------------------------------------------------------------
INSERT INTO lead_mgmt.leads (first_name, email, channel, campaign, created_at)
VALUES ('Ada', 'ada@example.com', 'organic', 'blog', '2026-01-06 10:00') RETURNING id AS ada \gset
INSERT INTO lead_mgmt.leads (first_name, email, channel, campaign, created_at)
VALUES ('Bob', 'bob@example.com', 'organic', 'blog', '2026-01-07 00:00') RETURNING id AS bob \gset
INSERT INTO lead_mgmt.leads (first_name, email, channel, campaign, created_at)
VALUES ('Cy', 'cy@example.com', 'organic', 'blog', '2026-01-08 00:00') RETURNING id AS cy \gset
INSERT INTO lead_mgmt.leads (first_name, email, channel, campaign, created_at)
VALUES ('Dee', 'dee@example.com', 'paid_search', 'ppc', '2026-01-11 00:00') RETURNING id AS dee \gset
INSERT INTO lead_mgmt.leads (first_name, email, channel, campaign, created_at)
VALUES ('Eve', 'eve@example.com', 'paid_search', 'ppc', '2026-01-12 00:00') RETURNING id AS eve \gset
INSERT INTO lead_mgmt.leads (first_name, email, channel, campaign, created_at)
VALUES ('Fay', 'fay@example.com', 'paid_search', 'ppc', '2026-01-26 00:00') RETURNING id AS fay \gset
INSERT INTO lead_mgmt.leads (first_name, email, channel, campaign, created_at)
VALUES ('Gus', 'gus@example.com', 'paid_search', 'ppc', '2026-02-11 00:00') RETURNING id AS gus \gset
-- 'ppc-old' is not in campaigns: the lead is taken all the same
INSERT INTO lead_mgmt.leads (first_name, email, channel, campaign, created_at)
VALUES ('Hal', 'hal@example.com', 'paid_search', 'ppc-old', '2026-02-12 00:00') RETURNING id AS hal \gset
INSERT INTO lead_mgmt.leads (first_name, email, channel, campaign, created_at)
VALUES ('Ivy', 'ivy@example.com', 'referral', NULL, '2026-01-13 00:00') RETURNING id AS ivy \gset
INSERT INTO lead_mgmt.leads (first_name, email, channel, campaign, created_at)
VALUES ('Jo', 'jo@example.com', 'referral', NULL, '2026-03-02 00:00') RETURNING id AS jo \gset

INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at) VALUES
    (:ada, 'email_subscribed',       '2026-01-06 11:00'),   -- iql
    (:ada, 'form_submitted',         '2026-01-07 09:00'),
    (:ada, 'pricing_page_visited',   '2026-01-08 09:00'),   -- mql
    (:ada, 'demo_requested',         '2026-01-09 09:00'),   -- sql
    (:bob, 'email_subscribed',       '2026-01-07 12:00'),   -- iql
    (:cy,  'email_opened',           '2026-01-09 08:00'),   -- still a lead
    (:dee, 'demo_requested',         '2026-01-12 09:00'),   -- lead -> sql at once
    (:eve, 'form_submitted',         '2026-01-13 09:00'),
    (:eve, 'pricing_page_visited',   '2026-01-14 09:00'),   -- mql
    (:eve, 'trial_started',          '2026-01-15 09:00'),
    (:fay, 'consultation_scheduled', '2026-01-27 09:00'),   -- lead -> sql at once
    (:gus, 'trial_started',          '2026-02-12 09:00'),
    (:ivy, 'email_subscribed',       '2026-01-14 09:00'),   -- iql
    (:jo,  'form_submitted',         '2026-03-03 09:00');   -- iql
-- Fay goes back to mql by hand; she has reached sql all the same.
SELECT lead_mgmt.set_stage(:fay, 'mql', 'budget frozen until Q3');

------------------------------------------------------------------------
-- Deals.  A deal that becomes won records a purchase: its lead becomes a
-- customer, converted_at is its first purchase.
------------------------------------------------------------------------
INSERT INTO lead_mgmt.deals (lead_id, amount, status, created_at, closed_at) VALUES
    (:ada, 1000, 'won',  '2026-01-10', '2026-01-16 10:00'),
    (:dee, 3000, 'won',  '2026-01-20', '2026-02-15 00:00'),
    (:fay, 2000, 'lost', '2026-01-28', '2026-02-01 00:00'),
    (:gus,  500, 'won',  '2026-02-12', '2026-02-21 12:00');
-- Ivy buys twice; the later deal is recorded first: converted_at is still
-- the first purchase (2026-01-31 12:00).
INSERT INTO lead_mgmt.deals (lead_id, amount, status, created_at, closed_at)
VALUES (:ivy, 2500, 'won', '2026-03-20', '2026-04-10 00:00');
INSERT INTO lead_mgmt.deals (lead_id, amount, status, created_at, closed_at)
VALUES (:ivy, 1500, 'won', '2026-01-20', '2026-01-31 12:00');
-- Jo's deal is open: no closed_at.
INSERT INTO lead_mgmt.deals (lead_id, amount, created_at) VALUES (:jo, 800, '2026-03-05') RETURNING status, closed_at;

SELECT l.first_name, l.stage, l.converted_at,
       (SELECT pg_catalog.count(*) FROM lead_mgmt.events e
         WHERE e.lead_id = l.id AND e.event_type = 'purchase') AS purchases
  FROM lead_mgmt.leads l ORDER BY l.id;
-- Dee and Fay jumped from lead to sql, Gus from lead to customer; Fay went
-- down by hand; a won deal's step has reason deal_won.
SELECT l.first_name, h.from_stage, h.to_stage, h.reason
  FROM lead_mgmt.stage_history h JOIN lead_mgmt.leads l ON l.id = h.lead_id
 WHERE l.id IN (:dee, :fay, :gus) ORDER BY h.id;

-- Reached stages (the highest rank a lead's history holds):
--   Ada 40 customer, Bob 10 iql, Cy 0 lead, Dee 40 (lead -> sql -> customer),
--   Eve 20 mql, Fay 30 sql (now mql by hand), Gus 40 (lead -> customer),
--   Hal 0, Ivy 40, Jo 10.
SELECT l.first_name, l.stage AS current_stage, r.reached_rank, r.trial
  FROM lead_mgmt._lead_reach r JOIN lead_mgmt.leads l ON l.id = r.lead_id ORDER BY l.id;
-- The views find reached stages from the current stage, reading the
-- history only of leads moved by hand; that equals the definition read
-- straight off stage_history, lead by lead and in total.
CREATE TEMP VIEW reached_by_definition AS
SELECT h.lead_id, max(s.rank) AS rank
  FROM lead_mgmt.stage_history h JOIN lead_mgmt.stages s ON s.name = h.to_stage
 GROUP BY h.lead_id;
CREATE TEMP VIEW reach_disagreements AS
SELECT count(*) AS disagreements
  FROM lead_mgmt._lead_reach r JOIN reached_by_definition d ON d.lead_id = r.lead_id
 WHERE r.reached_rank IS DISTINCT FROM d.rank;
TABLE reach_disagreements;
SELECT (SELECT (f.leads, f.iql, f.mql, f.sql, f.customers) FROM lead_mgmt.funnel_summary f)
     = (SELECT (count(*), count(*) FILTER (WHERE d.rank >= 10), count(*) FILTER (WHERE d.rank >= 20),
                count(*) FILTER (WHERE d.rank >= 30), count(*) FILTER (WHERE d.rank >= 40))
          FROM reached_by_definition d) AS same_totals;
-- The history of leads moved by hand is read lead by lead when they are
-- few against all of it (manual rows under a 100th of the history rows, as
-- ANALYZE counted them), else in one scan.  With 10,000 more history rows
-- (of no real lead) the lookups are taken, and agree with the definition.
BEGIN;
INSERT INTO lead_mgmt.stage_history (lead_id, from_stage, to_stage, changed_at, reason)
SELECT -g, 'lead', 'iql', now(), 'score' FROM generate_series(1, 10000) AS g;
ANALYZE lead_mgmt.stage_history;
SELECT count(*) < (SELECT reltuples / 100 FROM pg_class
                    WHERE oid = 'lead_mgmt.stage_history'::regclass) AS looked_up_lead_by_lead
  FROM lead_mgmt.stage_history WHERE reason = 'manual';
TABLE reach_disagreements;
ROLLBACK;

------------------------------------------------------------------------
-- funnel_summary
--   visitors  = 1000 + 500 + 500 + 0 = 2000
--   leads     = 10
--   iql       = reached >= 10: all but Cy and Hal              = 8
--   mql       = reached >= 20: Ada, Dee, Eve, Fay, Gus, Ivy    = 6
--   sql       = reached >= 30: Ada, Dee, Fay, Gus, Ivy         = 5
--   customers = reached >= 40: Ada, Dee, Gus, Ivy              = 4
--   trials    = Eve, Gus                                       = 2
--   opt_in_rate           = 10 / 2000 x 100 = 0.50
--   sales_conversion_rate =  4 / 10 x 100   = 40.00
--   lead_to_mql_rate      =  6 / 10 x 100   = 60.00
--   mql_to_sql_rate       =  5 / 6 x 100    = 83.33
--   sql_to_customer_rate  =  4 / 5 x 100    = 80.00
------------------------------------------------------------------------
SELECT * FROM lead_mgmt.funnel_summary;

-- stage_counts: where leads are now
--   lead: Cy, Hal = 2; iql: Bob, Jo = 2; mql: Eve, Fay = 2; sql: 0;
--   customer: Ada, Dee, Gus, Ivy = 4
SELECT * FROM lead_mgmt.stage_counts;

------------------------------------------------------------------------
-- funnel_by_month: leads by month of created_at and channel; visitors of
-- that channel's campaigns that month.
--   2026-01 organic:     1000 visitors; Ada, Bob, Cy: 3 leads, iql 2, mql 1,
--                        sql 1, customers 1; opt-in 3/1000 = 0.30,
--                        conversion 1/3 = 33.33
--   2026-01 paid_search:  500 visitors; Dee, Eve, Fay: 3 leads, iql 3, mql 3,
--                        sql 2 (Dee, Fay), customers 1, trials 1 (Eve);
--                        opt-in 3/500 = 0.60, conversion 1/3 = 33.33
--   2026-01 referral:       0 visitors; Ivy: 1 lead, customer; opt-in NULL
--                        (no visitors), conversion 100.00
--   2026-02 events:         0 visitors, no leads: both rates NULL
--   2026-02 paid_search:  500 visitors; Gus, Hal: 2 leads, Gus is iql, mql,
--                        sql, customer, trial; opt-in 2/500 = 0.40,
--                        conversion 1/2 = 50.00
--   2026-03 referral:       0 visitors; Jo: 1 lead, iql; opt-in NULL,
--                        conversion 0.00
------------------------------------------------------------------------
SELECT * FROM lead_mgmt.funnel_by_month;

------------------------------------------------------------------------
-- acquisition_costs: per campaign and month, the spend and visitors of
-- that month and the leads created that month (whenever they bought).
--   2026-01 blog:    spend 0.00, 1000 visitors, 3 leads, 1 customer (Ada),
--                    revenue 1000.00 (1 deal)
--                    CPL 0 / 3 = 0.00; CAC 0 / 1 = 0.00; avg deal 1000.00;
--                    ROI (1000 - 0) / 0: NULL; CPL > avg deal: false
--   2026-01 ppc:     spend 300.00, 500 visitors, 3 leads, 1 customer (Dee),
--                    revenue 3000.00 (won in February, counted with the
--                    January leads)
--                    CPL 300 / 3 = 100.00; CAC 300 / 1 = 300.00;
--                    avg deal 3000.00; ROI (3000 - 300) / 300 = 900.00
--   2026-02 ppc:     spend 600.00, 500 visitors, 1 lead (Gus; Hal's code is
--                    ppc-old), 1 customer, revenue 500.00
--                    CPL 600.00; CAC 600.00; avg deal 500.00;
--                    ROI (500 - 600) / 600 = -16.67; CPL > avg deal: true
--   2026-02 webinar: spend 250.00, no visitors, no leads: CPL, CAC and avg
--                    deal NULL; ROI (0 - 250) / 250 = -100.00; flag NULL
------------------------------------------------------------------------
SELECT * FROM lead_mgmt.acquisition_costs;
-- ppc-old is nobody's campaign
SELECT * FROM lead_mgmt.unknown_campaigns;

------------------------------------------------------------------------
-- sales_by_month: won deals by month of closed_at, every month from the
-- first to the last, the empty one too.
--   2026-01: Ada 1000 + Ivy 1500 = 2500.00, 2 deals, avg 1250.00, growth NULL
--            (no previous month)
--   2026-02: Dee 3000 + Gus 500  = 3500.00, 2 deals, avg 1750.00,
--            growth (3500 - 2500) / 2500 = 40.00
--   2026-03: nothing: 0 deals, 0.00, avg NULL (0 deals),
--            growth (0 - 3500) / 3500 = -100.00
--   2026-04: Ivy 2500.00, 1 deal, avg 2500.00, growth against 0.00: NULL
------------------------------------------------------------------------
SELECT * FROM lead_mgmt.sales_by_month;

------------------------------------------------------------------------
-- customer_ltv and ltv_summary: lifetime value = sum of won deals.
--   Ada 1000.00 (1 deal), Dee 3000.00 (1), Gus 500.00 (1), Ivy 4000.00 (2)
--   customers 4; mean (1000 + 3000 + 500 + 4000) / 4 = 2125.00;
--   median of 500, 1000, 3000, 4000 = (1000 + 3000) / 2 = 2000.00;
--   deals per customer 5 / 4 = 1.25
-- tenure_days counts whole days since the first win, up to now().
------------------------------------------------------------------------
SELECT l.first_name, c.first_won_at, c.deals_won, c.lifetime_value,
       c.tenure_days = floor(extract(epoch FROM now() - c.first_won_at) / 86400) AS tenure_ok
  FROM lead_mgmt.customer_ltv c JOIN lead_mgmt.leads l ON l.id = c.lead_id ORDER BY l.id;
SELECT * FROM lead_mgmt.ltv_summary;

------------------------------------------------------------------------
-- sales_cycle: days from created_at to converted_at (seconds / 86400).
--   Ada 01-06 10:00 -> 01-16 10:00 = 10.00   (organic)
--   Dee 01-11 00:00 -> 02-15 00:00 = 35.00   (paid_search)
--   Gus 02-11 00:00 -> 02-21 12:00 = 10.50   (paid_search)
--   Ivy 01-13 00:00 -> 01-31 12:00 = 18.50   (referral; her first purchase)
--   organic:     1 customer, 10.00 / 10.00 / 10.00
--   paid_search: 2, mean (10.5 + 35) / 2 = 22.75, median 22.75,
--                p90 = 10.5 + 0.9 x (35 - 10.5) = 32.55
--   referral:    1, 18.50 / 18.50 / 18.50
--   (all):       4 customers, mean (10 + 10.5 + 18.5 + 35) / 4 = 18.50,
--                median (10.5 + 18.5) / 2 = 14.50,
--                p90: position 0.9 x 3 = 2.7 -> 18.5 + 0.7 x (35 - 18.5) = 30.05
------------------------------------------------------------------------
SELECT * FROM lead_mgmt.sales_cycle;

------------------------------------------------------------------------
-- funnel(from, to, group_by): the funnel of the leads created in [from, to)
------------------------------------------------------------------------
-- January, whole funnel: Ada, Bob, Cy, Dee, Eve, Fay, Ivy = 7 leads;
--   iql 6 (not Cy), mql 5, sql 4 (Ada, Dee, Fay, Ivy), customers 3 (Ada,
--   Dee, Ivy), trials 1; visitors of January days 1000 + 500 = 1500
--   opt-in 7/1500 = 0.47; lead->mql 5/7 = 71.43; mql->sql 4/5 = 80.00;
--   sql->customer 3/4 = 75.00; conversion 3/7 = 42.86
SELECT * FROM lead_mgmt.funnel('2026-01-01', '2026-02-01');
-- All time, whole funnel: what funnel_summary says.  Without a range or a
-- grouping the leads are counted by stage, not one by one; both forms agree.
SELECT * FROM lead_mgmt.funnel(NULL, NULL);
SELECT (SELECT row(f.*) FROM lead_mgmt.funnel(NULL, NULL) f)
     = (SELECT row(f.*) FROM lead_mgmt.funnel('-infinity', 'infinity') f) AS same_as_by_range,
       (SELECT (f.visitors, f.leads, f.iql, f.mql, f.sql, f.customers, f.trials)
          FROM lead_mgmt.funnel(NULL, NULL) f)
     = (SELECT (s.visitors, s.leads, s.iql, s.mql, s.sql, s.customers, s.trials)
          FROM lead_mgmt.funnel_summary s) AS same_as_summary;
-- all time by channel:
--   events:      0 visitors, 0 leads: every rate NULL
--   organic:     1000 visitors, 3 leads, iql 2, mql 1, sql 1, customers 1;
--                0.30, 33.33, 100.00, 100.00, 33.33
--   paid_search: 1000 visitors, Dee Eve Fay Gus Hal = 5 leads, iql 4, mql 4,
--                sql 3, customers 2, trials 2; opt-in 5/1000 = 0.50,
--                4/5 = 80.00, 3/4 = 75.00, 2/3 = 66.67, 2/5 = 40.00
--   referral:    0 visitors (opt-in NULL), Ivy and Jo: iql 2, mql 1, sql 1,
--                customers 1; 1/2 = 50.00, 100.00, 100.00, 50.00
SELECT * FROM lead_mgmt.funnel(NULL, NULL, 'channel');
-- February by campaign: ppc 500 visitors, Gus (all stages): 0.20 and 100s;
--   ppc-old: Hal, no visitors known, no stage: opt-in NULL, lead->mql 0.00,
--   the next two NULL (no mql, no sql), conversion 0.00; webinar: nothing
SELECT * FROM lead_mgmt.funnel('2026-02-01', '2026-03-01', 'campaign');
-- by owner: nobody owns a lead here (no reps), so one group, NULL; visitors
-- have no owner: NULL
SELECT * FROM lead_mgmt.funnel(NULL, NULL, 'owner');
-- by segment (current membership; a lead may count in several segments,
-- leads in none under NULL):
--   engaged (subscribed to email): Ada, Bob, Ivy: iql 3, mql 2, sql 2,
--     customers 2; 66.67, 100.00, 100.00, 66.67
--   paid: the 5 paid_search leads, as above
--   NULL: Cy and Jo: iql 1 (Jo); lead->mql 0.00, then NULL, NULL, 0.00
INSERT INTO lead_mgmt.segments (name, condition) VALUES
    ('paid',    '{"field": "channel", "op": "=", "value": "paid_search"}'),
    ('engaged', '{"event": "email_subscribed"}');
SELECT * FROM lead_mgmt.funnel(NULL, NULL, 'Segment');
-- By segment, funnel() counts a range in one pass over the memberships,
-- each looked up in an array of the range's leads by id (_segment_funnel,
-- in C), or, for fewer leads than a 256th of the memberships
-- (pg_class.reltuples), by looking up each lead's segments.  On 3,000 more
-- leads, with holes in their ids (deleted leads), in one, two or no
-- segments, some with trials, some moved by hand, both count what the
-- definition gives: each lead's reached stage and trial (_lead_reach) per
-- segment it is in.  All leads, two months (half of them) and a week by
-- the pass, eight hours through lookups.
BEGIN;
INSERT INTO lead_mgmt.segments (name, condition) VALUES
    ('big', '{"field": "company_size", "op": ">=", "value": 500}'),
    ('nobody', '{"field": "company_size", "op": ">", "value": 1000000}');
INSERT INTO lead_mgmt.leads (email, channel, company_size, created_at)
SELECT 'bulk' || i || '@example.com', (ARRAY['organic', 'paid_search', 'referral'])[i % 3 + 1],
       (i * 37) % 1000, '2026-04-01'::timestamptz + i * interval '1 hour'
  FROM generate_series(1, 3000) AS i;
DELETE FROM lead_mgmt.leads WHERE email LIKE 'bulk%' AND (id % 13 = 0 OR id BETWEEN 1100 AND 1300);
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at)
SELECT l.id, x.t, l.created_at + interval '1 minute'
  FROM lead_mgmt.leads l
 CROSS JOIN LATERAL (VALUES ('email_subscribed', l.id % 3 = 0), ('form_submitted', l.id % 4 = 0),
                            ('pricing_page_visited', l.id % 8 = 0), ('demo_requested', l.id % 10 = 0),
                            ('trial_started', l.id % 7 = 0)) AS x(t, yes)
 WHERE l.email LIKE 'bulk%' AND x.yes;
SELECT count(*) AS moved FROM (
    SELECT lead_mgmt.set_stage(l.id, 'lead', 'regress') FROM lead_mgmt.leads l
     WHERE l.email LIKE 'bulk%' AND l.id % 50 = 0 AND l.stage <> 'lead') s;
SELECT count(*) AS leads, max(id) >= 2048 AS three_blocks,
       count(*) FILTER (WHERE stage = 'sql') > 0 AS some_sql
  FROM lead_mgmt.leads WHERE email LIKE 'bulk%';
ANALYZE lead_mgmt.leads, lead_mgmt.segment_members;
SELECT count(*) < (SELECT reltuples / 256 FROM pg_class
                    WHERE oid = 'lead_mgmt.segment_members'::regclass) AS eight_hours_by_lookups
  FROM lead_mgmt.leads WHERE created_at >= '2026-05-01' AND created_at < '2026-05-01 08:00';
CREATE TEMP VIEW funnel_by_segment AS
SELECT f.lo, f.hi, g.group_value, g.leads, g.iql, g.mql, g.sql, g.customers, g.trials
  FROM (VALUES (NULL::timestamptz, NULL::timestamptz),
               ('2026-04-10', '2026-06-10'), ('2026-05-01', '2026-05-08'),
               ('2026-05-01', '2026-05-01 08:00')) AS f(lo, hi)
 CROSS JOIN LATERAL lead_mgmt.funnel(f.lo, f.hi, 'segment') AS g;
-- each lead's reached stages and trial, as the definition counts them
CREATE TEMP VIEW reach_flags AS
SELECT r.lead_id, r.created_at, r.trial,
       r.reached_rank >= (SELECT rank FROM lead_mgmt.stages WHERE name = 'iql') AS iql,
       r.reached_rank >= (SELECT rank FROM lead_mgmt.stages WHERE name = 'mql') AS mql,
       r.reached_rank >= (SELECT rank FROM lead_mgmt.stages WHERE name = 'sql') AS sql,
       r.reached_rank >= (SELECT rank FROM lead_mgmt.stages WHERE name = 'customer') AS customer
  FROM lead_mgmt._lead_reach r;
CREATE TEMP VIEW funnel_by_segment_defined AS
SELECT f.lo, f.hi, sg.name AS group_value, count(*) AS leads,
       count(*) FILTER (WHERE r.iql) AS iql, count(*) FILTER (WHERE r.mql) AS mql,
       count(*) FILTER (WHERE r.sql) AS sql, count(*) FILTER (WHERE r.customer) AS customers,
       count(*) FILTER (WHERE r.trial) AS trials
  FROM (VALUES (NULL::timestamptz, NULL::timestamptz),
               ('2026-04-10', '2026-06-10'), ('2026-05-01', '2026-05-08'),
               ('2026-05-01', '2026-05-01 08:00')) AS f(lo, hi)
  JOIN reach_flags r ON r.created_at >= COALESCE(f.lo, '-infinity')
                              AND r.created_at < COALESCE(f.hi, 'infinity')
  LEFT JOIN (lead_mgmt.segment_members m JOIN lead_mgmt.segments sg ON sg.id = m.segment_id)
         ON m.lead_id = r.lead_id
 GROUP BY 1, 2, 3;
SELECT lo, hi - lo AS span, count(*) AS groups, sum(leads) AS memberships, sum(iql) AS iql,
       sum(customers) AS customers, sum(trials) AS trials
  FROM funnel_by_segment GROUP BY lo, hi ORDER BY lo NULLS FIRST, hi;
SELECT count(*) AS differences
  FROM ((TABLE funnel_by_segment EXCEPT ALL TABLE funnel_by_segment_defined)
        UNION ALL
        (TABLE funnel_by_segment_defined EXCEPT ALL TABLE funnel_by_segment)) AS d;
-- By channel, campaign or owner, or over a range, funnel() counts in C too
-- (_group_funnel: one pass over the leads of the range, each one's trial
-- looked up in an array of the leads with one): the same as the definition.
CREATE TEMP VIEW funnel_by_column AS
SELECT f.lo, f.hi, c.by, g.group_value, g.leads, g.iql, g.mql, g.sql, g.customers, g.trials
  FROM (VALUES (NULL::timestamptz, NULL::timestamptz),
               ('2026-04-10', '2026-06-10'), ('2026-05-01', '2026-05-08')) AS f(lo, hi)
 CROSS JOIN (VALUES ('channel'), ('campaign'), ('owner'), (NULL)) AS c(by)
 CROSS JOIN LATERAL lead_mgmt.funnel(f.lo, f.hi, c.by) AS g
 WHERE g.leads > 0;
CREATE TEMP VIEW funnel_by_column_defined AS
SELECT f.lo, f.hi, c.by,
       CASE c.by WHEN 'channel' THEN l.channel WHEN 'campaign' THEN l.campaign
                 WHEN 'owner' THEN l.owner_id::text ELSE '(all)' END AS group_value,
       count(*) AS leads,
       count(*) FILTER (WHERE r.iql) AS iql, count(*) FILTER (WHERE r.mql) AS mql,
       count(*) FILTER (WHERE r.sql) AS sql, count(*) FILTER (WHERE r.customer) AS customers,
       count(*) FILTER (WHERE r.trial) AS trials
  FROM (VALUES (NULL::timestamptz, NULL::timestamptz),
               ('2026-04-10', '2026-06-10'), ('2026-05-01', '2026-05-08')) AS f(lo, hi)
 CROSS JOIN (VALUES ('channel'), ('campaign'), ('owner'), (NULL)) AS c(by)
  JOIN reach_flags r ON r.created_at >= COALESCE(f.lo, '-infinity')
                              AND r.created_at < COALESCE(f.hi, 'infinity')
  JOIN lead_mgmt.leads l ON l.id = r.lead_id
 GROUP BY 1, 2, 3, 4;
SELECT by, count(*) AS rows, sum(leads) AS leads, sum(trials) AS trials
  FROM funnel_by_column GROUP BY by ORDER BY by NULLS FIRST;
CREATE TEMP VIEW funnel_by_column_differences AS
SELECT count(*) AS differences
  FROM ((TABLE funnel_by_column EXCEPT ALL TABLE funnel_by_column_defined)
        UNION ALL
        (TABLE funnel_by_column_defined EXCEPT ALL TABLE funnel_by_column)) AS d;
TABLE funnel_by_column_differences;
-- _reach_days (C), behind funnel_by_month (through _reach_rows),
-- acquisition_costs and unknown_campaigns, counts what its definition
-- counts: every lead per day of creation in the session's time zone,
-- channel, campaign and current stage, with its trial, its won deals (a
-- lead may have several) and the first and last creation time, in
-- any time zone -- leads created around midnight on the days clocks
-- change, on the day Samoa skipped (2011-12-30), and before time zones.
INSERT INTO lead_mgmt.leads (email, created_at, campaign)
VALUES ('tz1@example.com', '2026-03-08 04:59:59+00', 'fb-spring'), ('tz2@example.com', '2026-03-08 05:00:00+00', NULL),
       ('tz3@example.com', '2026-11-01 03:59:59+00', 'fb-spring'), ('tz4@example.com', '2026-11-01 04:00:00+00', NULL),
       ('tz5@example.com', '2011-12-29 10:00:00+00', 'ppc-old'), ('tz6@example.com', '2011-12-30 10:00:00+00', NULL),
       ('tz7@example.com', '1883-11-18 16:59:59+00', NULL), ('tz8@example.com', '1883-11-18 17:00:00+00', 'fb-spring');
INSERT INTO lead_mgmt.deals (lead_id, amount, status, closed_at)
SELECT l.id, 100 + l.id % 7 * 10.5, 'won', '2026-06-01'::timestamptz FROM lead_mgmt.leads l
 WHERE (l.email LIKE 'bulk%' AND l.id % 11 = 0) OR l.email LIKE 'tz%'
UNION ALL
SELECT l.id, 42.25, 'won', '2026-06-02'::timestamptz FROM lead_mgmt.leads l
 WHERE l.email LIKE 'bulk%' AND l.id % 22 = 0;
CREATE TEMP VIEW reach_days_differences AS
WITH won AS (
    SELECT d.lead_id, count(*) AS n, sum(d.amount) AS revenue
      FROM lead_mgmt.deals d WHERE d.status = 'won' GROUP BY d.lead_id
), defined AS (
    SELECT l.created_at::date AS day, l.channel, l.campaign, l.stage, count(*) AS leads,
           count(t.lead_id) AS trials, COALESCE(sum(w.n), 0)::bigint AS deals_won,
           sum(w.revenue) AS revenue, min(l.created_at) AS first_created_at,
           max(l.created_at) AS last_created_at
      FROM lead_mgmt.leads l
      LEFT JOIN lead_mgmt._trial_leads t ON t.lead_id = l.id
      LEFT JOIN won w ON w.lead_id = l.id
     GROUP BY 1, 2, 3, 4
)
SELECT pg_catalog.current_setting('TimeZone') AS time_zone,
       (SELECT count(*) FROM lead_mgmt._reach_days(true)) AS groups,
       (SELECT count(*)
          FROM ((TABLE defined EXCEPT ALL SELECT * FROM lead_mgmt._reach_days(true))
                UNION ALL
                (SELECT * FROM lead_mgmt._reach_days(true) EXCEPT ALL TABLE defined)) AS d) AS differences,
       -- without deals: the same leads and trials, no deals
       (SELECT count(*)
          FROM ((SELECT day, channel, campaign, stage, leads, trials, 0::bigint, NULL::numeric,
                        first_created_at, last_created_at
                   FROM lead_mgmt._reach_days(true)
                 EXCEPT ALL SELECT * FROM lead_mgmt._reach_days(false))
                UNION ALL
                (SELECT * FROM lead_mgmt._reach_days(false)
                 EXCEPT ALL SELECT day, channel, campaign, stage, leads, trials, 0::bigint, NULL::numeric,
                        first_created_at, last_created_at
                   FROM lead_mgmt._reach_days(true))) AS d) AS differences_without_deals;
SELECT sum(leads) AS leads, sum(trials) AS trials, sum(deals_won) AS deals_won, sum(revenue) AS revenue,
       count(*) FILTER (WHERE channel IS NULL) AS without_channel
  FROM lead_mgmt._reach_days(true);
SET TimeZone = 'America/New_York';
TABLE reach_days_differences;
SET TimeZone = 'Pacific/Apia';
TABLE reach_days_differences;
SET TimeZone = 'Asia/Kathmandu';
TABLE reach_days_differences;
SET TimeZone = 'UTC';
TABLE reach_days_differences;
-- unknown_campaigns sums _reach_days' rows per campaign code: the same as
-- reading the leads (fb-spring and ppc-old are no registered campaign's)
SELECT * FROM lead_mgmt.unknown_campaigns;
WITH defined AS (
    SELECT l.campaign, count(*) AS leads, min(l.created_at) AS first_lead_at,
           max(l.created_at) AS last_lead_at
      FROM lead_mgmt.leads l
     WHERE l.campaign IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM lead_mgmt.campaigns c WHERE c.code = l.campaign)
     GROUP BY l.campaign
)
SELECT count(*) AS differences
  FROM ((TABLE lead_mgmt.unknown_campaigns EXCEPT ALL TABLE defined)
        UNION ALL
        (TABLE defined EXCEPT ALL TABLE lead_mgmt.unknown_campaigns)) AS d;
-- Ids too far apart for an array by id (here up to 9e12: imported with
-- their ids) are sorted and searched instead; the counts stay the same.
INSERT INTO lead_mgmt.leads (id, email, channel, company_size, created_at)
OVERRIDING SYSTEM VALUE
VALUES (5000000000000, 'far1@example.com', 'paid_search', 800, '2026-05-02'),
       (9000000000000, 'far2@example.com', 'organic', 10, '2026-05-03');
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at)
VALUES (5000000000000, 'email_subscribed', '2026-05-02 10:00'),
       (5000000000000, 'trial_started', '2026-05-02 11:00'),
       (9000000000000, 'demo_requested', '2026-05-03 10:00');
INSERT INTO lead_mgmt.deals (lead_id, amount, status, closed_at)
VALUES (5000000000000, 999.99, 'won', '2026-06-03'), (5000000000000, 0.01, 'won', '2026-06-04');
SELECT lo, hi - lo AS span, count(*) AS groups, sum(leads) AS memberships, sum(trials) AS trials
  FROM funnel_by_segment GROUP BY lo, hi ORDER BY lo NULLS FIRST, hi;
TABLE funnel_by_column_differences;
TABLE reach_days_differences;
SELECT count(*) AS differences
  FROM ((TABLE funnel_by_segment EXCEPT ALL TABLE funnel_by_segment_defined)
        UNION ALL
        (TABLE funnel_by_segment_defined EXCEPT ALL TABLE funnel_by_segment)) AS d;
-- Ids at both ends of bigint: 2^64 values apart, one more than the
-- distance the counting passes can hold; still sorted and searched.
SELECT sum(revenue) AS revenue_before FROM lead_mgmt.acquisition_costs
 WHERE campaign = 'ppc' \gset
INSERT INTO lead_mgmt.leads (id, email, channel, campaign, created_at)
OVERRIDING SYSTEM VALUE
VALUES (-9223372036854775808, 'min@example.com', 'paid_search', 'ppc', '2026-05-04'),
       (9223372036854775807, 'max@example.com', 'paid_search', 'ppc', '2026-05-05');
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at)
VALUES (-9223372036854775808, 'trial_started', '2026-05-04 10:00'),
       (9223372036854775807, 'trial_started', '2026-05-05 10:00');
INSERT INTO lead_mgmt.deals (lead_id, amount, status, closed_at)
VALUES (-9223372036854775808, 1, 'won', '2026-06-05'), (9223372036854775807, 2, 'won', '2026-06-06');
TABLE funnel_by_column_differences;
TABLE reach_days_differences;
SELECT count(*) AS differences
  FROM ((TABLE funnel_by_segment EXCEPT ALL TABLE funnel_by_segment_defined)
        UNION ALL
        (TABLE funnel_by_segment_defined EXCEPT ALL TABLE funnel_by_segment)) AS d;
SELECT sum(revenue) - :revenue_before AS revenue_added  -- both deals: 1 + 2
  FROM lead_mgmt.acquisition_costs WHERE campaign = 'ppc';
ROLLBACK;
-- an empty range still gives the one row of the whole funnel
SELECT * FROM lead_mgmt.funnel('2027-01-01', '2027-02-01', '');
SELECT * FROM lead_mgmt.funnel(NULL, NULL, 'country');
-- funnel() runs with JIT off, whatever the session says: its statements
-- read each lead once, in less time than JIT takes to compile them
SELECT proconfig FROM pg_proc
 WHERE oid = 'lead_mgmt.funnel(timestamptz, timestamptz, text)'::regprocedure;
SELECT * FROM lead_mgmt.funnel('2026-02-01', '2026-01-01');
-- funnel() checks the range; its counting helper, called directly,
-- counts nothing in a range that starts after it ends, or without bounds
-- (NULL: funnel() passes -infinity and infinity for open ends)
SELECT * FROM lead_mgmt._segment_funnel('2026-02-01', '2026-01-01');
SELECT * FROM lead_mgmt._segment_funnel(NULL, 'infinity');
SELECT count(*) AS groups FROM lead_mgmt._segment_funnel('-infinity', 'infinity');
SELECT * FROM lead_mgmt._group_funnel('2026-02-01', '2026-01-01', 'channel');
SELECT * FROM lead_mgmt._group_funnel(NULL, 'infinity', 'channel');
SELECT group_value, leads FROM lead_mgmt._group_funnel('-infinity', 'infinity', 'all');
SELECT * FROM lead_mgmt._group_funnel('-infinity', 'infinity', 'country');
-- the rows behind funnel_by_month, acquisition_costs and unknown_campaigns:
-- nothing without saying whether to read the deals
SELECT count(*) AS groups FROM lead_mgmt._reach_days(NULL);

------------------------------------------------------------------------
-- Deals: bad input is refused with a clear error.
------------------------------------------------------------------------
INSERT INTO lead_mgmt.deals (lead_id, amount) VALUES (:hal, -100);
INSERT INTO lead_mgmt.deals (lead_id, amount) VALUES (:hal, NULL);
INSERT INTO lead_mgmt.deals (lead_id, amount, status) VALUES (:hal, 100, 'pending');
INSERT INTO lead_mgmt.deals (lead_id, amount, status) VALUES (:hal, 100, NULL);
-- an open deal has no closed_at
INSERT INTO lead_mgmt.deals (lead_id, amount, closed_at) VALUES (:hal, 100, '2026-03-01');
INSERT INTO lead_mgmt.deals (lead_id, amount, status, closed_at) VALUES (:hal, 100, 'won', 'infinity');
INSERT INTO lead_mgmt.deals (lead_id, amount, status, closed_at) VALUES (:hal, 100, 'lost', '-infinity');
INSERT INTO lead_mgmt.deals (lead_id, amount, created_at) VALUES (:hal, 100, 'infinity');
UPDATE lead_mgmt.deals SET closed_at = '2026-03-10' WHERE lead_id = :jo;
-- a deal must belong to a lead
INSERT INTO lead_mgmt.deals (lead_id, amount) VALUES (-1, 100);
-- a won deal stays with its lead
UPDATE lead_mgmt.deals SET lead_id = :hal WHERE lead_id = :ada;

------------------------------------------------------------------------
-- Deals: closing, reopening, losing a won deal.
------------------------------------------------------------------------
-- Won without closed_at: closed now (the transaction's time), and the lead
-- becomes a customer now.
BEGIN;
INSERT INTO lead_mgmt.deals (lead_id, amount, status) VALUES (:hal, 100, 'won')
RETURNING closed_at = now() AS closed_now;
SELECT stage, converted_at = now() AS converted_now FROM lead_mgmt.leads WHERE id = :hal;
ROLLBACK;
-- Lost without closed_at: closed now too.
BEGIN;
UPDATE lead_mgmt.deals SET status = 'lost' WHERE lead_id = :jo
RETURNING status, closed_at = now() AS closed_now;
-- Reopened: closed_at goes (it belonged to the loss).
UPDATE lead_mgmt.deals SET status = 'open' WHERE lead_id = :jo RETURNING status, closed_at;
ROLLBACK;
-- An open deal may move to another lead.
BEGIN;
UPDATE lead_mgmt.deals SET lead_id = :hal WHERE lead_id = :jo RETURNING lead_id = :hal AS moved;
ROLLBACK;

-- A won deal taken back (lost): the purchase stays in the history, the
-- lead stays a customer with the same converted_at; sales no longer count
-- the deal.  Won again later: the same purchase event moves to the new
-- closed_at, converted_at with it -- still one purchase per deal.
BEGIN;
UPDATE lead_mgmt.deals SET status = 'lost' WHERE lead_id = :ada
RETURNING status, closed_at = now() AS closed_now;
SELECT stage, converted_at FROM lead_mgmt.leads WHERE id = :ada;
SELECT occurred_at, properties->'amount' AS amount FROM lead_mgmt.events
 WHERE lead_id = :ada AND event_type = 'purchase';
SELECT month, deals_won, revenue FROM lead_mgmt.sales_by_month WHERE month = '2026-01-01';
UPDATE lead_mgmt.deals SET status = 'won', closed_at = '2026-01-20 10:00', amount = 1200
 WHERE lead_id = :ada;
SELECT stage, converted_at FROM lead_mgmt.leads WHERE id = :ada;
SELECT occurred_at, properties->'amount' AS amount FROM lead_mgmt.events
 WHERE lead_id = :ada AND event_type = 'purchase';
ROLLBACK;
-- A won deal's amount or closed_at corrected: its purchase follows.
BEGIN;
UPDATE lead_mgmt.deals SET amount = 3200, closed_at = '2026-02-14 00:00' WHERE lead_id = :dee;
SELECT occurred_at, properties->'amount' AS amount FROM lead_mgmt.events
 WHERE lead_id = :dee AND event_type = 'purchase';
SELECT converted_at FROM lead_mgmt.leads WHERE id = :dee;
ROLLBACK;
-- Other changes to a won deal record nothing new; a deleted deal leaves
-- its purchase in the history.
UPDATE lead_mgmt.deals SET rep_id = 7 WHERE status = 'won';
BEGIN;
DELETE FROM lead_mgmt.deals WHERE lead_id = :gus;
SELECT stage, converted_at FROM lead_mgmt.leads WHERE id = :gus;
ROLLBACK;
SELECT count(*) AS purchases, count(DISTINCT dedupe_key) AS deals
  FROM lead_mgmt.events WHERE event_type = 'purchase';

-- Deleting a lead deletes its deals.
BEGIN;
DELETE FROM lead_mgmt.leads WHERE id = :jo;
SELECT count(*) AS deals FROM lead_mgmt.deals;
ROLLBACK;

-- Nothing above changed the numbers.
SELECT * FROM lead_mgmt.funnel_summary;
SELECT * FROM lead_mgmt.sales_by_month;
