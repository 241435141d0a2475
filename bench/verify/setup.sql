-- bench/verify/setup.sql -- a large, consistent paycons database for
-- measuring paycons.verify(): :orders paid orders (default 1,000,000) spread
-- evenly over the last 30 days, each with its three history rows and its
-- applied payment; every 100th fully refunded (two more history rows and a
-- refund callback).  Every event is taken as delivered (empty outbox).
-- Loaded in bulk with session_replication_role = replica (no triggers:
-- the rows are written as the triggers would have written them).
--
--   createdb verify_bench
--   psql -d verify_bench -v orders=1000000 -f bench/verify/setup.sql
\if :{?orders}
\else
\set orders 1000000
\endif
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS paycons;
SELECT paycons.set_channel('bench');
SET session_replication_role = replica;
SET maintenance_work_mem = '256MB';

CREATE TEMP TABLE gen AS
SELECT g, 'B-' || g AS order_id, 'BT-' || g AS txn,
       now() - interval '30 days' + g * (interval '30 days' / :orders) AS t,
       g % 100 = 0 AS refunded
  FROM generate_series(1, :orders) g;

INSERT INTO paycons.orders (order_id, state, amount, currency, paid_amount, refunded_amount,
                            channel, channel_txn_id, pay_deadline, created_at, updated_at, state_changed_at)
SELECT order_id, CASE WHEN refunded THEN 'refunded' ELSE 'paid' END::paycons.order_state,
       1000, 'CNY', 1000, CASE WHEN refunded THEN 1000 ELSE 0 END,
       'bench', txn, t + interval '30 minutes', t, t, t
  FROM gen ORDER BY g;

INSERT INTO paycons.order_history (order_id, from_state, to_state, at, reason, actor, txid)
SELECT gen.order_id, h.f::paycons.order_state, h.t::paycons.order_state, gen.t + h.d,
       h.reason, 'bench', '1'::xid8
  FROM gen
 CROSS JOIN LATERAL (VALUES (1, NULL, 'created', interval '0', NULL),
                            (2, 'created', 'paying', interval '1 second', NULL),
                            (3, 'paying', 'paid', interval '2 seconds', 'callback bench ' || gen.txn),
                            (4, 'paid', 'refunding', interval '3 seconds', 'callback bench R' || gen.txn),
                            (5, 'refunding', 'refunded', interval '3 seconds', 'callback bench R' || gen.txn))
        AS h(n, f, t, d, reason)
 WHERE h.n <= 3 OR gen.refunded
 ORDER BY gen.g, h.n;

INSERT INTO paycons.callbacks (channel, channel_txn_id, order_id, kind, status, amount, currency,
                               outcome, state, received_at, applied_at)
SELECT 'bench', c.txn, gen.order_id, c.kind, 'success', 1000, 'CNY', 'applied', c.state::paycons.order_state,
       gen.t + c.d, gen.t + c.d
  FROM gen
 CROSS JOIN LATERAL (VALUES (1, gen.txn, 'payment', 'paid', interval '2 seconds'),
                            (2, 'R' || gen.txn, 'refund', 'refunded', interval '3 seconds')) AS c(n, txn, kind, state, d)
 WHERE c.n = 1 OR gen.refunded
 ORDER BY gen.g, c.n;

RESET session_replication_role;
VACUUM ANALYZE paycons.orders, paycons.order_history, paycons.callbacks;
SELECT pg_size_pretty(pg_total_relation_size('paycons.orders')) AS orders,
       pg_size_pretty(pg_total_relation_size('paycons.order_history')) AS history,
       pg_size_pretty(pg_total_relation_size('paycons.callbacks')) AS callbacks;
