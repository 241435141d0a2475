/*
 * 90_privileges.sql -- who may do what.  Runs last.
 *
 * Application roles get EXECUTE on the API and nothing on the tables: the
 * C functions do their work as the extension owner.  PUBLIC keeps what is
 * harmless (the order_state type's support functions, so any role can use
 * the type in its own tables, and the pure state-machine functions).
 */

REVOKE ALL ON ALL TABLES IN SCHEMA paycons FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA paycons FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA paycons FROM PUBLIC;
GRANT USAGE ON SCHEMA paycons TO PUBLIC;

GRANT EXECUTE ON FUNCTION
    paycons.order_state_in(cstring),
    paycons.order_state_out(paycons.order_state),
    paycons.order_state_recv(internal),
    paycons.order_state_send(paycons.order_state),
    paycons.order_state_eq(paycons.order_state, paycons.order_state),
    paycons.order_state_ne(paycons.order_state, paycons.order_state),
    paycons.order_state_lt(paycons.order_state, paycons.order_state),
    paycons.order_state_le(paycons.order_state, paycons.order_state),
    paycons.order_state_gt(paycons.order_state, paycons.order_state),
    paycons.order_state_ge(paycons.order_state, paycons.order_state),
    paycons.order_state_cmp(paycons.order_state, paycons.order_state),
    paycons.order_state_hash(paycons.order_state),
    paycons.order_state_hash_extended(paycons.order_state, int8),
    paycons.can_transition(paycons.order_state, paycons.order_state),
    paycons.next_states(paycons.order_state),
    paycons.all_states(),
    paycons.is_terminal(paycons.order_state),
    paycons.state_graph(text),
    paycons.order_guard()
TO PUBLIC;

/*
 * paycons.grant_app_role(role): give an application role what a webhook
 * handler and an order service need -- EXECUTE on the application API.
 * Every fragment that adds an application-facing function adds it to the
 * list below.
 */
CREATE FUNCTION paycons.grant_app_role(role regrole) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY[
        'paycons.create_order(text, bigint, text, interval, jsonb)',
        'paycons.begin_payment(text, text)',
        'paycons.transition(text, paycons.order_state, text)',
        -- callbacks (keep each section apart so parallel edits merge)
        'paycons.apply_callback(text, text, text, text, text, bigint, text, jsonb, text, text, text)',
        'paycons.apply_notification(text, text, jsonb)',

        -- end callbacks
        -- outbox
        'paycons.emit(text, text, text, jsonb, jsonb, timestamptz)',
        'paycons.outbox_claim(text, integer, interval)',
        'paycons.outbox_ack(bigint[], text)',
        'paycons.outbox_nack(bigint, text, interval, text)',
        'paycons.outbox_trigger()',
        -- end outbox
        -- compensations and maintenance
        'paycons.enqueue_compensation(text, text, regprocedure, jsonb)',
        'paycons.complete_compensation(bigint, boolean, text)',
        'paycons.complete_refund_for(text, bigint, text, text)',
        'paycons.add_stock(text, bigint)',
        'paycons.reserve_stock(text, jsonb)',
        'paycons.commit_stock(text)',
        'paycons.release_stock(text, jsonb)',
        'paycons.wake()',

        -- end compensations
        'paycons.can_transition(paycons.order_state, paycons.order_state)'
    ]
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', fn, role);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION paycons.grant_app_role(regrole) IS
    'grant an application role EXECUTE on the paycons application API (and nothing on the tables)';
