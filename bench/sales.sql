-- bench/sales.sql: the marketing and sales side of a generated data set.
--
-- Used by bench/demo.sql and by the benchmarks (bench/setup.sql loads it);
-- needs bench/generate.sql (lm_bench.u).  Loading this file creates (or
-- replaces) functions in schema lm_bench; calling them writes what a nightly
-- load from the ad platforms and the CRM would bring, derived from the leads
-- already in lead_mgmt.leads and from hashes of (seed, key, salt), never
-- random():
--
--   lm_bench.load_campaigns(seed, anchor)
--       lead_mgmt.campaigns (every code found on leads) and campaign_daily
--       (visitors and spend for every day of the 9 months before anchor);
--       returns the number of campaign_daily rows.
--   lm_bench.load_sales_team(seed, n_reps)
--       for the benchmarks: n_reps reps, one round-robin assignment rule, and
--       the assignment history of the sales-ready leads as a CRM import
--       brings it (see the function); returns the number of assignments.
--   lm_bench.load_deals(seed, anchor)
--       a won deal for every customer (closed when it bought, by its owner),
--       lost and open deals for sales-qualified leads that did not buy;
--       returns the number of deals.  Winning a deal records a purchase
--       event through the pipeline (dedupe_key deal:<id>).
--   lm_bench.move_back_by_hand(seed, share)
--       a share of the sales-qualified leads that did not buy moved back to
--       mql with set_stage() (stage history reason manual).
--
-- lm_bench and lead_mgmt objects are schema-qualified.

-- Each known campaign code: a name, a target opt-in rate (visitors -> leads)
-- and its cost: per visitor (ads), a fixed cost spread over the days of an
-- event, or per event day.
CREATE OR REPLACE FUNCTION lm_bench.campaign_plan()
    RETURNS TABLE (code text, name text, funnel_position text, opt_in_pct numeric,
                   cost_per_visitor numeric, event_cost numeric, event_day_cost numeric)
    LANGUAGE sql IMMUTABLE
AS $$
VALUES ('org-blog',              'Blog',                          'top',    2.0,  0.00,     0,    0),
       ('org-seo-guides',        'SEO guides',                    'top',    2.6,  0.00,     0,    0),
       ('org-youtube',           'YouTube channel',               'top',    1.8,  0.00,     0,    0),
       ('ppc-brand',             'Search ads: brand',             'bottom', 5.5,  2.40,     0,    0),
       ('ppc-generic-crm',       'Search ads: CRM software',      'middle', 3.0,  9.50,     0,    0),
       ('ppc-competitor',        'Search ads: competitors',       'bottom', 2.5, 12.00,     0,    0),
       ('ppc-roi-calculator',    'Search ads: ROI calculator',    'middle', 4.5,  7.50,     0,    0),
       ('soc-linkedin-ebook',    'LinkedIn: lead scoring ebook',  'top',    3.5,  8.50,     0,    0),
       ('soc-linkedin-webinar',  'LinkedIn: webinar invitation',  'middle', 3.0,  7.50,     0,    0),
       ('soc-facebook-retarget', 'Facebook retargeting',          'middle', 2.2,  1.80,     0,    0),
       ('soc-x-launch',          'X: launch posts',               'top',    1.5,  1.20,     0,    0),
       ('em-newsletter',         'Newsletter',                    'middle', 5.5,  0.05,     0,    0),
       ('em-partner-list',       'Partner list mailing',          'top',    4.0,  1.50,     0,    0),
       ('em-reactivation',       'Reactivation mailing',          'bottom', 5.0,  0.10,     0,    0),
       ('ref-customer-program',  'Customer referral program',     'bottom', 6.0,  0.00,     0,    0),
       ('ref-partners',          'Partner referrals',             'bottom', 5.5,  0.00,     0,    0),
       ('ref-g2-reviews',        'G2 reviews',                    'middle', 4.0,  0.00,     0,    0),
       ('evt-saas-summit',       'SaaS Summit booth',             'bottom', 6.0,  0.00, 90000,    0),
       ('evt-roadshow-eu',       'EU roadshow',                   'bottom', 6.0,  0.00, 60000,    0),
       ('evt-webinar-scoring',   'Webinar: lead scoring',         'middle', 6.0,  1.50,     0,    0),
       ('evt-meetup-nyc',        'NYC meetup',                    'middle', 6.0,  0.00,     0, 2500)
$$;

--------------------------------------------------------------------------
-- Campaigns and their days
--------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION lm_bench.load_campaigns(p_seed bigint, p_anchor timestamptz)
    RETURNS bigint
    LANGUAGE sql VOLATILE
AS $$
-- Campaigns: every code found on leads, with its channel (from the leads),
-- position in the funnel and lead magnet (the one most of its leads came
-- through, if at least a fifth did).
INSERT INTO lead_mgmt.campaigns (code, name, channel, funnel_position, lead_magnet)
SELECT l.campaign,
       COALESCE(pg_catalog.max(p.name), l.campaign),
       pg_catalog.mode() WITHIN GROUP (ORDER BY l.channel),
       COALESCE(pg_catalog.max(p.funnel_position), 'middle'),
       CASE WHEN pg_catalog.count(l.lead_magnet) >= 0.2 * pg_catalog.count(*)
            THEN pg_catalog.mode() WITHIN GROUP (ORDER BY l.lead_magnet) END
  FROM lead_mgmt.leads AS l
  LEFT JOIN lm_bench.campaign_plan() AS p ON p.code = l.campaign
 WHERE l.campaign IS NOT NULL
 GROUP BY l.campaign
 ORDER BY l.campaign;

-- Visitors and spend for every day of the 9 months and every campaign.
-- Visitors follow the campaign's leads (a 15-day moving average, so that
-- event days draw traffic before and after), divided by its opt-in rate,
-- with weekday and daily noise (leads without a campaign -- organic ones --
-- are spread over their channel's campaigns); a few stray visitors a day
-- besides, except for events.  Spend: visitors x cost per visitor (+-10%),
-- or an event's fixed cost shared by its days with leads, or a flat cost per
-- event day.  Organic and referral campaigns cost nothing.
INSERT INTO lead_mgmt.campaign_daily (campaign, day, visitors, spend)
WITH days AS (
    SELECT d::date AS day
      FROM pg_catalog.generate_series((p_anchor - interval '9 months')::date::timestamp,
                                      p_anchor::date::timestamp, interval '1 day') AS d
), per_day AS (
    SELECT l.campaign, l.created_at::date AS day, pg_catalog.count(*) AS n
      FROM lead_mgmt.leads AS l
     WHERE l.campaign IS NOT NULL
     GROUP BY 1, 2
), channel_factor AS (
    -- leads of the channel / leads of the channel with a campaign
    SELECT l.channel, pg_catalog.count(*)::numeric / NULLIF(pg_catalog.count(l.campaign), 0) AS f
      FROM lead_mgmt.leads AS l
     GROUP BY l.channel
), grid AS (
    SELECT c.code, d.day, COALESCE(pd.n, 0) AS n,
           pg_catalog.avg(COALESCE(pd.n, 0)) OVER (PARTITION BY c.code ORDER BY d.day
                                                   ROWS BETWEEN 7 PRECEDING AND 7 FOLLOWING) AS avg_n,
           pg_catalog.sum(COALESCE(pd.n, 0)) OVER (PARTITION BY c.code) AS n_total,
           COALESCE(cf.f, 1) AS f,
           COALESCE(p.opt_in_pct, 3.0) AS opt_in_pct,
           COALESCE(p.cost_per_visitor, 0) AS cpv,
           COALESCE(p.event_cost, 0) AS event_cost,
           COALESCE(p.event_day_cost, 0) AS event_day_cost,
           c.code LIKE 'evt-%' AS is_event,
           pg_catalog.hashtextextended(c.code || '|' || d.day::text, 0) AS k
      FROM lead_mgmt.campaigns AS c
     CROSS JOIN days AS d
      LEFT JOIN per_day AS pd ON pd.campaign = c.code AND pd.day = d.day
      LEFT JOIN channel_factor AS cf ON cf.channel = c.channel
      LEFT JOIN lm_bench.campaign_plan() AS p ON p.code = c.code
), vis AS (
    SELECT g.*,
           (pg_catalog.round(g.avg_n * g.f * 100 / g.opt_in_pct
                             * CASE WHEN pg_catalog.date_part('isodow', g.day) >= 6 THEN 0.6 ELSE 1.15 END
                             * (0.8 + 0.4 * lm_bench.u(p_seed, g.k, 9101))::numeric)
            + CASE WHEN g.is_event THEN 0 ELSE pg_catalog.floor(6 * lm_bench.u(p_seed, g.k, 9102)) END)::integer AS visitors
      FROM grid AS g
)
SELECT v.code, v.day, v.visitors,
       pg_catalog.round(CASE WHEN v.event_cost > 0 THEN v.event_cost * v.n / NULLIF(v.n_total, 0)
                             WHEN v.event_day_cost > 0 THEN CASE WHEN v.n > 0 THEN v.event_day_cost ELSE 0 END
                             ELSE v.visitors * v.cpv * (0.9 + 0.2 * lm_bench.u(p_seed, v.k, 9103))::numeric
                        END, 2)
  FROM vis AS v
 ORDER BY v.code, v.day;

SELECT pg_catalog.count(*) FROM lead_mgmt.campaign_daily;
$$;
COMMENT ON FUNCTION lm_bench.load_campaigns(bigint, timestamptz) IS
    'campaigns from the codes on leads and 9 months of their daily visitors and spend; deterministic in (leads, seed, anchor)';

--------------------------------------------------------------------------
-- Sales team and assignment history (benchmarks)
--------------------------------------------------------------------------
-- n_reps reps across the generator's regions and industries, one
-- round-robin rule by region (SLA 2 days), and the assignments a CRM import
-- brings: each lead at or above the first stage that assigns on entry gets
-- an owner of its region, in turn by the time it became sales-ready, with
-- that time as assigned_at (when its first sales event -- demo request,
-- consultation -- happened, else its purchase, else its last event); 5 % of
-- those that have not bought stay without an owner (lead_mgmt.unassigned).
-- Leads and assignments are written as a restore writes them, with triggers
-- quiet (session_replication_role = replica): a batch load through the
-- triggers would assign every lead now, which leaves follow-ups and time to
-- first touch empty.
CREATE OR REPLACE FUNCTION lm_bench.load_sales_team(p_seed bigint, p_n_reps integer)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_rule bigint;
    v_n    bigint;
BEGIN
    INSERT INTO lead_mgmt.reps (name, email, regions, industries, seniority, weight)
    SELECT f.fname || ' ' || f.lname,
           pg_catalog.lower(f.fname || '.' || f.lname) || '.' || g.i || '@leadco.example',
           CASE WHEN g.i % 4 = 0 THEN ARRAY['NA', 'LATAM']
                WHEN g.i % 4 = 1 THEN ARRAY['EMEA']
                WHEN g.i % 4 = 2 THEN ARRAY['NA']
                ELSE ARRAY['APAC', 'EMEA'] END,
           ARRAY[(ARRAY['Software', 'Financial Services', 'Healthcare', 'Manufacturing', 'Retail',
                        'Education', 'Logistics', 'Marketing & Advertising', 'Professional Services',
                        'Real Estate'])[1 + g.i % 10]],
           (ARRAY['junior', 'senior', 'enterprise'])[1 + g.i % 3],
           1 + (g.i % 2)
      FROM pg_catalog.generate_series(1, p_n_reps) AS g(i)
     CROSS JOIN LATERAL (
            SELECT (ARRAY['Dana', 'Henrik', 'Mei', 'Lucia', 'Sam', 'Ruth', 'Kwame', 'Ingrid',
                          'Ravi', 'Carmen', 'Tobias', 'Aiko'])[1 + floor(lm_bench.u(p_seed, g.i, 9301) * 12)::int] AS fname,
                   (ARRAY['Whitfield', 'Larsen', 'Tanaka', 'Ferreira', 'Okoro', 'Alvarez', 'Mensah',
                          'Berg', 'Iyer', 'Ortega', 'Keller', 'Mori'])[1 + floor(lm_bench.u(p_seed, g.i, 9302) * 12)::int] AS lname
           ) AS f
     ORDER BY g.i;
    INSERT INTO lead_mgmt.assignment_rules (name, priority, condition, method, match_region, sla)
    VALUES ('bench: by region, in turn', 100, NULL, 'round_robin', true, '2 days')
    RETURNING id INTO v_rule;

    SET LOCAL session_replication_role = replica;
    CREATE TEMP TABLE lm_bench_owners (id bigint, at timestamptz, rep_id bigint) ON COMMIT DROP;
    INSERT INTO lm_bench_owners (id, at, rep_id)
    SELECT c.id, c.at, r.id
      FROM (SELECT l.id, l.region, x.at,
                   pg_catalog.row_number() OVER (PARTITION BY l.region ORDER BY x.at, l.id) AS seq
              FROM lead_mgmt.leads AS l
              JOIN lead_mgmt.stages AS s ON s.name = l.stage
             CROSS JOIN LATERAL (
                    SELECT COALESCE((SELECT pg_catalog.min(e.occurred_at) FROM lead_mgmt.events AS e
                                      WHERE e.lead_id = l.id
                                        AND e.event_type IN ('demo_requested', 'consultation_scheduled')),
                                    l.converted_at, l.last_event_at, l.created_at) AS at) AS x
             WHERE s.rank >= (SELECT pg_catalog.min(a.rank) FROM lead_mgmt.stages AS a WHERE a.assign_on_entry)
               AND (l.converted_at IS NOT NULL
                    OR lm_bench.u(p_seed, pg_catalog.hashtextextended(COALESCE(l.external_id, l.email), 0), 9303) >= 0.05)
           ) AS c
     CROSS JOIN LATERAL (
            SELECT y.id
              FROM (SELECT rp.id, pg_catalog.row_number() OVER (ORDER BY rp.id) AS rn,
                           pg_catalog.count(*) OVER () AS n
                      FROM lead_mgmt.reps AS rp
                     WHERE c.region = ANY (rp.regions)) AS y
             WHERE y.rn = 1 + (c.seq - 1) % y.n) AS r;
    -- with its first touch, which the trigger on assignments would have
    -- found (followups, the SLA and rep_performance read it)
    INSERT INTO lead_mgmt.assignments (lead_id, rep_id, rule_id, method, assigned_at, reason, sla_due_at,
                                       first_touch_at)
    SELECT o.id, o.rep_id, v_rule, 'round_robin', o.at, 'rule', o.at + interval '2 days',
           lead_mgmt._first_touch(o.id, o.rep_id, o.at)
      FROM lm_bench_owners AS o
     ORDER BY o.at, o.id;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    UPDATE lead_mgmt.leads AS l
       SET owner_id = o.rep_id, assigned_at = o.at
      FROM lm_bench_owners AS o
     WHERE l.id = o.id;
    DROP TABLE lm_bench_owners;
    SET LOCAL session_replication_role = origin;
    RETURN v_n;
END;
$$;
COMMENT ON FUNCTION lm_bench.load_sales_team(bigint, integer) IS
    'benchmarks: n reps, a round-robin rule and the historical assignments of the sales-ready leads (written with triggers quiet)';

--------------------------------------------------------------------------
-- Deals
--------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION lm_bench.load_deals(p_seed bigint, p_anchor timestamptz)
    RETURNS bigint
    LANGUAGE sql VOLATILE
AS $$
-- A won deal for every customer: closed when it bought (converted_at), by
-- its owner, for the amount of its (first) purchase; opened some way into
-- the sales cycle.  Winning it records a purchase event for the deal (its
-- dedupe_key deal:<id>); converted_at stays the first purchase, the same.
INSERT INTO lead_mgmt.deals (lead_id, rep_id, amount, status, created_at, closed_at)
SELECT l.id, l.owner_id,
       COALESCE(p.amount,
                CASE WHEN COALESCE(l.company_size, 10) >= 500 THEN 24000 + 20 * least(l.company_size, 10000)
                     WHEN l.company_size >= 50 THEN 4800 + 120 * least(l.company_size, 200)
                     ELSE 1188 END),
       'won',
       l.created_at + (l.converted_at - l.created_at)
                      * (0.3 + 0.4 * lm_bench.u(p_seed, pg_catalog.hashtextextended(COALESCE(l.external_id, l.email), 0), 9202)),
       l.converted_at
  FROM lead_mgmt.leads AS l
  LEFT JOIN LATERAL (
        SELECT (e.properties ->> 'amount')::numeric AS amount
          FROM lead_mgmt.events AS e
         WHERE e.lead_id = l.id AND e.event_type = 'purchase' AND e.properties ? 'amount'
         ORDER BY e.occurred_at, e.id
         LIMIT 1) AS p ON true
 WHERE l.converted_at IS NOT NULL
 ORDER BY l.converted_at, l.id;

-- Lost deals: about half of the sales-qualified leads older than 40 days
-- that did not buy; open deals: about half of the rest of the last 60 days.
-- Amounts by company size (the generator's plans), +-20%.
INSERT INTO lead_mgmt.deals (lead_id, rep_id, amount, status, created_at, closed_at)
SELECT x.id, x.owner_id,
       pg_catalog.round(x.list_price * (0.8 + 0.4 * lm_bench.u(p_seed, x.k, 9203))::numeric, -2),
       x.status, x.opened,
       CASE WHEN x.status = 'lost'
            THEN least(x.opened + (10 + 40 * lm_bench.u(p_seed, x.k, 9204)) * interval '1 day',
                       p_anchor - interval '1 day') END
  FROM (SELECT l.id, l.owner_id, k.k,
               CASE WHEN COALESCE(l.company_size, 10) >= 500 THEN 24000 + 20 * least(l.company_size, 10000)
                    WHEN l.company_size >= 50 THEN 4800 + 120 * least(l.company_size, 200)
                    ELSE 1188 END AS list_price,
               CASE WHEN l.created_at < p_anchor - interval '40 days'
                         AND lm_bench.u(p_seed, k.k, 9205) < 0.55 THEN 'lost'
                    WHEN l.created_at >= p_anchor - interval '60 days'
                         AND lm_bench.u(p_seed, k.k, 9206) < 0.5 THEN 'open' END AS status,
               least(l.created_at + (2 + 18 * lm_bench.u(p_seed, k.k, 9207)) * interval '1 day',
                     p_anchor) AS opened
          FROM lead_mgmt.leads AS l
         CROSS JOIN LATERAL (SELECT pg_catalog.hashtextextended(COALESCE(l.external_id, l.email), 0) AS k) AS k
         WHERE l.stage = 'sql' AND l.converted_at IS NULL) AS x
 WHERE x.status IS NOT NULL
 ORDER BY x.opened, x.id;

SELECT pg_catalog.count(*) FROM lead_mgmt.deals;
$$;
COMMENT ON FUNCTION lm_bench.load_deals(bigint, timestamptz) IS
    'won deals for the customers, lost and open deals for sales-qualified leads; deterministic in (leads, seed, anchor)';

--------------------------------------------------------------------------
-- Stage changes by hand
--------------------------------------------------------------------------
-- Sales sends some leads back: a share of the sales-qualified leads that
-- did not buy move back to mql with lead_mgmt.set_stage() (history reason
-- manual), which the funnel views still count at the highest stage they
-- reached.  Returns how many moved.
CREATE OR REPLACE FUNCTION lm_bench.move_back_by_hand(p_seed bigint, p_share double precision)
    RETURNS bigint
    LANGUAGE sql VOLATILE
AS $$
SELECT pg_catalog.count(*)
  FROM (SELECT lead_mgmt.set_stage(l.id, 'mql', 'bench: not ready yet, back to marketing')
          FROM lead_mgmt.leads AS l
         WHERE l.stage = 'sql' AND l.converted_at IS NULL
           AND lm_bench.u(p_seed, pg_catalog.hashtextextended(COALESCE(l.external_id, l.email), 0), 9304) < p_share
         ORDER BY l.id
        OFFSET 0) AS s
$$;
COMMENT ON FUNCTION lm_bench.move_back_by_hand(bigint, double precision) IS
    'moves a share of the sales-qualified leads that did not buy back to mql by hand (set_stage)';
