-- The restore rule (src/restore.c): the extension owner's
-- COPY paycons.<table> FROM STDIN -- what pg_restore and a pg_dump script
-- send -- brings stored rows back as they are, with no trigger adding
-- history, events or compensations.  Every other write is checked as usual.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS paycons;
RESET client_min_messages;

-- outside a COPY nothing is a restore
SELECT paycons.restoring('paycons.orders') AS restoring_now;

-- 1. the owner's COPY: orders in any state, stored as they were
COPY paycons.orders (order_id, state, amount, currency, paid_amount, refunded_amount,
                     channel, channel_txn_id, pay_deadline, created_at, updated_at,
                     state_changed_at, metadata) FROM stdin;
rst-paid	paid	1000	CNY	1000	0	alipay	rst-t1	2025-01-01 10:30:00+00	2025-01-01 10:00:00+00	2025-01-01 10:05:00+00	2025-01-01 10:05:00+00	{}
rst-refunded	refunded	500	USD	500	500	stripe	rst-t2	2025-01-02 10:30:00+00	2025-01-02 10:00:00+00	2025-01-03 09:00:00+00	2025-01-03 09:00:00+00	{"k": 1}
rst-review	needs_review	700	EUR	650	0	adyen	rst-t3	2025-01-04 10:30:00+00	2025-01-04 10:00:00+00	2025-01-04 10:01:00+00	2025-01-04 10:01:00+00	{}
\.
SELECT order_id, state, paid_amount, refunded_amount, state_changed_at, updated_at
  FROM paycons.orders WHERE order_id LIKE 'rst-%' ORDER BY order_id;
-- no history row, no outbox event was written for them
SELECT count(*) AS history_rows FROM paycons.order_history WHERE order_id LIKE 'rst-%';
SELECT count(*) AS events FROM paycons.outbox WHERE aggregate_id LIKE 'rst-%';

-- 2. the guard still refuses every ordinary write, the owner's included
INSERT INTO paycons.orders (order_id, state, amount, currency, pay_deadline)
VALUES ('rst-insert', 'paid', 100, 'CNY', now());
UPDATE paycons.orders SET state = 'created' WHERE order_id = 'rst-paid';
UPDATE paycons.orders SET state = 'completed' WHERE order_id = 'rst-refunded';

-- 3. an unqualified COPY is not what pg_dump writes: checked as usual
SET search_path = paycons, public;
COPY orders (order_id, state, amount, currency, pay_deadline) FROM stdin;
rst-unqualified	paid	100	CNY	2025-01-01 10:30:00+00
\.
RESET search_path;

-- 4. COPY by a role that may insert but is not the owner: checked as usual
CREATE ROLE regress_rst_loader;
GRANT INSERT ON paycons.orders TO regress_rst_loader;
SET ROLE regress_rst_loader;
COPY paycons.orders (order_id, state, amount, currency, pay_deadline) FROM stdin;
rst-loader	paid	100	CNY	2025-01-01 10:30:00+00
\.
COPY paycons.orders (order_id, state, amount, currency, pay_deadline) FROM stdin;
rst-loader	created	100	CNY	2025-01-01 10:30:00+00
\.
RESET ROLE;
-- (its legal row was written as any INSERT: with history and an event)
SELECT order_id, from_state, to_state FROM paycons.order_history WHERE order_id = 'rst-loader';
SELECT event_type FROM paycons.outbox WHERE aggregate_id = 'rst-loader';
REVOKE INSERT ON paycons.orders FROM regress_rst_loader;
DROP ROLE regress_rst_loader;

-- 5. a write that a trigger makes during a COPY into another table is an
--    ordinary write, even when the owner runs the COPY
CREATE TABLE rst_import (order_id text, state text);
CREATE FUNCTION rst_import_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO paycons.orders (order_id, state, amount, currency, pay_deadline)
    VALUES (NEW.order_id, NEW.state::paycons.order_state, 100, 'CNY', now());
    RETURN NEW;
END;
$$;
CREATE TRIGGER rst_import_forward AFTER INSERT ON rst_import
    FOR EACH ROW EXECUTE FUNCTION rst_import_forward();
COPY rst_import FROM stdin;
rst-nested	paid
\.
COPY rst_import FROM stdin;
rst-nested	created
\.
SELECT order_id, from_state, to_state FROM paycons.order_history WHERE order_id = 'rst-nested';

-- 6. a user's own tables: their guard and outbox triggers always work
CREATE TABLE rst_shop_orders (id text PRIMARY KEY, state paycons.order_state NOT NULL DEFAULT 'created');
CREATE TRIGGER rst_guard AFTER INSERT OR UPDATE ON rst_shop_orders
    FOR EACH ROW EXECUTE FUNCTION paycons.order_guard('state', 'id');
CREATE TRIGGER rst_events AFTER INSERT ON rst_shop_orders
    FOR EACH ROW EXECUTE FUNCTION paycons.outbox_trigger('rst_shop', 'id');
COPY rst_shop_orders FROM stdin;
rst-shop-1	paid
\.
COPY rst_shop_orders FROM stdin;
rst-shop-2	created
\.
SELECT order_id, table_name, to_state FROM paycons.order_history WHERE order_id LIKE 'rst-shop-%';
SELECT aggregate_type, aggregate_id, event_type FROM paycons.outbox WHERE aggregate_id LIKE 'rst-shop-%';

-- 7. a restored inbox row does not complete a refund again
SELECT state FROM paycons.create_order('rst-refund', 300, 'CNY');
SELECT paycons.enqueue_compensation('rst-refund', 'refund:rst-pay', NULL,
                                    '{"amount": 300}') IS NOT NULL AS enqueued;
COPY paycons.callbacks (channel, channel_txn_id, order_id, kind, status, amount, currency,
                        outcome, state, received_at, applied_at, source) FROM stdin;
rst-ch	rst-rf1	rst-refund	refund	success	300	CNY	applied	refunded	2025-01-05 10:00:00+00	2025-01-05 10:00:00+00	callback
\.
SELECT action, state, attempts FROM paycons.compensations WHERE order_id = 'rst-refund';
-- (the same row written by an INSERT completes it, as apply_callback's does)
INSERT INTO paycons.callbacks (channel, channel_txn_id, order_id, kind, status, amount, currency,
                               outcome, state, applied_at)
VALUES ('rst-ch', 'rst-rf2', 'rst-refund', 'refund', 'success', 300, 'CNY', 'applied', 'refunded', now());
SELECT action, state, detail FROM paycons.compensations WHERE order_id = 'rst-refund';

-- 8. rows that CREATE EXTENSION writes itself are replaced by restored ones
COPY paycons.retry_policies (action, initial_interval, backoff_coefficient, max_interval,
                             max_attempts, jitter, non_retryable) FROM stdin;
refund	00:02:00	3	02:00:00	7	0.1	{57014}
rst-policy	00:00:05	2	00:01:00	3	0	{}
\.
SELECT action, initial_interval, backoff_coefficient, max_interval, max_attempts, jitter, non_retryable
  FROM paycons.retry_policies WHERE action IN ('refund', 'rst-policy') ORDER BY action;
-- ... but only in a restore: an ordinary INSERT still collides
INSERT INTO paycons.retry_policies (action) VALUES ('refund');
CREATE TEMP TABLE rst_rotation AS SELECT * FROM paycons.outbox_rotation;
COPY paycons.outbox_rotation (singleton, rotated_at, rotations) FROM stdin;
t	2025-01-06 10:00:00+00	42
\.
SELECT singleton, rotated_at, rotations FROM paycons.outbox_rotation;

-- clean up for the tests that follow
SELECT paycons.set_retry_policy('refund', '1 minute', 2.0, '1 hour', 10, 0.2, '{}') IS NOT NULL AS reset;
DELETE FROM paycons.retry_policies WHERE action = 'rst-policy';
UPDATE paycons.outbox_rotation r SET rotated_at = o.rotated_at, rotations = o.rotations
  FROM rst_rotation o;
DELETE FROM paycons.callbacks WHERE channel = 'rst-ch';
DELETE FROM paycons.compensations WHERE order_id LIKE 'rst-%';
DELETE FROM paycons.outbox WHERE aggregate_id LIKE 'rst-%';
DELETE FROM paycons.order_history WHERE order_id LIKE 'rst-%';
DELETE FROM paycons.orders WHERE order_id LIKE 'rst-%';
DROP TABLE rst_import, rst_shop_orders;
DROP FUNCTION rst_import_forward();
