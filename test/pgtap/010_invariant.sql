-- The invariant: what the triggers maintain equals a rescore from scratch.
--
-- A random (but seeded, so reproducible) stream of lead captures, events
-- (single rows, bulk inserts, late and windowed ones), updates and deletes
-- of events, lead field changes, rule edits, threshold moves and deferred
-- rescoring is replayed; after every round the maintained state of every
-- lead must equal what lead_mgmt.rescore() computes from scratch.
BEGIN;
SELECT plan(7);
SET LOCAL client_min_messages = warning;
SELECT setseed(0.4242);

-- extra: in odd rounds, events while a trigger of the user's on leads
-- rolls back a subtransaction of its own (an exception block that catches
-- an error) as lead_mgmt updates each lead
CREATE FUNCTION pg_temp.careful_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM 1 / 0;
    EXCEPTION WHEN division_by_zero THEN NULL;
    END;
    RETURN NEW;
END $$;
CREATE FUNCTION pg_temp.round_extra(r int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF r % 2 = 1 THEN
        CREATE TRIGGER a_careful BEFORE UPDATE ON lead_mgmt.leads
            FOR EACH ROW EXECUTE FUNCTION pg_temp.careful_trigger();
        INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at)
        SELECT (SELECT id FROM lead_mgmt.leads ORDER BY random() + g * 0 LIMIT 1),
               pg_temp.random_type(), now() - (random() * 20) * interval '1 day'
          FROM generate_series(1, 20) g;
        PERFORM lead_mgmt.track((SELECT id FROM lead_mgmt.leads ORDER BY random() LIMIT 1),
                                pg_temp.random_type());
        DROP TRIGGER a_careful ON lead_mgmt.leads;
    END IF;
END $$;
\ir lib/stream.psql

CREATE TEMP TABLE maintained (LIKE lead_mgmt.leads);

CREATE FUNCTION pg_temp.differences() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    -- leads touched during a deferred change are current; the others are
    -- only required to be current once rescore() has run
    TRUNCATE maintained;
    INSERT INTO maintained SELECT * FROM lead_mgmt.leads;
    PERFORM lead_mgmt.rescore();
    SELECT count(*) INTO n
      FROM maintained m JOIN lead_mgmt.leads l USING (id)
     WHERE (m.score, m.engagement_score, m.fit_score, m.stage, m.event_counts,
            m.recheck_at, m.last_event_at, m.converted_at)
           IS DISTINCT FROM
           (l.score, l.engagement_score, l.fit_score, l.stage, l.event_counts,
            l.recheck_at, l.last_event_at, l.converted_at);
    RETURN n;
END $$;

-- rounds without deferral must match exactly, rounds with it after rescore()
SELECT pg_temp.round(1);
SELECT is(pg_temp.differences(), 0::bigint, 'round 1: maintained state equals rescore()');
SELECT pg_temp.round(3);
SELECT is(pg_temp.differences(), 0::bigint, 'round 3: maintained state equals rescore()');
SELECT pg_temp.round(5);
SELECT is(pg_temp.differences(), 0::bigint, 'round 5: maintained state equals rescore()');
SELECT pg_temp.round(2);
DO $$ BEGIN PERFORM lead_mgmt.rescore(); END $$;
SELECT pg_temp.round(7);
SELECT is(pg_temp.differences(), 0::bigint, 'after a deferred round and rescore(): equal');

SELECT cmp_ok((SELECT count(*) FROM lead_mgmt.events), '>', 500::bigint, 'the stream produced events');
SELECT cmp_ok((SELECT count(DISTINCT stage) FROM lead_mgmt.leads), '>=', 3::bigint, 'leads spread over stages');
SELECT is((SELECT count(*) FROM lead_mgmt.leads l
            WHERE (SELECT coalesce(sum(points), 0) FROM lead_mgmt.explain_score(l.id)) <> l.score),
          0::bigint, 'explain_score sums to the score for every lead');

SELECT * FROM finish();
ROLLBACK;
