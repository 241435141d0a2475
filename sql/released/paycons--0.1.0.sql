/*
 * paycons install script.  Built by `make` from the fragments in
 * sql/install/, in file-name order; edit the fragments, not the built file.
 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION paycons" to load this file. \quit
/*
 * 10_order_state.sql -- the order_state base type, its operators and
 * operator classes, and the state machine functions.
 */

CREATE TYPE paycons.order_state;

CREATE FUNCTION paycons.order_state_in(cstring) RETURNS paycons.order_state
    AS 'MODULE_PATHNAME', 'order_state_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION paycons.order_state_out(paycons.order_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'order_state_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION paycons.order_state_recv(internal) RETURNS paycons.order_state
    AS 'MODULE_PATHNAME', 'order_state_recv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION paycons.order_state_send(paycons.order_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'order_state_send'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE paycons.order_state (
    INPUT = paycons.order_state_in,
    OUTPUT = paycons.order_state_out,
    RECEIVE = paycons.order_state_recv,
    SEND = paycons.order_state_send,
    INTERNALLENGTH = 1,
    PASSEDBYVALUE,
    ALIGNMENT = char,
    STORAGE = plain
);
COMMENT ON TYPE paycons.order_state IS
    'state of an order: one byte, sorted in lifecycle order; legal edges enforced by paycons.order_guard()';

CREATE FUNCTION paycons.order_state_eq(paycons.order_state, paycons.order_state) RETURNS bool
    AS 'MODULE_PATHNAME', 'order_state_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION paycons.order_state_ne(paycons.order_state, paycons.order_state) RETURNS bool
    AS 'MODULE_PATHNAME', 'order_state_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION paycons.order_state_lt(paycons.order_state, paycons.order_state) RETURNS bool
    AS 'MODULE_PATHNAME', 'order_state_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION paycons.order_state_le(paycons.order_state, paycons.order_state) RETURNS bool
    AS 'MODULE_PATHNAME', 'order_state_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION paycons.order_state_gt(paycons.order_state, paycons.order_state) RETURNS bool
    AS 'MODULE_PATHNAME', 'order_state_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION paycons.order_state_ge(paycons.order_state, paycons.order_state) RETURNS bool
    AS 'MODULE_PATHNAME', 'order_state_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION paycons.order_state_cmp(paycons.order_state, paycons.order_state) RETURNS int4
    AS 'MODULE_PATHNAME', 'order_state_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION paycons.order_state_hash(paycons.order_state) RETURNS int4
    AS 'MODULE_PATHNAME', 'order_state_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION paycons.order_state_hash_extended(paycons.order_state, int8) RETURNS int8
    AS 'MODULE_PATHNAME', 'order_state_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

COMMENT ON FUNCTION paycons.order_state_in(cstring) IS 'text input of order_state';
COMMENT ON FUNCTION paycons.order_state_out(paycons.order_state) IS 'text output of order_state';
COMMENT ON FUNCTION paycons.order_state_recv(internal) IS 'binary input of order_state (validated)';
COMMENT ON FUNCTION paycons.order_state_send(paycons.order_state) IS 'binary output of order_state';
COMMENT ON FUNCTION paycons.order_state_eq(paycons.order_state, paycons.order_state) IS 'implementation of = for order_state';
COMMENT ON FUNCTION paycons.order_state_ne(paycons.order_state, paycons.order_state) IS 'implementation of <> for order_state';
COMMENT ON FUNCTION paycons.order_state_lt(paycons.order_state, paycons.order_state) IS 'implementation of < for order_state';
COMMENT ON FUNCTION paycons.order_state_le(paycons.order_state, paycons.order_state) IS 'implementation of <= for order_state';
COMMENT ON FUNCTION paycons.order_state_gt(paycons.order_state, paycons.order_state) IS 'implementation of > for order_state';
COMMENT ON FUNCTION paycons.order_state_ge(paycons.order_state, paycons.order_state) IS 'implementation of >= for order_state';
COMMENT ON FUNCTION paycons.order_state_cmp(paycons.order_state, paycons.order_state) IS 'btree comparison for order_state';
COMMENT ON FUNCTION paycons.order_state_hash(paycons.order_state) IS 'hash of order_state';
COMMENT ON FUNCTION paycons.order_state_hash_extended(paycons.order_state, int8) IS 'seeded hash of order_state';

CREATE OPERATOR paycons.= (
    LEFTARG = paycons.order_state, RIGHTARG = paycons.order_state,
    FUNCTION = paycons.order_state_eq,
    COMMUTATOR = OPERATOR(paycons.=), NEGATOR = OPERATOR(paycons.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR paycons.<> (
    LEFTARG = paycons.order_state, RIGHTARG = paycons.order_state,
    FUNCTION = paycons.order_state_ne,
    COMMUTATOR = OPERATOR(paycons.<>), NEGATOR = OPERATOR(paycons.=),
    RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR paycons.< (
    LEFTARG = paycons.order_state, RIGHTARG = paycons.order_state,
    FUNCTION = paycons.order_state_lt,
    COMMUTATOR = OPERATOR(paycons.>), NEGATOR = OPERATOR(paycons.>=),
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR paycons.<= (
    LEFTARG = paycons.order_state, RIGHTARG = paycons.order_state,
    FUNCTION = paycons.order_state_le,
    COMMUTATOR = OPERATOR(paycons.>=), NEGATOR = OPERATOR(paycons.>),
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR paycons.> (
    LEFTARG = paycons.order_state, RIGHTARG = paycons.order_state,
    FUNCTION = paycons.order_state_gt,
    COMMUTATOR = OPERATOR(paycons.<), NEGATOR = OPERATOR(paycons.<=),
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR paycons.>= (
    LEFTARG = paycons.order_state, RIGHTARG = paycons.order_state,
    FUNCTION = paycons.order_state_ge,
    COMMUTATOR = OPERATOR(paycons.<=), NEGATOR = OPERATOR(paycons.<),
    RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS paycons.order_state_ops
    DEFAULT FOR TYPE paycons.order_state USING btree AS
        OPERATOR 1 paycons.<,
        OPERATOR 2 paycons.<=,
        OPERATOR 3 paycons.=,
        OPERATOR 4 paycons.>=,
        OPERATOR 5 paycons.>,
        FUNCTION 1 paycons.order_state_cmp(paycons.order_state, paycons.order_state);
COMMENT ON OPERATOR CLASS paycons.order_state_ops USING btree IS 'default btree class for order_state (lifecycle order)';

CREATE OPERATOR CLASS paycons.order_state_hash_ops
    DEFAULT FOR TYPE paycons.order_state USING hash AS
        OPERATOR 1 paycons.=,
        FUNCTION 1 paycons.order_state_hash(paycons.order_state),
        FUNCTION 2 paycons.order_state_hash_extended(paycons.order_state, int8);
COMMENT ON OPERATOR CLASS paycons.order_state_hash_ops USING hash IS 'default hash class for order_state';

CREATE FUNCTION paycons.can_transition(from_state paycons.order_state, to_state paycons.order_state)
    RETURNS bool
    AS 'MODULE_PATHNAME', 'paycons_can_transition'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION paycons.can_transition(paycons.order_state, paycons.order_state) IS
    'true if from_state -> to_state is an edge of the order state machine';

CREATE FUNCTION paycons.next_states(state paycons.order_state)
    RETURNS SETOF paycons.order_state
    AS 'MODULE_PATHNAME', 'paycons_next_states'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 4;
COMMENT ON FUNCTION paycons.next_states(paycons.order_state) IS
    'the legal targets of a state, in state order';

CREATE FUNCTION paycons.all_states()
    RETURNS SETOF paycons.order_state
    AS 'MODULE_PATHNAME', 'paycons_all_states'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 12;
COMMENT ON FUNCTION paycons.all_states() IS 'every order state, in state order';

CREATE FUNCTION paycons.is_terminal(state paycons.order_state)
    RETURNS bool
    AS 'MODULE_PATHNAME', 'paycons_is_terminal'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION paycons.is_terminal(paycons.order_state) IS
    'true if no transition leaves this state';

CREATE FUNCTION paycons.state_graph(format text DEFAULT 'dot')
    RETURNS text
    AS 'MODULE_PATHNAME', 'paycons_state_graph'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION paycons.state_graph(text) IS
    'the order state machine as Graphviz DOT (''dot'') or a Mermaid state diagram (''mermaid'')';
/*
 * 20_orders.sql -- the order hub: paycons.orders, paycons.order_history,
 * the guard trigger and the order API.
 */

CREATE FUNCTION paycons.order_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'paycons_order_guard'
    LANGUAGE C;
COMMENT ON FUNCTION paycons.order_guard() IS
    'row trigger on INSERT OR UPDATE (BEFORE and/or AFTER): refuses illegal order_state changes; AFTER with a key column records legal ones in order_history; args: state column [, key column]';

CREATE TABLE paycons.orders (
    order_id         text PRIMARY KEY
                     CONSTRAINT orders_order_id_length CHECK (octet_length(order_id) BETWEEN 1 AND 64),
    state            paycons.order_state NOT NULL DEFAULT 'created',
    amount           bigint NOT NULL CONSTRAINT orders_amount_positive CHECK (amount > 0),
    currency         text NOT NULL CONSTRAINT orders_currency_iso4217 CHECK (currency ~ '^[A-Z]{3}$'),
    paid_amount      bigint NOT NULL DEFAULT 0 CONSTRAINT orders_paid_amount_nonnegative CHECK (paid_amount >= 0),
    refunded_amount  bigint NOT NULL DEFAULT 0 CONSTRAINT orders_refunded_amount_nonnegative CHECK (refunded_amount >= 0),
    channel          text,
    channel_txn_id   text,
    pay_deadline     timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    state_changed_at timestamptz NOT NULL DEFAULT now(),
    metadata         jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE paycons.orders IS
    'the order state hub: one row per merchant order; state changes only along legal edges (triggers paycons_guard, paycons_history_*)';
COMMENT ON COLUMN paycons.orders.amount IS 'amount due, in minor units of currency';
COMMENT ON COLUMN paycons.orders.paid_amount IS 'amount received, in minor units';
COMMENT ON COLUMN paycons.orders.refunded_amount IS 'amount refunded, in minor units';
COMMENT ON COLUMN paycons.orders.pay_deadline IS 'after this, a paying order is queried and then closed';

-- The stuck-order sweep reads only these: their size follows the number of
-- orders in the state, not the size of the table.
CREATE INDEX orders_paying_deadline ON paycons.orders (pay_deadline)
    WHERE state = 'paying';
CREATE INDEX orders_refunding_since ON paycons.orders (state_changed_at)
    WHERE state = 'refunding';

CREATE TABLE paycons.order_history (
    id          bigserial PRIMARY KEY,
    order_id    text NOT NULL,
    table_name  text NOT NULL DEFAULT 'paycons.orders',
    from_state  paycons.order_state,
    to_state    paycons.order_state NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    reason      text,
    actor       text NOT NULL DEFAULT current_user,
    txid        xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX order_history_order ON paycons.order_history (order_id, id);
COMMENT ON TABLE paycons.order_history IS
    'one row per state change of a guarded order (from_state NULL for the creation)';
COMMENT ON COLUMN paycons.order_history.table_name IS 'the guarded table (paycons.orders or a user table)';
COMMENT ON COLUMN paycons.order_history.actor IS 'the role that asked for the change (the API caller, not the function owner)';
COMMENT ON COLUMN paycons.order_history.txid IS 'the transaction that made the change';

-- BEFORE: refuse early and stamp state_changed_at.  AFTER: check the final
-- row again and write order_history (only for rows really inserted, and
-- only when the state changed).
CREATE TRIGGER paycons_guard
    BEFORE INSERT OR UPDATE ON paycons.orders
    FOR EACH ROW EXECUTE FUNCTION paycons.order_guard('state');
CREATE TRIGGER paycons_history_insert
    AFTER INSERT ON paycons.orders
    FOR EACH ROW EXECUTE FUNCTION paycons.order_guard('state', 'order_id');
CREATE TRIGGER paycons_history_update
    AFTER UPDATE ON paycons.orders
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION paycons.order_guard('state', 'order_id');

-- pg_dump must keep the data of these extension tables.
SELECT pg_catalog.pg_extension_config_dump('paycons.orders', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.order_history', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.order_history_id_seq', '');

CREATE FUNCTION paycons.create_order(
    order_id text,
    amount bigint,
    currency text,
    pay_within interval DEFAULT '30 minutes',
    metadata jsonb DEFAULT '{}')
    RETURNS paycons.orders
    AS 'MODULE_PATHNAME', 'paycons_create_order'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.create_order(text, bigint, text, interval, jsonb) IS
    'create an order in state created; idempotent on order_id (same arguments return the row, different ones raise PC003)';

CREATE FUNCTION paycons.begin_payment(order_id text, channel text)
    RETURNS paycons.orders
    AS 'MODULE_PATHNAME', 'paycons_begin_payment'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.begin_payment(text, text) IS
    'created or payment_failed -> paying through channel; repeated calls while paying return the row';

CREATE FUNCTION paycons.transition(order_id text, to_state paycons.order_state, reason text DEFAULT NULL)
    RETURNS paycons.orders
    AS 'MODULE_PATHNAME', 'paycons_transition'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.transition(text, paycons.order_state, text) IS
    'move an order along one legal edge of the state machine, recording reason in order_history';
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

-- Retry policy of nacked events, per event_type ('*' is the default).
CREATE TABLE paycons.outbox_retry_policies (
    event_type          text PRIMARY KEY,
    initial_interval    interval NOT NULL DEFAULT '1 second'
                        CONSTRAINT outbox_retry_initial_positive CHECK (initial_interval > '0'),
    backoff_coefficient double precision NOT NULL DEFAULT 2.0
                        CONSTRAINT outbox_retry_coefficient CHECK (backoff_coefficient >= 1.0),
    max_interval        interval NOT NULL DEFAULT '5 minutes',
    max_attempts        integer NOT NULL DEFAULT 10
                        CONSTRAINT outbox_retry_attempts CHECK (max_attempts >= 1),
    jitter              double precision NOT NULL DEFAULT 0.2
                        CONSTRAINT outbox_retry_jitter CHECK (jitter >= 0 AND jitter <= 1),
    CONSTRAINT outbox_retry_max_interval CHECK (max_interval >= initial_interval)
);
INSERT INTO paycons.outbox_retry_policies (event_type) VALUES ('*');
COMMENT ON TABLE paycons.outbox_retry_policies IS
    'retry policy for nacked outbox events per event_type (fields as in Temporal''s RetryPolicy); row ''*'' is the default';
SELECT pg_catalog.pg_extension_config_dump('paycons.outbox_retry_policies', $$WHERE event_type <> '*'$$);

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
/*
 * 40_compensations.sql -- saga compensation steps and their retry policies.
 *
 * A compensation is one step that undoes (or finishes) part of an order's
 * saga: release its stock, refund its money.  It is enqueued once per
 * (order_id, action) and retried by run_maintenance() (70_maintenance.sql)
 * until it succeeds or is declared dead.  In-database handlers are plain
 * functions handler(order_id text, args jsonb) run in a subtransaction;
 * external actions (handler NULL) go out as outbox commands and come back
 * through complete_compensation().  See doc/operations.md.
 */

CREATE TABLE paycons.retry_policies (
    action              text PRIMARY KEY
                        CONSTRAINT retry_policies_action_length CHECK (octet_length(action) BETWEEN 1 AND 128),
    initial_interval    interval NOT NULL DEFAULT '1 second'
                        CONSTRAINT retry_policies_initial_positive CHECK (initial_interval > interval '0'),
    backoff_coefficient double precision NOT NULL DEFAULT 2.0
                        CONSTRAINT retry_policies_coefficient_range CHECK (backoff_coefficient >= 1 AND backoff_coefficient <= 100),
    max_interval        interval NOT NULL DEFAULT '5 minutes',
    max_attempts        integer NOT NULL DEFAULT 10
                        CONSTRAINT retry_policies_max_attempts_positive CHECK (max_attempts >= 1),
    jitter              double precision NOT NULL DEFAULT 0.2
                        CONSTRAINT retry_policies_jitter_range CHECK (jitter >= 0 AND jitter <= 1),
    non_retryable       text[] NOT NULL DEFAULT '{}'
                        CONSTRAINT retry_policies_non_retryable_sqlstates
                        CHECK (array_to_string(non_retryable, ',') ~ '^([0-9A-Z]{2}([0-9A-Z]{3})?(,|$))*$'),
    CONSTRAINT retry_policies_max_ge_initial CHECK (max_interval >= initial_interval)
);
COMMENT ON TABLE paycons.retry_policies IS
    'retry policy per compensation action (fields as in Temporal''s RetryPolicy); looked up by exact action, then by the part before '':'', then ''*''';
COMMENT ON COLUMN paycons.retry_policies.non_retryable IS
    'SQLSTATEs (5 characters) or SQLSTATE classes (2 characters) that make a failed attempt final';
COMMENT ON COLUMN paycons.retry_policies.jitter IS
    'fraction in [0,1]: each delay is drawn uniformly from [base * (1 - jitter), base]';
INSERT INTO paycons.retry_policies
    (action, initial_interval, backoff_coefficient, max_interval, max_attempts, jitter, non_retryable)
VALUES
    ('*',             '1 second',   2.0, '5 minutes',  10, 0.2, '{}'),
    ('release_stock', '1 second',   2.0, '5 minutes',  20, 0.2, '{}'),
    ('refund',        '1 minute',   2.0, '1 hour',     10, 0.2, '{}'),
    ('payment.query', '30 seconds', 2.0, '10 minutes', 1000, 0.2, '{}'),
    ('refund.query',  '5 minutes',  2.0, '1 hour',     1000, 0.2, '{}');
SELECT pg_catalog.pg_extension_config_dump('paycons.retry_policies',
    $$WHERE action NOT IN ('*', 'release_stock', 'refund', 'payment.query', 'refund.query')$$);

CREATE TABLE paycons.compensations (
    id              bigserial PRIMARY KEY,
    order_id        text NOT NULL,
    action          text NOT NULL
                    CONSTRAINT compensations_action_length CHECK (octet_length(action) BETWEEN 1 AND 200),
    handler         regprocedure,
    args            jsonb NOT NULL DEFAULT '{}',
    state           text NOT NULL DEFAULT 'pending'
                    CONSTRAINT compensations_state_valid
                    CHECK (state IN ('pending', 'running', 'waiting_external', 'done', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    last_sqlstate   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz,
    last_attempt_at timestamptz,
    run_as          regrole,
    detail          text,
    CONSTRAINT compensations_order_action UNIQUE (order_id, action)
);
COMMENT ON TABLE paycons.compensations IS
    'saga compensation steps: one per (order_id, action); handler NULL means an external action completed by complete_compensation()';
COMMENT ON COLUMN paycons.compensations.handler IS
    'in-database handler, a function (order_id text, args jsonb); NULL for an external action sent through the outbox';
COMMENT ON COLUMN paycons.compensations.run_as IS
    'the role that enqueued the step; an in-database handler runs as this role';
COMMENT ON COLUMN paycons.compensations.detail IS
    'the detail given to complete_compensation() by the external party';
-- The retry loop reads only due steps; the health view counts dead ones.
CREATE INDEX compensations_due ON paycons.compensations (next_attempt_at)
    WHERE state IN ('pending', 'waiting_external');
CREATE INDEX compensations_dead ON paycons.compensations (updated_at)
    WHERE state = 'dead';
SELECT pg_catalog.pg_extension_config_dump('paycons.compensations', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.compensations_id_seq', '');

CREATE FUNCTION paycons.enqueue_compensation(
    order_id text,
    action text,
    handler regprocedure DEFAULT NULL,
    args jsonb DEFAULT '{}')
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'paycons_enqueue_compensation'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.enqueue_compensation(text, text, regprocedure, jsonb) IS
    'enqueue a compensation step; idempotent on (order_id, action), returns its id';

CREATE FUNCTION paycons.complete_compensation(id bigint, ok boolean, detail text DEFAULT NULL)
    RETURNS paycons.compensations
    AS 'MODULE_PATHNAME', 'paycons_complete_compensation'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.complete_compensation(bigint, boolean, text) IS
    'report the outcome of an external compensation: ok -> done; not ok -> retried with backoff, or dead after the last attempt';

CREATE FUNCTION paycons.retry_delay(action text, attempt integer, jitter_sample double precision DEFAULT NULL)
    RETURNS interval
    AS 'MODULE_PATHNAME', 'paycons_retry_delay'
    LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION paycons.retry_delay(text, integer, double precision) IS
    'delay before the retry that follows failed attempt number "attempt" of "action": min(initial * coefficient^(attempt-1), max) * (1 - jitter * sample); sample NULL draws a random one';

CREATE FUNCTION paycons.set_retry_policy(
    action text,
    initial_interval interval,
    backoff_coefficient double precision,
    max_interval interval,
    max_attempts integer,
    jitter double precision DEFAULT 0.2,
    non_retryable text[] DEFAULT '{}')
    RETURNS paycons.retry_policies
    AS 'MODULE_PATHNAME', 'paycons_set_retry_policy'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.set_retry_policy(text, interval, double precision, interval, integer, double precision, text[]) IS
    'create or replace the retry policy of an action (or of ''*'', the default), validating every field (PC308)';

CREATE FUNCTION paycons.retry_compensation(id bigint)
    RETURNS paycons.compensations
    AS 'MODULE_PATHNAME', 'paycons_retry_compensation'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.retry_compensation(bigint) IS
    'operator action: give a dead compensation a fresh set of attempts, due now';

CREATE FUNCTION paycons.complete_refund_for(
    order_id text,
    amount bigint,
    payment_txn_id text DEFAULT NULL,
    detail text DEFAULT NULL)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'paycons_complete_refund_for'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.complete_refund_for(text, bigint, text, text) IS
    'a refund of amount for order_id succeeded: complete the matching open refund compensation (action ''refund:''||payment_txn_id, else the oldest open one of that amount); returns its id or NULL';
/*
 * 45_stock.sql -- stock reservations: the in-database saga participant.
 *
 * Try / confirm / cancel in the shape of Seata's TCC: reserve_stock() holds
 * quantities for an order (all or nothing, never more than on hand);
 * the order's payment commits them (deducts them from on_hand); a close or
 * cancellation enqueues the 'release_stock' compensation, whose handler is
 * release_stock().  A release that finds no reservation leaves a tombstone
 * (empty compensation) so that a reservation arriving after its release is
 * refused (anti-suspension).
 */

CREATE TABLE paycons.stock (
    sku         text PRIMARY KEY
                CONSTRAINT stock_sku_length CHECK (octet_length(sku) BETWEEN 1 AND 64),
    on_hand     bigint NOT NULL DEFAULT 0 CONSTRAINT stock_on_hand_nonnegative CHECK (on_hand >= 0),
    reserved    bigint NOT NULL DEFAULT 0 CONSTRAINT stock_reserved_nonnegative CHECK (reserved >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stock_no_oversell CHECK (reserved <= on_hand)
);
COMMENT ON TABLE paycons.stock IS
    'stock per sku: on_hand units, of which reserved are held by unpaid orders; reserved <= on_hand always';

CREATE TABLE paycons.stock_orders (
    order_id    text PRIMARY KEY,
    state       text NOT NULL
                CONSTRAINT stock_orders_state_valid CHECK (state IN ('reserved', 'committed', 'released')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE paycons.stock_orders IS
    'one row per order that reserved stock, or whose release came first (state released with no lines: the tombstone that refuses a late reservation)';
CREATE INDEX stock_orders_reserved ON paycons.stock_orders (order_id)
    WHERE state = 'reserved';

CREATE TABLE paycons.stock_reservations (
    order_id    text NOT NULL REFERENCES paycons.stock_orders (order_id),
    sku         text NOT NULL REFERENCES paycons.stock (sku),
    quantity    bigint NOT NULL CONSTRAINT stock_reservations_quantity_positive CHECK (quantity > 0),
    PRIMARY KEY (order_id, sku)
);
CREATE INDEX stock_reservations_sku ON paycons.stock_reservations (sku);
COMMENT ON TABLE paycons.stock_reservations IS
    'the lines of a stock reservation: quantity of sku held (then committed or released) for order_id';

SELECT pg_catalog.pg_extension_config_dump('paycons.stock', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.stock_orders', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.stock_reservations', '');

CREATE FUNCTION paycons.add_stock(sku text, quantity bigint)
    RETURNS paycons.stock
    AS 'MODULE_PATHNAME', 'paycons_add_stock'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.add_stock(text, bigint) IS
    'add quantity units of sku to on_hand (creating the sku); returns the stock row';

CREATE FUNCTION paycons.reserve_stock(order_id text, items jsonb)
    RETURNS boolean
    AS 'MODULE_PATHNAME', 'paycons_reserve_stock'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.reserve_stock(text, jsonb) IS
    'reserve items ([{"sku": .., "quantity": ..}, ..]) for an unpaid order, all or nothing; true if reserved now, false if the same reservation already existed';

CREATE FUNCTION paycons.commit_stock(order_id text)
    RETURNS boolean
    AS 'MODULE_PATHNAME', 'paycons_commit_stock'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.commit_stock(text) IS
    'deduct an order''s reserved stock from on_hand (done automatically when the order is paid); true if something was committed';

CREATE FUNCTION paycons.release_stock(order_id text, args jsonb DEFAULT '{}')
    RETURNS boolean
    AS 'MODULE_PATHNAME', 'paycons_release_stock'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.release_stock(text, jsonb) IS
    'handler of the release_stock compensation: give back an order''s reserved stock; without a reservation, a no-op that refuses later reservations; true if something was released';

CREATE FUNCTION paycons.stock_on_order_state() RETURNS trigger
    AS 'MODULE_PATHNAME', 'paycons_stock_on_order_state'
    LANGUAGE C;
COMMENT ON FUNCTION paycons.stock_on_order_state() IS
    'AFTER UPDATE trigger on paycons.orders: paid commits the order''s stock (errors left to run_maintenance), closed/cancelled enqueue release_stock';
CREATE TRIGGER paycons_stock
    AFTER UPDATE ON paycons.orders
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION paycons.stock_on_order_state();
/*
 * 50_callbacks.sql -- payment channel callbacks: the inbox, the conflicts
 * kept for review, the per-channel settings (signing secret, ack text), and
 * paycons.apply_callback().  See doc/callbacks.md.
 */

CREATE TABLE paycons.channels (
    channel                   text PRIMARY KEY
                              CONSTRAINT channels_channel_length CHECK (octet_length(channel) BETWEEN 1 AND 64),
    secret                    bytea,
    require_signature         boolean NOT NULL DEFAULT false,
    signature_format          text NOT NULL DEFAULT 'hex'
                              CONSTRAINT channels_signature_format_valid
                              CHECK (signature_format IN ('hex', 'base64', 'header')),
    tolerance                 interval NOT NULL DEFAULT '5 minutes'
                              CONSTRAINT channels_tolerance_positive CHECK (tolerance > '0'::interval),
    ack                       text NOT NULL DEFAULT '',
    nack                      text,
    bad_signatures            bigint NOT NULL DEFAULT 0,
    last_bad_signature_at     timestamptz,
    last_bad_signature_reason text,
    updated_at                timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT channels_secret_when_required CHECK (NOT require_signature OR secret IS NOT NULL)
);
COMMENT ON TABLE paycons.channels IS
    'per payment channel settings for apply_callback(); the secret is readable by the extension owner only';
COMMENT ON COLUMN paycons.channels.secret IS 'HMAC-SHA256 key (never granted to any other role)';
COMMENT ON COLUMN paycons.channels.signature_format IS
    'hex or base64: the digest of signed_body; header: t=<unix>,v1=<hex> over "<t>.<signed_body>"';
COMMENT ON COLUMN paycons.channels.tolerance IS 'header format: largest accepted distance between t and now';
COMMENT ON COLUMN paycons.channels.ack IS 'text the channel expects back for a callback it may stop retrying';
COMMENT ON COLUMN paycons.channels.nack IS 'text returned for a refused (bad_signature) callback; NULL means answer with an HTTP error';
COMMENT ON COLUMN paycons.channels.bad_signatures IS 'callbacks refused for a missing or bad signature';
SELECT pg_catalog.pg_extension_config_dump('paycons.channels', '');

CREATE TABLE paycons.callbacks (
    channel        text NOT NULL,
    channel_txn_id text NOT NULL,
    order_id       text NOT NULL,
    kind           text NOT NULL CONSTRAINT callbacks_kind_valid CHECK (kind IN ('payment', 'refund')),
    status         text NOT NULL CONSTRAINT callbacks_status_valid CHECK (status IN ('success', 'failed')),
    amount         bigint NOT NULL CONSTRAINT callbacks_amount_positive CHECK (amount > 0),
    currency       text NOT NULL,
    payload        jsonb,
    outcome        text NOT NULL,
    state          paycons.order_state,
    received_at    timestamptz NOT NULL DEFAULT now(),
    applied_at     timestamptz,
    source         text NOT NULL DEFAULT 'callback'
                   CONSTRAINT callbacks_source_valid CHECK (source IN ('callback', 'query', 'statement')),
    PRIMARY KEY (channel, channel_txn_id)
);
COMMENT ON TABLE paycons.callbacks IS
    'the callback inbox: one row per (channel, channel_txn_id), written by the first delivery, which decides the outcome';
COMMENT ON COLUMN paycons.callbacks.outcome IS 'what the first delivery decided; every replay returns it';
COMMENT ON COLUMN paycons.callbacks.state IS 'the order state the first delivery left (NULL for unknown_order)';
COMMENT ON COLUMN paycons.callbacks.applied_at IS 'when the callback changed the order (NULL if it changed nothing)';
COMMENT ON COLUMN paycons.callbacks.source IS 'callback (pushed by the channel), query (active query), statement (reconciliation)';
-- Only the callbacks somebody has to look at again are indexed by order:
-- the normal "applied" rows cost no second index entry.
CREATE INDEX callbacks_attention ON paycons.callbacks (order_id)
    WHERE outcome <> 'applied';
COMMENT ON INDEX paycons.callbacks_attention IS
    'callbacks to look at again (unknown orders, mismatches, late and duplicate money), by order';
SELECT pg_catalog.pg_extension_config_dump('paycons.callbacks', '');

CREATE TABLE paycons.callback_conflicts (
    id             bigserial PRIMARY KEY,
    channel        text NOT NULL,
    channel_txn_id text NOT NULL,
    order_id       text NOT NULL,
    kind           text NOT NULL,
    status         text NOT NULL,
    amount         bigint NOT NULL,
    currency       text NOT NULL,
    payload        jsonb,
    source         text NOT NULL,
    attempts       integer NOT NULL DEFAULT 1,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT callback_conflicts_facts
        UNIQUE (channel, channel_txn_id, order_id, kind, status, amount, currency)
);
COMMENT ON TABLE paycons.callback_conflicts IS
    'deliveries whose (channel, channel_txn_id) was first seen with other facts: nothing applied, kept for review';
SELECT pg_catalog.pg_extension_config_dump('paycons.callback_conflicts', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.callback_conflicts_id_seq', '');

CREATE FUNCTION paycons.apply_callback(
    channel text,
    channel_txn_id text,
    order_id text,
    kind text,
    status text,
    amount bigint,
    currency text,
    payload jsonb DEFAULT NULL,
    signature text DEFAULT NULL,
    signed_body text DEFAULT NULL,
    source text DEFAULT 'callback',
    OUT outcome text,
    OUT state paycons.order_state,
    OUT duplicate boolean,
    OUT first_seen_at timestamptz,
    OUT ack text)
    RETURNS record
    AS 'MODULE_PATHNAME', 'paycons_apply_callback'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.apply_callback(text, text, text, text, text, bigint, text, jsonb, text, text, text) IS
    'apply a payment or refund callback exactly once: the first delivery of (channel, channel_txn_id) decides, every replay returns the same outcome with duplicate = true';

CREATE FUNCTION paycons.hmac_sha256(key bytea, message bytea)
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'paycons_hmac_sha256'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION paycons.hmac_sha256(bytea, bytea) IS
    'HMAC-SHA256 of message under key (PostgreSQL''s own implementation), as apply_callback computes it';

/*
 * Channel management: owner only (no EXECUTE for anyone else, and the
 * functions run as the caller, who must be able to write paycons.channels).
 * Arguments left NULL keep the current value (or the default for a new
 * channel).
 */
CREATE FUNCTION paycons.set_channel(
    channel text,
    secret text DEFAULT NULL,
    require_signature boolean DEFAULT NULL,
    signature_format text DEFAULT NULL,
    tolerance interval DEFAULT NULL,
    ack text DEFAULT NULL,
    nack text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
BEGIN
    IF set_channel.channel IS NULL THEN
        RAISE EXCEPTION 'channel must not be null' USING ERRCODE = '22004';
    END IF;
    IF octet_length(set_channel.channel) NOT BETWEEN 1 AND 64 THEN
        RAISE EXCEPTION 'invalid channel name "%"', set_channel.channel
            USING ERRCODE = 'PC105', DETAIL = 'A channel name has 1 to 64 bytes.';
    END IF;
    IF set_channel.signature_format IS NOT NULL
       AND set_channel.signature_format NOT IN ('hex', 'base64', 'header') THEN
        RAISE EXCEPTION 'unknown signature format "%"', set_channel.signature_format
            USING ERRCODE = 'PC105', HINT = 'Use hex, base64 or header.';
    END IF;
    IF set_channel.tolerance IS NOT NULL AND set_channel.tolerance <= '0'::interval THEN
        RAISE EXCEPTION 'signature tolerance must be positive: "%"', set_channel.tolerance
            USING ERRCODE = 'PC105';
    END IF;
    IF set_channel.secret = '' THEN
        RAISE EXCEPTION 'the secret of channel "%" must not be empty', set_channel.channel
            USING ERRCODE = 'PC105';
    END IF;

    INSERT INTO paycons.channels AS c (channel, secret, require_signature, signature_format,
                                       tolerance, ack, nack)
    VALUES (set_channel.channel,
            convert_to(set_channel.secret, 'UTF8'),
            COALESCE(set_channel.require_signature, false),
            COALESCE(set_channel.signature_format, 'hex'),
            COALESCE(set_channel.tolerance, '5 minutes'),
            COALESCE(set_channel.ack, ''),
            set_channel.nack)
    ON CONFLICT ON CONSTRAINT channels_pkey DO UPDATE
       SET secret = COALESCE(EXCLUDED.secret, c.secret),
           require_signature = COALESCE(set_channel.require_signature, c.require_signature),
           signature_format = COALESCE(set_channel.signature_format, c.signature_format),
           tolerance = COALESCE(set_channel.tolerance, c.tolerance),
           ack = COALESCE(set_channel.ack, c.ack),
           nack = COALESCE(set_channel.nack, c.nack),
           updated_at = now();
EXCEPTION
    WHEN check_violation THEN
        RAISE EXCEPTION 'channel "%" cannot require signatures without a secret', set_channel.channel
            USING ERRCODE = 'PC105', HINT = 'Pass the secret in the same call.';
END;
$$;
COMMENT ON FUNCTION paycons.set_channel(text, text, boolean, text, interval, text, text) IS
    'create or change a payment channel''s settings (owner only); NULL arguments keep the current value';

CREATE FUNCTION paycons.drop_channel(channel text)
    RETURNS boolean
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
    WITH d AS (DELETE FROM paycons.channels c WHERE c.channel = drop_channel.channel RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d)
$$;
COMMENT ON FUNCTION paycons.drop_channel(text) IS
    'remove a channel''s settings (owner only); apply_callback() then refuses its callbacks (PC106)';
/*
 * 60_reconciliation.sql -- statement reconciliation (对账): the channel's
 * settlement statement, loaded with COPY, is compared with the callback
 * inbox.  Settled transactions we never heard of are applied through
 * apply_callback() with source 'statement' (automatic re-order, 自动补单);
 * every other difference is kept in paycons.reconciliation_diffs for a
 * person.  See doc/reconciliation.md.
 */

CREATE TABLE paycons.statement_lines (
    channel        text NOT NULL,
    statement_date date NOT NULL,
    channel_txn_id text NOT NULL
                   CONSTRAINT statement_lines_txn_length CHECK (octet_length(channel_txn_id) BETWEEN 1 AND 128),
    order_id       text NOT NULL
                   CONSTRAINT statement_lines_order_length CHECK (octet_length(order_id) BETWEEN 1 AND 64),
    kind           text NOT NULL CONSTRAINT statement_lines_kind_valid CHECK (kind IN ('payment', 'refund')),
    amount         bigint NOT NULL CONSTRAINT statement_lines_amount_positive CHECK (amount > 0),
    currency       text NOT NULL CONSTRAINT statement_lines_currency_iso4217 CHECK (currency ~ '^[A-Z]{3}$'),
    fee            bigint NOT NULL DEFAULT 0 CONSTRAINT statement_lines_fee_nonnegative CHECK (fee >= 0),
    settled_at     timestamptz,
    loaded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, channel_txn_id)
);
CREATE INDEX statement_lines_date ON paycons.statement_lines (channel, statement_date);
COMMENT ON TABLE paycons.statement_lines IS
    'settled transactions from the channels'' statements, one row per (channel, channel_txn_id); load with COPY';
SELECT pg_catalog.pg_extension_config_dump('paycons.statement_lines', '');

CREATE TABLE paycons.reconciliation_diffs (
    id              bigserial PRIMARY KEY,
    channel         text NOT NULL,
    channel_txn_id  text NOT NULL,
    diff            text NOT NULL
                    CONSTRAINT reconciliation_diffs_diff_valid
                    CHECK (diff IN ('missing_locally', 'fact_mismatch', 'status_mismatch',
                                    'needs_review', 'missing_in_statement')),
    order_id        text,
    statement_date  date,
    statement_amount bigint,
    local_amount    bigint,
    currency        text,
    local_outcome   text,
    resolution      text,
    detail          jsonb NOT NULL DEFAULT '{}',
    found_at        timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    CONSTRAINT reconciliation_diffs_once UNIQUE (channel, channel_txn_id, diff)
);
CREATE INDEX reconciliation_diffs_open ON paycons.reconciliation_diffs (found_at)
    WHERE resolved_at IS NULL;
COMMENT ON TABLE paycons.reconciliation_diffs IS
    'differences between statements and local state: repaired ones (resolved_at set) and those a person must look at';
COMMENT ON COLUMN paycons.reconciliation_diffs.resolution IS
    'how the difference was settled (for a line applied from the statement: the outcome apply_callback decided)';
SELECT pg_catalog.pg_extension_config_dump('paycons.reconciliation_diffs', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.reconciliation_diffs_id_seq', '');

/*
 * paycons.reconcile_statement(channel, statement_date): one pass over the
 * statement lines of that channel and date.  Idempotent: a second run
 * applies nothing new (apply_callback answers replays) and adds no diff
 * twice.  Owner only: it feeds apply_callback with source 'statement',
 * which skips the per-callback signature (the statement is the channel's
 * own record).
 */
CREATE FUNCTION paycons.reconcile_statement(
    channel text,
    statement_date date,
    OUT lines integer,
    OUT matched integer,
    OUT repaired integer,
    OUT differences integer,
    OUT missing_in_statement integer)
    RETURNS record
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    v_channel  text := reconcile_statement.channel;
    v_date     date := reconcile_statement.statement_date;
    l          paycons.statement_lines;
    c          paycons.callbacks;
    r          record;
    v_diff     text;
BEGIN
    IF v_channel IS NULL THEN
        RAISE EXCEPTION 'channel must not be null' USING ERRCODE = '22004';
    END IF;
    IF v_date IS NULL THEN
        RAISE EXCEPTION 'statement_date must not be null' USING ERRCODE = '22004';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM paycons.channels ch WHERE ch.channel = v_channel) THEN
        RAISE EXCEPTION 'payment channel "%" is not registered', v_channel
            USING ERRCODE = 'PC106', HINT = 'Register it with paycons.set_channel().';
    END IF;

    lines := 0; matched := 0; repaired := 0; differences := 0; missing_in_statement := 0;

    FOR l IN SELECT * FROM paycons.statement_lines s
              WHERE s.channel = v_channel AND s.statement_date = v_date
              ORDER BY s.channel_txn_id
    LOOP
        lines := lines + 1;
        SELECT * INTO c FROM paycons.callbacks cb
         WHERE cb.channel = l.channel AND cb.channel_txn_id = l.channel_txn_id;

        IF NOT FOUND THEN
            -- settled, but we never heard: apply it now (自动补单)
            SELECT * INTO r FROM paycons.apply_callback(
                l.channel, l.channel_txn_id, l.order_id, l.kind, 'success',
                l.amount, l.currency,
                jsonb_build_object('statement_date', l.statement_date, 'fee', l.fee,
                                   'settled_at', l.settled_at),
                NULL, NULL, 'statement');
            IF r.outcome IN ('applied', 'late_payment', 'duplicate_payment') THEN
                repaired := repaired + 1;
                v_diff := 'missing_locally';
            ELSE
                -- applied, but the order could not take it (unknown order,
                -- mismatched money, ...): a person must look
                differences := differences + 1;
                v_diff := 'needs_review';
            END IF;
            INSERT INTO paycons.reconciliation_diffs AS d
                   (channel, channel_txn_id, diff, order_id, statement_date,
                    statement_amount, currency, local_outcome, resolution, detail, resolved_at)
            VALUES (l.channel, l.channel_txn_id, v_diff, l.order_id, l.statement_date,
                    l.amount, l.currency, r.outcome, 'applied from the statement: ' || r.outcome,
                    jsonb_build_object('statement', to_jsonb(l) - 'loaded_at'),
                    CASE WHEN v_diff = 'missing_locally' THEN now() END)
            ON CONFLICT ON CONSTRAINT reconciliation_diffs_once
            DO UPDATE SET last_seen_at = now();
            CONTINUE;
        END IF;

        v_diff := NULL;
        IF c.order_id <> l.order_id OR c.kind <> l.kind
           OR c.amount <> l.amount OR c.currency <> l.currency THEN
            v_diff := 'fact_mismatch';
        ELSIF c.status <> 'success' THEN
            v_diff := 'status_mismatch';
        ELSIF c.outcome NOT IN ('applied', 'late_payment', 'duplicate_payment') THEN
            -- the money is real, but the order did not take it
            v_diff := 'needs_review';
        END IF;

        IF v_diff IS NULL THEN
            matched := matched + 1;
            -- a difference found earlier and since repaired by other means
            UPDATE paycons.reconciliation_diffs d
               SET resolved_at = now(), last_seen_at = now(),
                   resolution = coalesce(d.resolution, 'matched later')
             WHERE d.channel = l.channel AND d.channel_txn_id = l.channel_txn_id
               AND d.resolved_at IS NULL AND d.diff <> 'missing_locally';
        ELSE
            differences := differences + 1;
            INSERT INTO paycons.reconciliation_diffs AS d
                   (channel, channel_txn_id, diff, order_id, statement_date,
                    statement_amount, local_amount, currency, local_outcome, detail)
            VALUES (l.channel, l.channel_txn_id, v_diff, l.order_id, l.statement_date,
                    l.amount, c.amount, l.currency, c.outcome,
                    jsonb_build_object('statement', to_jsonb(l) - 'loaded_at',
                                       'local', to_jsonb(c) - 'payload'))
            ON CONFLICT ON CONSTRAINT reconciliation_diffs_once
            DO UPDATE SET last_seen_at = now(), local_outcome = excluded.local_outcome,
                          detail = excluded.detail;
        END IF;
    END LOOP;

    -- money we believe we received on that day that the channel never settled
    FOR c IN SELECT * FROM paycons.callbacks cb
              WHERE cb.channel = v_channel
                AND cb.status = 'success'
                AND cb.outcome IN ('applied', 'late_payment', 'duplicate_payment')
                AND cb.received_at >= v_date::timestamptz
                AND cb.received_at < (v_date + 1)::timestamptz
                AND NOT EXISTS (SELECT 1 FROM paycons.statement_lines s
                                 WHERE s.channel = cb.channel
                                   AND s.channel_txn_id = cb.channel_txn_id)
              ORDER BY cb.channel_txn_id
    LOOP
        missing_in_statement := missing_in_statement + 1;
        INSERT INTO paycons.reconciliation_diffs AS d
               (channel, channel_txn_id, diff, order_id, statement_date,
                local_amount, currency, local_outcome, detail)
        VALUES (c.channel, c.channel_txn_id, 'missing_in_statement', c.order_id, v_date,
                c.amount, c.currency, c.outcome, to_jsonb(c) - 'payload')
        ON CONFLICT ON CONSTRAINT reconciliation_diffs_once
        DO UPDATE SET last_seen_at = now();
    END LOOP;

    -- a line that arrived in a later statement resolves an earlier gap
    UPDATE paycons.reconciliation_diffs d
       SET resolved_at = now(), resolution = 'found in a later statement'
     WHERE d.channel = v_channel AND d.diff = 'missing_in_statement'
       AND d.resolved_at IS NULL
       AND EXISTS (SELECT 1 FROM paycons.statement_lines s
                    WHERE s.channel = d.channel AND s.channel_txn_id = d.channel_txn_id);
END;
$$;
COMMENT ON FUNCTION paycons.reconcile_statement(text, date) IS
    'reconcile one channel''s statement for one date: apply what we missed (source statement), record every other difference';
/*
 * 70_maintenance.sql -- run_maintenance(), the background worker's SQL
 * face (wake, stats) and the health view.
 *
 * run_maintenance() is the one code path of both the background worker and
 * a pg_cron schedule (DESIGN D2).  See doc/operations.md.
 */

CREATE TABLE paycons.order_probes (
    order_id     text NOT NULL,
    kind         text NOT NULL
                 CONSTRAINT order_probes_kind_valid CHECK (kind IN ('payment.query', 'refund.query')),
    attempts     integer NOT NULL DEFAULT 0,
    last_sent_at timestamptz,
    next_at      timestamptz NOT NULL,
    PRIMARY KEY (order_id, kind)
);
COMMENT ON TABLE paycons.order_probes IS
    'stuck-order queries sent by run_maintenance(): how many, and when the next one is due (backoff per retry policy of the kind)';
SELECT pg_catalog.pg_extension_config_dump('paycons.order_probes', '');

CREATE FUNCTION paycons.run_maintenance()
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'paycons_run_maintenance'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.run_maintenance() IS
    'one maintenance pass (outbox_maintain if present, stuck orders, stock commits, due compensations); returns counts per action as jsonb; a concurrent second caller returns {"ran": false} at once';

CREATE FUNCTION paycons.wake()
    RETURNS boolean
    AS 'MODULE_PATHNAME', 'paycons_wake'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.wake() IS
    'wake the background worker for a pass now; false if no worker is running';

CREATE FUNCTION paycons.stats(
    OUT preloaded boolean,
    OUT worker_pid integer,
    OUT worker_started_at timestamptz,
    OUT last_pass_at timestamptz,
    OUT passes bigint,
    OUT passes_skipped bigint,
    OUT compensations_done bigint,
    OUT compensations_retried bigint,
    OUT compensations_dead bigint,
    OUT external_sent bigint,
    OUT payment_queries bigint,
    OUT orders_closed bigint,
    OUT stock_committed bigint,
    OUT refund_queries bigint,
    OUT item_errors bigint)
    RETURNS record
    AS 'MODULE_PATHNAME', 'paycons_stats'
    LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION paycons.stats() IS
    'shared-memory counters of maintenance work since the server started (all databases); zeros and preloaded = false without shared_preload_libraries';

-- How many callbacks of each outcome arrived in the last hour, if the
-- callbacks inbox is installed (looked up at run time).
CREATE FUNCTION paycons.callback_outcomes_last_hour()
    RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    IF pg_catalog.to_regclass('paycons.callbacks') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT COALESCE(pg_catalog.jsonb_object_agg(outcome, n), ''{}'')'
            ' FROM (SELECT COALESCE(outcome::text, ''(none)'') AS outcome, pg_catalog.count(*) AS n'
            '       FROM paycons.callbacks'
            '       WHERE received_at > pg_catalog.now() - interval ''1 hour'''
            '       GROUP BY 1) s'
       INTO result;
    RETURN result;
END;
$$;
COMMENT ON FUNCTION paycons.callback_outcomes_last_hour() IS
    'callback outcomes of the last hour as {"outcome": count}; NULL if paycons.callbacks does not exist';

CREATE VIEW paycons.health AS
SELECT
    (SELECT count(*) FROM paycons.orders
      WHERE state = 'paying') AS orders_paying,
    (SELECT count(*) FROM paycons.orders
      WHERE state = 'paying' AND pay_deadline < now()) AS orders_paying_overdue,
    (SELECT now() - min(pay_deadline) FROM paycons.orders
      WHERE state = 'paying' AND pay_deadline < now()) AS oldest_overdue_paying,
    (SELECT count(*) FROM paycons.orders
      WHERE state = 'refunding') AS orders_refunding,
    (SELECT now() - min(state_changed_at) FROM paycons.orders
      WHERE state = 'refunding') AS oldest_refunding,
    (SELECT count(*) FROM paycons.outbox
      WHERE status IN ('pending', 'leased')) AS outbox_backlog,
    (SELECT now() - min(created_at) FROM paycons.outbox
      WHERE status IN ('pending', 'leased')) AS outbox_oldest,
    (SELECT count(*) FROM paycons.outbox WHERE status = 'dead') AS outbox_dead,
    (SELECT count(*) FROM paycons.compensations
      WHERE state IN ('pending', 'waiting_external') AND next_attempt_at <= now()) AS compensations_due,
    (SELECT count(*) FROM paycons.compensations
      WHERE state = 'waiting_external') AS compensations_waiting_external,
    (SELECT count(*) FROM paycons.compensations
      WHERE state = 'dead') AS compensations_dead,
    (SELECT count(*) FROM paycons.stock_orders s JOIN paycons.orders o USING (order_id)
      WHERE s.state = 'reserved'
        AND o.state IN ('paid', 'fulfilling', 'shipped', 'completed')) AS stock_commits_pending,
    (SELECT worker_pid FROM paycons.stats()) AS worker_pid,
    (SELECT last_pass_at FROM paycons.stats()) AS last_pass_at,
    paycons.callback_outcomes_last_hour() AS callback_outcomes_last_hour;
COMMENT ON VIEW paycons.health IS
    'one row for on-call: what is stuck (overdue paying, refunding), lagging (outbox backlog) or dead (compensations, outbox); every figure comes from a partial index or a small table';

-- Orders per state: a full scan of paycons.orders, kept apart from health.
CREATE VIEW paycons.order_counts AS
SELECT state, count(*) AS orders FROM paycons.orders GROUP BY state;
COMMENT ON VIEW paycons.order_counts IS
    'orders per state (scans paycons.orders: not for frequent polling on large tables)';

/*
 * A successful refund callback completes its refund compensation by itself
 * (paycons.callbacks is created by 50_callbacks.sql, before this fragment).
 */
CREATE FUNCTION paycons.callbacks_complete_refund() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    cb jsonb := pg_catalog.to_jsonb(NEW);
BEGIN
    -- read the row as jsonb: no dependence on the inbox's exact column set
    IF cb->>'kind' = 'refund' AND cb->>'status' = 'success'
       AND cb->>'order_id' IS NOT NULL AND cb->>'amount' IS NOT NULL
       AND COALESCE(cb->>'outcome', 'applied') = 'applied' THEN
        BEGIN
            PERFORM paycons.complete_refund_for(cb->>'order_id', (cb->>'amount')::bigint, NULL,
                                                'refund callback ' || COALESCE(cb->>'channel', '?')
                                                || '/' || COALESCE(cb->>'channel_txn_id', '?'));
        EXCEPTION WHEN OTHERS THEN
            -- never fail the callback for this: the step can be completed by hand
            RAISE WARNING 'paycons: could not complete the refund compensation of order "%": %',
                cb->>'order_id', SQLERRM;
        END;
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION paycons.callbacks_complete_refund() IS
    'AFTER INSERT OR UPDATE OF outcome trigger on paycons.callbacks: a successful, applied refund callback completes the matching refund compensation';
-- WHEN keeps the trigger off the payment path: only a successful refund
-- callback queues an event.
CREATE TRIGGER paycons_complete_refund
    AFTER INSERT OR UPDATE OF outcome ON paycons.callbacks
    FOR EACH ROW
    WHEN (NEW.kind = 'refund' AND NEW.status = 'success'
          AND NEW.outcome = 'applied')
    EXECUTE FUNCTION paycons.callbacks_complete_refund();
/*
 * 90_privileges.sql -- who may do what.  Runs last.
 *
 * Application roles get EXECUTE on the API and nothing on the tables: the
 * C functions do their work as the extension owner.  PUBLIC keeps what is
 * harmless (the order_state type's support functions, so any role can use
 * the type in its own tables, and the pure state-machine functions).
 */

REVOKE ALL ON ALL TABLES IN SCHEMA paycons FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA paycons FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA paycons FROM PUBLIC;
GRANT USAGE ON SCHEMA paycons TO PUBLIC;

GRANT EXECUTE ON FUNCTION
    paycons.order_state_in(cstring),
    paycons.order_state_out(paycons.order_state),
    paycons.order_state_recv(internal),
    paycons.order_state_send(paycons.order_state),
    paycons.order_state_eq(paycons.order_state, paycons.order_state),
    paycons.order_state_ne(paycons.order_state, paycons.order_state),
    paycons.order_state_lt(paycons.order_state, paycons.order_state),
    paycons.order_state_le(paycons.order_state, paycons.order_state),
    paycons.order_state_gt(paycons.order_state, paycons.order_state),
    paycons.order_state_ge(paycons.order_state, paycons.order_state),
    paycons.order_state_cmp(paycons.order_state, paycons.order_state),
    paycons.order_state_hash(paycons.order_state),
    paycons.order_state_hash_extended(paycons.order_state, int8),
    paycons.can_transition(paycons.order_state, paycons.order_state),
    paycons.next_states(paycons.order_state),
    paycons.all_states(),
    paycons.is_terminal(paycons.order_state),
    paycons.state_graph(text),
    paycons.order_guard()
TO PUBLIC;

/*
 * paycons.grant_app_role(role): give an application role what a webhook
 * handler and an order service need -- EXECUTE on the application API.
 * Every fragment that adds an application-facing function adds it to the
 * list below.
 */
CREATE FUNCTION paycons.grant_app_role(role regrole) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY[
        'paycons.create_order(text, bigint, text, interval, jsonb)',
        'paycons.begin_payment(text, text)',
        'paycons.transition(text, paycons.order_state, text)',
        -- callbacks (keep each section apart so parallel edits merge)
        'paycons.apply_callback(text, text, text, text, text, bigint, text, jsonb, text, text, text)',

        -- end callbacks
        -- outbox
        'paycons.emit(text, text, text, jsonb, jsonb, timestamptz)',
        'paycons.outbox_claim(text, integer, interval)',
        'paycons.outbox_ack(bigint[], text)',
        'paycons.outbox_nack(bigint, text, interval, text)',
        'paycons.outbox_trigger()',
        -- end outbox
        -- compensations and maintenance
        'paycons.enqueue_compensation(text, text, regprocedure, jsonb)',
        'paycons.complete_compensation(bigint, boolean, text)',
        'paycons.complete_refund_for(text, bigint, text, text)',
        'paycons.add_stock(text, bigint)',
        'paycons.reserve_stock(text, jsonb)',
        'paycons.commit_stock(text)',
        'paycons.release_stock(text, jsonb)',
        'paycons.wake()',

        -- end compensations
        'paycons.can_transition(paycons.order_state, paycons.order_state)'
    ]
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', fn, role);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION paycons.grant_app_role(regrole) IS
    'grant an application role EXECUTE on the paycons application API (and nothing on the tables)';
