\set r random(1, 10000)
SELECT * FROM paycons_bench.apply_callback_plpgsql('bench_p', 'R' || :r, 'RP' || :r, 'payment', 'success', 1000, 'CNY');
