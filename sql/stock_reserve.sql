-- Stock reservations: all or nothing, no oversell, commit on payment,
-- release (and its empty-compensation and anti-suspension rules).
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS paycons; RESET client_min_messages;

-- Run a statement; show "ok" or its SQLSTATE and message.
CREATE FUNCTION stock_try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END;
$$;
CREATE FUNCTION stock_show(skus text[]) RETURNS TABLE (sku text, on_hand bigint, reserved bigint)
LANGUAGE sql AS $$
    SELECT sku, on_hand, reserved FROM paycons.stock WHERE sku = ANY (skus) ORDER BY sku
$$;

SELECT sku, on_hand, reserved FROM paycons.add_stock('sr-apple', 5);
SELECT sku, on_hand, reserved FROM paycons.add_stock('sr-pear', 2);
SELECT sku, on_hand, reserved FROM paycons.add_stock('sr-pear', 1);   -- adds up

SELECT order_id FROM paycons.create_order('sr-1', 1000, 'USD');
SELECT order_id FROM paycons.create_order('sr-2', 1000, 'USD');
SELECT order_id FROM paycons.create_order('sr-3', 1000, 'USD');

-- reserve; the same reservation again is a replay (false), not a second one
SELECT paycons.reserve_stock('sr-1', '[{"sku": "sr-apple", "quantity": 2}, {"sku": "sr-pear", "quantity": 1}]');
SELECT paycons.reserve_stock('sr-1', '[{"sku": "sr-pear", "quantity": 1}, {"sku": "sr-apple", "quantity": 1}, {"sku": "sr-apple", "quantity": 1}]');
SELECT * FROM stock_show('{sr-apple,sr-pear}');
-- a different reservation for the same order is a conflict
SELECT stock_try($$SELECT paycons.reserve_stock('sr-1', '[{"sku": "sr-apple", "quantity": 3}]')$$);

-- oversell refused, and all or nothing: the pear line fits but nothing is taken
SELECT stock_try($$SELECT paycons.reserve_stock('sr-2', '[{"sku": "sr-pear", "quantity": 2}, {"sku": "sr-apple", "quantity": 4}]')$$);
SELECT * FROM stock_show('{sr-apple,sr-pear}');
SELECT count(*) AS sr2_rows FROM paycons.stock_orders WHERE order_id = 'sr-2';
-- exactly what is left fits
SELECT paycons.reserve_stock('sr-2', '[{"sku": "sr-apple", "quantity": 3}]');
SELECT * FROM stock_show('{sr-apple,sr-pear}');
SELECT stock_try($$SELECT paycons.reserve_stock('sr-3', '[{"sku": "sr-apple", "quantity": 1}]')$$);

-- payment commits: on_hand and reserved both drop
SELECT order_id, state FROM paycons.begin_payment('sr-1', 'sr-chan');
SELECT order_id, state FROM paycons.transition('sr-1', 'paid', 'test: paid by hand (forced)');
SELECT * FROM stock_show('{sr-apple,sr-pear}');
SELECT order_id, state FROM paycons.stock_orders WHERE order_id = 'sr-1';
SELECT paycons.commit_stock('sr-1');          -- already committed: no-op
SELECT paycons.release_stock('sr-1');         -- committed stock is not released
SELECT * FROM stock_show('{sr-apple,sr-pear}');

-- cancelling enqueues release_stock; its handler gives the stock back
SELECT order_id, state FROM paycons.transition('sr-2', 'cancelled');
SELECT order_id, action, handler, state FROM paycons.compensations WHERE order_id = 'sr-2';
SELECT paycons.release_stock('sr-2', '{}');
SELECT * FROM stock_show('{sr-apple,sr-pear}');
SELECT paycons.release_stock('sr-2');         -- again: no-op
SELECT * FROM stock_show('{sr-apple,sr-pear}');

-- empty compensation: a release with no reservation succeeds as a no-op ...
SELECT paycons.release_stock('sr-3');
SELECT order_id, state FROM paycons.stock_orders WHERE order_id = 'sr-3';
-- ... and a reservation arriving after its release is refused (anti-suspension)
SELECT stock_try($$SELECT paycons.reserve_stock('sr-3', '[{"sku": "sr-apple", "quantity": 1}]')$$);
SELECT * FROM stock_show('{sr-apple,sr-pear}');
-- a closed order without a reservation enqueues nothing
SELECT count(*) FROM paycons.compensations WHERE order_id = 'sr-3';

-- bad input: each a clear error, nothing written
SELECT order_id FROM paycons.create_order('sr-bad', 1000, 'USD');
SELECT stock_try($$SELECT paycons.reserve_stock(NULL, '[{"sku": "sr-apple", "quantity": 1}]')$$);
SELECT stock_try($$SELECT paycons.reserve_stock('sr-bad', NULL)$$);
SELECT stock_try($$SELECT paycons.reserve_stock('sr-bad', '[{"sku": "sr-apple", "quantity": 0}]')$$);
SELECT stock_try($$SELECT paycons.reserve_stock('sr-bad', '[{"sku": "sr-apple", "quantity": -2}]')$$);
SELECT stock_try($$SELECT paycons.reserve_stock('sr-bad', '[{"sku": "sr-apple", "quantity": 1.5}]')$$);
SELECT stock_try($$SELECT paycons.reserve_stock('sr-bad', '[{"sku": "sr-apple", "quantity": "1"}]')$$);
SELECT stock_try($$SELECT paycons.reserve_stock('sr-bad', '[{"sku": "sr-apple"}]')$$);
SELECT stock_try($$SELECT paycons.reserve_stock('sr-bad', '[{"sku": "sr-nope", "quantity": 1}]')$$);
SELECT stock_try($$SELECT paycons.reserve_stock('sr-bad', '[{"sku": 7, "quantity": 1}]')$$);
SELECT stock_try($$SELECT paycons.reserve_stock('sr-bad', '[{"sku": "", "quantity": 1}]')$$);
SELECT stock_try($$SELECT paycons.reserve_stock('sr-bad', ('[' || repeat('{"sku": "x", "quantity": 1},', 1000) || '{"sku": "x", "quantity": 1}]')::jsonb)$$);
SELECT stock_try($$SELECT paycons.reserve_stock('sr-bad', '[]')$$);
SELECT stock_try($$SELECT paycons.reserve_stock('sr-bad', '{"sku": "sr-apple", "quantity": 1}')$$);
SELECT stock_try($$SELECT paycons.reserve_stock('sr-bad', '["sr-apple"]')$$);
SELECT stock_try($$SELECT paycons.reserve_stock('sr-missing', '[{"sku": "sr-apple", "quantity": 1}]')$$);
SELECT stock_try($$SELECT paycons.reserve_stock('sr-1', '[{"sku": "sr-apple", "quantity": 1}]')$$);
SELECT stock_try($$SELECT paycons.add_stock('sr-apple', 0)$$);
SELECT stock_try($$SELECT paycons.add_stock('sr-apple', -1)$$);
SELECT stock_try($$SELECT paycons.add_stock(NULL, 1)$$);
SELECT stock_try($$SELECT paycons.add_stock(repeat('s', 65), 1)$$);
SELECT stock_try($$SELECT paycons.release_stock(NULL)$$);
SELECT stock_try($$SELECT paycons.commit_stock('')$$);
SELECT * FROM stock_show('{sr-apple,sr-pear}');
SELECT count(*) AS bad_rows FROM paycons.stock_orders WHERE order_id IN ('sr-bad', 'sr-missing');
-- a paid order that never reserved: nothing to commit
SELECT order_id, state FROM paycons.begin_payment('sr-bad', 'sr-chan');
SELECT order_id, state FROM paycons.transition('sr-bad', 'paid', 'test: paid by hand (forced)');
SELECT count(*) FROM paycons.stock_orders WHERE order_id = 'sr-bad';
