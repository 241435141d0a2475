-- outbox_emit: writing events with emit() and paycons.outbox_trigger()
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS paycons;
RESET client_min_messages;

-- Earlier test files (callbacks, compensations) leave events behind: start
-- from an empty outbox and known ids so this output is deterministic.
TRUNCATE paycons.outbox;
ALTER SEQUENCE paycons.outbox_id_seq RESTART WITH 1001;
\set VERBOSITY default

-- emit(): returns the id, defaults headers NULL, available_at now()
SELECT paycons.emit('shop', 'cart-1', 'cart.checked_out', '{"total": 990}');
SELECT paycons.emit('shop', 'cart-1', 'cart.paid', '{"total": 990}',
                    '{"trace_id": "abc"}', now() + interval '1 hour');
SELECT paycons.emit('shop', 'cart-2', 'cart.created', NULL);   -- NULL payload is {}
SELECT id, aggregate_type, aggregate_id, event_type, payload, headers,
       available_at > now() AS delayed, status, attempts, lease_owner
  FROM paycons.outbox ORDER BY id;

-- emit(): bad input, each with its SQLSTATE; nothing is written.
-- try() runs a statement and shows the SQLSTATE and message it raised.
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END;
$$;
SELECT pg_temp.try($q$SELECT paycons.emit(NULL, 'a', 'e', '{}')$q$);
SELECT pg_temp.try($q$SELECT paycons.emit('t', NULL, 'e', '{}')$q$);
SELECT pg_temp.try($q$SELECT paycons.emit('t', 'a', NULL, '{}')$q$);
SELECT pg_temp.try($q$SELECT paycons.emit('', 'a', 'e', '{}')$q$);
SELECT pg_temp.try($q$SELECT paycons.emit('t', E'a\nb', 'e', '{}')$q$);
SELECT pg_temp.try($q$SELECT paycons.emit(repeat('t', 65), 'a', 'e', '{}')$q$);
SELECT pg_temp.try($q$SELECT paycons.emit('t', repeat('a', 129), 'e', '{}')$q$);
SELECT pg_temp.try($q$SELECT paycons.emit('t', 'a', repeat('e', 129), '{}')$q$);
SELECT pg_temp.try($q$SELECT paycons.emit('t', 'a', 'e', '{}', '[1, 2]')$q$);
SELECT pg_temp.try($q$SELECT paycons.emit('t', 'a', 'e', '{}', '"scalar"')$q$);
SELECT pg_temp.try($q$SELECT paycons.emit('t', 'a', 'e', jsonb_build_object('big', repeat('x', 1024 * 1024)))$q$);
SELECT pg_temp.try($q$SELECT paycons.emit('t', 'a', 'e', '{}', NULL, 'infinity')$q$);
SELECT count(*) AS written_by_bad_calls FROM paycons.outbox WHERE aggregate_type = 't';

-- The order hub: order.created, then order.<state> on every state change,
-- the payload being the order row.
SELECT (paycons.create_order('ob-e-1', 1500, 'EUR')).state;
SELECT (paycons.begin_payment('ob-e-1', 'alipay')).state;
SELECT (paycons.transition('ob-e-1', 'paid', 'test')).state;
UPDATE paycons.orders SET metadata = '{"note": "no state change"}' WHERE order_id = 'ob-e-1';
SELECT id, aggregate_type, aggregate_id, event_type,
       payload->>'state' AS state, payload->>'amount' AS amount,
       payload ? 'metadata' AS full_row
  FROM paycons.outbox WHERE aggregate_id = 'ob-e-1' ORDER BY id;
-- a rolled-back state change leaves no event
BEGIN;
SELECT (paycons.transition('ob-e-1', 'fulfilling')).state;
ROLLBACK;
SELECT count(*) AS fulfilling_events FROM paycons.outbox
 WHERE aggregate_id = 'ob-e-1' AND event_type = 'order.fulfilling';

-- The trigger on a user table, without a column list: the whole row,
-- event types <aggregate type>.created/updated/deleted.
CREATE TABLE ob_items (sku text PRIMARY KEY, qty int NOT NULL, price int, note text);
CREATE TRIGGER ob_items_outbox
    AFTER INSERT OR UPDATE OR DELETE ON ob_items
    FOR EACH ROW EXECUTE FUNCTION paycons.outbox_trigger('item', 'sku');
INSERT INTO ob_items VALUES ('sku-1', 5, 100, 'first'), ('sku-2', 1, 200, NULL);
UPDATE ob_items SET note = 'renamed' WHERE sku = 'sku-1';
DELETE FROM ob_items WHERE sku = 'sku-2';
SELECT id, aggregate_type, aggregate_id, event_type, payload
  FROM paycons.outbox WHERE aggregate_type = 'item' ORDER BY id;
DROP TRIGGER ob_items_outbox ON ob_items;

-- With an event type prefix and a column list: only those columns, and an
-- UPDATE that changes none of them emits nothing.
CREATE TRIGGER ob_items_stock
    AFTER INSERT OR UPDATE OR DELETE ON ob_items
    FOR EACH ROW EXECUTE FUNCTION paycons.outbox_trigger('stock', 'sku', 'inventory.item', 'qty', 'price');
INSERT INTO ob_items VALUES ('sku-3', 7, 300, 'x');
UPDATE ob_items SET note = 'only the note' WHERE sku = 'sku-3';     -- nothing
UPDATE ob_items SET qty = qty WHERE sku = 'sku-3';                  -- same value: nothing
UPDATE ob_items SET price = NULL WHERE sku = 'sku-3';               -- changed to NULL
UPDATE ob_items SET qty = 6 WHERE sku = 'sku-3';
DELETE FROM ob_items WHERE sku = 'sku-3';
SELECT id, aggregate_type, aggregate_id, event_type, payload
  FROM paycons.outbox WHERE aggregate_type = 'stock' ORDER BY id;
DROP TRIGGER ob_items_stock ON ob_items;

-- An event type pattern: {op} and {column} are substituted.
CREATE TRIGGER ob_items_pattern
    AFTER UPDATE ON ob_items
    FOR EACH ROW EXECUTE FUNCTION paycons.outbox_trigger('pat', 'sku', 'item.{op}.{note}');
UPDATE ob_items SET note = 'blue' WHERE sku = 'sku-1';
SELECT event_type FROM paycons.outbox WHERE aggregate_type = 'pat' ORDER BY id;
DROP TRIGGER ob_items_pattern ON ob_items;

-- Trigger misuse: each raises at the first firing, and the statement is undone.
CREATE TRIGGER ob_bad AFTER INSERT ON ob_items
    FOR EACH ROW EXECUTE FUNCTION paycons.outbox_trigger('item', 'no_such_column');
SELECT pg_temp.try($q$INSERT INTO ob_items VALUES ('sku-9', 1, 1, NULL)$q$);
DROP TRIGGER ob_bad ON ob_items;
CREATE TRIGGER ob_bad AFTER INSERT ON ob_items
    FOR EACH ROW EXECUTE FUNCTION paycons.outbox_trigger('item', 'sku', '', 'qty', 'nope');
SELECT pg_temp.try($q$INSERT INTO ob_items VALUES ('sku-9', 1, 1, NULL)$q$);
DROP TRIGGER ob_bad ON ob_items;
CREATE TRIGGER ob_bad AFTER UPDATE ON ob_items
    FOR EACH ROW EXECUTE FUNCTION paycons.outbox_trigger('item', 'sku', 'x.{nope}');
SELECT pg_temp.try($q$UPDATE ob_items SET qty = 2$q$);
DROP TRIGGER ob_bad ON ob_items;
CREATE TRIGGER ob_bad BEFORE INSERT ON ob_items
    FOR EACH ROW EXECUTE FUNCTION paycons.outbox_trigger('item', 'sku');
SELECT pg_temp.try($q$INSERT INTO ob_items VALUES ('sku-9', 1, 1, NULL)$q$);
DROP TRIGGER ob_bad ON ob_items;
CREATE TRIGGER ob_bad AFTER INSERT ON ob_items
    FOR EACH STATEMENT EXECUTE FUNCTION paycons.outbox_trigger('item', 'sku');
SELECT pg_temp.try($q$INSERT INTO ob_items VALUES ('sku-9', 1, 1, NULL)$q$);
DROP TRIGGER ob_bad ON ob_items;
CREATE TRIGGER ob_bad AFTER INSERT ON ob_items
    FOR EACH ROW EXECUTE FUNCTION paycons.outbox_trigger('item');
SELECT pg_temp.try($q$INSERT INTO ob_items VALUES ('sku-9', 1, 1, NULL)$q$);
DROP TRIGGER ob_bad ON ob_items;
CREATE TRIGGER ob_bad AFTER INSERT ON ob_items
    FOR EACH ROW EXECUTE FUNCTION paycons.outbox_trigger('item', 'note');
SELECT pg_temp.try($q$INSERT INTO ob_items VALUES ('sku-9', 1, 1, NULL)$q$);  -- NULL key
DROP TRIGGER ob_bad ON ob_items;
SELECT pg_temp.try($q$SELECT paycons.outbox_trigger()$q$);
SELECT count(*) AS sku_9_rows FROM ob_items WHERE sku = 'sku-9';
SELECT count(*) AS events_total FROM paycons.outbox;
DROP TABLE ob_items;
