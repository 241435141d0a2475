--
-- verify: paycons.verify() audits the money invariants.  In a database of
-- its own (the other regress tests tamper with their rows on purpose), a
-- normal database is built through the API only -- orders in every state,
-- every callback outcome, reviews resolved each way, refunds, stock,
-- maintenance, a consumer acknowledging events -- and verify() finds
-- nothing.  Then each invariant is broken once on purpose, as the owner,
-- inside a transaction that is rolled back, and verify() reports it with
-- its name and the order (or sku) it concerns.
--
SET client_min_messages = warning;
DROP DATABASE IF EXISTS paycons_verify;
CREATE DATABASE paycons_verify;
\c paycons_verify
SET client_min_messages = warning; CREATE EXTENSION paycons; RESET client_min_messages;

SELECT paycons.set_channel('vf', ack => 'success');
SELECT paycons.set_channel('vf_signed', secret => 'vf-secret', require_signature => true);
SELECT sku, on_hand FROM paycons.add_stock('vf-sku', 100);

CREATE FUNCTION pg_temp.cb(p_txn text, p_ord text, p_amt bigint, p_cur text DEFAULT 'CNY',
                           p_kind text DEFAULT 'payment', p_status text DEFAULT 'success')
RETURNS TABLE (outcome text, state paycons.order_state, duplicate bool)
LANGUAGE sql AS $$
    SELECT outcome, state, duplicate
      FROM paycons.apply_callback('vf', p_txn, p_ord, p_kind, p_status, p_amt, p_cur)
$$;

-- every order owes 1000 CNY; vf-closed and vf-late get no time to pay
SELECT count(*) FROM (
    SELECT paycons.create_order(id, 1000, 'CNY')
      FROM unnest(ARRAY['vf-created', 'vf-paying', 'vf-failed', 'vf-paid', 'vf-fulfilling',
                        'vf-shipped', 'vf-completed', 'vf-cancelled', 'vf-refunding', 'vf-refunded',
                        'vf-review', 'vf-dup', 'vf-partial', 'vf-over', 'vf-usdrefund',
                        'vf-accept', 'vf-refundrev', 'vf-foreign', 'vf-both', 'vf-close']) AS id) s;
SELECT count(*) FROM (
    SELECT paycons.create_order(id, 1000, 'CNY', '1 millisecond')
      FROM unnest(ARRAY['vf-closed', 'vf-late']) AS id) s;
SELECT count(*) FROM (
    SELECT paycons.begin_payment(id, 'vf')
      FROM unnest(ARRAY['vf-paying', 'vf-failed', 'vf-paid', 'vf-fulfilling', 'vf-shipped',
                        'vf-completed', 'vf-refunding', 'vf-refunded', 'vf-review', 'vf-dup',
                        'vf-partial', 'vf-over', 'vf-usdrefund', 'vf-accept', 'vf-refundrev',
                        'vf-foreign', 'vf-both', 'vf-close', 'vf-closed', 'vf-late']) AS id) s;

-- stock: committed when paid, released when closed or cancelled, still
-- reserved while paying
SELECT paycons.reserve_stock('vf-paid', '[{"sku": "vf-sku", "quantity": 2}]');
SELECT paycons.reserve_stock('vf-closed', '[{"sku": "vf-sku", "quantity": 3}]');
SELECT paycons.reserve_stock('vf-cancelled', '[{"sku": "vf-sku", "quantity": 4}]');
SELECT paycons.reserve_stock('vf-paying', '[{"sku": "vf-sku", "quantity": 5}]');

-- payments: applied, a failure, a failure ignored, a mismatch, a top-up
-- held for review, a duplicate, an unknown order, a conflict, a forgery
SELECT * FROM pg_temp.cb('T-paid', 'vf-paid', 1000);
SELECT * FROM pg_temp.cb('T-paid', 'vf-paid', 1000);
SELECT * FROM pg_temp.cb('T-failed', 'vf-failed', 1000, 'CNY', 'payment', 'failed');
SELECT * FROM pg_temp.cb('T-paid-f', 'vf-paid', 1000, 'CNY', 'payment', 'failed');
SELECT count(*) FROM (
    SELECT pg_temp.cb('T-' || id, id, 1000)
      FROM unnest(ARRAY['vf-fulfilling', 'vf-shipped', 'vf-completed', 'vf-refunding', 'vf-refunded',
                        'vf-dup', 'vf-partial', 'vf-over', 'vf-usdrefund']) AS id) s;
SELECT * FROM pg_temp.cb('T-review', 'vf-review', 700);
SELECT * FROM pg_temp.cb('T-review-2', 'vf-review', 300);
SELECT * FROM pg_temp.cb('T-dup-2', 'vf-dup', 1000);
SELECT * FROM pg_temp.cb('T-nobody', 'vf-nobody', 1000);
SELECT * FROM pg_temp.cb('T-paid', 'vf-paid', 999);
SELECT outcome, state FROM paycons.apply_callback('vf_signed', 'T-forged', 'vf-paying', 'payment', 'success',
                                                  1000, 'CNY', NULL, 'deadbeef', 'forged body');

-- the order's life after payment
SELECT state FROM paycons.transition('vf-fulfilling', 'fulfilling');
SELECT state FROM paycons.transition('vf-shipped', 'fulfilling');
SELECT state FROM paycons.transition('vf-shipped', 'shipped');
SELECT state FROM paycons.transition('vf-completed', 'fulfilling');
SELECT state FROM paycons.transition('vf-completed', 'shipped');
SELECT state FROM paycons.transition('vf-completed', 'completed');
SELECT state FROM paycons.transition('vf-cancelled', 'cancelled', 'customer left');
SELECT state FROM paycons.transition('vf-refunding', 'refunding', 'customer asked');

-- refunds: a full one, a failed notice, a partial one, the refund of the
-- duplicate, an over-refund, a refund in another currency
SELECT * FROM pg_temp.cb('R-refunded', 'vf-refunded', 1000, 'CNY', 'refund');
SELECT * FROM pg_temp.cb('R-refunding-f', 'vf-refunding', 1000, 'CNY', 'refund', 'failed');
SELECT * FROM pg_temp.cb('R-partial', 'vf-partial', 300, 'CNY', 'refund');
SELECT * FROM pg_temp.cb('R-dup-2', 'vf-dup', 1000, 'CNY', 'refund');
SELECT * FROM pg_temp.cb('R-over', 'vf-over', 1500, 'CNY', 'refund');
SELECT * FROM pg_temp.cb('R-usd', 'vf-usdrefund', 1000, 'USD', 'refund');

-- reviews, each decision: accept a top-up, refund a short payment, refund
-- a payment in another currency (and its refund comes back), accept and
-- refund, close an order whose review holds nothing
SELECT * FROM pg_temp.cb('T-accept-1', 'vf-accept', 600);
SELECT * FROM pg_temp.cb('T-accept-2', 'vf-accept', 400);
SELECT state, paid_amount FROM paycons.resolve_review('vf-accept', 'accept', 'topped up');
SELECT * FROM pg_temp.cb('T-refundrev', 'vf-refundrev', 800);
SELECT state, paid_amount FROM paycons.resolve_review('vf-refundrev', 'refund', 'short, give it back');
SELECT * FROM pg_temp.cb('R-refundrev', 'vf-refundrev', 800, 'CNY', 'refund');
SELECT * FROM pg_temp.cb('T-foreign', 'vf-foreign', 150, 'USD');
SELECT state, paid_amount FROM paycons.resolve_review('vf-foreign', 'refund', 'paid in USD');
SELECT * FROM pg_temp.cb('R-foreign', 'vf-foreign', 150, 'USD', 'refund');
SELECT * FROM pg_temp.cb('T-both-1', 'vf-both', 1200);
SELECT * FROM pg_temp.cb('T-both-2', 'vf-both', 50, 'EUR');
SELECT state, paid_amount FROM paycons.resolve_review('vf-both', 'accept_and_refund', 'keep 1000');
SELECT * FROM pg_temp.cb('R-close', 'vf-close', 10, 'USD', 'refund');
SELECT state FROM paycons.resolve_review('vf-close', 'close', 'nothing held');

-- maintenance: the stuck orders are closed and their stock released; money
-- after the close is a late payment, refunded
SET paycons.stuck_grace = 0;
SELECT (r->'orders_closed')::int AS closed FROM paycons.run_maintenance() r;
RESET paycons.stuck_grace;
SELECT * FROM pg_temp.cb('T-late', 'vf-late', 1000);
SELECT (r->'compensations_done')::int >= 0 AS ran FROM paycons.run_maintenance() r;

-- a consumer takes the events of half the orders and acknowledges them
SELECT count(*) > 0 AS claimed FROM (
    SELECT paycons.outbox_ack(array_agg(id), 'vf-consumer')
      FROM paycons.outbox_claim('vf-consumer', 1000, '1 minute')
     WHERE aggregate_id <= 'vf-m') s;

-- every state and every callback outcome is there
SELECT state, count(*) FROM paycons.orders GROUP BY 1 ORDER BY 1;
SELECT outcome, count(*) FROM paycons.callbacks GROUP BY 1 ORDER BY 1;
SELECT count(*) AS conflicts FROM paycons.callback_conflicts;
SELECT bad_signatures FROM paycons.channels WHERE channel = 'vf_signed';
SELECT on_hand, reserved FROM paycons.stock WHERE sku = 'vf-sku';
SELECT order_id, state FROM paycons.stock_orders ORDER BY 1;
SELECT action, state FROM paycons.compensations ORDER BY order_id, action;
SELECT count(*) > 0 AS live_events, count(*) < (SELECT count(*) FROM paycons.order_history) AS some_acked
  FROM paycons.outbox;

-- clean: the whole database, and a window
SELECT * FROM paycons.verify();
SELECT * FROM paycons.verify(now() - interval '1 hour');

-- Each invariant broken once, as the owner, rolled back.  Where the guard
-- trigger would refuse the change, session_replication_role = replica
-- bypasses it (and every other trigger).

-- 1. a callback changes another order too (a second application)
BEGIN;
INSERT INTO paycons.order_history (order_id, from_state, to_state, reason)
VALUES ('vf-created', 'created', 'created', 'callback vf T-paid');
SELECT * FROM paycons.verify();
ROLLBACK;

-- 2. an order took a second applied payment
BEGIN;
INSERT INTO paycons.callbacks (channel, channel_txn_id, order_id, kind, status, amount, currency, outcome, state)
VALUES ('vf', 'T-paid-again', 'vf-paid', 'payment', 'success', 1000, 'CNY', 'applied', 'paid');
SELECT * FROM paycons.verify();
ROLLBACK;

-- 3. paid_amount that no payment explains
BEGIN;
UPDATE paycons.orders SET paid_amount = paid_amount + 1 WHERE order_id = 'vf-fulfilling';
SELECT * FROM paycons.verify();
ROLLBACK;

-- 4. refunded_amount that no refund explains
BEGIN;
UPDATE paycons.orders SET refunded_amount = 100 WHERE order_id = 'vf-completed';
SELECT * FROM paycons.verify();
ROLLBACK;

-- 5. more refunded than paid, without an over-refund
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO paycons.callbacks (channel, channel_txn_id, order_id, kind, status, amount, currency, outcome, state)
VALUES ('vf', 'R-shipped', 'vf-shipped', 'refund', 'success', 2000, 'CNY', 'applied', 'shipped');
UPDATE paycons.orders SET refunded_amount = 2000 WHERE order_id = 'vf-shipped';
SELECT * FROM paycons.verify();
ROLLBACK;

-- 6. a paid order without its money
BEGIN;
UPDATE paycons.orders SET amount = 5000 WHERE order_id = 'vf-paid';
SELECT * FROM paycons.verify();
ROLLBACK;

-- 7. a cancelled order keeps money and nothing refunds it
BEGIN;
INSERT INTO paycons.callbacks (channel, channel_txn_id, order_id, kind, status, amount, currency, outcome, state)
VALUES ('vf', 'T-kept', 'vf-cancelled', 'payment', 'success', 1000, 'CNY', 'applied', 'cancelled');
UPDATE paycons.orders SET paid_amount = 1000, channel = 'vf', channel_txn_id = 'T-kept'
 WHERE order_id = 'vf-cancelled';
SELECT * FROM paycons.verify();
ROLLBACK;

-- 8. an order refunding with nothing left to refund (its refund came back
-- but the order was not moved on)
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO paycons.callbacks (channel, channel_txn_id, order_id, kind, status, amount, currency, outcome, state)
VALUES ('vf', 'R-refunding', 'vf-refunding', 'refund', 'success', 1000, 'CNY', 'applied', 'refunding');
UPDATE paycons.orders SET refunded_amount = 1000 WHERE order_id = 'vf-refunding';
SELECT * FROM paycons.verify();
ROLLBACK;

-- 9. money waits for review but its order has left review
BEGIN;
UPDATE paycons.callbacks SET review = 'pending' WHERE channel_txn_id = 'T-foreign';
SELECT * FROM paycons.verify();
ROLLBACK;

-- 10. an order in review with nothing to review (a legal edge, by hand)
BEGIN;
SELECT state FROM paycons.transition('vf-paid', 'needs_review', 'looks odd');
SELECT * FROM paycons.verify();
ROLLBACK;

-- 11. the refund of a duplicate payment is lost
BEGIN;
DELETE FROM paycons.compensations WHERE order_id = 'vf-dup' AND action = 'refund:T-dup-2';
SELECT * FROM paycons.verify();
ROLLBACK;

-- 12. money in another currency is kept
BEGIN;
DELETE FROM paycons.compensations WHERE order_id = 'vf-foreign' AND action = 'refund:T-foreign';
SELECT * FROM paycons.verify();
ROLLBACK;

-- 13. a state change without its history row (the guard is bypassed), and
-- a history row lost
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE paycons.orders SET state = 'shipped' WHERE order_id = 'vf-fulfilling';
DELETE FROM paycons.order_history WHERE order_id = 'vf-completed' AND to_state::text = 'shipped';
SELECT * FROM paycons.verify();
ROLLBACK;

-- 14. an event that no state change explains, and an event lost (both
-- orders' events are still in the outbox)
BEGIN;
SELECT paycons.emit('order', 'vf-review', 'order.paid', '{}') > 0 AS emitted;
DELETE FROM paycons.outbox WHERE aggregate_id = 'vf-usdrefund' AND event_type = 'order.needs_review';
SELECT * FROM paycons.verify();
ROLLBACK;

-- 15. stock still held for a cancelled order after its release ran
BEGIN;
UPDATE paycons.stock_orders SET state = 'reserved' WHERE order_id = 'vf-cancelled';
UPDATE paycons.stock SET reserved = reserved + 4 WHERE sku = 'vf-sku';
SELECT * FROM paycons.verify();
ROLLBACK;

-- 16. more reserved than on hand (the CHECK constraint dropped for it)
BEGIN;
ALTER TABLE paycons.stock DROP CONSTRAINT stock_no_oversell;
UPDATE paycons.stock SET on_hand = reserved - 1 WHERE sku = 'vf-sku';
SELECT * FROM paycons.verify();
ROLLBACK;

-- 17. reserved stock that no reservation holds
BEGIN;
UPDATE paycons.stock SET reserved = reserved + 1 WHERE sku = 'vf-sku';
SELECT * FROM paycons.verify();
ROLLBACK;

-- the window: a change with no history or inbox row since "since" is
-- seen by the full audit only; the global checks (stock, review money,
-- live events) run in every window
BEGIN;
UPDATE paycons.orders SET paid_amount = paid_amount + 1 WHERE order_id = 'vf-fulfilling';
UPDATE paycons.stock SET reserved = reserved + 1 WHERE sku = 'vf-sku';
SELECT * FROM paycons.verify(now() + interval '1 hour');
SELECT * FROM paycons.verify(now() - interval '1 hour');
ROLLBACK;

-- still clean after all that
SELECT count(*) AS violations FROM paycons.verify();

-- privileges: PUBLIC may not run it; a role granted EXECUTE may, and its
-- own objects in its search_path change nothing
CREATE ROLE vf_operator;
CREATE SCHEMA vf_evil AUTHORIZATION vf_operator;
SET ROLE vf_operator;
\set VERBOSITY terse
SELECT * FROM paycons.verify();
\set VERBOSITY default
CREATE FUNCTION vf_evil.texteq_evil(text, text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'hijacked'; END $$;
CREATE OPERATOR vf_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = vf_evil.texteq_evil);
CREATE FUNCTION vf_evil.starts_with(text, text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'hijacked'; END $$;
CREATE TABLE vf_evil.orders (order_id text, state text);
RESET ROLE;
GRANT EXECUTE ON FUNCTION paycons.verify(timestamptz) TO vf_operator;
SET ROLE vf_operator;
SET search_path = vf_evil, pg_catalog, public;
SELECT count(*) AS violations FROM paycons.verify();
SELECT count(*) AS violations FROM paycons.verify(now() - interval '1 hour');
RESET search_path;
RESET ROLE;

\c contrib_regression
SET client_min_messages = warning;
DROP DATABASE paycons_verify;
DROP ROLE vf_operator;
RESET client_min_messages;
