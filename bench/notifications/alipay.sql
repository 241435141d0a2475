SELECT r.outcome FROM (SELECT nextval('bn.seq')::int AS n) s JOIN bn.alipay b ON b.n = s.n,
       LATERAL paycons.apply_notification('bn_alipay', b.body, b.headers) r;
