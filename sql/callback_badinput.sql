--
-- callback_badinput: every bad argument of paycons.apply_callback is an
-- error with its own SQLSTATE, raised before anything is written
--
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS paycons; RESET client_min_messages;

SELECT paycons.set_channel('cbb_pay', ack => 'success');
SELECT order_id FROM paycons.create_order('cbb-1', 1000, 'CNY');
SELECT state FROM paycons.begin_payment('cbb-1', 'cbb_pay');

-- try(): run a call, answer 'ok' or the SQLSTATE and message
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END;
$$;

-- the arguments of a good call, and one bad argument at a time
CREATE TEMP TABLE cases (n int, what text, call text);
INSERT INTO cases VALUES
 (1,  'channel null',        $$SELECT paycons.apply_callback(NULL, 'cbb-T', 'cbb-1', 'payment', 'success', 1000, 'CNY')$$),
 (2,  'txn id null',         $$SELECT paycons.apply_callback('cbb_pay', NULL, 'cbb-1', 'payment', 'success', 1000, 'CNY')$$),
 (3,  'order id null',       $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', NULL, 'payment', 'success', 1000, 'CNY')$$),
 (4,  'kind null',           $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', NULL, 'success', 1000, 'CNY')$$),
 (5,  'status null',         $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', NULL, 1000, 'CNY')$$),
 (6,  'amount null',         $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', 'success', NULL, 'CNY')$$),
 (7,  'currency null',       $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', 'success', 1000, NULL)$$),
 (8,  'source null',         $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', 'success', 1000, 'CNY', source => NULL)$$),
 (9,  'channel empty',       $$SELECT paycons.apply_callback('', 'cbb-T', 'cbb-1', 'payment', 'success', 1000, 'CNY')$$),
 (10, 'txn id empty',        $$SELECT paycons.apply_callback('cbb_pay', '', 'cbb-1', 'payment', 'success', 1000, 'CNY')$$),
 (11, 'order id empty',      $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', '', 'payment', 'success', 1000, 'CNY')$$),
 (12, 'kind empty',          $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', '', 'success', 1000, 'CNY')$$),
 (13, 'status empty',        $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', '', 1000, 'CNY')$$),
 (14, 'currency empty',      $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', 'success', 1000, '')$$),
 (15, 'amount zero',         $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', 'success', 0, 'CNY')$$),
 (16, 'amount negative',     $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', 'success', -1000, 'CNY')$$),
 (17, 'currency lower case', $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', 'success', 1000, 'cny')$$),
 (18, 'currency 4 letters',  $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', 'success', 1000, 'CNYY')$$),
 (19, 'currency digits',     $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', 'success', 1000, '156')$$),
 (20, 'order id 65 bytes',   $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', repeat('o', 65), 'payment', 'success', 1000, 'CNY')$$),
 (21, 'txn id 129 bytes',    $$SELECT paycons.apply_callback('cbb_pay', repeat('t', 129), 'cbb-1', 'payment', 'success', 1000, 'CNY')$$),
 (22, 'channel 65 bytes',    $$SELECT paycons.apply_callback(repeat('c', 65), 'cbb-T', 'cbb-1', 'payment', 'success', 1000, 'CNY')$$),
 (23, 'txn id control char', $$SELECT paycons.apply_callback('cbb_pay', E'cbb-T\n', 'cbb-1', 'payment', 'success', 1000, 'CNY')$$),
 (24, 'kind unknown',        $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'chargeback', 'success', 1000, 'CNY')$$),
 (25, 'kind upper case',     $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'PAYMENT', 'success', 1000, 'CNY')$$),
 (26, 'status unknown',      $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', 'pending', 1000, 'CNY')$$),
 (27, 'source unknown',      $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', 'success', 1000, 'CNY', source => 'manual')$$),
 (28, 'payload too large',   $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', 'success', 1000, 'CNY', jsonb_build_object('blob', repeat('x', 70000)))$$),
 (29, 'signature too long',  $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', 'success', 1000, 'CNY', NULL, repeat('a', 1025))$$),
 (30, 'signed body too large', $$SELECT paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', 'success', 1000, 'CNY', NULL, 'sig', repeat('b', 1048577))$$);

SELECT n, what, pg_temp.try(call) AS result FROM cases ORDER BY n;

-- nothing was written: no inbox row, no conflict, no history, no event
SELECT count(*) AS inbox FROM paycons.callbacks WHERE channel = 'cbb_pay';
SELECT count(*) AS conflicts FROM paycons.callback_conflicts WHERE channel = 'cbb_pay';
SELECT state, paid_amount FROM paycons.orders WHERE order_id = 'cbb-1';
SELECT count(*) AS history FROM paycons.order_history WHERE order_id = 'cbb-1';
SELECT count(*) AS events FROM paycons.outbox WHERE aggregate_id = 'cbb-1';

-- the limits themselves are accepted: 64-byte order id, 128-byte txn id,
-- a payload just under 64 kB
SELECT order_id FROM paycons.create_order(repeat('o', 64), 1000, 'CNY');
SELECT outcome, state FROM paycons.apply_callback('cbb_pay', repeat('t', 128), repeat('o', 64),
                                                  'payment', 'success', 1000, 'CNY',
                                                  jsonb_build_object('blob', repeat('x', 65000)));
SELECT octet_length(channel_txn_id), octet_length(order_id), octet_length(payload::text) > 65000 AS big_payload
  FROM paycons.callbacks WHERE channel = 'cbb_pay';

-- money that would overflow the order's paid_amount (a duplicate payment
-- of 2^63-1 on a paid order) is refused, nothing written
SELECT outcome FROM paycons.apply_callback('cbb_pay', 'cbb-T-max', repeat('o', 64),
                                           'payment', 'success', 9223372036854775807, 'CNY');
SELECT count(*) FROM paycons.callbacks WHERE channel = 'cbb_pay' AND channel_txn_id = 'cbb-T-max';

-- error messages name the value
\set VERBOSITY default
SELECT * FROM paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'refund ', 'success', 1000, 'CNY');
SELECT * FROM paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', 'success', 1000, 'Cny');
SELECT * FROM paycons.apply_callback('cbb_pay', 'cbb-T', 'cbb-1', 'payment', 'success', 1000, 'CNY',
                                     jsonb_build_object('blob', repeat('x', 70000)));
