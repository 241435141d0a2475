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
    txid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    forced      boolean NOT NULL DEFAULT false
);
CREATE INDEX order_history_order ON paycons.order_history (order_id, id);
COMMENT ON TABLE paycons.order_history IS
    'one row per state change of a guarded order (from_state NULL for the creation)';
COMMENT ON COLUMN paycons.order_history.table_name IS 'the guarded table (paycons.orders or a user table)';
COMMENT ON COLUMN paycons.order_history.actor IS 'the role that asked for the change (the API caller, not the function owner)';
COMMENT ON COLUMN paycons.order_history.txid IS 'the transaction that made the change';
COMMENT ON COLUMN paycons.order_history.forced IS
    'true for a money edge (-> paid, -> refunded, ...) that the extension owner forced with a reason, without money facts';

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

-- The read API: what an application or consumer role may know of one order
-- (they hold no privilege on the tables).
CREATE FUNCTION paycons.get_order(order_id text)
    RETURNS paycons.orders
    AS 'MODULE_PATHNAME', 'paycons_get_order'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.get_order(text) IS
    'the row of one order (PC002 if there is none)';

CREATE FUNCTION paycons.order_history_of(order_id text)
    RETURNS SETOF paycons.order_history
    AS 'MODULE_PATHNAME', 'paycons_order_history_of'
    LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 8;
COMMENT ON FUNCTION paycons.order_history_of(text) IS
    'the state changes of one order of paycons.orders, oldest first (PC002 if there is no such order)';
