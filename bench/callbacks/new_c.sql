SELECT r.* FROM (SELECT nextval('paycons_bench.seq_c') AS n) s,
       LATERAL paycons.apply_callback('bench_c', 'T' || s.n, 'C' || s.n, 'payment', 'success', 1000, 'CNY') r;
