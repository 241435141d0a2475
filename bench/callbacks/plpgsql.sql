/*
 * The PL/pgSQL reference: a careful apply_callback with the same checks,
 * the same statements on the hot path (one lookup of channel and stored
 * delivery, a FOR UPDATE lock of the order, the inbox insert ON CONFLICT DO
 * NOTHING, the order update through the same triggers) and the same answer.
 * Only for the benchmark; signatures are not verified (the bench channels
 * do not require them, so the C path skips the check too).  Its money
 * edges are recorded as forced (with the reason below), the only way code
 * outside paycons may take them.
 */
CREATE SCHEMA IF NOT EXISTS paycons_bench;

CREATE OR REPLACE FUNCTION paycons_bench.apply_callback_plpgsql(
    p_channel text, p_txn text, p_order text, p_kind text, p_status text,
    p_amount bigint, p_currency text, p_payload jsonb DEFAULT NULL,
    p_source text DEFAULT 'callback',
    OUT outcome text, OUT state paycons.order_state, OUT duplicate boolean,
    OUT first_seen_at timestamptz, OUT ack text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, paycons, pg_temp
-- it takes money edges (paying -> paid) outside paycons's money paths, as
-- the owner: allowed only as a forced edge with a reason (doc/security.md)
SET paycons.reason = 'plpgsql reference'
AS $$
#variable_conflict use_variable
DECLARE
    ch record;
    o record;
    v_outcome text;
    v_steps text[] := '{}';
    v_paid bigint;
    v_refunded bigint;
    v_set_payment boolean := false;
    v_write boolean := false;
    v_refund_reason text;
    v_final text;
    v_received timestamptz;
    s text;
BEGIN
    IF p_channel IS NULL OR p_txn IS NULL OR p_order IS NULL OR p_kind IS NULL
       OR p_status IS NULL OR p_amount IS NULL OR p_currency IS NULL THEN
        RAISE EXCEPTION 'required argument is null' USING ERRCODE = '22004';
    END IF;
    IF octet_length(p_channel) NOT BETWEEN 1 AND 64 OR octet_length(p_txn) NOT BETWEEN 1 AND 128
       OR octet_length(p_order) NOT BETWEEN 1 AND 64 THEN
        RAISE EXCEPTION 'bad identifier' USING ERRCODE = '22001';
    END IF;
    IF p_kind NOT IN ('payment', 'refund') THEN
        RAISE EXCEPTION 'invalid callback kind: "%"', p_kind USING ERRCODE = 'PC101';
    END IF;
    IF p_status NOT IN ('success', 'failed') THEN
        RAISE EXCEPTION 'invalid callback status: "%"', p_status USING ERRCODE = 'PC102';
    END IF;
    IF p_amount <= 0 THEN
        RAISE EXCEPTION 'amount must be positive: %', p_amount USING ERRCODE = 'PC004';
    END IF;
    IF p_currency !~ '^[A-Z]{3}$' THEN
        RAISE EXCEPTION 'invalid currency code: "%"', p_currency USING ERRCODE = 'PC005';
    END IF;
    IF p_payload IS NOT NULL AND pg_column_size(p_payload) > 65536 THEN
        RAISE EXCEPTION 'payload too large' USING ERRCODE = '54000';
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'must run at READ COMMITTED' USING ERRCODE = 'PC104';
    END IF;

    SELECT c.require_signature, c.ack AS c_ack, i.order_id AS i_order, i.kind AS i_kind,
           i.status AS i_status, i.amount AS i_amount, i.currency AS i_currency,
           i.outcome AS i_outcome, i.state AS i_state, i.received_at AS i_received
      INTO ch
      FROM paycons.channels c
      LEFT JOIN paycons.callbacks i ON i.channel = c.channel AND i.channel_txn_id = p_txn
     WHERE c.channel = p_channel;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'payment channel "%" is not registered', p_channel USING ERRCODE = 'PC106';
    END IF;
    ack := ch.c_ack;

    IF ch.i_order IS NOT NULL THEN
        IF (ch.i_order, ch.i_kind, ch.i_status, ch.i_amount, ch.i_currency)
           = (p_order, p_kind, p_status, p_amount, p_currency) THEN
            outcome := ch.i_outcome; state := ch.i_state; duplicate := true;
            first_seen_at := ch.i_received;
            RETURN;
        END IF;
        RAISE EXCEPTION 'conflict path not part of the benchmark';
    END IF;

    SELECT os.state::text AS st, os.amount, os.currency, os.paid_amount, os.refunded_amount,
           os.channel_txn_id IS NOT NULL AS has_txn
      INTO o FROM paycons.orders os WHERE os.order_id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        v_outcome := 'unknown_order';
    ELSE
        v_final := o.st; v_paid := o.paid_amount; v_refunded := o.refunded_amount;
        IF p_kind = 'payment' AND p_status = 'success' THEN
            IF o.st IN ('created', 'paying', 'payment_failed') THEN
                IF p_amount <> o.amount OR p_currency <> o.currency THEN
                    v_outcome := 'amount_mismatch';
                ELSE
                    IF o.st <> 'paying' THEN v_steps := v_steps || 'paying'::text; END IF;
                    v_steps := v_steps || 'paid'::text;
                    v_paid := o.paid_amount + p_amount; v_set_payment := true;
                    v_outcome := 'applied';
                END IF;
            ELSIF o.st IN ('closed', 'cancelled') THEN
                v_steps := v_steps || 'refunding'::text;
                IF p_currency = o.currency THEN v_paid := o.paid_amount + p_amount; END IF;
                v_set_payment := NOT o.has_txn; v_refund_reason := 'late_payment';
                v_outcome := 'late_payment';
            ELSE
                IF p_currency = o.currency THEN v_paid := o.paid_amount + p_amount; v_write := true; END IF;
                v_refund_reason := 'duplicate_payment'; v_outcome := 'duplicate_payment';
            END IF;
        ELSIF p_kind = 'payment' THEN
            IF o.st = 'paying' THEN v_steps := v_steps || 'payment_failed'::text; v_outcome := 'applied';
            ELSE v_outcome := 'ignored'; END IF;
        ELSIF p_status = 'success' THEN
            v_refunded := o.refunded_amount + p_amount; v_write := true;
            IF p_currency <> o.currency OR v_refunded > o.paid_amount THEN
                v_outcome := CASE WHEN p_currency <> o.currency THEN 'amount_mismatch' ELSE 'over_refund' END;
                IF paycons.can_transition(o.st::paycons.order_state, 'needs_review') THEN
                    v_steps := v_steps || 'needs_review'::text;
                END IF;
            ELSE
                v_outcome := 'applied';
                IF v_refunded = o.paid_amount THEN
                    IF o.st <> 'refunding' THEN v_steps := v_steps || 'refunding'::text; END IF;
                    v_steps := v_steps || 'refunded'::text;
                END IF;
            END IF;
        ELSE
            v_outcome := 'refund_failed';
        END IF;
        IF cardinality(v_steps) > 0 THEN v_final := v_steps[cardinality(v_steps)]; END IF;
    END IF;

    INSERT INTO paycons.callbacks AS c (channel, channel_txn_id, order_id, kind, status, amount,
                                        currency, payload, outcome, state, applied_at, source)
    VALUES (p_channel, p_txn, p_order, p_kind, p_status, p_amount, p_currency, p_payload,
            v_outcome, v_final::paycons.order_state,
            CASE WHEN cardinality(v_steps) > 0 OR v_write OR v_refund_reason IS NOT NULL THEN now() END,
            p_source)
    ON CONFLICT (channel, channel_txn_id) DO NOTHING
    RETURNING c.received_at INTO v_received;
    IF v_received IS NULL THEN
        SELECT i.outcome, i.state, i.received_at INTO outcome, state, first_seen_at
          FROM paycons.callbacks i WHERE i.channel = p_channel AND i.channel_txn_id = p_txn;
        duplicate := true;
        RETURN;
    END IF;

    FOREACH s IN ARRAY v_steps LOOP
        UPDATE paycons.orders os SET state = s::paycons.order_state, paid_amount = v_paid,
               refunded_amount = v_refunded,
               channel = CASE WHEN v_set_payment THEN p_channel ELSE os.channel END,
               channel_txn_id = CASE WHEN v_set_payment THEN p_txn ELSE os.channel_txn_id END,
               updated_at = now()
         WHERE os.order_id = p_order;
    END LOOP;
    IF cardinality(v_steps) = 0 AND v_write THEN
        UPDATE paycons.orders os SET paid_amount = v_paid, refunded_amount = v_refunded, updated_at = now()
         WHERE os.order_id = p_order;
    END IF;
    IF v_refund_reason IS NOT NULL THEN
        PERFORM paycons.enqueue_compensation(p_order, 'refund:' || p_txn, NULL,
            jsonb_build_object('channel', p_channel, 'channel_txn_id', p_txn, 'amount', p_amount,
                               'currency', p_currency, 'reason', v_refund_reason));
    END IF;

    outcome := v_outcome; state := v_final::paycons.order_state; duplicate := false;
    first_seen_at := v_received;
END;
$$;
