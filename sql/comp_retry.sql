-- Compensations: retry policies, the backoff schedule, retries by
-- run_maintenance(), dead letters and non-retryable errors.
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS paycons; RESET client_min_messages;

CREATE FUNCTION cr_try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END;
$$;

-- the policy of an action: its own row, else its prefix before ':', else '*'
SELECT action, initial_interval, backoff_coefficient, max_interval, max_attempts, jitter, non_retryable
  FROM paycons.set_retry_policy('cr-flaky', '1 second', 2.0, '10 seconds', 5, 0.25, '{}');
SELECT action, max_attempts, non_retryable
  FROM paycons.set_retry_policy('cr-strict', '1 second', 3.0, '1 minute', 3, 0, '{22012,23}');

-- The schedule: attempt n waits min(1s * 2^(n-1), 10s), minus up to 25%
-- jitter.  Sample 0 gives the upper bound, sample 1 the lower bound.
SELECT n AS attempt,
       paycons.retry_delay('cr-flaky', n, 1) AS lower_bound,
       paycons.retry_delay('cr-flaky', n, 0) AS upper_bound,
       paycons.retry_delay('cr-flaky', n, 0.5) AS middle
  FROM generate_series(1, 6) AS n;
-- random draws stay inside the bounds
SELECT bool_and(d BETWEEN paycons.retry_delay('cr-flaky', n, 1) AND paycons.retry_delay('cr-flaky', n, 0)) AS within_bounds
  FROM (SELECT n, paycons.retry_delay('cr-flaky', n) AS d
          FROM generate_series(1, 6) AS n, generate_series(1, 50)) s;
-- prefix and default lookup: 'refund:TXN' uses 'refund', an unknown action '*'
SELECT paycons.retry_delay('refund:cr-txn', 1, 0) AS refund_first,
       paycons.retry_delay('cr-unknown-action', 1, 0) AS default_first,
       paycons.retry_delay('cr-strict', 3, 0) AS strict_third;
SELECT cr_try($$SELECT paycons.retry_delay('cr-flaky', 0)$$);
SELECT cr_try($$SELECT paycons.retry_delay('cr-flaky', 1, 1.5)$$);
SELECT cr_try($$SELECT paycons.retry_delay(NULL, 1)$$);

-- bad policies: PC308 (or 22004 for NULLs), nothing written
SELECT cr_try($$SELECT paycons.set_retry_policy('cr-bad', '1 second', 0.5, '1 minute', 3)$$);
SELECT cr_try($$SELECT paycons.set_retry_policy('cr-bad', '1 minute', 2, '1 second', 3)$$);
SELECT cr_try($$SELECT paycons.set_retry_policy('cr-bad', '0 seconds', 2, '1 second', 3)$$);
SELECT cr_try($$SELECT paycons.set_retry_policy('cr-bad', '-1 seconds', 2, '1 second', 3)$$);
SELECT cr_try($$SELECT paycons.set_retry_policy('cr-bad', '1 second', 2, '1 minute', 0)$$);
SELECT cr_try($$SELECT paycons.set_retry_policy('cr-bad', '1 second', 2, '1 minute', 3, 1.5)$$);
SELECT cr_try($$SELECT paycons.set_retry_policy('cr-bad', '1 second', 2, '1 minute', 3, -0.1)$$);
SELECT cr_try($$SELECT paycons.set_retry_policy('cr-bad', '1 second', 'NaN', '1 minute', 3)$$);
SELECT cr_try($$SELECT paycons.set_retry_policy('cr-bad', '1 second', 2, '1 minute', 3, 0.2, '{2201}')$$);
SELECT cr_try($$SELECT paycons.set_retry_policy('cr-bad', '1 second', 2, '1 minute', 3, 0.2, '{null}')$$);
SELECT cr_try($$SELECT paycons.set_retry_policy('cr-bad', NULL, 2, '1 minute', 3)$$);
SELECT cr_try($$SELECT paycons.set_retry_policy('cr-bad', '1 second', NULL, '1 minute', 3)$$);
SELECT cr_try($$SELECT paycons.set_retry_policy(NULL, '1 second', 2, '1 minute', 3)$$);
SELECT cr_try($$INSERT INTO paycons.retry_policies (action, backoff_coefficient) VALUES ('cr-bad', 0.9)$$);
SELECT count(*) AS bad_policies FROM paycons.retry_policies WHERE action = 'cr-bad';

-- Handlers.  A sequence counts calls: it survives the rollback of a
-- failed attempt's subtransaction.
CREATE SEQUENCE cr_calls;
CREATE TABLE cr_effects (order_id text, note text);
CREATE FUNCTION cr_flaky(order_id text, args jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cr_effects VALUES (order_id, 'attempt ' || nextval('cr_calls'));
    IF currval('cr_calls') <= (args->>'fail')::int THEN
        RAISE EXCEPTION 'refund API unreachable (call %)', currval('cr_calls')
            USING ERRCODE = '08006';
    END IF;
END;
$$;
CREATE FUNCTION cr_divide(order_id text, args jsonb) RETURNS int LANGUAGE sql AS $$
    SELECT 1 / (args->>'by')::int
$$;

-- "Make due" stands in for the passing of time between passes.
CREATE FUNCTION cr_pass() RETURNS text LANGUAGE sql AS $$
    UPDATE paycons.compensations SET next_attempt_at = now() - interval '1 millisecond'
     WHERE order_id LIKE 'cr-%' AND state = 'pending';
    SELECT CASE WHEN (paycons.run_maintenance() ->> 'ran')::bool THEN 'pass' ELSE 'skipped' END;
$$;
CREATE VIEW cr_steps AS
    SELECT order_id, action, state, attempts, last_sqlstate, last_error,
           round(extract(epoch FROM next_attempt_at - last_attempt_at)::numeric, 3) AS delay
      FROM paycons.compensations WHERE order_id LIKE 'cr-%' ORDER BY order_id, action;

-- fails 3 times, then succeeds: done after 4 attempts, each delay within the policy's bounds
SELECT order_id FROM paycons.create_order('cr-1', 100, 'USD');
SELECT paycons.enqueue_compensation('cr-1', 'cr-flaky', 'cr_flaky(text,jsonb)', '{"fail": 3}') > 0;
SELECT cr_pass();
SELECT order_id, state, attempts, last_sqlstate, last_error,
       delay BETWEEN 0.75 AND 1.0 AS delay_within_bounds FROM cr_steps;
SELECT cr_pass();
SELECT order_id, state, attempts, delay BETWEEN 1.5 AND 2.0 AS delay_within_bounds FROM cr_steps;
SELECT cr_pass();
SELECT order_id, state, attempts, delay BETWEEN 3.0 AND 4.0 AS delay_within_bounds FROM cr_steps;
SELECT cr_pass();
SELECT order_id, state, attempts, last_sqlstate, done_at IS NOT NULL AS done_at_set
  FROM paycons.compensations WHERE order_id = 'cr-1';
-- only the successful attempt's work is kept
SELECT * FROM cr_effects ORDER BY note;
SELECT cr_pass();
SELECT order_id, state, attempts FROM cr_steps;

-- always fails: dead after max_attempts (5), and a compensation.dead event
SELECT order_id FROM paycons.create_order('cr-2', 100, 'USD');
SELECT paycons.enqueue_compensation('cr-2', 'cr-flaky', 'cr_flaky(text,jsonb)', '{"fail": 1000000}') > 0;
SELECT cr_pass() FROM generate_series(1, 4);
SELECT order_id, state, attempts, last_sqlstate FROM cr_steps WHERE order_id = 'cr-2';
SELECT cr_pass();
SELECT order_id, state, attempts, last_sqlstate,
       regexp_replace(last_error, '\d+', 'N') AS last_error
  FROM cr_steps WHERE order_id = 'cr-2';
SELECT event_type, payload->>'action' AS action, payload->>'attempts' AS attempts,
       payload->>'last_sqlstate' AS last_sqlstate, payload->>'handler' AS handler
  FROM paycons.outbox WHERE aggregate_id = 'cr-2' AND event_type = 'compensation.dead';
-- dead stays dead
SELECT cr_pass();
SELECT state, attempts FROM cr_steps WHERE order_id = 'cr-2';
-- until an operator retries it: a fresh set of attempts
SELECT state, attempts FROM paycons.retry_compensation(
    (SELECT id FROM paycons.compensations WHERE order_id = 'cr-2'));
SELECT cr_pass();
SELECT state, attempts FROM cr_steps WHERE order_id = 'cr-2';

-- non-retryable: 22012 is listed for cr-strict, straight to dead at attempt 1
SELECT order_id FROM paycons.create_order('cr-3', 100, 'USD');
SELECT paycons.enqueue_compensation('cr-3', 'cr-strict', 'cr_divide(text,jsonb)', '{"by": 0}') > 0;
SELECT cr_pass();
SELECT order_id, state, attempts, last_sqlstate, last_error FROM cr_steps WHERE order_id = 'cr-3';
-- a class: 23 covers 23502 (not null violation)
CREATE TABLE cr_strict_target (v int NOT NULL);
CREATE FUNCTION cr_notnull(order_id text, args jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO cr_strict_target VALUES (NULL)
$$;
SELECT order_id FROM paycons.create_order('cr-4', 100, 'USD');
SELECT paycons.enqueue_compensation('cr-4', 'cr-strict', 'cr_notnull(text,jsonb)') > 0;
SELECT cr_pass();
SELECT order_id, state, attempts, last_sqlstate FROM cr_steps WHERE order_id = 'cr-4';
-- the same error under a policy that does not list it is retried
SELECT order_id FROM paycons.create_order('cr-5', 100, 'USD');
SELECT paycons.enqueue_compensation('cr-5', 'cr-flaky', 'cr_divide(text,jsonb)', '{"by": 0}') > 0;
SELECT cr_pass();
SELECT order_id, state, attempts, last_sqlstate FROM cr_steps WHERE order_id = 'cr-5';

-- a handler dropped after enqueueing: dead at once (PC302), the pass goes on
CREATE FUNCTION cr_gone(order_id text, args jsonb) RETURNS void LANGUAGE sql AS $$ SELECT $$;
SELECT order_id FROM paycons.create_order('cr-6', 100, 'USD');
SELECT paycons.enqueue_compensation('cr-6', 'cr-flaky', 'cr_gone(text,jsonb)') > 0;
DROP FUNCTION cr_gone(text, jsonb);
SELECT cr_pass();
SELECT order_id, state, attempts, last_sqlstate,
       regexp_replace(last_error, '\d+', 'N') AS last_error FROM cr_steps WHERE order_id = 'cr-6';

-- external steps: re-sent when no answer comes within the delay, dead after max_attempts
SELECT paycons.set_retry_policy('cr-ext', '1 second', 1, '1 second', 2, 0, '{}') IS NOT NULL;
SELECT order_id FROM paycons.create_order('cr-7', 100, 'USD');
SELECT paycons.enqueue_compensation('cr-7', 'cr-ext:1', NULL, '{"amount": 100}') > 0;
UPDATE paycons.compensations SET next_attempt_at = now() WHERE order_id = 'cr-7';
SELECT cr_pass();
SELECT order_id, state, attempts FROM cr_steps WHERE order_id = 'cr-7';
UPDATE paycons.compensations SET next_attempt_at = now() WHERE order_id = 'cr-7';
SELECT cr_pass();
SELECT order_id, state, attempts, last_error FROM cr_steps WHERE order_id = 'cr-7';
SELECT event_type, payload->>'attempt' AS attempt
  FROM paycons.outbox WHERE aggregate_id = 'cr-7' ORDER BY id;
