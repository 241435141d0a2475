-- bench/worker/load.sql: grow paycons.orders to :target rows of settled
-- orders (state completed), plus 1000 stuck paying orders 'stuck-N'
-- (created once).  Bulk-loading fixture: the order triggers are disabled
-- while rows are inserted directly in their final state (owner only).
\set ON_ERROR_STOP on
ALTER TABLE paycons.orders DISABLE TRIGGER USER;
INSERT INTO paycons.orders (order_id, state, amount, currency, paid_amount, channel,
                            channel_txn_id, pay_deadline, created_at, updated_at, state_changed_at)
SELECT 'o-' || g, 'completed', 1000 + g % 9000, 'CNY', 1000 + g % 9000, 'bench',
       'txn-' || g, now() - interval '1 day', now() - interval '1 day', now(), now()
  FROM generate_series((SELECT count(*) FROM paycons.orders WHERE order_id LIKE 'o-%') + 1, :target - 1000) AS g;
INSERT INTO paycons.orders (order_id, state, amount, currency, channel, pay_deadline)
SELECT 'stuck-' || g, 'paying', 500, 'CNY', 'bench', now() - interval '1 hour'
  FROM generate_series(1, 1000) AS g
ON CONFLICT (order_id) DO NOTHING;
ALTER TABLE paycons.orders ENABLE TRIGGER USER;
VACUUM ANALYZE paycons.orders;
SELECT count(*) AS orders, count(*) FILTER (WHERE state::text = 'paying') AS paying FROM paycons.orders;
