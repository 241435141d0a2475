-- pgTAP: the schema, type, operators, functions and privileges of the
-- order hub.  Run by pg_prove against a database with pgtap and paycons.
BEGIN;
SELECT plan(52);

SELECT has_schema('paycons');
SELECT is((SELECT extrelocatable FROM pg_extension WHERE extname = 'paycons'), false,
          'paycons is not relocatable');
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'paycons'), '0.2.0',
          'installed version is 0.2.0');

-- the type
SELECT has_type('paycons', 'order_state', 'type order_state exists');
SELECT is((SELECT typlen::int FROM pg_type WHERE oid = 'paycons.order_state'::regtype), 1,
          'order_state is one byte');
SELECT ok((SELECT typbyval FROM pg_type WHERE oid = 'paycons.order_state'::regtype),
          'order_state is passed by value');
SELECT ok((SELECT typreceive <> 0 AND typsend <> 0 FROM pg_type
            WHERE oid = 'paycons.order_state'::regtype),
          'order_state has binary send/recv');

-- operators, and one cmp behind the btree class
SELECT has_operator('paycons.order_state', 'paycons', '=', 'paycons.order_state', 'boolean', 'operator = on order_state');
SELECT has_operator('paycons.order_state', 'paycons', '<>', 'paycons.order_state', 'boolean', 'operator <> on order_state');
SELECT has_operator('paycons.order_state', 'paycons', '<', 'paycons.order_state', 'boolean', 'operator < on order_state');
SELECT has_operator('paycons.order_state', 'paycons', '<=', 'paycons.order_state', 'boolean', 'operator <= on order_state');
SELECT has_operator('paycons.order_state', 'paycons', '>', 'paycons.order_state', 'boolean', 'operator > on order_state');
SELECT has_operator('paycons.order_state', 'paycons', '>=', 'paycons.order_state', 'boolean', 'operator >= on order_state');
SELECT has_opclass('paycons', 'order_state_ops', 'btree class exists');
SELECT has_opclass('paycons', 'order_state_hash_ops', 'hash class exists');
SELECT ok((SELECT opcdefault FROM pg_opclass WHERE opcname = 'order_state_ops'),
          'btree class is the default');
SELECT ok((SELECT opcdefault FROM pg_opclass WHERE opcname = 'order_state_hash_ops'),
          'hash class is the default');
SELECT ok((SELECT oprcanhash AND oprcanmerge FROM pg_operator
            WHERE oprname = '=' AND oprleft = 'paycons.order_state'::regtype),
          '= supports hash and merge joins');
SELECT is((SELECT count(*)::int FROM pg_operator
            WHERE oprleft = 'paycons.order_state'::regtype
              AND (oprcom = 0 OR oprnegate = 0)), 0,
          'every operator declares a commutator and a negator');

-- tables and columns
SELECT has_table('paycons', 'orders', 'orders exists');
SELECT has_table('paycons', 'order_history', 'order_history exists');
SELECT col_is_pk('paycons', 'orders', 'order_id', 'order_id is the primary key');
SELECT col_type_is('paycons', 'orders', 'state', 'paycons', 'order_state', 'orders.state is order_state');
SELECT col_type_is('paycons', 'orders', 'amount', 'bigint', 'amount is bigint minor units');
SELECT col_type_is('paycons', 'orders', 'paid_amount', 'bigint', 'paid_amount is bigint');
SELECT col_type_is('paycons', 'orders', 'refunded_amount', 'bigint', 'refunded_amount is bigint');
SELECT col_type_is('paycons', 'orders', 'metadata', 'jsonb', 'metadata is jsonb');
SELECT col_not_null('paycons', 'orders', 'state', 'state is not null');
SELECT col_type_is('paycons', 'order_history', 'txid', 'xid8', 'history records the transaction');
SELECT is((SELECT count(*)::int FROM information_schema.columns
            WHERE table_schema = 'paycons'
              AND data_type IN ('real', 'double precision', 'numeric')
              AND column_name ~ 'amount'), 0,
          'no money column is float or numeric');

-- triggers
SELECT has_trigger('paycons', 'orders', 'paycons_guard', 'guard trigger on orders');
SELECT has_trigger('paycons', 'orders', 'paycons_history_insert', 'history trigger on insert');
SELECT has_trigger('paycons', 'orders', 'paycons_history_update', 'history trigger on update');
SELECT trigger_is('paycons', 'orders', 'paycons_guard', 'paycons', 'order_guard',
                  'the guard runs paycons.order_guard()');

-- partial indexes for the sweep
SELECT has_index('paycons', 'orders', 'orders_paying_deadline', 'partial index on paying orders');
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index
            WHERE indexrelid = 'paycons.orders_paying_deadline'::regclass),
          '(state OPERATOR(paycons.=) ''paying''::paycons.order_state)',
          'its predicate is state = paying');

-- functions
SELECT has_function('paycons', 'create_order', ARRAY['text', 'bigint', 'text', 'interval', 'jsonb']);
SELECT has_function('paycons', 'begin_payment', ARRAY['text', 'text']);
SELECT has_function('paycons', 'transition', ARRAY['text', 'paycons.order_state', 'text']);
SELECT has_function('paycons', 'can_transition', ARRAY['paycons.order_state', 'paycons.order_state']);
SELECT has_function('paycons', 'next_states', ARRAY['paycons.order_state']);
SELECT has_function('paycons', 'is_terminal', ARRAY['paycons.order_state']);
SELECT has_function('paycons', 'state_graph', ARRAY['text']);
SELECT volatility_is('paycons', 'can_transition', ARRAY['paycons.order_state', 'paycons.order_state'], 'immutable');
SELECT volatility_is('paycons', 'create_order', ARRAY['text', 'bigint', 'text', 'interval', 'jsonb'], 'volatile');
SELECT is_strict('paycons', 'can_transition', ARRAY['paycons.order_state', 'paycons.order_state']);
SELECT isnt_strict('paycons', 'create_order', ARRAY['text', 'bigint', 'text', 'interval', 'jsonb'],
                   'create_order is not strict: NULL arguments get a clear error');

-- privileges: PUBLIC holds nothing on any paycons table, view or sequence
SELECT is((SELECT count(*)::int
             FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
            WHERE c.relnamespace = 'paycons'::regnamespace
              AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
              AND a.grantee = 0), 0,
          'PUBLIC holds no privilege on any paycons relation');
SELECT is((SELECT count(*)::int FROM pg_proc p, aclexplode(p.proacl) a
            WHERE p.pronamespace = 'paycons'::regnamespace
              AND a.grantee = 0
              AND p.proname IN ('create_order', 'begin_payment', 'transition')), 0,
          'PUBLIC cannot execute the order API');
SELECT ok(has_function_privilege('public', 'paycons.order_state_eq(paycons.order_state,paycons.order_state)', 'EXECUTE'),
          'PUBLIC can use the order_state operators');

-- an application role: the API, and nothing on the tables
CREATE ROLE regress_paycons_tap_app;
SELECT paycons.grant_app_role('regress_paycons_tap_app');
SELECT ok(has_function_privilege('regress_paycons_tap_app',
          'paycons.create_order(text,bigint,text,interval,jsonb)', 'EXECUTE'),
          'app role can create orders');
SELECT ok(NOT has_table_privilege('regress_paycons_tap_app', 'paycons.orders', 'SELECT,INSERT,UPDATE,DELETE'),
          'app role has no privilege on paycons.orders');

SELECT * FROM finish();
ROLLBACK;
