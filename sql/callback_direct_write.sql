--
-- callback_direct_write: apply_callback writes the order without SQL when
-- the order hub's triggers are the installed ones (order_write.c), and
-- through an UPDATE and the trigger manager otherwise.  Both must leave the
-- same order row, history row and outbox event.
--
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS paycons; RESET client_min_messages;
SET search_path = paycons, public;

SELECT set_channel('dw', ack => 'success');
SELECT order_id FROM create_order('dw-direct', 1000, 'CNY');
SELECT order_id FROM create_order('dw-sql', 1000, 'CNY');
SELECT order_id FROM create_order('dw-2step', 1000, 'CNY');
SELECT state FROM begin_payment('dw-direct', 'dw');
SELECT state FROM begin_payment('dw-sql', 'dw');

-- the direct path: paying -> paid, and no trigger function runs
BEGIN;
SET LOCAL track_functions = 'all';
SELECT outcome, state, duplicate
  FROM apply_callback('dw', 'T-direct', 'dw-direct', 'payment', 'success', 1000, 'CNY');
SELECT funcname, calls FROM pg_stat_xact_user_functions
 WHERE schemaname = 'paycons' AND funcname IN ('order_guard', 'outbox_trigger', 'stock_on_order_state')
 ORDER BY funcname;
COMMIT;
-- two edges in one call (created -> paying -> paid), each recorded
SELECT outcome, state, duplicate
  FROM apply_callback('dw', 'T-2step', 'dw-2step', 'payment', 'success', 1000, 'CNY');

-- a user's own trigger on the hub: apply_callback must go through SQL, so
-- that the trigger fires
CREATE FUNCTION public.dw_user_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'user trigger: order % % -> %', NEW.order_id, OLD.state, NEW.state;
    RETURN NULL;
END;
$$;
CREATE TRIGGER dw_user AFTER UPDATE ON paycons.orders
    FOR EACH ROW EXECUTE FUNCTION public.dw_user_trigger();
BEGIN;
SET LOCAL track_functions = 'all';
SELECT outcome, state, duplicate
  FROM apply_callback('dw', 'T-sql', 'dw-sql', 'payment', 'success', 1000, 'CNY');
SELECT funcname, calls FROM pg_stat_xact_user_functions
 WHERE schemaname = 'paycons' AND funcname IN ('order_guard', 'outbox_trigger', 'stock_on_order_state')
 ORDER BY funcname;
COMMIT;
DROP TRIGGER dw_user ON paycons.orders;
DROP FUNCTION public.dw_user_trigger();

-- the same order rows, whichever path wrote them
SELECT order_id, state, paid_amount, channel, channel_txn_id,
       updated_at = state_changed_at AS stamped_together,
       state_changed_at > created_at AS stamped
  FROM orders WHERE order_id LIKE 'dw-%' ORDER BY order_id;

-- the same history: one row per edge, with the caller and the reason
SELECT order_id, from_state, to_state, table_name, actor = current_user AS actor_is_caller,
       reason, txid IS NOT NULL AS has_txid
  FROM order_history WHERE order_id LIKE 'dw-%' ORDER BY order_id, id;

-- the same events: order.<state> with the whole new row
SELECT aggregate_type, aggregate_id, event_type, payload->>'state' AS payload_state,
       payload->>'paid_amount' AS payload_paid
  FROM outbox WHERE aggregate_id LIKE 'dw-%' ORDER BY aggregate_id, id;
SELECT (d.payload - '{order_id,channel_txn_id,created_at,updated_at,state_changed_at,pay_deadline}'::text[])
     = (s.payload - '{order_id,channel_txn_id,created_at,updated_at,state_changed_at,pay_deadline}'::text[])
       AS same_payload
  FROM outbox d, outbox s
 WHERE d.aggregate_id = 'dw-direct' AND d.event_type = 'order.paid'
   AND s.aggregate_id = 'dw-sql' AND s.event_type = 'order.paid';

-- replays change nothing on either path
SELECT outcome, state, duplicate
  FROM apply_callback('dw', 'T-direct', 'dw-direct', 'payment', 'success', 1000, 'CNY');
SELECT count(*) AS history_rows FROM order_history WHERE order_id LIKE 'dw-%';
SELECT count(*) AS events FROM outbox WHERE aggregate_id LIKE 'dw-%';
