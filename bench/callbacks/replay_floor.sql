\set r random(1, :paid)
WITH ins AS (
    INSERT INTO paycons_bench.callbacks (channel, channel_txn_id, order_id, kind, status, amount,
                                         currency, outcome, state, applied_at, source)
    VALUES ('bench_f', 'R' || :r, 'RF' || :r, 'payment', 'success', 1000, 'CNY',
            'applied', 'paid', now(), 'callback')
    ON CONFLICT (channel, channel_txn_id) DO NOTHING
    RETURNING received_at)
SELECT i.outcome, i.state, true AS duplicate, i.received_at AS first_seen_at, '' AS ack
  FROM paycons_bench.callbacks i
 WHERE i.channel = 'bench_f' AND i.channel_txn_id = 'R' || :r AND NOT EXISTS (SELECT 1 FROM ins);
