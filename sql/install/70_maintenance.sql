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
    'wake the background worker of the current database for a pass now; false if no worker serves it or none is running';

CREATE FUNCTION paycons.stats(
    OUT preloaded boolean,
    OUT datname name,
    OUT served boolean,
    OUT worker_status text,
    OUT worker_pid integer,
    OUT worker_started_at timestamptz,
    OUT notifier_pid integer,
    OUT last_pass_at timestamptz,
    OUT notifications bigint,
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
    'the current database in shared memory: whether paycons is preloaded, whether a worker serves the database (paycons.database) and its status (running, disabled, not running, standby, not served, not preloaded), worker and notifier pids, NOTIFYs sent, and maintenance counters since server start (NULL when not kept)';

-- How many callbacks of each outcome arrived in the last hour, if the
-- callbacks inbox is installed (looked up at run time).  SECURITY DEFINER:
-- the health view calls it as the role reading the view (an operator or
-- monitoring role), who has no privilege on paycons.callbacks; it returns
-- counts only.
CREATE FUNCTION paycons.callback_outcomes_last_hour()
    RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    IF pg_catalog.to_regclass('paycons.callbacks') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT COALESCE(pg_catalog.jsonb_object_agg(outcome, n), ''{}'')'
            ' FROM (SELECT COALESCE(outcome::pg_catalog.text, ''(none)'') AS outcome, pg_catalog.count(*) AS n'
            '       FROM paycons.callbacks'
            '       WHERE received_at OPERATOR(pg_catalog.>)'
            '             (pg_catalog.now() OPERATOR(pg_catalog.-) ''1 hour''::pg_catalog.interval)'
            '       GROUP BY 1) s'
       INTO result;
    RETURN result;
END;
$$;
COMMENT ON FUNCTION paycons.callback_outcomes_last_hour() IS
    'callback outcomes of the last hour as {"outcome": count}; NULL if paycons.callbacks does not exist';

-- Callbacks per outcome received within the last "since"; every outcome
-- apply_callback can decide is listed, with 0 if none arrived, so that a
-- monitoring series never disappears.
CREATE FUNCTION paycons.callback_outcomes(since interval DEFAULT '1 minute',
                                          OUT outcome text, OUT callbacks bigint)
    RETURNS SETOF record
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
BEGIN
    IF since IS NULL OR since OPERATOR(pg_catalog.<=) interval '0' THEN
        RAISE EXCEPTION 'since must be a positive interval, not %', COALESCE(since::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF pg_catalog.to_regclass('paycons.callbacks') IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE
        'SELECT k.outcome, COALESCE(c.n, 0)::pg_catalog.int8'
        '  FROM (SELECT pg_catalog.unnest(ARRAY[''applied'', ''amount_mismatch'', ''late_payment'','
        '               ''duplicate_payment'', ''unknown_order'', ''conflict'', ''bad_signature'','
        '               ''ignored'', ''refund_failed'', ''over_refund'']) AS outcome) k'
        '  FULL JOIN (SELECT cb.outcome::pg_catalog.text AS outcome, pg_catalog.count(*) AS n'
        '               FROM paycons.callbacks cb'
        '              WHERE cb.received_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) $1)'
        '              GROUP BY 1) c USING (outcome)'
        ' ORDER BY 1'
        USING since;
END;
$$;
COMMENT ON FUNCTION paycons.callback_outcomes(interval) IS
    'callbacks per outcome received within the last "since" (default one minute), 0 for outcomes not seen; for monitoring';

-- The recent callbacks, found without reading the whole inbox: rows are
-- appended in received_at order, so a BRIN index is tiny and costs a
-- callback almost nothing to maintain.
CREATE INDEX callbacks_received_at ON paycons.callbacks USING brin (received_at);
COMMENT ON INDEX paycons.callbacks_received_at IS
    'recent callbacks for health and monitoring (callback_outcomes)';

-- Orders waiting for a person: counted and aged from this index alone.
CREATE INDEX orders_needs_review_since ON paycons.orders (state_changed_at)
    WHERE state = 'needs_review';
COMMENT ON INDEX paycons.orders_needs_review_since IS
    'orders in needs_review, by the time they entered it (health view)';

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
    (SELECT count(*) FROM paycons.orders
      WHERE state = 'needs_review') AS orders_needs_review,
    (SELECT now() - min(state_changed_at) FROM paycons.orders
      WHERE state = 'needs_review') AS oldest_needs_review,
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
    st.worker_status,
    st.worker_pid,
    st.last_pass_at,
    CASE
      WHEN NOT st.preloaded THEN
        'paycons is not in shared_preload_libraries: there is no background worker, no notifier and '
        'no shared-memory counters (last_pass_at is unknown). Schedule SELECT paycons.run_maintenance() '
        'with pg_cron, or add paycons to shared_preload_libraries and this database to paycons.database, '
        'and restart.'
      WHEN NOT st.served THEN
        format('no paycons worker serves database %s (paycons.database = %L): stuck orders are not '
               'closed and compensations not retried unless SELECT paycons.run_maintenance() is '
               'scheduled here (pg_cron: cron.schedule_in_database). Add the database to '
               'paycons.database and restart, or schedule the pass.',
               quote_ident(current_database()), current_setting('paycons.database', true))
      WHEN st.worker_status = 'standby' THEN
        'this server is in recovery: the paycons worker of this database starts when it is promoted.'
      WHEN st.worker_status = 'not running' THEN
        'the paycons worker of this database is not running: it is starting, waiting to be restarted '
        'after an error (see the server log), or could not be registered (raise max_worker_processes).'
      WHEN st.worker_status = 'disabled' THEN
        'paycons.enabled is off: the worker runs no maintenance passes. Turn it on, or schedule '
        'SELECT paycons.run_maintenance() with pg_cron.'
      WHEN st.notifier_pid IS NULL THEN
        'the paycons notifier of this database is not running: writers send one NOTIFY per '
        'transaction until it is back (see the server log).'
    END AS worker_hint,
    paycons.callback_outcomes_last_hour() AS callback_outcomes_last_hour
  FROM paycons.stats() st;
COMMENT ON VIEW paycons.health IS
    'one row for on-call: what is stuck (overdue paying, refunding, needs_review), lagging (outbox backlog) or dead (compensations, outbox), and whether a worker serves this database (worker_status; worker_hint says what to do); every figure comes from a partial index, a small table or shared memory';

-- Orders per state: a full scan of paycons.orders, kept apart from health.
CREATE VIEW paycons.order_counts AS
SELECT state, count(*) AS orders FROM paycons.orders GROUP BY state;
COMMENT ON VIEW paycons.order_counts IS
    'orders per state (scans paycons.orders: not for frequent polling on large tables)';

/*
 * paycons.grant_monitor_role(role): what a monitoring role (e.g. the one
 * postgres_exporter connects as, see doc/monitoring/) needs to read health,
 * order counts, stats and callback outcomes -- and nothing else.
 */
CREATE FUNCTION paycons.grant_monitor_role(role text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
BEGIN
    PERFORM paycons.require_role(grant_monitor_role.role);
    EXECUTE pg_catalog.format('GRANT SELECT ON paycons.health, paycons.order_counts TO %I',
                              grant_monitor_role.role);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION paycons.stats(),'
                              ' paycons.callback_outcomes_last_hour(),'
                              ' paycons.callback_outcomes(interval) TO %I', grant_monitor_role.role);
END;
$$;
COMMENT ON FUNCTION paycons.grant_monitor_role(text) IS
    'grant a monitoring role read access to paycons.health, paycons.order_counts, paycons.stats() and paycons.callback_outcomes() (nothing on the tables)';

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
    -- (runs as the owner inside apply_callback: everything is qualified)
    IF cb OPERATOR(pg_catalog.->>) 'kind' OPERATOR(pg_catalog.=) 'refund'
       AND cb OPERATOR(pg_catalog.->>) 'status' OPERATOR(pg_catalog.=) 'success'
       AND cb OPERATOR(pg_catalog.->>) 'order_id' IS NOT NULL
       AND cb OPERATOR(pg_catalog.->>) 'amount' IS NOT NULL
       AND COALESCE(cb OPERATOR(pg_catalog.->>) 'outcome', 'applied') OPERATOR(pg_catalog.=) 'applied' THEN
        BEGIN
            PERFORM paycons.complete_refund_for(
                cb OPERATOR(pg_catalog.->>) 'order_id',
                (cb OPERATOR(pg_catalog.->>) 'amount')::pg_catalog.int8, NULL,
                'refund callback ' OPERATOR(pg_catalog.||) COALESCE(cb OPERATOR(pg_catalog.->>) 'channel', '?')
                OPERATOR(pg_catalog.||) '/'
                OPERATOR(pg_catalog.||) COALESCE(cb OPERATOR(pg_catalog.->>) 'channel_txn_id', '?'));
        EXCEPTION WHEN OTHERS THEN
            -- never fail the callback for this: the step can be completed by hand
            RAISE WARNING 'paycons: could not complete the refund compensation of order "%": %',
                cb OPERATOR(pg_catalog.->>) 'order_id', SQLERRM;
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
