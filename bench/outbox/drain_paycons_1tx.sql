-- one consumer turn in ONE transaction: acknowledge the previous batch and
-- claim the next (the acknowledgement and the new leases commit together);
-- run with pgbench -D ids=0 (nothing to acknowledge on the first turn)
BEGIN;
SELECT paycons.outbox_ack(array_remove('{:ids}'::bigint[], 0), 'bench-' || :client_id);
SELECT coalesce(string_agg(id::text, ','), '0') AS ids FROM paycons.outbox_claim('bench-' || :client_id, 100) \gset
COMMIT;
