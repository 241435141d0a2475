--
-- The order API: create_order (idempotency, conflicts, bad input),
-- begin_payment, transition, history, and the guard against raw SQL.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS paycons;
RESET client_min_messages;

-- create, then the same again: one row, one history row
SELECT order_id, state, amount, currency, paid_amount, refunded_amount, metadata,
       pay_deadline - created_at AS pay_within
  FROM paycons.create_order('api-1', 1999, 'CNY', '15 minutes', '{"sku": "A1"}');
SELECT order_id, state, amount, currency
  FROM paycons.create_order('api-1', 1999, 'CNY', '15 minutes', '{"sku": "A1"}');
SELECT count(*) AS rows FROM paycons.orders WHERE order_id = 'api-1';
SELECT count(*) AS history FROM paycons.order_history WHERE order_id = 'api-1';

-- same id, different facts: refused, nothing changed
SELECT paycons.create_order('api-1', 2000, 'CNY', '15 minutes', '{"sku": "A1"}');
SELECT paycons.create_order('api-1', 1999, 'USD', '15 minutes', '{"sku": "A1"}');
SELECT paycons.create_order('api-1', 1999, 'CNY', '15 minutes', '{"sku": "B2"}');
SELECT amount, currency, metadata FROM paycons.orders WHERE order_id = 'api-1';

-- defaults: 30 minutes to pay, empty metadata
SELECT pay_deadline - created_at AS pay_within, metadata
  FROM paycons.create_order('api-2', 1, 'USD');

-- bad input: each refused with its SQLSTATE, nothing written
\set VERBOSITY sqlstate
SELECT paycons.create_order(NULL, 100, 'USD');
SELECT paycons.create_order('api-bad', NULL, 'USD');
SELECT paycons.create_order('api-bad', 100, NULL);
SELECT paycons.create_order('api-bad', 100, 'USD', NULL);
SELECT paycons.create_order('api-bad', 0, 'USD');
SELECT paycons.create_order('api-bad', -5, 'USD');
SELECT paycons.create_order('api-bad', 100, 'usd');
SELECT paycons.create_order('api-bad', 100, 'US');
SELECT paycons.create_order('api-bad', 100, '');
SELECT paycons.create_order('api-bad', 100, 'USDX');
SELECT paycons.create_order('api-bad', 100, 'U$D');
SELECT paycons.create_order('', 100, 'USD');
SELECT paycons.create_order(repeat('x', 65), 100, 'USD');
SELECT paycons.create_order(E'api\tbad', 100, 'USD');
SELECT paycons.create_order('api-bad', 100, 'USD', '0 seconds');
SELECT paycons.create_order('api-bad', 100, 'USD', '-1 minute');
SELECT paycons.create_order('api-bad', 100, 'USD', '30 minutes', '[1, 2]');
SELECT paycons.create_order('api-bad', 100, 'USD', '30 minutes', '"text"');
SELECT paycons.create_order('api-bad', 100, 'USD', '30 minutes',
                            jsonb_build_object('blob', repeat('x', 70000)));
\set VERBOSITY default
-- the messages name the value
SELECT paycons.create_order('api-bad', 100, 'usd');
SELECT paycons.create_order('api-bad', -5, 'USD');
SELECT paycons.create_order(repeat('y', 65), 100, 'USD');
-- 64 bytes is the limit, counted in bytes (a 3-byte character counts 3)
SELECT octet_length(order_id) FROM paycons.create_order(repeat('z', 64), 100, 'USD');
SELECT paycons.create_order(repeat('é', 33), 100, 'USD');
SELECT count(*) AS nothing_written FROM paycons.orders
 WHERE order_id LIKE 'api-bad%' OR order_id LIKE 'y%' OR order_id LIKE 'é%';
SELECT count(*) AS no_history FROM paycons.order_history
 WHERE order_id LIKE 'api-bad%' OR order_id LIKE 'y%' OR order_id LIKE 'é%';

-- begin_payment: created -> paying, then again is a no-op returning the row
SELECT order_id, state, channel FROM paycons.begin_payment('api-1', 'alipay');
SELECT order_id, state, channel FROM paycons.begin_payment('api-1', 'alipay');
SELECT paycons.begin_payment('no-such-order', 'alipay');
SELECT paycons.begin_payment('api-1', NULL);
SELECT paycons.begin_payment('api-1', '');

-- transition: legal edges, with a reason
SELECT order_id, state FROM paycons.transition('api-1', 'paid', 'callback 42');
SELECT order_id, state FROM paycons.transition('api-1', 'fulfilling');
-- illegal edge: message names both states, hint lists the legal targets
SELECT paycons.transition('api-1', 'paying');
-- the state it is already in is no edge
SELECT paycons.transition('api-1', 'fulfilling');
SELECT paycons.transition('no-such-order', 'paid');
SELECT paycons.transition('api-1', NULL);
SELECT paycons.transition('api-1', 'Shipped');
-- begin_payment on an order past paying is an illegal edge too
SELECT paycons.begin_payment('api-1', 'wechat');
SELECT state, channel FROM paycons.orders WHERE order_id = 'api-1';

-- history: one row per change, in order, with reason and actor
SELECT from_state, to_state, reason, actor, table_name,
       txid IS NOT NULL AS has_txid, at IS NOT NULL AS has_at
  FROM paycons.order_history WHERE order_id = 'api-1' ORDER BY id;
-- state_changed_at follows the last change
SELECT state_changed_at = (SELECT max(at) FROM paycons.order_history WHERE order_id = 'api-1') AS stamped
  FROM paycons.orders WHERE order_id = 'api-1';

-- raw SQL by a superuser cannot take an illegal edge either
UPDATE paycons.orders SET state = 'created' WHERE order_id = 'api-1';
UPDATE paycons.orders SET state = 'refunded' WHERE order_id = 'api-1';
-- nor insert an order that did not start in created
INSERT INTO paycons.orders (order_id, state, amount, currency, pay_deadline)
VALUES ('api-raw', 'paid', 100, 'USD', now());
-- nor set the state to NULL
UPDATE paycons.orders SET state = NULL WHERE order_id = 'api-1';
-- a legal raw change is allowed and recorded, with the paycons.reason setting
BEGIN;
SET LOCAL paycons.reason = 'ticket 7: parcel handed over';
UPDATE paycons.orders SET state = 'shipped' WHERE order_id = 'api-1';
COMMIT;
-- an update that leaves the state alone writes no history
UPDATE paycons.orders SET metadata = '{"note": "gift"}' WHERE order_id = 'api-1';
SELECT from_state, to_state, reason FROM paycons.order_history
 WHERE order_id = 'api-1' ORDER BY id DESC LIMIT 1;
SELECT count(*) AS history FROM paycons.order_history WHERE order_id = 'api-1';

-- a rolled-back change leaves no history
BEGIN;
SELECT state FROM paycons.transition('api-1', 'completed');
ROLLBACK;
SELECT state, (SELECT count(*) FROM paycons.order_history WHERE order_id = 'api-1') AS history
  FROM paycons.orders WHERE order_id = 'api-1';

-- an application role: EXECUTE on the API, nothing on the tables; history
-- records the caller, not the function owner
CREATE ROLE regress_paycons_app;
SELECT paycons.grant_app_role('regress_paycons_app');
SET ROLE regress_paycons_app;
SELECT order_id, state FROM paycons.create_order('api-app', 500, 'EUR');
SELECT order_id, state FROM paycons.begin_payment('api-app', 'stripe');
SELECT * FROM paycons.orders WHERE order_id = 'api-app';
SELECT * FROM paycons.order_history;
UPDATE paycons.orders SET state = 'paid' WHERE order_id = 'api-app';
RESET ROLE;
SELECT from_state, to_state, actor FROM paycons.order_history
 WHERE order_id = 'api-app' ORDER BY id;
-- a role that was not granted the API cannot call it
CREATE ROLE regress_paycons_other;
SET ROLE regress_paycons_other;
SELECT paycons.create_order('api-other', 500, 'EUR');
RESET ROLE;
DROP OWNED BY regress_paycons_app, regress_paycons_other;
DROP ROLE regress_paycons_app, regress_paycons_other;
