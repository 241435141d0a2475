/*
 * paycons--0.1.0--0.2.0.sql -- upgrade from 0.1.0 (the first release) to
 * 0.2.0.
 *
 * Every schema change of the 0.2.0 round lands here as well as in the
 * install fragments under sql/install/.  Sections are kept per concern (one
 * per issue) so that parallel work merges cleanly.  To add a change:
 *
 *	1. make it in the right fragment of sql/install/ (new columns go at the
 *	   end of their CREATE TABLE: an upgraded table can only append them);
 *	2. append a section "issue N: what" here that brings a 0.1.0 (+ the
 *	   sections above) database to the same state: ALTER TABLE ... ADD
 *	   COLUMN, CREATE OR REPLACE FUNCTION with the same body, the same
 *	   COMMENT ON, GRANT/REVOKE (a new function here is EXECUTE for PUBLIC
 *	   until revoked, as 90_privileges.sql does for a fresh install),
 *	   pg_extension_config_dump for a new table or sequence, ALTER
 *	   EXTENSION paycons DROP ... before dropping a member;
 *	3. run `bash test/run.sh scripts` (test/scripts/upgrade.sh): it installs
 *	   0.1.0, fills it, runs ALTER EXTENSION paycons UPDATE and compares
 *	   every catalog fact with a fresh install, printing the difference;
 *	   it also checks that the rows survive (rows the upgrade adds or
 *	   rewrites on purpose must be declared there).
 *
 * Never edit sql/released/paycons--0.1.0.sql; keep every C symbol it names
 * in the library.  See doc/operations.md, "Upgrades".
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
-- (out of the extension first: that also takes it off pg_extension.extconfig,
-- which a plain DROP TABLE would leave naming a table that no longer exists)
ALTER EXTENSION paycons DROP TABLE paycons.outbox_retry_policies;
DROP TABLE paycons.outbox_retry_policies;
SELECT pg_catalog.pg_extension_config_dump('paycons.retry_policies',
    $$WHERE action NOT IN ('*', 'release_stock', 'refund', 'payment.query', 'refund.query', 'outbox')$$);
COMMENT ON TABLE paycons.retry_policies IS
    'retry policy per action -- compensation actions, payment.query/refund.query, and outbox:<event_type> for nacked events (fields as in Temporal''s RetryPolicy); looked up by exact action, then by the part before '':'', then ''*''';

/* ---- issue 11: backup and restore (src/restore.c, sql/install/80_restore.sql) ---- */

CREATE FUNCTION paycons.restoring(rel regclass)
    RETURNS boolean
    AS 'MODULE_PATHNAME', 'paycons_restoring'
    LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION paycons.restoring(regclass) IS
    'true while the extension owner''s COPY paycons.<rel> FROM STDIN (a restore) writes the row a trigger on rel fires for';
REVOKE EXECUTE ON FUNCTION paycons.restoring(regclass) FROM PUBLIC;

CREATE FUNCTION paycons.restore_replace() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
BEGIN
    -- a restored row takes the place of the one with its key (TG_ARGV[0])
    IF paycons.restoring(TG_RELID) THEN
        EXECUTE pg_catalog.format('DELETE FROM %I.%I t WHERE t.%I OPERATOR(pg_catalog.=) ($1).%I',
                                  TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[0])
            USING NEW;
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION paycons.restore_replace() IS
    'BEFORE INSERT trigger, argument: the key column: a row being restored replaces the row with the same key (one that CREATE EXTENSION wrote)';
REVOKE EXECUTE ON FUNCTION paycons.restore_replace() FROM PUBLIC;

CREATE TRIGGER paycons_restore_replace
    BEFORE INSERT ON paycons.retry_policies
    FOR EACH ROW EXECUTE FUNCTION paycons.restore_replace('action');
ALTER TABLE paycons.retry_policies ENABLE ALWAYS TRIGGER paycons_restore_replace;
CREATE TRIGGER paycons_restore_replace
    BEFORE INSERT ON paycons.outbox_rotation
    FOR EACH ROW EXECUTE FUNCTION paycons.restore_replace('singleton');
ALTER TABLE paycons.outbox_rotation ENABLE ALWAYS TRIGGER paycons_restore_replace;

SELECT pg_catalog.pg_extension_config_dump('paycons.retry_policies', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.outbox_rotation', '');

-- the refund trigger leaves restored inbox rows alone
CREATE OR REPLACE FUNCTION paycons.callbacks_complete_refund() RETURNS trigger
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
