-- a full refund of 1 order in 7 (before its payment: an over-refund)
SELECT soak_pick(5000) AS n \gset
SELECT outcome FROM paycons.apply_callback('soak', 'R-' || :n, 's-' || :n, 'refund', 'success', soak_amount(:n), 'CNY')
 WHERE :n % 7 = 3;
