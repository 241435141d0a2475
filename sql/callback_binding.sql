--
-- callback_binding: issue 10 item 5 for apply_callback.  A signature covers
-- the signed body, so for a channel that declares its body format the facts
-- passed as arguments must be the body's: a captured signed body replayed
-- under a new transaction id, for another order, or with another amount is
-- refused as bad_signature and applies nothing.  An unpadded base64
-- signature (43 characters) is accepted as doc/callbacks.md promises, and
-- set_channel refuses a channel name apply_callback would always refuse.
-- Each of these passed (or was refused) on 0.1.0.
--
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS paycons; RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION pg_temp.hex(secret text, body text) RETURNS text LANGUAGE sql AS
$$ SELECT encode(paycons.hmac_sha256(convert_to(secret, 'UTF8'), convert_to(body, 'UTF8')), 'hex') $$;
CREATE FUNCTION pg_temp.hdr(secret text, body text) RETURNS text LANGUAGE sql AS
$$ SELECT 't=' || t || ',v1=' || pg_temp.hex(secret, t || '.' || body)
     FROM (SELECT extract(epoch FROM now())::bigint::text AS t) s $$;

SELECT count(*) FROM (
    SELECT paycons.create_order(id, 1000, 'CNY')
      FROM unnest(ARRAY['cbb-1', 'cbb-2', 'cbb-3', 'cbb-4', 'cbb-5', 'cbb-6', 'cbb-7']) AS id) s;

-- 0.1.0 behaviour, kept for channels that declare no body format: the
-- signature does not bind the facts (documented), so a captured body is
-- accepted again for another transaction and order
SELECT paycons.set_channel('cbb_legacy', secret => 'legacy-secret', require_signature => true,
                           signature_format => 'hex');
\set body '{"txn": "T-1", "order": "cbb-1", "amount": 1000, "currency": "CNY"}'
SELECT pg_temp.hex('legacy-secret', :'body') AS sig \gset
SELECT outcome, state FROM paycons.apply_callback('cbb_legacy', 'T-1', 'cbb-1', 'payment', 'success', 1000, 'CNY',
                                                  NULL, :'sig', :'body');
SELECT outcome, state FROM paycons.apply_callback('cbb_legacy', 'T-forged', 'cbb-2', 'payment', 'success', 1000, 'CNY',
                                                  NULL, :'sig', :'body');
SELECT order_id, state FROM paycons.orders WHERE order_id IN ('cbb-1', 'cbb-2') ORDER BY 1;

-- a channel that declares its body format: the same attack is refused
SELECT paycons.set_channel('cbb_json', secret => 'json-secret', require_signature => true,
                           signature_format => 'header', body_format => 'json',
                           body_fields => '{"channel_txn_id": "txn", "order_id": "order", "amount": "amount", "currency": "currency"}');
SELECT pg_temp.hdr('json-secret', :'body') AS hsig \gset
-- the genuine delivery, with the facts the body states
\set body '{"txn": "J-1", "order": "cbb-3", "amount": 1000, "currency": "CNY"}'
SELECT pg_temp.hdr('json-secret', :'body') AS hsig \gset
SELECT outcome, state, duplicate FROM paycons.apply_callback('cbb_json', 'J-1', 'cbb-3', 'payment', 'success', 1000, 'CNY',
                                                             NULL, :'hsig', :'body');
-- replayed under a new transaction id, for another order, with another
-- amount or currency: bad_signature, nothing applied
SELECT outcome, state, duplicate, ack FROM paycons.apply_callback('cbb_json', 'J-2', 'cbb-3', 'payment', 'success', 1000, 'CNY',
                                                                  NULL, :'hsig', :'body');
SELECT last_bad_signature_reason FROM paycons.channels WHERE channel = 'cbb_json';
SELECT outcome FROM paycons.apply_callback('cbb_json', 'J-1', 'cbb-4', 'payment', 'success', 1000, 'CNY',
                                           NULL, :'hsig', :'body');
SELECT last_bad_signature_reason FROM paycons.channels WHERE channel = 'cbb_json';
SELECT outcome FROM paycons.apply_callback('cbb_json', 'J-1', 'cbb-3', 'payment', 'success', 999, 'CNY',
                                           NULL, :'hsig', :'body');
SELECT outcome FROM paycons.apply_callback('cbb_json', 'J-1', 'cbb-3', 'payment', 'success', 1000, 'USD',
                                           NULL, :'hsig', :'body');
-- a body that states no facts binds nothing either
\set nobody '{"hello": "world"}'
SELECT pg_temp.hdr('json-secret', :'nobody') AS nsig \gset
SELECT outcome FROM paycons.apply_callback('cbb_json', 'J-9', 'cbb-4', 'payment', 'success', 1000, 'CNY',
                                           NULL, :'nsig', :'nobody');
SELECT last_bad_signature_reason FROM paycons.channels WHERE channel = 'cbb_json';
SELECT bad_signatures FROM paycons.channels WHERE channel = 'cbb_json';
SELECT channel_txn_id, order_id, amount, outcome FROM paycons.callbacks WHERE channel = 'cbb_json';
SELECT order_id, state, paid_amount FROM paycons.orders WHERE order_id IN ('cbb-3', 'cbb-4') ORDER BY 1;

-- a form body; kind and status bound too when declared
SELECT paycons.set_channel('cbb_form', secret => 'form-secret', require_signature => true,
                           signature_format => 'hex', body_format => 'form',
                           body_fields => '{"channel_txn_id": "trade_no", "order_id": "out_trade_no", "amount": "fen",
                                            "currency": "cur", "status": "st"}');
\set fbody 'trade_no=F-1&out_trade_no=cbb-5&fen=1000&cur=CNY&st=success'
SELECT outcome, state FROM paycons.apply_callback('cbb_form', 'F-1', 'cbb-5', 'payment', 'failed', 1000, 'CNY',
                                                  NULL, pg_temp.hex('form-secret', :'fbody'), :'fbody');
SELECT outcome, state FROM paycons.apply_callback('cbb_form', 'F-1', 'cbb-5', 'payment', 'success', 1000, 'CNY',
                                                  NULL, pg_temp.hex('form-secret', :'fbody'), :'fbody');

-- set_channel checks the body declaration
SELECT paycons.set_channel('cbb_bad', body_format => 'xml', body_fields => '{}');
SELECT paycons.set_channel('cbb_bad', body_format => 'json');
SELECT paycons.set_channel('cbb_bad', body_format => 'json', body_fields => '{"order_id": "o"}');
SELECT paycons.set_channel('cbb_bad', body_format => 'json', body_fields => '{"channel_txn_id": "t", "order_id": "o", "amount": "a", "currency": "c", "colour": "x"}');
SELECT paycons.set_channel('cbb_bad', body_format => 'json', body_fields => '{"channel_txn_id": 1, "order_id": "o", "amount": "a", "currency": "c"}');
SELECT paycons.set_channel('cbb_bad', body_format => 'json', body_fields => '["channel_txn_id"]');
-- and removes it with 'none'
SELECT paycons.set_channel('cbb_form', body_format => 'none');
SELECT channel, body_format, body_fields FROM paycons.channels WHERE channel = 'cbb_form';

-- unpadded base64 (43 characters) is accepted, as documented; so is padded
SELECT paycons.set_channel('cbb_b64', secret => 'b64-secret', require_signature => true, signature_format => 'base64');
SELECT encode(paycons.hmac_sha256('b64-secret', 'body-6'), 'base64') AS padded \gset
SELECT rtrim(:'padded', '=') AS unpadded, length(rtrim(:'padded', '=')) AS len \gset
\echo :len
SELECT outcome, state FROM paycons.apply_callback('cbb_b64', 'B-6', 'cbb-6', 'payment', 'success', 1000, 'CNY',
                                                  NULL, :'unpadded', 'body-6');
SELECT outcome, state, duplicate FROM paycons.apply_callback('cbb_b64', 'B-6', 'cbb-6', 'payment', 'success', 1000, 'CNY',
                                                             NULL, :'padded', 'body-6');
-- but not with bad padding, blanks or a truncated digest
SELECT outcome FROM paycons.apply_callback('cbb_b64', 'B-7', 'cbb-7', 'payment', 'success', 1000, 'CNY',
                                           NULL, :'unpadded' || '==', 'body-6');
SELECT outcome FROM paycons.apply_callback('cbb_b64', 'B-7', 'cbb-7', 'payment', 'success', 1000, 'CNY',
                                           NULL, ' ' || :'unpadded', 'body-6');
SELECT outcome FROM paycons.apply_callback('cbb_b64', 'B-7', 'cbb-7', 'payment', 'success', 1000, 'CNY',
                                           NULL, left(:'unpadded', 42), 'body-6');

-- channel names: set_channel refuses what apply_callback would always refuse
SELECT paycons.set_channel(E'cbb\x01ctl');
SELECT paycons.set_channel(E'cbb\nnewline');
SELECT paycons.set_channel(E'cbb\x7fdel');
SELECT count(*) FROM paycons.channels WHERE channel LIKE 'cbb%' AND channel ~ '[\x01-\x1f\x7f]';
-- what apply_callback says of such a name
SELECT paycons.apply_callback(E'cbb\x01ctl', 'X', 'cbb-7', 'payment', 'success', 1000, 'CNY');
