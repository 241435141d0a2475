-- drain_paycons_1tx.sql sent as ONE query string (one round trip per
-- batch, as a client sending "BEGIN; ...; COMMIT" in one go would);
-- run with pgbench -D ids=0
BEGIN \; SELECT paycons.outbox_ack(array_remove('{:ids}'::bigint[], 0), 'bench-' || :client_id) \; SELECT coalesce(string_agg(id::text, ','), '0') AS ids FROM paycons.outbox_claim('bench-' || :client_id, 100) \; COMMIT \aset
