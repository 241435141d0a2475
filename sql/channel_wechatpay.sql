--
-- channel_wechatpay: WeChat Pay APIv3 notifications through
-- apply_notification.  SHA256withRSA over "timestamp\nnonce\nbody\n" with
-- the platform key the Wechatpay-Serial header names (so a rotation works),
-- a timestamp within the channel's tolerance, then the AEAD_AES_256_GCM
-- resource decrypted with the APIv3 key; the facts are the decrypted
-- resource's; the ack is HTTP 204.  Bodies are TEST-ONLY fixtures
-- (test/fixtures/channels/, encrypted by make_fixtures.py); the signature,
-- which covers a fresh timestamp, is made now by sign.sh with the openssl
-- command, run by psql (the server reads no file).
--
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS paycons; RESET client_min_messages;
\set SHOW_CONTEXT never

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
CREATE FUNCTION pg_temp.h(ts text, nonce text, sig text, serial text) RETURNS jsonb LANGUAGE sql AS
$$ SELECT jsonb_build_object('Wechatpay-Timestamp', ts, 'Wechatpay-Nonce', nonce,
                             'Wechatpay-Signature', sig, 'Wechatpay-Serial', serial,
                             'Content-Type', 'application/json') $$;

\set serial_a 'PUB_KEY_ID_0000000000000000000000TESTA'
\set serial_b '5157F09EFDC096DE15EBE81A47057A7232F1B8E1'
\set fx 'test/fixtures/channels/wechat/'
SELECT paycons.set_channel('cha_wechat', protocol => 'wechatpay_v3', merchant_id => '1900000001');
\set pub_a `cat test/fixtures/channels/keys/wechat_platform_a_test_public.pem`
SELECT paycons.set_channel_key('cha_wechat', :'serial_a', 'rsa_public', :'pub_a');
SELECT paycons.set_channel_key('cha_wechat', 'apiv3', 'aes256', 'paycons-TEST-ONLY-apiv3-key-0001');
SELECT channel, protocol, ack, ack_status, nack, nack_status, tolerance, default_currency
  FROM paycons.channels WHERE channel = 'cha_wechat';
SELECT key_id, kind, octet_length(key) AS bytes FROM paycons.channel_keys WHERE channel = 'cha_wechat' ORDER BY kind;

SELECT count(*) FROM (
    SELECT paycons.create_order(id, amount, 'CNY')
      FROM (VALUES ('wx-1', 100), ('wx-2', 2599), ('wx-3', 100), ('wx-4', 100), ('wx-5', 100)) v(id, amount)) s;
SELECT count(*) FROM (SELECT paycons.begin_payment(id, 'cha_wechat') FROM unnest(ARRAY['wx-1', 'wx-2', 'wx-3']) id) s;

\set ts `date +%s`
\set body `cat test/fixtures/channels/wechat/pay_success.json`
\set sig `sh test/fixtures/channels/sign.sh wechat a :'ts' 'n-1' test/fixtures/channels/wechat/pay_success.json`

-- a genuine notification: verified, decrypted, applied; ack HTTP 204
SELECT outcome, state, duplicate, first_seen_at IS NOT NULL AS seen, ack_status, ack_body, order_id, channel_txn_id
  FROM paycons.apply_notification('cha_wechat', :'body', pg_temp.h(:'ts', 'n-1', :'sig', :'serial_a'));
SELECT channel_txn_id, order_id, kind, status, amount, currency, outcome, payload->>'event_type' AS event
  FROM paycons.callbacks WHERE channel = 'cha_wechat';
-- the same notification again (header names in any case): a duplicate
SELECT outcome, state, duplicate, ack_status
  FROM paycons.apply_notification('cha_wechat', :'body',
       jsonb_build_object('wechatpay-timestamp', :'ts', 'WECHATPAY-NONCE', 'n-1',
                          'Wechatpay-signature', :'sig', 'wechatpay-serial', :'serial_a'));

-- refused as bad_signature (HTTP 401 and the FAIL body), nothing applied:
-- the body changed after signing
SELECT outcome, state, duplicate, first_seen_at, ack_status, ack_body, order_id, channel_txn_id
  FROM paycons.apply_notification('cha_wechat', replace(:'body', '支付成功', '支付失败'),
                                  pg_temp.h(:'ts', 'n-1', :'sig', :'serial_a'));
-- another nonce than the signed one
SELECT outcome FROM paycons.apply_notification('cha_wechat', :'body', pg_temp.h(:'ts', 'n-2', :'sig', :'serial_a'));
-- signed with a key the channel does not trust
\set wrong `sh test/fixtures/channels/sign.sh wechat wrong :'ts' 'n-1' test/fixtures/channels/wechat/pay_success.json`
SELECT outcome FROM paycons.apply_notification('cha_wechat', :'body', pg_temp.h(:'ts', 'n-1', :'wrong', :'serial_a'));
-- a serial the channel does not know, and the serial of another key
SELECT outcome FROM paycons.apply_notification('cha_wechat', :'body', pg_temp.h(:'ts', 'n-1', :'sig', 'UNKNOWN'));
SELECT last_bad_signature_reason FROM paycons.channels WHERE channel = 'cha_wechat';
-- a stale timestamp (10 minutes ago) and one from the future, correctly signed
SELECT (:'ts'::bigint - 600)::text AS old_ts, (:'ts'::bigint + 600)::text AS new_ts \gset
\set old_sig `sh test/fixtures/channels/sign.sh wechat a :'old_ts' 'n-1' test/fixtures/channels/wechat/pay_success.json`
\set new_sig `sh test/fixtures/channels/sign.sh wechat a :'new_ts' 'n-1' test/fixtures/channels/wechat/pay_success.json`
SELECT outcome FROM paycons.apply_notification('cha_wechat', :'body', pg_temp.h(:'old_ts', 'n-1', :'old_sig', :'serial_a'));
SELECT outcome FROM paycons.apply_notification('cha_wechat', :'body', pg_temp.h(:'new_ts', 'n-1', :'new_sig', :'serial_a'));
SELECT last_bad_signature_reason FROM paycons.channels WHERE channel = 'cha_wechat';
-- a wrong GCM tag, and a resource encrypted under another APIv3 key, both
-- correctly signed: the resource does not decrypt
\set tagbody `cat test/fixtures/channels/wechat/pay_bad_tag.json`
\set tagsig `sh test/fixtures/channels/sign.sh wechat a :'ts' 'n-3' test/fixtures/channels/wechat/pay_bad_tag.json`
SELECT outcome, ack_status, ack_body FROM paycons.apply_notification('cha_wechat', :'tagbody', pg_temp.h(:'ts', 'n-3', :'tagsig', :'serial_a'));
SELECT last_bad_signature_reason FROM paycons.channels WHERE channel = 'cha_wechat';
\set okbody `cat test/fixtures/channels/wechat/pay_other_key.json`
\set oksig `sh test/fixtures/channels/sign.sh wechat a :'ts' 'n-3' test/fixtures/channels/wechat/pay_other_key.json`
SELECT outcome FROM paycons.apply_notification('cha_wechat', :'okbody', pg_temp.h(:'ts', 'n-3', :'oksig', :'serial_a'));
-- missing headers, a malformed timestamp, WeChat Pay's signature probe
SELECT outcome FROM paycons.apply_notification('cha_wechat', :'body');
SELECT outcome FROM paycons.apply_notification('cha_wechat', :'body', pg_temp.h('yesterday', 'n-1', :'sig', :'serial_a'));
SELECT outcome FROM paycons.apply_notification('cha_wechat', :'body',
    pg_temp.h(:'ts', 'n-1', 'WECHATPAY/SIGNTEST/' || :'sig', :'serial_a'));
SELECT bad_signatures FROM paycons.channels WHERE channel = 'cha_wechat';
SELECT count(*) AS inbox FROM paycons.callbacks WHERE channel = 'cha_wechat';
SELECT order_id, state, paid_amount FROM paycons.orders WHERE order_id IN ('wx-1', 'wx-3') ORDER BY 1;

-- the headers argument: a JSON object of strings, each name once
SELECT pg_temp.try(format('SELECT paycons.apply_notification(%L, %L, %L)', 'cha_wechat', :'body', '[]'));
SELECT pg_temp.try(format('SELECT paycons.apply_notification(%L, %L, %L)', 'cha_wechat', :'body',
                          pg_temp.h(:'ts', 'n-1', :'sig', :'serial_a') || '{"Wechatpay-Nonce": 1}'));
SELECT pg_temp.try(format('SELECT paycons.apply_notification(%L, %L, %L)', 'cha_wechat', :'body',
                          pg_temp.h(:'ts', 'n-1', :'sig', :'serial_a') || '{"WECHATPAY-SERIAL": "x"}'));

-- platform key rotation: key B arrives as a certificate; B's notifications
-- verify with B; once A is retired, A's serial is unknown
\set cert_b `cat test/fixtures/channels/keys/wechat_platform_b_test_cert.pem`
SELECT paycons.set_channel_key('cha_wechat', :'serial_b', 'rsa_public', :'cert_b');
\set rbody `cat test/fixtures/channels/wechat/pay_rotated.json`
\set rsig `sh test/fixtures/channels/sign.sh wechat b :'ts' 'n-4' test/fixtures/channels/wechat/pay_rotated.json`
SELECT outcome, state, order_id, channel_txn_id FROM paycons.apply_notification('cha_wechat', :'rbody', pg_temp.h(:'ts', 'n-4', :'rsig', :'serial_b'));
-- B's signature presented under A's serial
SELECT outcome FROM paycons.apply_notification('cha_wechat', :'rbody', pg_temp.h(:'ts', 'n-4', :'rsig', :'serial_a'));
SELECT paycons.retire_channel_key('cha_wechat', :'serial_a');
SELECT outcome FROM paycons.apply_notification('cha_wechat', :'body', pg_temp.h(:'ts', 'n-1', :'sig', :'serial_a'));

-- refunds: REFUND.SUCCESS applies amount.refund under the refund id
\set fbody `cat test/fixtures/channels/wechat/refund_success.json`
\set fsig `sh test/fixtures/channels/sign.sh wechat b :'ts' 'n-5' test/fixtures/channels/wechat/refund_success.json`
SELECT outcome, state, duplicate, order_id, channel_txn_id FROM paycons.apply_notification('cha_wechat', :'fbody', pg_temp.h(:'ts', 'n-5', :'fsig', :'serial_b'));
SELECT outcome, state, duplicate FROM paycons.apply_notification('cha_wechat', :'fbody', pg_temp.h(:'ts', 'n-5', :'fsig', :'serial_b'));
\set abody `cat test/fixtures/channels/wechat/refund_abnormal.json`
\set asig `sh test/fixtures/channels/sign.sh wechat b :'ts' 'n-6' test/fixtures/channels/wechat/refund_abnormal.json`
SELECT outcome, state, channel_txn_id FROM paycons.apply_notification('cha_wechat', :'abody', pg_temp.h(:'ts', 'n-6', :'asig', :'serial_b'));
SELECT state, paid_amount, refunded_amount FROM paycons.orders WHERE order_id = 'wx-1';

-- a CLOSED transaction is a failure notice: the order was never paying, so
-- the decision ignores it (and keeps it in the inbox)
\set cbody `cat test/fixtures/channels/wechat/pay_closed.json`
\set csig `sh test/fixtures/channels/sign.sh wechat b :'ts' 'n-7' test/fixtures/channels/wechat/pay_closed.json`
SELECT outcome, state, channel_txn_id FROM paycons.apply_notification('cha_wechat', :'cbody', pg_temp.h(:'ts', 'n-7', :'csig', :'serial_b'));
-- an event that is no payment or refund: acknowledged, ignored, nothing written
\set ebody `cat test/fixtures/channels/wechat/echo.json`
\set esig `sh test/fixtures/channels/sign.sh wechat b :'ts' 'n-8' test/fixtures/channels/wechat/echo.json`
SELECT outcome, state, duplicate, first_seen_at, ack_status, ack_body, order_id, channel_txn_id
  FROM paycons.apply_notification('cha_wechat', :'ebody', pg_temp.h(:'ts', 'n-8', :'esig', :'serial_b'));
-- amount.total 1.5 is no amount in fen: an error, nothing applied
\set xbody `cat test/fixtures/channels/wechat/pay_fraction.json`
\set xsig `sh test/fixtures/channels/sign.sh wechat b :'ts' 'n-9' test/fixtures/channels/wechat/pay_fraction.json`
SELECT pg_temp.try(format('SELECT paycons.apply_notification(%L, %L, %L)', 'cha_wechat', :'xbody',
                          pg_temp.h(:'ts', 'n-9', :'xsig', :'serial_b')));
SELECT channel_txn_id, kind, status, amount, outcome, state FROM paycons.callbacks
 WHERE channel = 'cha_wechat' ORDER BY received_at, channel_txn_id;
