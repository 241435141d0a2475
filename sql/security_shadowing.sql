-- security_shadowing: a hostile caller's objects never run with the
-- owner's rights.
--
-- A role holding every grant paycons hands out (application, consumer and
-- operator) owns a schema, puts it first in its search_path -- ahead of
-- pg_catalog -- and plants there operators (=, <>, <, ||, ~, +, ->>, ...
-- on text, bigint, jsonb, order_state, ...) and functions (now, lower,
-- coalesce, jsonb_build_object, to_jsonb, format, ...) that would record
-- current_user (in a table, in a sequence that no rollback undoes, and in a
-- NOTICE).  It then calls EVERY paycons function it may execute -- the
-- list comes from the catalog, so a function added later without a call
-- here fails this test -- with arguments that make it do its work, and
-- reads every paycons view it may read.  None of the planted objects runs.
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS paycons; RESET client_min_messages;

SET client_min_messages = warning;
DROP SCHEMA IF EXISTS regress_sec_evil CASCADE;
DROP ROLE IF EXISTS regress_sec_hostile;
RESET client_min_messages;
CREATE ROLE regress_sec_hostile;
SELECT paycons.grant_app_role('regress_sec_hostile');
SELECT paycons.grant_consumer_role('regress_sec_hostile');
SELECT paycons.grant_operator_role('regress_sec_hostile');
CREATE SCHEMA regress_sec_evil AUTHORIZATION regress_sec_hostile;

-- ---------------------------------------------------------------------
-- The trap, planted by the hostile role in its own schema.
SET ROLE regress_sec_hostile;
SET search_path = pg_catalog, public;
CREATE TABLE regress_sec_evil.hits (who text, what text);
CREATE SEQUENCE regress_sec_evil.hit_seq;
GRANT INSERT ON regress_sec_evil.hits TO PUBLIC;
GRANT USAGE, UPDATE ON SEQUENCE regress_sec_evil.hit_seq TO PUBLIC;
GRANT USAGE ON SCHEMA regress_sec_evil TO PUBLIC;
CREATE FUNCTION regress_sec_evil.hit(what text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM pg_catalog.nextval('regress_sec_evil.hit_seq');
    INSERT INTO regress_sec_evil.hits VALUES (current_user, what);
    RAISE NOTICE 'HIJACKED: % ran as %', what, current_user;
END;
$$;

-- Operators: a shadow of every binary operator of these names on these
-- types, in pg_catalog and in paycons.
DO $do$
DECLARE
    o record;
    n int := 0;
BEGIN
    FOR o IN
        SELECT op.oprname, nsp.nspname, op.oprleft::regtype AS l,
               op.oprright::regtype AS r, op.oprresult::regtype AS res
          FROM pg_operator op JOIN pg_namespace nsp ON nsp.oid = op.oprnamespace
         WHERE nsp.nspname IN ('pg_catalog', 'paycons') AND op.oprkind = 'b'
           AND op.oprname IN ('=', '<>', '<', '<=', '>', '>=', '||', '~', '~~', '!~',
                              '+', '-', '*', '%', '->', '->>', '?', '@>')
           AND op.oprleft::regtype::text IN ('text', 'bigint', 'integer', 'smallint', 'numeric',
                    'boolean', 'timestamp with time zone', 'interval', 'date', 'jsonb', 'oid',
                    'xid', 'tid', 'xid8', 'bytea', '"char"', 'name', 'double precision',
                    'paycons.order_state')
           AND op.oprright::regtype::text IN ('text', 'bigint', 'integer', 'smallint', 'numeric',
                    'boolean', 'timestamp with time zone', 'interval', 'date', 'jsonb', 'oid',
                    'xid', 'tid', 'xid8', 'bytea', '"char"', 'name', 'double precision',
                    'paycons.order_state', 'text[]')
    LOOP
        n := n + 1;
        EXECUTE format($f$CREATE FUNCTION regress_sec_evil.op_%s(l %s, r %s) RETURNS %s
                           LANGUAGE plpgsql SET search_path = pg_catalog AS $b$
                           BEGIN
                               PERFORM regress_sec_evil.hit(%L);
                               RETURN l OPERATOR(%I.%s) r;
                           END $b$$f$,
                       n, o.l, o.r, o.res,
                       format('operator %s(%s, %s)', o.oprname, o.l, o.r),
                       o.nspname, o.oprname);
        EXECUTE format('CREATE OPERATOR regress_sec_evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = regress_sec_evil.op_%s)',
                       o.oprname, o.l, o.r, n);
    END LOOP;
END;
$do$;

-- Functions: a shadow of every plain function of these names, same
-- arguments (names and defaults included) and result.
DO $do$
DECLARE
    f record;
    call_args text;
BEGIN
    FOR f IN
        SELECT p.oid, p.proname, p.pronargs,
               pg_get_function_arguments(p.oid) AS args,
               pg_get_function_result(p.oid) AS result
          FROM pg_proc p
         WHERE p.pronamespace = 'pg_catalog'::regnamespace
           AND p.prokind = 'f' AND NOT p.proretset AND p.proargmodes IS NULL
           AND p.proname IN ('now', 'clock_timestamp', 'statement_timestamp', 'lower', 'upper',
                             'length', 'octet_length', 'left', 'right', 'substr', 'replace',
                             'btrim', 'split_part', 'concat_ws', 'format', 'jsonb_build_object',
                             'jsonb_typeof', 'jsonb_set', 'jsonb_pretty', 'make_interval',
                             'date_part', 'date_trunc', 'current_setting', 'set_config',
                             'to_regclass', 'to_regprocedure', 'nextval', 'setval', 'currval',
                             'pg_current_xact_id', 'hashtext', 'hashtextextended', 'convert_to',
                             'convert_from', 'encode', 'decode', 'md5', 'sha256',
                             'array_to_string', 'array_length', 'quote_ident', 'quote_literal',
                             'pg_notify', 'pg_has_role', 'has_function_privilege',
                             'has_table_privilege', 'to_char', 'abs', 'round', 'random',
                             'int8', 'int4', 'text', 'pg_logical_emit_message',
                             'row_to_json', 'json_build_object', 'gen_random_uuid')
           AND NOT EXISTS (SELECT 1 FROM unnest(p.proargtypes::oid[] || p.prorettype) t(oid)
                            JOIN pg_type ty ON ty.oid = t.oid WHERE ty.typtype = 'p')
    LOOP
        SELECT string_agg('$' || i, ', ') INTO call_args FROM generate_series(1, f.pronargs) i;
        EXECUTE format($f$CREATE FUNCTION regress_sec_evil.%I(%s) RETURNS %s
                           LANGUAGE plpgsql SET search_path = pg_catalog AS $b$
                           BEGIN
                               PERFORM regress_sec_evil.hit(%L);
                               RETURN pg_catalog.%I(%s);
                           END $b$$f$,
                       f.proname, f.args, f.result,
                       format('function %s(%s)', f.proname, f.args),
                       f.proname, coalesce(call_args, ''));
    END LOOP;
END;
$do$;
-- ... and by hand the polymorphic and variadic ones, and the names that
-- only look like functions
CREATE FUNCTION regress_sec_evil.to_jsonb(v anyelement) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM regress_sec_evil.hit('function to_jsonb(anyelement)'); RETURN pg_catalog.to_jsonb(v); END $$;
CREATE FUNCTION regress_sec_evil.jsonb_build_object(k text, v text) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM regress_sec_evil.hit('function jsonb_build_object(text, text)'); RETURN pg_catalog.jsonb_build_object(k, v); END $$;
CREATE FUNCTION regress_sec_evil.jsonb_build_object(k text, v bigint) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM regress_sec_evil.hit('function jsonb_build_object(text, bigint)'); RETURN pg_catalog.jsonb_build_object(k, v); END $$;
CREATE FUNCTION regress_sec_evil.format(f text, a text) RETURNS text
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM regress_sec_evil.hit('function format(text, text)'); RETURN pg_catalog.format(f, a); END $$;
CREATE FUNCTION regress_sec_evil.format(f text, a text, b text) RETURNS text
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM regress_sec_evil.hit('function format(text, text, text)'); RETURN pg_catalog.format(f, a, b); END $$;
CREATE FUNCTION regress_sec_evil.concat(a text, b text) RETURNS text
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM regress_sec_evil.hit('function concat(text, text)'); RETURN pg_catalog.concat(a, b); END $$;
CREATE FUNCTION regress_sec_evil."coalesce"(a text, b text) RETURNS text
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM regress_sec_evil.hit('function coalesce(text, text)'); RETURN COALESCE(a, b); END $$;
CREATE FUNCTION regress_sec_evil."nullif"(a text, b text) RETURNS text
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM regress_sec_evil.hit('function nullif(text, text)'); RETURN NULLIF(a, b); END $$;
CREATE FUNCTION regress_sec_evil."greatest"(a bigint, b bigint) RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN PERFORM regress_sec_evil.hit('function greatest(bigint, bigint)'); RETURN GREATEST(a, b); END $$;
RESET ROLE;
RESET search_path;

-- how much was planted
SELECT count(*) > 100 AS operators_planted FROM pg_operator
 WHERE oprnamespace = 'regress_sec_evil'::regnamespace;
SELECT count(*) > 100 AS functions_planted FROM pg_proc
 WHERE pronamespace = 'regress_sec_evil'::regnamespace;
SELECT count(*) > 40 AS shadowed_function_names
  FROM (SELECT DISTINCT proname FROM pg_proc
         WHERE pronamespace = 'regress_sec_evil'::regnamespace
           AND proname !~ '^(op_[0-9]+|hit)$') s;

-- ---------------------------------------------------------------------
-- The trap works: the hostile role trips it itself, and code that runs
-- as the owner without a pinned search_path would run it as the owner.
SET ROLE regress_sec_hostile;
SET search_path = regress_sec_evil, pg_catalog, paycons, public;
SELECT 'a'::text = 'b'::text AS planted_equal;
SELECT lower('X') AS planted_lower;
RESET ROLE;
RESET search_path;
CREATE FUNCTION public.regress_sec_unpinned(t text) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER AS $$ SELECT t = 'x' $$;
GRANT EXECUTE ON FUNCTION public.regress_sec_unpinned(text) TO regress_sec_hostile;
SET ROLE regress_sec_hostile;
SET search_path = regress_sec_evil, pg_catalog, paycons, public;
SELECT public.regress_sec_unpinned('y') AS unpinned_definer;
RESET ROLE;
RESET search_path;
SELECT who, what FROM regress_sec_evil.hits ORDER BY what, who;
DROP FUNCTION public.regress_sec_unpinned(text);
TRUNCATE regress_sec_evil.hits;
SELECT setval('regress_sec_evil.hit_seq', 1, false);

-- ---------------------------------------------------------------------
-- Fixtures, made by the owner with a clean search_path.
SELECT paycons.set_channel('sec_sh');
-- a webhook of the generic hmac protocol, signed by the owner
SELECT paycons.set_channel('sec_gen', secret => 'sec-secret', require_signature => true,
                           signature_format => 'hex', protocol => 'hmac', body_format => 'json',
                           body_fields => '{"channel_txn_id": "id", "order_id": "order", "kind": "kind",
                                            "status": "status", "amount": "amount", "currency": "currency"}');
SELECT order_id FROM paycons.create_order('sec-s-7', 300, 'CNY');
\set gen_body '{"id": "sec-g-1", "order": "sec-s-7", "kind": "payment", "status": "success", "amount": 300, "currency": "CNY"}'
SELECT encode(paycons.hmac_sha256(convert_to('sec-secret', 'UTF8'), convert_to(:'gen_body', 'UTF8')), 'hex') AS gen_sig \gset
DELETE FROM paycons.outbox;
SELECT order_id FROM paycons.create_order('sec-s-fix', 800, 'CNY');
-- a dead outbox event to redrive, a dead compensation to retry, an open
-- reconciliation difference to resolve
SELECT paycons.emit('regress_sec_fixture', 'dead-1', 'x.dead', '{}') AS dead_event \gset
UPDATE paycons.outbox SET status = 'dead', attempts = 10 WHERE id = :dead_event;
SELECT paycons.enqueue_compensation('sec-s-fix', 'regress_sec_dead') AS dead_comp \gset
UPDATE paycons.compensations SET state = 'dead' WHERE id = :dead_comp;
INSERT INTO paycons.reconciliation_diffs (channel, channel_txn_id, diff, order_id)
VALUES ('sec_sh', 'sec-s-diff', 'fact_mismatch', 'sec-s-fix') RETURNING id AS diff_id \gset
-- the hostile role's own tables, allowed by the owner, with both triggers
SET ROLE regress_sec_hostile;
SET search_path = pg_catalog, public;
CREATE TABLE regress_sec_evil.items (no text PRIMARY KEY,
                                     status paycons.order_state NOT NULL DEFAULT 'created');
CREATE TRIGGER items_guard BEFORE INSERT OR UPDATE ON regress_sec_evil.items
    FOR EACH ROW EXECUTE FUNCTION paycons.order_guard('status');
CREATE TRIGGER items_history AFTER INSERT OR UPDATE ON regress_sec_evil.items
    FOR EACH ROW EXECUTE FUNCTION paycons.order_guard('status', 'no');
CREATE TRIGGER items_events AFTER INSERT OR UPDATE ON regress_sec_evil.items
    FOR EACH ROW EXECUTE FUNCTION paycons.outbox_trigger('regress_sec_item', 'no', 'item.{status}');
RESET ROLE;
RESET search_path;
SELECT paycons.allow_guarded_table('regress_sec_evil.items');
SELECT paycons.allow_outbox_table('regress_sec_evil.items', 'regress_sec_item');

-- Count every function call from here on (per function, this database).
SET track_functions = 'all';
SELECT pg_stat_force_next_flush();
CREATE TEMP TABLE sec_calls_before AS
    SELECT funcid, calls FROM pg_stat_user_functions;

-- ---------------------------------------------------------------------
-- The hostile phase: every statement runs as the hostile role with its
-- schema first.  The statements themselves use no operator and no
-- function but the paycons ones they call.
SET ROLE regress_sec_hostile;
SET search_path = regress_sec_evil, pg_catalog, paycons, public;

-- the order state type (PUBLIC)
SELECT paycons.order_state_in('paid'::cstring) AS state_in;
SELECT paycons.order_state_out('paid') AS state_out;
SELECT paycons.order_state_send('paid') AS state_send;
SELECT paycons.order_state_eq('paid', 'paid') AS eq, paycons.order_state_ne('paid', 'paying') AS ne,
       paycons.order_state_lt('paying', 'paid') AS lt, paycons.order_state_le('paid', 'paid') AS le,
       paycons.order_state_gt('paid', 'paying') AS gt, paycons.order_state_ge('paid', 'paid') AS ge,
       paycons.order_state_cmp('paid', 'paying') AS cmp;
SELECT paycons.order_state_hash('paid') IS NOT NULL AS hash,
       paycons.order_state_hash_extended('paid', 7) IS NOT NULL AS hash_extended;
SELECT paycons.can_transition('paying', 'paid') AS can, paycons.is_terminal('refunded') AS terminal;
SELECT s FROM paycons.next_states('paying') s;
SELECT array_agg(s) AS states FROM paycons.all_states() s;
SELECT paycons.state_graph('mermaid') IS NOT NULL AS graph;

-- orders
SELECT order_id, state FROM paycons.create_order('sec-s-1', 1000, 'CNY');
SELECT order_id, state FROM paycons.create_order('sec-s-1', 1000, 'CNY');    -- replay
SELECT order_id, state FROM paycons.begin_payment('sec-s-1', 'sec_sh');
SELECT order_id, state FROM paycons.create_order('sec-s-2', 500, 'CNY');
SELECT order_id, state FROM paycons.transition('sec-s-2', 'cancelled', 'shadow test');
SELECT order_id, state, paid_amount FROM paycons.get_order('sec-s-1');
SELECT from_state, to_state, actor FROM paycons.order_history_of('sec-s-1');

-- stock
SELECT sku, on_hand FROM paycons.add_stock('sec-sku', 5);
SELECT order_id, state FROM paycons.create_order('sec-s-3', 300, 'CNY');
SELECT paycons.reserve_stock('sec-s-3', '[{"sku": "sec-sku", "quantity": 2}]'::jsonb) AS reserved;
SELECT paycons.commit_stock('sec-s-3') AS committed;
SELECT paycons.release_stock('sec-s-4', '{}'::jsonb) AS released;

-- callbacks: a payment (guard, history, outbox, stock triggers), a refund
-- (the refund trigger, complete_refund_for), a replay
SELECT paycons.reserve_stock('sec-s-1', '[{"sku": "sec-sku", "quantity": 1}]'::jsonb) AS reserved;
SELECT outcome, state, duplicate FROM paycons.apply_callback('sec_sh', 'sec-s-T1', 'sec-s-1', 'payment', 'success', 1000, 'CNY');
SELECT outcome, state, duplicate FROM paycons.apply_callback('sec_sh', 'sec-s-T1', 'sec-s-1', 'payment', 'success', 1000, 'CNY');
SELECT outcome, state, duplicate FROM paycons.apply_callback('sec_sh', 'sec-s-T2', 'sec-s-2', 'payment', 'success', 500, 'CNY');
SELECT order_id, state FROM paycons.transition('sec-s-1', 'refunding', 'customer asked');
SELECT outcome, state, duplicate FROM paycons.apply_callback('sec_sh', 'sec-s-R1', 'sec-s-1', 'refund', 'success', 1000, 'CNY');
SELECT outcome, state, ack_status, order_id
  FROM paycons.apply_notification('sec_gen', :'gen_body', pg_catalog.jsonb_build_object('X-Signature', :'gen_sig'));
SELECT paycons.complete_refund_for('sec-s-2', 500, 'sec-s-T2', 'refunded by hand') IS NOT NULL AS completed;
-- a refused money edge runs the guard's checks too
SELECT order_id, state FROM paycons.create_order('sec-s-5', 100, 'CNY');
SELECT order_id, state FROM paycons.begin_payment('sec-s-5', 'sec_sh');
SELECT order_id, state FROM paycons.create_order('sec-s-6', 100, 'CNY');
SELECT paycons.transition('sec-s-5', 'paid');

-- compensations
SELECT paycons.enqueue_compensation('sec-s-3', 'regress_sec_ext', NULL, '{"k": "v"}'::jsonb) AS ext_comp \gset
SELECT action, state FROM paycons.complete_compensation(:ext_comp, true, 'done outside');
SELECT action, state, attempts FROM paycons.retry_compensation(:dead_comp);

-- events: emit, and the outbox and guard triggers on the role's own table
SELECT paycons.emit('regress_sec_cart', 'c-1', 'cart.paid', '{"total": 1}'::jsonb) IS NOT NULL AS emitted;
INSERT INTO regress_sec_evil.items VALUES ('item-1');
UPDATE regress_sec_evil.items SET status = 'paying';

-- consuming
SELECT min(id) AS ack_id, max(id) AS nack_id FROM paycons.outbox_claim('regress_sec_c', 100, '1 minute') \gset
SELECT paycons.outbox_ack(ARRAY[:ack_id]::bigint[], 'regress_sec_c') AS acked;
SELECT status FROM paycons.outbox_nack(:nack_id, 'shadow test', NULL, 'regress_sec_c');

-- operating
SELECT paycons.outbox_redrive(ARRAY[:dead_event]::bigint[]) AS redriven;
SELECT diff, resolution, resolved_by FROM paycons.resolve_diff(:diff_id, 'false_positive', 'checked in the shadow test');
-- a mismatched payment, and the operator's review decision
SELECT outcome, state FROM paycons.apply_callback('sec_sh', 'sec-s-T6', 'sec-s-6', 'payment', 'success', 50, 'CNY');
SELECT order_id, state, paid_amount FROM paycons.resolve_review('sec-s-6', 'refund', 'shadow test');
-- statements: load (as text, and from an upload table), reconcile
SELECT status, lines FROM paycons.load_statement('sec_sh', '2026-11-20', 'csv',
    E'channel_txn_id,order_id,kind,amount_minor,currency,fee_minor\nsec-s-T1,sec-s-1,payment,1000,CNY,0\n');
CREATE TEMP TABLE sec_upload (line_no bigint GENERATED ALWAYS AS IDENTITY, line text);
INSERT INTO sec_upload (line) VALUES ('channel_txn_id,order_id,kind,amount_minor,currency,fee_minor'),
                                      ('sec-s-T6,sec-s-6,payment,50,CNY,0');
SELECT status, lines FROM paycons.load_statement_upload('sec_sh', '2026-11-21', 'csv', 'sec_upload');
SELECT lines, matched FROM paycons.reconcile_statement('sec_sh', '2026-11-20');
-- auditing: verify() over everything, and over a window
SELECT invariant, key FROM paycons.verify() ORDER BY 1, 2;
SELECT invariant, key FROM paycons.verify('2026-01-01 00:00+00') ORDER BY 1, 2;
SELECT preloaded IS NOT NULL AS stats FROM paycons.stats();
SELECT paycons.callback_outcomes_last_hour() IS NOT NULL AS outcomes;
SELECT paycons.wake() IS NOT NULL AS woken;
RESET ROLE;
RESET search_path;

-- ... and every paycons view it may read, listed from the catalog
SELECT format('SET ROLE regress_sec_hostile; SET search_path = regress_sec_evil, pg_catalog, paycons, public; '
              'SELECT %L AS view, (SELECT count(*) FROM %s) IS NOT NULL AS read; RESET ROLE; RESET search_path',
              c.oid::regclass, c.oid::regclass)
  FROM pg_class c
 WHERE c.relnamespace = 'paycons'::regnamespace AND c.relkind = 'v'
   AND has_table_privilege('regress_sec_hostile', c.oid, 'SELECT')
 ORDER BY 1 \gexec

-- ---------------------------------------------------------------------
-- Verdict.
SELECT pg_stat_force_next_flush();
SELECT 1 AS flushed;

-- 1. None of the planted objects ran, not even in a rolled-back
--    subtransaction (the sequence would have moved).
SELECT who, what FROM regress_sec_evil.hits;
SELECT last_value, is_called FROM regress_sec_evil.hit_seq;

-- 2. Every paycons function the hostile role may execute was called in the
--    hostile phase (functions taking "internal" cannot be called from SQL).
--    A new function granted to a role, or to PUBLIC, appears here until a
--    call is added above.
SELECT p.oid::regprocedure AS not_called
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'paycons'
 WHERE has_function_privilege('regress_sec_hostile', p.oid, 'EXECUTE')
   AND NOT ('internal'::regtype = ANY (p.proargtypes::oid[]))
   AND coalesce((SELECT s.calls FROM pg_stat_user_functions s WHERE s.funcid = p.oid), 0)
       <= coalesce((SELECT b.calls FROM sec_calls_before b WHERE b.funcid = p.oid), 0)
 ORDER BY 1;
SELECT p.oid::regprocedure AS internal_only
  FROM pg_proc p
 WHERE p.pronamespace = 'paycons'::regnamespace
   AND has_function_privilege('regress_sec_hostile', p.oid, 'EXECUTE')
   AND 'internal'::regtype = ANY (p.proargtypes::oid[])
 ORDER BY 1;
SELECT count(*) > 40 AS enough_functions_called
  FROM pg_proc p
 WHERE p.pronamespace = 'paycons'::regnamespace
   AND has_function_privilege('regress_sec_hostile', p.oid, 'EXECUTE');

-- 3. The work really happened (as the hostile role, recorded as such).
SELECT order_id, state, paid_amount, refunded_amount FROM paycons.orders
 WHERE order_id LIKE 'sec-s-%' ORDER BY order_id;
SELECT DISTINCT actor FROM paycons.order_history WHERE order_id LIKE 'sec-s-%' AND actor <> 'postgres';
SELECT order_id, table_name, from_state, to_state FROM paycons.order_history
 WHERE table_name = 'regress_sec_evil.items' ORDER BY id;

-- ---------------------------------------------------------------------
-- leave nothing behind for later test files
RESET track_functions;
SELECT paycons.disallow_guarded_table('regress_sec_evil.items'),
       paycons.disallow_outbox_table('regress_sec_evil.items', 'regress_sec_item');
DELETE FROM paycons.outbox;
DELETE FROM paycons.compensations WHERE order_id LIKE 'sec-s-%';
DELETE FROM paycons.callbacks WHERE order_id LIKE 'sec-s-%';
DELETE FROM paycons.reconciliation_diffs WHERE order_id LIKE 'sec-s-%';
DELETE FROM paycons.stock_reservations WHERE order_id LIKE 'sec-s-%';
DELETE FROM paycons.stock_orders WHERE order_id LIKE 'sec-s-%';
DELETE FROM paycons.stock WHERE sku = 'sec-sku';
DELETE FROM paycons.order_probes WHERE order_id LIKE 'sec-s-%';
DELETE FROM paycons.order_history WHERE order_id LIKE 'sec-s-%' OR order_id = 'item-1';
DELETE FROM paycons.orders WHERE order_id LIKE 'sec-s-%';
SELECT paycons.drop_channel('sec_sh');
SET client_min_messages = warning;
DROP SCHEMA regress_sec_evil CASCADE;
RESET client_min_messages;
DROP OWNED BY regress_sec_hostile;
DROP ROLE regress_sec_hostile;
