-- outbox_consume: claim, ack, nack, retry policy, dead letters, redrive,
-- leases, per-aggregate FIFO, rotation, privileges
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS paycons;
RESET client_min_messages;

-- Start from an empty outbox, known ids and partition 0 as the current one
-- (earlier test files may have emitted events and rotated).
TRUNCATE paycons.outbox;
ALTER SEQUENCE paycons.outbox_id_seq RESTART WITH 2001;
SELECT pg_catalog.setval('paycons.outbox_slot_seq', 0, true);
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END;
$$;

-- Two aggregates, three events each, interleaved; one event for later.
SELECT paycons.emit('acct', 'A', 'a.' || g, jsonb_build_object('n', g)) FROM generate_series(1, 3) g;
SELECT paycons.emit('acct', 'B', 'b.' || g, jsonb_build_object('n', g)) FROM generate_series(1, 3) g;
SELECT paycons.emit('acct', 'C', 'c.later', '{}', NULL, now() + interval '1 hour');

-- A claim hands out only the oldest event of each aggregate, in id order,
-- never one that is not yet available.
SELECT id, aggregate_id, event_type, status, attempts, lease_owner,
       lease_expires_at > now() + interval '50 seconds' AS lease_about_60s
  FROM paycons.outbox_claim('c1', 10, '60 seconds');
-- While those are leased, nothing else of A or B is handed out.
SELECT count(*) AS second_claim FROM paycons.outbox_claim('c2', 10);
-- Ack A's first event (consumer defaults to this session's last claimer, c2,
-- so name c1): A's second event becomes due.
SELECT paycons.outbox_ack(ARRAY[2001], 'c1');
SELECT id, event_type FROM paycons.outbox_claim('c2', 10);
-- An acknowledged event is gone and never handed out again.
SELECT count(*) AS acked_still_there FROM paycons.outbox WHERE id = 2001;

-- Bad input to claim: nothing changes.
SELECT pg_temp.try($q$SELECT * FROM paycons.outbox_claim(NULL)$q$);
SELECT pg_temp.try($q$SELECT * FROM paycons.outbox_claim('')$q$);
SELECT pg_temp.try($q$SELECT * FROM paycons.outbox_claim('c1', 0)$q$);
SELECT pg_temp.try($q$SELECT * FROM paycons.outbox_claim('c1', -5)$q$);
SELECT pg_temp.try($q$SELECT * FROM paycons.outbox_claim('c1', 10001)$q$);
SELECT pg_temp.try($q$SELECT * FROM paycons.outbox_claim('c1', NULL)$q$);
SELECT pg_temp.try($q$SELECT * FROM paycons.outbox_claim('c1', 10, '0 seconds')$q$);
SELECT pg_temp.try($q$SELECT * FROM paycons.outbox_claim('c1', 10, '-1 second')$q$);
SELECT pg_temp.try($q$SELECT * FROM paycons.outbox_claim('c1', 10, NULL)$q$);
SELECT pg_temp.try($q$SELECT * FROM paycons.outbox_claim(repeat('c', 65))$q$);

-- Bad input to ack: all or nothing.  2004 is leased by c1, 2002 by c2.
SELECT pg_temp.try($q$SELECT paycons.outbox_ack(ARRAY[2002, 999999], 'c2')$q$);  -- unknown id
SELECT pg_temp.try($q$SELECT paycons.outbox_ack(ARRAY[2002, 2004], 'c2')$q$);    -- 2004 is c1's
SELECT pg_temp.try($q$SELECT paycons.outbox_ack(ARRAY[2002, 2001], 'c2')$q$);    -- 2001 already acked
SELECT pg_temp.try($q$SELECT paycons.outbox_ack(ARRAY[2002, 2003], 'c2')$q$);    -- 2003 not leased
SELECT pg_temp.try($q$SELECT paycons.outbox_ack(ARRAY[2002, NULL], 'c2')$q$);
SELECT pg_temp.try($q$SELECT paycons.outbox_ack(NULL, 'c2')$q$);
SELECT pg_temp.try($q$SELECT paycons.outbox_ack(ARRAY(SELECT generate_series(1, 10001)::bigint), 'c2')$q$);
SELECT id, status, lease_owner FROM paycons.outbox WHERE id IN (2002, 2004) ORDER BY id;
SELECT paycons.outbox_ack('{}');
-- duplicates count once (consumer: this session's last claimer, c2)
SELECT paycons.outbox_ack(ARRAY[2002, 2002]);

-- Without a consumer argument, a session that never claimed cannot ack.
\c
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END;
$$;
SELECT pg_temp.try($q$SELECT paycons.outbox_ack(ARRAY[2004])$q$);
SELECT pg_temp.try($q$SELECT paycons.outbox_nack(2004, 'boom')$q$);

-- nack and the retry policy (paycons.retry_policies, action
-- 'outbox:<event_type>', else 'outbox').  Default 'outbox': 1s initial, x2,
-- max 5 min, 10 attempts, jitter 0.2 (a delay is base * (1 - 0.2 u)).
-- Event type b.1 gets its own: 10s, x3, 1 min, 2 attempts, no jitter.
INSERT INTO paycons.retry_policies (action, initial_interval, backoff_coefficient, max_interval, max_attempts, jitter)
VALUES ('outbox:b.1', '10 seconds', 3, '1 minute', 2, 0);
SELECT id, status, attempts, last_error, available_at = now() + interval '10 s' AS due_in_10s
  FROM paycons.outbox_nack(2004, 'stock service down', NULL, 'c1');
-- A's head is handed out; B's later events stay blocked while B's first
-- waits to be retried.
SELECT id, aggregate_id FROM paycons.outbox_claim('c3', 10);
-- retry_in overrides the backoff; 0 means due now.
SELECT id, status, available_at = now() AS due_now FROM paycons.outbox_nack(2003, 'requeue now', '0', 'c3');
SELECT id, attempts FROM paycons.outbox_claim('c3', 10);
-- attempt 2 under 'outbox': 2s, jitter taking up to 20% off
SELECT attempts, available_at BETWEEN now() + interval '1.59 s' AND now() + interval '2.01 s' AS backoff_2s
  FROM paycons.outbox_nack(2003, 'x', NULL, 'c3');
-- b.1 (2004) made due by hand: attempt 2 of 2, so the nack dead-letters it.
UPDATE paycons.outbox SET available_at = now() WHERE id = 2004;
SELECT id, attempts FROM paycons.outbox_claim('c3', 10);
SELECT id, status, attempts, last_error FROM paycons.outbox_nack(2004, 'still down', NULL, 'c3');
SELECT id, aggregate_id, event_type, attempts, last_consumer, last_error FROM paycons.outbox_dead_letters;
-- A dead event blocks the rest of its aggregate: only A's 2003 comes.
UPDATE paycons.outbox SET available_at = now() WHERE id = 2003;
SELECT id, attempts FROM paycons.outbox_claim('c3', 10);
-- attempt 3 under 'outbox': 4s, up to 20% off
SELECT attempts, available_at BETWEEN now() + interval '3.19 s' AND now() + interval '4.01 s' AS backoff_4s
  FROM paycons.outbox_nack(2003, 'x', NULL, 'c3');
-- The cap: attempt 9 would wait 256s; with max_interval 1 minute it waits 60s, up to 20% off.
UPDATE paycons.retry_policies SET max_interval = '1 minute' WHERE action = 'outbox';
UPDATE paycons.outbox SET status = 'leased', attempts = 9, lease_owner = 'c3',
       lease_expires_at = now() + interval '1 minute' WHERE id = 2003;
SELECT status, available_at BETWEEN now() + interval '47.9 s' AND now() + interval '60.1 s' AS capped_60s
  FROM paycons.outbox_nack(2003, 'x', NULL, 'c3');
UPDATE paycons.retry_policies SET max_interval = '5 minutes' WHERE action = 'outbox';
-- attempt 10 of 10: dead.
UPDATE paycons.outbox SET status = 'leased', attempts = 10, lease_owner = 'c3',
       lease_expires_at = now() + interval '1 minute' WHERE id = 2003;
SELECT status, attempts FROM paycons.outbox_nack(2003, 'gave up', NULL, 'c3');
SELECT id, attempts, last_error FROM paycons.outbox_dead_letters ORDER BY id;

-- Bad input to nack: nothing changes.
SELECT pg_temp.try($q$SELECT paycons.outbox_nack(2001, 'x', NULL, 'c1')$q$);   -- acked
SELECT pg_temp.try($q$SELECT paycons.outbox_nack(999999, 'x', NULL, 'c1')$q$); -- unknown
SELECT pg_temp.try($q$SELECT paycons.outbox_nack(2004, 'x', NULL, 'c3')$q$);   -- dead
SELECT pg_temp.try($q$SELECT paycons.outbox_nack(2005, 'x', NULL, 'c3')$q$);   -- pending
SELECT pg_temp.try($q$SELECT paycons.outbox_nack(NULL, 'x', NULL, 'c3')$q$);
SELECT pg_temp.try($q$SELECT paycons.outbox_nack(2004, NULL, NULL, 'c3')$q$);
SELECT pg_temp.try($q$SELECT paycons.outbox_nack(2004, 'x', '-1 s', 'c3')$q$);

-- redrive: dead -> pending with attempts reset; all or nothing.
SELECT pg_temp.try($q$SELECT paycons.outbox_redrive(ARRAY[2004, 2005])$q$);   -- 2005 is pending
SELECT pg_temp.try($q$SELECT paycons.outbox_redrive(ARRAY[2004, 2001])$q$);   -- 2001 acked
SELECT pg_temp.try($q$SELECT paycons.outbox_redrive(NULL)$q$);
SELECT id, status FROM paycons.outbox WHERE id IN (2003, 2004) ORDER BY id;
SELECT paycons.outbox_redrive(ARRAY[2004, 2003]);
SELECT count(*) AS dead_left FROM paycons.outbox_dead_letters;
SELECT id, attempts FROM paycons.outbox_claim('c4', 10);
SELECT pg_temp.try($q$SELECT paycons.outbox_nack(2003, 'x', NULL, 'c9')$q$);   -- c4's lease
SELECT id, status, lease_owner, attempts FROM paycons.outbox WHERE id = 2003;
SELECT paycons.outbox_ack(ARRAY[2003, 2004]);

-- Leases expire: events leased for 10ms go to the next consumer, and the
-- first one can no longer ack them.
SELECT paycons.emit('acct', 'D', 'd.1', '{}');
SELECT id, aggregate_id FROM paycons.outbox_claim('slow', 10, '10 milliseconds');
SELECT pg_sleep(0.05);
SELECT id, attempts, lease_owner FROM paycons.outbox_claim('fast', 10);
SELECT pg_temp.try($q$SELECT paycons.outbox_ack(ARRAY[2005, 2008], 'slow')$q$);
SELECT paycons.outbox_ack(ARRAY[2005, 2008], 'fast');

-- A consumer that crashes on its last attempt: once that lease expires,
-- the next claim dead-letters the event instead of handing it out.
SELECT paycons.emit('acct', 'E', 'b.1', '{}');     -- policy b.1: 2 attempts
SELECT id, attempts FROM paycons.outbox_claim('crashy', 10, '1 millisecond');
SELECT pg_sleep(0.01);
SELECT id, attempts FROM paycons.outbox_claim('crashy', 10, '1 millisecond');
SELECT pg_sleep(0.01);
SELECT id, attempts FROM paycons.outbox_claim('c5', 10);
SELECT id, last_consumer, last_error FROM paycons.outbox_dead_letters;

-- Rotation: live events stay in the segment they were written to (never
-- copied); a segment holding any is "waiting" and the ring goes on with the
-- empty ones (more in outbox_rotation).
SELECT paycons.outbox_current_slot() AS slot_before;
SELECT slot, count(*) FROM paycons.outbox GROUP BY slot ORDER BY slot;
SELECT paycons.outbox_maintain(force => true);
SELECT paycons.outbox_maintain(force => true);
SELECT slot, count(*) FROM paycons.outbox GROUP BY slot ORDER BY slot;
SELECT paycons.outbox_maintain(force => true);
SELECT slot, id, aggregate_id, status, attempts FROM paycons.outbox ORDER BY id;
-- without force, a rotation within paycons.outbox_rotate_interval is skipped
SET paycons.outbox_rotate_interval = '1h';
SELECT paycons.outbox_maintain();
RESET paycons.outbox_rotate_interval;
-- new events go into the current partition; claims and acks see them all
SELECT paycons.emit('acct', 'F', 'f.1', '{}');
SELECT slot FROM paycons.outbox WHERE id = 2010;
SELECT id, attempts FROM paycons.outbox_claim('c5', 10);
SELECT paycons.outbox_ack(ARRAY[2006, 2010]);

-- Privileges: an application role gets EXECUTE on the API and nothing on
-- the tables.
SET client_min_messages = warning;
DROP ROLE IF EXISTS ob_app;
RESET client_min_messages;
CREATE ROLE ob_app;
SELECT paycons.grant_app_role('ob_app');
SELECT paycons.grant_consumer_role('ob_app');
SET ROLE ob_app;
SELECT paycons.emit('app', 'G', 'g.1', '{}') > 0 AS emitted;
SELECT id, aggregate_id FROM paycons.outbox_claim('app-1', 10);
SELECT paycons.outbox_ack(ARRAY[2011]);
SELECT pg_temp.try($q$SELECT count(*) FROM paycons.outbox$q$);
SELECT pg_temp.try($q$SELECT paycons.outbox_redrive(ARRAY[1])$q$);
SELECT pg_temp.try($q$SELECT paycons.outbox_maintain()$q$);
RESET ROLE;
REVOKE ALL ON SCHEMA paycons FROM ob_app;
DROP OWNED BY ob_app;
DROP ROLE ob_app;

-- leave no policy behind for later test files
DELETE FROM paycons.retry_policies WHERE action LIKE 'outbox:%';
