-- bench/setup.sql: the configuration every benchmark database gets.
--
--   psql -v ON_ERROR_STOP=1 -d DB -c 'CREATE EXTENSION lead_mgmt' -f bench/setup.sql
--
-- Run on an empty database, before any lead is inserted (so that creating
-- rules and segments costs nothing).  Creates:
--   - lm_bench.*: the data generator (bench/generate.sql) and the helpers
--     below (the trigger-less baseline table, the event mix, RSS readers,
--     the single-session insert loop);
--   - ref.*: the PL/pgSQL reference implementation (bench/plpgsql_reference.sql);
--   - 20 scoring rules: the guide's 10 (load_example_rules) and 10 more --
--     event rules with properties filters, caps and windows, and condition
--     rules (engagement and fit);
--   - 10 segments: demographic, psychographic, geographic, behavioural
--     (counts, windows, absence), score, stage and combinations;
--   - the 5 shipped stages (lead, iql, mql, sql, customer), unchanged.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

\ir generate.sql
\ir sales.sql
\ir plpgsql_reference.sql

SELECT lead_mgmt.load_example_rules() AS n_example_rules \gset

INSERT INTO lead_mgmt.scoring_rules (name, event_type, properties, condition, points, max_occurrences, within)
VALUES
    -- event rules: caps, properties filters, windows
    ('requested a demo',            'demo_requested',       NULL, NULL, 30, 1, NULL),
    ('submitted a form',            'form_submitted',       NULL, NULL, 10, 3, NULL),
    ('contact-sales form',          'form_submitted',       '{"form": "contact_sales"}', NULL, 15, 1, NULL),
    ('viewed enterprise pricing',   'pricing_page_visited', '{"plan": "enterprise"}', NULL, 15, 2, NULL),
    ('visited pricing this week',   'pricing_page_visited', NULL, NULL, 10, 1, '7 days'),
    ('chatted this month',          'chat_started',         NULL, NULL,  5, NULL, '30 days'),
    -- condition rules: engagement (tests events) and fit (tests lead fields)
    ('engaged: 3+ opens in 30 days', NULL, NULL,
     '{"event": "email_opened", "within": "30 days", "min_count": 3}', 10, NULL, NULL),
    ('fit: 200+ employees',         NULL, NULL,
     '{"field": "company_size", "op": ">=", "value": 200}', 10, NULL, NULL),
    ('fit: target industry',        NULL, NULL,
     '{"field": "industry", "op": "in", "value": ["Software", "Financial Services", "Healthcare"]}', 5, NULL, NULL),
    ('fit: decision maker',         NULL, NULL,
     '{"field": "attributes.seniority", "op": "in", "value": ["c_level", "vp", "director"]}', 10, NULL, NULL);

INSERT INTO lead_mgmt.segments (name, description, condition) VALUES
    ('decision makers', 'demographic',
     '{"field": "attributes.seniority", "op": "in", "value": ["c_level", "vp", "director"]}'),
    ('analytics-minded', 'psychographic',
     '{"any": [{"field": "attributes.interests", "op": "contains", "value": "analytics"},
               {"field": "attributes.interests", "op": "contains", "value": "lead scoring"}]}'),
    ('DACH', 'geographic',
     '{"field": "country", "op": "in", "value": ["Germany", "Austria", "Switzerland"]}'),
    ('North American enterprises', 'geographic + firmographic',
     '{"all": [{"field": "region", "op": "=", "value": "NA"},
               {"field": "company_size", "op": ">=", "value": 1000}]}'),
    ('EU, consented, big software', 'combination',
     '{"all": [{"field": "attributes.gdpr_consent", "op": "exists"},
               {"field": "industry", "op": "=", "value": "Software"},
               {"field": "company_size", "op": ">=", "value": 200}]}'),
    ('pricing visitors this month', 'behavioural, windowed',
     '{"event": "pricing_page_visited", "within": "30 days"}'),
    ('engaged readers', 'behavioural: counts and absence',
     '{"all": [{"event": "email_opened", "min_count": 3},
               {"not": {"event": "email_unsubscribed"}}]}'),
    ('ebook readers who never bought', 'lead magnet + absence',
     '{"all": [{"field": "lead_magnet", "op": "=", "value": "ebook-lead-scoring-101"},
               {"event": "purchase", "max_count": 0}]}'),
    ('hot, not yet customers', 'score + stage',
     '{"all": [{"field": "score", "op": ">=", "value": 50},
               {"not": {"field": "stage", "op": ">=", "value": "customer"}}]}'),
    ('paid MQLs', 'stage + channel + campaign',
     '{"all": [{"field": "stage", "op": ">=", "value": "mql"},
               {"any": [{"field": "channel", "op": "=", "value": "paid_search"},
                        {"field": "campaign", "op": "matches", "value": "^soc-"}]}]}');

-- The reference gets the event rules it can express (no window, no
-- condition) and the score thresholds of the stages.
INSERT INTO ref.scoring_rules (name, event_type, properties, points, max_occurrences, active)
SELECT name, event_type, properties, points, max_occurrences, active
  FROM lead_mgmt.scoring_rules
 WHERE event_type IS NOT NULL AND within IS NULL
 ORDER BY id;
INSERT INTO ref.stages (name, rank, min_score)
SELECT name, rank, min_score FROM lead_mgmt.stages
 WHERE min_score IS NOT NULL OR rank = (SELECT min(rank) FROM lead_mgmt.stages);

-- The baseline: the same columns, primary key, unique dedupe_key and
-- (lead_id, occurred_at) index as lead_mgmt.events, and no trigger.
CREATE TABLE lm_bench.events_bare (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id     bigint NOT NULL,
    event_type  text NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    properties  jsonb NOT NULL DEFAULT '{}',
    dedupe_key  text UNIQUE,
    points      integer
);
CREATE INDEX ON lm_bench.events_bare (lead_id, occurred_at);

-- The event mix of the single-row benchmarks (20 equally likely slots).
CREATE TABLE lm_bench.mix (k integer PRIMARY KEY, event_type text NOT NULL, properties jsonb NOT NULL);
INSERT INTO lm_bench.mix (k, event_type, properties)
SELECT row_number() OVER (), v.t, v.p::jsonb
  FROM (VALUES ('email_sent', '{"email": "nurture-03"}'), ('email_sent', '{"email": "nurture-04"}'),
               ('email_sent', '{"email": "nurture-05"}'), ('email_sent', '{"email": "nurture-06"}'),
               ('email_sent', '{"email": "nurture-07"}'), ('email_sent', '{"email": "nurture-08"}'),
               ('email_opened', '{"email": "nurture-03"}'), ('email_opened', '{"email": "nurture-04"}'),
               ('email_opened', '{"email": "nurture-05"}'), ('email_opened', '{"email": "nurture-06"}'),
               ('email_clicked', '{"email": "nurture-03"}'), ('email_subscribed', '{"list": "newsletter"}'),
               ('pricing_page_visited', '{"page": "/pricing", "plan": "pro"}'),
               ('pricing_page_visited', '{"page": "/pricing", "plan": "enterprise"}'),
               ('form_submitted', '{"form": "contact_sales"}'),
               ('form_submitted', '{"form": "webinar_registration"}'),
               ('chat_started', '{"topic": "pricing"}'),
               ('lead_magnet_downloaded', '{"asset": "roi-calculator"}'),
               ('demo_requested', '{"source": "website"}'),
               ('email_replied', '{"email": "nurture-01"}')) AS v(t, p);

-- Memory of this backend, from /proc/self/status (kB): VmRSS counts the
-- shared buffers it has touched; RssAnon is its private memory.
CREATE FUNCTION lm_bench.proc_status_kb(key text) RETURNS bigint
    LANGUAGE sql VOLATILE
AS $$
    SELECT (regexp_match(pg_read_file('/proc/self/status'), key || ':\s+(\d+) kB'))[1]::bigint
$$;

-- n single-row INSERTs into lead_mgmt.events, each its own statement (so
-- each fires the statement triggers), committing every 10,000.
CREATE PROCEDURE lm_bench.insert_loop(n integer, n_leads integer, seed integer DEFAULT 1)
    LANGUAGE plpgsql
AS $$
DECLARE
    t text[];
    p jsonb[];
    j integer;
BEGIN
    SELECT array_agg(event_type ORDER BY k), array_agg(properties ORDER BY k) INTO t, p FROM lm_bench.mix;
    PERFORM setseed(1.0 / (seed + 1));
    FOR i IN 1 .. n LOOP
        j := 1 + floor(random() * 20)::int;
        INSERT INTO lead_mgmt.events (lead_id, event_type, properties)
        VALUES (1 + floor(random() * n_leads)::bigint, t[j], p[j]);
        IF i % 10000 = 0 THEN
            COMMIT;
        END IF;
    END LOOP;
    COMMIT;
END;
$$;
