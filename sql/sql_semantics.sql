--
-- sql_semantics: every write of the paycons API is a real SQL write.  For
-- each paycons table the API writes, a DBA adds what a DBA may add -- a
-- BEFORE and an AFTER row trigger, a statement trigger with a transition
-- table, a NOT NULL DEFAULT column, a stored generated column, a domain
-- with a CHECK, a dropped column -- and each API call that writes the
-- table must succeed with every one of them fired or enforced, as for
-- plain SQL run by the extension owner.  A rule on paycons.orders is
-- honoured (DO ALSO) or refused with a clear error (DO INSTEAD).
-- Everything runs in one transaction that is rolled back at the end.
--
-- The DBA's trigger functions run as the extension owner with paycons's
-- pinned search_path (pg_catalog, paycons, pg_temp), like any code run
-- under a SECURITY DEFINER function: they name their own schema (here with
-- SET search_path on the function), as doc/operations.md says.
--
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS paycons; RESET client_min_messages;

BEGIN;

-- start from an empty outbox, so that the claim below sees only this
-- test's events, and let the maintenance pass below find only this test's
-- work (everything is rolled back at the end)
DELETE FROM paycons.outbox;
UPDATE paycons.compensations SET next_attempt_at = 'infinity';
UPDATE paycons.order_probes SET next_at = 'infinity';

CREATE TABLE sem_log (n serial, tbl text, what text, detail text);

-- BEFORE row: log, and set the DBA's own column (shows BEFORE triggers run
-- and their changes are kept)
CREATE FUNCTION sem_before() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_catalog AS $$
BEGIN
    INSERT INTO sem_log (tbl, what) VALUES (TG_TABLE_NAME, 'BEFORE ' || TG_OP || ' ROW');
    IF TG_OP <> 'DELETE' THEN
        NEW.sem_note := 'set by a BEFORE trigger';
        RETURN NEW;
    END IF;
    RETURN OLD;
END $$;
CREATE FUNCTION sem_after() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_catalog AS $$
BEGIN
    INSERT INTO sem_log (tbl, what) VALUES (TG_TABLE_NAME, 'AFTER ' || TG_OP || ' ROW');
    RETURN NULL;
END $$;
-- statement triggers with transition tables, one per event
CREATE FUNCTION sem_stmt_ins() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_catalog AS $$
BEGIN
    INSERT INTO sem_log (tbl, what, detail)
    SELECT TG_TABLE_NAME, 'AFTER INSERT STATEMENT', 'new rows: ' || count(*) FROM sem_new;
    RETURN NULL;
END $$;
CREATE FUNCTION sem_stmt_upd() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_catalog AS $$
BEGIN
    INSERT INTO sem_log (tbl, what, detail)
    SELECT TG_TABLE_NAME, 'AFTER UPDATE STATEMENT',
           'old rows: ' || (SELECT count(*) FROM sem_old) || ', new rows: ' || (SELECT count(*) FROM sem_new);
    RETURN NULL;
END $$;
CREATE FUNCTION sem_stmt_del() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_catalog AS $$
BEGIN
    INSERT INTO sem_log (tbl, what, detail)
    SELECT TG_TABLE_NAME, 'AFTER DELETE STATEMENT', 'old rows: ' || count(*) FROM sem_old;
    RETURN NULL;
END $$;

CREATE DOMAIN sem_positive AS integer CHECK (VALUE > 0);
CREATE DOMAIN sem_currency AS text CHECK (VALUE <> 'XTS');

-- The tables the API writes, each dressed up the same way.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['orders', 'order_history', 'outbox', 'callbacks',
                             'callback_conflicts', 'compensations', 'stock',
                             'stock_orders', 'stock_reservations', 'retry_policies',
                             'order_probes']
    LOOP
        EXECUTE format('ALTER TABLE paycons.%I ADD COLUMN sem_dropped int', t);
        EXECUTE format('ALTER TABLE paycons.%I ADD COLUMN sem_note text NOT NULL DEFAULT %L', t, 'the default');
        EXECUTE format('ALTER TABLE paycons.%I ADD COLUMN sem_upper text GENERATED ALWAYS AS (upper(sem_note)) STORED', t);
        EXECUTE format('ALTER TABLE paycons.%I ADD COLUMN sem_checked sem_positive NOT NULL DEFAULT 1', t);
        EXECUTE format('ALTER TABLE paycons.%I DROP COLUMN sem_dropped', t);
        EXECUTE format('CREATE TRIGGER sem_before BEFORE INSERT OR UPDATE OR DELETE ON paycons.%I
                        FOR EACH ROW EXECUTE FUNCTION sem_before()', t);
        EXECUTE format('CREATE TRIGGER sem_after AFTER INSERT OR UPDATE OR DELETE ON paycons.%I
                        FOR EACH ROW EXECUTE FUNCTION sem_after()', t);
        EXECUTE format('CREATE TRIGGER sem_stmt_ins AFTER INSERT ON paycons.%I
                        REFERENCING NEW TABLE AS sem_new FOR EACH STATEMENT EXECUTE FUNCTION sem_stmt_ins()', t);
        EXECUTE format('CREATE TRIGGER sem_stmt_upd AFTER UPDATE ON paycons.%I
                        REFERENCING OLD TABLE AS sem_old NEW TABLE AS sem_new FOR EACH STATEMENT EXECUTE FUNCTION sem_stmt_upd()', t);
        EXECUTE format('CREATE TRIGGER sem_stmt_del AFTER DELETE ON paycons.%I
                        REFERENCING OLD TABLE AS sem_old FOR EACH STATEMENT EXECUTE FUNCTION sem_stmt_del()', t);
    END LOOP;
END $$;
-- a domain with a CHECK on an inbox column, enforced on the callback path
ALTER TABLE paycons.callbacks ALTER COLUMN currency TYPE sem_currency;

-- Every API call that writes.
SELECT paycons.set_channel('sem_pay', ack => 'success');
SELECT order_id, state, sem_note, sem_upper, sem_checked
  FROM paycons.create_order('sem-1', 1000, 'CNY');
SELECT order_id, state FROM paycons.create_order('sem-2', 1000, 'CNY');
SELECT order_id, state FROM paycons.create_order('sem-3', 1000, 'CNY');
SELECT paycons.add_stock('SEM-SKU', 5) IS NOT NULL AS stock_added;
SELECT paycons.reserve_stock('sem-1', '[{"sku": "SEM-SKU", "quantity": 2}]');
SELECT order_id, state, sem_note FROM paycons.begin_payment('sem-1', 'sem_pay');
SELECT order_id, state FROM paycons.begin_payment('sem-2', 'sem_pay');
SELECT outcome, state FROM paycons.apply_callback('sem_pay', 'SEM-T1', 'sem-1', 'payment', 'success', 1000, 'CNY');
SELECT outcome, state FROM paycons.apply_callback('sem_pay', 'SEM-T1', 'sem-1', 'payment', 'success', 999, 'CNY');
SELECT outcome, state FROM paycons.apply_callback('sem_pay', 'SEM-T2', 'sem-1', 'payment', 'success', 1000, 'CNY');
SELECT outcome, state FROM paycons.apply_callback('sem_pay', 'SEM-T3', 'sem-2', 'payment', 'success', 500, 'CNY');
SELECT order_id, state FROM paycons.resolve_review('sem-2', 'refund', 'semantics test');
SELECT order_id, state FROM paycons.transition('sem-3', 'cancelled', 'semantics test');
SELECT paycons.emit('sem', 'sem-agg', 'sem.happened', '{"x": 1}') > 0 AS emitted;
SELECT count(*) > 0 AS claimed FROM paycons.outbox_claim('sem-consumer', 100);
SELECT status FROM paycons.outbox_nack((SELECT min(id) FROM paycons.outbox WHERE status = 'leased'), 'try later');
SELECT paycons.outbox_ack(ARRAY(SELECT id FROM paycons.outbox WHERE status = 'leased')) > 0 AS acked;
SELECT action, max_attempts, sem_note FROM paycons.set_retry_policy('sem-action', '1 hour', 2, '2 hours', 3);
SELECT paycons.enqueue_compensation('sem-3', 'sem-action') > 0 AS enqueued;
SELECT state FROM paycons.complete_compensation(
    (SELECT id FROM paycons.compensations WHERE order_id = 'sem-3' AND action = 'sem-action'), true, 'done by hand');
-- a stuck paying order, for maintenance's probes (order_probes) and close
SELECT order_id, state FROM paycons.create_order('sem-4', 1000, 'CNY');
SELECT order_id, state FROM paycons.begin_payment('sem-4', 'sem_pay');
UPDATE paycons.orders SET pay_deadline = now() - interval '1 minute' WHERE order_id = 'sem-4';
SELECT (paycons.run_maintenance())->'payment_queries' AS payment_queries;

-- Each table: every kind of trigger fired
-- (row triggers on the partitioned outbox fire on its partitions)
SELECT CASE WHEN tbl ~ '^outbox_[0-9]+$' THEN 'outbox partition' ELSE tbl END AS tbl,
       what, count(*) AS fired
  FROM sem_log GROUP BY 1, 2 ORDER BY 1, 2;
-- the statement triggers saw the rows through their transition tables
SELECT tbl, what, detail FROM sem_log
 WHERE what LIKE '%STATEMENT' AND tbl IN ('orders', 'callbacks', 'outbox')
 ORDER BY n LIMIT 8;
-- the BEFORE triggers' change was kept and the generated column computed,
-- on every row the API wrote for this test
SELECT t.tbl, t.rows, t.rows_with_before_value
  FROM (VALUES
    ('orders', (SELECT count(*) FROM paycons.orders WHERE order_id LIKE 'sem-%'),
               (SELECT count(*) FROM paycons.orders WHERE order_id LIKE 'sem-%'
                   AND sem_note = 'set by a BEFORE trigger' AND sem_upper = 'SET BY A BEFORE TRIGGER')),
    ('order_history', (SELECT count(*) FROM paycons.order_history WHERE order_id LIKE 'sem-%'),
               (SELECT count(*) FROM paycons.order_history WHERE order_id LIKE 'sem-%'
                   AND sem_note = 'set by a BEFORE trigger' AND sem_upper = 'SET BY A BEFORE TRIGGER')),
    ('outbox', (SELECT count(*) FROM paycons.outbox WHERE aggregate_id LIKE 'sem%'),
               (SELECT count(*) FROM paycons.outbox WHERE aggregate_id LIKE 'sem%'
                   AND sem_note = 'set by a BEFORE trigger' AND sem_upper = 'SET BY A BEFORE TRIGGER')),
    ('callbacks', (SELECT count(*) FROM paycons.callbacks WHERE channel = 'sem_pay'),
               (SELECT count(*) FROM paycons.callbacks WHERE channel = 'sem_pay'
                   AND sem_note = 'set by a BEFORE trigger' AND sem_upper = 'SET BY A BEFORE TRIGGER')),
    ('callback_conflicts', (SELECT count(*) FROM paycons.callback_conflicts WHERE channel = 'sem_pay'),
               (SELECT count(*) FROM paycons.callback_conflicts WHERE channel = 'sem_pay'
                   AND sem_note = 'set by a BEFORE trigger' AND sem_upper = 'SET BY A BEFORE TRIGGER')),
    ('compensations', (SELECT count(*) FROM paycons.compensations WHERE order_id LIKE 'sem-%'),
               (SELECT count(*) FROM paycons.compensations WHERE order_id LIKE 'sem-%'
                   AND sem_note = 'set by a BEFORE trigger' AND sem_upper = 'SET BY A BEFORE TRIGGER')),
    ('stock', (SELECT count(*) FROM paycons.stock WHERE sku = 'SEM-SKU'),
               (SELECT count(*) FROM paycons.stock WHERE sku = 'SEM-SKU'
                   AND sem_note = 'set by a BEFORE trigger' AND sem_upper = 'SET BY A BEFORE TRIGGER')),
    ('stock_orders', (SELECT count(*) FROM paycons.stock_orders WHERE order_id LIKE 'sem-%'),
               (SELECT count(*) FROM paycons.stock_orders WHERE order_id LIKE 'sem-%'
                   AND sem_note = 'set by a BEFORE trigger' AND sem_upper = 'SET BY A BEFORE TRIGGER')),
    ('stock_reservations', (SELECT count(*) FROM paycons.stock_reservations WHERE order_id LIKE 'sem-%'),
               (SELECT count(*) FROM paycons.stock_reservations WHERE order_id LIKE 'sem-%'
                   AND sem_note = 'set by a BEFORE trigger' AND sem_upper = 'SET BY A BEFORE TRIGGER')),
    ('order_probes', (SELECT count(*) FROM paycons.order_probes WHERE order_id LIKE 'sem-%'),
               (SELECT count(*) FROM paycons.order_probes WHERE order_id LIKE 'sem-%'
                   AND sem_note = 'set by a BEFORE trigger' AND sem_upper = 'SET BY A BEFORE TRIGGER'))
  ) AS t(tbl, rows, rows_with_before_value)
 ORDER BY 1;
SELECT count(*) FILTER (WHERE sem_note = 'the default') AS built_in_rows_with_default,
       count(*) FILTER (WHERE action = 'sem-action' AND sem_note = 'set by a BEFORE trigger') AS api_row
  FROM paycons.retry_policies;

-- The domain's CHECK and the NOT NULL of the DBA's columns are enforced on
-- the callback path, and a failing callback leaves nothing behind.
SAVEPOINT dom;
SELECT paycons.apply_callback('sem_pay', 'SEM-T9', 'sem-4', 'payment', 'success', 1000, 'XTS');
ROLLBACK TO dom;
CREATE FUNCTION sem_break() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_catalog AS $$
BEGIN NEW.sem_checked := -1; RETURN NEW; END $$;
CREATE TRIGGER sem_z_break BEFORE INSERT ON paycons.callbacks
    FOR EACH ROW WHEN (NEW.channel_txn_id = 'SEM-T8') EXECUTE FUNCTION sem_break();
SAVEPOINT chk;
SELECT paycons.apply_callback('sem_pay', 'SEM-T8', 'sem-4', 'payment', 'success', 1000, 'CNY');
ROLLBACK TO chk;
SELECT count(*) AS left_behind FROM paycons.callbacks WHERE channel_txn_id IN ('SEM-T8', 'SEM-T9');
SELECT state FROM paycons.orders WHERE order_id = 'sem-4';

-- A rule on paycons.orders: DO ALSO is honoured on the callback path ...
CREATE RULE sem_also AS ON UPDATE TO paycons.orders
    DO ALSO INSERT INTO sem_log (tbl, what, detail) VALUES ('orders', 'rule', NEW.order_id || ' ' || NEW.state::text);
SELECT outcome, state FROM paycons.apply_callback('sem_pay', 'SEM-T4', 'sem-4', 'payment', 'success', 1000, 'CNY');
SELECT tbl, what, detail FROM sem_log WHERE what = 'rule' ORDER BY n;
DROP RULE sem_also ON paycons.orders;
-- ... a DO INSTEAD rule is refused with a clear error, nothing written
SELECT order_id, state FROM paycons.create_order('sem-5', 1000, 'CNY');
CREATE RULE sem_instead AS ON UPDATE TO paycons.orders DO INSTEAD NOTHING;
SAVEPOINT r;
SELECT outcome, state FROM paycons.apply_callback('sem_pay', 'SEM-T5', 'sem-5', 'payment', 'success', 1000, 'CNY');
ROLLBACK TO r;
SAVEPOINT r2;
SELECT order_id, state FROM paycons.begin_payment('sem-5', 'sem_pay');
ROLLBACK TO r2;
-- an INSERT or UPDATE rule makes INSERT ... ON CONFLICT impossible: refused,
-- naming the rule
SAVEPOINT r3;
SELECT order_id, state FROM paycons.create_order('sem-6', 1000, 'CNY');
ROLLBACK TO r3;
SELECT state FROM paycons.orders WHERE order_id = 'sem-5';
SELECT count(*) AS inbox_rows FROM paycons.callbacks WHERE channel_txn_id = 'SEM-T5';

ROLLBACK;
