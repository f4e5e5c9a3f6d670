--------------------------------------------------------------------------
-- Distribution: reps, assignment rules, assignment history
--
-- When a lead enters a stage with assign_on_entry and has no owner, the row
-- trigger on leads (C) tries the active rules by priority and assigns the
-- lead in the same transaction.  Round robin and weighted rotation keep
-- their state in rotation_state, locked per rule, so they stay exact under
-- any concurrency.
--------------------------------------------------------------------------
CREATE TABLE lead_mgmt.reps (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    email       text UNIQUE,
    active      boolean NOT NULL DEFAULT true,
    available   boolean NOT NULL DEFAULT true,
    away_until  timestamptz,
    regions     text[] NOT NULL DEFAULT '{}',
    industries  text[] NOT NULL DEFAULT '{}',
    seniority   text NOT NULL DEFAULT 'junior'
                CHECK (seniority IN ('junior', 'senior', 'enterprise')),
    capacity    integer CHECK (capacity >= 0),
    weight      integer NOT NULL DEFAULT 1 CHECK (weight > 0),
    db_role     name
);
COMMENT ON TABLE lead_mgmt.reps IS
    'sales reps: availability, territory (regions), expertise (industries), seniority, capacity, weight';

CREATE TABLE lead_mgmt.assignment_rules (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    priority       integer NOT NULL,
    condition      jsonb,
    method         text NOT NULL DEFAULT 'round_robin'
                   CHECK (method IN ('round_robin', 'weighted', 'least_loaded', 'performance')),
    rep_ids        bigint[],
    match_region   boolean NOT NULL DEFAULT false,
    match_industry boolean NOT NULL DEFAULT false,
    min_seniority  text CHECK (min_seniority IN ('junior', 'senior', 'enterprise')),
    sla            interval,
    active         boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE lead_mgmt.assignment_rules IS
    'tried by ascending priority; the first whose condition holds and whose pool has an eligible rep assigns';

CREATE TABLE lead_mgmt.assignments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id     bigint NOT NULL REFERENCES lead_mgmt.leads (id) ON DELETE CASCADE,
    rep_id      bigint NOT NULL REFERENCES lead_mgmt.reps (id),
    rule_id     bigint REFERENCES lead_mgmt.assignment_rules (id) ON DELETE SET NULL,
    method      text NOT NULL,
    assigned_at timestamptz NOT NULL,
    ended_at    timestamptz,
    reason      text NOT NULL CHECK (reason IN ('rule', 'manual', 'sla_breach', 'reassigned')),
    -- when the owner must have made a sales touch (assigned_at + the rule's
    -- sla, else default_sla, as they were at assignment); NULL for manual
    sla_due_at  timestamptz,
    -- the rep's first sales touch of the lead since assigned_at (see
    -- _first_touch); maintained by lead_mgmt, NULL while there is none
    first_touch_at timestamptz
);
CREATE INDEX assignments_lead_idx ON lead_mgmt.assignments (lead_id, assigned_at);
CREATE INDEX assignments_rep_idx ON lead_mgmt.assignments (rep_id, assigned_at);
-- the open assignments whose SLA can still be breached: one with a first
-- touch leaves it, so maintenance reads what may be due, not every
-- assignment ever touched
CREATE INDEX assignments_sla_idx ON lead_mgmt.assignments (sla_due_at)
    WHERE ended_at IS NULL AND sla_due_at IS NOT NULL AND first_touch_at IS NULL;
-- each rep's first-touch times (rep_performance), without the heap
CREATE INDEX assignments_rep_touch_idx ON lead_mgmt.assignments (rep_id)
    INCLUDE (assigned_at, first_touch_at, ended_at) WHERE first_touch_at IS NOT NULL;
COMMENT ON TABLE lead_mgmt.assignments IS
    'every assignment of a lead to a rep, never overwritten; ended_at closes it';

CREATE TABLE lead_mgmt.rotation_state (
    rule_id     bigint PRIMARY KEY REFERENCES lead_mgmt.assignment_rules (id) ON DELETE CASCADE,
    cursor      bigint,
    wrr_reps    bigint[] NOT NULL DEFAULT '{}',
    wrr_current bigint[] NOT NULL DEFAULT '{}',
    -- (0.2) round robin: the reps the rule has chosen, least recently
    -- chosen first; the next lead goes to the first of its eligible reps
    -- (one never chosen before them), so that turns rotate within each
    -- lead's pool (territory, industry, seniority).  NULL: none yet.
    rr_order    bigint[]
);
COMMENT ON TABLE lead_mgmt.rotation_state IS
    'internal: per rule, the last rep chosen (cursor), the smooth weighted round-robin current weights and the round-robin order';

ALTER TABLE lead_mgmt.leads
    ADD CONSTRAINT leads_owner_fkey FOREIGN KEY (owner_id) REFERENCES lead_mgmt.reps (id);

CREATE TRIGGER reps_validate BEFORE INSERT OR UPDATE OR DELETE ON lead_mgmt.reps
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._config_validate();
-- (0.2) TRUNCATE would skip the row check above (see _refuse_truncate)
CREATE TRIGGER reps_refuse_truncate BEFORE TRUNCATE ON lead_mgmt.reps
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._refuse_truncate();
CREATE TRIGGER assignment_rules_validate BEFORE INSERT OR UPDATE ON lead_mgmt.assignment_rules
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._config_validate();
CREATE TRIGGER assignment_rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON lead_mgmt.assignment_rules
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._config_changed();

CREATE FUNCTION lead_mgmt.assign(lead_id bigint, rep_id bigint)
    RETURNS void
    LANGUAGE c CALLED ON NULL INPUT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_assign';
COMMENT ON FUNCTION lead_mgmt.assign(bigint, bigint) IS
    'assigns a lead to a rep by hand (reason manual), closing its current assignment';

CREATE FUNCTION lead_mgmt.redistribute(rep_id bigint)
    RETURNS bigint
    LANGUAGE c CALLED ON NULL INPUT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_redistribute';
COMMENT ON FUNCTION lead_mgmt.redistribute(bigint) IS
    'moves the open leads of a rep to other eligible reps by the assignment rules (reason reassigned); returns how many moved';

--------------------------------------------------------------------------
-- First sales touch of each assignment
--
-- assignments.first_touch_at is the time of the first event of category
-- sales_touch on the assignment's lead, at or after assigned_at, made by
-- the assignment's rep: the event names that rep in properties.rep_id, or
-- names no rep.  rep_performance and followups read it instead of walking
-- every assignment's events.  Kept exact at commit: the events statement
-- trigger lowers it for new sales touches (src/triggers.c, the same
-- predicate), an assignment gets it when inserted, and event updates and
-- deletes, TRUNCATE of events and category changes of event types
-- recompute it from the events.
--------------------------------------------------------------------------
-- In C (src/assignment.c, lm_assign_first_touch): one definition, with a
-- kept plan, for this function (the recompute below runs it per
-- assignment) and for the row trigger on assignments.
CREATE FUNCTION lead_mgmt._first_touch(lead_id bigint, rep_id bigint, since timestamptz)
    RETURNS timestamptz
    LANGUAGE c STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_first_touch';
COMMENT ON FUNCTION lead_mgmt._first_touch(bigint, bigint, timestamptz) IS
    'internal: the first sales touch of a lead by a rep (or by no named rep) at or after since';

-- recomputes first_touch_at of the assignments of the given leads (all when
-- NULL).  The given leads' assignments are found through
-- assignments_lead_idx, by a statement of their own: one statement for both
-- cases (lead_ids IS NULL OR lead_id = ANY (lead_ids)) would read every
-- assignment and compare it with every id, so that a rep's logged call
-- would cost a scan of the table, and a bulk load's sales touches its size
-- times their number.  The CTE computes each first touch once (the planner
-- would otherwise copy the call into every test of it); PL/pgSQL keeps the
-- plans for the session.
CREATE FUNCTION lead_mgmt._first_touch_recompute(lead_ids bigint[])
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF _first_touch_recompute.lead_ids IS NULL THEN
        WITH f AS MATERIALIZED (
            SELECT x.id, lead_mgmt._first_touch(x.lead_id, x.rep_id, x.assigned_at) AS t
              FROM lead_mgmt.assignments x)
        UPDATE lead_mgmt.assignments a
           SET first_touch_at = f.t
          FROM f
         WHERE a.id OPERATOR(pg_catalog.=) f.id
           AND NOT (a.first_touch_at IS NULL AND f.t IS NULL)
           AND (a.first_touch_at IS NULL OR f.t IS NULL
                OR a.first_touch_at OPERATOR(pg_catalog.<>) f.t);
    ELSE
        WITH f AS MATERIALIZED (
            SELECT x.id, lead_mgmt._first_touch(x.lead_id, x.rep_id, x.assigned_at) AS t
              FROM lead_mgmt.assignments x
             WHERE x.lead_id OPERATOR(pg_catalog.=) ANY (_first_touch_recompute.lead_ids))
        UPDATE lead_mgmt.assignments a
           SET first_touch_at = f.t
          FROM f
         WHERE a.id OPERATOR(pg_catalog.=) f.id
           AND NOT (a.first_touch_at IS NULL AND f.t IS NULL)
           AND (a.first_touch_at IS NULL OR f.t IS NULL
                OR a.first_touch_at OPERATOR(pg_catalog.<>) f.t);
    END IF;
END;
$$;
COMMENT ON FUNCTION lead_mgmt._first_touch_recompute(bigint[]) IS
    'internal: recomputes assignments.first_touch_at of the given leads (every lead when NULL)';

-- a new (or re-pointed) assignment gets its first touch from the events
-- already recorded (events dated at or after the assignment).  In C: it
-- looks the lead's events since the assignment up in events_lead_idx and
-- their types in the rules cache, and runs _first_touch's query only when
-- one of them is a sales touch.
CREATE FUNCTION lead_mgmt._assignments_first_touch() RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_assignments_first_touch';
COMMENT ON FUNCTION lead_mgmt._assignments_first_touch() IS
    'internal: sets first_touch_at of an assignment from the events recorded';
CREATE TRIGGER assignments_first_touch
    BEFORE INSERT OR UPDATE OF lead_id, rep_id, assigned_at ON lead_mgmt.assignments
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._assignments_first_touch();

-- a type that becomes, or stops being, a sales touch changes first touches
CREATE FUNCTION lead_mgmt._event_types_touch_changed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n ON n.name OPERATOR(pg_catalog.=) o.name
                WHERE (o.category OPERATOR(pg_catalog.=) 'sales_touch')
                      OPERATOR(pg_catalog.<>) (n.category OPERATOR(pg_catalog.=) 'sales_touch')
                   OR (o.category IS NULL) OPERATOR(pg_catalog.<>) (n.category IS NULL)) THEN
        PERFORM lead_mgmt._first_touch_recompute(NULL);
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION lead_mgmt._event_types_touch_changed() IS
    'internal: recomputes first sales touches when an event type enters or leaves category sales_touch';
CREATE TRIGGER event_types_touch_changed AFTER UPDATE ON lead_mgmt.event_types
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._event_types_touch_changed();

-- leads waiting for an owner: in a stage that assigns on entry (or above),
-- open (not a customer, by a purchase or by a stage at or above customer;
-- not disqualified), nobody eligible when they arrived
CREATE VIEW lead_mgmt.unassigned WITH (security_invoker = true) AS
SELECT l.id AS lead_id, l.stage, l.score, l.region, l.industry, l.stage_changed_at AS since
  FROM lead_mgmt.leads l
  JOIN lead_mgmt.stages s ON s.name OPERATOR(pg_catalog.=) l.stage
 WHERE l.owner_id IS NULL
   AND l.disqualified_at IS NULL
   AND l.converted_at IS NULL
   AND s.rank OPERATOR(pg_catalog.>=) (SELECT pg_catalog.min(a.rank) FROM lead_mgmt.stages a WHERE a.assign_on_entry)
   AND NOT EXISTS (SELECT 1 FROM lead_mgmt.stages c
                    WHERE c.name OPERATOR(pg_catalog.=) 'customer' AND s.rank OPERATOR(pg_catalog.>=) c.rank);
COMMENT ON VIEW lead_mgmt.unassigned IS 'sales-ready leads without an owner';

-- one row per rep
CREATE VIEW lead_mgmt.rep_performance WITH (security_invoker = true) AS
SELECT r.id AS rep_id,
       r.name,
       (SELECT pg_catalog.count(*) FROM lead_mgmt.leads l
         WHERE l.owner_id OPERATOR(pg_catalog.=) r.id
           AND l.converted_at IS NULL AND l.disqualified_at IS NULL
           AND l.stage OPERATOR(pg_catalog.<>) ALL (ARRAY(
                 SELECT s.name FROM lead_mgmt.stages s JOIN lead_mgmt.stages c
                     ON c.name OPERATOR(pg_catalog.=) 'customer' AND s.rank OPERATOR(pg_catalog.>=) c.rank))) AS open_leads,
       (SELECT pg_catalog.count(DISTINCT a.lead_id) FROM lead_mgmt.assignments a
         WHERE a.rep_id OPERATOR(pg_catalog.=) r.id) AS leads_assigned,
       d.deals_won,
       d.deals_lost,
       pg_catalog.round(100.0 * d.deals_won / NULLIF(d.deals_won + d.deals_lost, 0), 2) AS win_rate,
       d.revenue,
       (SELECT pg_catalog.round((pg_catalog.percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY pg_catalog.date_part('epoch', a.first_touch_at OPERATOR(pg_catalog.-) a.assigned_at)
                            OPERATOR(pg_catalog./) 3600.0))::numeric, 2)
          FROM lead_mgmt.assignments a
         WHERE a.rep_id OPERATOR(pg_catalog.=) r.id
           AND a.first_touch_at IS NOT NULL
           -- while the rep owned the lead: first_touch_at is the first touch
           -- since assigned_at, and one after ended_at is the next owner's
           -- (or, naming this rep, made when no longer the owner)
           AND (a.ended_at IS NULL
                OR a.first_touch_at OPERATOR(pg_catalog.<) a.ended_at)) AS median_hours_to_first_touch
  FROM lead_mgmt.reps r
  LEFT JOIN LATERAL (
        SELECT pg_catalog.count(*) FILTER (WHERE x.status OPERATOR(pg_catalog.=) 'won')  AS deals_won,
               pg_catalog.count(*) FILTER (WHERE x.status OPERATOR(pg_catalog.=) 'lost') AS deals_lost,
               COALESCE(pg_catalog.sum(x.amount) FILTER (WHERE x.status OPERATOR(pg_catalog.=) 'won'), 0) AS revenue
          FROM lead_mgmt.deals x
         WHERE x.rep_id OPERATOR(pg_catalog.=) r.id) d ON true;
COMMENT ON VIEW lead_mgmt.rep_performance IS
    'per rep: open leads, leads assigned, deals won and lost, win rate %, revenue, median hours to first sales touch';

SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.reps', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.reps_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.assignment_rules', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.assignment_rules_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.assignments', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.assignments_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.rotation_state', '');
