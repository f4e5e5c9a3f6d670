--------------------------------------------------------------------------
-- Distribution: reps, assignment rules, assignment history
--
-- When a lead enters a stage with assign_on_entry and has no owner, the row
-- trigger on leads (C) tries the active rules by priority and assigns the
-- lead in the same transaction.  Round robin and weighted rotation keep
-- their cursor in rotation_state, locked per rule, so they stay exact under
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
    sla_due_at  timestamptz
);
CREATE INDEX assignments_lead_idx ON lead_mgmt.assignments (lead_id, assigned_at);
CREATE INDEX assignments_rep_idx ON lead_mgmt.assignments (rep_id, assigned_at);
CREATE INDEX assignments_sla_idx ON lead_mgmt.assignments (sla_due_at)
    WHERE ended_at IS NULL AND sla_due_at IS NOT NULL;
COMMENT ON TABLE lead_mgmt.assignments IS
    'every assignment of a lead to a rep, never overwritten; ended_at closes it';

CREATE TABLE lead_mgmt.rotation_state (
    rule_id     bigint PRIMARY KEY REFERENCES lead_mgmt.assignment_rules (id) ON DELETE CASCADE,
    cursor      bigint,
    wrr_reps    bigint[] NOT NULL DEFAULT '{}',
    wrr_current bigint[] NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE lead_mgmt.rotation_state IS
    'internal: per rule, the round-robin cursor (last rep id) and the smooth weighted round-robin current weights';

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

-- leads waiting for an owner: in a stage that assigns on entry (or above),
-- open, not disqualified, nobody eligible when they arrived
CREATE VIEW lead_mgmt.unassigned WITH (security_invoker = true) AS
SELECT l.id AS lead_id, l.stage, l.score, l.region, l.industry, l.stage_changed_at AS since
  FROM lead_mgmt.leads l
  JOIN lead_mgmt.stages s ON s.name OPERATOR(pg_catalog.=) l.stage
 WHERE l.owner_id IS NULL
   AND l.disqualified_at IS NULL
   AND l.converted_at IS NULL
   AND s.rank OPERATOR(pg_catalog.>=) (SELECT pg_catalog.min(a.rank) FROM lead_mgmt.stages a WHERE a.assign_on_entry);
COMMENT ON VIEW lead_mgmt.unassigned IS 'sales-ready leads without an owner';

-- one row per rep
CREATE VIEW lead_mgmt.rep_performance WITH (security_invoker = true) AS
SELECT r.id AS rep_id,
       r.name,
       (SELECT pg_catalog.count(*) FROM lead_mgmt.leads l
         WHERE l.owner_id OPERATOR(pg_catalog.=) r.id
           AND l.converted_at IS NULL AND l.disqualified_at IS NULL) AS open_leads,
       (SELECT pg_catalog.count(DISTINCT a.lead_id) FROM lead_mgmt.assignments a
         WHERE a.rep_id OPERATOR(pg_catalog.=) r.id) AS leads_assigned,
       d.deals_won,
       d.deals_lost,
       pg_catalog.round(100.0 * d.deals_won / NULLIF(d.deals_won + d.deals_lost, 0), 2) AS win_rate,
       d.revenue,
       (SELECT pg_catalog.round((pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY t.hours))::numeric, 2)
          FROM (SELECT pg_catalog.date_part('epoch', pg_catalog.min(e.occurred_at) OPERATOR(pg_catalog.-) a.assigned_at) / 3600.0 AS hours
                  FROM lead_mgmt.assignments a
                  JOIN lead_mgmt.events e ON e.lead_id OPERATOR(pg_catalog.=) a.lead_id
                                         AND e.occurred_at OPERATOR(pg_catalog.>=) a.assigned_at
                  JOIN lead_mgmt.event_types et ON et.name OPERATOR(pg_catalog.=) e.event_type
                                              AND et.category OPERATOR(pg_catalog.=) 'sales_touch'
                 WHERE a.rep_id OPERATOR(pg_catalog.=) r.id
                   AND (NOT (e.properties ? 'rep_id')
                        OR e.properties OPERATOR(pg_catalog.->>) 'rep_id' OPERATOR(pg_catalog.=) r.id::text)
                 GROUP BY a.id, a.assigned_at) t) AS median_hours_to_first_touch
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
