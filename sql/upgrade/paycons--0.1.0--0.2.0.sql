/*
 * paycons--0.1.0--0.2.0.sql -- upgrade from 0.1.0 (the first release) to
 * 0.2.0.
 *
 * Every schema change of the 0.2.0 round lands here as well as in the
 * install fragments under sql/install/; the upgrade test
 * (test/t/... and `make test`) checks that an upgraded 0.1.0 database and a
 * fresh 0.2.0 install end up with the same schema.  Sections are kept per
 * concern (one per issue) so that parallel work merges cleanly.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION paycons UPDATE TO '0.2.0'" to load this file. \quit

/* ---- issue 9: one retry-policy table, one backoff formula ---- */

-- Nacked outbox events now take their policy from paycons.retry_policies
-- (action 'outbox:<event_type>', else 'outbox', else '*'), with the same
-- formula and jitter as compensations.  The rows of the old table move over.
INSERT INTO paycons.retry_policies
    (action, initial_interval, backoff_coefficient, max_interval, max_attempts, jitter, non_retryable)
SELECT CASE WHEN r.event_type OPERATOR(pg_catalog.=) '*' THEN 'outbox'
            ELSE 'outbox:' OPERATOR(pg_catalog.||) r.event_type END,
       r.initial_interval,
       LEAST(r.backoff_coefficient, 100),
       GREATEST(r.max_interval, r.initial_interval),
       r.max_attempts, r.jitter, '{}'
  FROM paycons.outbox_retry_policies r
ON CONFLICT (action) DO NOTHING;
INSERT INTO paycons.retry_policies
    (action, initial_interval, backoff_coefficient, max_interval, max_attempts, jitter, non_retryable)
VALUES ('outbox', '1 second', 2.0, '5 minutes', 10, 0.2, '{}')
ON CONFLICT (action) DO NOTHING;
DROP TABLE paycons.outbox_retry_policies;
SELECT pg_catalog.pg_extension_config_dump('paycons.retry_policies',
    $$WHERE action NOT IN ('*', 'release_stock', 'refund', 'payment.query', 'refund.query', 'outbox')$$);
COMMENT ON TABLE paycons.retry_policies IS
    'retry policy per action -- compensation actions, payment.query/refund.query, and outbox:<event_type> for nacked events (fields as in Temporal''s RetryPolicy); looked up by exact action, then by the part before '':'', then ''*''';

/* ---- issue 11: worker per database and monitoring ---- */

-- paycons.stats() reports the current database (one shared-memory slot
-- per database) and its result type changed; paycons.health reads it, so
-- both are dropped and created again exactly as a fresh install has them.
DROP VIEW paycons.health;
DROP FUNCTION paycons.stats();
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

REVOKE EXECUTE ON FUNCTION paycons.stats() FROM PUBLIC;

-- Callback counts for monitoring roles: SECURITY DEFINER, operators qualified.
CREATE OR REPLACE FUNCTION paycons.callback_outcomes_last_hour()
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
            ' FROM (SELECT COALESCE(outcome::text, ''(none)'') AS outcome, pg_catalog.count(*) AS n'
            '       FROM paycons.callbacks'
            '       WHERE received_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval ''1 hour'')'
            '       GROUP BY 1) s'
       INTO result;
    RETURN result;
END;
$$;
COMMENT ON FUNCTION paycons.callback_outcomes_last_hour() IS
    'callback outcomes of the last hour as {"outcome": count}; NULL if paycons.callbacks does not exist';

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

REVOKE EXECUTE ON FUNCTION paycons.callback_outcomes(interval) FROM PUBLIC;

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

REVOKE ALL ON paycons.health FROM PUBLIC;

CREATE FUNCTION paycons.grant_monitor_role(role regrole) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
BEGIN
    EXECUTE pg_catalog.format('GRANT SELECT ON paycons.health, paycons.order_counts TO %s', role);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION paycons.stats(),'
                              ' paycons.callback_outcomes_last_hour(),'
                              ' paycons.callback_outcomes(interval) TO %s', role);
END;
$$;
COMMENT ON FUNCTION paycons.grant_monitor_role(regrole) IS
    'grant a monitoring role read access to paycons.health, paycons.order_counts, paycons.stats() and paycons.callback_outcomes() (nothing on the tables)';
REVOKE EXECUTE ON FUNCTION paycons.grant_monitor_role(regrole) FROM PUBLIC;
