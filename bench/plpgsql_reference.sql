-- bench/plpgsql_reference.sql: the baseline lead_mgmt is measured against.
--
-- What a DBA would write by hand for event scoring and stage thresholds: a
-- row-level PL/pgSQL trigger on events.  On each inserted event it
--   1. looks up the active event rules of the event's type whose properties
--      the event contains (jsonb @>),
--   2. honours max_occurrences by counting the lead's earlier matching events,
--   3. adds the points to the lead's score (and records them on the event),
--   4. moves the lead up to the highest stage whose min_score it reaches.
-- No windows, no condition rules, no segments, no stage history, no
-- retroactive rescoring: strictly less work than lead_mgmt does, so the
-- comparison flatters the reference, not lead_mgmt.
--
-- The tables mirror lead_mgmt's where it matters for the cost: the same
-- event columns and indexes (PK, unique dedupe_key, (lead_id, occurred_at)),
-- leads with fillfactor 70 so that score updates can be HOT.  Like
-- lead_mgmt.events (and unlike the first thing a DBA might write), events
-- carry no foreign key: the trigger's UPDATE of the lead already refuses an
-- event for a missing lead, and a per-row RI check would only add cost.
--
-- Loading this file (re)creates schema ref, empty.  bench/run.sh fills
-- ref.scoring_rules and ref.stages from lead_mgmt's configuration (event
-- rules without a window; stages with a min_score) and ref.leads from
-- lead_mgmt.leads, with score 0 and stage 'lead'.

DROP SCHEMA IF EXISTS ref CASCADE;
CREATE SCHEMA ref;

CREATE TABLE ref.scoring_rules (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    event_type      text NOT NULL,
    properties      jsonb,
    points          integer NOT NULL,
    max_occurrences integer CHECK (max_occurrences > 0),
    active          boolean NOT NULL DEFAULT true
);
CREATE INDEX ON ref.scoring_rules (event_type) WHERE active;

CREATE TABLE ref.stages (
    name      text PRIMARY KEY,
    rank      integer NOT NULL UNIQUE,
    min_score integer
);

CREATE TABLE ref.leads (
    id             bigint PRIMARY KEY,
    external_id    text UNIQUE,
    email          text,
    first_name     text,
    last_name      text,
    company        text,
    job_title      text,
    industry       text,
    company_size   integer,
    annual_revenue numeric(14,2),
    country        text,
    region         text,
    city           text,
    channel        text,
    campaign       text,
    lead_magnet    text,
    attributes     jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    score          integer NOT NULL DEFAULT 0,
    stage          text NOT NULL DEFAULT 'lead',
    stage_changed_at timestamptz,
    last_event_at  timestamptz
) WITH (fillfactor = 70);

CREATE TABLE ref.events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id     bigint NOT NULL,  -- checked by the trigger (see above), like lead_mgmt
    event_type  text NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    properties  jsonb NOT NULL DEFAULT '{}',
    dedupe_key  text UNIQUE,
    points      integer
);
CREATE INDEX ON ref.events (lead_id, occurred_at);

CREATE FUNCTION ref.score_event() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    r         ref.scoring_rules;
    n_prior   bigint;
    v_points  integer := 0;
    v_score   integer;
    v_stage   text;
    v_rank    integer;
    v_new     text;
BEGIN
    FOR r IN
        SELECT * FROM ref.scoring_rules
         WHERE active AND event_type = NEW.event_type
           AND (properties IS NULL OR NEW.properties @> properties)
    LOOP
        IF r.max_occurrences IS NOT NULL THEN
            SELECT count(*) INTO n_prior
              FROM ref.events e
             WHERE e.lead_id = NEW.lead_id
               AND e.event_type = r.event_type
               AND (r.properties IS NULL OR e.properties @> r.properties);
            CONTINUE WHEN n_prior >= r.max_occurrences;
        END IF;
        v_points := v_points + r.points;
    END LOOP;
    NEW.points := v_points;

    UPDATE ref.leads
       SET score = score + v_points,
           last_event_at = greatest(last_event_at, NEW.occurred_at)
     WHERE id = NEW.lead_id
    RETURNING score, stage INTO v_score, v_stage;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'lead % does not exist', NEW.lead_id;
    END IF;

    IF v_points > 0 THEN
        SELECT rank INTO v_rank FROM ref.stages WHERE name = v_stage;
        SELECT name INTO v_new
          FROM ref.stages
         WHERE min_score <= v_score AND rank > v_rank
         ORDER BY rank DESC
         LIMIT 1;
        IF v_new IS NOT NULL THEN
            UPDATE ref.leads SET stage = v_new, stage_changed_at = now() WHERE id = NEW.lead_id;
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER events_score BEFORE INSERT ON ref.events
    FOR EACH ROW EXECUTE FUNCTION ref.score_event();
