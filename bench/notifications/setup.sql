-- bench/notifications/setup.sql -- channels, pre-generated notifications
-- and paying orders for bench/notifications/run.sh (psql -v n=N).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS paycons CASCADE;
DROP SCHEMA IF EXISTS bn CASCADE;
CREATE EXTENSION paycons;
CREATE SCHEMA bn;

-- the channels: test-only keys (test/fixtures/channels/keys)
SELECT paycons.set_channel('bn_alipay', protocol => 'alipay');
\set pub `cat test/fixtures/channels/keys/alipay_test_public.b64`
SELECT paycons.set_channel_key('bn_alipay', 'k', 'rsa_public', :'pub');
SELECT paycons.set_channel('bn_wechat', protocol => 'wechatpay_v3', tolerance => '1 hour');
\set pub `cat test/fixtures/channels/keys/wechat_platform_a_test_public.pem`
SELECT paycons.set_channel_key('bn_wechat', 'PUB_KEY_ID_0000000000000000000000TESTA', 'rsa_public', :'pub');
SELECT paycons.set_channel_key('bn_wechat', 'apiv3', 'aes256', 'paycons-TEST-ONLY-apiv3-key-0001');
-- the reference: apply_callback with the facts already parsed (no signature)
SELECT paycons.set_channel('bn_cb', ack => 'success');
-- and apply_callback with apply_callback's own HMAC check
SELECT paycons.set_channel('bn_cbh', secret => 'bench-secret', require_signature => true, signature_format => 'hex');

-- the inputs, one row per transaction, read by primary key in every variant
CREATE TABLE bn.alipay (n int PRIMARY KEY, body text, headers jsonb);
CREATE TABLE bn.wechat (n int PRIMARY KEY, body text, headers jsonb);
-- (filled by run.sh with \copy from gen.py's files)
CREATE TABLE bn.facts (n int PRIMARY KEY, txn text, order_id text, sig text, body text);
INSERT INTO bn.facts
SELECT i, '2024052022' || lpad(i::text, 12, '0'), 'bn-cb-' || i,
       encode(paycons.hmac_sha256('bench-secret', convert_to('bn-cbh-' || i, 'UTF8')), 'hex'), 'bn-cbh-' || i
  FROM generate_series(1, :n) i;
CREATE SEQUENCE bn.seq;

-- paying orders for every variant
SELECT count(*) FROM (
    SELECT paycons.begin_payment(o.order_id, 'bn')
      FROM generate_series(1, :n) i,
           unnest(ARRAY['bn-ali-', 'bn-wx-', 'bn-cb-', 'bn-cbh-']) AS p,
           LATERAL paycons.create_order(p || i, 1230, 'CNY') o) s;
ANALYZE;
