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
