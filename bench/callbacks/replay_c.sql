\set r random(1, :paid)
SELECT * FROM paycons.apply_callback('bench_c', 'R' || :r, 'RC' || :r, 'payment', 'success', 1000, 'CNY');
