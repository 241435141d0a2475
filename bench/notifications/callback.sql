SELECT r.outcome FROM (SELECT nextval('bn.seq')::int AS n) s JOIN bn.facts f ON f.n = s.n,
       LATERAL paycons.apply_callback('bn_cb', f.txn, f.order_id, 'payment', 'success', 1230, 'CNY') r;
