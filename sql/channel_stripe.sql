--
-- channel_stripe: Stripe webhooks through apply_notification.  Header
-- Stripe-Signature "t=...,v1=..." (several v1 while a secret is rotated),
-- HMAC-SHA256 of "<t>.<body>" with the endpoint's signing secret, t within
-- 300 seconds; payment_intent.succeeded / payment_intent.payment_failed /
-- charge.refunded applied, every other event type acknowledged and
-- ignored.  Amounts are minor units, the currency lower case, the order id
-- in metadata.order_id.  Signed at test time with paycons.hmac_sha256.
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
-- "t=<now - age>,v1=<hex HMAC of '<t>.<body>'>" for each secret
CREATE FUNCTION pg_temp.sig(body text, secrets text[], age int DEFAULT 0) RETURNS jsonb LANGUAGE sql AS $$
SELECT jsonb_build_object('Stripe-Signature',
       't=' || t || (SELECT string_agg(',v1=' || encode(paycons.hmac_sha256(convert_to(s, 'UTF8'),
                                                         convert_to(t || '.' || body, 'UTF8')), 'hex'), '')
                       FROM unnest(secrets) s))
  FROM (SELECT (extract(epoch FROM now())::bigint - age)::text AS t) x $$;
-- an event body, as Stripe sends it (abridged)
CREATE FUNCTION pg_temp.event(id text, type text, object text) RETURNS text LANGUAGE sql AS $$
SELECT format('{"id": "%s", "object": "event", "api_version": "2024-06-20", "created": 1716200000, '
              '"data": {"object": %s}, "livemode": false, "pending_webhooks": 1, "type": "%s"}',
              id, object, type) $$;

SELECT paycons.set_channel('cha_stripe', protocol => 'stripe');
SELECT paycons.set_channel_key('cha_stripe', 'whsec-2024', 'hmac', 'whsec_TEST_ONLY_old_secret');
SELECT channel, protocol, ack, ack_status, nack, nack_status, tolerance, default_currency
  FROM paycons.channels WHERE channel = 'cha_stripe';

SELECT count(*) FROM (
    SELECT paycons.create_order(id, amount, cur)
      FROM (VALUES ('st-1', 2000, 'USD'), ('st-2', 1500, 'EUR'), ('st-3', 500, 'JPY'), ('st-4', 100, 'USD')) v(id, amount, cur)) s;
SELECT count(*) FROM (SELECT paycons.begin_payment(id, 'cha_stripe') FROM unnest(ARRAY['st-1', 'st-2', 'st-3']) id) s;

SELECT pg_temp.event('evt_1', 'payment_intent.succeeded',
    '{"id": "pi_1", "object": "payment_intent", "amount": 2000, "amount_received": 2000, "currency": "usd", "metadata": {"order_id": "st-1"}, "status": "succeeded"}') AS e1 \gset

-- a genuine event: applied, currency upper-cased, ack HTTP 200
SELECT outcome, state, duplicate, first_seen_at IS NOT NULL AS seen, ack_status, ack_body, order_id, channel_txn_id
  FROM paycons.apply_notification('cha_stripe', :'e1', pg_temp.sig(:'e1', ARRAY['whsec_TEST_ONLY_old_secret']));
SELECT channel_txn_id, order_id, kind, status, amount, currency, outcome, payload
  FROM paycons.callbacks WHERE channel = 'cha_stripe';
-- Stripe retries: a duplicate
SELECT outcome, state, duplicate FROM paycons.apply_notification('cha_stripe', :'e1', pg_temp.sig(:'e1', ARRAY['whsec_TEST_ONLY_old_secret']));

-- refused as bad_signature (HTTP 400), nothing applied: the body changed,
-- a wrong secret, a stale timestamp (301 s), a future one, no header, a
-- header without v1, a malformed t
SELECT outcome, state, duplicate, first_seen_at, ack_status, ack_body, order_id, channel_txn_id
  FROM paycons.apply_notification('cha_stripe', replace(:'e1', '"st-1"', '"st-4"'),
                                  pg_temp.sig(:'e1', ARRAY['whsec_TEST_ONLY_old_secret']));
SELECT outcome FROM paycons.apply_notification('cha_stripe', :'e1', pg_temp.sig(:'e1', ARRAY['whsec_wrong']));
SELECT outcome FROM paycons.apply_notification('cha_stripe', :'e1', pg_temp.sig(:'e1', ARRAY['whsec_TEST_ONLY_old_secret'], 301));
SELECT last_bad_signature_reason FROM paycons.channels WHERE channel = 'cha_stripe';
SELECT outcome FROM paycons.apply_notification('cha_stripe', :'e1', pg_temp.sig(:'e1', ARRAY['whsec_TEST_ONLY_old_secret'], -301));
SELECT outcome FROM paycons.apply_notification('cha_stripe', :'e1');
SELECT outcome FROM paycons.apply_notification('cha_stripe', :'e1', '{"Stripe-Signature": "t=1716200000,v0=abc"}');
SELECT outcome FROM paycons.apply_notification('cha_stripe', :'e1', '{"Stripe-Signature": "t=abc,v1=00"}');
SELECT bad_signatures FROM paycons.channels WHERE channel = 'cha_stripe';
SELECT count(*) AS inbox FROM paycons.callbacks WHERE channel = 'cha_stripe';

-- secret rotation: while both secrets are active, Stripe sends two v1 and
-- either secret verifies; a retired secret no longer does
SELECT paycons.set_channel_key('cha_stripe', 'whsec-2025', 'hmac', 'whsec_TEST_ONLY_new_secret');
SELECT pg_temp.event('evt_2', 'payment_intent.payment_failed',
    '{"id": "pi_2", "object": "payment_intent", "amount": 1500, "amount_received": 0, "currency": "eur", "metadata": {"order_id": "st-2"}, "status": "requires_payment_method"}') AS e2 \gset
SELECT outcome, state, order_id, channel_txn_id
  FROM paycons.apply_notification('cha_stripe', :'e2',
       pg_temp.sig(:'e2', ARRAY['whsec_TEST_ONLY_old_secret', 'whsec_TEST_ONLY_new_secret']));
-- the same payment intent succeeds with another card: its own key, applied
SELECT pg_temp.event('evt_3', 'payment_intent.succeeded',
    '{"id": "pi_2", "object": "payment_intent", "amount": 1500, "amount_received": 1500, "currency": "eur", "metadata": {"order_id": "st-2"}, "status": "succeeded"}') AS e3 \gset
SELECT paycons.retire_channel_key('cha_stripe', 'whsec-2024');
SELECT outcome FROM paycons.apply_notification('cha_stripe', :'e3', pg_temp.sig(:'e3', ARRAY['whsec_TEST_ONLY_old_secret']));
SELECT outcome, state, order_id, channel_txn_id
  FROM paycons.apply_notification('cha_stripe', :'e3', pg_temp.sig(:'e3', ARRAY['whsec_TEST_ONLY_new_secret']));

-- a zero-decimal currency: 500 JPY is 500 minor units
SELECT pg_temp.event('evt_4', 'payment_intent.succeeded',
    '{"id": "pi_3", "object": "payment_intent", "amount": 500, "amount_received": 500, "currency": "jpy", "metadata": {"order_id": "st-3"}}') AS e4 \gset
SELECT outcome, state, order_id FROM paycons.apply_notification('cha_stripe', :'e4', pg_temp.sig(:'e4', ARRAY['whsec_TEST_ONLY_new_secret']));

-- charge.refunded states the charge's total refunded: the part not yet on
-- the order is applied, under "<charge>:refunded:<total>"
SELECT pg_temp.event('evt_5', 'charge.refunded',
    '{"id": "ch_1", "object": "charge", "amount": 2000, "amount_refunded": 500, "currency": "usd", "metadata": {"order_id": "st-1"}, "payment_intent": "pi_1", "refunded": false}') AS e5 \gset
SELECT pg_temp.event('evt_6', 'charge.refunded',
    '{"id": "ch_1", "object": "charge", "amount": 2000, "amount_refunded": 2000, "currency": "usd", "metadata": {"order_id": "st-1"}, "payment_intent": "pi_1", "refunded": true}') AS e6 \gset
SELECT outcome, state, duplicate, channel_txn_id FROM paycons.apply_notification('cha_stripe', :'e5', pg_temp.sig(:'e5', ARRAY['whsec_TEST_ONLY_new_secret']));
SELECT outcome, state, duplicate, channel_txn_id FROM paycons.apply_notification('cha_stripe', :'e6', pg_temp.sig(:'e6', ARRAY['whsec_TEST_ONLY_new_secret']));
-- the first refund's event, delivered late: a duplicate of what it applied
SELECT outcome, state, duplicate FROM paycons.apply_notification('cha_stripe', :'e5', pg_temp.sig(:'e5', ARRAY['whsec_TEST_ONLY_new_secret']));
SELECT state, paid_amount, refunded_amount FROM paycons.orders WHERE order_id = 'st-1';

-- other event types: acknowledged and ignored, nothing written, every time
SELECT pg_temp.event('evt_7', 'customer.created', '{"id": "cus_1", "object": "customer"}') AS e7 \gset
SELECT outcome, state, duplicate, first_seen_at, ack_status, ack_body, order_id, channel_txn_id
  FROM paycons.apply_notification('cha_stripe', :'e7', pg_temp.sig(:'e7', ARRAY['whsec_TEST_ONLY_new_secret']));
SELECT outcome FROM paycons.apply_notification('cha_stripe', :'e7', pg_temp.sig(:'e7', ARRAY['whsec_TEST_ONLY_new_secret']));

-- verified events that cannot be applied are errors, nothing written
CREATE FUNCTION pg_temp.apply(body text) RETURNS text LANGUAGE sql AS $$
SELECT pg_temp.try(format('SELECT paycons.apply_notification(%L, %L, %L)', 'cha_stripe', body,
                          pg_temp.sig(body, ARRAY['whsec_TEST_ONLY_new_secret']))) $$;
SELECT pg_temp.apply(pg_temp.event('evt_8', 'payment_intent.succeeded',
    '{"id": "pi_8", "amount_received": 100, "currency": "usd", "metadata": {}}'));
SELECT pg_temp.apply(pg_temp.event('evt_9', 'payment_intent.succeeded',
    '{"id": "pi_9", "amount_received": 1e3, "currency": "usd", "metadata": {"order_id": "st-4"}}'));
SELECT pg_temp.apply(pg_temp.event('evt_10', 'payment_intent.succeeded',
    '{"id": "pi_10", "amount_received": -100, "currency": "usd", "metadata": {"order_id": "st-4"}}'));
SELECT pg_temp.apply(pg_temp.event('evt_11', 'payment_intent.succeeded',
    '{"id": "pi_11", "amount_received": 100, "currency": "usdx", "metadata": {"order_id": "st-4"}}'));
SELECT pg_temp.apply(pg_temp.event('evt_12', 'payment_intent.succeeded',
    '{"id": "pi_12", "amount_received": 100, "currency": "xyz", "metadata": {"order_id": "st-4"}}'));
SELECT pg_temp.apply(pg_temp.event('evt_13', 'payment_intent.succeeded',
    '{"id": "pi_13", "amount_received": 100, "amount_received": 9999, "currency": "usd", "metadata": {"order_id": "st-4"}}'));
SELECT pg_temp.apply('not json');
SELECT pg_temp.apply(pg_temp.event('evt_15', 'payment_intent.succeeded',
    format('{"id": "%s", "amount_received": 100, "currency": "usd", "metadata": {"order_id": "st-4"}}', repeat('p', 129))));
SELECT pg_temp.apply(pg_temp.event('evt_14', 'payment_intent.succeeded',
    '{"id": "pi_14", "amount_received": 100, "currency": "usd", "metadata": {"order_id": "st\u0001x"}}'));
SELECT channel_txn_id, kind, status, amount, currency, outcome, state
  FROM paycons.callbacks WHERE channel = 'cha_stripe' ORDER BY received_at, channel_txn_id;
SELECT state FROM paycons.orders WHERE order_id = 'st-4';
