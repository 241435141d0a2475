-- bench/worker/reset_stuck.sql: put the 1000 stuck orders back to paying
-- past their deadline, and forget what the last pass wrote.
ALTER TABLE paycons.orders DISABLE TRIGGER USER;
UPDATE paycons.orders SET state = 'paying', pay_deadline = now() - interval '1 hour'
 WHERE order_id LIKE 'stuck-%';
ALTER TABLE paycons.orders ENABLE TRIGGER USER;
DELETE FROM paycons.order_probes;
DELETE FROM paycons.outbox;
DELETE FROM paycons.order_history WHERE order_id LIKE 'stuck-%';
DELETE FROM paycons.compensations WHERE order_id LIKE 'stuck-%';
VACUUM ANALYZE paycons.orders, paycons.order_probes, paycons.outbox, paycons.order_history;
