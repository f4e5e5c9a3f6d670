--------------------------------------------------------------------------
-- Funnel analytics: campaigns, their daily spend and visitors, deals, and
-- the views analysts read (DESIGN section 6).
--
-- Conventions of every view here:
--   * security_invoker, so that row-level security on leads, events and
--     deals holds through them;
--   * rates are percentages, numeric rounded to 2 decimals, and NULL when
--     the denominator is 0 (never a division error);
--   * months are the first day of the month (date) in the session time zone;
--   * a lead has "reached" a stage when the highest rank among the stages in
--     its stage_history (and its current stage) is >= that stage's rank, so
--     a lead that jumped from lead to sql counts as iql, mql and sql reached.
--     Stage ranks are read from lead_mgmt.stages when the view runs (as
--     scalar subqueries: evaluated once, and the plan may go parallel).
-- Built-ins are schema-qualified; operators are written
-- OPERATOR(pg_catalog.x) (CVE-2018-1058 class hardening).
--------------------------------------------------------------------------

--------------------------------------------------------------------------
-- Configuration: campaigns and what they cost and brought, per day
--------------------------------------------------------------------------
CREATE TABLE lead_mgmt.campaigns (
    code            text PRIMARY KEY,
    name            text,
    channel         text,
    funnel_position text
                    CHECK (funnel_position OPERATOR(pg_catalog.=) ANY (ARRAY['top', 'middle', 'bottom'])),
    lead_magnet     text
);
COMMENT ON TABLE lead_mgmt.campaigns IS
    'marketing campaigns; leads.campaign holds a code (not a foreign key: see view unknown_campaigns)';

CREATE TABLE lead_mgmt.campaign_daily (
    campaign text NOT NULL REFERENCES lead_mgmt.campaigns (code) ON UPDATE CASCADE,
    day      date NOT NULL,
    visitors integer NOT NULL DEFAULT 0 CHECK (visitors OPERATOR(pg_catalog.>=) 0),
    -- (NaN passes ">= 0": it sorts above every number)
    spend    numeric(14,2) NOT NULL DEFAULT 0
             CHECK (spend OPERATOR(pg_catalog.>=) 0 AND spend OPERATOR(pg_catalog.<>) 'NaN'::pg_catalog.numeric),
    PRIMARY KEY (campaign, day)
);
-- (0.2) a day is a calendar day: infinity would put visitors and spend in
-- a month no range of funnel() reaches
ALTER TABLE lead_mgmt.campaign_daily
    ADD CONSTRAINT campaign_daily_day_finite CHECK (pg_catalog.isfinite(day));
CREATE INDEX campaign_daily_day_idx ON lead_mgmt.campaign_daily (day);
COMMENT ON TABLE lead_mgmt.campaign_daily IS
    'per campaign and day: visitors (of its landing pages) and spend';

--------------------------------------------------------------------------
-- Data: deals
--------------------------------------------------------------------------
CREATE TABLE lead_mgmt.deals (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id    bigint NOT NULL REFERENCES lead_mgmt.leads (id) ON DELETE CASCADE,
    rep_id     bigint,      -- the rep who owns the deal (a reference to reps once reps exist)
    amount     numeric(14,2) NOT NULL CHECK (amount OPERATOR(pg_catalog.>=) 0),
    status     text NOT NULL DEFAULT 'open'
               CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['open', 'won', 'lost'])),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    closed_at  timestamptz,
    -- the trigger below keeps this true (it fills or clears closed_at);
    -- the constraint guards data loaded with triggers off
    CONSTRAINT deals_closed_at_check
        CHECK ((status OPERATOR(pg_catalog.=) 'open') OPERATOR(pg_catalog.=) (closed_at IS NULL))
);
CREATE INDEX deals_lead_idx ON lead_mgmt.deals (lead_id);
CREATE INDEX deals_status_closed_idx ON lead_mgmt.deals (status, closed_at);
-- per rep, recent closes (rep_performance, the performance assignment method)
CREATE INDEX deals_rep_idx ON lead_mgmt.deals (rep_id, closed_at) WHERE rep_id IS NOT NULL;
COMMENT ON TABLE lead_mgmt.deals IS
    'sales opportunities; a deal that becomes won records a purchase event for its lead at closed_at';

-- Indexes the analytics read (on core tables).  The funnel views read
-- every lead's created_at, stage, channel, campaign and owner: the covering
-- index lets them do so by an index-only scan instead of reading the wide,
-- often-updated leads heap.  Its columns change rarely, and stage and
-- owner_id are indexed already, so it takes no HOT update away from the
-- event path.
CREATE INDEX leads_funnel_idx ON lead_mgmt.leads (created_at, id)
    INCLUDE (stage, channel, campaign, owner_id);
-- customers, for sales_cycle (converted_at is set once, with the customer stage)
CREATE INDEX leads_converted_idx ON lead_mgmt.leads (channel)
    INCLUDE (created_at, converted_at) WHERE converted_at IS NOT NULL;
-- leads moved by hand (see _manual_reach)
CREATE INDEX stage_history_manual_idx ON lead_mgmt.stage_history (lead_id)
    WHERE reason OPERATOR(pg_catalog.=) 'manual';
-- "leads with a trial_started event", without scanning every event
CREATE INDEX events_trial_started_idx ON lead_mgmt.events (lead_id)
    WHERE event_type OPERATOR(pg_catalog.=) 'trial_started';

--------------------------------------------------------------------------
-- Deal triggers
--
--   * amount: NOT NULL and >= 0, else a clear error;
--   * status: open, won or lost, else a clear error;
--   * closed_at: a won or lost deal always has one -- NULL means now()
--     (the transaction time); an open deal never has one -- inserting or
--     updating an open deal with a closed_at is an error.  An UPDATE that
--     changes the status but leaves closed_at as it was sets closed_at to
--     now() (closing) or NULL (reopening): the old value belonged to the
--     previous status;
--   * a deal that becomes won (inserted won, or updated to won) records a
--     purchase event for its lead at closed_at with _record_deal_won(): the
--     lead becomes a customer (stage_history reason deal_won), converted_at
--     is its first purchase.  One purchase event per deal, ever
--     (dedupe_key 'deal:<id>'): while the deal is won the event follows its
--     closed_at and amount; when the deal is lost, reopened or deleted the
--     event is kept -- the lead did buy then, its history and customer stage
--     stay (stages never move down by themselves); winning it again moves
--     the same event to the new closed_at;
--   * a deal that has a purchase event cannot move to another lead.
--------------------------------------------------------------------------
CREATE FUNCTION lead_mgmt._deals_before_row() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.amount IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'not_null_violation',
            MESSAGE = 'deal amount must not be null',
            HINT = 'Give the value of the deal; use 0 when it is not known yet.';
    END IF;
    -- NaN passes "amount >= 0" (it sorts above every number) and would make
    -- every revenue figure NaN
    IF NEW.amount OPERATOR(pg_catalog.=) 'NaN'::pg_catalog.numeric THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'deal amount must be a number, not NaN',
            HINT = 'Give the value of the deal as zero or more; use 0 when it is not known yet.';
    END IF;
    IF NEW.amount OPERATOR(pg_catalog.<) 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = pg_catalog.format('deal amount must not be negative: %s', NEW.amount),
            HINT = 'Give the value of the deal as zero or more; a deal that fell through is marked lost.';
    END IF;
    IF NEW.status IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'not_null_violation',
            MESSAGE = 'deal status must not be null',
            HINT = 'A deal''s status is open, won or lost.';
    END IF;
    IF NOT NEW.status OPERATOR(pg_catalog.=) ANY (ARRAY['open', 'won', 'lost']) THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = pg_catalog.format('invalid deal status "%s"', NEW.status),
            HINT = 'A deal''s status is open, won or lost.';
    END IF;

    -- (0.2) infinite times would put a deal in no month, or in followups
    -- "since -infinity"; a won one fails later, as its purchase event's time
    IF NOT pg_catalog.isfinite(NEW.created_at) THEN
        RAISE EXCEPTION USING ERRCODE = 'datetime_field_overflow',
            MESSAGE = 'deal created_at must be finite',
            HINT = 'Record when the deal was opened; leave created_at out for now().';
    END IF;
    IF NOT pg_catalog.isfinite(NEW.closed_at) THEN
        RAISE EXCEPTION USING ERRCODE = 'datetime_field_overflow',
            MESSAGE = 'deal closed_at must be finite',
            HINT = 'Record when the deal was won or lost; leave closed_at out for now().';
    END IF;

    IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        IF NEW.lead_id IS DISTINCT FROM OLD.lead_id
           AND EXISTS (SELECT 1 FROM lead_mgmt.events e
                        WHERE e.dedupe_key OPERATOR(pg_catalog.=)
                              ('deal:' OPERATOR(pg_catalog.||) OLD.id::pg_catalog.text)) THEN
            RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
                MESSAGE = pg_catalog.format('deal %s was won and cannot move to another lead', OLD.id),
                DETAIL = pg_catalog.format('Its purchase event belongs to lead %s.', OLD.lead_id),
                HINT = 'Mark this deal lost and insert a new deal for the other lead.';
        END IF;
        IF NEW.status OPERATOR(pg_catalog.<>) OLD.status
           AND NEW.closed_at IS NOT DISTINCT FROM OLD.closed_at THEN
            -- the old closed_at belonged to the previous status
            NEW.closed_at := CASE WHEN NEW.status OPERATOR(pg_catalog.=) 'open' THEN NULL
                                  ELSE pg_catalog.now() END;
        END IF;
    END IF;

    IF NEW.status OPERATOR(pg_catalog.=) 'open' THEN
        IF NEW.closed_at IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = 'an open deal cannot have a closed_at',
                DETAIL = pg_catalog.format('closed_at was %s.', NEW.closed_at),
                HINT = 'Set status to won or lost to close the deal, or leave closed_at null while it is open.';
        END IF;
    ELSIF NEW.closed_at IS NULL THEN
        NEW.closed_at := pg_catalog.now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE FUNCTION lead_mgmt._deals_after_won() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF lead_mgmt._record_deal_won(NEW.lead_id, NEW.id, NEW.closed_at, NEW.amount) IS NULL THEN
        -- won before (or its close changed): the deal's one purchase event
        -- follows its latest win; leads are recomputed by the events trigger
        UPDATE lead_mgmt.events e
           SET occurred_at = NEW.closed_at,
               properties = pg_catalog.jsonb_build_object('deal_id', NEW.id, 'amount', NEW.amount)
         WHERE e.dedupe_key OPERATOR(pg_catalog.=) ('deal:' OPERATOR(pg_catalog.||) NEW.id::pg_catalog.text)
           AND (e.occurred_at IS DISTINCT FROM NEW.closed_at
                OR e.properties IS DISTINCT FROM
                   pg_catalog.jsonb_build_object('deal_id', NEW.id, 'amount', NEW.amount));
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER deals_before_row BEFORE INSERT OR UPDATE ON lead_mgmt.deals
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._deals_before_row();
CREATE TRIGGER deals_after_insert_won AFTER INSERT ON lead_mgmt.deals
    FOR EACH ROW WHEN (NEW.status OPERATOR(pg_catalog.=) 'won')
    EXECUTE FUNCTION lead_mgmt._deals_after_won();
CREATE TRIGGER deals_after_update_won AFTER UPDATE ON lead_mgmt.deals
    FOR EACH ROW WHEN (NEW.status OPERATOR(pg_catalog.=) 'won'
                       AND (OLD.status IS DISTINCT FROM NEW.status
                            OR OLD.closed_at IS DISTINCT FROM NEW.closed_at
                            OR OLD.amount IS DISTINCT FROM NEW.amount))
    EXECUTE FUNCTION lead_mgmt._deals_after_won();

--------------------------------------------------------------------------
-- Helpers (SQL-standard bodies: bound when created, inlined when used)
--------------------------------------------------------------------------
CREATE FUNCTION lead_mgmt._pct(part numeric, whole numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN pg_catalog.round(part OPERATOR(pg_catalog.*) 100
                            OPERATOR(pg_catalog./) NULLIF(whole, 0), 2);
COMMENT ON FUNCTION lead_mgmt._pct(numeric, numeric) IS
    'internal: part / whole x 100 rounded to 2 decimals; NULL when whole is 0 or NULL';

CREATE FUNCTION lead_mgmt._ratio(num numeric, den numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN pg_catalog.round(num OPERATOR(pg_catalog./) NULLIF(den, 0), 2);
COMMENT ON FUNCTION lead_mgmt._ratio(numeric, numeric) IS
    'internal: num / den rounded to 2 decimals; NULL when den is 0 or NULL';

-- The highest stage a lead has reached.  By DESIGN it is the highest rank
-- in the lead's stage_history.  Stages only move up by themselves (score,
-- condition, deal_won), and every change is written to stage_history, so
-- for a lead that was never moved by hand the highest stage in its history
-- is its current stage.  Only leads with a 'manual' history row (set_stage
-- can move down) need their history read: _manual_reach does that for
-- them, and the views take GREATEST(current stage, _manual_reach).  This
-- keeps the funnel views from aggregating the whole stage_history (2M rows
-- for 1M leads).  It assumes the ranks of stages are not reordered after
-- leads have passed through them (the regress test checks both agree).
CREATE VIEW lead_mgmt._manual_reach WITH (security_invoker = true) AS
-- Read by the lead: when the history rows of leads moved by hand are fewer
-- than a 100th of all history rows (as the planner counts them), each such
-- lead's history is looked up by stage_history_lead_idx; else the history
-- is scanned once.  At 1M leads (1.5M history rows, 2,061 leads moved by
-- hand) the lookups take 0.05 s and the scan, which the planner prefers,
-- 0.3 s; both branches are planned, the one-time filter runs one.
WITH few AS (
    SELECT (SELECT pg_catalog.count(*)
              FROM (SELECT FROM lead_mgmt.stage_history mh
                     WHERE mh.reason OPERATOR(pg_catalog.=) 'manual'
                     LIMIT c.cap) x) OPERATOR(pg_catalog.<) c.cap AS few
      FROM (SELECT (GREATEST(p.reltuples, 0) OPERATOR(pg_catalog./) 100)::pg_catalog.int8 AS cap
              FROM pg_catalog.pg_class p
             WHERE p.oid OPERATOR(pg_catalog.=) 'lead_mgmt.stage_history'::pg_catalog.regclass) c
)
SELECT m.lead_id, r.rank
  FROM (SELECT DISTINCT mh.lead_id FROM lead_mgmt.stage_history mh
         WHERE mh.reason OPERATOR(pg_catalog.=) 'manual') m
 CROSS JOIN LATERAL (SELECT pg_catalog.max(s.rank) AS rank
                       FROM lead_mgmt.stage_history sh
                       JOIN lead_mgmt.stages s ON s.name OPERATOR(pg_catalog.=) sh.to_stage
                      WHERE sh.lead_id OPERATOR(pg_catalog.=) m.lead_id) r
 WHERE r.rank IS NOT NULL
   AND (SELECT f.few FROM few f)
UNION ALL
SELECT sh.lead_id, pg_catalog.max(s.rank) AS rank
  FROM lead_mgmt.stage_history sh
  JOIN lead_mgmt.stages s ON s.name OPERATOR(pg_catalog.=) sh.to_stage
 WHERE sh.lead_id IN (SELECT mh.lead_id FROM lead_mgmt.stage_history mh
                       WHERE mh.reason OPERATOR(pg_catalog.=) 'manual')
   AND NOT (SELECT f.few FROM few f)
 GROUP BY sh.lead_id;
COMMENT ON VIEW lead_mgmt._manual_reach IS
    'internal: for leads moved by hand, the highest stage rank in their history';

CREATE VIEW lead_mgmt._trial_leads WITH (security_invoker = true) AS
SELECT DISTINCT e.lead_id
  FROM lead_mgmt.events e
 WHERE e.event_type OPERATOR(pg_catalog.=) 'trial_started';
COMMENT ON VIEW lead_mgmt._trial_leads IS 'internal: leads with a trial_started event';

-- One row per lead: the stage it reached and whether it started a trial.
-- For looking a lead up ("why is she counted?"); the views below count the
-- same thing faster, through _reach_rows.
CREATE VIEW lead_mgmt._lead_reach WITH (security_invoker = true) AS
SELECT l.id AS lead_id,
       l.created_at,
       l.channel,
       l.campaign,
       l.owner_id,
       GREATEST(cur.rank, m.rank) AS reached_rank,
       (t.lead_id IS NOT NULL) AS trial
  FROM lead_mgmt.leads l
  LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) l.stage
  LEFT JOIN lead_mgmt._manual_reach m ON m.lead_id OPERATOR(pg_catalog.=) l.id
  LEFT JOIN lead_mgmt._trial_leads t ON t.lead_id OPERATOR(pg_catalog.=) l.id;
COMMENT ON VIEW lead_mgmt._lead_reach IS
    'internal: per lead, the highest stage rank reached and whether it started a trial';

-- What the funnel views count, pre-aggregated.  Rows of (day, channel,
-- campaign, rank, leads, trials) whose sums give, for any grouping of day,
-- channel and campaign, the number of leads (sum of leads), of leads that
-- reached a stage (sum of leads where rank >= the stage's rank) and of
-- trials (sum of trials):
--   * every lead once, at its current stage -- counted per day, channel,
--     campaign and stage by _reach_days, one pass over the covering index
--     (a million leads become a few thousand rows);
--   * each lead moved by hand once more: -1 at its current stage, +1 at the
--     highest stage in its history.
-- day is the creation date in the session time zone; views group by day,
-- then by month, which is cheaper than truncating every timestamp.
--
-- _reach_days (src/analytics.c) counts the leads per day, channel, campaign
-- and current stage, with their trials and, with_deals, their won deals
-- and the revenue of those, and the first and last creation time (for
-- unknown_campaigns); it reads as the caller.  In SQL the same was a
-- hash join of every lead to the trials (and the won deals) and a hash
-- aggregate on four keys: at 1M leads 0.7-1.0 s, where it takes 0.2-0.3 s.
CREATE FUNCTION lead_mgmt._reach_days(with_deals boolean)
    RETURNS TABLE (day date, channel text, campaign text, stage text, leads bigint,
                   trials bigint, deals_won bigint, revenue numeric,
                   first_created_at timestamptz, last_created_at timestamptz)
    LANGUAGE c STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_reach_days';
COMMENT ON FUNCTION lead_mgmt._reach_days(boolean) IS
    'internal: leads and trials (and won deals and their revenue), and the first and last creation time, per creation day, channel, campaign and current stage';

CREATE VIEW lead_mgmt._reach_rows WITH (security_invoker = true) AS
SELECT d.day, d.channel, d.campaign, cur.rank, d.leads, d.trials
  FROM lead_mgmt._reach_days(false) d
  LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) d.stage
UNION ALL
SELECT l.created_at::date, l.channel, l.campaign, v.rank, v.leads, 0
  FROM lead_mgmt._manual_reach m
  JOIN lead_mgmt.leads l ON l.id OPERATOR(pg_catalog.=) m.lead_id
  LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) l.stage
 CROSS JOIN LATERAL (VALUES (cur.rank, -1::bigint), (GREATEST(cur.rank, m.rank), 1::bigint)) AS v(rank, leads);
COMMENT ON VIEW lead_mgmt._reach_rows IS
    'internal: lead, reached-stage and trial counts per day, channel, campaign and stage rank, to be summed';

--------------------------------------------------------------------------
-- Views
--------------------------------------------------------------------------
CREATE VIEW lead_mgmt.funnel_summary WITH (security_invoker = true) AS
SELECT v.visitors,
       f.leads, f.iql, f.mql, f.sql, f.customers, t.trials,
       lead_mgmt._pct(f.leads, v.visitors)     AS opt_in_rate,
       lead_mgmt._pct(f.customers, f.leads)    AS sales_conversion_rate,
       lead_mgmt._pct(f.mql, f.leads)          AS lead_to_mql_rate,
       lead_mgmt._pct(f.sql, f.mql)            AS mql_to_sql_rate,
       lead_mgmt._pct(f.customers, f.sql)      AS sql_to_customer_rate
  FROM (SELECT COALESCE(pg_catalog.sum(r.leads), 0)::bigint AS leads,
               COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
                   (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'iql')), 0)::bigint AS iql,
               COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
                   (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'mql')), 0)::bigint AS mql,
               COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
                   (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'sql')), 0)::bigint AS sql,
               COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
                   (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'customer')), 0)::bigint AS customers
          FROM (-- as _reach_rows, without its keys: leads per current stage
                -- (off the stage index), leads moved by hand moved up
                SELECT cur.rank, g.leads
                  FROM (SELECT l.stage, pg_catalog.count(*) AS leads
                          FROM lead_mgmt.leads l GROUP BY l.stage) g
                  LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) g.stage
                UNION ALL
                SELECT v.rank, v.leads
                  FROM lead_mgmt._manual_reach m
                  JOIN lead_mgmt.leads l ON l.id OPERATOR(pg_catalog.=) m.lead_id
                  LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) l.stage
                 CROSS JOIN LATERAL (VALUES (cur.rank, -1::bigint),
                                            (GREATEST(cur.rank, m.rank), 1::bigint)) AS v(rank, leads)) r) f
 CROSS JOIN (SELECT pg_catalog.count(*) AS trials FROM lead_mgmt._trial_leads) t
 CROSS JOIN (SELECT COALESCE(pg_catalog.sum(d.visitors), 0)::bigint AS visitors
               FROM lead_mgmt.campaign_daily d) v;
COMMENT ON VIEW lead_mgmt.funnel_summary IS
    'the whole funnel in one row: visitors, leads, leads that reached each stage, trials, and the rates between them';

CREATE VIEW lead_mgmt.funnel_by_month WITH (security_invoker = true) AS
WITH lf AS (
    SELECT pg_catalog.date_trunc('month', r.day::timestamp)::date AS month, r.channel,
           pg_catalog.sum(r.leads) AS leads,
           COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
               (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'iql')), 0) AS iql,
           COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
               (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'mql')), 0) AS mql,
           COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
               (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'sql')), 0) AS sql,
           COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
               (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'customer')), 0) AS customers,
           pg_catalog.sum(r.trials) AS trials
      FROM lead_mgmt._reach_rows r
     GROUP BY 1, 2
), vis AS (
    SELECT pg_catalog.date_trunc('month', d.day::timestamp)::date AS month, c.channel,
           pg_catalog.sum(d.visitors) AS visitors
      FROM lead_mgmt.campaign_daily d
      JOIN lead_mgmt.campaigns c ON c.code OPERATOR(pg_catalog.=) d.campaign
     GROUP BY 1, 2
), u AS (
    SELECT vis.month, vis.channel, vis.visitors,
           0::bigint AS leads, 0::bigint AS iql, 0::bigint AS mql, 0::bigint AS sql,
           0::bigint AS customers, 0::bigint AS trials
      FROM vis
    UNION ALL
    SELECT lf.month, lf.channel, 0, lf.leads, lf.iql, lf.mql, lf.sql, lf.customers, lf.trials
      FROM lf
)
SELECT u.month, u.channel,
       pg_catalog.sum(u.visitors)::bigint  AS visitors,
       pg_catalog.sum(u.leads)::bigint     AS leads,
       pg_catalog.sum(u.iql)::bigint       AS iql,
       pg_catalog.sum(u.mql)::bigint       AS mql,
       pg_catalog.sum(u.sql)::bigint       AS sql,
       pg_catalog.sum(u.customers)::bigint AS customers,
       pg_catalog.sum(u.trials)::bigint    AS trials,
       lead_mgmt._pct(pg_catalog.sum(u.leads), pg_catalog.sum(u.visitors))     AS opt_in_rate,
       lead_mgmt._pct(pg_catalog.sum(u.customers), pg_catalog.sum(u.leads))    AS sales_conversion_rate
  FROM u
 GROUP BY u.month, u.channel
 ORDER BY u.month, u.channel;
COMMENT ON VIEW lead_mgmt.funnel_by_month IS
    'the funnel per month of lead creation and channel, with the visitors of that channel''s campaigns that month';

CREATE VIEW lead_mgmt.stage_counts WITH (security_invoker = true) AS
SELECT s.name AS stage, s.rank, COALESCE(c.leads, 0) AS leads
  FROM lead_mgmt.stages s
  LEFT JOIN (SELECT l.stage, pg_catalog.count(*) AS leads
               FROM lead_mgmt.leads l
              GROUP BY l.stage) c ON c.stage OPERATOR(pg_catalog.=) s.name
 ORDER BY s.rank;
COMMENT ON VIEW lead_mgmt.stage_counts IS 'how many leads are in each stage now';

CREATE VIEW lead_mgmt.acquisition_costs WITH (security_invoker = true) AS
WITH sp AS (
    SELECT d.campaign, pg_catalog.date_trunc('month', d.day::timestamp)::date AS month,
           pg_catalog.sum(d.spend) AS spend, pg_catalog.sum(d.visitors) AS visitors
      FROM lead_mgmt.campaign_daily d
     GROUP BY 1, 2
), ld AS (
    -- as _reach_rows, by campaign, with the won deals of the leads in the
    -- same pass (_reach_days counts them)
    SELECT r.campaign, pg_catalog.date_trunc('month', r.day::timestamp)::date AS month,
           pg_catalog.sum(r.leads) AS leads,
           COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
               (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'customer')), 0) AS customers,
           pg_catalog.sum(r.deals_won) AS deals_won,
           pg_catalog.sum(r.revenue) AS revenue
      FROM (SELECT d.day, d.campaign, cur.rank, d.leads, d.deals_won, d.revenue
              FROM lead_mgmt._reach_days(true) d
              LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) d.stage
             WHERE EXISTS (SELECT 1 FROM lead_mgmt.campaigns c
                            WHERE c.code OPERATOR(pg_catalog.=) d.campaign)
            UNION ALL
            SELECT l.created_at::date, l.campaign, v.rank, v.leads, 0, 0.00
              FROM lead_mgmt._manual_reach m
              JOIN lead_mgmt.leads l ON l.id OPERATOR(pg_catalog.=) m.lead_id
              LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) l.stage
             CROSS JOIN LATERAL (VALUES (cur.rank, -1::bigint),
                                        (GREATEST(cur.rank, m.rank), 1::bigint)) AS v(rank, leads)
             WHERE EXISTS (SELECT 1 FROM lead_mgmt.campaigns c
                            WHERE c.code OPERATOR(pg_catalog.=) l.campaign)) r
     GROUP BY 1, 2
), k AS (
    SELECT sp.campaign, sp.month FROM sp
    UNION
    SELECT ld.campaign, ld.month FROM ld
), a AS (
    SELECT k.month, k.campaign, c.channel,
           COALESCE(sp.spend, 0.00) AS spend,
           COALESCE(sp.visitors, 0)::bigint AS visitors,
           COALESCE(ld.leads, 0)::bigint AS leads,
           COALESCE(ld.customers, 0)::bigint AS customers,
           COALESCE(ld.revenue, 0.00) AS revenue,
           COALESCE(ld.deals_won, 0) AS deals_won
      FROM k
      JOIN lead_mgmt.campaigns c ON c.code OPERATOR(pg_catalog.=) k.campaign
      LEFT JOIN sp ON sp.campaign OPERATOR(pg_catalog.=) k.campaign
                  AND sp.month OPERATOR(pg_catalog.=) k.month
      LEFT JOIN ld ON ld.campaign OPERATOR(pg_catalog.=) k.campaign
                  AND ld.month OPERATOR(pg_catalog.=) k.month
)
SELECT a.month, a.campaign, a.channel, a.spend, a.visitors, a.leads, a.customers, a.revenue,
       lead_mgmt._ratio(a.spend, a.leads)     AS cost_per_lead,
       lead_mgmt._ratio(a.spend, a.customers) AS customer_acquisition_cost,
       lead_mgmt._ratio(a.revenue, a.deals_won) AS avg_deal_size,
       lead_mgmt._pct(a.revenue OPERATOR(pg_catalog.-) a.spend, a.spend) AS roi_pct,
       lead_mgmt._ratio(a.spend, a.leads) OPERATOR(pg_catalog.>)
           lead_mgmt._ratio(a.revenue, a.deals_won) AS cpl_exceeds_avg_deal
  FROM a
 ORDER BY a.month, a.campaign;
COMMENT ON VIEW lead_mgmt.acquisition_costs IS
    'per campaign and month: spend and visitors of that month, the leads created that month and the customers and won revenue they brought';

CREATE VIEW lead_mgmt.sales_by_month WITH (security_invoker = true) AS
WITH w AS (
    SELECT pg_catalog.date_trunc('month', d.closed_at)::date AS month,
           pg_catalog.count(*) AS deals_won, pg_catalog.sum(d.amount) AS revenue
      FROM lead_mgmt.deals d
     WHERE d.status OPERATOR(pg_catalog.=) 'won' AND d.closed_at IS NOT NULL
     GROUP BY 1
), m AS (
    SELECT g.m::date AS month
      FROM (SELECT pg_catalog.min(w.month) AS first, pg_catalog.max(w.month) AS last FROM w) b
     CROSS JOIN LATERAL pg_catalog.generate_series(b.first::timestamp, b.last::timestamp,
                                                   '1 month'::interval) AS g(m)
), s AS (
    SELECT m.month, COALESCE(w.deals_won, 0) AS deals_won, COALESCE(w.revenue, 0.00) AS revenue
      FROM m LEFT JOIN w ON w.month OPERATOR(pg_catalog.=) m.month
)
SELECT s.month, s.deals_won, s.revenue,
       lead_mgmt._ratio(s.revenue, s.deals_won) AS avg_deal_size,
       lead_mgmt._pct(s.revenue OPERATOR(pg_catalog.-) pg_catalog.lag(s.revenue) OVER (ORDER BY s.month),
                      pg_catalog.lag(s.revenue) OVER (ORDER BY s.month)) AS mom_growth_pct
  FROM s
 ORDER BY s.month;
COMMENT ON VIEW lead_mgmt.sales_by_month IS
    'won deals by month of closed_at, every month from the first to the last (empty ones too); growth of revenue against the previous month';

CREATE VIEW lead_mgmt.customer_ltv WITH (security_invoker = true) AS
SELECT d.lead_id,
       pg_catalog.min(d.closed_at) AS first_won_at,
       pg_catalog.count(*) AS deals_won,
       pg_catalog.sum(d.amount) AS lifetime_value,
       pg_catalog.floor((EXTRACT(epoch FROM pg_catalog.now())
                         OPERATOR(pg_catalog.-) EXTRACT(epoch FROM pg_catalog.min(d.closed_at)))
                        OPERATOR(pg_catalog./) 86400)::integer AS tenure_days
  FROM lead_mgmt.deals d
 WHERE d.status OPERATOR(pg_catalog.=) 'won'
 GROUP BY d.lead_id;
COMMENT ON VIEW lead_mgmt.customer_ltv IS
    'per customer (a lead with a won deal): first win, deals won, lifetime value (sum of won amounts), whole days since the first win';

CREATE VIEW lead_mgmt.ltv_summary WITH (security_invoker = true) AS
SELECT pg_catalog.count(*) AS customers,
       pg_catalog.round(pg_catalog.avg(c.lifetime_value), 2) AS avg_lifetime_value,
       pg_catalog.round((pg_catalog.percentile_cont(0.5) WITHIN GROUP
                         (ORDER BY c.lifetime_value::double precision))::numeric, 2) AS median_lifetime_value,
       pg_catalog.round(pg_catalog.avg(c.deals_won), 2) AS avg_deals_per_customer
  FROM lead_mgmt.customer_ltv c;
COMMENT ON VIEW lead_mgmt.ltv_summary IS 'lifetime value over all customers: mean, median, deals per customer';

CREATE VIEW lead_mgmt.sales_cycle WITH (security_invoker = true) AS
WITH c AS (
    SELECT l.channel,
           (EXTRACT(epoch FROM l.converted_at) OPERATOR(pg_catalog.-) EXTRACT(epoch FROM l.created_at))
               OPERATOR(pg_catalog./) 86400 AS days
      FROM lead_mgmt.leads l
     WHERE l.converted_at IS NOT NULL
)
SELECT CASE WHEN GROUPING(c.channel) OPERATOR(pg_catalog.=) 1 THEN '(all)' ELSE c.channel END AS channel,
       pg_catalog.count(*) AS customers,
       pg_catalog.round(pg_catalog.avg(c.days), 2) AS avg_days,
       pg_catalog.round((pg_catalog.percentile_cont(0.5) WITHIN GROUP
                         (ORDER BY c.days::double precision))::numeric, 2) AS median_days,
       pg_catalog.round((pg_catalog.percentile_cont(0.9) WITHIN GROUP
                         (ORDER BY c.days::double precision))::numeric, 2) AS p90_days
  FROM c
 GROUP BY GROUPING SETS ((c.channel), ())
 ORDER BY GROUPING(c.channel), c.channel;
COMMENT ON VIEW lead_mgmt.sales_cycle IS
    'days from a lead''s created_at to its converted_at (first purchase), per channel and for all ''(all)''';

CREATE VIEW lead_mgmt.unknown_campaigns WITH (security_invoker = true) AS
-- per campaign code from _reach_days' rows (a few thousand, where the
-- SQL read and anti-joined every lead: 1M leads 0.6-0.8 s)
SELECT g.campaign, g.leads, g.first_lead_at, g.last_lead_at
  FROM (SELECT d.campaign,
               pg_catalog.sum(d.leads)::bigint AS leads,
               pg_catalog.min(d.first_created_at) AS first_lead_at,
               pg_catalog.max(d.last_created_at) AS last_lead_at
          FROM lead_mgmt._reach_days(false) d
         WHERE d.campaign IS NOT NULL
         GROUP BY d.campaign) g
 WHERE NOT EXISTS (SELECT 1 FROM lead_mgmt.campaigns c
                    WHERE c.code OPERATOR(pg_catalog.=) g.campaign)
 ORDER BY g.leads DESC, g.campaign;
COMMENT ON VIEW lead_mgmt.unknown_campaigns IS
    'campaign codes found on leads but missing from lead_mgmt.campaigns, with how many leads carry each';

-- rep_performance (DESIGN section 6) comes with reps and assignments.

-- The counts behind funnel(from, to, 'segment') over many leads: per
-- segment (NULL: no segment) the leads created in [from, to), those at or
-- beyond iql, mql, sql and customer at their current stage, and those that
-- started a trial (src/analytics.c).  Reads as the caller.
CREATE FUNCTION lead_mgmt._segment_funnel(from_time timestamptz, to_time timestamptz)
    RETURNS TABLE (segment_id bigint, leads bigint, iql bigint, mql bigint,
                   sql bigint, customers bigint, trials bigint)
    LANGUAGE c STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_segment_funnel';
COMMENT ON FUNCTION lead_mgmt._segment_funnel(timestamptz, timestamptz) IS
    'internal: funnel counts per segment of the leads created in [from, to), at their current stage';

-- The same per channel, campaign or owner (owner_id as text), or for all
-- the leads ('all': one group, '(all)'): funnel() by those, and over a
-- range (src/analytics.c).  Reads as the caller.
CREATE FUNCTION lead_mgmt._group_funnel(from_time timestamptz, to_time timestamptz, group_by text)
    RETURNS TABLE (group_value text, leads bigint, iql bigint, mql bigint,
                   sql bigint, customers bigint, trials bigint)
    LANGUAGE c STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_group_funnel';
COMMENT ON FUNCTION lead_mgmt._group_funnel(timestamptz, timestamptz, text) IS
    'internal: funnel counts per channel, campaign or owner (or all) of the leads created in [from, to), at their current stage';

--------------------------------------------------------------------------
-- funnel(from, to, group_by): the funnel of the leads created in [from, to)
--------------------------------------------------------------------------
CREATE FUNCTION lead_mgmt.funnel(from_time timestamptz, to_time timestamptz,
                                 group_by text DEFAULT NULL)
    RETURNS TABLE (group_value text, visitors bigint, leads bigint, iql bigint, mql bigint,
                   sql bigint, customers bigint, trials bigint,
                   opt_in_rate numeric, lead_to_mql_rate numeric, mql_to_sql_rate numeric,
                   sql_to_customer_rate numeric, sales_conversion_rate numeric)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    -- its statements scan every lead of the range once: JIT compiles them
    -- for longer than they run (1M leads: 0.71 -> 0.97 s over all leads)
    SET jit = off
AS $fn$
DECLARE
    g        text := pg_catalog.lower(pg_catalog.btrim(group_by));
    v_lo     timestamptz := COALESCE(from_time, '-infinity'::timestamptz);
    v_hi     timestamptz := COALESCE(to_time, 'infinity'::timestamptz);
    v_group  text := '''(all)''::pg_catalog.text';  -- the group of a lead
    v_join   text := '';                             -- what that needs joined
    v_vis    text := '''(all)''::pg_catalog.text';  -- the group of a campaign's visitors
    v_manual text;                                   -- rows of the leads moved by hand
    v_lf     text;                                   -- CTEs ending in lf, the counts per group
    v_scan   boolean := false;                       -- by segment, by _segment_funnel
    v_counts text;                                   -- rows of r from the leads themselves
    v_x      text;                                   -- or, counted in C, rows of x
    v_cap    bigint;
BEGIN
    IF g OPERATOR(pg_catalog.=) ANY (ARRAY['', 'none']) THEN
        g := NULL;
    END IF;
    IF g IS NULL THEN
        NULL;   -- the whole funnel
    ELSIF g OPERATOR(pg_catalog.=) 'channel' THEN
        v_group := 'l.channel';
        v_vis := 'c.channel';
    ELSIF g OPERATOR(pg_catalog.=) 'campaign' THEN
        v_group := 'l.campaign';
        v_vis := 'c.code';
    ELSIF g OPERATOR(pg_catalog.=) 'owner' THEN
        v_group := 'l.owner_id::pg_catalog.text';
        v_vis := NULL;      -- visitors have no owner
    ELSIF g OPERATOR(pg_catalog.=) 'segment' THEN
        -- current membership: a lead in several segments counts in each,
        -- a lead in none under NULL.  Each lead's segments are looked up
        -- (OFFSET 0 keeps the lookup per lead: as a join, the planner may
        -- hash all 1.6M memberships of 1M leads for a few thousand).
        v_group := 'sg.name';
        v_join := 'LEFT JOIN LATERAL (SELECT sg.name
                                        FROM lead_mgmt.segment_members sm
                                        JOIN lead_mgmt.segments sg ON sg.id OPERATOR(pg_catalog.=) sm.segment_id
                                       WHERE sm.lead_id OPERATOR(pg_catalog.=) l.id OFFSET 0) sg ON true';
        v_vis := NULL;      -- nor a segment
    ELSE
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = pg_catalog.format('unknown funnel grouping "%s"', group_by),
            HINT = 'Group by channel, campaign, segment or owner, or pass NULL for the whole funnel.';
    END IF;
    IF v_lo OPERATOR(pg_catalog.>) v_hi THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'funnel range starts after it ends',
            DETAIL = pg_catalog.format('from is %s, to is %s.', from_time, to_time),
            HINT = 'The range is [from, to): leads created at or after from and before to.';
    END IF;
    -- By segment, _segment_funnel (below) reads the leads of the range
    -- and every membership once; looking up each lead's segments instead
    -- costs per lead, and pays off only for ranges of fewer leads than a
    -- 256th of the memberships (as the planner counts them).  funnel() at
    -- 1M leads and 1.7M memberships, by the one pass (by lookups): every
    -- lead 0.3 s (1.6 s), a fifth 0.17 s (0.65), 1 % 0.16 s (0.27); a day
    -- of leads 0.21 s by lookups, about what the pass takes.
    IF g OPERATOR(pg_catalog.=) 'segment' THEN
        IF from_time IS NULL AND to_time IS NULL THEN
            v_scan := true;
        ELSE
            SELECT (GREATEST(c.reltuples, 0) OPERATOR(pg_catalog./) 256)::pg_catalog.int8 INTO v_cap
              FROM pg_catalog.pg_class c
             WHERE c.oid OPERATOR(pg_catalog.=) 'lead_mgmt.segment_members'::pg_catalog.regclass;
            SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) v_cap INTO v_scan
              FROM (SELECT FROM lead_mgmt.leads l
                     WHERE l.created_at OPERATOR(pg_catalog.>=) v_lo AND l.created_at OPERATOR(pg_catalog.<) v_hi
                     LIMIT v_cap) AS s;
        END IF;
    END IF;

    -- Only the fixed fragments above are spliced in; the range is passed
    -- as parameters.  Counting as in _reach_rows: every lead at its current
    -- stage, leads moved by hand moved to the highest stage of their
    -- history, trials.  lf: per group, the leads, those that reached each
    -- stage, and the trials.
    v_manual := pg_catalog.format($m$
        SELECT %1$s AS grp, v.rank, v.leads, 0::pg_catalog.int8 AS trials
          FROM lead_mgmt._manual_reach m
          JOIN lead_mgmt.leads l ON l.id OPERATOR(pg_catalog.=) m.lead_id
          %2$s
          LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) l.stage
         CROSS JOIN LATERAL (VALUES (cur.rank, -1::bigint), (GREATEST(cur.rank, m.rank), 1::bigint)) AS v(rank, leads)
         WHERE l.created_at OPERATOR(pg_catalog.>=) $1 AND l.created_at OPERATOR(pg_catalog.<) $2$m$,
        v_group, v_join);
    -- In C (src/analytics.c): by segment over many leads (above), and
    -- every other funnel, where the SQL joined every lead of the range to
    -- the leads with a trial and aggregated the join (1M leads, warm:
    -- 0.9-1.1 s by channel, campaign or owner, now 0.22-0.36 s).  The SQL
    -- below is left for a few leads by segment.
    IF v_scan THEN
        v_x := $x$
        SELECT sg.name AS grp, f.leads, f.iql, f.mql, f.sql, f.customers, f.trials
          FROM lead_mgmt._segment_funnel($1, $2) AS f
          LEFT JOIN lead_mgmt.segments sg ON sg.id OPERATOR(pg_catalog.=) f.segment_id
         WHERE f.leads OPERATOR(pg_catalog.>) 0$x$;
    ELSIF g IS DISTINCT FROM 'segment' THEN
        v_x := pg_catalog.format($x$
        SELECT f.group_value AS grp, f.leads, f.iql, f.mql, f.sql, f.customers, f.trials
          FROM lead_mgmt._group_funnel($1, $2, %L) AS f$x$, COALESCE(g, 'all'));
    END IF;
    IF v_x IS NULL THEN
        v_counts := pg_catalog.format($c$
        SELECT g.grp, cur.rank, g.leads, g.trials
          FROM (SELECT %1$s AS grp, l.stage,
                       pg_catalog.count(*) AS leads, pg_catalog.count(t.lead_id) AS trials
                  FROM lead_mgmt.leads l
                  %2$s
                  LEFT JOIN lead_mgmt._trial_leads t ON t.lead_id OPERATOR(pg_catalog.=) l.id
                 WHERE l.created_at OPERATOR(pg_catalog.>=) $1 AND l.created_at OPERATOR(pg_catalog.<) $2
                 GROUP BY 1, 2) g
          LEFT JOIN lead_mgmt.stages cur ON cur.name OPERATOR(pg_catalog.=) g.stage$c$,
            v_group, v_join);
        -- r: rows of (group, stage rank, leads, trials), summed per group
        v_lf := pg_catalog.format($r$
    r AS (%1$s
        UNION ALL%2$s
    ), lf AS (
        SELECT r.grp,
               pg_catalog.sum(r.leads) AS leads,
               COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
                   (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'iql')), 0) AS iql,
               COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
                   (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'mql')), 0) AS mql,
               COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
                   (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'sql')), 0) AS sql,
               COALESCE(pg_catalog.sum(r.leads) FILTER (WHERE r.rank OPERATOR(pg_catalog.>=)
                   (SELECT st.rank FROM lead_mgmt.stages st WHERE st.name OPERATOR(pg_catalog.=) 'customer')), 0) AS customers,
               pg_catalog.sum(r.trials) AS trials
          FROM r
         GROUP BY r.grp
    )$r$, v_counts, v_manual);
    ELSE
        -- By segment over many leads, r would join the memberships (1.6M
        -- for 1M leads) to the leads: a hash table of a million leads and
        -- a probe for every membership (1.2 s at 1M leads; 1.6 s through
        -- bitmaps made of bit strings).  _segment_funnel (C) reads the
        -- leads of the range once into an array by id and counts each
        -- membership with one lookup; _group_funnel (C) reads them once,
        -- looking each one's trial up in an array and its group in a hash
        -- table of the few groups.
        --   x: per group (segment: NULL for the leads in no segment), the
        --      leads and those at or beyond each stage, at their current
        --      stage;
        --   lf: x, and the leads moved by hand as rows of r.
        v_lf := pg_catalog.format($s$
    x AS (%1$s
    ), r AS (%2$s
    ), lf AS (
        SELECT q.grp,
               pg_catalog.sum(q.leads) AS leads, pg_catalog.sum(q.iql) AS iql,
               pg_catalog.sum(q.mql) AS mql, pg_catalog.sum(q.sql) AS sql,
               pg_catalog.sum(q.customers) AS customers, pg_catalog.sum(q.trials) AS trials
          FROM (SELECT x.grp, x.leads, x.iql, x.mql, x.sql, x.customers, x.trials
                  FROM x
                UNION ALL
                SELECT r.grp, r.leads,
                       CASE WHEN r.rank OPERATOR(pg_catalog.>=) th.iql THEN r.leads ELSE 0 END,
                       CASE WHEN r.rank OPERATOR(pg_catalog.>=) th.mql THEN r.leads ELSE 0 END,
                       CASE WHEN r.rank OPERATOR(pg_catalog.>=) th.sql THEN r.leads ELSE 0 END,
                       CASE WHEN r.rank OPERATOR(pg_catalog.>=) th.customer THEN r.leads ELSE 0 END,
                       r.trials
                  FROM r
                 CROSS JOIN (SELECT pg_catalog.max(st.rank) FILTER (WHERE st.name OPERATOR(pg_catalog.=) 'iql') AS iql,
                                    pg_catalog.max(st.rank) FILTER (WHERE st.name OPERATOR(pg_catalog.=) 'mql') AS mql,
                                    pg_catalog.max(st.rank) FILTER (WHERE st.name OPERATOR(pg_catalog.=) 'sql') AS sql,
                                    pg_catalog.max(st.rank) FILTER (WHERE st.name OPERATOR(pg_catalog.=) 'customer') AS customer
                               FROM lead_mgmt.stages st) th) q
         GROUP BY q.grp
    )$s$, v_x, v_manual);
    END IF;

    RETURN QUERY EXECUTE pg_catalog.format($q$
    WITH %1$s, vis AS (
        -- visitors of the days that start in the range, through their campaign
        SELECT %2$s AS grp, pg_catalog.sum(d.visitors) AS visitors
          FROM lead_mgmt.campaign_daily d
          JOIN lead_mgmt.campaigns c ON c.code OPERATOR(pg_catalog.=) d.campaign
         WHERE %3$s
           AND d.day::pg_catalog.timestamptz OPERATOR(pg_catalog.>=) $1
           AND d.day::pg_catalog.timestamptz OPERATOR(pg_catalog.<) $2
         GROUP BY 1
    ), u AS (
        SELECT vis.grp, vis.visitors, 0::bigint AS leads, 0::bigint AS iql, 0::bigint AS mql,
               0::bigint AS sql, 0::bigint AS customers, 0::bigint AS trials
          FROM vis
        UNION ALL
        SELECT lf.grp, NULL, lf.leads, lf.iql, lf.mql, lf.sql, lf.customers, lf.trials
          FROM lf
        UNION ALL   -- the whole funnel is one row even when the range is empty
        SELECT '(all)', NULL, 0, 0, 0, 0, 0, 0 WHERE %4$s
    ), s AS (
        SELECT u.grp,
               CASE WHEN %3$s THEN COALESCE(pg_catalog.sum(u.visitors), 0) END::bigint AS visitors,
               pg_catalog.sum(u.leads)::bigint AS leads,
               pg_catalog.sum(u.iql)::bigint AS iql,
               pg_catalog.sum(u.mql)::bigint AS mql,
               pg_catalog.sum(u.sql)::bigint AS sql,
               pg_catalog.sum(u.customers)::bigint AS customers,
               pg_catalog.sum(u.trials)::bigint AS trials
          FROM u
         GROUP BY u.grp
    )
    SELECT s.grp, s.visitors, s.leads, s.iql, s.mql, s.sql, s.customers, s.trials,
           lead_mgmt._pct(s.leads, s.visitors),
           lead_mgmt._pct(s.mql, s.leads),
           lead_mgmt._pct(s.sql, s.mql),
           lead_mgmt._pct(s.customers, s.sql),
           lead_mgmt._pct(s.customers, s.leads)
      FROM s
     ORDER BY s.grp
    $q$, v_lf, COALESCE(v_vis, 'NULL::pg_catalog.text'),
         CASE WHEN v_vis IS NULL THEN 'false' ELSE 'true' END,
         CASE WHEN g IS NULL THEN 'true' ELSE 'false' END)
    USING v_lo, v_hi;
END;
$fn$;
COMMENT ON FUNCTION lead_mgmt.funnel(timestamptz, timestamptz, text) IS
    'the funnel of the leads created in [from, to) (NULL: unbounded), grouped by channel, campaign, segment, owner, or not at all (NULL)';

--------------------------------------------------------------------------
-- pg_dump: configuration and data tables, with their sequences
--------------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.campaigns', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.campaign_daily', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.deals', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.deals_id_seq', '');
