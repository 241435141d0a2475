-- test/demo/setup.sql -- the shop of `make demo`, set up by the database owner
--
-- Run by test/demo.sh with psql in a fresh database where CREATE EXTENSION
-- paycons was done.  Variables: alipay_pub (Alipay's public key as the
-- console shows it: bare base64 of the DER), wechat_pub (the WeChat Pay
-- platform public key, PEM), wechat_serial, apiv3_key, alipay_app_id,
-- wechat_mchid, orders.  The keys were made by test/demo.sh with openssl
-- for this run only.

\set ON_ERROR_STOP on
SET client_min_messages = warning;

-- 1. roles: the shop's services, each with what paycons grants it
--    (nothing on the paycons tables)
DROP ROLE IF EXISTS shop_app;
DROP ROLE IF EXISTS shop_consumer;
DROP ROLE IF EXISTS shop_oncall;
CREATE ROLE shop_app LOGIN;          -- checkout and the webhook handler
CREATE ROLE shop_consumer LOGIN;     -- the outbox consumer (asks the channels, refunds)
CREATE ROLE shop_oncall LOGIN;       -- the operator: statements, reviews
SELECT paycons.grant_app_role('shop_app');
SELECT paycons.grant_app_role('shop_consumer');
SELECT paycons.grant_consumer_role('shop_consumer');
SELECT paycons.grant_operator_role('shop_oncall');

-- 2. the two channels and their keys
SELECT paycons.set_channel('alipay', protocol => 'alipay', merchant_id => :'alipay_app_id');
SELECT paycons.set_channel_key('alipay', 'alipay-demo', 'rsa_public', :'alipay_pub');
SELECT paycons.set_channel('wechatpay', protocol => 'wechatpay_v3', merchant_id => :'wechat_mchid');
SELECT paycons.set_channel_key('wechatpay', :'wechat_serial', 'rsa_public', :'wechat_pub');
SELECT paycons.set_channel_key('wechatpay', 'apiv3', 'aes256', :'apiv3_key');
-- WeChat Pay charges 0.6%: reconciliation checks every stated fee
SELECT channel, fee_rate_ppm FROM paycons.set_statement_settings('wechatpay', fee_rate_ppm => 6000);

-- 3. stock: plenty of everything the shop sells
SELECT s.sku, s.on_hand
  FROM unnest(ARRAY['TEA-LONGJING-250G', 'TEA-PUER-357G', 'MUG-CELADON', 'BOWL-BLUEWHITE-4',
                    'NOODLES-GIFT-6', 'DUMPLINGS-1KG', 'MOONCAKE-BOX-8', 'CHILI-SAUCE-2',
                    'SOCKS-WOOL-3', 'SCARF-SILK', 'SLIPPERS-CLOTH', 'POWERBANK-10K',
                    'CABLE-USBC-2M', 'EARBUDS-BT', 'UMBRELLA-AUTO', 'THERMOS-500ML',
                    'NOTEBOOK-A5', 'BRUSH-SET', 'CHOPSTICKS-5P', 'WOK-IRON-32',
                    'RICE-5KG', 'HONEY-500G', 'FAN-FOLDING', 'LANTERN-RED-2']) AS p(sku),
       LATERAL paycons.add_stock(p.sku, :orders + 100) AS s;

-- 4. time, compressed: a day of retries must fit in a minute.  The
--    channels' own schedules are compressed by the simulator; these are
--    the shop's (paycons' defaults are 30 s doubling to 10 min for a
--    payment query, 1 min doubling to 1 h for a refund).
SELECT action, initial_interval, max_interval
  FROM paycons.set_retry_policy('payment.query', '1 second', 2, '4 seconds', 1000, 0.2);
SELECT action, initial_interval, max_interval
  FROM paycons.set_retry_policy('refund', '2 seconds', 2, '8 seconds', 10, 0.2);

-- 5. the shop's own tables: what its services did, kept next to the orders
CREATE SCHEMA shop;
GRANT USAGE ON SCHEMA shop TO shop_app, shop_consumer;

-- every request the webhook handler answered, every answer the shop got
-- from a channel's query or refund API (written in the same statement as
-- the paycons call, so it never disagrees with what committed)
CREATE TABLE shop.payment_log (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    via            text NOT NULL CHECK (via IN ('notification', 'query', 'refund_api')),
    channel        text NOT NULL,
    outcome        text NOT NULL,
    duplicate      boolean,
    ack_status     integer,
    order_id       text,
    channel_txn_id text
);
GRANT INSERT ON shop.payment_log TO shop_app, shop_consumer;
GRANT USAGE ON SEQUENCE shop.payment_log_id_seq TO shop_app, shop_consumer;

-- every outbox event the consumer acknowledged (the consumer's inbox:
-- recorded in the transaction that acknowledges)
CREATE TABLE shop.delivered_events (
    id           bigint PRIMARY KEY,
    event_type   text NOT NULL,
    aggregate_id text NOT NULL,
    attempts     integer NOT NULL,
    acked_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
GRANT INSERT, SELECT ON shop.delivered_events TO shop_consumer;

-- 6. the demo's own schema: the channels' books (written at the end by the
--    simulator) and the report's queries
CREATE SCHEMA demo;
CREATE TABLE demo.channel_ledger (
    channel        text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('payment', 'refund')),
    channel_txn_id text NOT NULL,
    order_id       text NOT NULL,
    amount         bigint NOT NULL,
    currency       text NOT NULL,
    at             timestamptz NOT NULL,
    in_statement   boolean NOT NULL,
    PRIMARY KEY (channel, channel_txn_id)
);
COMMENT ON TABLE demo.channel_ledger IS
    'the channels'' books: every payment and refund the simulated channels made (in_statement: before the day''s cut, so in the statement files)';
