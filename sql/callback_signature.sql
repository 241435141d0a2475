--
-- callback_signature: HMAC-SHA256 signatures (hex, base64, t=/v1= header
-- with a tolerance), bad signatures refused and counted, channel settings
-- and the privacy of the channel secret
--
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS paycons; RESET client_min_messages;

-- PostgreSQL's own HMAC-SHA256, checked against RFC 4231 test cases 1 and 2
SELECT encode(paycons.hmac_sha256('\x0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b'::bytea, 'Hi There'::bytea), 'hex')
       = 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7' AS rfc4231_1;
SELECT encode(paycons.hmac_sha256('Jefe'::bytea, 'what do ya want for nothing?'::bytea), 'hex')
       = '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843' AS rfc4231_2;

-- channel settings are checked
SELECT paycons.set_channel('cbs_bad', require_signature => true);
SELECT paycons.set_channel('cbs_bad', secret => '');
SELECT paycons.set_channel('cbs_bad', signature_format => 'md5');
SELECT paycons.set_channel('cbs_bad', tolerance => '-1 minute');
SELECT paycons.set_channel('', ack => 'x');
SELECT paycons.set_channel(NULL);
SELECT count(*) FROM paycons.channels WHERE channel = 'cbs_bad';

SELECT paycons.set_channel('cbs_hex', secret => 'hex-secret', require_signature => true,
                           signature_format => 'hex', ack => 'success', nack => 'fail');
SELECT paycons.set_channel('cbs_b64', secret => 'b64-secret', require_signature => true,
                           signature_format => 'base64',
                           ack => '<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>',
                           nack => '<xml><return_code><![CDATA[FAIL]]></return_code></xml>');
SELECT paycons.set_channel('cbs_hdr', secret => 'hdr-secret', require_signature => true,
                           signature_format => 'header', tolerance => '5 minutes');
SELECT paycons.set_channel('cbs_open', secret => 'open-secret');
SELECT channel, require_signature, signature_format, tolerance, ack, nack, bad_signatures
  FROM paycons.channels WHERE channel LIKE 'cbs_%' ORDER BY channel;

SELECT count(*) FROM (
    SELECT paycons.create_order(id, 1000, 'CNY')
      FROM unnest(ARRAY['cbs-hex', 'cbs-b64', 'cbs-hdr', 'cbs-hdr-2', 'cbs-open', 'cbs-app']) AS id) s;

CREATE FUNCTION pg_temp.hex(secret text, body text) RETURNS text LANGUAGE sql AS
$$ SELECT encode(paycons.hmac_sha256(convert_to(secret, 'UTF8'), convert_to(body, 'UTF8')), 'hex') $$;
CREATE FUNCTION pg_temp.b64(secret text, body text) RETURNS text LANGUAGE sql AS
$$ SELECT encode(paycons.hmac_sha256(convert_to(secret, 'UTF8'), convert_to(body, 'UTF8')), 'base64') $$;
CREATE FUNCTION pg_temp.hdr(secret text, body text, age interval DEFAULT '0') RETURNS text LANGUAGE sql AS
$$ SELECT 't=' || t || ',v1=' || pg_temp.hex(secret, t || '.' || body)
     FROM (SELECT extract(epoch FROM now() - age)::bigint::text AS t) s $$;

-- hex: a bad, a missing and a truncated signature are refused, with the nack
SELECT outcome, state, duplicate, first_seen_at IS NULL AS no_first_seen, ack
  FROM paycons.apply_callback('cbs_hex', 'cbs-T-hex', 'cbs-hex', 'payment', 'success', 1000, 'CNY',
                              NULL, pg_temp.hex('wrong-secret', 'body-hex'), 'body-hex');
SELECT outcome, ack FROM paycons.apply_callback('cbs_hex', 'cbs-T-hex', 'cbs-hex', 'payment', 'success', 1000, 'CNY');
SELECT outcome, ack FROM paycons.apply_callback('cbs_hex', 'cbs-T-hex', 'cbs-hex', 'payment', 'success', 1000, 'CNY',
                                                NULL, pg_temp.hex('hex-secret', 'body-hex'), NULL);
SELECT outcome, ack FROM paycons.apply_callback('cbs_hex', 'cbs-T-hex', 'cbs-hex', 'payment', 'success', 1000, 'CNY',
                                                NULL, left(pg_temp.hex('hex-secret', 'body-hex'), 62), 'body-hex');
-- the signature covers the body: another body fails
SELECT outcome, ack FROM paycons.apply_callback('cbs_hex', 'cbs-T-hex', 'cbs-hex', 'payment', 'success', 1000, 'CNY',
                                                NULL, pg_temp.hex('hex-secret', 'body-hex'), 'body-hex-forged');
SELECT count(*) AS inbox FROM paycons.callbacks WHERE channel = 'cbs_hex';
SELECT state FROM paycons.orders WHERE order_id = 'cbs-hex';
-- the good signature, in lower or upper case hex
SELECT outcome, state, duplicate, ack
  FROM paycons.apply_callback('cbs_hex', 'cbs-T-hex', 'cbs-hex', 'payment', 'success', 1000, 'CNY',
                              NULL, pg_temp.hex('hex-secret', 'body-hex'), 'body-hex');
SELECT outcome, state, duplicate, ack
  FROM paycons.apply_callback('cbs_hex', 'cbs-T-hex', 'cbs-hex', 'payment', 'success', 1000, 'CNY',
                              NULL, upper(pg_temp.hex('hex-secret', 'body-hex')), 'body-hex');
-- a forged replay of a known transaction learns nothing: bad_signature
SELECT outcome, state, duplicate, first_seen_at IS NULL AS no_first_seen, ack
  FROM paycons.apply_callback('cbs_hex', 'cbs-T-hex', 'cbs-hex', 'payment', 'success', 1000, 'CNY',
                              NULL, 'deadbeef', 'body-hex');

-- base64
SELECT outcome, ack FROM paycons.apply_callback('cbs_b64', 'cbs-T-b64', 'cbs-b64', 'payment', 'success', 1000, 'CNY',
                                                NULL, pg_temp.b64('other', 'body-b64'), 'body-b64');
SELECT outcome, ack FROM paycons.apply_callback('cbs_b64', 'cbs-T-b64', 'cbs-b64', 'payment', 'success', 1000, 'CNY',
                                                NULL, pg_temp.hex('b64-secret', 'body-b64'), 'body-b64');
SELECT outcome, state, ack FROM paycons.apply_callback('cbs_b64', 'cbs-T-b64', 'cbs-b64', 'payment', 'success', 1000, 'CNY',
                                                       NULL, pg_temp.b64('b64-secret', 'body-b64'), 'body-b64');

-- header t=<unix>,v1=<hex> over "<t>.<body>", within the tolerance
SELECT outcome FROM paycons.apply_callback('cbs_hdr', 'cbs-T-hdr', 'cbs-hdr', 'payment', 'success', 1000, 'CNY',
                                           NULL, pg_temp.hdr('hdr-secret', 'body-hdr', '10 minutes'), 'body-hdr');
SELECT outcome FROM paycons.apply_callback('cbs_hdr', 'cbs-T-hdr', 'cbs-hdr', 'payment', 'success', 1000, 'CNY',
                                           NULL, pg_temp.hdr('hdr-secret', 'body-hdr', '-10 minutes'), 'body-hdr');
SELECT outcome FROM paycons.apply_callback('cbs_hdr', 'cbs-T-hdr', 'cbs-hdr', 'payment', 'success', 1000, 'CNY',
                                           NULL, pg_temp.hex('hdr-secret', 'body-hdr'), 'body-hdr');
SELECT outcome FROM paycons.apply_callback('cbs_hdr', 'cbs-T-hdr', 'cbs-hdr', 'payment', 'success', 1000, 'CNY',
                                           NULL, 't=abc,v1=' || pg_temp.hex('hdr-secret', 'abc.body-hdr'), 'body-hdr');
SELECT last_bad_signature_reason FROM paycons.channels WHERE channel = 'cbs_hdr';
SELECT outcome, state FROM paycons.apply_callback('cbs_hdr', 'cbs-T-hdr', 'cbs-hdr', 'payment', 'success', 1000, 'CNY',
                                                  NULL, pg_temp.hdr('hdr-secret', 'body-hdr', '4 minutes'), 'body-hdr');
-- while a secret is rotated: two v1 elements, one of them good, any order, blanks
SELECT outcome, state FROM paycons.apply_callback('cbs_hdr', 'cbs-T-hdr-2', 'cbs-hdr-2', 'payment', 'success', 1000, 'CNY',
                                                  NULL, 'v1=' || pg_temp.hex('old-secret', 'x') || ', ' ||
                                                        pg_temp.hdr('hdr-secret', 'body-hdr-2') || ' ,v0=zz',
                                                  'body-hdr-2');

-- a channel that does not require signatures ignores them
SELECT outcome, state, ack FROM paycons.apply_callback('cbs_open', 'cbs-T-open', 'cbs-open', 'payment', 'success', 1000, 'CNY',
                                                       NULL, 'garbage', 'body');

-- refused deliveries are counted per channel
SELECT channel, bad_signatures, last_bad_signature_at IS NOT NULL AS stamped, last_bad_signature_reason
  FROM paycons.channels WHERE channel LIKE 'cbs_%' ORDER BY channel;
SELECT channel, channel_txn_id, outcome, state FROM paycons.callbacks WHERE channel LIKE 'cbs_%' ORDER BY 1, 2;

-- changing a setting keeps the others
SELECT paycons.set_channel('cbs_hex', ack => 'OK');
SELECT channel, require_signature, signature_format, ack, nack, secret = convert_to('hex-secret', 'UTF8') AS same_secret
  FROM paycons.channels WHERE channel = 'cbs_hex';

-- privileges: an application role can apply callbacks, but cannot read the
-- secret (nor anything else of paycons.channels) or manage channels
CREATE ROLE paycons_cbs_app;
SELECT paycons.grant_app_role('paycons_cbs_app');
SELECT has_column_privilege('paycons_cbs_app', 'paycons.channels', 'secret', 'SELECT') AS app_reads_secret,
       has_table_privilege('paycons_cbs_app', 'paycons.channels', 'SELECT') AS app_reads_channels,
       has_table_privilege('paycons_cbs_app', 'paycons.callbacks', 'SELECT') AS app_reads_inbox,
       has_function_privilege('paycons_cbs_app', 'paycons.set_channel'::regproc, 'EXECUTE') AS app_sets_channel,
       has_function_privilege('paycons_cbs_app', 'paycons.apply_callback(text, text, text, text, text, bigint, text, jsonb, text, text, text)', 'EXECUTE') AS app_applies;
SELECT pg_temp.hex('hex-secret', 'body-app') AS app_sig \gset
SET ROLE paycons_cbs_app;
SELECT secret FROM paycons.channels;
SELECT channel FROM paycons.channels;
SELECT paycons.set_channel('cbs_hex', secret => 'stolen');
SELECT paycons.drop_channel('cbs_hex');
SELECT outcome, state, ack FROM paycons.apply_callback('cbs_hex', 'cbs-T-app', 'cbs-app', 'payment', 'success', 1000, 'CNY',
                                                       NULL, :'app_sig', 'body-app');
RESET ROLE;
SELECT from_state, to_state, actor = 'paycons_cbs_app' AS by_app FROM paycons.order_history WHERE order_id = 'cbs-app' ORDER BY id;

-- drop a channel: its callbacks are refused from then on
SELECT paycons.drop_channel('cbs_open');
SELECT paycons.drop_channel('cbs_open');
SELECT outcome FROM paycons.apply_callback('cbs_open', 'cbs-T-open', 'cbs-open', 'payment', 'success', 1000, 'CNY');

DROP OWNED BY paycons_cbs_app;
DROP ROLE paycons_cbs_app;
