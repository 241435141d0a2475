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
