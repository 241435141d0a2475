-- the channel retries: an older notice again (a replay, or its first
-- delivery if the order's payment never came)
SELECT soak_pick(20000) AS n \gset
SELECT outcome FROM paycons.apply_callback('soak', 'P-' || :n, 's-' || :n, 'payment', 'success',
       soak_amount(:n) - CASE WHEN :n % 10 = 7 THEN 3 ELSE 0 END, 'CNY')
 WHERE :n % 40 <> 0;
