/*
 * 90_privileges.sql -- who may do what.  Runs last.
 *
 * Application roles get EXECUTE on the API and nothing on the tables: the
 * C functions do their work as the extension owner.  PUBLIC keeps what is
 * harmless (the order_state type's support functions, so any role can use
 * the type in its own tables, the pure state-machine functions, and the
 * guard trigger, which writes history only for tables the owner allowed).
 *
 * The role model (doc/security.md): the extension script creates no role;
 * the owner grants roles it created with grant_app_role (orders,
 * callbacks, events, compensations, stock), grant_consumer_role (outbox
 * consumers) and grant_operator_role (on-call: health, redrive, retries,
 * reconciliation differences).  Each list below is the whole of what that
 * role may call; test/pgtap/30_roles.sql holds the same lists.
 */

/*
 * paycons.grant_app_role(role): give an application role what a webhook
 * handler and an order service need -- EXECUTE on the application API.
 * Every fragment that adds an application-facing function adds it to the
 * list below.  "role" is the exact name of an existing role (PC026 if
 * there is none).
 */
CREATE FUNCTION paycons.grant_app_role(role text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    fn text;
BEGIN
    PERFORM paycons.require_role(grant_app_role.role);
    FOREACH fn IN ARRAY ARRAY[
        'paycons.create_order(text, bigint, text, interval, jsonb)',
        'paycons.begin_payment(text, text)',
        'paycons.transition(text, paycons.order_state, text)',
        'paycons.get_order(text)',
        'paycons.order_history_of(text)',
        -- callbacks (keep each section apart so parallel edits merge)
        'paycons.apply_callback(text, text, text, text, text, bigint, text, jsonb, text, text, text)',
        'paycons.apply_notification(text, text, jsonb)',

        -- end callbacks
        -- outbox
        'paycons.emit(text, text, text, jsonb, jsonb, timestamptz)',
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
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I', fn, grant_app_role.role);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION paycons.grant_app_role(text) IS
    'grant an existing role EXECUTE on the paycons application API (orders, callbacks, events, compensations, stock) and nothing on the tables';

/*
 * paycons.grant_consumer_role(role): what an outbox consumer needs --
 * claim, acknowledge, give back; and the read API to look up an event's
 * order.
 */
CREATE FUNCTION paycons.grant_consumer_role(role text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    fn text;
BEGIN
    PERFORM paycons.require_role(grant_consumer_role.role);
    FOREACH fn IN ARRAY ARRAY[
        'paycons.outbox_claim(text, integer, interval)',
        'paycons.outbox_ack(bigint[], text)',
        'paycons.outbox_nack(bigint, text, interval, text)',
        'paycons.get_order(text)',
        'paycons.order_history_of(text)'
    ]
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I', fn, grant_consumer_role.role);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION paycons.grant_consumer_role(text) IS
    'grant an existing role what an outbox consumer needs: outbox_claim, outbox_ack, outbox_nack, get_order, order_history_of';

/*
 * paycons.grant_operator_role(role): what on-call needs -- the health
 * views, redriving dead events, retrying dead compensations, resolving
 * reconciliation differences, auditing with verify(), and the read API.
 * Nothing on the tables,
 * never the channel secrets.
 */
CREATE FUNCTION paycons.grant_operator_role(role text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    obj text;
BEGIN
    PERFORM paycons.require_role(grant_operator_role.role);
    FOREACH obj IN ARRAY ARRAY[
        'paycons.get_order(text)',
        'paycons.order_history_of(text)',
        'paycons.stats()',
        'paycons.callback_outcomes_last_hour()',
        'paycons.outbox_redrive(bigint[])',
        'paycons.retry_compensation(bigint)',
        'paycons.resolve_diff(bigint, text, text)',
        'paycons.resolve_review(text, text, text)',
        'paycons.load_statement(text, date, text, text, boolean)',
        'paycons.load_statement_upload(text, date, text, regclass, boolean)',
        'paycons.reconcile_statement(text, date)',
        'paycons.verify(timestamptz)'
    ]
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I', obj, grant_operator_role.role);
    END LOOP;
    FOREACH obj IN ARRAY ARRAY[
        'paycons.health',
        'paycons.order_counts',
        'paycons.outbox_dead_letters',
        'paycons.open_reconciliation_diffs',
        'paycons.dead_compensations'
    ]
    LOOP
        EXECUTE pg_catalog.format('GRANT SELECT ON %s TO %I', obj, grant_operator_role.role);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION paycons.grant_operator_role(text) IS
    'grant an existing role what on-call needs: the health views, outbox_redrive, retry_compensation, resolve_review, statements (load, reconcile, resolve_diff), verify(), the read API';

/* ---- PUBLIC: last, so that it covers every function above, these included ---- */

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
