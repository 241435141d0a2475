-- pgTAP: the tables, functions, views and privileges of compensations,
-- stock reservations and maintenance.  Run by pg_prove against a database
-- with pgtap and paycons.
BEGIN;
SELECT plan(45);

-- tables and their keys
SELECT has_table('paycons', 'retry_policies', 'retry_policies exists');
SELECT has_table('paycons', 'compensations', 'compensations exists');
SELECT has_table('paycons', 'stock', 'stock exists');
SELECT has_table('paycons', 'stock_orders', 'stock_orders exists');
SELECT has_table('paycons', 'stock_reservations', 'stock_reservations exists');
SELECT has_table('paycons', 'order_probes', 'order_probes exists');
SELECT col_is_pk('paycons', 'stock_reservations', ARRAY['order_id', 'sku'], 'reservation lines keyed by (order_id, sku)');
SELECT col_is_unique('paycons', 'compensations', ARRAY['order_id', 'action'], 'one compensation per (order_id, action)');
SELECT has_view('paycons', 'health', 'health view exists');
SELECT has_view('paycons', 'order_counts', 'order_counts view exists');

-- the partial indexes the retry loop and the health view read
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index
            WHERE indexrelid = 'paycons.compensations_due'::regclass),
          '(state = ANY (ARRAY[''pending''::text, ''waiting_external''::text]))',
          'compensations_due covers only steps that can be due');
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index
            WHERE indexrelid = 'paycons.stock_orders_reserved'::regclass),
          '(state = ''reserved''::text)', 'stock_orders_reserved covers open reservations');

-- pg_dump keeps the data (the five built-in retry policies come back with the extension)
SELECT is((SELECT count(*)::int FROM pg_extension e, unnest(e.extconfig) c
            WHERE e.extname = 'paycons'
              AND c::regclass::text IN ('paycons.retry_policies', 'paycons.compensations',
                                        'paycons.stock', 'paycons.stock_orders',
                                        'paycons.stock_reservations', 'paycons.order_probes')), 6,
          'every table of this section is extension configuration');
SELECT is((SELECT count(*)::int FROM paycons.retry_policies
            WHERE action IN ('*', 'release_stock', 'refund', 'payment.query', 'refund.query')), 5,
          'built-in retry policies installed');

-- functions: signatures, not strict (NULLs get 22004), volatility
SELECT has_function('paycons', 'enqueue_compensation', ARRAY['text', 'text', 'regprocedure', 'jsonb']);
SELECT has_function('paycons', 'complete_compensation', ARRAY['bigint', 'boolean', 'text']);
SELECT has_function('paycons', 'complete_refund_for', ARRAY['text', 'bigint', 'text', 'text']);
SELECT has_function('paycons', 'reserve_stock', ARRAY['text', 'jsonb']);
SELECT has_function('paycons', 'release_stock', ARRAY['text', 'jsonb']);
SELECT has_function('paycons', 'run_maintenance', ARRAY[]::text[]);
SELECT has_function('paycons', 'stats', ARRAY[]::text[]);
SELECT has_function('paycons', 'wake', ARRAY[]::text[]);
SELECT isnt_strict('paycons', 'reserve_stock', ARRAY['text', 'jsonb'], 'reserve_stock is not strict');
SELECT isnt_strict('paycons', 'enqueue_compensation', ARRAY['text', 'text', 'regprocedure', 'jsonb'],
                   'enqueue_compensation is not strict');
SELECT volatility_is('paycons', 'run_maintenance', ARRAY[]::text[], 'volatile');
SELECT function_returns('paycons', 'run_maintenance', ARRAY[]::text[], 'jsonb');
SELECT is((SELECT count(*)::int FROM pg_proc p
            WHERE p.pronamespace = 'paycons'::regnamespace
              AND p.proname IN ('enqueue_compensation', 'complete_compensation', 'complete_refund_for',
                                'add_stock', 'reserve_stock', 'commit_stock', 'release_stock',
                                'run_maintenance', 'wake', 'stats', 'set_retry_policy',
                                'retry_delay', 'retry_compensation', 'callback_outcomes',
                                'callback_outcomes_last_hour', 'grant_monitor_role')
              AND obj_description(p.oid, 'pg_proc') IS NULL), 0,
          'every function of this section has a comment');

-- privileges: PUBLIC runs nothing here; an application role runs the API only
SELECT ok(NOT has_function_privilege('public', 'paycons.run_maintenance()', 'EXECUTE'),
          'PUBLIC cannot run maintenance');
SELECT ok(NOT has_function_privilege('public', 'paycons.reserve_stock(text,jsonb)', 'EXECUTE'),
          'PUBLIC cannot reserve stock');
CREATE ROLE regress_paycons_tap_worker_app;
SELECT paycons.grant_app_role('regress_paycons_tap_worker_app');
SELECT ok(has_function_privilege('regress_paycons_tap_worker_app', 'paycons.reserve_stock(text,jsonb)', 'EXECUTE'),
          'app role can reserve stock');
SELECT ok(has_function_privilege('regress_paycons_tap_worker_app',
          'paycons.complete_compensation(bigint,boolean,text)', 'EXECUTE'),
          'app role can complete external compensations');
SELECT ok(has_function_privilege('regress_paycons_tap_worker_app',
          'paycons.enqueue_compensation(text,text,regprocedure,jsonb)', 'EXECUTE'),
          'app role can enqueue compensations');
SELECT ok(NOT has_function_privilege('regress_paycons_tap_worker_app', 'paycons.run_maintenance()', 'EXECUTE'),
          'app role cannot run maintenance');
SELECT ok(NOT has_function_privilege('regress_paycons_tap_worker_app',
          'paycons.set_retry_policy(text,interval,double precision,interval,integer,double precision,text[])', 'EXECUTE'),
          'app role cannot change retry policies');
SELECT ok(NOT has_table_privilege('regress_paycons_tap_worker_app', 'paycons.stock', 'SELECT,INSERT,UPDATE,DELETE')
          AND NOT has_table_privilege('regress_paycons_tap_worker_app', 'paycons.compensations', 'SELECT,INSERT,UPDATE,DELETE'),
          'app role has no privilege on the stock and compensation tables');

-- monitoring: a role granted by grant_monitor_role reads health, counts
-- and stats, and nothing on the tables; health's needs_review count has
-- its partial index
SELECT has_function('paycons', 'callback_outcomes', ARRAY['interval']);
SELECT has_function('paycons', 'grant_monitor_role', ARRAY['text']);
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index
            WHERE indexrelid = 'paycons.orders_needs_review_since'::regclass),
          '(state OPERATOR(paycons.=) ''needs_review''::paycons.order_state)', 'orders_needs_review_since covers only orders in review');
SELECT ok(NOT has_function_privilege('public', 'paycons.grant_monitor_role(text)', 'EXECUTE'),
          'PUBLIC cannot grant monitoring');
SELECT ok(NOT has_function_privilege('public', 'paycons.callback_outcomes(interval)', 'EXECUTE'),
          'PUBLIC cannot read callback outcomes');
CREATE ROLE regress_paycons_tap_monitor;
SELECT paycons.grant_monitor_role('regress_paycons_tap_monitor');
SELECT ok(has_table_privilege('regress_paycons_tap_monitor', 'paycons.health', 'SELECT')
          AND has_table_privilege('regress_paycons_tap_monitor', 'paycons.order_counts', 'SELECT'),
          'monitor role reads health and order counts');
SELECT ok(has_function_privilege('regress_paycons_tap_monitor', 'paycons.stats()', 'EXECUTE')
          AND has_function_privilege('regress_paycons_tap_monitor', 'paycons.callback_outcomes(interval)', 'EXECUTE')
          AND has_function_privilege('regress_paycons_tap_monitor', 'paycons.callback_outcomes_last_hour()', 'EXECUTE'),
          'monitor role runs stats() and the callback outcome functions');
SELECT ok(NOT has_table_privilege('regress_paycons_tap_monitor', 'paycons.callbacks', 'SELECT')
          AND NOT has_table_privilege('regress_paycons_tap_monitor', 'paycons.orders', 'SELECT')
          AND NOT has_function_privilege('regress_paycons_tap_monitor', 'paycons.run_maintenance()', 'EXECUTE'),
          'monitor role reads no table and runs no maintenance');
SELECT is_definer('paycons', 'callback_outcomes', ARRAY['interval'], 'callback_outcomes runs as the owner');

-- the stock trigger checks how it was called
SELECT throws_ok('SELECT paycons.stock_on_order_state()', '39P01', NULL,
                 'the stock trigger function refuses a direct call');

SELECT * FROM finish();
ROLLBACK;
