-- outbox_cdc: with paycons.outbox_cdc = on, every event is also written to
-- the WAL as a transactional logical decoding message (prefix "paycons"),
-- read back here through a logical slot with test_decoding.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS paycons;
RESET client_min_messages;

TRUNCATE paycons.outbox;
ALTER SEQUENCE paycons.outbox_id_seq RESTART WITH 3001;
SELECT 'init' FROM pg_create_logical_replication_slot('paycons_cdc_test', 'test_decoding');

-- off (the default): no message (SHOWn after the first call: without
-- shared_preload_libraries, paycons.* settings exist once the library is
-- loaded)
SELECT paycons.emit('cdc', 'k-0', 'cdc.quiet', '{}');
SHOW paycons.outbox_cdc;

SET paycons.outbox_cdc = on;
-- emit() and the trigger path (an order's state change) both emit
BEGIN;
SELECT paycons.emit('cdc', 'k-1', 'cdc.hello', '{"n": 1, "s": "a \"quoted\" text"}', '{"trace": "t1"}');
SELECT (paycons.create_order('ob-cdc-1', 700, 'USD', '30 minutes', '{"k": "v"}')).state;
COMMIT;
-- a rolled-back transaction's message is never decoded
BEGIN;
SELECT paycons.emit('cdc', 'k-2', 'cdc.rolled_back', '{}');
ROLLBACK;

-- (timestamps and the size, which varies with them, are masked)
SELECT regexp_replace(regexp_replace(data, '"(created_at|updated_at|pay_deadline|state_changed_at)": "[^"]*"', '"\1": "..."', 'g'),
                      'sz: [0-9]+', 'sz: N') AS message
  FROM pg_logical_slot_get_changes('paycons_cdc_test', NULL, NULL, 'include-xids', '0')
 WHERE data LIKE 'message:%';
-- the message body is a JSON document with the outbox columns
SELECT paycons.emit('cdc', 'k-3', 'cdc.json', '{"a": [1, 2]}');
SELECT (substring(data FROM 'content:(.*)$')::jsonb) AS body
  FROM pg_logical_slot_get_changes('paycons_cdc_test', NULL, NULL, 'include-xids', '0')
 WHERE data LIKE 'message:%';

-- only a superuser may switch it (it is a contract with the pipeline)
CREATE ROLE ob_cdc_user;
SET ROLE ob_cdc_user;
SET paycons.outbox_cdc = off;
RESET ROLE;
DROP ROLE ob_cdc_user;
RESET paycons.outbox_cdc;

SELECT pg_drop_replication_slot('paycons_cdc_test');
