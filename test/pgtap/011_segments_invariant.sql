-- The segment invariant: live membership equals a rebuild from scratch.
--
-- A random (but seeded, so reproducible) stream of lead captures, events
-- (single rows, bulk inserts, late and windowed ones), updates and deletes
-- of events, lead field changes, rule edits, threshold moves and deferred
-- rescoring is replayed; after every round the maintained state of every
-- lead must equal what lead_mgmt.rescore() computes from scratch, and the
-- membership of every segment must equal evaluate() of its condition for
-- every lead, with refresh_segments() finding nothing to change.
BEGIN;
SELECT plan(9);
SET LOCAL client_min_messages = warning;
SELECT setseed(0.1717);

CREATE FUNCTION pg_temp.round_extra(r int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- segment edits
    UPDATE lead_mgmt.segments SET condition = jsonb_set(condition, '{value}', to_jsonb(150 + (random() * 200)::int))
     WHERE name = 'big';
    UPDATE lead_mgmt.segments SET active = NOT active WHERE name = 'unsubscribed';
END $$;
\ir lib/stream.psql
INSERT INTO lead_mgmt.segments (name, condition) VALUES
    ('fintech', '{"field": "industry", "op": "=", "value": "FINTECH"}'),
    ('big', '{"field": "company_size", "op": ">=", "value": 250}'),
    ('recent readers', '{"event": "email_opened", "within": "14 days", "min_count": 2}'),
    ('hot', '{"field": "score", "op": ">=", "value": 40}'),
    ('sales ready', '{"field": "stage", "op": ">=", "value": "sql"}'),
    ('magnet, no purchase', '{"all": [{"field": "lead_magnet", "op": "exists"}, {"event": "purchase", "max_count": 0}]}'),
    ('enterprise chatters', '{"any": [{"event": "chat_started", "properties": {"tier": "enterprise"}},
                                      {"event": "form_submitted", "properties": {"tier": "enterprise"}, "within": "20 days"}]}'),
    ('veterans', '{"field": "age", "op": ">=", "value": "30 days"}'),
    ('not banking', '{"not": {"field": "industry", "op": "in", "value": ["banking"]}}'),
    ('unsubscribed', '{"event": "email_unsubscribed"}');

-- membership rows that differ from evaluate() of the segment's condition
CREATE FUNCTION pg_temp.membership_differences() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*)
      FROM lead_mgmt.segments s CROSS JOIN lead_mgmt.leads l
     WHERE s.active
       AND lead_mgmt.evaluate(s.condition, l.id)
           IS DISTINCT FROM EXISTS (SELECT 1 FROM lead_mgmt.segment_members m
                                     WHERE m.segment_id = s.id AND m.lead_id = l.id)
$$;

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
     WHERE (m.score, m.stage, m.segment_ids) IS DISTINCT FROM (l.score, l.stage, l.segment_ids);
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

SELECT is(pg_temp.membership_differences(), 0::bigint, 'every membership equals evaluate() of the condition');
SELECT pg_temp.round(9);
SELECT is(lead_mgmt.refresh_segments(), 0::bigint, 'refresh_segments() after a round finds nothing to change');
SELECT cmp_ok((SELECT count(*) FROM lead_mgmt.events), '>', 500::bigint, 'the stream produced events');
SELECT cmp_ok((SELECT count(DISTINCT segment_id) FROM lead_mgmt.segment_members), '>=', 6::bigint, 'leads spread over segments');
SELECT is((SELECT count(*) FROM lead_mgmt.leads l
            WHERE (SELECT coalesce(sum(points), 0) FROM lead_mgmt.explain_score(l.id)) <> l.score),
          0::bigint, 'explain_score sums to the score for every lead');

SELECT * FROM finish();
ROLLBACK;
