--
-- channel_adyen: Adyen standard webhooks through apply_notification.
-- HMAC-SHA256 with the hex key over
-- "pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success",
-- base64 in additionalData.hmacSignature, one NotificationRequestItem; the
-- ack is "[accepted]".  Starts with the example of Adyen's "Verify HMAC
-- signatures" page (test/fixtures/channels/adyen/doc_vector.json: key,
-- payload and signature as published there).
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

\set doc_key '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056'
SELECT paycons.set_channel('cha_adyen', protocol => 'adyen', merchant_id => 'TestMerchant');
SELECT paycons.set_channel_key('cha_adyen', 'doc-example', 'hmac_hex', :'doc_key');
SELECT channel, protocol, ack, ack_status, nack, nack_status, default_currency
  FROM paycons.channels WHERE channel = 'cha_adyen';
SELECT key_id, kind, encode(key, 'hex') = lower(:'doc_key') AS key_decoded FROM paycons.channel_keys WHERE channel = 'cha_adyen';

-- the published signature is the HMAC of the published payload under the
-- published key (PostgreSQL's HMAC agrees with Adyen's example)
SELECT encode(paycons.hmac_sha256(decode(:'doc_key', 'hex'),
       '7914073381342284::TestMerchant:TestPayment-1407325143704:1130:EUR:AUTHORISATION:true'), 'base64')
       = 'coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0=' AS doc_vector_holds;

SELECT count(*) FROM (
    SELECT paycons.create_order(id, amount, 'EUR')
      FROM (VALUES ('TestPayment-1407325143704', 1130), ('ady-2', 999), ('ady-3', 5000)) v(id, amount)) s;
SELECT count(*) FROM (SELECT paycons.begin_payment(id, 'cha_adyen') FROM unnest(ARRAY['TestPayment-1407325143704', 'ady-2']) id) s;

-- Adyen's own example webhook, applied: EUR 11.30 for TestPayment-1407325143704
\set doc `cat test/fixtures/channels/adyen/doc_vector.json`
SELECT outcome, state, duplicate, first_seen_at IS NOT NULL AS seen, ack_status, ack_body, order_id, channel_txn_id
  FROM paycons.apply_notification('cha_adyen', :'doc');
SELECT outcome, state, duplicate, ack_body FROM paycons.apply_notification('cha_adyen', :'doc');
SELECT channel_txn_id, order_id, kind, status, amount, currency, outcome, payload
  FROM paycons.callbacks WHERE channel = 'cha_adyen';

-- refused as bad_signature (HTTP 401), nothing applied: the amount changed,
-- another order, success flipped, no signature, another key
SELECT outcome, state, duplicate, first_seen_at, ack_status, ack_body, order_id, channel_txn_id
  FROM paycons.apply_notification('cha_adyen', replace(:'doc', '"value":1130', '"value":1131'));
SELECT outcome FROM paycons.apply_notification('cha_adyen', replace(:'doc', 'TestPayment-1407325143704', 'ady-2'));
SELECT outcome FROM paycons.apply_notification('cha_adyen', replace(:'doc', '"success":"true"', '"success":"false"'));
SELECT outcome FROM paycons.apply_notification('cha_adyen', regexp_replace(:'doc', '"hmacSignature":"[^"]*"', '"hmacSignature":"AAAA"'));
SELECT outcome FROM paycons.apply_notification('cha_adyen', regexp_replace(:'doc', '"additionalData":\{[^}]*\},', ''));
SELECT bad_signatures, last_bad_signature_reason FROM paycons.channels WHERE channel = 'cha_adyen';
SELECT count(*) AS inbox FROM paycons.callbacks WHERE channel = 'cha_adyen';

-- our own items, signed with a second (rotated-in) key
SELECT paycons.set_channel_key('cha_adyen', 'current', 'hmac_hex', 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90');
CREATE FUNCTION pg_temp.item(psp text, orig text, ref text, value text, currency text,
                             code text, success text, key text DEFAULT 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90',
                             account text DEFAULT 'TestMerchant')
RETURNS text LANGUAGE sql AS $$
SELECT format('{"live":"false","notificationItems":[{"NotificationRequestItem":{'
              '"additionalData":{"hmacSignature":"%s"},"amount":{"value":%s,"currency":"%s"},'
              '"eventCode":"%s","eventDate":"2024-05-20T17:15:34.121+02:00","merchantAccountCode":"%s",'
              '"merchantReference":"%s",%s"pspReference":"%s","success":"%s"}}]}',
              encode(paycons.hmac_sha256(decode(key, 'hex'),
                     convert_to(concat_ws(':', psp, orig, account, ref, value, currency, code, success), 'UTF8')),
                     'base64'),
              value, currency, code, account, ref,
              CASE WHEN orig <> '' THEN format('"originalReference":"%s",', orig) ELSE '' END,
              psp, success) $$;

-- a failed authorisation, then a successful one for the same order
SELECT outcome, state, channel_txn_id FROM paycons.apply_notification('cha_adyen',
       pg_temp.item('8815000000000001', '', 'ady-2', '999', 'EUR', 'AUTHORISATION', 'false'));
SELECT outcome, state, channel_txn_id FROM paycons.apply_notification('cha_adyen',
       pg_temp.item('8815000000000002', '', 'ady-2', '999', 'EUR', 'AUTHORISATION', 'true'));
-- a refund (its own pspReference, the payment's as originalReference)
SELECT outcome, state, channel_txn_id FROM paycons.apply_notification('cha_adyen',
       pg_temp.item('8815000000000003', '8815000000000002', 'ady-2', '999', 'EUR', 'REFUND', 'true'));
SELECT state, paid_amount, refunded_amount FROM paycons.orders WHERE order_id = 'ady-2';
-- a colon in merchantReference is taken as Adyen signs it
SELECT count(*) FROM (SELECT paycons.create_order('ady:4', 100, 'EUR')) s;
SELECT outcome, state, order_id FROM paycons.apply_notification('cha_adyen',
       pg_temp.item('8815000000000004', '', 'ady:4', '100', 'EUR', 'AUTHORISATION', 'true'));
-- other event codes: acknowledged with [accepted], ignored, nothing written
SELECT outcome, state, duplicate, first_seen_at, ack_status, ack_body, order_id, channel_txn_id
  FROM paycons.apply_notification('cha_adyen',
       pg_temp.item('8815000000000005', '8815000000000002', 'ady-2', '999', 'EUR', 'CAPTURE', 'true'));
-- an item for another merchant account than the channel's
SELECT outcome FROM paycons.apply_notification('cha_adyen',
       pg_temp.item('8815000000000006', '', 'ady-3', '5000', 'EUR', 'AUTHORISATION', 'true', account => 'OtherMerchant'));

-- verified items that cannot be applied, and bodies that are not one item
SELECT pg_temp.try(format('SELECT paycons.apply_notification(%L, %L)', 'cha_adyen',
       pg_temp.item('8815000000000007', '', 'ady-3', '50.00', 'EUR', 'AUTHORISATION', 'true')));
SELECT pg_temp.try(format('SELECT paycons.apply_notification(%L, %L)', 'cha_adyen',
       pg_temp.item('8815000000000008', '', 'ady-3', '5000', 'EURO', 'AUTHORISATION', 'true')));
SELECT pg_temp.try(format('SELECT paycons.apply_notification(%L, %L)', 'cha_adyen',
       pg_temp.item('8815000000000009', '', 'ady-3', '5000', 'EUR', 'AUTHORISATION', 'maybe')));
SELECT pg_temp.try(format('SELECT paycons.apply_notification(%L, %L)', 'cha_adyen',
       replace(:'doc', '"notificationItems":[', '"notificationItems":[{"NotificationRequestItem":{}},')));
SELECT pg_temp.try($$SELECT paycons.apply_notification('cha_adyen', '{"live":"false","notificationItems":[]}')$$);
SELECT channel_txn_id, order_id, kind, status, amount, outcome, state
  FROM paycons.callbacks WHERE channel = 'cha_adyen' ORDER BY received_at, channel_txn_id;
