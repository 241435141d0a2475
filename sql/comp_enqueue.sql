-- Compensations: enqueueing (idempotent), handler checks, external steps
-- and their completion.
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS paycons; RESET client_min_messages;

CREATE FUNCTION comp_try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, 'compensation \d+', 'compensation N');
END;
$$;
CREATE FUNCTION comp_ok_handler(order_id text, args jsonb) RETURNS void
LANGUAGE sql AS $$ SELECT NULL::void $$;
CREATE FUNCTION comp_wrong_args(order_id text) RETURNS void
LANGUAGE sql AS $$ SELECT NULL::void $$;
CREATE FUNCTION comp_wrong_types(order_id text, args json) RETURNS void
LANGUAGE sql AS $$ SELECT NULL::void $$;
CREATE FUNCTION comp_setof(order_id text, args jsonb) RETURNS SETOF int
LANGUAGE sql AS $$ SELECT 1 $$;
CREATE PROCEDURE comp_proc(order_id text, args jsonb) LANGUAGE sql AS $$ SELECT 1 $$;

SELECT order_id FROM paycons.create_order('ce-1', 500, 'EUR');

-- idempotent on (order_id, action): the second call returns the first id
SELECT paycons.enqueue_compensation('ce-1', 'undo-thing', 'comp_ok_handler(text,jsonb)', '{"n": 1}') AS first_id \gset
SELECT paycons.enqueue_compensation('ce-1', 'undo-thing', 'comp_ok_handler(text,jsonb)', '{"n": 2}') = :first_id AS same_id;
SELECT paycons.enqueue_compensation('ce-1', 'undo-thing') = :first_id AS same_id_without_handler;
SELECT action, handler, args, state, attempts, run_as
  FROM paycons.compensations WHERE order_id = 'ce-1';

-- bad input: a clear error each, nothing written
SELECT comp_try($$SELECT paycons.enqueue_compensation('ce-1', 'x', 'comp_nope(text,jsonb)')$$);
SELECT comp_try($$SELECT paycons.enqueue_compensation('ce-1', 'x', 4294967000::oid::regprocedure)$$);
SELECT comp_try($$SELECT paycons.enqueue_compensation('ce-1', 'x', 'comp_wrong_args(text)')$$);
SELECT comp_try($$SELECT paycons.enqueue_compensation('ce-1', 'x', 'comp_wrong_types(text,json)')$$);
SELECT comp_try($$SELECT paycons.enqueue_compensation('ce-1', 'x', 'comp_setof(text,jsonb)')$$);
SELECT comp_try($$SELECT paycons.enqueue_compensation('ce-1', 'x', 'comp_proc(text,jsonb)')$$);
SELECT comp_try($$SELECT paycons.enqueue_compensation(NULL, 'x')$$);
SELECT comp_try($$SELECT paycons.enqueue_compensation('ce-1', NULL)$$);
SELECT comp_try($$SELECT paycons.enqueue_compensation('ce-1', '')$$);
SELECT comp_try($$SELECT paycons.enqueue_compensation('ce-1', repeat('a', 201))$$);
SELECT comp_try($$SELECT paycons.enqueue_compensation(repeat('o', 65), 'x')$$);
SELECT comp_try($$SELECT paycons.enqueue_compensation('ce-1', 'x', NULL, '[1]')$$);
SELECT comp_try($$SELECT paycons.enqueue_compensation('ce-1', 'x', NULL, '"s"')$$);
SELECT count(*) AS rows_after_bad_input FROM paycons.compensations WHERE order_id = 'ce-1';

-- a role without EXECUTE on the handler cannot enqueue it
CREATE ROLE comp_app;
SELECT paycons.grant_app_role('comp_app');
REVOKE EXECUTE ON FUNCTION comp_ok_handler(text, jsonb) FROM PUBLIC;
SET ROLE comp_app;
SELECT comp_try($$SELECT paycons.enqueue_compensation('ce-1', 'as-app', 'comp_ok_handler(text,jsonb)')$$);
-- but an external step is fine, and nothing on the tables is needed
SELECT paycons.enqueue_compensation('ce-1', 'refund:ce-txn-1', NULL,
       '{"channel": "ce-chan", "channel_txn_id": "ce-txn-1", "amount": 500, "currency": "EUR", "reason": "test"}') > 0 AS enqueued;
SELECT comp_try($$SELECT count(*) FROM paycons.compensations$$);
RESET ROLE;

-- an external step is sent at once: waiting_external, attempt 1, and a
-- refund.request command in the outbox
SELECT action, handler IS NULL AS external, state, attempts, run_as,
       next_attempt_at > now() AS next_later
  FROM paycons.compensations WHERE order_id = 'ce-1' AND action = 'refund:ce-txn-1';
SELECT event_type, aggregate_type, aggregate_id,
       payload - 'compensation_id' AS payload
  FROM paycons.outbox WHERE aggregate_id = 'ce-1' AND event_type LIKE '%.request';

-- completion: failure retries (pending, resent when due), success is done
SELECT id AS refund_id FROM paycons.compensations
 WHERE order_id = 'ce-1' AND action = 'refund:ce-txn-1' \gset
SELECT state, attempts, last_error FROM paycons.complete_compensation(:refund_id, false, 'channel said: try later');
SELECT state, attempts, detail FROM paycons.complete_compensation(:refund_id, true, 'refund id R1');
SELECT state, attempts, detail, done_at IS NOT NULL AS done_at_set
  FROM paycons.complete_compensation(:refund_id, true, 'again');       -- no-op
SELECT comp_try($$SELECT paycons.complete_compensation($$ || :refund_id || $$, false)$$);
SELECT comp_try($$SELECT paycons.complete_compensation(-1, true)$$);
SELECT comp_try($$SELECT paycons.complete_compensation(NULL, true)$$);
SELECT comp_try($$SELECT paycons.complete_compensation($$ || :refund_id || $$, NULL)$$);
SELECT comp_try($$SELECT paycons.complete_compensation($$ || :first_id || $$, true)$$);
SELECT comp_try($$SELECT paycons.retry_compensation($$ || :refund_id || $$)$$);

-- a successful refund callback completes its refund step by itself:
-- complete_refund_for() finds it by payment txn id, or by amount
SELECT order_id FROM paycons.create_order('ce-2', 700, 'EUR');
SELECT paycons.enqueue_compensation('ce-2', 'refund:ce-txn-2', NULL, '{"amount": 300, "currency": "EUR"}') > 0;
SELECT paycons.enqueue_compensation('ce-2', 'refund:ce-txn-3', NULL, '{"amount": 400, "currency": "EUR"}') > 0;
SELECT paycons.complete_refund_for('ce-2', 400) AS done_id \gset
SELECT action FROM paycons.compensations WHERE id = :done_id;
SELECT paycons.complete_refund_for('ce-2', 300, 'ce-txn-2') AS done_id \gset
SELECT action FROM paycons.compensations WHERE id = :done_id;
SELECT paycons.complete_refund_for('ce-2', 999) IS NULL AS no_match;
SELECT action, state, detail FROM paycons.compensations WHERE order_id = 'ce-2' ORDER BY action;
SELECT comp_try($$SELECT paycons.complete_refund_for('ce-2', 0)$$);
SELECT comp_try($$SELECT paycons.complete_refund_for(NULL, 1)$$);

DROP OWNED BY comp_app;
DROP ROLE comp_app;
