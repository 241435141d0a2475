--
-- review_money: money that does not match its order goes to needs_review
-- and comes back only through paycons.resolve_review(): short, over and
-- wrong-currency payments, money after a close, a second payment while in
-- review; each decision (accept, refund, accept_and_refund, close); and
-- after every step: money in = money applied + money to refund + money
-- waiting in review.
--
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS paycons; RESET client_min_messages;

SELECT paycons.set_channel('rv_pay', ack => 'success');

CREATE FUNCTION pg_temp.cb(p_txn text, p_ord text, p_amt bigint, p_cur text DEFAULT 'CNY',
                           p_kind text DEFAULT 'payment')
RETURNS TABLE (outcome text, state paycons.order_state, duplicate bool)
LANGUAGE sql AS $$
    SELECT outcome, state, duplicate
      FROM paycons.apply_callback('rv_pay', p_txn, p_ord, p_kind, 'success', p_amt, p_cur)
$$;

-- The books of one order, by currency: money in (successful payments),
-- applied (paid_amount taken by the order), to refund (refund
-- compensations), waiting (review pending), refunded (refund callbacks).
CREATE VIEW pg_temp.books AS
SELECT o.order_id, o.state, o.amount, o.paid_amount AS paid, o.refunded_amount AS refunded,
       (SELECT string_agg(c.currency || ' ' || c.amount || ' ' || c.outcome
                          || COALESCE(' ' || c.review, ''), ', ' ORDER BY c.received_at, c.channel_txn_id)
          FROM paycons.callbacks c
         WHERE c.order_id = o.order_id AND c.kind = 'payment' AND c.status = 'success') AS money_in,
       (SELECT string_agg(k.action || ' ' || (k.args->>'currency') || ' ' || (k.args->>'amount'), ', ' ORDER BY k.id)
          FROM paycons.compensations k
         WHERE k.order_id = o.order_id AND k.action LIKE 'refund:%') AS refunds
  FROM paycons.orders o
 WHERE o.order_id LIKE 'rv-%';

-- The accounting check: every payment in the order's currency that is not
-- waiting in review is in paid_amount (applied, or taken and then refunded
-- by a refund compensation); every payment in another currency that is not
-- waiting has a refund compensation of that currency; nothing waits once
-- the order left needs_review.  Lists the orders where that does not hold.
CREATE VIEW pg_temp.unbalanced AS
SELECT o.order_id, o.state, o.paid_amount,
       s.same_taken, s.foreign_taken, s.waiting, r.foreign_refunds
  FROM paycons.orders o
 CROSS JOIN LATERAL (
    SELECT COALESCE(sum(c.amount) FILTER (WHERE c.currency = o.currency
                                           AND c.review IS DISTINCT FROM 'pending'), 0) AS same_taken,
           COALESCE(sum(c.amount) FILTER (WHERE c.currency <> o.currency
                                           AND c.review IS DISTINCT FROM 'pending'), 0) AS foreign_taken,
           count(*) FILTER (WHERE c.review = 'pending') AS waiting
      FROM paycons.callbacks c
     WHERE c.order_id = o.order_id AND c.kind = 'payment' AND c.status = 'success') s
 CROSS JOIN LATERAL (
    SELECT COALESCE(sum((k.args->>'amount')::bigint), 0) AS foreign_refunds
      FROM paycons.compensations k
     WHERE k.order_id = o.order_id AND k.action LIKE 'refund:%'
       AND k.args->>'currency' <> o.currency) r
 WHERE o.order_id LIKE 'rv-%'
   AND (s.same_taken <> o.paid_amount OR s.foreign_taken <> r.foreign_refunds
        OR (s.waiting > 0 AND o.state::text <> 'needs_review'));

SELECT count(*) FROM (
    SELECT paycons.create_order(id, 1000, 'CNY')
      FROM unnest(ARRAY['rv-short', 'rv-over', 'rv-currency', 'rv-topup', 'rv-second',
                        'rv-closed', 'rv-refund', 'rv-both', 'rv-close', 'rv-race']) AS id) s;
SELECT count(*) FROM (
    SELECT paycons.begin_payment(id, 'rv_pay')
      FROM unnest(ARRAY['rv-short', 'rv-over', 'rv-currency', 'rv-topup', 'rv-second',
                        'rv-refund', 'rv-both', 'rv-race']) AS id) s;

-- 1. short, over, wrong currency: the order goes to needs_review, never
-- paid; the money waits; a replay answers the same and changes nothing
SELECT * FROM pg_temp.cb('rv-T-short', 'rv-short', 800);
SELECT * FROM pg_temp.cb('rv-T-short', 'rv-short', 800);
SELECT * FROM pg_temp.cb('rv-T-over', 'rv-over', 1500);
SELECT * FROM pg_temp.cb('rv-T-usd', 'rv-currency', 1000, 'USD');
-- on a created order (never began paying): created -> needs_review
SELECT * FROM pg_temp.cb('rv-T-close', 'rv-close', 10);
SELECT order_id, state, paid, refunded, money_in FROM pg_temp.books
 WHERE order_id IN ('rv-short', 'rv-over', 'rv-currency', 'rv-close') ORDER BY 1;
SELECT order_id, from_state, to_state FROM paycons.order_history
 WHERE order_id IN ('rv-short', 'rv-close') AND to_state::text = 'needs_review' ORDER BY 1;
SELECT aggregate_id, event_type FROM paycons.outbox
 WHERE aggregate_id IN ('rv-short', 'rv-close') AND event_type = 'order.needs_review' ORDER BY 1;

-- 2. the stuck-order sweep never closes an order in review, however late
UPDATE paycons.orders SET pay_deadline = now() - interval '1 day' WHERE order_id = 'rv-short';
SELECT (paycons.run_maintenance())->'orders_closed' AS closed_by_sweep;
SELECT state FROM paycons.orders WHERE order_id = 'rv-short';

-- 3. a second payment while in review joins it (no silent loss); a failure
-- notice changes nothing
SELECT * FROM pg_temp.cb('rv-T-topup-1', 'rv-topup', 600);
SELECT * FROM pg_temp.cb('rv-T-topup-2', 'rv-topup', 400);
SELECT outcome, state FROM paycons.apply_callback('rv_pay', 'rv-T-topup-f', 'rv-topup', 'payment', 'failed', 400, 'CNY');
SELECT order_id, state, paid, money_in FROM pg_temp.books WHERE order_id = 'rv-topup';

-- 4. accept: the money covers the order -> paid; excess refunded
SELECT order_id, state, paid_amount, channel_txn_id
  FROM paycons.resolve_review('rv-topup', 'accept', 'short payment topped up by the customer');
SELECT order_id, state, paid_amount
  FROM paycons.resolve_review('rv-over', 'accept', 'customer tipped; keep 1000, refund 500');
SELECT order_id, state, paid, money_in, refunds FROM pg_temp.books
 WHERE order_id IN ('rv-topup', 'rv-over') ORDER BY 1;
SELECT order_id, from_state, to_state, reason FROM paycons.order_history
 WHERE order_id = 'rv-topup' AND from_state::text = 'needs_review';
-- accepting what does not cover the order is refused, nothing written
SELECT pg_temp.cb('rv-T-second-1', 'rv-second', 300);
\set VERBOSITY sqlstate
SELECT paycons.resolve_review('rv-second', 'accept', 'not enough');
\set VERBOSITY default
SELECT paycons.resolve_review('rv-second', 'accept', 'not enough');
-- a wrong currency cannot be accepted
SELECT paycons.resolve_review('rv-currency', 'accept', 'looks fine');
SELECT order_id, state, paid, money_in FROM pg_temp.books
 WHERE order_id IN ('rv-second', 'rv-currency') ORDER BY 1;

-- 5. refund: every pending payment gets its refund; the order is refunding
-- (money of its currency held) or closed (only foreign money)
SELECT order_id, state, paid_amount
  FROM paycons.resolve_review('rv-short', 'refund', 'customer asked for the money back');
SELECT order_id, state, paid_amount
  FROM paycons.resolve_review('rv-currency', 'refund', 'paid in USD by mistake');
SELECT order_id, state, paid, refunded, money_in, refunds FROM pg_temp.books
 WHERE order_id IN ('rv-short', 'rv-currency') ORDER BY 1;
-- the refunds come back through callbacks: the order balances to refunded
SELECT * FROM pg_temp.cb('rv-R-short', 'rv-short', 800, 'CNY', 'refund');
-- a refund in the foreign currency completes that refund, amounts untouched
SELECT * FROM pg_temp.cb('rv-R-usd', 'rv-currency', 1000, 'USD', 'refund');
SELECT order_id, state, paid, refunded FROM pg_temp.books
 WHERE order_id IN ('rv-short', 'rv-currency') ORDER BY 1;
SELECT order_id, action, state FROM paycons.compensations
 WHERE order_id IN ('rv-short', 'rv-currency') ORDER BY 1, 2;

-- 6. accept_and_refund: short 300 then 900: take both (covers 1000), the
-- second's excess 200 goes back; a foreign payment is refunded
SELECT * FROM pg_temp.cb('rv-T-both-1', 'rv-both', 300);
SELECT * FROM pg_temp.cb('rv-T-both-2', 'rv-both', 900);
SELECT * FROM pg_temp.cb('rv-T-both-3', 'rv-both', 50, 'EUR');
SELECT order_id, state, paid_amount
  FROM paycons.resolve_review('rv-both', 'accept_and_refund', 'keep what covers it');
SELECT order_id, state, paid, money_in, refunds FROM pg_temp.books WHERE order_id = 'rv-both';
-- the second order: short 300, then exact 1000: take 300 + 1000? no: in
-- arrival order 300 (not enough), 1000 (covers), excess 300 refunded
SELECT * FROM pg_temp.cb('rv-T-second-2', 'rv-second', 1000);
SELECT order_id, state, paid_amount
  FROM paycons.resolve_review('rv-second', 'accept_and_refund', 'second attempt paid in full');
SELECT order_id, state, paid, money_in, refunds FROM pg_temp.books WHERE order_id = 'rv-second';

-- 7. money after a close: late_payment, refunded automatically (no review)
SELECT state FROM paycons.transition('rv-closed', 'cancelled', 'customer left');
SELECT * FROM pg_temp.cb('rv-T-late', 'rv-closed', 1000);
SELECT order_id, state, paid, money_in, refunds FROM pg_temp.books WHERE order_id = 'rv-closed';

-- 8. close: only when nothing is held
SELECT paycons.resolve_review('rv-close', 'close', 'nothing to keep');
SELECT order_id, state FROM paycons.resolve_review('rv-close', 'refund', 'ten fen back');
SELECT * FROM pg_temp.cb('rv-R-close', 'rv-close', 10, 'CNY', 'refund');
SELECT order_id, state, paid, refunded FROM pg_temp.books WHERE order_id = 'rv-close';

-- 9. bad input: each refused with its SQLSTATE, nothing written
\set VERBOSITY sqlstate
SELECT paycons.resolve_review(NULL, 'accept', 'x');
SELECT paycons.resolve_review('rv-refund', NULL, 'x');
SELECT paycons.resolve_review('rv-refund', 'accept', NULL);
SELECT paycons.resolve_review('rv-refund', 'accept', '');
SELECT paycons.resolve_review('rv-refund', 'approve', 'x');
SELECT paycons.resolve_review('rv-nope', 'accept', 'x');
SELECT paycons.resolve_review('rv-refund', 'accept', 'x');
SELECT paycons.resolve_review(repeat('x', 65), 'accept', 'x');
\set VERBOSITY default
SELECT paycons.resolve_review('rv-refund', 'approve', 'x');
SELECT paycons.resolve_review('rv-refund', 'accept', 'x');
SELECT state FROM paycons.orders WHERE order_id = 'rv-refund';
-- resolved money stays resolved: a second decision finds the order no
-- longer in review
SELECT paycons.resolve_review('rv-topup', 'refund', 'changed my mind');

-- 10. the books balance for every order of this file
SELECT * FROM pg_temp.unbalanced;
-- (the check can fail: a payment taken without paid_amount is reported)
BEGIN;
UPDATE paycons.callbacks SET review = NULL WHERE channel_txn_id = 'rv-T-usd';
INSERT INTO paycons.callbacks (channel, channel_txn_id, order_id, kind, status, amount, currency, outcome)
VALUES ('rv_pay', 'rv-T-forged', 'rv-refund', 'payment', 'success', 5, 'CNY', 'applied');
SELECT order_id, paid_amount, same_taken, foreign_taken, foreign_refunds FROM pg_temp.unbalanced;
ROLLBACK;
SELECT review, count(*) FROM paycons.callbacks
 WHERE order_id LIKE 'rv-%' AND review IS NOT NULL GROUP BY 1 ORDER BY 1;
