-- outbox_decoding: the outbox read through logical decoding, as a change
-- data capture connector (Debezium's outbox event router) reads it, across
-- rotations with live events held over each: every event is inserted
-- exactly once and deleted at most once; a segment is truncated only when
-- nothing in it is live.  Two slots read the same stream: test_decoding
-- (every change of every segment) and pgoutput through the publication
-- doc/outbox.md recommends (inserts only, published as paycons.outbox).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS paycons;
RESET client_min_messages;

TRUNCATE paycons.outbox;
ALTER SEQUENCE paycons.outbox_id_seq RESTART WITH 5001;
SELECT pg_catalog.setval('paycons.outbox_slot_seq', 0, true);
CREATE PUBLICATION paycons_outbox_pub FOR TABLE paycons.outbox
    WITH (publish = 'insert', publish_via_partition_root = true);
-- what the connector gets: the root table, the API's column names
SELECT schemaname, tablename, attnames FROM pg_publication_tables
 WHERE pubname = 'paycons_outbox_pub';
SELECT 'init' FROM pg_create_logical_replication_slot('obx_td', 'test_decoding');
SELECT 'init' FROM pg_create_logical_replication_slot('obx_po', 'pgoutput');

-- poison events die at their first nack
INSERT INTO paycons.retry_policies (action, max_attempts) VALUES ('outbox:dl.poison', 1);

-- One round: 20 ordinary events over 5 aggregates; in odd rounds also a
-- poison event (dead letter), an event nacked for an hour (long retry) and
-- one whose consumer holds a one-hour lease and never answers (stuck
-- consumer), each on an aggregate of its own; consume everything that can
-- be; then rotate.  Even rounds leave nothing behind, so their segments are
-- truncated while the odd rounds' events stay live in theirs.
CREATE FUNCTION pg_temp.round(r integer) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    e record;
    n integer;
BEGIN
    PERFORM paycons.emit('dec', 'a' || (g % 5), 'ok', jsonb_build_object('r', r, 'g', g))
       FROM generate_series(1, 20) g;
    IF r % 2 = 1 THEN
        PERFORM paycons.emit('dec', 'poison-' || r, 'dl.poison', '{}');
        PERFORM paycons.emit('dec', 'slow-' || r, 'slow.retry', '{}');
        PERFORM paycons.emit('dec', 'stuck-' || r, 'stuck', '{}');
    END IF;
    LOOP
        n := 0;
        FOR e IN SELECT * FROM paycons.outbox_claim('dec-' || r, 100, '1 hour') LOOP
            n := n + 1;
            IF e.event_type = 'dl.poison' THEN
                PERFORM paycons.outbox_nack(e.id, 'poison', NULL, 'dec-' || r);
            ELSIF e.event_type = 'slow.retry' THEN
                PERFORM paycons.outbox_nack(e.id, 'later', '1 hour', 'dec-' || r);
            ELSIF e.event_type <> 'stuck' THEN
                PERFORM paycons.outbox_ack(ARRAY[e.id], 'dec-' || r);
            END IF;
        END LOOP;
        EXIT WHEN n = 0;
    END LOOP;
    -- two passes: the first rotates, the second truncates what emptied
    RETURN paycons.outbox_maintain(force => true) - 'busy' - 'segments'
           || jsonb_build_object('then', paycons.outbox_maintain(force => true) - 'busy' - 'segments');
END;
$$;

SELECT rotations AS rotations_before FROM paycons.outbox_rotation \gset
SELECT r, pg_temp.round(r) FROM generate_series(1, 6) r;
SELECT rotations - :rotations_before AS rotations FROM paycons.outbox_rotation;
-- held over: three live events per odd round, in the segment they were
-- written to
SELECT event_type, status, count(*), count(DISTINCT slot) AS segments
  FROM paycons.outbox GROUP BY 1, 2 ORDER BY 1, 2;

-- The operator redrives the dead letters, the retries come due, the stuck
-- leases expire: everything drains, and every segment but the current one
-- is truncated.
SELECT paycons.outbox_redrive(ARRAY(SELECT id FROM paycons.outbox_dead_letters));
UPDATE paycons.outbox SET available_at = now() WHERE status = 'pending';
UPDATE paycons.outbox SET lease_expires_at = now() WHERE status = 'leased';
SELECT paycons.outbox_ack(ARRAY(SELECT id FROM paycons.outbox_claim('final', 100)), 'final') AS drained;
SELECT count(*) AS left_over FROM paycons.outbox;
SELECT paycons.outbox_maintain(force => true) - 'busy' - 'segments' AS last_pass;

-- test_decoding: one row per change, in commit order
CREATE TEMP TABLE dec AS
SELECT n, m[1] AS segment, m[2] AS op,
       substring(data FROM 'id\[bigint\]:([0-9]+)')::bigint AS id
  FROM pg_logical_slot_get_changes('obx_td', NULL, NULL, 'include-xids', '0', 'skip-empty-xacts', '1')
       WITH ORDINALITY AS c(lsn, xid, data, n),
       LATERAL regexp_match(data, '^table paycons\.(outbox_[0-9]+): (INSERT|UPDATE|DELETE|TRUNCATE)') m
 WHERE m IS NOT NULL;
SELECT op, count(*) > 0 AS seen FROM dec GROUP BY op ORDER BY op;
-- every event inserted exactly once, deleted exactly once (all were acked)
SELECT count(DISTINCT id) AS events,
       count(*) FILTER (WHERE op = 'INSERT') AS inserts,
       count(*) FILTER (WHERE op = 'DELETE') AS deletes
  FROM dec WHERE op IN ('INSERT', 'DELETE');
SELECT id, op, count(*) FROM dec WHERE op IN ('INSERT', 'DELETE')
 GROUP BY id, op HAVING count(*) <> 1;
-- a segment is truncated only when every event inserted into it is deleted
SELECT t.segment, t.n FROM dec t
 WHERE t.op = 'TRUNCATE'
   AND EXISTS (SELECT 1 FROM dec i
                WHERE i.segment = t.segment AND i.op = 'INSERT' AND i.n < t.n
                  AND NOT EXISTS (SELECT 1 FROM dec d
                                   WHERE d.id = i.id AND d.op = 'DELETE' AND d.n < t.n));
-- the truncations and the events held over them
SELECT count(*) AS truncations,
       (SELECT count(DISTINCT segment) FROM dec WHERE op = 'INSERT') AS segments_used
  FROM dec WHERE op = 'TRUNCATE';
-- the round-1 dead letter stayed live (in its segment) while other segments
-- were truncated
SELECT count(*) AS truncations_while_live FROM dec t
 WHERE t.op = 'TRUNCATE'
   AND t.n > (SELECT n FROM dec WHERE op = 'INSERT' AND id = 5021)
   AND t.n < (SELECT n FROM dec WHERE op = 'DELETE' AND id = 5021);

-- pgoutput through the publication: one INSERT message per event, nothing
-- else (no UPDATE, DELETE or TRUNCATE), relation paycons.outbox
CREATE TEMP TABLE po AS
SELECT chr(get_byte(data, 0)) AS kind, data
  FROM pg_logical_slot_get_binary_changes('obx_po', NULL, NULL,
       'proto_version', '1', 'publication_names', 'paycons_outbox_pub');
SELECT kind, count(*) FROM po WHERE kind NOT IN ('B', 'C') GROUP BY kind ORDER BY kind;
SELECT DISTINCT encode(substring(data FROM 6 FOR 14), 'escape') AS relation
  FROM po WHERE kind = 'R';

SELECT pg_drop_replication_slot('obx_td');
SELECT pg_drop_replication_slot('obx_po');
DROP PUBLICATION paycons_outbox_pub;
DELETE FROM paycons.retry_policies WHERE action = 'outbox:dl.poison';
-- leave the three segments of a fresh install for the next test files
SELECT pg_catalog.setval('paycons.outbox_slot_seq', 0, true);
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = 'paycons.outbox'::regclass
                AND c.relname NOT IN ('outbox_0', 'outbox_1', 'outbox_2') LOOP
        EXECUTE format('DROP TABLE paycons.%I', t);
    END LOOP;
END;
$$;
