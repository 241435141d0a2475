-- security_read_api: the read API an application or consumer role uses
-- instead of the tables (get_order, order_history_of), the operator's
-- resolve_diff, and the owner-only grant functions: bad input, each with
-- its SQLSTATE, and nothing written.
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS paycons; RESET client_min_messages;

CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END;
$$;
-- the SQLSTATE only (for messages naming a generated id)
CREATE FUNCTION pg_temp.code(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END;
$$;

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_sec_reader;
DROP ROLE IF EXISTS regress_sec_oncall;
RESET client_min_messages;
CREATE ROLE regress_sec_reader;
CREATE ROLE regress_sec_oncall;
SELECT paycons.grant_consumer_role('regress_sec_reader');
SELECT paycons.grant_operator_role('regress_sec_oncall');

SELECT order_id FROM paycons.create_order('sec-r-1', 1200, 'EUR', '1 hour', '{"cart": 7}');
SELECT order_id, state FROM paycons.begin_payment('sec-r-1', 'stripe');

-- a consumer reads the order and its history, never the tables
SET ROLE regress_sec_reader;
SELECT order_id, state, amount, currency, paid_amount, channel, metadata
  FROM paycons.get_order('sec-r-1');
SELECT from_state, to_state, reason, actor, forced, table_name
  FROM paycons.order_history_of('sec-r-1');
SELECT pg_temp.try($q$SELECT * FROM paycons.orders WHERE order_id = 'sec-r-1'$q$);
SELECT pg_temp.try($q$SELECT * FROM paycons.order_history$q$);
-- bad input
SELECT pg_temp.try($q$SELECT paycons.get_order(NULL)$q$);
SELECT pg_temp.try($q$SELECT paycons.get_order('')$q$);
SELECT pg_temp.try($q$SELECT paycons.get_order(E'a\tb')$q$);
SELECT pg_temp.try($q$SELECT paycons.get_order(repeat('x', 65))$q$);
SELECT pg_temp.try($q$SELECT paycons.get_order('sec-r-none')$q$);
SELECT pg_temp.try($q$SELECT * FROM paycons.order_history_of(NULL)$q$);
SELECT pg_temp.try($q$SELECT * FROM paycons.order_history_of('sec-r-none')$q$);
-- not the owner's functions
SELECT pg_temp.try($q$SELECT paycons.grant_app_role('regress_sec_reader')$q$);
SELECT pg_temp.try($q$SELECT paycons.allow_guarded_table('pg_class')$q$);
RESET ROLE;

-- the operator resolves a reconciliation difference
INSERT INTO paycons.reconciliation_diffs (channel, channel_txn_id, diff, order_id)
VALUES ('stripe', 'sec-r-T1', 'missing_in_statement', 'sec-r-1') RETURNING id AS diff_id \gset
SET ROLE regress_sec_oncall;
SELECT channel_txn_id, diff FROM paycons.open_reconciliation_diffs WHERE order_id = 'sec-r-1';
SELECT pg_temp.try($q$SELECT paycons.resolve_diff(NULL, 'accepted')$q$);
SELECT pg_temp.try(format($q$SELECT paycons.resolve_diff(%s, NULL)$q$, :diff_id));
SELECT pg_temp.code(format($q$SELECT paycons.resolve_diff(%s, '')$q$, :diff_id));
SELECT pg_temp.code(format($q$SELECT paycons.resolve_diff(%s, 'accepted', repeat('n', 1001))$q$, :diff_id));
SELECT pg_temp.try($q$SELECT paycons.resolve_diff(-1, 'accepted', 'nothing there')$q$);
SELECT diff, resolution, resolution_note, resolved_by, resolved_at IS NOT NULL AS resolved
  FROM paycons.resolve_diff(:diff_id, 'corrected', 'settled late by the channel, ticket 31');
SELECT pg_temp.code(format($q$SELECT paycons.resolve_diff(%s, 'accepted', 'again')$q$, :diff_id));
SELECT count(*) AS still_open FROM paycons.open_reconciliation_diffs WHERE order_id = 'sec-r-1';
SELECT pg_temp.try($q$UPDATE paycons.reconciliation_diffs SET resolution = 'x'$q$);
RESET ROLE;

-- grant functions: exact role names, and a paycons error for an unknown one
SELECT pg_temp.try($q$SELECT paycons.grant_app_role('Regress_Sec_Reader')$q$);
SELECT pg_temp.try($q$SELECT paycons.grant_operator_role('')$q$);

-- leave nothing behind for later test files
DELETE FROM paycons.reconciliation_diffs WHERE order_id = 'sec-r-1';
DELETE FROM paycons.outbox WHERE aggregate_id = 'sec-r-1';
DELETE FROM paycons.order_history WHERE order_id = 'sec-r-1';
DELETE FROM paycons.orders WHERE order_id = 'sec-r-1';
DROP OWNED BY regress_sec_reader, regress_sec_oncall;
DROP ROLE regress_sec_reader, regress_sec_oncall;
