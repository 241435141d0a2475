-- a forged notice: refused, counted, nothing stored
SELECT soak_pick(5000) AS n \gset
SELECT outcome FROM paycons.apply_callback('soak_signed', 'X-' || :n, 's-' || :n, 'payment', 'success',
       soak_amount(:n), 'CNY', NULL, 'not-a-signature', 'forged body');
