-- the reference: delete a batch of 100 with SKIP LOCKED (no per-aggregate order)
DELETE FROM plain_q WHERE id IN
    (SELECT id FROM plain_q ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED)
RETURNING id, aggregate_id, event_type, payload;
