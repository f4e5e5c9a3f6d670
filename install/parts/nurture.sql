--------------------------------------------------------------------------
-- Nurture: sequences, enrolments, the touch queue
--
-- A lead whose state satisfies an active sequence's enroll_condition is
-- enrolled once (decided in C by the row trigger on leads, like segment
-- membership); its exit_condition, becoming a customer, being disqualified
-- or an email_unsubscribed event exits it and cancels pending touches.
-- Touches are created with their due time; senders claim due ones with
-- claim_touches() (SKIP LOCKED, leased) and report with complete_touch().
--------------------------------------------------------------------------
CREATE TABLE lead_mgmt.sequences (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text NOT NULL UNIQUE,
    enroll_condition jsonb NOT NULL,
    exit_condition   jsonb,
    active           boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE lead_mgmt.sequences IS
    'nurture sequences: who enters (enroll_condition), who leaves early (exit_condition)';

CREATE TABLE lead_mgmt.sequence_steps (
    sequence_id bigint NOT NULL REFERENCES lead_mgmt.sequences (id) ON DELETE CASCADE,
    step        integer NOT NULL CHECK (step >= 1),
    delay       interval NOT NULL DEFAULT '0',
    action      text NOT NULL,
    channel     text NOT NULL DEFAULT 'email',
    PRIMARY KEY (sequence_id, step)
);
COMMENT ON TABLE lead_mgmt.sequence_steps IS
    'the steps of a sequence: the first (lowest) step is due delay after enrolment, each later step delay after the previous touch is done';

CREATE TABLE lead_mgmt.enrollments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id     bigint NOT NULL REFERENCES lead_mgmt.leads (id) ON DELETE CASCADE,
    sequence_id bigint NOT NULL REFERENCES lead_mgmt.sequences (id) ON DELETE CASCADE,
    step        integer NOT NULL DEFAULT 1,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'exited')),
    enrolled_at timestamptz NOT NULL,
    ended_at    timestamptz,
    exit_reason text,
    UNIQUE (lead_id, sequence_id)
);
CREATE INDEX enrollments_active_idx ON lead_mgmt.enrollments (lead_id) WHERE status = 'active';
COMMENT ON TABLE lead_mgmt.enrollments IS
    'a lead in a sequence (once per lead and sequence); step is the current step';

CREATE TABLE lead_mgmt.touches (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enrollment_id bigint NOT NULL REFERENCES lead_mgmt.enrollments (id) ON DELETE CASCADE,
    lead_id       bigint NOT NULL REFERENCES lead_mgmt.leads (id) ON DELETE CASCADE,
    step          integer NOT NULL,
    action        text NOT NULL,
    channel       text NOT NULL,
    due_at        timestamptz NOT NULL,
    claimed_at    timestamptz,
    claimed_by    text,
    done_at       timestamptz,
    outcome       text,
    UNIQUE (enrollment_id, step)
);
CREATE INDEX touches_due_idx ON lead_mgmt.touches (due_at, id) WHERE done_at IS NULL;
CREATE INDEX touches_lead_idx ON lead_mgmt.touches (lead_id);
COMMENT ON TABLE lead_mgmt.touches IS
    'the touch queue: one row per step to perform; outcome cancelled when the enrolment exited';

CREATE TRIGGER sequences_validate BEFORE INSERT OR UPDATE ON lead_mgmt.sequences
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._config_validate();
CREATE TRIGGER sequences_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON lead_mgmt.sequences
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._config_changed();
-- (0.2) a step's delay is from 0 to 100 years: a negative one made a step
-- due before the previous one was done, a huge one put due times out of
-- range and failed the writers that enrol leads
CREATE TRIGGER sequence_steps_validate BEFORE INSERT OR UPDATE ON lead_mgmt.sequence_steps
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._config_validate();

-- writes of the row trigger on leads: enrol (with the first touch) and exit.
-- (0.2) The first step is the sequence's lowest step, whatever its number
-- (10, 20, 30 is a common habit): 0.1 looked for step 1 only and left the
-- enrolment active with nothing queued.
CREATE FUNCTION lead_mgmt._enroll(lead_ids bigint[], sequence_ids bigint[], times timestamptz[])
    RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH e AS (
        INSERT INTO lead_mgmt.enrollments (lead_id, sequence_id, step, enrolled_at)
        SELECT u.lead_id, u.sequence_id,
               COALESCE((SELECT pg_catalog.min(st.step) FROM lead_mgmt.sequence_steps st
                          WHERE st.sequence_id OPERATOR(pg_catalog.=) u.sequence_id), 1),
               u.at
          FROM ROWS FROM (pg_catalog.unnest(lead_ids), pg_catalog.unnest(sequence_ids), pg_catalog.unnest(times))
               AS u(lead_id, sequence_id, at)
         WHERE EXISTS (SELECT 1 FROM lead_mgmt.leads l WHERE l.id OPERATOR(pg_catalog.=) u.lead_id)
           AND EXISTS (SELECT 1 FROM lead_mgmt.sequences s WHERE s.id OPERATOR(pg_catalog.=) u.sequence_id)
         ORDER BY u.lead_id, u.sequence_id      -- ids in a stable order, whatever the plan
        ON CONFLICT (lead_id, sequence_id) DO NOTHING
        RETURNING id, lead_id, sequence_id, step, enrolled_at)
    INSERT INTO lead_mgmt.touches (enrollment_id, lead_id, step, action, channel, due_at)
    SELECT e.id, e.lead_id, st.step, st.action, st.channel, e.enrolled_at OPERATOR(pg_catalog.+) st.delay
      FROM e JOIN lead_mgmt.sequence_steps st
        ON st.sequence_id OPERATOR(pg_catalog.=) e.sequence_id AND st.step OPERATOR(pg_catalog.=) e.step
     ORDER BY e.id;
    -- (0.2) an enrolment in a sequence without steps yet waits, active
    -- and without a touch, for its first step (_sequence_steps_added)
$$;

-- (0.2) The first steps added to a sequence start the enrolments that wait
-- for them: an enrolment that is active and has no touch at all (its
-- sequence had no steps when it was enrolled) moves to the sequence's
-- lowest step, whose touch is due its delay after enrolment.  So the
-- natural recipe, a sequence and then its steps, nurtures the existing
-- leads it enrols retroactively instead of completing them at once, as
-- 0.1 did, which left them out of the sequence for good.
CREATE FUNCTION lead_mgmt._sequence_steps_added() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    WITH f AS (
        SELECT DISTINCT ON (st.sequence_id) st.sequence_id, st.step, st.delay, st.action, st.channel
          FROM lead_mgmt.sequence_steps st
         WHERE st.sequence_id IN (SELECT n.sequence_id FROM new_steps n)
         ORDER BY st.sequence_id, st.step
    ), e AS (
        UPDATE lead_mgmt.enrollments en SET step = f.step
          FROM f
         WHERE en.sequence_id OPERATOR(pg_catalog.=) f.sequence_id
           AND en.status OPERATOR(pg_catalog.=) 'active'
           AND NOT EXISTS (SELECT 1 FROM lead_mgmt.touches t
                            WHERE t.enrollment_id OPERATOR(pg_catalog.=) en.id)
        RETURNING en.id, en.lead_id, en.enrolled_at, f.step, f.delay, f.action, f.channel)
    INSERT INTO lead_mgmt.touches (enrollment_id, lead_id, step, action, channel, due_at)
    SELECT e.id, e.lead_id, e.step, e.action, e.channel, e.enrolled_at OPERATOR(pg_catalog.+) e.delay
      FROM e
     ORDER BY e.id;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION lead_mgmt._sequence_steps_added() IS
    'internal: queues the first touch of the enrolments that waited for their sequence''s first step';
CREATE TRIGGER sequence_steps_added AFTER INSERT ON lead_mgmt.sequence_steps
    REFERENCING NEW TABLE AS new_steps
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._sequence_steps_added();

CREATE FUNCTION lead_mgmt._exit(lead_ids bigint[], sequence_ids bigint[], reasons text[], times timestamptz[])
    RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
    -- sequence_id 0: every active enrolment of the lead
    WITH x AS (
        UPDATE lead_mgmt.enrollments en
           SET status = 'exited', ended_at = u.at, exit_reason = u.reason
          FROM ROWS FROM (pg_catalog.unnest(lead_ids), pg_catalog.unnest(sequence_ids),
                          pg_catalog.unnest(reasons), pg_catalog.unnest(times)) AS u(lead_id, sequence_id, reason, at)
         WHERE en.lead_id OPERATOR(pg_catalog.=) u.lead_id
           AND (u.sequence_id OPERATOR(pg_catalog.=) 0 OR en.sequence_id OPERATOR(pg_catalog.=) u.sequence_id)
           AND en.status OPERATOR(pg_catalog.=) 'active'
        RETURNING en.id, u.at)
    UPDATE lead_mgmt.touches t SET done_at = x.at, outcome = 'cancelled'
      FROM x
     WHERE t.enrollment_id OPERATOR(pg_catalog.=) x.id AND t.done_at IS NULL;
$$;

SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.sequences', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.sequences_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.sequence_steps', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.enrollments', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.enrollments_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.touches', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.touches_id_seq', '');
