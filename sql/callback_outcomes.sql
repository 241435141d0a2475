--
-- callback_outcomes: every outcome of paycons.apply_callback, and that a
-- replay returns the identical (outcome, state, first_seen_at, ack)
--
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS paycons; RESET client_min_messages;

SELECT paycons.set_channel('cbo_alipay', ack => 'success');
SELECT paycons.set_channel('cbo_wxpay', ack => '<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>');
SELECT paycons.set_channel('cbo_plain');

-- cb(): apply a callback and log its answer; same_as_first compares the
-- answer with the first answer for the same key (NULL on the first call)
CREATE TEMP TABLE cb_log (n serial, channel text, txn text, outcome text,
    state paycons.order_state, duplicate bool, first_seen_at timestamptz, ack text);
CREATE FUNCTION pg_temp.cb(p_ch text, p_txn text, p_ord text, p_kind text, p_st text,
                           p_amt bigint, p_cur text DEFAULT 'CNY', p_src text DEFAULT 'callback')
RETURNS TABLE (outcome text, state paycons.order_state, duplicate bool, ack text, same_as_first bool)
LANGUAGE sql AS $$
    WITH r AS (SELECT * FROM paycons.apply_callback(p_ch, p_txn, p_ord, p_kind, p_st, p_amt, p_cur,
                                                     source => p_src)),
    ins AS (INSERT INTO cb_log (channel, txn, outcome, state, duplicate, first_seen_at, ack)
            SELECT p_ch, p_txn, r.outcome, r.state, r.duplicate, r.first_seen_at, r.ack FROM r
            RETURNING *)
    SELECT ins.outcome, ins.state, ins.duplicate, ins.ack,
           (SELECT (f.outcome, f.state::text, f.first_seen_at, f.ack)
                   IS NOT DISTINCT FROM (ins.outcome, ins.state::text, ins.first_seen_at, ins.ack)
              FROM cb_log f WHERE f.channel = p_ch AND f.txn = p_txn ORDER BY f.n LIMIT 1)
      FROM ins
$$;

-- what happened to the orders of this file
CREATE VIEW pg_temp.cbo_orders AS
SELECT o.order_id, o.state, o.paid_amount AS paid, o.refunded_amount AS refunded,
       o.channel, o.channel_txn_id AS txn,
       (SELECT string_agg(COALESCE(h.from_state::text, '') || '>' || h.to_state, ' ' ORDER BY h.id)
          FROM paycons.order_history h WHERE h.order_id = o.order_id) AS history,
       (SELECT string_agg(e.event_type, ' ' ORDER BY e.id)
          FROM paycons.outbox e
         WHERE e.aggregate_type = 'order' AND e.aggregate_id = o.order_id) AS events
  FROM paycons.orders o
 WHERE o.order_id LIKE 'cbo-%';

SELECT count(*) FROM (
    SELECT paycons.create_order(id, 1000, 'CNY')
      FROM unnest(ARRAY['cbo-pay', 'cbo-created', 'cbo-failed', 'cbo-mis-amount',
                        'cbo-mis-currency', 'cbo-closed', 'cbo-cancelled',
                        'cbo-ref-full', 'cbo-ref-over', 'cbo-ref-partial',
                        'cbo-ref-failed', 'cbo-ref-currency', 'cbo-query',
                        'cbo-fail-created']) AS id) s;
SELECT count(*) FROM (
    SELECT paycons.begin_payment(id, 'cbo_alipay')
      FROM unnest(ARRAY['cbo-pay', 'cbo-failed', 'cbo-mis-amount', 'cbo-mis-currency',
                        'cbo-closed', 'cbo-ref-full', 'cbo-ref-over', 'cbo-ref-partial',
                        'cbo-ref-failed', 'cbo-ref-currency', 'cbo-query']) AS id) s;

-- 1. payment success on a paying order: applied, paid; replays change nothing
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-pay', 'cbo-pay', 'payment', 'success', 1000);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-pay', 'cbo-pay', 'payment', 'success', 1000);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-pay', 'cbo-pay', 'payment', 'success', 1000);
SELECT * FROM pg_temp.cbo_orders WHERE order_id = 'cbo-pay';

-- 2. payment success on a created order: created -> paying -> paid
SELECT * FROM pg_temp.cb('cbo_wxpay', 'cbo-T-created', 'cbo-created', 'payment', 'success', 1000);
SELECT * FROM pg_temp.cb('cbo_wxpay', 'cbo-T-created', 'cbo-created', 'payment', 'success', 1000);
SELECT * FROM pg_temp.cbo_orders WHERE order_id = 'cbo-created';

-- 3. failure notice: paying -> payment_failed; then a success:
-- payment_failed -> paying -> paid
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-failed-1', 'cbo-failed', 'payment', 'failed', 1000);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-failed-1', 'cbo-failed', 'payment', 'failed', 1000);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-failed-2', 'cbo-failed', 'payment', 'success', 1000);
SELECT * FROM pg_temp.cbo_orders WHERE order_id = 'cbo-failed';

-- 4. a failure notice never downgrades: ignored for a paid order and for a
-- created one (created -> payment_failed is no edge)
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-pay-fail', 'cbo-pay', 'payment', 'failed', 1000);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-pay-fail', 'cbo-pay', 'payment', 'failed', 1000);
SELECT * FROM pg_temp.cb('cbo_plain', 'cbo-T-created-fail', 'cbo-fail-created', 'payment', 'failed', 1000);
SELECT * FROM pg_temp.cbo_orders WHERE order_id IN ('cbo-pay', 'cbo-fail-created') ORDER BY 1;

-- 5. amount or currency mismatch: never paid; the order goes to
-- needs_review and the money waits there for paycons.resolve_review()
-- (review_money tests the decisions)
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-mis-1', 'cbo-mis-amount', 'payment', 'success', 999);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-mis-1', 'cbo-mis-amount', 'payment', 'success', 999);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-mis-2', 'cbo-mis-currency', 'payment', 'success', 1000, 'USD');
SELECT * FROM pg_temp.cbo_orders WHERE order_id LIKE 'cbo-mis-%' ORDER BY 1;
-- the matching payment can still arrive afterwards: it joins the review
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-mis-3', 'cbo-mis-amount', 'payment', 'success', 1000);
SELECT channel_txn_id, outcome, state, review FROM paycons.callbacks
 WHERE order_id LIKE 'cbo-mis-%' ORDER BY 1;

-- 6. late payment: closed or cancelled -> refunding, refund compensation
SELECT state FROM paycons.transition('cbo-closed', 'closed', 'pay deadline passed');
SELECT state FROM paycons.transition('cbo-cancelled', 'cancelled', 'customer cancelled');
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-late-1', 'cbo-closed', 'payment', 'success', 1000);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-late-1', 'cbo-closed', 'payment', 'success', 1000);
SELECT * FROM pg_temp.cb('cbo_wxpay', 'cbo-T-late-2', 'cbo-cancelled', 'payment', 'success', 1000);
SELECT * FROM pg_temp.cbo_orders WHERE order_id IN ('cbo-closed', 'cbo-cancelled') ORDER BY 1;

-- 7. a second payment for a paid order: stays paid, its money is refunded
SELECT * FROM pg_temp.cb('cbo_wxpay', 'cbo-T-pay-2', 'cbo-pay', 'payment', 'success', 1000);
SELECT * FROM pg_temp.cb('cbo_wxpay', 'cbo-T-pay-2', 'cbo-pay', 'payment', 'success', 1000);
SELECT * FROM pg_temp.cbo_orders WHERE order_id = 'cbo-pay';

-- the refund compensations: one per late or duplicate payment
SELECT order_id, action, handler, state, args
  FROM paycons.compensations WHERE order_id LIKE 'cbo-%' ORDER BY order_id, action;

-- 8. unknown order: recorded; the first call decides, even once the order exists
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-unknown', 'cbo-unknown', 'payment', 'success', 500);
SELECT order_id FROM paycons.create_order('cbo-unknown', 500, 'CNY');
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-unknown', 'cbo-unknown', 'payment', 'success', 500);
SELECT * FROM pg_temp.cbo_orders WHERE order_id = 'cbo-unknown';

-- 9. same key, different facts: conflict, nothing applied, recorded;
-- the same conflicting facts again are a duplicate of that conflict
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-pay', 'cbo-pay', 'payment', 'success', 1001);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-pay', 'cbo-pay', 'payment', 'success', 1000, 'USD');
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-pay', 'cbo-created', 'payment', 'success', 1000);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-pay', 'cbo-pay', 'refund', 'success', 1000);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-pay', 'cbo-pay', 'payment', 'failed', 1000);
SELECT outcome, state, duplicate, ack
  FROM paycons.apply_callback('cbo_alipay', 'cbo-T-pay', 'cbo-pay', 'payment', 'success', 1001, 'CNY');
SELECT order_id, kind, status, amount, currency, attempts, source
  FROM paycons.callback_conflicts WHERE channel = 'cbo_alipay' AND channel_txn_id = 'cbo-T-pay'
 ORDER BY id;
-- the original is still answered as a replay
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-pay', 'cbo-pay', 'payment', 'success', 1000);
SELECT * FROM pg_temp.cbo_orders WHERE order_id IN ('cbo-pay', 'cbo-created') ORDER BY 1;

-- 10. refunds
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-rf', 'cbo-ref-full', 'payment', 'success', 1000);
SELECT state FROM paycons.transition('cbo-ref-full', 'refunding', 'customer asked');
-- partial refunds accumulate; refunded once they reach the paid amount
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-R-rf-1', 'cbo-ref-full', 'refund', 'success', 400);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-R-rf-1', 'cbo-ref-full', 'refund', 'success', 400);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-R-rf-2', 'cbo-ref-full', 'refund', 'success', 600);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-R-rf-2', 'cbo-ref-full', 'refund', 'success', 600);
-- a refund beyond the paid amount: needs_review
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-ro', 'cbo-ref-over', 'payment', 'success', 1000);
SELECT state FROM paycons.transition('cbo-ref-over', 'refunding');
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-R-ro-1', 'cbo-ref-over', 'refund', 'success', 1200);
-- a refund on a paid order: partial keeps it paid, the rest ends it refunded
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-rp', 'cbo-ref-partial', 'payment', 'success', 1000);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-R-rp-1', 'cbo-ref-partial', 'refund', 'success', 300);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-R-rp-2', 'cbo-ref-partial', 'refund', 'success', 700);
-- a refund failure notice changes nothing
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-rfail', 'cbo-ref-failed', 'payment', 'success', 1000);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-R-rfail', 'cbo-ref-failed', 'refund', 'failed', 1000);
-- a refund in another currency: amount_mismatch, paid -> needs_review
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-rc', 'cbo-ref-currency', 'payment', 'success', 1000);
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-R-rc', 'cbo-ref-currency', 'refund', 'success', 1000, 'USD');
-- the refund of the duplicate payment of cbo-pay: it stays paid
SELECT * FROM pg_temp.cb('cbo_wxpay', 'cbo-R-pay-2', 'cbo-pay', 'refund', 'success', 1000);
-- a refund for an unknown order
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-R-unknown', 'cbo-unknown-2', 'refund', 'success', 100);
SELECT * FROM pg_temp.cbo_orders WHERE order_id LIKE 'cbo-ref-%' OR order_id = 'cbo-pay' ORDER BY 1;

-- 11. source: an active query's answer, then the channel's own callback
-- and the statement line for the same transaction are replays of it
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-query', 'cbo-query', 'payment', 'success', 1000, 'CNY', 'query');
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-query', 'cbo-query', 'payment', 'success', 1000, 'CNY', 'callback');
SELECT * FROM pg_temp.cb('cbo_alipay', 'cbo-T-query', 'cbo-query', 'payment', 'success', 1000, 'CNY', 'statement');
SELECT source, outcome FROM paycons.callbacks WHERE channel_txn_id = 'cbo-T-query';

-- the inbox: one row per key, with the decided outcome and state
SELECT channel, channel_txn_id, order_id, kind, status, amount, currency, outcome, state,
       applied_at IS NOT NULL AS applied, received_at <= applied_at AS in_order
  FROM paycons.callbacks WHERE order_id LIKE 'cbo-%' ORDER BY channel_txn_id;

-- every answer given in this file: replays repeat the first answer exactly
SELECT count(*) AS answers,
       count(*) FILTER (WHERE duplicate) AS replays,
       count(*) FILTER (WHERE duplicate AND outcome <> 'conflict'
                        AND NOT EXISTS (SELECT 1 FROM cb_log f
                                         WHERE f.channel = l.channel AND f.txn = l.txn AND f.n < l.n
                                           AND (f.outcome, f.state::text, f.first_seen_at, f.ack)
                                               IS NOT DISTINCT FROM (l.outcome, l.state::text, l.first_seen_at, l.ack))) AS replays_not_identical
  FROM cb_log l;

-- history: the reason names the callback; the actor is the caller
SELECT from_state, to_state, reason, actor = current_user AS actor_is_caller
  FROM paycons.order_history WHERE order_id = 'cbo-created' ORDER BY id;

-- exactly one order.paid event per paid order, however many deliveries
SELECT e.aggregate_id, count(*) AS paid_events
  FROM paycons.outbox e
 WHERE e.aggregate_type = 'order' AND e.event_type = 'order.paid' AND e.aggregate_id LIKE 'cbo-%'
 GROUP BY 1 ORDER BY 1;

-- 12. only READ COMMITTED: a higher level is refused before anything is written
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM paycons.apply_callback('cbo_alipay', 'cbo-T-rr', 'cbo-pay', 'payment', 'success', 1000, 'CNY');
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT * FROM paycons.apply_callback('cbo_alipay', 'cbo-T-rr', 'cbo-pay', 'payment', 'success', 1000, 'CNY');
ROLLBACK;

-- 13. an unregistered channel is refused (a configuration error: the channel retries)
SELECT * FROM paycons.apply_callback('cbo_nochannel', 'cbo-T-x', 'cbo-pay', 'payment', 'success', 1000, 'CNY');
SELECT count(*) FROM paycons.callbacks WHERE channel IN ('cbo_nochannel') OR channel_txn_id IN ('cbo-T-rr', 'cbo-T-x');
