SELECT r.* FROM (SELECT nextval('paycons_bench.seq_p') AS n) s,
       LATERAL paycons_bench.apply_callback_plpgsql('bench_p', 'T' || s.n, 'P' || s.n, 'payment', 'success', 1000, 'CNY') r;
