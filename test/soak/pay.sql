-- the payment of a recent order (1 in 10 short by 3: needs_review; 1 in 40
-- never paid); sometimes a failure notice first, sometimes a second payment
SELECT soak_pick(2000) AS n \gset
SELECT outcome FROM paycons.apply_callback('soak', 'F-' || :n, 's-' || :n, 'payment', 'failed', soak_amount(:n), 'CNY')
 WHERE :n % 12 = 5;
SELECT outcome FROM paycons.apply_callback('soak', 'P-' || :n, 's-' || :n, 'payment', 'success',
       soak_amount(:n) - CASE WHEN :n % 10 = 7 THEN 3 ELSE 0 END, 'CNY')
 WHERE :n % 40 <> 0;
SELECT outcome FROM paycons.apply_callback('soak', 'D-' || :n, 's-' || :n, 'payment', 'success', soak_amount(:n), 'CNY')
 WHERE :n % 15 = 4;
