--
-- channel_alipay: Alipay async notifications through apply_notification.
-- RSA2 (SHA256withRSA) over the sorted parameters, verified with the
-- channel's copy of Alipay's public key; the facts come from the signed form
-- only; yuan amounts become fen exactly; the ack is the body "success".
-- Keys and signed bodies are TEST-ONLY fixtures (test/fixtures/channels/,
-- made by make_fixtures.py with the openssl command); psql reads them, the
-- server never does.
--
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS paycons; RESET client_min_messages;
\set SHOW_CONTEXT never

-- errors as SQLSTATE, message and detail (the file and line of a C error
-- would make the expected output depend on the source)
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    m text;
    d text;
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || m || COALESCE(E'\n  DETAIL: ' || NULLIF(d, ''), '');
END $$;

-- the preset fills in what Alipay expects back; the key is the bare base64
-- of the DER public key, as Alipay's console shows it
SELECT paycons.set_channel('cha_alipay', protocol => 'alipay', merchant_id => '2021000000000001');
\set pub `cat test/fixtures/channels/keys/alipay_test_public.b64`
SELECT paycons.set_channel_key('cha_alipay', 'alipay-2024', 'rsa_public', :'pub');
SELECT channel, protocol, require_signature, ack, ack_status, nack, nack_status, default_currency, merchant_id
  FROM paycons.channels WHERE channel = 'cha_alipay';
SELECT key_id, kind, octet_length(key) AS der_bytes, retired_at IS NULL AS active
  FROM paycons.channel_keys WHERE channel = 'cha_alipay';

SELECT count(*) FROM (
    SELECT paycons.create_order(id, amount, 'CNY')
      FROM (VALUES ('ali-1', 1230), ('ali-2', 1), ('ali-yuan_cent', 1), ('ali-yuan_int', 8800),
                   ('ali-yuan_big', 9999999999), ('ali-yuan_tenth', 1230), ('ali-bad', 100)) v(id, amount)) s;
SELECT count(*) FROM (SELECT paycons.begin_payment(id, 'cha_alipay') FROM unnest(ARRAY['ali-1', 'ali-2']) id) s;

-- a genuine notification: applied; its facts are the signed form's
-- (out_trade_no, trade_no, total_amount 12.30 yuan = 1230 fen)
\set body `cat test/fixtures/channels/alipay/pay_success.form`
SELECT outcome, state, duplicate, first_seen_at IS NOT NULL AS seen, ack_status, ack_body, order_id, channel_txn_id
  FROM paycons.apply_notification('cha_alipay', :'body');
SELECT channel_txn_id, order_id, kind, status, amount, currency, outcome, state, source, payload
  FROM paycons.callbacks WHERE channel = 'cha_alipay';
SELECT state, paid_amount, channel, channel_txn_id FROM paycons.orders WHERE order_id = 'ali-1';

-- the same notification again (Alipay retries until it reads "success"):
-- a duplicate with the first answer, nothing written
SELECT outcome, state, duplicate, ack_status, ack_body FROM paycons.apply_notification('cha_alipay', :'body');
-- TRADE_FINISHED later for the same trade states the same facts: a duplicate
\set finished `cat test/fixtures/channels/alipay/pay_finished.form`
SELECT outcome, state, duplicate, ack_body FROM paycons.apply_notification('cha_alipay', :'finished');
SELECT count(*) AS history FROM paycons.order_history WHERE order_id = 'ali-1';

-- refused as bad_signature, nothing applied:
-- the amount changed after signing
SELECT outcome, state, duplicate, first_seen_at, ack_status, ack_body, order_id, channel_txn_id
  FROM paycons.apply_notification('cha_alipay', replace(:'body', 'total_amount=12.30', 'total_amount=0.01'));
-- another order put in
SELECT outcome, ack_body FROM paycons.apply_notification('cha_alipay', replace(:'body', 'out_trade_no=ali-1', 'out_trade_no=ali-2'));
-- signed with a key the channel does not trust
\set wrong `cat test/fixtures/channels/alipay/wrong_key.form`
SELECT outcome, ack_body FROM paycons.apply_notification('cha_alipay', :'wrong');
-- sign_type RSA (SHA1withRSA) is not accepted
\set rsa1 `cat test/fixtures/channels/alipay/rsa1.form`
SELECT outcome FROM paycons.apply_notification('cha_alipay', :'rsa1');
-- no sign at all, a sign that is not base64, the sign of another notification
SELECT outcome FROM paycons.apply_notification('cha_alipay', regexp_replace(:'body', '(^|&)sign=[^&]*', ''));
SELECT outcome FROM paycons.apply_notification('cha_alipay', regexp_replace(:'body', 'sign=[^&]*', 'sign=%21%21'));
SELECT outcome FROM paycons.apply_notification('cha_alipay',
    regexp_replace(:'wrong', 'sign=[^&]*', substring(:'body' from 'sign=[^&]*')));
-- signed by Alipay, but for another app than this channel's merchant_id
\set other `cat test/fixtures/channels/alipay/other_app.form`
SELECT outcome FROM paycons.apply_notification('cha_alipay', :'other');
SELECT bad_signatures, last_bad_signature_reason FROM paycons.channels WHERE channel = 'cha_alipay';
SELECT count(*) AS inbox FROM paycons.callbacks WHERE channel = 'cha_alipay';
SELECT order_id, state, paid_amount FROM paycons.orders WHERE order_id IN ('ali-1', 'ali-2') ORDER BY 1;

-- TRADE_CLOSED of an unpaid trade: a payment failure, under its own key
\set closed `cat test/fixtures/channels/alipay/closed.form`
SELECT outcome, state, order_id, channel_txn_id FROM paycons.apply_notification('cha_alipay', :'closed');
-- WAIT_BUYER_PAY: acknowledged and ignored, nothing written
\set wait `cat test/fixtures/channels/alipay/wait.form`
SELECT outcome, state, duplicate, first_seen_at, ack_status, ack_body, order_id, channel_txn_id
  FROM paycons.apply_notification('cha_alipay', :'wait');
SELECT outcome FROM paycons.apply_notification('cha_alipay', :'wait');
SELECT count(*) AS inbox FROM paycons.callbacks WHERE channel = 'cha_alipay';

-- yuan text becomes fen exactly
\set b1 `cat test/fixtures/channels/alipay/pay_yuan_cent.form`
\set b2 `cat test/fixtures/channels/alipay/pay_yuan_int.form`
\set b3 `cat test/fixtures/channels/alipay/pay_yuan_big.form`
\set b4 `cat test/fixtures/channels/alipay/pay_yuan_tenth.form`
SELECT n.outcome, n.state, n.order_id
  FROM unnest(ARRAY[:'b1', :'b2', :'b3', :'b4']) WITH ORDINALITY AS b(body, i),
       LATERAL paycons.apply_notification('cha_alipay', b.body) n
 ORDER BY b.i;
SELECT c.order_id, c.amount, o.amount AS order_amount, o.paid_amount
  FROM paycons.callbacks c JOIN paycons.orders o USING (order_id)
 WHERE c.channel = 'cha_alipay' AND c.order_id LIKE 'ali-yuan%' ORDER BY c.order_id;

-- amounts that are not exact positive yuan are errors, nothing applied
\set p1 `cat test/fixtures/channels/alipay/bad_precision.form`
\set p2 `cat test/fixtures/channels/alipay/bad_exponent.form`
\set p3 `cat test/fixtures/channels/alipay/bad_negative.form`
\set p4 `cat test/fixtures/channels/alipay/bad_zero.form`
\set p5 `cat test/fixtures/channels/alipay/bad_blank.form`
SELECT pg_temp.try(format('SELECT paycons.apply_notification(%L, %L)', 'cha_alipay', b))
  FROM unnest(ARRAY[:'p1', :'p2', :'p3', :'p4', :'p5']) WITH ORDINALITY AS t(b, i) ORDER BY i;
-- a verified notification in another charset, or without out_trade_no
\set gbk `cat test/fixtures/channels/alipay/gbk.form`
\set noorder `cat test/fixtures/channels/alipay/no_order.form`
SELECT pg_temp.try(format('SELECT paycons.apply_notification(%L, %L)', 'cha_alipay', :'gbk'));
SELECT pg_temp.try(format('SELECT paycons.apply_notification(%L, %L)', 'cha_alipay', :'noorder'));
-- a body that is not a form at all
SELECT pg_temp.try($$SELECT paycons.apply_notification('cha_alipay', 'a=1&a=2&sign=x')$$);
SELECT pg_temp.try($$SELECT paycons.apply_notification('cha_alipay', 'trade_no=%zz')$$);
SELECT count(*) AS inbox FROM paycons.callbacks WHERE channel = 'cha_alipay';
SELECT state FROM paycons.orders WHERE order_id = 'ali-bad';

-- refunds: refund_fee is the trade's total refunded; the part not yet on the
-- order is applied, under the key "<trade_no>:refunded:<total fen>"
\set r1 `cat test/fixtures/channels/alipay/refund_partial.form`
\set r2 `cat test/fixtures/channels/alipay/refund_full.form`
SELECT outcome, state, duplicate, order_id, channel_txn_id FROM paycons.apply_notification('cha_alipay', :'r1');
SELECT outcome, state, duplicate FROM paycons.apply_notification('cha_alipay', :'r1');
SELECT outcome, state, duplicate, order_id, channel_txn_id FROM paycons.apply_notification('cha_alipay', :'r2');
-- the partial refund's notice again, after the full one: a duplicate
SELECT outcome, state, duplicate FROM paycons.apply_notification('cha_alipay', :'r1');
SELECT channel_txn_id, kind, amount, outcome, payload->>'refunded_total' AS total
  FROM paycons.callbacks WHERE channel = 'cha_alipay' AND kind = 'refund' ORDER BY received_at, channel_txn_id;
SELECT state, paid_amount, refunded_amount FROM paycons.orders WHERE order_id = 'ali-1';

-- rotation: a retired key is not used; a second key verifies
SELECT paycons.retire_channel_key('cha_alipay', 'alipay-2024');
SELECT outcome FROM paycons.apply_notification('cha_alipay', :'body');
\set pem `cat test/fixtures/channels/keys/alipay_test_public.pem`
SELECT paycons.set_channel_key('cha_alipay', 'alipay-2025', 'rsa_public', :'pem');
SELECT outcome, duplicate FROM paycons.apply_notification('cha_alipay', :'body');
SELECT key_id, retired_at IS NULL AS active FROM paycons.channel_keys WHERE channel = 'cha_alipay' ORDER BY key_id;
