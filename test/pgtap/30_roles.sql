-- pgTAP: the role model (doc/security.md).  For each role that paycons
-- grants -- application, consumer, operator -- exactly what it may call,
-- that it reads no table directly, never sees a channel secret and cannot
-- write any paycons table; what PUBLIC keeps; that the extension script
-- creates no role; and the grant functions' errors.  Run by pg_prove
-- against a database with pgtap and paycons.
BEGIN;
SELECT plan(55);

-- ---------------------------------------------------------------------
-- The extension script creates no role.
CREATE TEMP TABLE roles_before AS SELECT rolname FROM pg_roles;
DROP EXTENSION paycons;
CREATE EXTENSION paycons;
SELECT is_empty($$SELECT rolname FROM pg_roles EXCEPT SELECT rolname FROM roles_before$$,
                'CREATE EXTENSION paycons creates no role');

-- The roles, as a DBA makes them.
CREATE ROLE tap_sec_app;
CREATE ROLE tap_sec_consumer;
CREATE ROLE tap_sec_operator;
CREATE ROLE tap_sec_nogrant;
SELECT lives_ok($$SELECT paycons.grant_app_role('tap_sec_app')$$, 'grant_app_role');
SELECT lives_ok($$SELECT paycons.grant_consumer_role('tap_sec_consumer')$$, 'grant_consumer_role');
SELECT lives_ok($$SELECT paycons.grant_operator_role('tap_sec_operator')$$, 'grant_operator_role');
SELECT lives_ok($$SELECT paycons.grant_app_role('tap_sec_app')$$, 'granting again is harmless');

-- A role that does not exist: a paycons error naming it.
SELECT throws_ok($$SELECT paycons.grant_app_role('tap_sec_nobody')$$, 'PC026',
                 'role "tap_sec_nobody" does not exist', 'grant_app_role: unknown role');
SELECT throws_ok($$SELECT paycons.grant_consumer_role('tap_sec_nobody')$$, 'PC026',
                 'role "tap_sec_nobody" does not exist', 'grant_consumer_role: unknown role');
SELECT throws_ok($$SELECT paycons.grant_operator_role('tap_sec_nobody')$$, 'PC026',
                 'role "tap_sec_nobody" does not exist', 'grant_operator_role: unknown role');
SELECT throws_ok($$SELECT paycons.grant_app_role(NULL)$$, '22004', NULL, 'grant_app_role: NULL role');

-- Run a statement as a role; its SQLSTATE, or 'ok'.
CREATE FUNCTION pg_temp.try_as(role text, q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text := 'ok';
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', role);
    BEGIN
        EXECUTE q;
    EXCEPTION WHEN OTHERS THEN
        result := SQLSTATE;
    END;
    RESET ROLE;
    RETURN result;
END;
$$;

-- The functions a role may execute beyond what PUBLIC may.
CREATE FUNCTION pg_temp.callable(role text) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'paycons'::regnamespace
       AND has_function_privilege(role, p.oid, 'EXECUTE')
       AND NOT has_function_privilege('public', p.oid, 'EXECUTE')
$$;

-- ---------------------------------------------------------------------
-- What each role may call: exactly its list (doc/security.md).
SELECT set_eq($$SELECT pg_temp.callable('tap_sec_app')$$, ARRAY[
    'paycons.create_order(text,bigint,text,interval,jsonb)',
    'paycons.begin_payment(text,text)',
    'paycons.transition(text,paycons.order_state,text)',
    'paycons.get_order(text)',
    'paycons.order_history_of(text)',
    'paycons.apply_callback(text,text,text,text,text,bigint,text,jsonb,text,text,text)',
    'paycons.apply_notification(text,text,jsonb)',
    'paycons.emit(text,text,text,jsonb,jsonb,timestamp with time zone)',
    'paycons.outbox_trigger()',
    'paycons.enqueue_compensation(text,text,regprocedure,jsonb)',
    'paycons.complete_compensation(bigint,boolean,text)',
    'paycons.complete_refund_for(text,bigint,text,text)',
    'paycons.add_stock(text,bigint)',
    'paycons.reserve_stock(text,jsonb)',
    'paycons.commit_stock(text)',
    'paycons.release_stock(text,jsonb)',
    'paycons.wake()'], 'the application role may call exactly the application API');
SELECT set_eq($$SELECT pg_temp.callable('tap_sec_consumer')$$, ARRAY[
    'paycons.outbox_claim(text,integer,interval)',
    'paycons.outbox_ack(bigint[],text)',
    'paycons.outbox_nack(bigint,text,interval,text)',
    'paycons.get_order(text)',
    'paycons.order_history_of(text)'], 'the consumer role may call exactly claim, ack, nack and the read API');
SELECT set_eq($$SELECT pg_temp.callable('tap_sec_operator')$$, ARRAY[
    'paycons.get_order(text)',
    'paycons.order_history_of(text)',
    'paycons.stats()',
    'paycons.callback_outcomes_last_hour()',
    'paycons.outbox_redrive(bigint[])',
    'paycons.retry_compensation(bigint)',
    'paycons.resolve_diff(bigint,text,text)',
    'paycons.resolve_review(text,text,text)',
    'paycons.load_statement(text,date,text,text,boolean)',
    'paycons.load_statement_upload(text,date,text,regclass,boolean)',
    'paycons.reconcile_statement(text,date)',
    'paycons.verify(timestamp with time zone)'], 'the operator role may call exactly the on-call functions and the read API');
SELECT set_eq($$SELECT p.oid::regprocedure::text FROM pg_proc p
                WHERE p.pronamespace = 'paycons'::regnamespace
                  AND has_function_privilege('public', p.oid, 'EXECUTE')$$, ARRAY[
    'paycons.order_state_in(cstring)',
    'paycons.order_state_out(paycons.order_state)',
    'paycons.order_state_recv(internal)',
    'paycons.order_state_send(paycons.order_state)',
    'paycons.order_state_eq(paycons.order_state,paycons.order_state)',
    'paycons.order_state_ne(paycons.order_state,paycons.order_state)',
    'paycons.order_state_lt(paycons.order_state,paycons.order_state)',
    'paycons.order_state_le(paycons.order_state,paycons.order_state)',
    'paycons.order_state_gt(paycons.order_state,paycons.order_state)',
    'paycons.order_state_ge(paycons.order_state,paycons.order_state)',
    'paycons.order_state_cmp(paycons.order_state,paycons.order_state)',
    'paycons.order_state_hash(paycons.order_state)',
    'paycons.order_state_hash_extended(paycons.order_state,bigint)',
    'paycons.can_transition(paycons.order_state,paycons.order_state)',
    'paycons.next_states(paycons.order_state)',
    'paycons.all_states()',
    'paycons.is_terminal(paycons.order_state)',
    'paycons.state_graph(text)',
    'paycons.order_guard()'], 'PUBLIC may call only the type, the pure state-machine functions and the guard');
-- the owner's functions are nobody else's
SELECT is_empty($$SELECT p.oid::regprocedure FROM pg_proc p
                  WHERE p.pronamespace = 'paycons'::regnamespace
                    AND p.proname ~ '^(grant_|allow_|disallow_|set_channel|drop_channel|set_statement_settings|run_maintenance|set_retry_policy|outbox_maintain|require_)'
                    AND (has_function_privilege('tap_sec_app', p.oid, 'EXECUTE')
                         OR has_function_privilege('tap_sec_consumer', p.oid, 'EXECUTE')
                         OR has_function_privilege('tap_sec_operator', p.oid, 'EXECUTE'))$$,
                'grants, registrations, channels, statement settings and maintenance are the owner''s');
-- owner code in SQL or PL/pgSQL pins search_path (C code pins it in as_owner.c)
SELECT is_empty($$SELECT p.oid::regprocedure FROM pg_proc p
                   JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                                   AND d.deptype = 'e'
                   JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'paycons'
                  WHERE p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c')
                    AND NOT coalesce(p.proconfig, '{}') @> ARRAY['search_path=pg_catalog, paycons, pg_temp']$$,
                'every SQL and PL/pgSQL function of paycons pins search_path = pg_catalog, paycons, pg_temp');
-- a role calls what is its own, and is refused the rest
SELECT is(pg_temp.try_as('tap_sec_consumer', $$SELECT paycons.create_order('tap-sec-1', 100, 'CNY')$$),
          '42501', 'a consumer cannot create orders');
SELECT is(pg_temp.try_as('tap_sec_app', $$SELECT * FROM paycons.outbox_claim('tap', 1)$$),
          '42501', 'an application role cannot claim events');
SELECT is(pg_temp.try_as('tap_sec_operator', $$SELECT paycons.transition('tap-sec-1', 'paid')$$),
          '42501', 'an operator cannot move orders');
SELECT is(pg_temp.try_as('tap_sec_app', $$SELECT paycons.outbox_redrive(ARRAY[1]::bigint[])$$),
          '42501', 'an application role cannot redrive dead events');
SELECT is(pg_temp.try_as('tap_sec_app', $$SELECT paycons.create_order('tap-sec-1', 100, 'CNY')$$),
          'ok', 'the application role creates an order');
SELECT is(pg_temp.try_as('tap_sec_consumer', $$SELECT paycons.get_order('tap-sec-1')$$),
          'ok', 'the consumer reads it through the API');
SELECT is(pg_temp.try_as('tap_sec_consumer', $$SELECT * FROM paycons.outbox_claim('tap', 1)$$),
          'ok', 'the consumer claims events');
SELECT is(pg_temp.try_as('tap_sec_operator', $$SELECT * FROM paycons.health$$),
          'ok', 'the operator reads the health view');
SELECT is(pg_temp.try_as('tap_sec_operator', $$SELECT * FROM paycons.order_history_of('tap-sec-1')$$),
          'ok', 'the operator reads an order''s history through the API');

-- ---------------------------------------------------------------------
-- No role reads a table directly: no privilege on any table, column or
-- sequence of paycons, and a read is refused.
SELECT is_empty($$SELECT r.role, c.oid::regclass FROM pg_class c,
                         unnest(ARRAY['tap_sec_app', 'tap_sec_consumer', 'tap_sec_operator']) r(role)
                  WHERE c.relnamespace = 'paycons'::regnamespace AND c.relkind IN ('r', 'p', 'm', 'f')
                    AND (has_table_privilege(r.role, c.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER')
                         OR has_any_column_privilege(r.role, c.oid, 'SELECT,INSERT,UPDATE,REFERENCES'))$$,
                'no role holds any privilege on a paycons table or column');
SELECT is_empty($$SELECT r.role, c.oid::regclass FROM pg_class c,
                         unnest(ARRAY['tap_sec_app', 'tap_sec_consumer', 'tap_sec_operator']) r(role)
                  WHERE c.relnamespace = 'paycons'::regnamespace AND c.relkind = 'S'
                    AND has_sequence_privilege(r.role, c.oid, 'USAGE,SELECT,UPDATE')$$,
                'no role holds any privilege on a paycons sequence');
SELECT is_empty($$SELECT r.role, c.oid::regclass FROM pg_class c,
                         unnest(ARRAY['tap_sec_app', 'tap_sec_consumer']) r(role)
                  WHERE c.relnamespace = 'paycons'::regnamespace AND c.relkind = 'v'
                    AND has_table_privilege(r.role, c.oid, 'SELECT')$$,
                'application and consumer roles read no view either: only the API');
SELECT set_eq($$SELECT c.oid::regclass::text FROM pg_class c
                WHERE c.relnamespace = 'paycons'::regnamespace AND c.relkind = 'v'
                  AND has_table_privilege('tap_sec_operator', c.oid, 'SELECT')$$,
              ARRAY['paycons.health', 'paycons.order_counts', 'paycons.outbox_dead_letters',
                    'paycons.open_reconciliation_diffs', 'paycons.dead_compensations'],
              'the operator reads exactly the on-call views');
SELECT is_empty($$SELECT r.role, c.oid::regclass FROM pg_class c,
                         unnest(ARRAY['tap_sec_app', 'tap_sec_consumer', 'tap_sec_operator']) r(role)
                  WHERE c.relnamespace = 'paycons'::regnamespace AND c.relkind = 'v'
                    AND has_table_privilege(r.role, c.oid, 'INSERT,UPDATE,DELETE,TRUNCATE')$$,
                'no role writes through a view');
SELECT is(pg_temp.try_as('tap_sec_app', $$SELECT * FROM paycons.orders$$), '42501',
          'the application role cannot read paycons.orders');
SELECT is(pg_temp.try_as('tap_sec_app', $$SELECT * FROM paycons.order_history$$), '42501',
          'the application role cannot read paycons.order_history');
SELECT is(pg_temp.try_as('tap_sec_consumer', $$SELECT * FROM paycons.outbox$$), '42501',
          'the consumer cannot read paycons.outbox');
SELECT is(pg_temp.try_as('tap_sec_operator', $$SELECT * FROM paycons.compensations$$), '42501',
          'the operator cannot read paycons.compensations');
SELECT is(pg_temp.try_as('tap_sec_operator', $$SELECT * FROM paycons.callbacks$$), '42501',
          'the operator cannot read paycons.callbacks');

-- ---------------------------------------------------------------------
-- No role sees a channel secret.
SELECT lives_ok($$SELECT paycons.set_channel('tap_sec_chan', secret => 'TOPSECRET', require_signature => true)$$,
                'a channel with a secret');
SELECT is_empty($$SELECT r.role FROM unnest(ARRAY['tap_sec_app', 'tap_sec_consumer', 'tap_sec_operator']) r(role)
                  WHERE has_column_privilege(r.role, 'paycons.channels', 'secret', 'SELECT')$$,
                'no role may select paycons.channels.secret');
SELECT is(pg_temp.try_as('tap_sec_app', $$SELECT secret FROM paycons.channels$$), '42501',
          'the application role cannot read the secret');
SELECT is(pg_temp.try_as('tap_sec_operator', $$SELECT secret FROM paycons.channels$$), '42501',
          'the operator cannot read the secret');
SELECT is_empty($$SELECT DISTINCT v.ev_class::regclass FROM pg_rewrite v
                   JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = v.oid
                  WHERE d.refobjid = 'paycons.channels'::regclass
                    AND (has_table_privilege('tap_sec_app', v.ev_class, 'SELECT')
                         OR has_table_privilege('tap_sec_consumer', v.ev_class, 'SELECT')
                         OR has_table_privilege('tap_sec_operator', v.ev_class, 'SELECT'))$$,
                'no view a role may read is built on paycons.channels');
SELECT is_empty($$SELECT p.oid::regprocedure FROM pg_proc p
                  WHERE p.pronamespace = 'paycons'::regnamespace
                    AND (has_function_privilege('tap_sec_app', p.oid, 'EXECUTE')
                         OR has_function_privilege('tap_sec_consumer', p.oid, 'EXECUTE')
                         OR has_function_privilege('tap_sec_operator', p.oid, 'EXECUTE'))
                    AND (p.prorettype = 'paycons.channels'::regtype
                         OR 'paycons.channels'::regtype = ANY (coalesce(p.proallargtypes, p.proargtypes::oid[]))
                         OR 'secret' = ANY (coalesce(p.proargnames, '{}')))$$,
                'no function a role may call returns a channel row or a secret');
SELECT is((SELECT count(*)::int FROM pg_temp.try_as('tap_sec_app',
              $$SELECT paycons.apply_callback('tap_sec_chan', 'tap-T', 'tap-sec-1', 'payment', 'success', 100, 'CNY')$$) t
            WHERE t = 'ok'), 1, 'the application role applies a callback of that channel all the same');
SELECT is((SELECT bad_signatures FROM paycons.channels WHERE channel = 'tap_sec_chan'), 1::bigint,
          '(unsigned: refused as bad_signature, as the channel requires)');

-- ---------------------------------------------------------------------
-- No role writes any paycons table: every INSERT, UPDATE, DELETE and
-- TRUNCATE of every table is refused to every role.
CREATE FUNCTION pg_temp.writes_allowed(role text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    t regclass;
    col text;
    q text;
BEGIN
    FOR t IN SELECT c.oid FROM pg_class c
              WHERE c.relnamespace = 'paycons'::regnamespace AND c.relkind IN ('r', 'p')
              ORDER BY c.relname
    LOOP
        SELECT quote_ident(a.attname) INTO col FROM pg_attribute a
         WHERE a.attrelid = t AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum LIMIT 1;
        FOREACH q IN ARRAY ARRAY[
            format('INSERT INTO %s DEFAULT VALUES', t),
            format('UPDATE %s SET %s = %s', t, col, col),
            format('DELETE FROM %s', t),
            format('TRUNCATE %s', t)]
        LOOP
            IF pg_temp.try_as(role, q) <> '42501' THEN
                RETURN NEXT q;
            END IF;
        END LOOP;
    END LOOP;
END;
$$;
SELECT is_empty($$SELECT pg_temp.writes_allowed('tap_sec_app')$$,
                'the application role writes no paycons table');
SELECT is_empty($$SELECT pg_temp.writes_allowed('tap_sec_consumer')$$,
                'the consumer writes no paycons table');
SELECT is_empty($$SELECT pg_temp.writes_allowed('tap_sec_operator')$$,
                'the operator writes no paycons table');
SELECT is_empty($$SELECT pg_temp.writes_allowed('tap_sec_nogrant')$$,
                'nor does a role with no grant');
SELECT ok((SELECT count(*) FROM pg_class WHERE relnamespace = 'paycons'::regnamespace AND relkind IN ('r', 'p')) >= 15,
          '(that is every one of the paycons tables)');

-- ---------------------------------------------------------------------
-- The owner's registrations are the owner's.
SELECT is(pg_temp.try_as('tap_sec_app', $$SELECT paycons.allow_emit('tap_sec_app', 'order')$$), '42501',
          'an application role cannot allow itself to emit order events');
SELECT is(pg_temp.try_as('tap_sec_app', $$SELECT paycons.emit('order', 'tap-sec-1', 'order.paid', '{}')$$), 'PC025',
          'nor emit them');
SELECT lives_ok($$SELECT paycons.allow_emit('tap_sec_app', 'order')$$, 'the owner allows it');
SELECT is(pg_temp.try_as('tap_sec_app', $$SELECT paycons.emit('order', 'tap-sec-1', 'order.note', '{}')$$), 'ok',
          'then it may');
SELECT throws_ok($$SELECT paycons.allow_emit('tap_sec_nobody', 'order')$$, 'PC026',
                 'role "tap_sec_nobody" does not exist', 'allow_emit: unknown role');
SELECT has_table('paycons', 'history_tables', 'registrations: history_tables');
SELECT has_table('paycons', 'outbox_tables', 'registrations: outbox_tables');
SELECT has_table('paycons', 'emit_roles', 'registrations: emit_roles');

SELECT * FROM finish();
ROLLBACK;
