-- Conditions: one language for fit rules, stages, segments, assignment and nurture.
--
-- A condition is jsonb: {"all": [...]}, {"any": [...]}, {"not": C}, a field
-- test {"field": F, "op": OP, "value": V} or an event test {"event": TYPE,
-- "within": I, "min_count": N, "max_count": N, "properties": {...}}.
-- lead_mgmt.evaluate(condition, lead_id) evaluates one for a lead now;
-- lead_mgmt.validate_condition(condition, context) says why one is malformed.
SET client_min_messages = warning;
SET timezone = 'UTC';
-- every story starts from a fresh install
DROP EXTENSION lead_mgmt;
CREATE EXTENSION lead_mgmt;

-- Two scoring rules, so that leads have a computed score to test.
INSERT INTO lead_mgmt.scoring_rules (name, event_type, points) VALUES
    ('form', 'form_submitted', 15),
    ('pricing', 'pricing_page_visited', 5);

-- Ada: every field filled in, rich attributes, created 100 days ago.
INSERT INTO lead_mgmt.leads (email, first_name, company, job_title, industry,
                             company_size, annual_revenue, country, region, city,
                             channel, campaign, lead_magnet, attributes, created_at)
VALUES ('Ada@Example.com', 'Ada', 'Analytical Engines', 'Chief Engineer', 'Software',
        250, 1200000.50, 'FR', 'EMEA', 'Paris', 'organic', 'spring24', 'pricing-guide',
        '{"plan": "Pro", "seats": 25, "budget": "5000", "beta": true,
          "interests": ["AI", "Analytics"],
          "company": {"tier": "gold", "employees": 250, "public": false,
                      "tags": ["SaaS", "b2b"]}}',
        now() - interval '100 days')
RETURNING id AS ada \gset
-- Bob: mostly empty, created at a known instant.
INSERT INTO lead_mgmt.leads (email, first_name, country, company_size, attributes, created_at)
VALUES ('bob@example.org', 'Bob', 'US', 12, '{"plan": "free", "trial": null}',
        '2024-03-01 12:00:00+00')
RETURNING id AS bob \gset

-- Ada's behaviour: recent and old events, with properties.
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at, properties) VALUES
    (:ada, 'form_submitted', now() - interval '2 days',
     '{"form": "contact", "page": {"path": "/pricing"}}'),
    (:ada, 'form_submitted', now() - interval '90 days', '{"form": "newsletter"}'),
    (:ada, 'pricing_page_visited', now() - interval '1 day', '{"plan": "pro"}'),
    (:ada, 'pricing_page_visited', now() - interval '3 days', '{"plan": "enterprise"}'),
    (:ada, 'pricing_page_visited', now() - interval '60 days', '{}'),
    (:ada, 'email_opened', now() - interval '40 days', '{"campaign": "spring"}');
-- Bob chatted once, long ago.
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at, properties) VALUES
    (:bob, 'chat_started', '2024-03-02 09:00:00+00', '{"topic": "pricing"}');

-- Two form submissions (30) and three pricing visits (15): 45 points, mql.
SELECT first_name, score, engagement_score, fit_score, stage
  FROM lead_mgmt.leads ORDER BY id;

--
-- Text fields compare case-insensitively.
--
-- = and !=
SELECT lead_mgmt.evaluate('{"field": "country", "op": "=", "value": "fr"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "country", "op": "=", "value": "DE"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "country", "op": "!=", "value": "de"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "country", "op": "!=", "value": "Fr"}', :ada) AS false_case;
-- ordering compares the lower-cased text
SELECT lead_mgmt.evaluate('{"field": "city", "op": "<", "value": "ROME"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "city", "op": "<", "value": "paris"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "city", "op": "<=", "value": "PARIS"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "city", "op": "<=", "value": "london"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "city", "op": ">", "value": "london"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "city", "op": ">", "value": "Paris"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "city", "op": ">=", "value": "pArIs"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "city", "op": ">=", "value": "zurich"}', :ada) AS false_case;
-- in and not_in
SELECT lead_mgmt.evaluate('{"field": "country", "op": "in", "value": ["de", "fr"]}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "country", "op": "in", "value": ["de", "us"]}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "country", "op": "not_in", "value": ["DE", "US"]}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "country", "op": "not_in", "value": ["us", "FR"]}', :ada) AS false_case;
-- contains is a substring test on text
SELECT lead_mgmt.evaluate('{"field": "company", "op": "contains", "value": "ENGINE"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "company", "op": "contains", "value": "steam"}', :ada) AS false_case;
-- exists: the field is set
SELECT lead_mgmt.evaluate('{"field": "company", "op": "exists"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "company", "op": "exists"}', :bob) AS false_case;
-- matches is a case-insensitive regular expression
SELECT lead_mgmt.evaluate('{"field": "email", "op": "matches", "value": "^ada@.*\\.COM$"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "email", "op": "matches", "value": "\\.org$"}', :ada) AS false_case;

--
-- Number fields compare numerically.
--
-- = (a numeric string is a number too) and !=
SELECT lead_mgmt.evaluate('{"field": "company_size", "op": "=", "value": 250}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "company_size", "op": "=", "value": 25}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "company_size", "op": "=", "value": "250.0"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "company_size", "op": "=", "value": "2.5e1"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "company_size", "op": "!=", "value": 25}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "company_size", "op": "!=", "value": 250}', :ada) AS false_case;
-- ordering: 250 against 1000 would be the other way round as text
SELECT lead_mgmt.evaluate('{"field": "company_size", "op": "<", "value": 1000}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "company_size", "op": "<", "value": 250}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "company_size", "op": "<=", "value": 250}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "company_size", "op": "<=", "value": 249.99}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "company_size", "op": ">", "value": 99}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "company_size", "op": ">", "value": 250}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "annual_revenue", "op": ">=", "value": 1200000.5}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "annual_revenue", "op": ">=", "value": 1200000.51}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "company_size", "op": "in", "value": [10, 250]}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "company_size", "op": "in", "value": [10, 25]}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "company_size", "op": "not_in", "value": [10, 25]}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "company_size", "op": "not_in", "value": [10, 250]}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "annual_revenue", "op": "exists"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "annual_revenue", "op": "exists"}', :bob) AS false_case;

--
-- Timestamp fields compare as instants (Bob was created 2024-03-01 12:00 UTC).
--
-- the same instant written in another zone is equal
SELECT lead_mgmt.evaluate('{"field": "created_at", "op": "=", "value": "2024-03-01 13:00:00+01"}', :bob) AS true_case,
       lead_mgmt.evaluate('{"field": "created_at", "op": "=", "value": "2024-03-01"}', :bob) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "created_at", "op": "!=", "value": "2024-03-01"}', :bob) AS true_case,
       lead_mgmt.evaluate('{"field": "created_at", "op": "!=", "value": "2024-03-01 12:00:00+00"}', :bob) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "created_at", "op": "<", "value": "2024-03-02"}', :bob) AS true_case,
       lead_mgmt.evaluate('{"field": "created_at", "op": "<", "value": "2024-03-01 12:00:00+00"}', :bob) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "created_at", "op": "<=", "value": "2024-03-01 12:00:00+00"}', :bob) AS true_case,
       lead_mgmt.evaluate('{"field": "created_at", "op": "<=", "value": "2024-03-01"}', :bob) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "created_at", "op": ">", "value": "2024-03-01"}', :bob) AS true_case,
       lead_mgmt.evaluate('{"field": "created_at", "op": ">", "value": "2024-03-01 12:00:00+00"}', :bob) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "created_at", "op": ">=", "value": "2024-03-01 12:00:00+00"}', :bob) AS true_case,
       lead_mgmt.evaluate('{"field": "created_at", "op": ">=", "value": "2025-01-01"}', :bob) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "created_at", "op": "in", "value": ["2025-01-01", "2024-03-01T12:00:00Z"]}', :bob) AS true_case,
       lead_mgmt.evaluate('{"field": "created_at", "op": "in", "value": ["2025-01-01", "2024-03-01"]}', :bob) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "created_at", "op": "not_in", "value": ["2025-01-01", "2024-03-01"]}', :bob) AS true_case,
       lead_mgmt.evaluate('{"field": "created_at", "op": "not_in", "value": ["2024-03-01T12:00:00Z"]}', :bob) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "created_at", "op": "exists"}', :bob) AS true_case,
       lead_mgmt.evaluate('{"field": "disqualified_at", "op": "exists"}', :bob) AS false_case;
-- a value without a zone is read in UTC, whatever the session's zone: a
-- stored condition has one meaning for every session (0.2)
BEGIN;
SET LOCAL timezone = 'Asia/Tokyo';
SELECT lead_mgmt.evaluate('{"field": "created_at", "op": "=", "value": "2024-03-01 12:00"}', :bob) AS true_case,
       lead_mgmt.evaluate('{"field": "created_at", "op": "=", "value": "2024-03-01 21:00"}', :bob) AS false_case;
COMMIT;

--
-- attributes.KEY reads the attributes jsonb; the json value decides the type.
--
-- strings compare case-insensitively
SELECT lead_mgmt.evaluate('{"field": "attributes.plan", "op": "=", "value": "PRO"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.plan", "op": "=", "value": "free"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "attributes.plan", "op": "!=", "value": "free"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.plan", "op": "!=", "value": "pro"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "attributes.plan", "op": "in", "value": ["pro", "enterprise"]}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.plan", "op": "in", "value": ["free", "team"]}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "attributes.plan", "op": "not_in", "value": ["free", "team"]}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.plan", "op": "not_in", "value": ["PRO"]}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "attributes.plan", "op": "<", "value": "team"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.plan", "op": "<", "value": "free"}', :ada) AS false_case;
-- contains is a substring test on a string attribute
SELECT lead_mgmt.evaluate('{"field": "attributes.plan", "op": "contains", "value": "R"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.plan", "op": "contains", "value": "x"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "attributes.plan", "op": "matches", "value": "^p"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.plan", "op": "matches", "value": "^f"}', :ada) AS false_case;
-- numbers compare numerically
SELECT lead_mgmt.evaluate('{"field": "attributes.seats", "op": "=", "value": 25}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.seats", "op": "=", "value": 26}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "attributes.seats", "op": "<=", "value": 25}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.seats", "op": "<=", "value": 9}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "attributes.seats", "op": ">", "value": 9}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.seats", "op": ">", "value": 100}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "attributes.seats", "op": ">=", "value": "25"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.seats", "op": ">=", "value": 25.5}', :ada) AS false_case;
-- matches sees a number as its text
SELECT lead_mgmt.evaluate('{"field": "attributes.seats", "op": "matches", "value": "^2[0-9]$"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.seats", "op": "matches", "value": "^1"}', :ada) AS false_case;
-- a string attribute holding a number compares numerically with a number
SELECT lead_mgmt.evaluate('{"field": "attributes.budget", "op": ">", "value": 999}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.budget", "op": ">", "value": 10000}', :ada) AS false_case;
-- values that cannot be compared are never equal and never ordered
SELECT lead_mgmt.evaluate('{"field": "attributes.plan", "op": "!=", "value": 5}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.plan", "op": "=", "value": 5}', :ada) AS false_case,
       lead_mgmt.evaluate('{"field": "attributes.plan", "op": "<", "value": 5}', :ada) AS false_too;
-- booleans
SELECT lead_mgmt.evaluate('{"field": "attributes.beta", "op": "=", "value": true}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.beta", "op": "=", "value": false}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "attributes.beta", "op": "!=", "value": false}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.beta", "op": "=", "value": "yes"}', :ada) AS false_case;
-- arrays: contains tests the elements (case-insensitively for strings)
SELECT lead_mgmt.evaluate('{"field": "attributes.interests", "op": "contains", "value": "ai"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.interests", "op": "contains", "value": "ml"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "attributes.interests", "op": "exists"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.interests", "op": "exists"}', :bob) AS false_case;
-- nested paths: attributes.A.B
SELECT lead_mgmt.evaluate('{"field": "attributes.company.tier", "op": "=", "value": "Gold"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.company.tier", "op": "in", "value": ["silver", "bronze"]}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "attributes.company.employees", "op": ">=", "value": 250}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.company.employees", "op": "<", "value": 100}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "attributes.company.public", "op": "=", "value": false}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.company.public", "op": "=", "value": true}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "attributes.company.tags", "op": "contains", "value": "saas"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.company.tags", "op": "contains", "value": "b2c"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "attributes.company.tier", "op": "exists"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes.company.size", "op": "exists"}', :ada) AS false_case;
-- the attributes column itself: exists, and contains with an object (jsonb @>)
SELECT lead_mgmt.evaluate('{"field": "attributes", "op": "contains", "value": {"company": {"tier": "gold"}}}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "attributes", "op": "contains", "value": {"plan": "free"}}', :ada) AS false_case;

--
-- age is the time since created_at (Ada was created 100 days ago).
--
SELECT lead_mgmt.evaluate('{"field": "age", "op": ">", "value": "99 days"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "age", "op": ">", "value": "101 days"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "age", "op": ">=", "value": "3 months"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "age", "op": ">=", "value": "4 months"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "age", "op": "<", "value": "1 year"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "age", "op": "<", "value": "30 days"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "age", "op": "<=", "value": "2401 hours"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "age", "op": "<=", "value": "P14W"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "age", "op": "!=", "value": "30 days"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "age", "op": "=", "value": "30 days"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "age", "op": "not_in", "value": ["1 day", "1 week"]}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "age", "op": "in", "value": ["1 day", "1 week"]}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "age", "op": ">", "value": "1 year"}', :bob) AS true_case,
       lead_mgmt.evaluate('{"field": "age", "op": "<", "value": "1 year"}', :bob) AS false_case;

--
-- stage compares by rank: lead < iql < mql < sql < customer (Ada is mql).
--
SELECT lead_mgmt.evaluate('{"field": "stage", "op": ">=", "value": "iql"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "stage", "op": ">=", "value": "sql"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "stage", "op": "=", "value": "MQL"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "stage", "op": "=", "value": "lead"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "stage", "op": "!=", "value": "lead"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "stage", "op": "!=", "value": "mql"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "stage", "op": "<", "value": "sql"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "stage", "op": "<", "value": "mql"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "stage", "op": "<=", "value": "mql"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "stage", "op": "<=", "value": "iql"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "stage", "op": ">", "value": "lead"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "stage", "op": ">", "value": "lead"}', :bob) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "stage", "op": "in", "value": ["mql", "sql"]}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "stage", "op": "in", "value": ["sql", "customer"]}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "stage", "op": "not_in", "value": ["sql", "customer"]}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "stage", "op": "not_in", "value": ["lead"]}', :bob) AS false_case;

--
-- score, engagement_score and fit_score are the computed columns (Ada: 45).
--
SELECT lead_mgmt.evaluate('{"field": "score", "op": ">=", "value": 40}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "score", "op": ">", "value": 45}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "engagement_score", "op": "=", "value": 45}', :ada) AS true_case,
       lead_mgmt.evaluate('{"field": "fit_score", "op": "!=", "value": 0}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"field": "score", "op": "=", "value": 0}', :bob) AS true_case,
       lead_mgmt.evaluate('{"field": "score", "op": ">", "value": 0}', :bob) AS false_case;
-- The other computed columns are tested as lead_mgmt writes them: a fit
-- rule on last_event_at counts from the event that sets it.
BEGIN;
INSERT INTO lead_mgmt.scoring_rules (name, condition, points)
VALUES ('ever active', '{"field": "last_event_at", "op": "exists"}', 1);
INSERT INTO lead_mgmt.leads (email) VALUES ('cy@example.com') RETURNING id AS cy \gset
SELECT fit_score AS before_any_event FROM lead_mgmt.leads WHERE id = :cy;
SELECT lead_mgmt.track(:cy, 'email_opened') > 0 AS tracked;
SELECT fit_score AS after_the_first FROM lead_mgmt.leads WHERE id = :cy;
ROLLBACK;

--
-- all, any, not.
--
-- an empty all holds, an empty any does not
SELECT lead_mgmt.evaluate('{"all": []}', :ada) AS true_case,
       lead_mgmt.evaluate('{"any": []}', :ada) AS false_case;
-- all: every member holds
SELECT lead_mgmt.evaluate('{"all": [{"field": "country", "op": "=", "value": "FR"},
                                    {"event": "form_submitted"}]}', :ada) AS true_case,
       lead_mgmt.evaluate('{"all": [{"field": "country", "op": "=", "value": "FR"},
                                    {"event": "purchase"}]}', :ada) AS false_case;
-- any: some member holds
SELECT lead_mgmt.evaluate('{"any": [{"field": "country", "op": "=", "value": "DE"},
                                    {"event": "form_submitted"}]}', :ada) AS true_case,
       lead_mgmt.evaluate('{"any": [{"field": "country", "op": "=", "value": "DE"},
                                    {"event": "purchase"}]}', :ada) AS false_case;
-- not inverts
SELECT lead_mgmt.evaluate('{"not": {"event": "purchase"}}', :ada) AS true_case,
       lead_mgmt.evaluate('{"not": {"event": "form_submitted"}}', :ada) AS false_case;
-- nesting: a fit-and-engagement segment
SELECT lead_mgmt.evaluate('{"all": [{"any": [{"field": "attributes.company.tier", "op": "in", "value": ["gold", "platinum"]},
                                             {"field": "company_size", "op": ">=", "value": 1000}]},
                                    {"not": {"field": "stage", "op": ">=", "value": "sql"}},
                                    {"event": "pricing_page_visited", "within": "7 days"}]}', :ada) AS true_case,
       lead_mgmt.evaluate('{"all": [{"any": [{"field": "attributes.company.tier", "op": "in", "value": ["gold", "platinum"]},
                                             {"field": "company_size", "op": ">=", "value": 1000}]},
                                    {"not": {"field": "stage", "op": ">=", "value": "sql"}},
                                    {"event": "pricing_page_visited", "within": "7 days"}]}', :bob) AS false_case;

--
-- A missing or NULL field makes every comparison false; not inverts.
-- (Bob has no job title, no revenue, no lead magnet; attributes.trial is
-- json null and attributes.seats is absent.)
--
SELECT lead_mgmt.evaluate('{"field": "job_title", "op": "=", "value": "CEO"}', :bob) AS eq,
       lead_mgmt.evaluate('{"field": "job_title", "op": "!=", "value": "CEO"}', :bob) AS ne,
       lead_mgmt.evaluate('{"field": "job_title", "op": "<", "value": "zzz"}', :bob) AS lt,
       lead_mgmt.evaluate('{"field": "job_title", "op": ">=", "value": ""}', :bob) AS ge,
       lead_mgmt.evaluate('{"field": "job_title", "op": "in", "value": ["CEO"]}', :bob) AS "in",
       lead_mgmt.evaluate('{"field": "job_title", "op": "not_in", "value": ["CEO"]}', :bob) AS not_in,
       lead_mgmt.evaluate('{"field": "job_title", "op": "contains", "value": ""}', :bob) AS contains,
       lead_mgmt.evaluate('{"field": "job_title", "op": "matches", "value": ".*"}', :bob) AS matches,
       lead_mgmt.evaluate('{"field": "job_title", "op": "exists"}', :bob) AS "exists";
SELECT lead_mgmt.evaluate('{"field": "annual_revenue", "op": "=", "value": 0}', :bob) AS eq,
       lead_mgmt.evaluate('{"field": "annual_revenue", "op": "!=", "value": 0}', :bob) AS ne,
       lead_mgmt.evaluate('{"field": "annual_revenue", "op": "<", "value": 1}', :bob) AS lt,
       lead_mgmt.evaluate('{"field": "annual_revenue", "op": ">", "value": -1}', :bob) AS gt,
       lead_mgmt.evaluate('{"field": "annual_revenue", "op": "not_in", "value": [0]}', :bob) AS not_in;
SELECT lead_mgmt.evaluate('{"field": "disqualified_at", "op": "!=", "value": "2024-01-01"}', :bob) AS ne,
       lead_mgmt.evaluate('{"field": "disqualified_at", "op": "<", "value": "infinity"}', :bob) AS lt,
       lead_mgmt.evaluate('{"field": "disqualified_at", "op": "not_in", "value": ["2024-01-01"]}', :bob) AS not_in;
-- json null and absent keys, at the top and below
SELECT lead_mgmt.evaluate('{"field": "attributes.trial", "op": "exists"}', :bob) AS "exists",
       lead_mgmt.evaluate('{"field": "attributes.trial", "op": "!=", "value": "x"}', :bob) AS ne,
       lead_mgmt.evaluate('{"field": "attributes.seats", "op": "!=", "value": 1}', :bob) AS ne_absent,
       lead_mgmt.evaluate('{"field": "attributes.seats", "op": "not_in", "value": [1]}', :bob) AS not_in_absent,
       lead_mgmt.evaluate('{"field": "attributes.company.tier", "op": "!=", "value": "gold"}', :bob) AS ne_nested,
       lead_mgmt.evaluate('{"field": "attributes.plan.tier", "op": "exists"}', :bob) AS below_a_string;
-- not inverts: "not =" holds where "!=" does not
SELECT lead_mgmt.evaluate('{"not": {"field": "job_title", "op": "=", "value": "CEO"}}', :bob) AS not_eq,
       lead_mgmt.evaluate('{"not": {"field": "job_title", "op": "exists"}}', :bob) AS not_exists,
       lead_mgmt.evaluate('{"not": {"field": "attributes.trial", "op": "exists"}}', :bob) AS not_exists_json_null,
       lead_mgmt.evaluate('{"not": {"field": "annual_revenue", "op": "in", "value": [0]}}', :bob) AS not_in_via_not;

--
-- Event tests count the lead's events of a type.
-- Ada: form_submitted 2 and 90 days ago; pricing_page_visited 1, 3 and 60
-- days ago; email_opened 40 days ago.  Bob: chat_started in March 2024.
--
-- at least one, of all time (min_count defaults to 1)
SELECT lead_mgmt.evaluate('{"event": "form_submitted"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"event": "purchase"}', :ada) AS false_case;
-- within: only events newer than now - within
SELECT lead_mgmt.evaluate('{"event": "email_opened", "within": "45 days"}', :ada) AS true_case,
       lead_mgmt.evaluate('{"event": "email_opened", "within": "30 days"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"event": "chat_started"}', :bob) AS true_case,
       lead_mgmt.evaluate('{"event": "chat_started", "within": "1 year"}', :bob) AS false_case;
-- min_count
SELECT lead_mgmt.evaluate('{"event": "pricing_page_visited", "within": "7 days", "min_count": 2}', :ada) AS true_case,
       lead_mgmt.evaluate('{"event": "pricing_page_visited", "within": "7 days", "min_count": 3}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"event": "pricing_page_visited", "min_count": 3}', :ada) AS true_case,
       lead_mgmt.evaluate('{"event": "pricing_page_visited", "min_count": 4}', :ada) AS false_case;
-- max_count
SELECT lead_mgmt.evaluate('{"event": "pricing_page_visited", "max_count": 3}', :ada) AS true_case,
       lead_mgmt.evaluate('{"event": "pricing_page_visited", "max_count": 2}', :ada) AS false_case;
-- exactly two in the last week
SELECT lead_mgmt.evaluate('{"event": "pricing_page_visited", "within": "1 week", "min_count": 2, "max_count": 2}', :ada) AS true_case,
       lead_mgmt.evaluate('{"event": "pricing_page_visited", "min_count": 2, "max_count": 2}', :ada) AS false_case;
-- min_count 0 with max_count 0 means "never"
SELECT lead_mgmt.evaluate('{"event": "purchase", "min_count": 0, "max_count": 0}', :ada) AS true_case,
       lead_mgmt.evaluate('{"event": "form_submitted", "min_count": 0, "max_count": 0}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"event": "email_opened", "within": "30 days", "min_count": 0, "max_count": 0}', :ada) AS true_case,
       lead_mgmt.evaluate('{"event": "email_opened", "within": "45 days", "min_count": 0, "max_count": 0}', :ada) AS false_case;
-- min_count 0 alone always holds
SELECT lead_mgmt.evaluate('{"event": "purchase", "min_count": 0}', :ada) AS true_case;
-- properties: the event's properties must contain these (jsonb @>, exact values)
SELECT lead_mgmt.evaluate('{"event": "form_submitted", "properties": {"form": "contact"}}', :ada) AS true_case,
       lead_mgmt.evaluate('{"event": "form_submitted", "properties": {"form": "demo"}}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"event": "form_submitted", "properties": {"page": {"path": "/pricing"}}}', :ada) AS true_case,
       lead_mgmt.evaluate('{"event": "pricing_page_visited", "properties": {"plan": "PRO"}}', :ada) AS false_case;
-- properties with a window and counts
SELECT lead_mgmt.evaluate('{"event": "form_submitted", "properties": {"form": "newsletter"}}', :ada) AS true_case,
       lead_mgmt.evaluate('{"event": "form_submitted", "properties": {"form": "newsletter"}, "within": "30 days"}', :ada) AS false_case;
SELECT lead_mgmt.evaluate('{"event": "pricing_page_visited", "properties": {}, "min_count": 3}', :ada) AS true_case,
       lead_mgmt.evaluate('{"event": "pricing_page_visited", "properties": {"plan": "pro"}, "min_count": 2}', :ada) AS false_case;
-- absence: the example rule's "no email opened in 30 days" for a lead older than 30 days
SELECT lead_mgmt.evaluate('{"all": [{"field": "age", "op": ">=", "value": "30 days"},
                                    {"not": {"event": "email_opened", "within": "30 days"}}]}', :ada) AS true_case,
       lead_mgmt.evaluate('{"all": [{"field": "age", "op": ">=", "value": "30 days"},
                                    {"not": {"event": "email_opened", "within": "60 days"}}]}', :ada) AS false_case;

--
-- Validation: a malformed condition is refused with where and why.
--
-- a valid condition validates to true, in every context that allows it
SELECT lead_mgmt.validate_condition('{"all": [{"field": "country", "op": "in", "value": ["FR", "DE"]},
                                              {"event": "form_submitted", "within": "30 days"}]}', 'segment') AS valid;
SELECT lead_mgmt.validate_condition('{"field": "stage", "op": ">=", "value": "mql"}', 'assignment_rule') AS valid,
       lead_mgmt.validate_condition('{"field": "score", "op": ">=", "value": 40}', 'stage') AS valid_for_stage,
       lead_mgmt.validate_condition('{"field": "age", "op": ">=", "value": "30 days"}', 'scoring_rule') AS valid_for_rule,
       lead_mgmt.validate_condition('{"event": "email_opened"}', 'sequence') AS valid_for_sequence;
-- not an object
SELECT lead_mgmt.validate_condition('[{"event": "purchase"}]', 'segment');
SELECT lead_mgmt.validate_condition('"purchase"', 'segment');
SELECT lead_mgmt.validate_condition('{"all": [{"event": "purchase"}, 42]}', 'segment');
-- empty object
SELECT lead_mgmt.validate_condition('{}', 'segment');
-- unknown key
SELECT lead_mgmt.validate_condition('{"event_type": "purchase"}', 'segment');
SELECT lead_mgmt.validate_condition('{"field": "country", "op": "=", "value": "FR", "comment": "French"}', 'segment');
-- two shapes combined
SELECT lead_mgmt.validate_condition('{"all": [], "any": []}', 'segment');
SELECT lead_mgmt.validate_condition('{"field": "country", "op": "exists", "event": "purchase"}', 'segment');
-- a key from another shape
SELECT lead_mgmt.validate_condition('{"field": "country", "op": "=", "value": "FR", "within": "30 days"}', 'segment');
SELECT lead_mgmt.validate_condition('{"event": "purchase", "op": ">="}', 'segment');
SELECT lead_mgmt.validate_condition('{"op": "=", "value": "FR"}', 'segment');
-- all / any not an array
SELECT lead_mgmt.validate_condition('{"all": {"event": "purchase"}}', 'segment');
SELECT lead_mgmt.validate_condition('{"not": {"any": "purchase"}}', 'segment');
-- too deeply nested (64 levels at most)
SELECT lead_mgmt.validate_condition((repeat('{"not":', 70) || '{"event":"purchase"}' || repeat('}', 70))::jsonb, 'segment');
SELECT lead_mgmt.validate_condition((repeat('{"not":', 63) || '{"event":"purchase"}' || repeat('}', 63))::jsonb, 'segment') AS sixty_four_deep;
-- field not a string
SELECT lead_mgmt.validate_condition('{"field": ["country"], "op": "exists"}', 'segment');
-- unknown field
SELECT lead_mgmt.validate_condition('{"field": "favourite_color", "op": "exists"}', 'segment');
SELECT lead_mgmt.validate_condition('{"field": "country.code", "op": "exists"}', 'segment');
SELECT lead_mgmt.validate_condition('{"field": "attributes..plan", "op": "exists"}', 'segment');
-- an internal column
SELECT lead_mgmt.validate_condition('{"field": "event_counts", "op": "exists"}', 'segment');
-- a scoring rule cannot test what it computes, nor stage
SELECT lead_mgmt.validate_condition('{"field": "score", "op": ">", "value": 10}', 'scoring_rule');
SELECT lead_mgmt.validate_condition('{"any": [{"event": "purchase"}, {"field": "stage", "op": "=", "value": "sql"}]}', 'scoring_rule');
-- a stage condition cannot test stage
SELECT lead_mgmt.validate_condition('{"not": {"field": "stage", "op": "=", "value": "lead"}}', 'stage');
-- op missing
SELECT lead_mgmt.validate_condition('{"field": "country", "value": "FR"}', 'segment');
-- unknown op
SELECT lead_mgmt.validate_condition('{"field": "country", "op": "like", "value": "F%"}', 'segment');
SELECT lead_mgmt.validate_condition('{"field": "country", "op": "==", "value": "FR"}', 'segment');
-- an op the field does not take
SELECT lead_mgmt.validate_condition('{"field": "company_size", "op": "contains", "value": 5}', 'segment');
SELECT lead_mgmt.validate_condition('{"field": "stage", "op": "matches", "value": "q"}', 'segment');
SELECT lead_mgmt.validate_condition('{"field": "attributes", "op": "=", "value": {"plan": "pro"}}', 'segment');
SELECT lead_mgmt.validate_condition('{"field": "attributes.beta", "op": ">", "value": true}', 'segment');
-- exists takes no value
SELECT lead_mgmt.validate_condition('{"field": "country", "op": "exists", "value": true}', 'segment');
-- value missing
SELECT lead_mgmt.validate_condition('{"field": "country", "op": "="}', 'segment');
SELECT lead_mgmt.validate_condition('{"field": "country", "op": "not_in"}', 'segment');
-- null value
SELECT lead_mgmt.validate_condition('{"field": "country", "op": "=", "value": null}', 'segment');
SELECT lead_mgmt.validate_condition('{"field": "country", "op": "in", "value": ["FR", null]}', 'segment');
-- in / not_in need a non-empty array
SELECT lead_mgmt.validate_condition('{"field": "country", "op": "in", "value": "FR"}', 'segment');
SELECT lead_mgmt.validate_condition('{"field": "country", "op": "not_in", "value": []}', 'segment');
-- an array given to =
SELECT lead_mgmt.validate_condition('{"field": "country", "op": "=", "value": ["FR", "DE"]}', 'segment');
-- a string, number or boolean for text fields
SELECT lead_mgmt.validate_condition('{"field": "country", "op": "=", "value": {"code": "FR"}}', 'segment');
-- a number field needs a number
SELECT lead_mgmt.validate_condition('{"field": "company_size", "op": ">", "value": "large"}', 'segment');
SELECT lead_mgmt.validate_condition('{"field": "company_size", "op": "in", "value": [10, true]}', 'segment');
-- a timestamp field needs a timestamp
SELECT lead_mgmt.validate_condition('{"field": "created_at", "op": ">", "value": "2024-13-45"}', 'segment');
SELECT lead_mgmt.validate_condition('{"field": "created_at", "op": ">", "value": 1709294400}', 'segment');
-- relative timestamps are refused: they would be frozen when loaded
SELECT lead_mgmt.validate_condition('{"field": "created_at", "op": ">", "value": "yesterday"}', 'segment');
SELECT lead_mgmt.validate_condition('{"field": "created_at", "op": "<", "value": "now"}', 'segment');
-- age needs an interval
SELECT lead_mgmt.validate_condition('{"field": "age", "op": ">", "value": "a month or so"}', 'segment');
SELECT lead_mgmt.validate_condition('{"field": "age", "op": ">", "value": 30}', 'segment');
-- unknown stage
SELECT lead_mgmt.validate_condition('{"field": "stage", "op": ">=", "value": "hot"}', 'segment');
-- matches needs a valid regular expression
SELECT lead_mgmt.validate_condition('{"field": "email", "op": "matches", "value": "(gmail|yahoo"}', 'segment');
-- unknown event type
SELECT lead_mgmt.validate_condition('{"any": [{"event": "form_submitted"}, {"event": "webinar_attended"}]}', 'segment');
-- empty event type, or not a string
SELECT lead_mgmt.validate_condition('{"event": ""}', 'segment');
SELECT lead_mgmt.validate_condition('{"event": 7}', 'segment');
-- within must be a positive interval
SELECT lead_mgmt.validate_condition('{"event": "purchase", "within": "0 days"}', 'segment');
SELECT lead_mgmt.validate_condition('{"event": "purchase", "within": "-7 days"}', 'segment');
SELECT lead_mgmt.validate_condition('{"event": "purchase", "within": "a while"}', 'segment');
-- counts are whole numbers from 0
SELECT lead_mgmt.validate_condition('{"event": "purchase", "min_count": -1}', 'segment');
SELECT lead_mgmt.validate_condition('{"event": "purchase", "min_count": 1.5}', 'segment');
SELECT lead_mgmt.validate_condition('{"event": "purchase", "max_count": "3"}', 'segment');
-- max_count below min_count
SELECT lead_mgmt.validate_condition('{"event": "purchase", "min_count": 3, "max_count": 2}', 'segment');
SELECT lead_mgmt.validate_condition('{"event": "purchase", "min_count": 1, "max_count": 0}', 'segment');
-- ... but "max_count": 0 alone means "never" (min_count then defaults to 0)
SELECT lead_mgmt.validate_condition('{"event": "purchase", "max_count": 0}', 'segment');
-- properties must be an object
SELECT lead_mgmt.validate_condition('{"event": "form_submitted", "properties": ["contact"]}', 'segment');
-- unknown context name
SELECT lead_mgmt.validate_condition('{"event": "purchase"}', 'campaign');

-- evaluate validates too, and needs an existing lead.
SELECT lead_mgmt.evaluate('{"field": "country", "op": "like", "value": "F%"}', :ada);
SELECT lead_mgmt.evaluate('{"event": "purchase"}', -1);
