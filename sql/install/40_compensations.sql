/*
 * 40_compensations.sql -- saga compensation steps and their retry policies.
 */

CREATE TABLE paycons.retry_policies (
    action              text PRIMARY KEY,
    initial_interval    interval NOT NULL DEFAULT '1 second',
    backoff_coefficient double precision NOT NULL DEFAULT 2.0,
    max_interval        interval NOT NULL DEFAULT '5 minutes',
    max_attempts        integer NOT NULL DEFAULT 10,
    jitter              double precision NOT NULL DEFAULT 0.2,
    non_retryable       text[] NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE paycons.retry_policies IS
    'retry policy per compensation action (fields as in Temporal''s RetryPolicy); row ''*'' is the default';
INSERT INTO paycons.retry_policies (action) VALUES ('*');
SELECT pg_catalog.pg_extension_config_dump('paycons.retry_policies', $$WHERE action <> '*'$$);

CREATE TABLE paycons.compensations (
    id              bigserial PRIMARY KEY,
    order_id        text NOT NULL,
    action          text NOT NULL,
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
    CONSTRAINT compensations_order_action UNIQUE (order_id, action)
);
COMMENT ON TABLE paycons.compensations IS
    'saga compensation steps: one per (order_id, action); handler NULL means an external action completed by complete_compensation()';
SELECT pg_catalog.pg_extension_config_dump('paycons.compensations', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.compensations_id_seq', '');

CREATE FUNCTION paycons.enqueue_compensation(
    order_id text,
    action text,
    handler regprocedure DEFAULT NULL,
    args jsonb DEFAULT '{}')
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO paycons.compensations AS c (order_id, action, handler, args)
    VALUES (enqueue_compensation.order_id, enqueue_compensation.action,
            enqueue_compensation.handler, COALESCE(enqueue_compensation.args, '{}'))
    ON CONFLICT ON CONSTRAINT compensations_order_action DO NOTHING
    RETURNING c.id INTO v_id;
    IF v_id IS NULL THEN
        SELECT c.id INTO v_id FROM paycons.compensations c
         WHERE c.order_id = enqueue_compensation.order_id
           AND c.action = enqueue_compensation.action;
    END IF;
    RETURN v_id;
END;
$$;
COMMENT ON FUNCTION paycons.enqueue_compensation(text, text, regprocedure, jsonb) IS
    'enqueue a compensation step; idempotent on (order_id, action), returns its id';
