-- bench/generate.sql: a deterministic generator of realistic leads and events.
--
-- Used by bench/demo.sql and by the benchmarks.  Loading this file creates
-- (or replaces) schema lm_bench with set-returning SQL functions; it does not
-- touch lead_mgmt's tables.  Nothing here loops row by row.
--
--   lm_bench.gen_leads(n, seed, anchor, span, prefix)
--       n leads created over the span before anchor (more of them recently),
--       across channels, campaigns, countries, industries, company sizes and
--       job titles.  Columns match lead_mgmt.leads' writable ones:
--         INSERT INTO lead_mgmt.leads (external_id, email, ..., created_at)
--         SELECT * FROM lm_bench.gen_leads(100000);
--   lm_bench.lead_events(seed, anchor, external_id, created_at, channel,
--                        company_size, lead_magnet, attributes)
--       the event stream of one lead (about 10 events on average, all after
--       created_at and before anchor), meant for a LATERAL join:
--         INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at, properties)
--         SELECT l.id, e.* FROM lead_mgmt.leads l
--          CROSS JOIN LATERAL lm_bench.lead_events(42, now(), l.external_id,
--                l.created_at, l.channel, l.company_size, l.lead_magnet, l.attributes) e;
--
-- Determinism: every draw is a hash of (seed, key, salt) -- lm_bench.u() --
-- instead of random(), so the same seed, anchor and n give the same rows
-- whatever the plan, row order, parallelism or batch size.  A lead's events
-- are keyed by its external_id, never by its (generated) id.
--
-- The functions are plain STABLE SQL without SET clauses so that the planner
-- inlines them; lm_bench and lead_mgmt objects are schema-qualified.

CREATE SCHEMA IF NOT EXISTS lm_bench;
COMMENT ON SCHEMA lm_bench IS 'lead_mgmt benchmark and demo data generators (bench/generate.sql)';

-- A uniform draw in [0, 1) from (seed, key, salt).
CREATE OR REPLACE FUNCTION lm_bench.u(seed bigint, k bigint, salt integer)
    RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT (pg_catalog.hashint8extended(k, seed * 1000003 + salt)
            OPERATOR(pg_catalog.&) 9007199254740991)::double precision
           / 9007199254740992.0::double precision
$$;

-- Cumulative thresholds of a weight vector, for width_bucket():
-- {30, 20, 50} -> {0.3, 0.5}.  Immutable: folded at plan time for constants.
CREATE OR REPLACE FUNCTION lm_bench.cum(w double precision[])
    RETURNS double precision[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT COALESCE(pg_catalog.array_agg(x.s ORDER BY x.i) FILTER (WHERE x.i < x.n), '{}')
      FROM (SELECT i, pg_catalog.sum(w[i]) OVER (ORDER BY i) / pg_catalog.sum(w[i]) OVER () AS s,
                   pg_catalog.cardinality(w) AS n
              FROM pg_catalog.generate_subscripts(w, 1) AS i) AS x
$$;

-- A weighted choice among items, driven by a uniform draw.
CREATE OR REPLACE FUNCTION lm_bench.pick(u double precision, items text[], weights double precision[])
    RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT items[pg_catalog.width_bucket(u, lm_bench.cum(weights)) + 1]
$$;

--------------------------------------------------------------------------
-- Leads
--------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION lm_bench.gen_leads(
        p_n      integer,
        p_seed   bigint      DEFAULT 42,
        p_anchor timestamptz DEFAULT now(),
        p_span   interval    DEFAULT '9 months',
        p_prefix text        DEFAULT 'demo')
    RETURNS TABLE (external_id text, email text, first_name text, last_name text,
                   company text, job_title text, industry text, company_size integer,
                   annual_revenue numeric, country text, region text, city text,
                   channel text, campaign text, lead_magnet text, attributes jsonb,
                   created_at timestamptz)
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
WITH lead AS (
    -- one row per lead: channel, company (several leads per company, a few
    -- companies with many), person
    SELECT g.i,
           lm_bench.pick(lm_bench.u(p_seed, g.i, 1),
               ARRAY['organic', 'paid_search', 'social', 'email', 'referral', 'events'],
               ARRAY[30, 24, 16, 12, 8, 10]) AS ch,
           (-1 - floor(lm_bench.u(p_seed, g.i, 2) ^ 1.25 * greatest(50, p_n / 3)))::bigint AS ck,
           (ARRAY['James', 'Maria', 'Wei', 'Aisha', 'Lukas', 'Sofia', 'Daniel', 'Priya',
                  'Mateo', 'Emma', 'Hiroshi', 'Olivia', 'Noah', 'Fatima', 'Liam', 'Chloe',
                  'Arjun', 'Isabella', 'Jonas', 'Amara', 'Ethan', 'Yuki', 'Lucas', 'Hannah',
                  'Omar', 'Camille', 'Diego', 'Grace', 'Samuel', 'Elena', 'Kofi', 'Ana',
                  'Ben', 'Mei', 'Rafael', 'Laura', 'Tomasz', 'Nadia', 'Felix', 'Julia'])
               [1 + floor(lm_bench.u(p_seed, g.i, 3) * 40)::int] AS fname,
           (ARRAY['Smith', 'Garcia', 'Chen', 'Khan', 'Muller', 'Rossi', 'Johnson', 'Patel',
                  'Lopez', 'Martin', 'Tanaka', 'Brown', 'Wilson', 'Haddad', 'Murphy', 'Dubois',
                  'Sharma', 'Silva', 'Schmidt', 'Okafor', 'Taylor', 'Sato', 'Costa', 'Weber',
                  'Ali', 'Bernard', 'Fernandez', 'Kim', 'Nguyen', 'Novak', 'Mensah', 'Santos',
                  'Cohen', 'Wang', 'Almeida', 'Fischer', 'Kowalski', 'Ivanova', 'Becker', 'Jansen'])
               [1 + floor(lm_bench.u(p_seed, g.i, 4) * 40)::int] AS lname
      FROM pg_catalog.generate_series(1, p_n) AS g(i)
    OFFSET 0  -- keep each step a separate scan: computed once, not inlined into every use
),
firm AS (
    -- company properties, drawn from the company key so that colleagues agree
    SELECT l.*,
           lm_bench.pick(lm_bench.u(p_seed, l.ck, 1),
               ARRAY['Software', 'Financial Services', 'Healthcare', 'Manufacturing',
                     'Retail', 'Education', 'Logistics', 'Marketing & Advertising',
                     'Professional Services', 'Real Estate'],
               ARRAY[22, 12, 10, 11, 10, 6, 7, 9, 9, 4]) AS ind,
           pg_catalog.width_bucket(lm_bench.u(p_seed, l.ck, 2),
               lm_bench.cum(ARRAY[18, 30, 25, 16, 8, 3])) + 1 AS sb,
           lm_bench.pick(lm_bench.u(p_seed, l.ck, 4),
               ARRAY['United States|NA|en|Inc.|New York;San Francisco;Austin;Chicago;Boston;Seattle',
                     'Canada|NA|en|Inc.|Toronto;Vancouver;Montreal',
                     'United Kingdom|EMEA|en|Ltd|London;Manchester;Edinburgh',
                     'Ireland|EMEA|en|Ltd|Dublin;Cork',
                     'Germany|EMEA|de|GmbH|Berlin;Munich;Hamburg;Frankfurt',
                     'France|EMEA|fr|SAS|Paris;Lyon',
                     'Netherlands|EMEA|nl|B.V.|Amsterdam;Rotterdam',
                     'Spain|EMEA|es|S.L.|Madrid;Barcelona',
                     'Brazil|LATAM|pt|Ltda.|Sao Paulo;Rio de Janeiro',
                     'Mexico|LATAM|es|S.A. de C.V.|Mexico City;Guadalajara',
                     'Australia|APAC|en|Pty Ltd|Sydney;Melbourne',
                     'India|APAC|en|Pvt Ltd|Bangalore;Mumbai;Pune',
                     'Singapore|APAC|en|Pte Ltd|Singapore',
                     'Japan|APAC|ja|K.K.|Tokyo;Osaka'],
               ARRAY[33, 5, 10, 3, 9, 6, 4, 4, 5, 3, 5, 6, 3, 4]) AS loc
      FROM lead AS l
    OFFSET 0
),
sized AS (
    SELECT f.*,
           least((ARRAY[10, 50, 200, 1000, 5000, 50000])[f.sb],
                 floor(pg_catalog.exp(pg_catalog.ln((ARRAY[1, 11, 51, 201, 1001, 5001])[f.sb])
                       + lm_bench.u(p_seed, f.ck, 3)
                         * (pg_catalog.ln((ARRAY[10, 50, 200, 1000, 5000, 50000])[f.sb] + 1)
                            - pg_catalog.ln((ARRAY[1, 11, 51, 201, 1001, 5001])[f.sb])))))::int AS sz,
           pg_catalog.split_part(f.loc, '|', 1) AS ctry,
           pg_catalog.split_part(f.loc, '|', 2) AS reg,
           pg_catalog.split_part(f.loc, '|', 3) AS lang,
           pg_catalog.string_to_array(pg_catalog.split_part(f.loc, '|', 5), ';') AS cities,
           (ARRAY['Acme', 'Blue', 'North', 'Bright', 'Silver', 'Redwood', 'Green', 'Summit',
                  'Harbor', 'Maple', 'Iron', 'Cedar', 'Granite', 'Falcon', 'Nova', 'Pioneer',
                  'Atlas', 'Vertex', 'Crescent', 'Evergreen', 'Lumen', 'Orbit', 'Quantum',
                  'Sterling', 'Union'])[1 + (-f.ck % 25)::int] AS w1,
           (CASE f.ind
                WHEN 'Software' THEN ARRAY['Software', 'Systems', 'Labs', 'Cloud', 'Data']
                WHEN 'Financial Services' THEN ARRAY['Capital', 'Finance', 'Bank', 'Insurance', 'Payments']
                WHEN 'Healthcare' THEN ARRAY['Health', 'Clinics', 'Medical', 'Care', 'Pharma']
                WHEN 'Manufacturing' THEN ARRAY['Industries', 'Manufacturing', 'Robotics', 'Metals', 'Components']
                WHEN 'Retail' THEN ARRAY['Retail', 'Goods', 'Outfitters', 'Market', 'Home']
                WHEN 'Education' THEN ARRAY['Learning', 'Academy', 'Education', 'Tutors', 'Campus']
                WHEN 'Logistics' THEN ARRAY['Logistics', 'Freight', 'Shipping', 'Transport', 'Fleet']
                WHEN 'Marketing & Advertising' THEN ARRAY['Media', 'Creative', 'Marketing', 'Studio', 'Digital']
                WHEN 'Professional Services' THEN ARRAY['Consulting', 'Partners', 'Advisors', 'Group', 'Associates']
                ELSE ARRAY['Properties', 'Realty', 'Estates', 'Homes', 'Developments']
            END)[1 + ((-f.ck / 25) % 5)::int]
           || (ARRAY['', ' Group', ' Solutions', ' Holdings', ' Global', ' Works', ' & Co', ' One'])
              [1 + ((-f.ck / 125) % 8)::int] AS w2
      FROM firm AS f
    OFFSET 0
),
person AS (
    SELECT s.*,
           s.w1 || ' ' || s.w2 || ' ' || pg_catalog.split_part(s.loc, '|', 4) AS comp,
           pg_catalog.regexp_replace(pg_catalog.lower(s.w1 || s.w2), '[^a-z]', '', 'g') || '.example' AS domain,
           s.cities[1 + floor(lm_bench.u(p_seed, s.ck, 5) * pg_catalog.cardinality(s.cities))::int] AS cty,
           CASE WHEN lm_bench.u(p_seed, s.ck, 6) < 0.2 THEN NULL
                ELSE pg_catalog.round((s.sz::numeric * CASE s.ind WHEN 'Software' THEN 220000
                                                    WHEN 'Financial Services' THEN 300000
                                                    WHEN 'Retail' THEN 160000
                                                    WHEN 'Education' THEN 90000
                                                    WHEN 'Healthcare' THEN 140000
                                                    ELSE 180000 END
                                      * (0.6 + lm_bench.u(p_seed, s.ck, 7)))::numeric, -3)
           END AS revenue,
           -- job title and seniority; founders run the small companies
           CASE WHEN s.sz <= 20 THEN
               lm_bench.pick(lm_bench.u(p_seed, s.i, 5),
                   ARRAY['Founder|c_level', 'CEO|c_level', 'Owner|c_level', 'Head of Marketing|director',
                         'Marketing Manager|manager', 'Sales Manager|manager', 'Office Manager|manager',
                         'Consultant|individual', 'Marketing Specialist|individual', 'Student|student'],
                   ARRAY[18, 16, 10, 8, 12, 10, 6, 10, 8, 2])
           ELSE
               lm_bench.pick(lm_bench.u(p_seed, s.i, 5),
                   ARRAY['CEO|c_level', 'CTO|c_level', 'CFO|c_level', 'COO|c_level',
                         'VP of Sales|vp', 'VP of Marketing|vp', 'VP of Engineering|vp',
                         'Head of Growth|director', 'Sales Director|director', 'Marketing Director|director',
                         'IT Director|director', 'Head of Operations|director',
                         'Sales Manager|manager', 'Marketing Manager|manager', 'Operations Manager|manager',
                         'Product Manager|manager', 'Customer Success Manager|manager',
                         'Account Executive|individual', 'Marketing Specialist|individual',
                         'Data Analyst|individual', 'Software Engineer|individual',
                         'Business Analyst|individual', 'Intern|student'],
                   ARRAY[2, 2, 1, 1, 3, 4, 2, 4, 5, 5, 4, 4, 8, 10, 6, 6, 5, 6, 8, 5, 4, 4, 2])
           END AS title_sen,
           -- campaign by channel (events: the ones held in the lead's region)
           CASE s.ch
               WHEN 'organic' THEN lm_bench.pick(lm_bench.u(p_seed, s.i, 6),
                   ARRAY['org-blog', 'org-seo-guides', 'org-youtube', NULL], ARRAY[35, 25, 10, 30])
               WHEN 'paid_search' THEN lm_bench.pick(lm_bench.u(p_seed, s.i, 6),
                   ARRAY['ppc-brand', 'ppc-generic-crm', 'ppc-competitor', 'ppc-roi-calculator'], ARRAY[30, 35, 15, 20])
               WHEN 'social' THEN lm_bench.pick(lm_bench.u(p_seed, s.i, 6),
                   ARRAY['soc-linkedin-ebook', 'soc-linkedin-webinar', 'soc-facebook-retarget', 'soc-x-launch'], ARRAY[40, 25, 25, 10])
               WHEN 'email' THEN lm_bench.pick(lm_bench.u(p_seed, s.i, 6),
                   ARRAY['em-newsletter', 'em-partner-list', 'em-reactivation'], ARRAY[55, 25, 20])
               WHEN 'referral' THEN lm_bench.pick(lm_bench.u(p_seed, s.i, 6),
                   ARRAY['ref-customer-program', 'ref-partners', 'ref-g2-reviews'], ARRAY[45, 35, 20])
               ELSE CASE pg_catalog.split_part(s.loc, '|', 2)
                   WHEN 'EMEA' THEN lm_bench.pick(lm_bench.u(p_seed, s.i, 6),
                       ARRAY['evt-saas-summit', 'evt-roadshow-eu', 'evt-webinar-scoring'], ARRAY[30, 45, 25])
                   WHEN 'NA' THEN lm_bench.pick(lm_bench.u(p_seed, s.i, 6),
                       ARRAY['evt-saas-summit', 'evt-webinar-scoring', 'evt-meetup-nyc'], ARRAY[45, 30, 25])
                   ELSE lm_bench.pick(lm_bench.u(p_seed, s.i, 6),
                       ARRAY['evt-saas-summit', 'evt-webinar-scoring'], ARRAY[40, 60])
               END
           END AS camp
      FROM sized AS s
    OFFSET 0
),
timed AS (
    SELECT p.*,
           CASE p.camp
               WHEN 'ppc-roi-calculator'   THEN CASE WHEN lm_bench.u(p_seed, p.i, 7) < 0.90 THEN 'roi-calculator' END
               WHEN 'soc-linkedin-ebook'   THEN CASE WHEN lm_bench.u(p_seed, p.i, 7) < 0.90 THEN 'ebook-lead-scoring-101' END
               WHEN 'soc-linkedin-webinar' THEN CASE WHEN lm_bench.u(p_seed, p.i, 7) < 0.85 THEN 'webinar-pipeline-reviews' END
               WHEN 'evt-webinar-scoring'  THEN CASE WHEN lm_bench.u(p_seed, p.i, 7) < 0.90 THEN 'webinar-pipeline-reviews' END
               WHEN 'org-seo-guides'       THEN CASE WHEN lm_bench.u(p_seed, p.i, 7) < 0.60 THEN 'guide-crm-migration' END
               WHEN 'org-blog'             THEN CASE WHEN lm_bench.u(p_seed, p.i, 7) < 0.30 THEN 'ebook-lead-scoring-101' END
               WHEN 'ppc-generic-crm'      THEN CASE WHEN lm_bench.u(p_seed, p.i, 7) < 0.20 THEN 'guide-crm-migration' END
               WHEN 'em-newsletter'        THEN CASE WHEN lm_bench.u(p_seed, p.i, 7) < 0.20 THEN 'checklist-sales-handoff' END
               ELSE CASE WHEN lm_bench.u(p_seed, p.i, 7) < 0.03 THEN 'checklist-sales-handoff' END
           END AS magnet,
           -- creation time: trade-show leads on the show's days, meetups on
           -- their evening, the rest growing towards now, in office hours,
           -- fewer at weekends
           CASE p.camp
               WHEN 'evt-saas-summit' THEN
                   pg_catalog.date_trunc('day', p_anchor - p_span * 0.72) + interval '9 hours'
                   + floor(lm_bench.u(p_seed, p.i, 8) * 3) * interval '1 day'
                   + lm_bench.u(p_seed, p.i, 9) * interval '9 hours'
               WHEN 'evt-roadshow-eu' THEN
                   pg_catalog.date_trunc('day', p_anchor - p_span * 0.40) + interval '10 hours'
                   + floor(lm_bench.u(p_seed, p.i, 8) * 3) * interval '2 days'
                   + lm_bench.u(p_seed, p.i, 9) * interval '7 hours'
               WHEN 'evt-meetup-nyc' THEN
                   pg_catalog.date_trunc('month', p_anchor - p_span * (0.06 + 0.9 * lm_bench.u(p_seed, p.i, 8)))
                   + interval '14 days 18 hours' + lm_bench.u(p_seed, p.i, 9) * interval '2 hours'
               ELSE
                   pg_catalog.date_trunc('day', p_anchor)
                   - floor((1 - lm_bench.u(p_seed, p.i, 8) ^ (1 / 1.35))
                           * pg_catalog.date_part('epoch', p_span) / 86400) * interval '1 day'
                   + (7 + 13 * lm_bench.u(p_seed, p.i, 9)) * interval '1 hour'
           END AS t0
      FROM person AS p
    OFFSET 0
),
final AS (
    SELECT t.*,
           -- weekends: most of those leads would have come on a weekday
           CASE WHEN t.camp LIKE 'evt-%' THEN t.t0
                WHEN pg_catalog.date_part('isodow', t.t0) >= 6 AND lm_bench.u(p_seed, t.i, 10) < 0.6
                THEN t.t0 - interval '2 days'
                ELSE t.t0 END AS t1,
           pg_catalog.lower(t.fname || '.' || t.lname) AS localpart,
           CASE WHEN lm_bench.u(p_seed, t.i, 11) < 0.12 THEN 'webmail.example' ELSE t.domain END AS maildomain
      FROM timed AS t
    OFFSET 0
)
SELECT p_prefix || '-' || pg_catalog.lpad(f.i::text, 7, '0'),
       f.localpart
       || CASE WHEN pg_catalog.row_number() OVER (PARTITION BY f.localpart, f.maildomain ORDER BY f.i) > 1
               THEN (pg_catalog.row_number() OVER (PARTITION BY f.localpart, f.maildomain ORDER BY f.i))::text
               ELSE '' END
       || CASE WHEN p_prefix <> 'demo' THEN '+' || p_prefix ELSE '' END
       || '@' || f.maildomain,
       f.fname, f.lname, f.comp,
       pg_catalog.split_part(f.title_sen, '|', 1),
       f.ind, f.sz, f.revenue, f.ctry, f.reg, f.cty, f.ch, f.camp, f.magnet,
       pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
           'seniority', pg_catalog.split_part(f.title_sen, '|', 2),
           'interests', pg_catalog.to_jsonb(ARRAY(
               SELECT it.x
                 FROM pg_catalog.unnest(ARRAY['lead scoring', 'email marketing', 'crm integration',
                                              'sales automation', 'analytics', 'pipeline management',
                                              'customer onboarding', 'api']) WITH ORDINALITY AS it(x, o)
                WHERE lm_bench.u(p_seed, f.i, 100 + it.o::int) < 0.2
                   OR it.o = 1 + floor(lm_bench.u(p_seed, f.i, 99) * 8)
                ORDER BY it.o)),
           'language', f.lang,
           'utm_source', CASE f.ch
               WHEN 'paid_search' THEN lm_bench.pick(lm_bench.u(p_seed, f.i, 12), ARRAY['google', 'bing'], ARRAY[85, 15])
               WHEN 'social' THEN CASE WHEN f.camp LIKE 'soc-linkedin%' THEN 'linkedin'
                                       WHEN f.camp LIKE 'soc-facebook%' THEN 'facebook' ELSE 'x' END
               WHEN 'referral' THEN CASE WHEN f.camp = 'ref-g2-reviews' THEN 'g2' ELSE 'referral' END
           END,
           'gdpr_consent', CASE WHEN f.reg = 'EMEA' THEN true END)),
       pg_catalog.date_trunc('second',
           CASE WHEN f.t1 >= p_anchor THEN f.t1 - interval '1 day' ELSE f.t1 END)
  FROM final AS f
 ORDER BY f.i
$$;
COMMENT ON FUNCTION lm_bench.gen_leads(integer, bigint, timestamptz, interval, text) IS
    'n realistic leads created over span before anchor; deterministic in (n, seed, anchor, span, prefix)';

--------------------------------------------------------------------------
-- Events of one lead
--------------------------------------------------------------------------
-- The lead's intent q (channel, company size, seniority, noise) drives the
-- funnel: nurture emails every two weeks (at most 10) (opened and clicked less as they
-- go on), pricing visits, forms, chats and replies, then for fewer leads a
-- demo, a consultation (sometimes cancelled), a trial, rep calls and, once
-- the sales cycle (longer for bigger companies) has run, a purchase.  A few
-- unsubscribe, which stops the emails.  Events after anchor are cut off, so
-- recent leads are earlier in the funnel.
CREATE OR REPLACE FUNCTION lm_bench.lead_events(
        p_seed         bigint,
        p_anchor       timestamptz,
        p_external_id  text,
        p_created_at   timestamptz,
        p_channel      text,
        p_company_size integer,
        p_lead_magnet  text,
        p_attributes   jsonb)
    RETURNS TABLE (event_type text, occurred_at timestamptz, properties jsonb)
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT ev.event_type, pg_catalog.date_trunc('second', ev.occurred_at), ev.properties
  FROM (SELECT pg_catalog.hashtextextended(p_external_id, 0) AS k OFFSET 0) AS kk
 CROSS JOIN LATERAL (
    SELECT greatest(0.02, least(0.98,
               CASE p_channel WHEN 'referral' THEN 0.55 WHEN 'events' THEN 0.45
                              WHEN 'paid_search' THEN 0.40 WHEN 'email' THEN 0.35
                              WHEN 'organic' THEN 0.32 ELSE 0.22 END
               + CASE WHEN COALESCE(p_company_size, 10) >= 200 THEN 0.06 ELSE 0 END
               + CASE p_attributes OPERATOR(pg_catalog.->>) 'seniority'
                     WHEN 'c_level' THEN 0.06 WHEN 'vp' THEN 0.06 WHEN 'director' THEN 0.04
                     WHEN 'student' THEN -0.25 ELSE 0 END
               + (lm_bench.u(p_seed, kk.k, 1) - 0.5) * 0.7)) AS q,
           pg_catalog.date_part('epoch', p_anchor - p_created_at) / 86400.0 AS age,
           (12 + 10 * pg_catalog.ln(COALESCE(p_company_size, 10) + 1))
               * (0.6 + 0.8 * lm_bench.u(p_seed, kk.k, 2)) AS cyc,
           CASE WHEN COALESCE(p_company_size, 10) >= 500 THEN
                    lm_bench.pick(lm_bench.u(p_seed, kk.k, 3), ARRAY['enterprise', 'pro'], ARRAY[70, 30])
                WHEN p_company_size >= 50 THEN
                    lm_bench.pick(lm_bench.u(p_seed, kk.k, 3), ARRAY['starter', 'pro', 'enterprise'], ARRAY[20, 65, 15])
                ELSE lm_bench.pick(lm_bench.u(p_seed, kk.k, 3), ARRAY['starter', 'pro'], ARRAY[60, 40])
           END AS plan
    OFFSET 0  -- evaluate once per lead, not once per use
 ) AS p
 CROSS JOIN LATERAL (
    SELECT lm_bench.u(p_seed, kk.k, 10) < CASE WHEN p_channel = 'email' THEN 1.0
                                                WHEN p_lead_magnet IS NOT NULL THEN 0.8
                                                ELSE 0.4 + 0.3 * p.q END AS subscribed,
           least(10, floor(p.age / 14)::int + 1) AS n_sends,
           lm_bench.u(p_seed, kk.k, 11) < 0.02 + 0.07 * (1 - p.q) AS unsubscribes,
           lm_bench.u(p_seed, kk.k, 13) < 0.06 + 0.45 * p.q AS pricing,
           1 + floor(lm_bench.u(p_seed, kk.k, 14) ^ 3 * 3)::int AS n_pricing,
           lm_bench.u(p_seed, kk.k, 15) < 0.05 + 0.30 * p.q AS form,
           lm_bench.u(p_seed, kk.k, 16) < 0.06 + 0.15 * p.q AS chat,
           lm_bench.u(p_seed, kk.k, 17) < 0.03 + 0.20 * p.q AS replies,
           lm_bench.u(p_seed, kk.k, 18) < 0.015 + 0.25 * p.q * p.q AS demo,
           lm_bench.u(p_seed, kk.k, 19) < 0.015 + 0.22 * p.q * p.q AS consult,
           lm_bench.u(p_seed, kk.k, 20) < 0.25 AS cancels,
           lm_bench.u(p_seed, kk.k, 21) < 0.03 + 0.35 * p.q * p.q AS trial,
           p_created_at + p.cyc * (0.25 + 0.30 * lm_bench.u(p_seed, kk.k, 30)) * interval '1 day' AS t_demo,
           p_created_at + p.cyc * (0.35 + 0.30 * lm_bench.u(p_seed, kk.k, 31)) * interval '1 day' AS t_consult,
           p_created_at + p.cyc * (0.45 + 0.30 * lm_bench.u(p_seed, kk.k, 32)) * interval '1 day' AS t_trial
    OFFSET 0
 ) AS d
 CROSS JOIN LATERAL (
    SELECT least(d.n_sends - 1, floor(lm_bench.u(p_seed, kk.k, 12) * d.n_sends)::int) AS unsub_send,
           (d.demo OR d.consult OR d.trial)
           AND NOT (d.consult AND d.cancels AND lm_bench.u(p_seed, kk.k, 23) < 0.5)
           AND lm_bench.u(p_seed, kk.k, 22) < 0.25 + 0.65 * p.q AS buys
    OFFSET 0
 ) AS b
 CROSS JOIN LATERAL (
    -- nurture emails: sent, opened, clicked; the last one unsubscribed from
    SELECT v.event_type, v.occurred_at, v.properties
      FROM pg_catalog.generate_series(0, CASE WHEN d.unsubscribes THEN b.unsub_send ELSE d.n_sends - 1 END) AS s(n)
     CROSS JOIN LATERAL (
        SELECT p_created_at + CASE WHEN s.n = 0 THEN interval '1 hour'
                                   ELSE s.n * interval '14 days'
                                        + lm_bench.u(p_seed, kk.k, 1000 + s.n) * interval '2 days' END AS t_sent,
               lm_bench.u(p_seed, kk.k, 2000 + s.n) < (0.08 + 0.45 * p.q) * 0.93 ^ s.n AS opened,
               lm_bench.u(p_seed, kk.k, 3000 + s.n) < 0.08 + 0.25 * p.q AS clicks,
               pg_catalog.jsonb_build_object('email',
                   CASE WHEN s.n = 0 THEN 'welcome' ELSE 'nurture-' || pg_catalog.lpad(s.n::text, 2, '0') END) AS props,
               (5 + 4300 * lm_bench.u(p_seed, kk.k, 4000 + s.n) ^ 3) * interval '1 minute' AS open_delay,
               (1 + 30 * lm_bench.u(p_seed, kk.k, 5000 + s.n)) * interval '1 minute' AS click_delay
        OFFSET 0
     ) AS x
     CROSS JOIN LATERAL (VALUES
        ('email_sent',         x.t_sent,                                   x.props, true),
        ('email_opened',       x.t_sent + x.open_delay,                    x.props, x.opened),
        ('email_clicked',      x.t_sent + x.open_delay + x.click_delay,    x.props, x.opened AND x.clicks),
        ('email_unsubscribed', x.t_sent + x.open_delay + interval '2 minutes', x.props,
                               d.unsubscribes AND s.n = b.unsub_send)
     ) AS v(event_type, occurred_at, properties, happens)
     WHERE v.happens
    UNION ALL
    -- pricing page visits, mostly of the plan that fits the company
    SELECT 'pricing_page_visited',
           p_created_at + (0.02 + 0.7 * lm_bench.u(p_seed, kk.k, 6000 + j.n)) * p.cyc * interval '1 day',
           pg_catalog.jsonb_build_object('page', '/pricing', 'plan',
               CASE WHEN lm_bench.u(p_seed, kk.k, 7000 + j.n) < 0.7 THEN p.plan
                    ELSE lm_bench.pick(lm_bench.u(p_seed, kk.k, 8000 + j.n),
                             ARRAY['starter', 'pro', 'enterprise'], ARRAY[40, 40, 20]) END)
      FROM pg_catalog.generate_series(1, CASE WHEN d.pricing THEN d.n_pricing ELSE 0 END) AS j(n)
    UNION ALL
    -- one-off steps
    SELECT v.event_type, v.occurred_at, v.properties
      FROM (VALUES
        ('email_subscribed',
         p_created_at + (1 + 60 * lm_bench.u(p_seed, kk.k, 40)) * interval '1 minute',
         '{"list": "newsletter"}'::jsonb, d.subscribed),
        ('lead_magnet_downloaded', p_created_at + interval '30 seconds',
         pg_catalog.jsonb_build_object('asset', p_lead_magnet), p_lead_magnet IS NOT NULL),
        ('form_submitted',
         p_created_at + p.cyc * (0.05 + 0.40 * lm_bench.u(p_seed, kk.k, 41)) * interval '1 day',
         pg_catalog.jsonb_build_object('form', lm_bench.pick(lm_bench.u(p_seed, kk.k, 42),
             ARRAY['contact_sales', 'webinar_registration', 'quote_request'], ARRAY[50, 30, 20])),
         d.form),
        ('chat_started',
         p_created_at + p.cyc * 0.8 * lm_bench.u(p_seed, kk.k, 43) * interval '1 day',
         pg_catalog.jsonb_build_object('topic', lm_bench.pick(lm_bench.u(p_seed, kk.k, 44),
             ARRAY['pricing', 'integrations', 'security', 'onboarding'], ARRAY[40, 30, 15, 15])),
         d.chat),
        ('email_replied',
         p_created_at + p.cyc * (0.10 + 0.50 * lm_bench.u(p_seed, kk.k, 45)) * interval '1 day',
         '{"email": "nurture-01"}'::jsonb, d.replies),
        ('demo_requested', d.t_demo,
         pg_catalog.jsonb_build_object('source',
             CASE WHEN p_channel = 'events' THEN 'event booth' ELSE 'website' END),
         d.demo),
        ('rep_contacted', d.t_demo + (2 + 46 * lm_bench.u(p_seed, kk.k, 46)) * interval '1 hour',
         '{"channel": "phone", "by": "sdr"}'::jsonb, d.demo AND lm_bench.u(p_seed, kk.k, 47) < 0.85),
        ('consultation_scheduled', d.t_consult,
         pg_catalog.jsonb_build_object('with', 'solutions engineer', 'minutes',
             CASE WHEN lm_bench.u(p_seed, kk.k, 48) < 0.6 THEN 30 ELSE 45 END),
         d.consult),
        ('appointment_cancelled', d.t_consult + (1 + 4 * lm_bench.u(p_seed, kk.k, 49)) * interval '1 day',
         pg_catalog.jsonb_build_object('reason', lm_bench.pick(lm_bench.u(p_seed, kk.k, 50),
             ARRAY['rescheduling', 'no budget this quarter', 'went with a competitor'], ARRAY[50, 30, 20])),
         d.consult AND d.cancels),
        ('rep_contacted', d.t_consult + (3 + 70 * lm_bench.u(p_seed, kk.k, 51)) * interval '1 hour',
         '{"channel": "email", "by": "account executive"}'::jsonb,
         d.consult AND lm_bench.u(p_seed, kk.k, 52) < 0.7),
        ('trial_started', d.t_trial,
         pg_catalog.jsonb_build_object('plan', p.plan,
             'seats', least(COALESCE(p_company_size, 5), 3 + floor(20 * lm_bench.u(p_seed, kk.k, 53))::int)),
         d.trial),
        ('purchase',
         p_created_at + p.cyc * (0.85 + 0.35 * lm_bench.u(p_seed, kk.k, 54)) * interval '1 day',
         pg_catalog.jsonb_build_object('plan', p.plan, 'currency', 'USD', 'amount',
             CASE p.plan WHEN 'starter' THEN 1188
                         WHEN 'pro' THEN 4800 + 120 * least(COALESCE(p_company_size, 10), 200)
                         ELSE 24000 + 20 * least(COALESCE(p_company_size, 10), 10000) END),
         b.buys)
      ) AS v(event_type, occurred_at, properties, happens)
     WHERE v.happens
 ) AS ev
 WHERE ev.occurred_at < p_anchor
$$;
COMMENT ON FUNCTION lm_bench.lead_events(bigint, timestamptz, text, timestamptz, text, integer, text, jsonb) IS
    'the realistic event stream of one lead (use with LATERAL); deterministic in its arguments';
