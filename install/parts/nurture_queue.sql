--------------------------------------------------------------------------
-- Nurture: the touch queue, follow-ups, and their share of maintenance
--
-- The extension never sends anything: it decides what is due and hands it
-- to the application's senders.  A sender loop is
--     claim_touches(worker, max)  ->  perform each touch  ->  complete_touch(id, outcome)
-- claim_touches hands each due touch to exactly one worker (FOR UPDATE
-- SKIP LOCKED) and leases it for the setting touch_lease: a claim that is
-- never completed (the worker died after committing its claim) returns to
-- the queue once the lease has run out; a claim in a transaction that never
-- commits (the worker died mid-transaction) is not seen at all.
-- complete_touch records the outcome, records email_sent for a sent email
-- step (once: dedupe_key touch:<id>), and advances the enrolment: the next
-- step is due its delay after this touch is done; after the last step the
-- enrolment is completed.
--
-- Lock order, the same as the row trigger on leads (which exits enrolments
-- and cancels their touches while holding the lead's row): lead, then
-- enrolment, then touch.  claim_touches locks only touches, and never waits
-- (SKIP LOCKED), so senders and writers of events cannot deadlock.
--
-- Built-ins are schema-qualified; operators are written
-- OPERATOR(pg_catalog.x) (CVE-2018-1058 class hardening).
--------------------------------------------------------------------------

-- the interval value of a setting, or its documented default when the row
-- was deleted
CREATE FUNCTION lead_mgmt._setting_interval(name text)
    RETURNS interval
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE(
        (SELECT s.value::pg_catalog.interval FROM lead_mgmt.settings s
          WHERE s.name OPERATOR(pg_catalog.=) _setting_interval.name),
        CASE _setting_interval.name
            WHEN 'mql_stall_after' THEN '14 days'::pg_catalog.interval
            WHEN 'winback_after'   THEN '30 days'::pg_catalog.interval
            WHEN 'default_sla'     THEN '2 days'::pg_catalog.interval
            WHEN 'touch_lease'     THEN '5 minutes'::pg_catalog.interval
        END);
$$;
COMMENT ON FUNCTION lead_mgmt._setting_interval(text) IS
    'internal: a setting of lead_mgmt.settings as an interval (its documented default when absent)';

--------------------------------------------------------------------------
-- claim_touches(worker, max): hand due touches to one worker
--------------------------------------------------------------------------
CREATE FUNCTION lead_mgmt.claim_touches(worker text, max integer DEFAULT 100)
    RETURNS TABLE (touch_id bigint, lead_id bigint, email text, first_name text,
                   last_name text, sequence_name text, step integer, action text,
                   channel text, due_at timestamptz)
    LANGUAGE plpgsql
    SET jit = off    -- see _nurture_maintenance
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_lease interval;
BEGIN
    IF claim_touches.worker IS NULL OR pg_catalog.btrim(claim_touches.worker) OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'worker must be a non-empty name',
            HINT = 'Pass a name that identifies the sender process, for example its host and pid; it is stored in touches.claimed_by.';
    END IF;
    IF claim_touches.max IS NULL OR claim_touches.max OPERATOR(pg_catalog.<) 1
       OR claim_touches.max OPERATOR(pg_catalog.>) 10000 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = pg_catalog.format('max must be between 1 and 10000, not %s',
                                        COALESCE(claim_touches.max::pg_catalog.text, 'null')),
            HINT = 'Claim a batch a worker can perform within the touch_lease setting, for example 100.';
    END IF;
    v_lease := lead_mgmt._setting_interval('touch_lease');

    RETURN QUERY
    WITH c AS (
        -- due, not done, never claimed or its lease ran out; oldest first
        SELECT t.id
          FROM lead_mgmt.touches t
         WHERE t.done_at IS NULL
           AND t.due_at OPERATOR(pg_catalog.<=) pg_catalog.now()
           AND (t.claimed_at IS NULL
                OR t.claimed_at OPERATOR(pg_catalog.+) v_lease OPERATOR(pg_catalog.<=) pg_catalog.now())
           -- of an active enrolment in an active sequence: a correlated
           -- lookup by primary key on purpose (see _nurture_maintenance)
           AND COALESCE((SELECT en.status OPERATOR(pg_catalog.=) 'active' AND sq.active
                           FROM lead_mgmt.enrollments en
                           JOIN lead_mgmt.sequences sq ON sq.id OPERATOR(pg_catalog.=) en.sequence_id
                          WHERE en.id OPERATOR(pg_catalog.=) t.enrollment_id), false)
         ORDER BY t.due_at, t.id
         LIMIT claim_touches.max
           FOR UPDATE OF t SKIP LOCKED),
    u AS (
        UPDATE lead_mgmt.touches t
           SET claimed_at = pg_catalog.now(), claimed_by = claim_touches.worker
          FROM c
         WHERE t.id OPERATOR(pg_catalog.=) c.id
        RETURNING t.id, t.enrollment_id, t.lead_id, t.step, t.action, t.channel, t.due_at)
    SELECT u.id, u.lead_id, l.email, l.first_name, l.last_name, sq.name,
           u.step, u.action, u.channel, u.due_at
      FROM u
      JOIN lead_mgmt.leads l ON l.id OPERATOR(pg_catalog.=) u.lead_id
      JOIN lead_mgmt.enrollments en ON en.id OPERATOR(pg_catalog.=) u.enrollment_id
      JOIN lead_mgmt.sequences sq ON sq.id OPERATOR(pg_catalog.=) en.sequence_id
     ORDER BY u.due_at, u.id;
END;
$$;
COMMENT ON FUNCTION lead_mgmt.claim_touches(text, integer) IS
    'claims up to max due touches for a worker (each due touch goes to one worker; a claim not completed returns after the touch_lease setting) and returns what the sender needs';

--------------------------------------------------------------------------
-- complete_touch(touch_id, outcome): report a touch, advance the enrolment
--------------------------------------------------------------------------
CREATE FUNCTION lead_mgmt.complete_touch(touch_id bigint, outcome text DEFAULT 'sent')
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_lead     bigint;
    v_enr      bigint;
    v_t        lead_mgmt.touches%ROWTYPE;
    v_en       lead_mgmt.enrollments%ROWTYPE;
    v_seq      text;
    v_next     lead_mgmt.sequence_steps%ROWTYPE;
    v_next_id  bigint;
BEGIN
    IF complete_touch.touch_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'touch_id must not be null',
            HINT = 'Pass the touch_id that lead_mgmt.claim_touches() returned.';
    END IF;
    IF complete_touch.outcome IS NULL OR pg_catalog.btrim(complete_touch.outcome) OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'outcome must not be null or empty',
            HINT = 'Report what happened, for example ''sent'' (the default), ''skipped'' or ''failed''.';
    END IF;
    IF complete_touch.outcome OPERATOR(pg_catalog.=) 'cancelled' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'outcome "cancelled" is reserved for touches of exited enrolments',
            HINT = 'Report what the sender did, for example ''skipped''; to stop a lead''s nurture, disqualify it or give the sequence an exit_condition.';
    END IF;

    SELECT t.lead_id, t.enrollment_id INTO v_lead, v_enr
      FROM lead_mgmt.touches t WHERE t.id OPERATOR(pg_catalog.=) complete_touch.touch_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'no_data_found',
            MESSAGE = pg_catalog.format('touch %s does not exist', complete_touch.touch_id),
            HINT = 'Pass the touch_id that lead_mgmt.claim_touches() returned; touches are deleted with their lead or sequence.';
    END IF;

    -- lock order of the triggers: lead, enrolment, touch
    PERFORM 1 FROM lead_mgmt.leads l WHERE l.id OPERATOR(pg_catalog.=) v_lead FOR NO KEY UPDATE;
    SELECT en.* INTO v_en FROM lead_mgmt.enrollments en
     WHERE en.id OPERATOR(pg_catalog.=) v_enr FOR NO KEY UPDATE;
    SELECT t.* INTO v_t FROM lead_mgmt.touches t
     WHERE t.id OPERATOR(pg_catalog.=) complete_touch.touch_id FOR UPDATE;
    IF NOT FOUND OR v_en.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'no_data_found',
            MESSAGE = pg_catalog.format('touch %s does not exist', complete_touch.touch_id),
            HINT = 'It was deleted concurrently, with its lead or sequence; there is nothing to report.';
    END IF;

    IF v_t.done_at IS NOT NULL THEN
        IF v_t.outcome OPERATOR(pg_catalog.=) 'cancelled' THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = pg_catalog.format('touch %s was cancelled: lead %s left the sequence (%s)',
                                            v_t.id, v_t.lead_id, COALESCE(v_en.exit_reason, v_en.status)),
                HINT = 'Do not perform it; a touch already performed can be recorded with lead_mgmt.track(), for example an email_sent event.';
        END IF;
        IF v_t.outcome OPERATOR(pg_catalog.=) complete_touch.outcome THEN
            -- a retry of the same report: nothing to do; same answer
            SELECT n.id INTO v_next_id FROM lead_mgmt.touches n
             WHERE n.enrollment_id OPERATOR(pg_catalog.=) v_t.enrollment_id
               AND n.step OPERATOR(pg_catalog.>) v_t.step
             ORDER BY n.step LIMIT 1;
            RETURN v_next_id;
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = pg_catalog.format('touch %s is already done with outcome "%s"', v_t.id, v_t.outcome),
            HINT = 'A touch is reported once; repeating the same outcome is accepted as a retry.';
    END IF;
    IF v_en.status OPERATOR(pg_catalog.<>) 'active' THEN
        -- not reachable through the API (an exit cancels pending touches)
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = pg_catalog.format('touch %s belongs to an enrolment that is %s', v_t.id, v_en.status),
            HINT = 'Do not perform it; claim new touches with lead_mgmt.claim_touches().';
    END IF;

    UPDATE lead_mgmt.touches t
       SET done_at = pg_catalog.now(), outcome = complete_touch.outcome
     WHERE t.id OPERATOR(pg_catalog.=) v_t.id;

    SELECT sq.name INTO v_seq FROM lead_mgmt.sequences sq WHERE sq.id OPERATOR(pg_catalog.=) v_en.sequence_id;
    IF pg_catalog.lower(v_t.channel) OPERATOR(pg_catalog.=) 'email'
       AND complete_touch.outcome OPERATOR(pg_catalog.=) 'sent' THEN
        PERFORM lead_mgmt.track(v_t.lead_id, 'email_sent',
                                pg_catalog.jsonb_build_object('sequence', v_seq, 'step', v_t.step,
                                                              'action', v_t.action, 'touch_id', v_t.id),
                                pg_catalog.now(),
                                'touch:' OPERATOR(pg_catalog.||) v_t.id::pg_catalog.text);
        -- the event may have exited the enrolment (its exit_condition)
        SELECT en.* INTO v_en FROM lead_mgmt.enrollments en WHERE en.id OPERATOR(pg_catalog.=) v_enr;
        IF v_en.status OPERATOR(pg_catalog.<>) 'active' THEN
            RETURN NULL;
        END IF;
    END IF;

    SELECT st.* INTO v_next FROM lead_mgmt.sequence_steps st
     WHERE st.sequence_id OPERATOR(pg_catalog.=) v_en.sequence_id
       AND st.step OPERATOR(pg_catalog.>) v_t.step
     ORDER BY st.step LIMIT 1;
    IF FOUND THEN
        INSERT INTO lead_mgmt.touches (enrollment_id, lead_id, step, action, channel, due_at)
        VALUES (v_en.id, v_t.lead_id, v_next.step, v_next.action, v_next.channel,
                pg_catalog.now() OPERATOR(pg_catalog.+) v_next.delay)
        RETURNING id INTO v_next_id;
        UPDATE lead_mgmt.enrollments en SET step = v_next.step
         WHERE en.id OPERATOR(pg_catalog.=) v_en.id;
    ELSE
        UPDATE lead_mgmt.enrollments en SET status = 'completed', ended_at = pg_catalog.now()
         WHERE en.id OPERATOR(pg_catalog.=) v_en.id;
    END IF;
    RETURN v_next_id;
END;
$$;
COMMENT ON FUNCTION lead_mgmt.complete_touch(bigint, text) IS
    'reports a touch (outcome sent by default; a sent email records email_sent once) and advances the enrolment; returns the next touch id, or null when the enrolment ended';

--------------------------------------------------------------------------
-- followups: leads that did not buy, and what to do about them
--------------------------------------------------------------------------
CREATE VIEW lead_mgmt.followups WITH (security_invoker = true) AS
WITH cfg AS (
    SELECT lead_mgmt._setting_interval('mql_stall_after') AS mql_stall_after,
           lead_mgmt._setting_interval('winback_after')   AS winback_after,
           lead_mgmt._setting_interval('default_sla')     AS default_sla
)
-- sales-qualified, owned, and the owner recorded no sales touch within the SLA
SELECT l.id AS lead_id, l.owner_id, l.stage,
       'sql_not_contacted'::pg_catalog.text AS reason,
       COALESCE(a.sla_due_at,
                a.assigned_at OPERATOR(pg_catalog.+) COALESCE(a.sla, cfg.default_sla)) AS since,
       'rep_follow_up'::pg_catalog.text AS action
  FROM cfg
 CROSS JOIN lead_mgmt.leads l
 CROSS JOIN LATERAL (
        SELECT COALESCE(oa.assigned_at, l.assigned_at) AS assigned_at, r.sla, oa.sla_due_at,
               oa.id AS assignment_id, oa.first_touch_at
          FROM (SELECT 1) one
          LEFT JOIN LATERAL (
                SELECT x.id, x.assigned_at, x.rule_id, x.first_touch_at, x.sla_due_at
                  FROM lead_mgmt.assignments x
                 WHERE x.lead_id OPERATOR(pg_catalog.=) l.id
                   AND x.rep_id OPERATOR(pg_catalog.=) l.owner_id
                   AND x.ended_at IS NULL
                 ORDER BY x.assigned_at DESC, x.id DESC LIMIT 1) oa ON true
          LEFT JOIN lead_mgmt.assignment_rules r ON r.id OPERATOR(pg_catalog.=) oa.rule_id) a
 WHERE l.stage OPERATOR(pg_catalog.=) 'sql'
   AND l.owner_id IS NOT NULL
   AND l.disqualified_at IS NULL
   AND a.assigned_at IS NOT NULL
   -- the deadline fixed at assignment, which maintenance reassigns by; an
   -- owner without one (set by hand under 0.1) by the rule's or default SLA
   AND COALESCE(a.sla_due_at,
                a.assigned_at OPERATOR(pg_catalog.+) COALESCE(a.sla, cfg.default_sla))
       OPERATOR(pg_catalog.<=) pg_catalog.now()
   -- no sales touch by the owner since: the open assignment keeps its
   -- first one; an owner without an assignment row reads the events
   AND CASE WHEN a.assignment_id IS NOT NULL THEN a.first_touch_at IS NULL
            ELSE NOT EXISTS (
                SELECT 1 FROM lead_mgmt.events e
                  JOIN lead_mgmt.event_types et ON et.name OPERATOR(pg_catalog.=) e.event_type
                                               AND et.category OPERATOR(pg_catalog.=) 'sales_touch'
                 WHERE e.lead_id OPERATOR(pg_catalog.=) l.id
                   AND e.occurred_at OPERATOR(pg_catalog.>=) a.assigned_at
                   AND (NOT (e.properties OPERATOR(pg_catalog.?) 'rep_id')
                        OR e.properties OPERATOR(pg_catalog.->>) 'rep_id'
                           OPERATOR(pg_catalog.=) l.owner_id::pg_catalog.text)) END
UNION ALL
-- marketing-qualified for longer than mql_stall_after
SELECT l.id, l.owner_id, l.stage,
       'mql_stalled',
       l.stage_changed_at OPERATOR(pg_catalog.+) cfg.mql_stall_after,
       'retarget'
  FROM cfg
 CROSS JOIN lead_mgmt.leads l
 WHERE l.stage OPERATOR(pg_catalog.=) 'mql'
   AND l.disqualified_at IS NULL
   AND l.stage_changed_at OPERATOR(pg_catalog.+) cfg.mql_stall_after OPERATOR(pg_catalog.<=) pg_catalog.now()
   -- the same, loosened by the most that month arithmetic can shift it,
   -- in a form a range of leads_stage_idx (stage, stage_changed_at) answers
   AND l.stage_changed_at OPERATOR(pg_catalog.<=)
       ((pg_catalog.now() OPERATOR(pg_catalog.-) cfg.mql_stall_after) OPERATOR(pg_catalog.+) '4 days'::pg_catalog.interval)
UNION ALL
-- the last closed deal was lost more than winback_after ago, none is open
-- (driven by the lost deals old enough, deals_status_closed_idx: the cost
-- follows the deals, not the leads)
SELECT l.id, l.owner_id, l.stage,
       'deal_lost',
       d.closed_at OPERATOR(pg_catalog.+) cfg.winback_after,
       'win_back'
  FROM cfg
  JOIN lead_mgmt.deals d
    ON d.status OPERATOR(pg_catalog.=) 'lost'
   AND d.closed_at OPERATOR(pg_catalog.<=) (pg_catalog.now() OPERATOR(pg_catalog.-) cfg.winback_after)
  JOIN lead_mgmt.leads l ON l.id OPERATOR(pg_catalog.=) d.lead_id
 WHERE l.disqualified_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM lead_mgmt.deals o
                    WHERE o.lead_id OPERATOR(pg_catalog.=) d.lead_id
                      AND (o.status OPERATOR(pg_catalog.=) 'open'
                           OR o.closed_at OPERATOR(pg_catalog.>) d.closed_at
                           OR (o.closed_at OPERATOR(pg_catalog.=) d.closed_at
                               AND o.id OPERATOR(pg_catalog.>) d.id)));
COMMENT ON VIEW lead_mgmt.followups IS
    'leads that did not buy: sql_not_contacted -> rep_follow_up, mql_stalled -> retarget, deal_lost -> win_back; since = when the reason began to hold';

--------------------------------------------------------------------------
-- run_maintenance's share: expired leases, the queue
--------------------------------------------------------------------------
-- Releases the claims whose lease ran out by `at` (claimed_at, claimed_by
-- cleared: the touch is back in the queue, visibly) and counts the touches
-- due by `at` that wait for a worker.  Claims held by a transaction still
-- running are skipped, never waited for.  Claimed touches were due when
-- claimed, so both scans are ranges of touches_due_idx (due_at <= at):
-- the cost follows the backlog, not the table.  A second run at the same
-- `at` releases nothing; touches_due is the queue length (a gauge).
CREATE FUNCTION lead_mgmt._nurture_maintenance(at timestamptz)
    RETURNS jsonb
    LANGUAGE plpgsql
    -- plan with the value of `at` (an index range scan of due_at <= at);
    -- no JIT: the row estimate of that range is often far too high (done
    -- touches all lie in the past), and compiling would cost more than the
    -- scan of what is really due
    SET plan_cache_mode = force_custom_plan
    SET jit = off
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_lease    interval := lead_mgmt._setting_interval('touch_lease');
    v_released bigint;
    v_due      bigint;
BEGIN
    WITH expired AS (
        SELECT x.id FROM lead_mgmt.touches x
         WHERE x.done_at IS NULL
           AND x.due_at OPERATOR(pg_catalog.<=) _nurture_maintenance.at
           AND x.claimed_at IS NOT NULL
           AND x.claimed_at OPERATOR(pg_catalog.+) v_lease OPERATOR(pg_catalog.<=) _nurture_maintenance.at
           FOR UPDATE OF x SKIP LOCKED),
    released AS (
        UPDATE lead_mgmt.touches t SET claimed_at = NULL, claimed_by = NULL
          FROM expired
         WHERE t.id OPERATOR(pg_catalog.=) expired.id
        RETURNING 1)
    SELECT pg_catalog.count(*) INTO v_released FROM released;

    SELECT pg_catalog.count(*) INTO v_due
      FROM lead_mgmt.touches t
     WHERE t.done_at IS NULL
       AND t.due_at OPERATOR(pg_catalog.<=) _nurture_maintenance.at
       AND (t.claimed_at IS NULL
            OR t.claimed_at OPERATOR(pg_catalog.+) v_lease OPERATOR(pg_catalog.<=) _nurture_maintenance.at)
       -- a correlated lookup by primary key, on purpose: the planner cannot
       -- turn it into a join, so the cost is that of the due touches whatever
       -- it estimates (done touches all lie in the past, which makes
       -- "due_at <= at" among undone ones look far less selective than it is)
       AND COALESCE((SELECT en.status OPERATOR(pg_catalog.=) 'active' AND sq.active
                       FROM lead_mgmt.enrollments en
                       JOIN lead_mgmt.sequences sq ON sq.id OPERATOR(pg_catalog.=) en.sequence_id
                      WHERE en.id OPERATOR(pg_catalog.=) t.enrollment_id), false);

    RETURN pg_catalog.jsonb_build_object('touches_released', v_released, 'touches_due', v_due);
END;
$$;
COMMENT ON FUNCTION lead_mgmt._nurture_maintenance(timestamptz) IS
    'internal, called by run_maintenance(at): releases touch claims whose lease ran out by at; counts touches due by at';
