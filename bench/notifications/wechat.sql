SELECT r.outcome FROM (SELECT nextval('bn.seq')::int AS n) s JOIN bn.wechat b ON b.n = s.n,
       LATERAL paycons.apply_notification('bn_wechat', b.body, b.headers) r;
