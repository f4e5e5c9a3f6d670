--------------------------------------------------------------------------
-- Segments: named conditions with live membership
--
-- Membership is decided in C by the row trigger on leads, for the segments
-- whose condition can be affected by what changed, and mirrored into
-- segment_members only when it changes.  A change to segments re-evaluates
-- every lead in the same transaction (unless lead_mgmt.defer_rescore).
--------------------------------------------------------------------------
CREATE TABLE lead_mgmt.segments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    condition   jsonb NOT NULL,
    description text,
    active      boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE lead_mgmt.segments IS
    'named conditions on lead fields, attributes, behaviour and geography; membership is live';

-- No foreign keys, like events: rows are written only by lead_mgmt, in
-- bulk, and a per-row RI check would dominate a rebuild.  Deleting a lead
-- or a segment deletes its rows (triggers on leads and segments).
CREATE TABLE lead_mgmt.segment_members (
    segment_id bigint NOT NULL,
    lead_id    bigint NOT NULL,
    since      timestamptz NOT NULL,
    PRIMARY KEY (segment_id, lead_id)
);
CREATE INDEX segment_members_lead_idx ON lead_mgmt.segment_members (lead_id);
COMMENT ON TABLE lead_mgmt.segment_members IS
    'current members of each active segment, maintained by lead_mgmt; since = when the lead entered';

CREATE TRIGGER segments_validate BEFORE INSERT OR UPDATE ON lead_mgmt.segments
    FOR EACH ROW EXECUTE FUNCTION lead_mgmt._config_validate();
CREATE TRIGGER segments_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON lead_mgmt.segments
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._config_changed();

-- members of deleted or deactivated segments go at once, even while a
-- rescore is deferred
CREATE FUNCTION lead_mgmt._segments_prune() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM lead_mgmt.segment_members m
     WHERE NOT EXISTS (SELECT 1 FROM lead_mgmt.segments s
                        WHERE s.id OPERATOR(pg_catalog.=) m.segment_id AND s.active);
    RETURN NULL;
END;
$$;
CREATE TRIGGER segments_prune AFTER UPDATE OR DELETE OR TRUNCATE ON lead_mgmt.segments
    FOR EACH STATEMENT EXECUTE FUNCTION lead_mgmt._segments_prune();

CREATE VIEW lead_mgmt.lead_segments WITH (security_invoker = true) AS
SELECT m.lead_id, s.name AS segment, m.since
  FROM lead_mgmt.segment_members m
  JOIN lead_mgmt.segments s ON s.id OPERATOR(pg_catalog.=) m.segment_id;
COMMENT ON VIEW lead_mgmt.lead_segments IS 'which lead is in which segment, since when';

CREATE FUNCTION lead_mgmt.refresh_segments(segment_id bigint DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c CALLED ON NULL INPUT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'lm_refresh_segments';
COMMENT ON FUNCTION lead_mgmt.refresh_segments(bigint) IS
    're-evaluates membership of one segment, or all, for every lead and repairs segment_members; returns the number of changes made';

SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.segments', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.segments_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lead_mgmt.segment_members', '');
