/*
 * 40_compensations.sql -- saga compensation steps and their retry policies.
 *
 * A compensation is one step that undoes (or finishes) part of an order's
 * saga: release its stock, refund its money.  It is enqueued once per
 * (order_id, action) and retried by run_maintenance() (70_maintenance.sql)
 * until it succeeds or is declared dead.  In-database handlers are plain
 * functions handler(order_id text, args jsonb) run in a subtransaction;
 * external actions (handler NULL) go out as outbox commands and come back
 * through complete_compensation().  See doc/operations.md.
 */

CREATE TABLE paycons.retry_policies (
    action              text PRIMARY KEY
                        CONSTRAINT retry_policies_action_length CHECK (octet_length(action) BETWEEN 1 AND 128),
    initial_interval    interval NOT NULL DEFAULT '1 second'
                        CONSTRAINT retry_policies_initial_positive CHECK (initial_interval > interval '0'),
    backoff_coefficient double precision NOT NULL DEFAULT 2.0
                        CONSTRAINT retry_policies_coefficient_range CHECK (backoff_coefficient >= 1 AND backoff_coefficient <= 100),
    max_interval        interval NOT NULL DEFAULT '5 minutes',
    max_attempts        integer NOT NULL DEFAULT 10
                        CONSTRAINT retry_policies_max_attempts_positive CHECK (max_attempts >= 1),
    jitter              double precision NOT NULL DEFAULT 0.2
                        CONSTRAINT retry_policies_jitter_range CHECK (jitter >= 0 AND jitter <= 1),
    non_retryable       text[] NOT NULL DEFAULT '{}'
                        CONSTRAINT retry_policies_non_retryable_sqlstates
                        CHECK (array_to_string(non_retryable, ',') ~ '^([0-9A-Z]{2}([0-9A-Z]{3})?(,|$))*$'),
    CONSTRAINT retry_policies_max_ge_initial CHECK (max_interval >= initial_interval)
);
COMMENT ON TABLE paycons.retry_policies IS
    'retry policy per action -- compensation actions, payment.query/refund.query, and outbox:<event_type> for nacked events (fields as in Temporal''s RetryPolicy); looked up by exact action, then by the part before '':'', then ''*''';
COMMENT ON COLUMN paycons.retry_policies.non_retryable IS
    'SQLSTATEs (5 characters) or SQLSTATE classes (2 characters) that make a failed attempt final';
COMMENT ON COLUMN paycons.retry_policies.jitter IS
    'fraction in [0,1]: each delay is drawn uniformly from [base * (1 - jitter), base]';
INSERT INTO paycons.retry_policies
    (action, initial_interval, backoff_coefficient, max_interval, max_attempts, jitter, non_retryable)
VALUES
    ('*',             '1 second',   2.0, '5 minutes',  10, 0.2, '{}'),
    ('release_stock', '1 second',   2.0, '5 minutes',  20, 0.2, '{}'),
    ('refund',        '1 minute',   2.0, '1 hour',     10, 0.2, '{}'),
    ('payment.query', '30 seconds', 2.0, '10 minutes', 1000, 0.2, '{}'),
    ('refund.query',  '5 minutes',  2.0, '1 hour',     1000, 0.2, '{}'),
    ('outbox',        '1 second',   2.0, '5 minutes',  10, 0.2, '{}');
SELECT pg_catalog.pg_extension_config_dump('paycons.retry_policies',
    $$WHERE action NOT IN ('*', 'release_stock', 'refund', 'payment.query', 'refund.query', 'outbox')$$);

CREATE TABLE paycons.compensations (
    id              bigserial PRIMARY KEY,
    order_id        text NOT NULL,
    action          text NOT NULL
                    CONSTRAINT compensations_action_length CHECK (octet_length(action) BETWEEN 1 AND 200),
    handler         regprocedure,
    args            jsonb NOT NULL DEFAULT '{}',
    state           text NOT NULL DEFAULT 'pending'
                    CONSTRAINT compensations_state_valid
                    CHECK (state IN ('pending', 'running', 'waiting_external', 'done', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    last_sqlstate   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz,
    last_attempt_at timestamptz,
    run_as          regrole,
    detail          text,
    CONSTRAINT compensations_order_action UNIQUE (order_id, action)
);
COMMENT ON TABLE paycons.compensations IS
    'saga compensation steps: one per (order_id, action); handler NULL means an external action completed by complete_compensation()';
COMMENT ON COLUMN paycons.compensations.handler IS
    'in-database handler, a function (order_id text, args jsonb); NULL for an external action sent through the outbox';
COMMENT ON COLUMN paycons.compensations.run_as IS
    'the role that enqueued the step; an in-database handler runs as this role';
COMMENT ON COLUMN paycons.compensations.detail IS
    'the detail given to complete_compensation() by the external party';
-- The retry loop reads only due steps; the health view counts dead ones.
CREATE INDEX compensations_due ON paycons.compensations (next_attempt_at)
    WHERE state IN ('pending', 'waiting_external');
CREATE INDEX compensations_dead ON paycons.compensations (updated_at)
    WHERE state = 'dead';
SELECT pg_catalog.pg_extension_config_dump('paycons.compensations', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.compensations_id_seq', '');

CREATE FUNCTION paycons.enqueue_compensation(
    order_id text,
    action text,
    handler regprocedure DEFAULT NULL,
    args jsonb DEFAULT '{}')
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'paycons_enqueue_compensation'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.enqueue_compensation(text, text, regprocedure, jsonb) IS
    'enqueue a compensation step; idempotent on (order_id, action), returns its id';

CREATE FUNCTION paycons.complete_compensation(id bigint, ok boolean, detail text DEFAULT NULL)
    RETURNS paycons.compensations
    AS 'MODULE_PATHNAME', 'paycons_complete_compensation'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.complete_compensation(bigint, boolean, text) IS
    'report the outcome of an external compensation: ok -> done; not ok -> retried with backoff, or dead after the last attempt';

CREATE FUNCTION paycons.retry_delay(action text, attempt integer, jitter_sample double precision DEFAULT NULL)
    RETURNS interval
    AS 'MODULE_PATHNAME', 'paycons_retry_delay'
    LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION paycons.retry_delay(text, integer, double precision) IS
    'delay before the retry that follows failed attempt number "attempt" of "action": min(initial * coefficient^(attempt-1), max) * (1 - jitter * sample); sample NULL draws a random one';

CREATE FUNCTION paycons.set_retry_policy(
    action text,
    initial_interval interval,
    backoff_coefficient double precision,
    max_interval interval,
    max_attempts integer,
    jitter double precision DEFAULT 0.2,
    non_retryable text[] DEFAULT '{}')
    RETURNS paycons.retry_policies
    AS 'MODULE_PATHNAME', 'paycons_set_retry_policy'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.set_retry_policy(text, interval, double precision, interval, integer, double precision, text[]) IS
    'create or replace the retry policy of an action (or of ''*'', the default), validating every field (PC308)';

CREATE FUNCTION paycons.retry_compensation(id bigint)
    RETURNS paycons.compensations
    AS 'MODULE_PATHNAME', 'paycons_retry_compensation'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.retry_compensation(bigint) IS
    'operator action: give a dead compensation a fresh set of attempts, due now';

CREATE FUNCTION paycons.complete_refund_for(
    order_id text,
    amount bigint,
    payment_txn_id text DEFAULT NULL,
    detail text DEFAULT NULL)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'paycons_complete_refund_for'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.complete_refund_for(text, bigint, text, text) IS
    'a refund of amount for order_id succeeded: complete the matching open refund compensation (action ''refund:''||payment_txn_id, else the oldest open one of that amount); returns its id or NULL';
