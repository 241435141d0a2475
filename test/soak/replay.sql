-- the channel retries: an older notice again (a replay, or its first
-- delivery if the order's payment never came); 1 in 50 carries other facts
-- than the first delivery of its key (a conflict: nothing applied)
SELECT soak_pick(20000) AS n \gset
SELECT outcome FROM paycons.apply_callback('soak', 'P-' || :n, 's-' || :n, 'payment', 'success',
       soak_amount(:n) - CASE WHEN :n % 10 = 7 THEN 3 ELSE 0 END
                       + CASE WHEN :n % 50 = 9 THEN 1 ELSE 0 END, 'CNY')
 WHERE :n % 40 <> 0;
