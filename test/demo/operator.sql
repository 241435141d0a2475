-- test/demo/operator.sql -- the on-call engineer's morning (run by paycons-sim
-- with psql as shop_oncall, after the statements were loaded and reconciled)
--
-- shop_oncall holds paycons.grant_operator_role(): the health views,
-- resolve_review, resolve_diff, the statement functions, get_order --
-- and nothing on the tables.  What it decides is in the report.

\set ON_ERROR_STOP on
\pset footer off
SET search_path = "$user", public, paycons;   -- to compare states unqualified

\echo 'What is waiting for a person:'
SELECT orders_needs_review, orders_paying, orders_refunding, compensations_dead, outbox_dead
  FROM paycons.health;
SELECT diff, count(*) FROM paycons.open_reconciliation_diffs GROUP BY diff ORDER BY diff;

-- 1. Money that did not match its order (needs_review).  The statement
--    shows what the customer really paid.  The rule of this shop: money
--    that covers the price is accepted (paycons refunds the excess), money
--    that does not is refunded in full.
\echo 'Review decisions:'
SELECT d.order_id, o.amount, d.statement_amount AS paid, r.state
  FROM paycons.open_reconciliation_diffs d
  CROSS JOIN LATERAL paycons.get_order(d.order_id) o
  CROSS JOIN LATERAL paycons.resolve_review(
        o.order_id,
        CASE WHEN d.statement_amount >= o.amount THEN 'accept' ELSE 'refund' END,
        CASE WHEN d.statement_amount >= o.amount
             THEN format('paid %s, owed %s: accepted, the excess goes back', d.statement_amount, o.amount)
             ELSE format('paid %s, owed %s: too little, refunded', d.statement_amount, o.amount) END) r
 WHERE d.diff = 'needs_review' AND o.state = 'needs_review'
 ORDER BY d.order_id;

-- 2. Close the differences those decisions settled.
SELECT d.id, d.order_id, x.resolution
  FROM paycons.open_reconciliation_diffs d
  CROSS JOIN LATERAL paycons.get_order(d.order_id) o
  CROSS JOIN LATERAL paycons.resolve_diff(
        d.id,
        CASE WHEN o.state = 'paid' THEN 'accepted' ELSE 'refunded' END,
        'resolve_review decided: order ' || o.state) x
 WHERE d.diff = 'needs_review' AND o.state <> 'needs_review'
 ORDER BY d.id;

-- 3. A fee the channel charged other than the contract's 0.6%: noted, to
--    take up with the channel; the money itself is right.
SELECT d.id, d.order_id, x.resolution
  FROM paycons.open_reconciliation_diffs d
  CROSS JOIN LATERAL paycons.resolve_diff(d.id, 'accepted',
        'fee differs from the 0.6% contract rate: claimed back from the channel') x
 WHERE d.diff = 'fee_mismatch'
 ORDER BY d.id;

\echo 'Left open:'
SELECT diff, count(*) FROM paycons.open_reconciliation_diffs GROUP BY diff ORDER BY diff;
