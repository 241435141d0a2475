-- security_money_edges: an edge that claims money moved (-> paid,
-- -> refunded, -> needs_review, closed/cancelled -> refunding, out of
-- needs_review) is taken only with money facts (apply_callback, statement
-- reconciliation), never because an application role asked for it; the
-- owner may force one with a reason, and the history says it was forced.
-- "-> refunding" without money facts needs money to refund.
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
DROP ROLE IF EXISTS regress_sec_app;
RESET client_min_messages;
CREATE ROLE regress_sec_app;
SELECT paycons.grant_app_role('regress_sec_app');
SELECT paycons.set_channel('sec_money');

-- Attack: the application role marks an unpaid order paid.
SET ROLE regress_sec_app;
SELECT order_id, state FROM paycons.create_order('sec-m-1', 1000, 'CNY');
SELECT order_id, state FROM paycons.begin_payment('sec-m-1', 'sec_money');
SELECT pg_temp.try($q$SELECT paycons.transition('sec-m-1', 'paid')$q$);
-- a reason does not make it the owner's decision
SELECT pg_temp.try($q$SELECT paycons.transition('sec-m-1', 'paid', 'trust me')$q$);
SET paycons.reason = 'trust me';
SELECT pg_temp.try($q$SELECT paycons.transition('sec-m-1', 'paid')$q$);
RESET paycons.reason;

-- Attack: walk an unpaid order closed -> refunding -> refunded.
SELECT order_id, state FROM paycons.transition('sec-m-1', 'closed', 'customer left');
SELECT pg_temp.try($q$SELECT paycons.transition('sec-m-1', 'refunding')$q$);
SELECT pg_temp.try($q$SELECT paycons.transition('sec-m-1', 'refunded')$q$);
-- nothing moved: the order and its history through the read API
SELECT state, paid_amount, refunded_amount FROM paycons.get_order('sec-m-1');
SELECT from_state, to_state, reason, actor, forced FROM paycons.order_history_of('sec-m-1');

-- With money facts the application role gets there: apply_callback.
SELECT order_id, state FROM paycons.create_order('sec-m-2', 1000, 'CNY');
SELECT order_id, state FROM paycons.begin_payment('sec-m-2', 'sec_money');
SELECT outcome, state FROM paycons.apply_callback('sec_money', 'sec-T-2', 'sec-m-2', 'payment', 'success', 1000, 'CNY');
-- starting a refund of money held is the merchant's call (not a money edge)
SELECT order_id, state FROM paycons.transition('sec-m-2', 'refunding', 'customer asked');
-- ... but finishing it is the channel's: only the refund callback does
SELECT pg_temp.try($q$SELECT paycons.transition('sec-m-2', 'refunded')$q$);
SELECT outcome, state FROM paycons.apply_callback('sec_money', 'sec-R-2', 'sec-m-2', 'refund', 'success', 1000, 'CNY');
SELECT state, paid_amount, refunded_amount FROM paycons.get_order('sec-m-2');
SELECT from_state, to_state, actor, forced FROM paycons.order_history_of('sec-m-2');

-- Money arriving after a close: closed -> refunding through the callback.
SELECT order_id, state FROM paycons.create_order('sec-m-3', 700, 'CNY');
SELECT order_id, state FROM paycons.transition('sec-m-3', 'cancelled', 'customer cancelled');
SELECT outcome, state FROM paycons.apply_callback('sec_money', 'sec-T-3', 'sec-m-3', 'payment', 'success', 700, 'CNY');
SELECT state, paid_amount FROM paycons.get_order('sec-m-3');

-- The review edges are money edges too.
SELECT order_id, state FROM paycons.create_order('sec-m-4', 500, 'CNY');
SELECT outcome, state FROM paycons.apply_callback('sec_money', 'sec-T-4', 'sec-m-4', 'payment', 'success', 500, 'CNY');
SELECT pg_temp.try($q$SELECT paycons.transition('sec-m-4', 'needs_review', 'looks odd')$q$);
RESET ROLE;

-- The owner may force a money edge, with a reason, recorded as forced.
SELECT pg_temp.try($q$SELECT paycons.transition('sec-m-1', 'refunding')$q$);
-- ... never "-> refunding" without money to refund, reason or not
SELECT pg_temp.try($q$SELECT paycons.transition('sec-m-1', 'refunding', 'refund what?')$q$);
SELECT order_id, state FROM paycons.create_order('sec-m-5', 300, 'CNY');
SELECT order_id, state FROM paycons.begin_payment('sec-m-5', 'sec_money');
SELECT pg_temp.try($q$SELECT paycons.transition('sec-m-5', 'paid')$q$);
SELECT order_id, state FROM paycons.transition('sec-m-5', 'paid', 'ticket 12: paid at the counter');
SELECT to_state, reason, actor, forced FROM paycons.order_history_of('sec-m-5') WHERE forced;
-- a forced "paid" carries no money: nothing to refund from it
SET ROLE regress_sec_app;
SELECT pg_temp.try($q$SELECT paycons.transition('sec-m-5', 'refunding', 'customer asked')$q$);
RESET ROLE;

-- A hand-typed UPDATE by the owner: the reason comes from paycons.reason.
SELECT order_id, state FROM paycons.create_order('sec-m-6', 300, 'CNY');
SELECT order_id, state FROM paycons.begin_payment('sec-m-6', 'sec_money');
SELECT pg_temp.try($q$UPDATE paycons.orders SET state = 'paid' WHERE order_id = 'sec-m-6'$q$);
BEGIN;
SET LOCAL paycons.reason = 'ticket 13: bank transfer seen';
UPDATE paycons.orders SET state = 'paid' WHERE order_id = 'sec-m-6';
COMMIT;
SELECT to_state, reason, actor, forced FROM paycons.order_history
 WHERE order_id = 'sec-m-6' AND forced;

-- A role the DBA wrongly granted UPDATE on the table still cannot.
SELECT order_id, state FROM paycons.create_order('sec-m-7', 300, 'CNY');
SELECT order_id, state FROM paycons.begin_payment('sec-m-7', 'sec_money');
GRANT SELECT, UPDATE ON paycons.orders TO regress_sec_app;
SET ROLE regress_sec_app;
SELECT pg_temp.try($q$UPDATE paycons.orders SET state = 'paid' WHERE order_id = 'sec-m-7'$q$);
BEGIN;
SET LOCAL paycons.reason = 'trust me';
SELECT pg_temp.try($q$UPDATE paycons.orders SET state = 'paid' WHERE order_id = 'sec-m-7'$q$);
COMMIT;
-- edges that claim no money are still its own business
SELECT pg_temp.try($q$UPDATE paycons.orders SET state = 'payment_failed' WHERE order_id = 'sec-m-7'$q$);
RESET ROLE;
REVOKE SELECT, UPDATE ON paycons.orders FROM regress_sec_app;

-- Nothing was paid, refunded or reviewed without money or a forced reason.
SELECT h.order_id, h.from_state, h.to_state, h.forced
  FROM paycons.order_history h
 WHERE h.order_id LIKE 'sec-m-%'
   AND h.to_state::text = ANY (ARRAY['paid', 'refunded', 'needs_review', 'refunding'])
 ORDER BY h.id;

-- paycons.can_transition() still describes the graph; money is another rule.
SELECT paycons.can_transition('paying', 'paid') AS graph_edge;

-- leave nothing behind for later test files
SELECT paycons.drop_channel('sec_money');
DROP OWNED BY regress_sec_app;
DROP ROLE regress_sec_app;
DELETE FROM paycons.compensations WHERE order_id LIKE 'sec-m-%';
DELETE FROM paycons.order_probes WHERE order_id LIKE 'sec-m-%';
DELETE FROM paycons.outbox WHERE aggregate_id LIKE 'sec-m-%';
DELETE FROM paycons.callbacks WHERE order_id LIKE 'sec-m-%';
DELETE FROM paycons.order_history WHERE order_id LIKE 'sec-m-%';
DELETE FROM paycons.orders WHERE order_id LIKE 'sec-m-%';
