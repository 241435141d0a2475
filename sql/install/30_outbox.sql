/*
 * 30_outbox.sql -- the transactional outbox.
 *
 * Columns map one to one onto the Debezium outbox event router's
 * (id, aggregatetype, aggregateid, type, payload); see doc/outbox.md.
 *
 * paycons.outbox is list-partitioned on "slot" into three rotating
 * partitions outbox_0..outbox_2 (PgQ's table rotation, done with
 * partitions).  New events go into the current slot; acknowledged events are
 * deleted; paycons.outbox_maintain() moves the few live events of the oldest
 * partition into the current one, TRUNCATEs it and makes it current.  Dead
 * tuples and dead index entries therefore never outlive two rotations, and a
 * claim never walks more than two rotation intervals' worth of them.
 */

-- The current slot is outbox_slot_seq's last value modulo 3 (sequences are
-- not transactional: a rotation is seen at once by every inserter).
CREATE SEQUENCE paycons.outbox_slot_seq MINVALUE 0 START 0;
SELECT pg_catalog.setval('paycons.outbox_slot_seq', 0, true);
COMMENT ON SEQUENCE paycons.outbox_slot_seq IS
    'outbox rotation counter: the current partition is paycons.outbox_<last_value % 3>';

CREATE FUNCTION paycons.outbox_current_slot() RETURNS smallint
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
    SELECT (last_value OPERATOR(pg_catalog.%) 3)::pg_catalog.int2 FROM paycons.outbox_slot_seq
$$;
COMMENT ON FUNCTION paycons.outbox_current_slot() IS
    'the outbox partition new events go into (0, 1 or 2)';

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
COMMENT ON COLUMN paycons.outbox.id IS 'event id (Debezium: id); increases with commit order within one aggregate';
COMMENT ON COLUMN paycons.outbox.aggregate_type IS 'Debezium: aggregatetype (routes to a topic)';
COMMENT ON COLUMN paycons.outbox.aggregate_id IS 'Debezium: aggregateid (message key; per-aggregate FIFO)';
COMMENT ON COLUMN paycons.outbox.event_type IS 'Debezium: type';
COMMENT ON COLUMN paycons.outbox.payload IS 'Debezium: payload';
COMMENT ON COLUMN paycons.outbox.status IS
    'pending (waiting or due), leased (handed to lease_owner until lease_expires_at), dead (dead letter); acknowledged events are deleted';
COMMENT ON COLUMN paycons.outbox.attempts IS 'how many times the event was handed out';
COMMENT ON COLUMN paycons.outbox.slot IS 'rotating partition the row lives in (internal)';
COMMENT ON TABLE paycons.outbox_0 IS 'outbox rotating partition (see paycons.outbox_maintain)';
COMMENT ON TABLE paycons.outbox_1 IS 'outbox rotating partition (see paycons.outbox_maintain)';
COMMENT ON TABLE paycons.outbox_2 IS 'outbox rotating partition (see paycons.outbox_maintain)';
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
COMMENT ON TABLE paycons.outbox_rotation IS 'when paycons.outbox_maintain() last rotated the outbox partitions';

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
 * paycons.run_maintenance() (worker or pg_cron) or by hand.
 *
 * 1. Rotation, at most once per paycons.outbox_rotate_interval (default
 *    10s; force => true ignores it): unless the oldest partition still holds
 *    a backlog (more than 10000 live events), lock it (waiting at most
 *    lock_timeout = 100ms, else skip this turn; also skipped while
 *    (auto)vacuum or analyze runs on it), move its live events into
 *    the current partition, TRUNCATE it, and make it the current one.
 *
 * (An event whose lease expired after its last attempt is dead-lettered by
 * the next claim that finds it, not here: that needs no scan.)
 */
CREATE FUNCTION paycons.outbox_maintain(force boolean DEFAULT false)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, paycons, pg_temp
    SET lock_timeout = '100ms'
AS $$
DECLARE
    -- (missing_ok: in a session where the library is not loaded yet)
    v_interval interval := COALESCE(current_setting('paycons.outbox_rotate_interval', true), '10s')::interval;
    v_live     bigint;
    v_last     timestamptz;
    v_cur      smallint;
    v_old      smallint;
    v_moved    bigint := 0;
    v_rotated  boolean := false;
    v_skipped  text;
BEGIN
    SELECT rotated_at INTO v_last FROM paycons.outbox_rotation FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        v_skipped := 'another maintenance pass is rotating';
    ELSIF NOT force AND clock_timestamp() - v_last < v_interval THEN
        v_skipped := 'rotated less than paycons.outbox_rotate_interval ago';
    ELSE
        v_cur := paycons.outbox_current_slot();
        v_old := (v_cur + 1) % 3;
        -- A backlog still in the oldest partition is left to drain: moving
        -- it would copy the backlog under an exclusive lock.
        EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM paycons.%I LIMIT 10001) s',
                       'outbox_' || v_old) INTO v_live;
        IF v_live > 10000 THEN
            v_skipped := format('partition outbox_%s still holds more than 10000 live events', v_old);
        ELSIF EXISTS (SELECT 1 FROM pg_catalog.pg_stat_progress_vacuum
                       WHERE relid OPERATOR(pg_catalog.=) format('paycons.%I', 'outbox_' || v_old)::regclass
                      UNION ALL
                      SELECT 1 FROM pg_catalog.pg_stat_progress_analyze
                       WHERE relid OPERATOR(pg_catalog.=) format('paycons.%I', 'outbox_' || v_old)::regclass) THEN
            -- Waiting behind (auto)vacuum would queue every consumer behind us.
            v_skipped := format('partition outbox_%s is being vacuumed or analyzed', v_old);
        ELSE
            BEGIN
                EXECUTE format('LOCK TABLE paycons.%I IN ACCESS EXCLUSIVE MODE', 'outbox_' || v_old);
                -- Live events of the oldest partition keep their id and state.
                EXECUTE format(
                    'WITH m AS (DELETE FROM paycons.%I RETURNING *)
                     INSERT INTO paycons.outbox
                     SELECT id, aggregate_type, aggregate_id, event_type, payload, headers,
                            created_at, available_at, status, attempts, lease_owner,
                            lease_expires_at, last_error, %s FROM m',
                    'outbox_' || v_old, v_cur);
                GET DIAGNOSTICS v_moved = ROW_COUNT;
                EXECUTE format('TRUNCATE paycons.%I', 'outbox_' || v_old);
                PERFORM pg_catalog.nextval('paycons.outbox_slot_seq');
                UPDATE paycons.outbox_rotation
                   SET rotated_at = clock_timestamp(), rotations = rotations + 1;
                v_rotated := true;
            EXCEPTION WHEN lock_not_available THEN
                v_skipped := format('partition outbox_%s busy for longer than lock_timeout', v_old);
            END;
        END IF;
    END IF;

    RETURN jsonb_build_object('rotated', v_rotated, 'current_slot', paycons.outbox_current_slot(),
                              'moved', v_moved)
           || CASE WHEN v_skipped IS NULL THEN '{}'::jsonb
                   ELSE jsonb_build_object('skipped', v_skipped) END;
END;
$$;
COMMENT ON FUNCTION paycons.outbox_maintain(boolean) IS
    'outbox maintenance pass: rotate the partitions (truncating the oldest); returns what it did';
