WITH s AS (SELECT nextval('paycons_bench.seq_f') AS n),
ins AS (
    INSERT INTO paycons_bench.callbacks (channel, channel_txn_id, order_id, kind, status, amount,
                                         currency, outcome, state, applied_at, source)
    SELECT 'bench_f', 'T' || s.n, 'F' || s.n, 'payment', 'success', 1000, 'CNY',
           'applied', 'paid', now(), 'callback' FROM s
    ON CONFLICT (channel, channel_txn_id) DO NOTHING
    RETURNING order_id, channel_txn_id, received_at),
upd AS (
    UPDATE paycons_bench.orders o
       SET state = 'paid', paid_amount = o.paid_amount + 1000, channel = 'bench_f',
           channel_txn_id = ins.channel_txn_id, updated_at = now(), state_changed_at = now()
      FROM ins
     WHERE o.order_id = ins.order_id AND o.state::text = 'paying'
    RETURNING o.*),
hist AS (
    INSERT INTO paycons_bench.order_history (order_id, table_name, from_state, to_state, reason, actor)
    SELECT upd.order_id, 'paycons.orders', 'paying', 'paid', 'callback bench_f ' || upd.channel_txn_id, current_user
      FROM upd),
evt AS (
    INSERT INTO paycons_bench.outbox (aggregate_type, aggregate_id, event_type, payload)
    SELECT 'order', upd.order_id, 'order.paid', to_jsonb(upd) FROM upd)
SELECT 'applied' AS outcome, 'paid' AS state, false AS duplicate, ins.received_at AS first_seen_at, '' AS ack
  FROM ins;
