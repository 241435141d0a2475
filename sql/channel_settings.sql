--
-- channel_settings: channel presets, keys and privileges for
-- apply_notification; its bad input (NULL, oversize, unknown channel,
-- headers); and a hostile application role whose shadowing operators and
-- functions in its search_path must never run while paycons works as the
-- extension owner.
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

-- presets: each protocol fills in what its channel expects back
SELECT count(paycons.set_channel('cs_' || p, protocol => p))
  FROM unnest(ARRAY['hmac', 'alipay', 'wechatpay_v3', 'stripe', 'adyen']) p;
SELECT channel, protocol, ack, ack_status, nack, nack_status, tolerance, default_currency, require_signature
  FROM paycons.channels WHERE channel LIKE 'cs\_%' ORDER BY channel;
-- explicit arguments win over the preset; a new protocol brings its preset
SELECT paycons.set_channel('cs_custom', protocol => 'alipay', ack => 'SUCCESS', tolerance => '1 minute',
                           default_currency => 'HKD');
SELECT paycons.set_channel('cs_custom', merchant_id => '2021000000000002');
SELECT channel, protocol, ack, nack, tolerance, default_currency, merchant_id FROM paycons.channels WHERE channel = 'cs_custom';
SELECT paycons.set_channel('cs_custom', protocol => 'adyen');
SELECT channel, protocol, ack, ack_status, nack, nack_status, default_currency, merchant_id FROM paycons.channels WHERE channel = 'cs_custom';
-- a 0.1.0 call, by position, still works and keeps the generic protocol
SELECT paycons.set_channel('cs_old', 'old-secret', true, 'hex', '1 minute', 'ok', 'no');
SELECT channel, protocol, require_signature, signature_format, tolerance, ack, nack, ack_status, nack_status
  FROM paycons.channels WHERE channel = 'cs_old';
-- settings are checked
SELECT pg_temp.try($$SELECT paycons.set_channel('cs_bad', protocol => 'paypal')$$);
SELECT pg_temp.try($$SELECT paycons.set_channel('cs_bad', ack_status => 99)$$);
SELECT pg_temp.try($$SELECT paycons.set_channel('cs_bad', nack_status => 600)$$);
SELECT pg_temp.try($$SELECT paycons.set_channel('cs_bad', default_currency => 'cny')$$);
SELECT pg_temp.try($$SELECT paycons.set_channel('cs_bad', merchant_id => '')$$);
SELECT pg_temp.try($$SELECT paycons.set_channel('cs_bad', signature_header => '')$$);
SELECT pg_temp.try($$SELECT paycons.set_channel(repeat('x', 65))$$);
SELECT count(*) FROM paycons.channels WHERE channel = 'cs_bad';

-- keys: decoded and checked when added
\set pem `cat test/fixtures/channels/keys/wrong_test_public.pem`
SELECT paycons.set_channel_key('cs_alipay', 'k1', 'rsa_public', :'pem');
SELECT paycons.set_channel_key('cs_wechatpay_v3', 'apiv3', 'aes256', 'paycons-TEST-ONLY-apiv3-key-0001');
SELECT paycons.set_channel_key('cs_adyen', 'k1', 'hmac_hex', '00ff10EE');
SELECT paycons.set_channel_key('cs_stripe', 'k1', 'hmac', 'whsec_TEST_ONLY_settings');
SELECT channel, key_id, kind, octet_length(key) AS bytes, retired_at IS NULL AS active
  FROM paycons.channel_keys WHERE channel LIKE 'cs\_%' ORDER BY channel, key_id;
\set short `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 2>/dev/null | openssl pkey -pubout`
\set ec `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null | openssl pkey -pubout`
SELECT pg_temp.try(format('SELECT paycons.set_channel_key(%L, %L, %L, %L)', c, k, kind, key))
  FROM (VALUES ('cs_nope', 'k', 'hmac', 'x'),
               ('cs_stripe', E'k\n', 'hmac', 'x'),
               ('cs_stripe', 'k2', 'des', 'x'),
               ('cs_stripe', 'k2', 'hmac', ''),
               ('cs_wechatpay_v3', 'k2', 'aes256', 'too-short'),
               ('cs_adyen', 'k2', 'hmac_hex', 'abc'),
               ('cs_adyen', 'k2', 'hmac_hex', 'zz'),
               ('cs_alipay', 'k2', 'rsa_public', 'not a key'),
               ('cs_alipay', 'k2', 'rsa_public', 'TUlJQg=='),
               ('cs_alipay', 'k2', 'rsa_public', :'short'),
               ('cs_alipay', 'k2', 'rsa_public', :'ec')) v(c, k, kind, key);
SELECT pg_temp.try($$SELECT paycons.set_channel_key('cs_stripe', 'k2', 'hmac', NULL)$$);
-- replacing a key keeps one row; retiring says whether there was one
SELECT paycons.set_channel_key('cs_stripe', 'k1', 'hmac', 'whsec_TEST_ONLY_settings_2');
SELECT count(*), bool_and(key = 'whsec_TEST_ONLY_settings_2') AS replaced FROM paycons.channel_keys WHERE channel = 'cs_stripe';
SELECT paycons.retire_channel_key('cs_stripe', 'k1'), paycons.retire_channel_key('cs_stripe', 'k1'),
       paycons.retire_channel_key('cs_stripe', 'nope');
SELECT paycons.set_channel_key('cs_stripe', 'k1', 'hmac', 'whsec_TEST_ONLY_settings');
SELECT key_id, retired_at IS NULL AS active FROM paycons.channel_keys WHERE channel = 'cs_stripe';
-- dropping a channel drops its keys
SELECT paycons.drop_channel('cs_hmac');
SELECT count(*) FROM paycons.channel_keys WHERE channel = 'cs_hmac';

-- bad input to apply_notification: errors, nothing written
SELECT pg_temp.try($$SELECT paycons.apply_notification(NULL, 'x')$$);
SELECT pg_temp.try($$SELECT paycons.apply_notification('cs_stripe', NULL)$$);
SELECT pg_temp.try($$SELECT paycons.apply_notification('cs_stripe', 'x', NULL)$$);
SELECT pg_temp.try($$SELECT paycons.apply_notification('cs_nope', 'x')$$);
SELECT pg_temp.try($$SELECT paycons.apply_notification('', 'x')$$);
SELECT pg_temp.try($$SELECT paycons.apply_notification(E'cs\x01', 'x')$$);
SELECT pg_temp.try($$SELECT paycons.apply_notification(repeat('c', 65), 'x')$$);
SELECT pg_temp.try($$SELECT paycons.apply_notification('cs_stripe', repeat('x', 1048577))$$);
SELECT pg_temp.try($$SELECT paycons.apply_notification('cs_stripe', 'x',
                     jsonb_build_object('Stripe-Signature', repeat('x', 70000)))$$);
SELECT pg_temp.try($$SELECT paycons.apply_notification('cs_stripe', 'x', '"t=1,v1=00"')$$);
-- an empty body is not an error of its own: it is not signed
SELECT outcome, ack_status FROM paycons.apply_notification('cs_stripe', '');

-- privileges: an application role applies notifications, and reads or
-- manages no key
CREATE ROLE paycons_cs_app;
SELECT paycons.grant_app_role('paycons_cs_app');
SELECT has_function_privilege('paycons_cs_app', 'paycons.apply_notification(text, text, jsonb)', 'EXECUTE') AS app_applies,
       has_function_privilege('paycons_cs_app', 'paycons.set_channel_key(text, text, text, text)', 'EXECUTE') AS app_sets_key,
       has_function_privilege('paycons_cs_app', 'paycons.retire_channel_key(text, text)', 'EXECUTE') AS app_retires_key,
       has_function_privilege('paycons_cs_app', 'paycons.channel_key_decode(text, text)', 'EXECUTE') AS app_decodes_key,
       has_function_privilege('paycons_cs_app', 'paycons.set_channel(text, text, boolean, text, interval, text, text, text, integer, integer, text, jsonb, text, text, text)', 'EXECUTE') AS app_sets_channel,
       has_table_privilege('paycons_cs_app', 'paycons.channel_keys', 'SELECT') AS app_reads_keys,
       has_column_privilege('paycons_cs_app', 'paycons.channel_keys', 'key', 'SELECT') AS app_reads_key_bytes;
SET ROLE paycons_cs_app;
SELECT key FROM paycons.channel_keys;
SELECT paycons.set_channel_key('cs_stripe', 'mine', 'hmac', 'attacker');
SELECT paycons.retire_channel_key('cs_stripe', 'k1');
RESET ROLE;

-- a hostile application role: it owns a schema first in its search_path,
-- with operators and functions that shadow what paycons uses, each logging
-- current_user if it ever runs.  Every kind of notification (applied,
-- duplicate, cumulative refund, ignored, bad signature, error) is applied
-- as that role; the log stays empty.
CREATE SCHEMA cs_hostile AUTHORIZATION paycons_cs_app;
SET ROLE paycons_cs_app;
CREATE TABLE cs_hostile.ran (who name, what text);
CREATE FUNCTION cs_hostile.log(what text) RETURNS void LANGUAGE sql AS
$$ INSERT INTO cs_hostile.ran VALUES (current_user, what) $$;
CREATE FUNCTION cs_hostile.teq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM cs_hostile.log('text ='); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR cs_hostile.= (LEFTARG = text, RIGHTARG = text, FUNCTION = cs_hostile.teq);
CREATE FUNCTION cs_hostile.tne(a text, b text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM cs_hostile.log('text <>'); RETURN a OPERATOR(pg_catalog.<>) b; END $$;
CREATE OPERATOR cs_hostile.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = cs_hostile.tne);
CREATE FUNCTION cs_hostile.tlt(a text, b text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM cs_hostile.log('text <'); RETURN a OPERATOR(pg_catalog.<) b; END $$;
CREATE OPERATOR cs_hostile.< (LEFTARG = text, RIGHTARG = text, FUNCTION = cs_hostile.tlt);
CREATE FUNCTION cs_hostile.tcat(a text, b text) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN PERFORM cs_hostile.log('text ||'); RETURN a OPERATOR(pg_catalog.||) b; END $$;
CREATE OPERATOR cs_hostile.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = cs_hostile.tcat);
CREATE FUNCTION cs_hostile.tre(a text, b text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM cs_hostile.log('text ~'); RETURN a OPERATOR(pg_catalog.~) b; END $$;
CREATE OPERATOR cs_hostile.~ (LEFTARG = text, RIGHTARG = text, FUNCTION = cs_hostile.tre);
CREATE FUNCTION cs_hostile.iadd(a bigint, b bigint) RETURNS bigint LANGUAGE plpgsql AS
$$ BEGIN PERFORM cs_hostile.log('bigint +'); RETURN a OPERATOR(pg_catalog.+) b; END $$;
CREATE OPERATOR cs_hostile.+ (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = cs_hostile.iadd);
CREATE FUNCTION cs_hostile.now() RETURNS timestamptz LANGUAGE plpgsql AS
$$ BEGIN PERFORM cs_hostile.log('now'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION cs_hostile.lower(t text) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN PERFORM cs_hostile.log('lower'); RETURN pg_catalog.lower(t); END $$;
CREATE FUNCTION cs_hostile.hashtext(t text) RETURNS integer LANGUAGE plpgsql AS
$$ BEGIN PERFORM cs_hostile.log('hashtext'); RETURN pg_catalog.hashtext(t); END $$;
CREATE FUNCTION cs_hostile.pg_advisory_xact_lock(a integer, b integer) RETURNS void LANGUAGE plpgsql AS
$$ BEGIN PERFORM cs_hostile.log('pg_advisory_xact_lock'); END $$;
CREATE FUNCTION cs_hostile.date_part(f text, i interval) RETURNS double precision LANGUAGE plpgsql AS
$$ BEGIN PERFORM cs_hostile.log('date_part'); RETURN pg_catalog.date_part(f, i); END $$;
CREATE FUNCTION cs_hostile.jsonb_build_object(a text, b text) RETURNS jsonb LANGUAGE plpgsql AS
$$ BEGIN PERFORM cs_hostile.log('jsonb_build_object'); RETURN pg_catalog.jsonb_build_object(a, b); END $$;
CREATE FUNCTION cs_hostile.to_jsonb(t text) RETURNS jsonb LANGUAGE plpgsql AS
$$ BEGIN PERFORM cs_hostile.log('to_jsonb'); RETURN pg_catalog.to_jsonb(t); END $$;
CREATE FUNCTION cs_hostile.format(f text) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN PERFORM cs_hostile.log('format'); RETURN pg_catalog.format(f); END $$;
-- the shadows work: in the role's own query they run
SET search_path = cs_hostile, pg_catalog, paycons, public;
SELECT 'a' = 'a' AS shadowed_eq, lower('A') AS shadowed_lower;
SELECT count(*) AS shadows_ran FROM cs_hostile.ran;
DELETE FROM cs_hostile.ran;
RESET ROLE;
RESET search_path;

-- notifications for the hostile role, signed here (hmac_sha256 is owner-only)
SELECT paycons.set_channel_key('cs_stripe', 'k1', 'hmac', 'whsec_TEST_ONLY_settings');
SELECT count(*) FROM (SELECT paycons.create_order('cs-1', 700, 'USD')) s;
CREATE FUNCTION pg_temp.sig(body text) RETURNS jsonb LANGUAGE sql AS $$
SELECT jsonb_build_object('Stripe-Signature', 't=' || t || ',v1=' ||
       encode(paycons.hmac_sha256('whsec_TEST_ONLY_settings', convert_to(t || '.' || body, 'UTF8')), 'hex'))
  FROM (SELECT extract(epoch FROM now())::bigint::text AS t) x $$;
SELECT '{"id": "evt_cs1", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_cs1", "amount_received": 700, "currency": "usd", "metadata": {"order_id": "cs-1"}}}}' AS pay,
       '{"id": "evt_cs2", "type": "charge.refunded", "data": {"object": {"id": "ch_cs1", "amount_refunded": 200, "currency": "usd", "metadata": {"order_id": "cs-1"}}}}' AS refund,
       '{"id": "evt_cs3", "type": "invoice.paid", "data": {"object": {"id": "in_cs1"}}}' AS other,
       '{"id": "evt_cs4", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_cs4", "amount_received": 1.5, "currency": "usd", "metadata": {"order_id": "cs-1"}}}}' AS bad \gset
SELECT pg_temp.sig(:'pay') AS pay_sig, pg_temp.sig(:'refund') AS refund_sig,
       pg_temp.sig(:'other') AS other_sig, pg_temp.sig(:'bad') AS bad_sig \gset

SET ROLE paycons_cs_app;
SET search_path = cs_hostile, pg_catalog, paycons, public;
SELECT outcome, state, duplicate, ack_status FROM paycons.apply_notification('cs_stripe', :'pay', :'pay_sig');
SELECT outcome, state, duplicate, ack_status FROM paycons.apply_notification('cs_stripe', :'pay', :'pay_sig');
SELECT outcome, state, duplicate, channel_txn_id FROM paycons.apply_notification('cs_stripe', :'refund', :'refund_sig');
SELECT outcome, state, duplicate FROM paycons.apply_notification('cs_stripe', :'other', :'other_sig');
SELECT outcome, state, ack_status FROM paycons.apply_notification('cs_stripe', :'pay', :'refund_sig');
SELECT paycons.apply_notification('cs_stripe', :'bad', :'bad_sig');
SELECT count(*) AS shadows_ran FROM cs_hostile.ran;
RESET search_path;
RESET ROLE;
SELECT who, what FROM cs_hostile.ran;
SELECT channel_txn_id, amount, outcome, state FROM paycons.callbacks WHERE channel = 'cs_stripe' ORDER BY received_at;
SELECT from_state, to_state, actor FROM paycons.order_history WHERE order_id = 'cs-1' ORDER BY id;

SET client_min_messages = warning;
DROP SCHEMA cs_hostile CASCADE;
RESET client_min_messages;
DROP OWNED BY paycons_cs_app;
DROP ROLE paycons_cs_app;
