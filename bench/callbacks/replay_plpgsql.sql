\set r random(1, :paid)
SELECT * FROM paycons_bench.apply_callback_plpgsql('bench_c', 'R' || :r, 'RC' || :r, 'payment', 'success', 1000, 'CNY');
