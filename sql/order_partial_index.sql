--
-- Partial indexes on the state: the planner chooses them, so sweeps of
-- stuck orders cost what the stuck orders cost, not the table size.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS paycons;
RESET client_min_messages;
SET search_path = public, paycons;

-- 2,000 created orders and 5 paying ones
SELECT count(paycons.create_order('pix-' || g, 100, 'USD'))
  FROM generate_series(1, 2000) g;
SELECT count(paycons.begin_payment('pix-' || g, 'alipay'))
  FROM generate_series(1, 5) g;
ANALYZE paycons.orders;

EXPLAIN (COSTS OFF)
SELECT order_id FROM paycons.orders
 WHERE state = 'paying' AND pay_deadline < now() + interval '1 hour';
SELECT count(*) AS paying_found FROM paycons.orders
 WHERE state = 'paying' AND pay_deadline < now() + interval '1 hour'
   AND order_id LIKE 'pix-%';

-- the same works on a user's table with an order_state column
CREATE TABLE pix_user (id int PRIMARY KEY, s paycons.order_state NOT NULL);
INSERT INTO pix_user SELECT g, CASE WHEN g % 500 = 0 THEN 'paying' ELSE 'created' END::paycons.order_state
  FROM generate_series(1, 5000) g;
CREATE INDEX pix_user_paying ON pix_user (id) WHERE s = 'paying';
ANALYZE pix_user;
EXPLAIN (COSTS OFF) SELECT id FROM pix_user WHERE s = 'paying';
SELECT count(*) FROM pix_user WHERE s = 'paying';
DROP TABLE pix_user;

-- leave the shared regression database as we found it
DELETE FROM paycons.orders WHERE order_id LIKE 'pix-%';
DELETE FROM paycons.order_history WHERE order_id LIKE 'pix-%';
