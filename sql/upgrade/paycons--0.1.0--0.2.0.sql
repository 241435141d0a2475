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

/* ---- issue 12: mismatched money goes to needs_review and back ---- */

ALTER TABLE paycons.callbacks
    ADD COLUMN review text CONSTRAINT callbacks_review_valid CHECK (review IN ('pending', 'accepted', 'refunded')),
    ADD COLUMN reviewed_at timestamptz;
COMMENT ON COLUMN paycons.callbacks.review IS
    'money that did not match its order: pending until paycons.resolve_review() accepted or refunded it (NULL for other callbacks)';
COMMENT ON COLUMN paycons.callbacks.reviewed_at IS 'when resolve_review() decided about this money';
CREATE INDEX callbacks_review_pending ON paycons.callbacks (order_id)
    WHERE review = 'pending';
COMMENT ON INDEX paycons.callbacks_review_pending IS
    'money waiting for a review decision, by order';
-- 0.1.0 kept mismatched payments of unpaid orders as amount_mismatch rows
-- only: they are money waiting for a decision, and their orders go to review.
UPDATE paycons.callbacks c SET review = 'pending'
 WHERE c.outcome OPERATOR(pg_catalog.=) 'amount_mismatch'
   AND c.kind OPERATOR(pg_catalog.=) 'payment'
   AND c.status OPERATOR(pg_catalog.=) 'success';
SELECT pg_catalog.set_config('paycons.reason', 'upgrade to 0.2.0: mismatched money waits for a review', true);
UPDATE paycons.orders o SET state = 'needs_review', updated_at = pg_catalog.now()
 WHERE o.state OPERATOR(paycons.=) ANY ('{created,paying,payment_failed}'::paycons.order_state[])
   AND EXISTS (SELECT 1 FROM paycons.callbacks c
                WHERE c.order_id OPERATOR(pg_catalog.=) o.order_id
                  AND c.review OPERATOR(pg_catalog.=) 'pending');
SELECT pg_catalog.set_config('paycons.reason', '', true);

CREATE FUNCTION paycons.resolve_review(order_id text, decision text, reason text)
    RETURNS paycons.orders
    AS 'MODULE_PATHNAME', 'paycons_resolve_review'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.resolve_review(text, text, text) IS
    'an operator''s decision about an order in needs_review: accept (its money covers it: paid), refund (give the money back), accept_and_refund (take what covers it, refund the rest) or close (nothing held); reason required';
REVOKE EXECUTE ON FUNCTION paycons.resolve_review(text, text, text) FROM PUBLIC;
