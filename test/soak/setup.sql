-- test/soak/setup.sql -- the soak database: channels, stock, retry policies
-- short enough for a 10-minute run, and the helpers the pgbench scripts
-- call.  The helpers never raise: pgbench stops a client at its first
-- error (other than a serialization failure or deadlock, which it retries).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS paycons;
SELECT paycons.set_channel('soak', ack => 'success');
SELECT paycons.set_channel('soak_signed', secret => 'soak-secret', require_signature => true, nack => 'fail');
SELECT count(paycons.add_stock('sku-' || g, 1000000000)) FROM generate_series(0, 9) g;
SELECT paycons.set_retry_policy('refund', '5 seconds', 2.0, '1 minute', 10, 0.2, '{}');
SELECT paycons.set_retry_policy('payment.query', '2 seconds', 2.0, '30 seconds', 1000, 0.2, '{}');
SELECT paycons.set_retry_policy('refund.query', '10 seconds', 2.0, '1 minute', 1000, 0.2, '{}');

CREATE SEQUENCE soak_order_seq;

-- The amount of order s-<n>: a function of n, so that every delivery of a
-- callback carries the same facts.
CREATE FUNCTION soak_amount(n bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT 100 + (n * 37) % 9900 $$;

-- A random order among the last "recent" ones created.
CREATE FUNCTION soak_pick(recent int) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT greatest(1, s.last_value - (random() * recent)::bigint)
      FROM soak_order_seq s
$$;

-- One consumer pass: claim, ack (or nack 5%), and answer refund.request
-- commands with the channel's refund callback.
CREATE FUNCTION soak_consume(consumer text, nack_rate float8) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n int := 0;
BEGIN
    FOR r IN SELECT * FROM paycons.outbox_claim(consumer, 50, '10 seconds') LOOP
        n := n + 1;
        IF random() < nack_rate THEN
            PERFORM paycons.outbox_nack(r.id, 'soak nack', NULL, consumer);
            CONTINUE;
        END IF;
        IF r.event_type = 'refund.request' THEN
            PERFORM paycons.apply_callback('soak', 'CR-' || (r.payload->>'compensation_id'),
                                           r.aggregate_id, 'refund', 'success',
                                           (r.payload->'args'->>'amount')::bigint,
                                           r.payload->'args'->>'currency');
        END IF;
        PERFORM paycons.outbox_ack(ARRAY[r.id], consumer);
    END LOOP;
    RETURN n;
END
$$;

-- An operator resolves one order waiting in review: take what covers it
-- and refund the rest, else refund everything, else close it.
CREATE FUNCTION soak_resolve() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    o text;
    d text;
BEGIN
    SELECT c.order_id INTO o FROM paycons.callbacks c
     WHERE c.review = 'pending' ORDER BY c.received_at LIMIT 1;
    IF o IS NULL THEN
        RETURN NULL;
    END IF;
    FOREACH d IN ARRAY ARRAY['accept_and_refund', 'refund', 'close'] LOOP
        BEGIN
            PERFORM paycons.resolve_review(o, d, 'soak operator');
            RETURN o || ' ' || d;
        EXCEPTION WHEN OTHERS THEN
            NULL;
        END;
    END LOOP;
    RETURN o || ' unresolved';
END
$$;

-- The order's life after payment: one step further, if it can.
CREATE FUNCTION soak_progress(n bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    s text;
    t text;
BEGIN
    SELECT state::text INTO s FROM paycons.orders WHERE order_id = 's-' || n;
    t := CASE s WHEN 'paid' THEN 'fulfilling' WHEN 'fulfilling' THEN 'shipped'
                WHEN 'shipped' THEN 'completed' END;
    IF t IS NULL THEN
        RETURN s;
    END IF;
    BEGIN
        PERFORM paycons.transition('s-' || n, t::paycons.order_state, 'soak');
    EXCEPTION WHEN OTHERS THEN
        RETURN s;
    END;
    RETURN t;
END
$$;

-- A new order s-<n>, in one transaction: 1 in 20 must pay within 3
-- seconds (the worker queries it, then closes it), 1 in 3 reserves stock,
-- 1 in 10 never starts paying.
CREATE FUNCTION soak_new_order() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint := nextval('soak_order_seq');
BEGIN
    PERFORM paycons.create_order('s-' || n, soak_amount(n), 'CNY',
                                 CASE WHEN n % 20 = 0 THEN interval '3 seconds' ELSE interval '1 hour' END);
    IF n % 3 = 0 THEN
        PERFORM paycons.reserve_stock('s-' || n,
                    jsonb_build_array(jsonb_build_object('sku', 'sku-' || n % 10, 'quantity', 1 + n % 3)));
    END IF;
    IF n % 10 <> 9 THEN
        PERFORM paycons.begin_payment('s-' || n, 'soak');
    END IF;
    RETURN n;
END
$$;
