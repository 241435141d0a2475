-- security_forgery: nobody forges order history or paycons's events.
-- paycons writes them as the extension owner, so the guard trigger writes
-- history, and the outbox trigger events, only for tables the owner
-- allowed; emit() refuses the aggregate types paycons writes itself unless
-- the owner allowed the role; every history row and event names the table
-- and the role that caused it.
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS paycons; RESET client_min_messages;

CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END;
$$;

SET client_min_messages = warning;
DROP SCHEMA IF EXISTS regress_sec_shop CASCADE;
DROP ROLE IF EXISTS regress_sec_nobody;
DROP ROLE IF EXISTS regress_sec_app;
RESET client_min_messages;
CREATE ROLE regress_sec_nobody;                 -- no grant at all
CREATE ROLE regress_sec_app;                    -- the application role
SELECT paycons.grant_app_role('regress_sec_app');
CREATE SCHEMA regress_sec_shop AUTHORIZATION regress_sec_app;

-- a real order, paying
SELECT order_id, state FROM paycons.create_order('sec-f-1', 500, 'CNY');
SELECT order_id, state FROM paycons.begin_payment('sec-f-1', 'alipay');
CREATE VIEW pg_temp.sec_f_history AS
    SELECT table_name, from_state, to_state, actor FROM paycons.order_history
     WHERE order_id = 'sec-f-1' ORDER BY id;
CREATE VIEW pg_temp.sec_f_events AS
    SELECT aggregate_type, event_type, headers FROM paycons.outbox
     WHERE aggregate_id = 'sec-f-1' ORDER BY id;
SELECT * FROM pg_temp.sec_f_history;

-- Attack 1: a role with no grant attaches the guard to a temp table and
-- writes "paying -> paid" for the real order.
SET ROLE regress_sec_nobody;
CREATE TEMP TABLE forge (id text PRIMARY KEY, state paycons.order_state NOT NULL DEFAULT 'created');
CREATE TRIGGER forge_history AFTER INSERT OR UPDATE ON forge
    FOR EACH ROW EXECUTE FUNCTION paycons.order_guard('state', 'id');
SELECT pg_temp.try($q$INSERT INTO forge VALUES ('sec-f-1')$q$);
-- the guard still checks the state machine on the user's own table: the
-- one-argument form writes no history and needs no permission
DROP TRIGGER forge_history ON forge;
CREATE TRIGGER forge_guard AFTER INSERT OR UPDATE ON forge
    FOR EACH ROW EXECUTE FUNCTION paycons.order_guard('state');
INSERT INTO forge VALUES ('sec-f-1');
UPDATE forge SET state = 'paying';
UPDATE forge SET state = 'paid';
SELECT pg_temp.try($q$UPDATE forge SET state = 'created'$q$);
DROP TABLE forge;
RESET ROLE;
-- the real order's history is untouched
SELECT * FROM pg_temp.sec_f_history;
SELECT count(*) AS temp_table_rows FROM paycons.order_history WHERE table_name LIKE 'pg_temp%';

-- The owner allows a table: its history rows name the table and the role.
SET ROLE regress_sec_app;
CREATE TABLE regress_sec_shop.orders (no text PRIMARY KEY,
                                      status paycons.order_state NOT NULL DEFAULT 'created');
CREATE TRIGGER shop_history AFTER INSERT OR UPDATE ON regress_sec_shop.orders
    FOR EACH ROW EXECUTE FUNCTION paycons.order_guard('status', 'no');
SELECT pg_temp.try($q$INSERT INTO regress_sec_shop.orders VALUES ('shop-1')$q$);
-- only the owner registers
SELECT pg_temp.try($q$SELECT paycons.allow_guarded_table('regress_sec_shop.orders')$q$);
RESET ROLE;
SELECT paycons.allow_guarded_table('regress_sec_shop.orders');
SELECT paycons.allow_guarded_table('regress_sec_shop.orders');   -- again: no-op
SELECT relid, allowed_by FROM paycons.history_tables;
SET ROLE regress_sec_app;
INSERT INTO regress_sec_shop.orders VALUES ('shop-1');
UPDATE regress_sec_shop.orders SET status = 'paying';
RESET ROLE;
SELECT order_id, table_name, from_state, to_state, actor FROM paycons.order_history
 WHERE table_name = 'regress_sec_shop.orders' ORDER BY id;
-- withdrawn: refused again at once (the trigger's cache is invalidated)
SELECT paycons.disallow_guarded_table('regress_sec_shop.orders');
SELECT paycons.disallow_guarded_table('regress_sec_shop.orders');
SET ROLE regress_sec_app;
SELECT pg_temp.try($q$UPDATE regress_sec_shop.orders SET status = 'paid'$q$);
RESET ROLE;
-- what cannot be registered
CREATE TEMP TABLE sec_f_temp (s paycons.order_state);
SELECT pg_temp.try($q$SELECT paycons.allow_guarded_table('sec_f_temp')$q$);
SELECT pg_temp.try($q$SELECT paycons.allow_guarded_table('pg_temp.sec_f_history')$q$);
SELECT pg_temp.try($q$SELECT paycons.allow_guarded_table('paycons.channels')$q$);
SELECT pg_temp.try($q$SELECT paycons.allow_guarded_table(NULL)$q$);

-- Attack 2: the application role emits order.paid for the real order.
SET ROLE regress_sec_app;
SELECT pg_temp.try($q$SELECT paycons.emit('order', 'sec-f-1', 'order.paid', '{}')$q$);
SELECT pg_temp.try($q$SELECT paycons.emit('ORDER', 'sec-f-1', 'order.paid', '{}')$q$);
SELECT pg_temp.try($q$SELECT paycons.emit('compensation', 'sec-f-1', 'refund.request', '{}')$q$);
-- its own aggregate types are its own; the header names the role
SELECT paycons.emit('regress_sec_cart', 'cart-1', 'cart.paid', '{}', '{"trace": "t1"}') > 0 AS emitted;
-- and nobody writes that header but paycons
SELECT pg_temp.try($q$SELECT paycons.emit('regress_sec_cart', 'cart-1', 'x', '{}', '{"paycons": {"role": "postgres"}}')$q$);
RESET ROLE;
SELECT aggregate_type, event_type, headers FROM paycons.outbox
 WHERE aggregate_type = 'regress_sec_cart' ORDER BY id;
-- the owner may; so may a role the owner allowed (and its members)
BEGIN;
SELECT paycons.emit('order', 'sec-f-1', 'order.note', '{}') > 0 AS emitted;
ROLLBACK;
SELECT pg_temp.try($q$SELECT paycons.allow_emit('regress_sec_nope', 'order')$q$);
SELECT paycons.allow_emit('regress_sec_app', 'order');
SELECT role, aggregate_type FROM paycons.emit_roles;
BEGIN;
SET LOCAL ROLE regress_sec_app;
SELECT paycons.emit('order', 'sec-f-1', 'order.note', '{"by": "app"}') > 0 AS emitted;
RESET ROLE;
SELECT event_type, headers FROM pg_temp.sec_f_events WHERE event_type = 'order.note';
ROLLBACK;
SELECT paycons.disallow_emit('regress_sec_app', 'order');
SET ROLE regress_sec_app;
SELECT pg_temp.try($q$SELECT paycons.emit('order', 'sec-f-1', 'order.paid', '{}')$q$);
RESET ROLE;

-- Attack 3: an outbox trigger on the application's own table writes
-- order.paid events.
SET ROLE regress_sec_app;
CREATE TABLE regress_sec_shop.fake (id text PRIMARY KEY, note text);
CREATE TRIGGER fake_events AFTER INSERT OR UPDATE ON regress_sec_shop.fake
    FOR EACH ROW EXECUTE FUNCTION paycons.outbox_trigger('order', 'id', 'order.paid');
SELECT pg_temp.try($q$INSERT INTO regress_sec_shop.fake VALUES ('sec-f-1', 'x')$q$);
RESET ROLE;
-- the owner allows the table for an aggregate type of its own, not 'order'
SELECT paycons.allow_outbox_table('regress_sec_shop.fake', 'regress_sec_item');
SELECT relid, aggregate_type FROM paycons.outbox_tables;
SET ROLE regress_sec_app;
SELECT pg_temp.try($q$INSERT INTO regress_sec_shop.fake VALUES ('sec-f-1', 'x')$q$);
DROP TRIGGER fake_events ON regress_sec_shop.fake;
CREATE TRIGGER fake_events AFTER INSERT OR UPDATE ON regress_sec_shop.fake
    FOR EACH ROW EXECUTE FUNCTION paycons.outbox_trigger('regress_sec_item', 'id');
INSERT INTO regress_sec_shop.fake VALUES ('item-1', 'x');
RESET ROLE;
SELECT aggregate_type, aggregate_id, event_type, headers FROM paycons.outbox
 WHERE aggregate_type = 'regress_sec_item' ORDER BY id;
SELECT pg_temp.try($q$SELECT paycons.allow_outbox_table('regress_sec_shop.fake', '')$q$);
SELECT pg_temp.try($q$SELECT paycons.allow_outbox_table('regress_sec_shop.fake', repeat('t', 65))$q$);
SELECT paycons.disallow_outbox_table('regress_sec_shop.fake', 'regress_sec_item');
SET ROLE regress_sec_app;
SELECT pg_temp.try($q$UPDATE regress_sec_shop.fake SET note = 'y'$q$);
RESET ROLE;

-- The real order: only paycons's own events, naming who caused them.
SELECT * FROM pg_temp.sec_f_events;

-- leave nothing behind for later test files
DELETE FROM paycons.outbox
 WHERE aggregate_id = 'sec-f-1' OR aggregate_type LIKE 'regress_sec_%';
DELETE FROM paycons.order_history
 WHERE order_id = 'sec-f-1' OR table_name = 'regress_sec_shop.orders';
DELETE FROM paycons.orders WHERE order_id = 'sec-f-1';
SET client_min_messages = warning;
DROP SCHEMA regress_sec_shop CASCADE;
RESET client_min_messages;
DROP OWNED BY regress_sec_app, regress_sec_nobody;
DROP ROLE regress_sec_app, regress_sec_nobody;
SELECT count(*) AS registrations_left
  FROM (SELECT relid FROM paycons.history_tables UNION ALL
        SELECT relid FROM paycons.outbox_tables) r;
