-- one consumer turn: claim a batch of 100 (own transaction), ack it (own transaction)
SELECT coalesce(string_agg(id::text, ','), '') AS ids FROM paycons.outbox_claim('bench-' || :client_id, 100) \gset
SELECT paycons.outbox_ack('{:ids}'::bigint[], 'bench-' || :client_id);
