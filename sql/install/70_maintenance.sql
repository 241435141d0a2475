/*
 * 70_maintenance.sql -- run_maintenance(), the background worker's SQL
 * face (wake, stats) and the health view.
 *
 * run_maintenance() is the one code path of both the background worker and
 * a pg_cron schedule (DESIGN D2).  See doc/operations.md.
 */

CREATE TABLE paycons.order_probes (
    order_id     text NOT NULL,
    kind         text NOT NULL
                 CONSTRAINT order_probes_kind_valid CHECK (kind IN ('payment.query', 'refund.query')),
    attempts     integer NOT NULL DEFAULT 0,
    last_sent_at timestamptz,
    next_at      timestamptz NOT NULL,
    PRIMARY KEY (order_id, kind)
);
COMMENT ON TABLE paycons.order_probes IS
    'stuck-order queries sent by run_maintenance(): how many, and when the next one is due (backoff per retry policy of the kind)';
SELECT pg_catalog.pg_extension_config_dump('paycons.order_probes', '');

CREATE FUNCTION paycons.run_maintenance()
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'paycons_run_maintenance'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.run_maintenance() IS
    'one maintenance pass (outbox_maintain if present, stuck orders, stock commits, due compensations); returns counts per action as jsonb; a concurrent second caller returns {"ran": false} at once';

CREATE FUNCTION paycons.wake()
    RETURNS boolean
    AS 'MODULE_PATHNAME', 'paycons_wake'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.wake() IS
    'wake the background worker for a pass now; false if no worker is running';

CREATE FUNCTION paycons.stats(
    OUT preloaded boolean,
    OUT worker_pid integer,
    OUT worker_started_at timestamptz,
    OUT last_pass_at timestamptz,
    OUT passes bigint,
    OUT passes_skipped bigint,
    OUT compensations_done bigint,
    OUT compensations_retried bigint,
    OUT compensations_dead bigint,
    OUT external_sent bigint,
    OUT payment_queries bigint,
    OUT orders_closed bigint,
    OUT stock_committed bigint,
    OUT refund_queries bigint,
    OUT item_errors bigint)
    RETURNS record
    AS 'MODULE_PATHNAME', 'paycons_stats'
    LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION paycons.stats() IS
    'shared-memory counters of maintenance work since the server started (all databases); zeros and preloaded = false without shared_preload_libraries';

-- How many callbacks of each outcome arrived in the last hour, if the
-- callbacks inbox is installed (looked up at run time).
CREATE FUNCTION paycons.callback_outcomes_last_hour()
    RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    IF pg_catalog.to_regclass('paycons.callbacks') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT COALESCE(pg_catalog.jsonb_object_agg(outcome, n), ''{}'')'
            ' FROM (SELECT COALESCE(outcome::text, ''(none)'') AS outcome, pg_catalog.count(*) AS n'
            '       FROM paycons.callbacks'
            '       WHERE received_at > pg_catalog.now() - interval ''1 hour'''
            '       GROUP BY 1) s'
       INTO result;
    RETURN result;
END;
$$;
COMMENT ON FUNCTION paycons.callback_outcomes_last_hour() IS
    'callback outcomes of the last hour as {"outcome": count}; NULL if paycons.callbacks does not exist';

CREATE VIEW paycons.health AS
SELECT
    (SELECT count(*) FROM paycons.orders
      WHERE state = 'paying') AS orders_paying,
    (SELECT count(*) FROM paycons.orders
      WHERE state = 'paying' AND pay_deadline < now()) AS orders_paying_overdue,
    (SELECT now() - min(pay_deadline) FROM paycons.orders
      WHERE state = 'paying' AND pay_deadline < now()) AS oldest_overdue_paying,
    (SELECT count(*) FROM paycons.orders
      WHERE state = 'refunding') AS orders_refunding,
    (SELECT now() - min(state_changed_at) FROM paycons.orders
      WHERE state = 'refunding') AS oldest_refunding,
    (SELECT count(*) FROM paycons.outbox
      WHERE status IN ('pending', 'leased')) AS outbox_backlog,
    (SELECT now() - min(created_at) FROM paycons.outbox
      WHERE status IN ('pending', 'leased')) AS outbox_oldest,
    (SELECT count(*) FROM paycons.outbox WHERE status = 'dead') AS outbox_dead,
    (SELECT count(*) FROM paycons.compensations
      WHERE state IN ('pending', 'waiting_external') AND next_attempt_at <= now()) AS compensations_due,
    (SELECT count(*) FROM paycons.compensations
      WHERE state = 'waiting_external') AS compensations_waiting_external,
    (SELECT count(*) FROM paycons.compensations
      WHERE state = 'dead') AS compensations_dead,
    (SELECT count(*) FROM paycons.stock_orders s JOIN paycons.orders o USING (order_id)
      WHERE s.state = 'reserved'
        AND o.state IN ('paid', 'fulfilling', 'shipped', 'completed')) AS stock_commits_pending,
    (SELECT worker_pid FROM paycons.stats()) AS worker_pid,
    (SELECT last_pass_at FROM paycons.stats()) AS last_pass_at,
    paycons.callback_outcomes_last_hour() AS callback_outcomes_last_hour;
COMMENT ON VIEW paycons.health IS
    'one row for on-call: what is stuck (overdue paying, refunding), lagging (outbox backlog) or dead (compensations, outbox); every figure comes from a partial index or a small table';

-- Orders per state: a full scan of paycons.orders, kept apart from health.
CREATE VIEW paycons.order_counts AS
SELECT state, count(*) AS orders FROM paycons.orders GROUP BY state;
COMMENT ON VIEW paycons.order_counts IS
    'orders per state (scans paycons.orders: not for frequent polling on large tables)';

/*
 * A successful refund callback completes its refund compensation by itself
 * (paycons.callbacks is created by 50_callbacks.sql, before this fragment).
 */
CREATE FUNCTION paycons.callbacks_complete_refund() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    cb jsonb := pg_catalog.to_jsonb(NEW);
BEGIN
    -- a restored inbox row completed its refund when it was first written
    IF paycons.restoring(TG_RELID) THEN
        RETURN NULL;
    END IF;
    -- read the row as jsonb: no dependence on the inbox's exact column set
    IF cb->>'kind' = 'refund' AND cb->>'status' = 'success'
       AND cb->>'order_id' IS NOT NULL AND cb->>'amount' IS NOT NULL
       AND COALESCE(cb->>'outcome', 'applied') = 'applied' THEN
        BEGIN
            PERFORM paycons.complete_refund_for(cb->>'order_id', (cb->>'amount')::bigint, NULL,
                                                'refund callback ' || COALESCE(cb->>'channel', '?')
                                                || '/' || COALESCE(cb->>'channel_txn_id', '?'));
        EXCEPTION WHEN OTHERS THEN
            -- never fail the callback for this: the step can be completed by hand
            RAISE WARNING 'paycons: could not complete the refund compensation of order "%": %',
                cb->>'order_id', SQLERRM;
        END;
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION paycons.callbacks_complete_refund() IS
    'AFTER INSERT OR UPDATE OF outcome trigger on paycons.callbacks: a successful, applied refund callback completes the matching refund compensation';
-- WHEN keeps the trigger off the payment path: only a successful refund
-- callback queues an event.
CREATE TRIGGER paycons_complete_refund
    AFTER INSERT OR UPDATE OF outcome ON paycons.callbacks
    FOR EACH ROW
    WHEN (NEW.kind = 'refund' AND NEW.status = 'success'
          AND NEW.outcome = 'applied')
    EXECUTE FUNCTION paycons.callbacks_complete_refund();
