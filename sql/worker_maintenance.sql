-- run_maintenance(): stuck paying orders are queried then closed (their
-- stock released), failed stock commits are retried, long refunds are
-- queried, outbox_maintain() is called when present.
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS paycons; RESET client_min_messages;

CREATE FUNCTION wm_pass() RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN (paycons.run_maintenance() ->> 'ran')::bool THEN 'pass' ELSE 'skipped' END
$$;
CREATE VIEW wm_events AS
    SELECT aggregate_id, event_type, payload->>'attempt' AS attempt
      FROM paycons.outbox
     WHERE aggregate_id LIKE 'wm-%' AND event_type NOT LIKE 'order.%'
     ORDER BY id;

SELECT sku, on_hand FROM paycons.add_stock('wm-widget', 10);

-- wm-1 is paying, past its deadline; wm-2 is paying, not yet due
SELECT order_id FROM paycons.create_order('wm-1', 900, 'CNY', '1 millisecond');
SELECT order_id FROM paycons.create_order('wm-2', 900, 'CNY', '1 hour');
SELECT paycons.reserve_stock('wm-1', '[{"sku": "wm-widget", "quantity": 4}]');
SELECT paycons.reserve_stock('wm-2', '[{"sku": "wm-widget", "quantity": 1}]');
SELECT order_id, state FROM paycons.begin_payment('wm-1', 'wm-chan');
SELECT order_id, state FROM paycons.begin_payment('wm-2', 'wm-chan');
SELECT pg_sleep(0.01);

-- within the grace: a payment.query command, not a close
SET paycons.stuck_grace = '1h';
SELECT wm_pass();
SELECT * FROM wm_events;
SELECT event_type, payload->>'order_id' AS order_id, payload->>'channel' AS channel,
       payload->>'amount' AS amount, payload->>'currency' AS currency
  FROM paycons.outbox WHERE aggregate_id = 'wm-1' AND event_type = 'payment.query';
SELECT order_id, kind, attempts, next_at > now() AS next_later FROM paycons.order_probes WHERE order_id LIKE 'wm-%';
-- again at once: the backoff delay has not passed, nothing new
SELECT wm_pass();
SELECT count(*) AS queries FROM paycons.outbox WHERE aggregate_id = 'wm-1' AND event_type = 'payment.query';
-- once it passes, the next query goes out (attempt 2)
UPDATE paycons.order_probes SET next_at = now() WHERE order_id = 'wm-1';
SELECT wm_pass();
SELECT * FROM wm_events;

-- past deadline + grace: closed, release_stock enqueued and run in the same pass
SET paycons.stuck_grace = 0;
SELECT wm_pass();
SELECT order_id, state FROM paycons.orders WHERE order_id LIKE 'wm-%' ORDER BY order_id;
SELECT order_id, from_state, to_state, reason FROM paycons.order_history
 WHERE order_id = 'wm-1' AND to_state::text = 'closed';
SELECT order_id, action, state, attempts FROM paycons.compensations WHERE order_id LIKE 'wm-%';
SELECT sku, on_hand, reserved FROM paycons.stock WHERE sku = 'wm-widget';
SELECT order_id, state FROM paycons.stock_orders WHERE order_id LIKE 'wm-%' ORDER BY order_id;
SELECT count(*) AS probes_left FROM paycons.order_probes WHERE order_id = 'wm-1';
-- a success arriving after the close cannot make it paid (the callback's
-- late_payment path refunds it instead)
SELECT order_id, state FROM paycons.transition('wm-1', 'paid');
RESET paycons.stuck_grace;

-- a paid order whose stock commit failed is committed by the next pass
ALTER TABLE paycons.orders DISABLE TRIGGER paycons_stock;
SELECT order_id, state FROM paycons.transition('wm-2', 'paid');
ALTER TABLE paycons.orders ENABLE TRIGGER paycons_stock;
SELECT order_id, state FROM paycons.stock_orders WHERE order_id = 'wm-2';
SELECT wm_pass();
SELECT order_id, state FROM paycons.stock_orders WHERE order_id = 'wm-2';
SELECT sku, on_hand, reserved FROM paycons.stock WHERE sku = 'wm-widget';

-- refunding too long: refund.query
SELECT order_id, state FROM paycons.transition('wm-2', 'refunding');
SET paycons.refund_stuck_after = '1h';
SELECT wm_pass();
SELECT count(*) AS refund_queries FROM paycons.outbox WHERE aggregate_id = 'wm-2' AND event_type = 'refund.query';
SET paycons.refund_stuck_after = 0;
SELECT wm_pass();
SELECT event_type, payload->>'order_id' AS order_id, payload->>'attempt' AS attempt
  FROM paycons.outbox WHERE aggregate_id = 'wm-2' AND event_type = 'refund.query';
-- when it leaves refunding, its probe is forgotten
SELECT order_id, state FROM paycons.transition('wm-2', 'refunded');
SELECT wm_pass();
SELECT count(*) AS probes_left FROM paycons.order_probes WHERE order_id = 'wm-2';
RESET paycons.refund_stuck_after;

-- paycons.outbox_maintain() is called when the catalog has it (a stub
-- stands in when the outbox's own is not installed)
CREATE VIEW wm_outbox_maintain AS
    SELECT p.oid, obj_description(p.oid, 'pg_proc') = 'wm-stub' AS stub
      FROM pg_proc p WHERE p.proname = 'outbox_maintain' AND p.pronamespace = 'paycons'::regnamespace;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM wm_outbox_maintain) THEN
        CREATE FUNCTION paycons.outbox_maintain() RETURNS jsonb LANGUAGE sql
            AS $f$ SELECT '{"stub": true}'::jsonb $f$;
        COMMENT ON FUNCTION paycons.outbox_maintain() IS 'wm-stub';
    END IF;
END;
$$;
SELECT CASE WHEN (SELECT stub FROM wm_outbox_maintain)
            THEN paycons.run_maintenance() -> 'outbox_maintain' = '{"stub": true}'
            ELSE jsonb_typeof(paycons.run_maintenance() -> 'outbox_maintain') = 'object' END AS outbox_maintain_called;
DO $$
BEGIN
    IF (SELECT stub FROM wm_outbox_maintain) THEN
        DROP FUNCTION paycons.outbox_maintain();
    END IF;
END;
$$;

-- the result names every kind of action
SELECT key FROM jsonb_object_keys(paycons.run_maintenance()) AS key ORDER BY key;

-- health and stats: one row, the columns on-call reads
SELECT count(*) AS rows, bool_and(orders_paying >= 0 AND compensations_dead >= 0) AS sane
  FROM paycons.health;
-- (with or without shared_preload_libraries: stats() tells which, and
-- counts passes only with it)
SELECT preloaded = (current_setting('shared_preload_libraries') ~ 'paycons') AS preloaded_as_configured,
       CASE WHEN preloaded THEN passes > 0 ELSE passes = 0 END AS counted
  FROM paycons.stats();
SELECT count(*) > 0 AS has_counts FROM paycons.order_counts;
