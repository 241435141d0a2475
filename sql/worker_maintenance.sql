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
SELECT paycons.set_channel('wm-chan');

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
SELECT outcome, state FROM paycons.apply_callback('wm-chan', 'wm-T-2', 'wm-2', 'payment', 'success', 900, 'CNY');
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
-- when it leaves refunding (the refund's callback), its probe is forgotten
SELECT outcome, state FROM paycons.apply_callback('wm-chan', 'wm-R-2', 'wm-2', 'refund', 'success', 900, 'CNY');
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

-- this database is not in paycons.database (the test server lists only
-- postgres): health says so and what to do; passes run here are counted
-- for this database all the same
SELECT datname = current_database() AS this_db, served, worker_status, worker_pid, notifier_pid
  FROM paycons.stats();
SELECT worker_status, worker_pid, last_pass_at IS NOT NULL AS has_last_pass,
       replace(worker_hint, current_database(), 'DB') AS worker_hint
  FROM paycons.health;
SELECT paycons.wake() AS woken;

-- orders waiting for review are counted and aged from a partial index
SELECT orders_needs_review AS review_before FROM paycons.health \gset
SELECT order_id FROM paycons.create_order('wm-review', 100, 'USD');
SELECT order_id, state FROM paycons.begin_payment('wm-review', 'wm-chan');
-- a short payment: the order waits for a review
SELECT outcome, state FROM paycons.apply_callback('wm-chan', 'wm-review-T1', 'wm-review',
                                                  'payment', 'success', 60, 'USD');
SELECT orders_needs_review - :review_before AS review_added,
       oldest_needs_review >= interval '0' AS aged
  FROM paycons.health;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM paycons.orders WHERE state OPERATOR(paycons.=) 'needs_review';
RESET enable_seqscan;

-- callback outcomes: every known outcome is listed, the window is checked
SELECT count(*) >= 8 AS outcomes_listed, bool_and(callbacks >= 0) AS counted
  FROM paycons.callback_outcomes('1 minute');
SELECT jsonb_typeof(callback_outcomes_last_hour) AS last_hour FROM paycons.health;
SELECT * FROM paycons.callback_outcomes('-1 minute');
SELECT * FROM paycons.callback_outcomes(NULL);
