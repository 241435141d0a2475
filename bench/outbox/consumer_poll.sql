-- a polling consumer turn, as held_snapshot.sh runs it: acknowledge the
-- last batch and claim the next in one transaction; when nothing was due,
-- wait 10 ms before asking again (a real consumer waits for NOTIFY)
BEGIN;
SELECT paycons.outbox_ack(array_remove('{:ids}'::bigint[], 0), 'poll-' || :client_id);
SELECT coalesce(string_agg(id::text, ','), '0') AS ids, count(*) AS got
  FROM paycons.outbox_claim('poll-' || :client_id, 100) \gset
COMMIT;
\if :got = 0
\sleep 10 ms
\endif
