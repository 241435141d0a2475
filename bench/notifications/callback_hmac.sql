SELECT r.outcome FROM (SELECT nextval('bn.seq')::int AS n) s JOIN bn.facts f ON f.n = s.n,
       LATERAL paycons.apply_callback('bn_cbh', f.txn, 'bn-cbh-' || f.n, 'payment', 'success', 1230, 'CNY',
                                      NULL, f.sig, f.body) r;
