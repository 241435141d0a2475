/*
 * 30_outbox.sql -- the transactional outbox.
 *
 * Column names: see doc/outbox.md for the Debezium outbox event router's
 * configuration (three table.field overrides: the names here are the API's).
 *
 * paycons.outbox is list-partitioned on "slot" into segments outbox_0,
 * outbox_1, ... (three at install, more created on demand, at most 16).
 * New events go into the current segment; acknowledged events are deleted;
 * paycons.outbox_maintain() TRUNCATEs a segment only once it holds no event
 * at all, and makes an empty segment the current one.  An event is written
 * once and deleted once: nothing is ever copied, so a connector reading the
 * table's WAL sees each event inserted exactly once.  A segment still
 * holding a long-lived event (a dead letter, a long retry delay, a stuck
 * lease) simply waits, and the ring goes on with the others; a new segment
 * is attached when none is empty (including while a long transaction keeps
 * a lock on the old ones).  Dead tuples and dead index entries therefore
 * live only as long as their segment is in use.
 */

-- The current segment is outbox_slot_seq's last value (a sequence because it
-- is not transactional: every inserter sees a rotation at once).
CREATE SEQUENCE paycons.outbox_slot_seq MINVALUE 0 START 0;
SELECT pg_catalog.setval('paycons.outbox_slot_seq', 0, true);
COMMENT ON SEQUENCE paycons.outbox_slot_seq IS
    'outbox rotation: the current segment is paycons.outbox_<last_value>';

CREATE FUNCTION paycons.outbox_current_slot() RETURNS smallint
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
    SELECT last_value::pg_catalog.int2 FROM paycons.outbox_slot_seq
$$;
COMMENT ON FUNCTION paycons.outbox_current_slot() IS
    'the outbox segment (partition) new events go into';

CREATE TABLE paycons.outbox (
    id               bigserial,
    aggregate_type   text NOT NULL,
    aggregate_id     text NOT NULL,
    event_type       text NOT NULL,
    payload          jsonb NOT NULL DEFAULT '{}',
    headers          jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    available_at     timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'pending'
                     CONSTRAINT outbox_status_valid CHECK (status IN ('pending', 'leased', 'acked', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_expires_at timestamptz,
    last_error       text,
    slot             smallint NOT NULL DEFAULT paycons.outbox_current_slot(),
    CONSTRAINT outbox_pkey PRIMARY KEY (id, slot)
) PARTITION BY LIST (slot);
CREATE TABLE paycons.outbox_0 PARTITION OF paycons.outbox FOR VALUES IN (0)
    WITH (fillfactor = 50);
CREATE TABLE paycons.outbox_1 PARTITION OF paycons.outbox FOR VALUES IN (1)
    WITH (fillfactor = 50);
CREATE TABLE paycons.outbox_2 PARTITION OF paycons.outbox FOR VALUES IN (2)
    WITH (fillfactor = 50);
CREATE INDEX outbox_aggregate ON paycons.outbox (aggregate_type, aggregate_id, id);

COMMENT ON TABLE paycons.outbox IS
    'transactional outbox: events written in the same transaction as the change they describe; acknowledged events are deleted';
COMMENT ON COLUMN paycons.outbox.id IS 'event id (Debezium: table.field.event.id, default id); increases with commit order within one aggregate';
COMMENT ON COLUMN paycons.outbox.aggregate_type IS 'Debezium: route.by.field=aggregate_type (routes to a topic)';
COMMENT ON COLUMN paycons.outbox.aggregate_id IS 'Debezium: table.field.event.key=aggregate_id (message key; per-aggregate FIFO)';
COMMENT ON COLUMN paycons.outbox.event_type IS 'Debezium: table.field.event.type=event_type';
COMMENT ON COLUMN paycons.outbox.payload IS 'Debezium: table.field.event.payload, default payload';
COMMENT ON COLUMN paycons.outbox.status IS
    'pending (waiting or due), leased (handed to lease_owner until lease_expires_at), dead (dead letter); acknowledged events are deleted';
COMMENT ON COLUMN paycons.outbox.attempts IS 'how many times the event was handed out';
COMMENT ON COLUMN paycons.outbox.slot IS 'segment (partition) the row was written to and stays in (internal)';
COMMENT ON TABLE paycons.outbox_0 IS 'outbox segment (see paycons.outbox_maintain)';
COMMENT ON TABLE paycons.outbox_1 IS 'outbox segment (see paycons.outbox_maintain)';
COMMENT ON TABLE paycons.outbox_2 IS 'outbox segment (see paycons.outbox_maintain)';
SELECT pg_catalog.pg_extension_config_dump('paycons.outbox_0', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.outbox_1', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.outbox_2', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.outbox_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.outbox_slot_seq', '');

-- Rotation bookkeeping: one row.
CREATE TABLE paycons.outbox_rotation (
    singleton   boolean PRIMARY KEY DEFAULT true CONSTRAINT outbox_rotation_one_row CHECK (singleton),
    rotated_at  timestamptz NOT NULL DEFAULT now(),
    rotations   bigint NOT NULL DEFAULT 0
);
INSERT INTO paycons.outbox_rotation DEFAULT VALUES;
COMMENT ON TABLE paycons.outbox_rotation IS 'when paycons.outbox_maintain() last rotated the outbox segments';

-- Nacked events are retried under the retry policy of action
-- 'outbox:<event_type>', else 'outbox' (paycons.retry_policies, created in
-- 40_compensations.sql; see src/retry_policy.c).

CREATE VIEW paycons.outbox_dead_letters AS
    SELECT id, aggregate_type, aggregate_id, event_type, payload, headers,
           created_at, attempts, lease_owner AS last_consumer, last_error
      FROM paycons.outbox
     WHERE status OPERATOR(pg_catalog.=) 'dead';
COMMENT ON VIEW paycons.outbox_dead_letters IS
    'outbox events that used up their attempts; they block later events of their aggregate until paycons.outbox_redrive()';

/* ---- writing events ---- */

CREATE FUNCTION paycons.emit(
    aggregate_type text,
    aggregate_id text,
    event_type text,
    payload jsonb,
    headers jsonb DEFAULT NULL,
    available_at timestamptz DEFAULT now())
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'paycons_emit'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.emit(text, text, text, jsonb, jsonb, timestamptz) IS
    'write one event to the outbox in the current transaction; returns its id';

CREATE FUNCTION paycons.outbox_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'paycons_outbox_trigger'
    LANGUAGE C;
COMMENT ON FUNCTION paycons.outbox_trigger() IS
    'AFTER INSERT/UPDATE/DELETE FOR EACH ROW: one outbox event per row; args: aggregate type, key column [, event type prefix or pattern [, column ...]]';

-- The order hub emits order.<new state> on creation and every state change.
CREATE TRIGGER paycons_outbox_insert
    AFTER INSERT ON paycons.orders
    FOR EACH ROW EXECUTE FUNCTION paycons.outbox_trigger('order', 'order_id', 'order.{state}');
CREATE TRIGGER paycons_outbox_update
    AFTER UPDATE ON paycons.orders
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION paycons.outbox_trigger('order', 'order_id', 'order.{state}');

/* ---- consuming events ---- */

CREATE FUNCTION paycons.outbox_claim(
    consumer text,
    batch integer DEFAULT 100,
    lease interval DEFAULT '30 seconds')
    RETURNS SETOF paycons.outbox
    AS 'MODULE_PATHNAME', 'paycons_outbox_claim'
    LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 100;
COMMENT ON FUNCTION paycons.outbox_claim(text, integer, interval) IS
    'lease up to batch due events to consumer, at most one per aggregate and only an aggregate''s oldest, in id order';

CREATE FUNCTION paycons.outbox_ack(ids bigint[], consumer text DEFAULT NULL)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'paycons_outbox_ack'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.outbox_ack(bigint[], text) IS
    'acknowledge events leased to consumer (default: the consumer of this session''s last claim); all or nothing; returns the count';

CREATE FUNCTION paycons.outbox_nack(
    id bigint,
    error text,
    retry_in interval DEFAULT NULL,
    consumer text DEFAULT NULL)
    RETURNS paycons.outbox
    AS 'MODULE_PATHNAME', 'paycons_outbox_nack'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.outbox_nack(bigint, text, interval, text) IS
    'give a leased event back: retried after the retry policy''s backoff (or retry_in), dead letter after max_attempts';

CREATE FUNCTION paycons.outbox_redrive(ids bigint[])
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'paycons_outbox_redrive'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.outbox_redrive(bigint[]) IS
    'put dead-lettered events back to pending with their attempts reset; all or nothing; returns the count';

/* ---- maintenance ---- */

/*
 * paycons.outbox_maintain(): one maintenance pass, called by
 * paycons.run_maintenance() (worker or pg_cron) or by hand.  Nothing is
 * ever copied: an event stays in the segment it was written to until it is
 * acknowledged (deleted).
 *
 * 1. Every segment but the current one that holds no event at all is
 *    TRUNCATEd (it then has no pages: it is empty).  The check is made once
 *    without a lock and again under the ACCESS EXCLUSIVE lock that TRUNCATE
 *    takes, so an event that arrived in between is never lost.  The lock is
 *    not queued for (NOWAIT: a queued request would hold up every claim
 *    behind it), but tried again every 2 ms for up to 20 ms (claims hold
 *    their locks for a moment only); a segment that a transaction running
 *    for over a second holds a lock on (a report, pg_dump) is not tried.
 *    Either way it is "busy" and tried again next pass.  A
 *    segment still holding events is "waiting" and is left alone.
 * 2. At most once per paycons.outbox_rotate_interval (force => true ignores
 *    it), the next empty segment in ring order becomes the current one.
 * 3. If rotation found no empty segment and there are fewer than 16, a new
 *    segment is created and attached (SHARE UPDATE EXCLUSIVE on the parent,
 *    which readers and writers do not conflict with); the next pass rotates
 *    into it.  A new segment is never made current in the transaction that
 *    attaches it: writers could not route to it before that commits.
 *
 * (An event whose lease expired after its last attempt is dead-lettered by
 * the next claim that finds it, not here: that needs no scan.)
 */
CREATE FUNCTION paycons.outbox_maintain(force boolean DEFAULT false)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, paycons, pg_temp
    SET lock_timeout = '50ms'
AS $$
DECLARE
    -- (missing_ok: in a session where the library is not loaded yet)
    v_interval  interval := COALESCE(current_setting('paycons.outbox_rotate_interval', true), '10s')::interval;
    v_max       constant integer := 16;     -- OUTBOX_MAX_SLOTS in src/outbox.h
    v_last      timestamptz;
    v_cur       smallint;
    v_next      smallint;
    v_new       smallint;
    v_slots     smallint[];
    v_truncated smallint[] := '{}';
    v_waiting   smallint[] := '{}';
    v_busy      smallint[] := '{}';
    v_rotated   boolean := false;
    v_skipped   text;
    v_rel       regclass;
    v_id        bigint;
    v_locked    boolean;
    v_budget    timestamptz;
    s           smallint;
BEGIN
    SELECT rotated_at INTO v_last FROM paycons.outbox_rotation FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('rotated', false, 'current_slot', paycons.outbox_current_slot(),
                                  'skipped', 'another maintenance pass is running');
    END IF;
    v_cur := paycons.outbox_current_slot();
    SELECT array_agg(substr(c.relname, 8)::smallint ORDER BY substr(c.relname, 8)::integer)
      INTO v_slots
      FROM pg_catalog.pg_inherits i
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid
     WHERE i.inhparent OPERATOR(pg_catalog.=) 'paycons.outbox'::pg_catalog.regclass
       AND c.relname OPERATOR(pg_catalog.~) '^outbox_[0-9]+$';

    -- 1. truncate the segments that hold nothing
    FOREACH s IN ARRAY v_slots LOOP
        CONTINUE WHEN s = v_cur;
        v_rel := format('paycons.%I', 'outbox_' || s)::regclass;
        CONTINUE WHEN pg_catalog.pg_relation_size(v_rel) = 0;
        EXECUTE format('SELECT id FROM %s ORDER BY id LIMIT 1', v_rel) INTO v_id;
        IF v_id IS NOT NULL THEN
            v_waiting := v_waiting || s;
            CONTINUE;
        END IF;
        -- A transaction that has held a lock on it for over a second (a
        -- report, pg_dump) will not let go soon: do not wait for it.
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                     JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid
                    WHERE l.relation OPERATOR(pg_catalog.=) v_rel AND l.granted
                      AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
                      AND a.xact_start OPERATOR(pg_catalog.<) (pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) interval '1 second')) THEN
            v_busy := v_busy || s;
            CONTINUE;
        END IF;
        -- NOWAIT: a queued lock request would hold up every claim behind
        -- it.  Claims hold their locks for a moment only: try again every
        -- 2 ms, for at most 20 ms per segment.
        v_locked := false;
        v_budget := clock_timestamp() + interval '20 milliseconds';
        LOOP
            BEGIN
                EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', v_rel);
                v_locked := true;
            EXCEPTION WHEN lock_not_available THEN
                NULL;
            END;
            EXIT WHEN v_locked OR clock_timestamp() >= v_budget;
            PERFORM pg_catalog.pg_sleep(0.002);
        END LOOP;
        IF NOT v_locked THEN
            v_busy := v_busy || s;
            CONTINUE;
        END IF;
        -- again under the lock: a writer that read the slot before a
        -- rotation may have added an event since the first look
        EXECUTE format('SELECT id FROM %s ORDER BY id LIMIT 1', v_rel) INTO v_id;
        IF v_id IS NOT NULL THEN
            v_waiting := v_waiting || s;
            CONTINUE;
        END IF;
        BEGIN
            EXECUTE format('TRUNCATE %s', v_rel);
            v_truncated := v_truncated || s;
        EXCEPTION WHEN object_in_use THEN
            -- the statement that called us is reading the outbox itself
            v_busy := v_busy || s;
        END;
    END LOOP;

    -- 2. rotate into the next empty segment
    IF NOT force AND clock_timestamp() - v_last < v_interval THEN
        v_skipped := 'rotated less than paycons.outbox_rotate_interval ago';
    ELSE
        SELECT x INTO v_next FROM unnest(v_slots) x
         WHERE x <> v_cur
           AND pg_catalog.pg_relation_size(format('paycons.%I', 'outbox_' || x)::regclass) = 0
         ORDER BY x <= v_cur, x
         LIMIT 1;
        IF v_next IS NOT NULL THEN
            PERFORM pg_catalog.setval('paycons.outbox_slot_seq', v_next, true);
            UPDATE paycons.outbox_rotation
               SET rotated_at = clock_timestamp(), rotations = rotations + 1;
            v_cur := v_next;
            v_rotated := true;
        ELSIF cardinality(v_slots) >= v_max THEN
            v_skipped := format('no empty segment and already %s segments', cardinality(v_slots));
        ELSE
            -- 3. a new segment, current from the next pass on
            SELECT min(x) INTO v_new FROM generate_series(0, v_max - 1) x
             WHERE x <> ALL (v_slots);
            BEGIN
                EXECUTE format('CREATE TABLE paycons.%I (LIKE paycons.outbox INCLUDING DEFAULTS INCLUDING CONSTRAINTS) WITH (fillfactor = 50)',
                               'outbox_' || v_new);
                EXECUTE format('ALTER TABLE paycons.outbox ATTACH PARTITION paycons.%I FOR VALUES IN (%s)',
                               'outbox_' || v_new, v_new);
                EXECUTE format('COMMENT ON TABLE paycons.%I IS %L', 'outbox_' || v_new,
                               'outbox segment (see paycons.outbox_maintain), added when no segment was empty');
                v_slots := v_slots || v_new;
                v_skipped := format('no empty segment: added segment %s', v_new);
            EXCEPTION WHEN lock_not_available THEN
                v_skipped := 'no empty segment, and paycons.outbox was busy for longer than lock_timeout';
            END;
        END IF;
    END IF;

    RETURN jsonb_build_object('rotated', v_rotated, 'current_slot', v_cur,
                              'segments', cardinality(v_slots),
                              'truncated', to_jsonb(v_truncated),
                              'waiting', to_jsonb(v_waiting),
                              'busy', to_jsonb(v_busy))
           || CASE WHEN v_skipped IS NULL THEN '{}'::jsonb
                   ELSE jsonb_build_object('skipped', v_skipped) END;
END;
$$;
COMMENT ON FUNCTION paycons.outbox_maintain(boolean) IS
    'outbox maintenance pass: truncate the segments that hold no event, rotate into an empty one, add a segment when none is empty; never copies an event; returns what it did';
