--
-- channel_hmac: the generic "hmac" protocol through apply_notification:
-- apply_callback's HMAC-SHA256 signature (hex, base64 or t=/v1= header) in
-- a request header, and the facts read from the fields of the signed body
-- that the channel declares (body_format json or form, body_fields).
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
CREATE FUNCTION pg_temp.hex(secret text, body text) RETURNS text LANGUAGE sql AS
$$ SELECT encode(paycons.hmac_sha256(convert_to(secret, 'UTF8'), convert_to(body, 'UTF8')), 'hex') $$;

-- a channel without a declared body cannot take notifications: its facts
-- would have nowhere to come from
SELECT paycons.set_channel('cha_gen_bare', secret => 'gen-secret');
SELECT pg_temp.try($$SELECT paycons.apply_notification('cha_gen_bare', '{}', '{"X-Signature": "00"}')$$);

SELECT paycons.set_channel('cha_gen', secret => 'gen-secret', require_signature => true,
                           signature_format => 'hex', protocol => 'hmac', ack => 'OK',
                           body_format => 'json',
                           body_fields => '{"channel_txn_id": "id", "order_id": "order", "kind": "kind",
                                            "status": "status", "amount": "amount_fen", "currency": "currency"}');
SELECT paycons.set_channel('cha_gen_form', secret => 'form-secret', signature_format => 'base64',
                           signature_header => 'X-Shop-Signature', body_format => 'form',
                           body_fields => '{"channel_txn_id": "txn", "order_id": "ref", "kind": "k",
                                            "status": "s", "amount": "cents", "currency": "cur"}');
SELECT channel, protocol, signature_format, signature_header, ack, ack_status, nack, nack_status, body_format, body_fields
  FROM paycons.channels WHERE channel LIKE 'cha_gen%' ORDER BY channel;

SELECT count(*) FROM (
    SELECT paycons.create_order(id, 500, 'CNY') FROM unnest(ARRAY['gen-1', 'gen-2', 'gen-3']) id) s;

\set body '{"id": "g-1", "order": "gen-1", "kind": "payment", "status": "success", "amount_fen": 500, "currency": "CNY", "note": "\u4f60\u597d"}'
SELECT outcome, state, duplicate, ack_status, ack_body, order_id, channel_txn_id
  FROM paycons.apply_notification('cha_gen', :'body', jsonb_build_object('X-Signature', pg_temp.hex('gen-secret', :'body')));
SELECT outcome, state, duplicate FROM paycons.apply_notification('cha_gen', :'body',
       jsonb_build_object('x-signature', upper(pg_temp.hex('gen-secret', :'body'))));
-- bad_signature: tampered, wrong secret, missing header
SELECT outcome, ack_status, ack_body, order_id FROM paycons.apply_notification('cha_gen', replace(:'body', '500', '5'),
       jsonb_build_object('X-Signature', pg_temp.hex('gen-secret', :'body')));
SELECT outcome FROM paycons.apply_notification('cha_gen', :'body', jsonb_build_object('X-Signature', pg_temp.hex('other', :'body')));
SELECT outcome FROM paycons.apply_notification('cha_gen', :'body');
SELECT bad_signatures, last_bad_signature_reason FROM paycons.channels WHERE channel = 'cha_gen';
-- a key from channel_keys verifies too (rotation of the secret)
SELECT paycons.set_channel_key('cha_gen', 'next', 'hmac', 'gen-secret-2');
\set body2 '{"id": "g-2", "order": "gen-2", "kind": "payment", "status": "success", "amount_fen": "500", "currency": "CNY"}'
SELECT outcome, state, order_id FROM paycons.apply_notification('cha_gen', :'body2',
       jsonb_build_object('X-Signature', pg_temp.hex('gen-secret-2', :'body2')));
-- verified bodies that do not state proper facts
SELECT pg_temp.try(format('SELECT paycons.apply_notification(%L, %L, %L)', 'cha_gen', b,
                          jsonb_build_object('X-Signature', pg_temp.hex('gen-secret', b))))
  FROM unnest(ARRAY[
    '{"id": "g-3", "order": "gen-3", "kind": "charge", "status": "success", "amount_fen": 500, "currency": "CNY"}',
    '{"id": "g-3", "order": "gen-3", "kind": "payment", "status": "ok", "amount_fen": 500, "currency": "CNY"}',
    '{"id": "g-3", "order": "gen-3", "kind": "payment", "status": "success", "amount_fen": 5.00, "currency": "CNY"}',
    '{"id": "g-3", "order": "gen-3", "kind": "payment", "status": "success", "currency": "CNY"}',
    '{"id": 3, "order": "gen-3", "kind": "payment", "status": "success", "amount_fen": 500, "currency": "CNY"}',
    '[1, 2]']) WITH ORDINALITY AS t(b, i) ORDER BY i;

-- the form format, with its own header and base64 (unpadded works too)
\set fbody 'txn=g-3&ref=gen-3&k=payment&s=success&cents=500&cur=CNY&memo=a+b%26c'
SELECT outcome, state, order_id, channel_txn_id FROM paycons.apply_notification('cha_gen_form', :'fbody',
       jsonb_build_object('X-Shop-Signature',
                          rtrim(encode(paycons.hmac_sha256('form-secret', convert_to(:'fbody', 'UTF8')), 'base64'), '=')));
SELECT channel_txn_id, order_id, kind, status, amount, currency, outcome, payload
  FROM paycons.callbacks WHERE channel LIKE 'cha_gen%' ORDER BY channel, channel_txn_id;

-- apply_notification runs at READ COMMITTED, like apply_callback
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.try(format('SELECT paycons.apply_notification(%L, %L, %L)', 'cha_gen', :'body',
                          jsonb_build_object('X-Signature', pg_temp.hex('gen-secret', :'body'))));
ROLLBACK;
