/*
 * 80_restore.sql -- backup and restore: what the triggers ask, and the rows
 * a restore brings back over the ones CREATE EXTENSION made.
 *
 * pg_dump saves the data of every paycons table (they are marked with
 * pg_extension_config_dump) as COPY paycons.<table> FROM stdin.  Restored
 * into a database where CREATE EXTENSION paycons has run, those rows must
 * come back as they were, with no trigger adding history, events or
 * compensations (src/restore.c decides); and the few rows the extension
 * script writes itself (the built-in retry policies, the outbox rotation
 * row) are replaced by the restored ones.  See doc/operations.md.
 */

CREATE FUNCTION paycons.restoring(rel regclass)
    RETURNS boolean
    AS 'MODULE_PATHNAME', 'paycons_restoring'
    LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION paycons.restoring(regclass) IS
    'true while the extension owner''s COPY paycons.<rel> FROM STDIN (a restore) writes the row a trigger on rel fires for';

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

-- ENABLE ALWAYS: a restore run with session_replication_role = replica
-- needs them too.
CREATE TRIGGER paycons_restore_replace
    BEFORE INSERT ON paycons.retry_policies
    FOR EACH ROW EXECUTE FUNCTION paycons.restore_replace('action');
ALTER TABLE paycons.retry_policies ENABLE ALWAYS TRIGGER paycons_restore_replace;
CREATE TRIGGER paycons_restore_replace
    BEFORE INSERT ON paycons.outbox_rotation
    FOR EACH ROW EXECUTE FUNCTION paycons.restore_replace('singleton');
ALTER TABLE paycons.outbox_rotation ENABLE ALWAYS TRIGGER paycons_restore_replace;

-- Every row of these is dumped, the built-in ones too (a customised
-- built-in retry policy must survive a restore).
SELECT pg_catalog.pg_extension_config_dump('paycons.retry_policies', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.outbox_rotation', '');
