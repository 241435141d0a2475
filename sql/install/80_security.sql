/*
 * 80_security.sql -- what the extension owner allowed (see
 * doc/security.md).
 *
 * paycons writes order history and outbox events as the extension owner.
 * The trigger functions paycons.order_guard() and paycons.outbox_trigger()
 * may be attached to anyone's table, and paycons.emit() is part of the
 * application API; so they write history and events only where the owner
 * allowed it:
 *
 *   history_tables  tables whose guard trigger (with a key column) may
 *                   write paycons.order_history;
 *   outbox_tables   tables whose outbox trigger may write events of an
 *                   aggregate type;
 *   emit_roles      roles that may emit() events of a reserved aggregate
 *                   type ('order', 'compensation': the ones paycons writes).
 *
 * A table owned by a role with the owner's privileges needs no entry.  The
 * allow_* / disallow_* functions below are the owner's interface (no other
 * role may execute them).  The C triggers cache the answers per backend;
 * paycons.registry_changed() tells every backend to forget them when a
 * registration changes (src/registry.c).
 */

CREATE TABLE paycons.history_tables (
    relid       regclass PRIMARY KEY,
    allowed_by  text NOT NULL DEFAULT current_user,
    allowed_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE paycons.history_tables IS
    'tables whose paycons.order_guard() trigger may write paycons.order_history (paycons.allow_guarded_table)';

CREATE TABLE paycons.outbox_tables (
    relid          regclass NOT NULL,
    aggregate_type text NOT NULL
                   CONSTRAINT outbox_tables_type_length CHECK (octet_length(aggregate_type) BETWEEN 1 AND 64),
    allowed_by     text NOT NULL DEFAULT current_user,
    allowed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (relid, aggregate_type)
);
COMMENT ON TABLE paycons.outbox_tables IS
    'tables whose paycons.outbox_trigger() may write outbox events of aggregate_type (paycons.allow_outbox_table)';

CREATE TABLE paycons.emit_roles (
    role           regrole NOT NULL,
    aggregate_type text NOT NULL
                   CONSTRAINT emit_roles_type_length CHECK (octet_length(aggregate_type) BETWEEN 1 AND 64),
    allowed_by     text NOT NULL DEFAULT current_user,
    allowed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role, aggregate_type)
);
COMMENT ON TABLE paycons.emit_roles IS
    'roles (and their members) that may paycons.emit() events of a reserved aggregate type (paycons.allow_emit)';

SELECT pg_catalog.pg_extension_config_dump('paycons.history_tables', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.outbox_tables', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.emit_roles', '');

CREATE FUNCTION paycons.registry_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'paycons_registry_changed'
    LANGUAGE C;
COMMENT ON FUNCTION paycons.registry_changed() IS
    'AFTER ... FOR EACH STATEMENT trigger on the registration tables: every backend forgets its cached registrations when the change commits';
CREATE TRIGGER paycons_registry_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON paycons.history_tables
    FOR EACH STATEMENT EXECUTE FUNCTION paycons.registry_changed();
CREATE TRIGGER paycons_registry_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON paycons.outbox_tables
    FOR EACH STATEMENT EXECUTE FUNCTION paycons.registry_changed();
CREATE TRIGGER paycons_registry_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON paycons.emit_roles
    FOR EACH STATEMENT EXECUTE FUNCTION paycons.registry_changed();

/*
 * paycons.require_role(role): the OID of the role named exactly "role", or
 * PC026 naming it.  Used by the functions that grant or allow something
 * to a role.
 */
CREATE FUNCTION paycons.require_role(role text) RETURNS oid
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    v_oid oid;
BEGIN
    IF require_role.role IS NULL THEN
        RAISE EXCEPTION 'role must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT r.oid INTO v_oid FROM pg_catalog.pg_roles r
     WHERE r.rolname OPERATOR(pg_catalog.=) require_role.role;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role "%" does not exist', require_role.role
            USING ERRCODE = 'PC026',
                  DETAIL = 'paycons never creates roles: it grants to roles the DBA created.',
                  HINT = pg_catalog.format('Create it first (CREATE ROLE %I LOGIN), then call this function again.',
                                           require_role.role);
    END IF;
    RETURN v_oid;
END;
$$;
COMMENT ON FUNCTION paycons.require_role(text) IS
    'the OID of the role of that exact name; PC026 if there is none (used by the grant and allow functions)';

/*
 * paycons.require_table(tbl, purpose): refuse (PC029) what cannot be
 * registered: not an ordinary or partitioned table, or a temporary one
 * (its registration would outlive it).
 */
CREATE FUNCTION paycons.require_table(tbl regclass, purpose text) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    v_kind        pg_catalog."char";
    v_persistence pg_catalog."char";
BEGIN
    IF require_table.tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT c.relkind, c.relpersistence INTO v_kind, v_persistence
      FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) require_table.tbl;
    IF v_kind IS NULL OR NOT (v_kind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::pg_catalog."char"[])) THEN
        RAISE EXCEPTION '"%" is not a table', require_table.tbl
            USING ERRCODE = 'PC029', DETAIL = pg_catalog.format('Only tables can be allowed to %s.', purpose);
    END IF;
    IF v_persistence OPERATOR(pg_catalog.=) 't' THEN
        RAISE EXCEPTION 'table "%" is temporary', require_table.tbl
            USING ERRCODE = 'PC029',
                  DETAIL = pg_catalog.format('A temporary table cannot be allowed to %s: it and its OID go away with the session.', purpose);
    END IF;
END;
$$;
COMMENT ON FUNCTION paycons.require_table(regclass, text) IS
    'PC029 unless tbl is a permanent (or unlogged) ordinary or partitioned table (used by the allow functions)';

/*
 * paycons.require_aggregate_type(aggregate_type): the checks emit() makes
 * of an aggregate type (not NULL, 1-64 bytes, no control character).
 */
CREATE FUNCTION paycons.require_aggregate_type(aggregate_type text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
BEGIN
    IF require_aggregate_type.aggregate_type IS NULL THEN
        RAISE EXCEPTION 'aggregate_type must not be null' USING ERRCODE = '22004';
    END IF;
    IF require_aggregate_type.aggregate_type OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION 'aggregate_type must not be empty' USING ERRCODE = 'PC006';
    END IF;
    IF pg_catalog.octet_length(require_aggregate_type.aggregate_type) OPERATOR(pg_catalog.>) 64 THEN
        RAISE EXCEPTION 'aggregate_type "%..." is too long',
            pg_catalog."left"(require_aggregate_type.aggregate_type, 32)
            USING ERRCODE = '22001', DETAIL = 'The maximum is 64 bytes.';
    END IF;
    IF require_aggregate_type.aggregate_type OPERATOR(pg_catalog.~) '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'aggregate_type "%" contains a control character',
            require_aggregate_type.aggregate_type
            USING ERRCODE = 'PC006';
    END IF;
END;
$$;
COMMENT ON FUNCTION paycons.require_aggregate_type(text) IS
    'refuse an aggregate type emit() would refuse (22004, PC006, 22001)';

/* ---- the owner's interface (no EXECUTE for any other role) ---- */

CREATE FUNCTION paycons.allow_guarded_table(tbl regclass) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
BEGIN
    PERFORM paycons.require_table(allow_guarded_table.tbl, 'write paycons.order_history');
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid OPERATOR(pg_catalog.=) allow_guarded_table.tbl
                      AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
                      AND a.atttypid OPERATOR(pg_catalog.=) 'paycons.order_state'::pg_catalog.regtype) THEN
        RAISE EXCEPTION 'table "%" has no column of type paycons.order_state', allow_guarded_table.tbl
            USING ERRCODE = 'PC029', HINT = 'paycons.order_guard() guards a column of that type.';
    END IF;
    INSERT INTO paycons.history_tables (relid) VALUES (allow_guarded_table.tbl)
        ON CONFLICT ON CONSTRAINT history_tables_pkey DO NOTHING;
END;
$$;
COMMENT ON FUNCTION paycons.allow_guarded_table(regclass) IS
    'owner only: let paycons.order_guard() on this table write paycons.order_history (it writes as the owner)';

CREATE FUNCTION paycons.disallow_guarded_table(tbl regclass) RETURNS boolean
    LANGUAGE sql VOLATILE STRICT
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
    WITH d AS (DELETE FROM paycons.history_tables h
                WHERE h.relid OPERATOR(pg_catalog.=) disallow_guarded_table.tbl RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d)
$$;
COMMENT ON FUNCTION paycons.disallow_guarded_table(regclass) IS
    'owner only: withdraw allow_guarded_table(); true if the table was allowed';

CREATE FUNCTION paycons.allow_outbox_table(tbl regclass, aggregate_type text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
BEGIN
    PERFORM paycons.require_table(allow_outbox_table.tbl, 'write outbox events');
    PERFORM paycons.require_aggregate_type(allow_outbox_table.aggregate_type);
    INSERT INTO paycons.outbox_tables (relid, aggregate_type)
    VALUES (allow_outbox_table.tbl, allow_outbox_table.aggregate_type)
        ON CONFLICT ON CONSTRAINT outbox_tables_pkey DO NOTHING;
END;
$$;
COMMENT ON FUNCTION paycons.allow_outbox_table(regclass, text) IS
    'owner only: let paycons.outbox_trigger() on this table write events of this aggregate type (it writes as the owner)';

CREATE FUNCTION paycons.disallow_outbox_table(tbl regclass, aggregate_type text) RETURNS boolean
    LANGUAGE sql VOLATILE STRICT
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
    WITH d AS (DELETE FROM paycons.outbox_tables o
                WHERE o.relid OPERATOR(pg_catalog.=) disallow_outbox_table.tbl
                  AND o.aggregate_type OPERATOR(pg_catalog.=) disallow_outbox_table.aggregate_type
                RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d)
$$;
COMMENT ON FUNCTION paycons.disallow_outbox_table(regclass, text) IS
    'owner only: withdraw allow_outbox_table(); true if it was allowed';

CREATE FUNCTION paycons.allow_emit(role text, aggregate_type text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    v_role oid := paycons.require_role(allow_emit.role);
BEGIN
    PERFORM paycons.require_aggregate_type(allow_emit.aggregate_type);
    INSERT INTO paycons.emit_roles (role, aggregate_type)
    VALUES (v_role::pg_catalog.regrole, allow_emit.aggregate_type)
        ON CONFLICT ON CONSTRAINT emit_roles_pkey DO NOTHING;
END;
$$;
COMMENT ON FUNCTION paycons.allow_emit(text, text) IS
    'owner only: let a role (and its members) paycons.emit() events of a reserved aggregate type such as ''order''';

CREATE FUNCTION paycons.disallow_emit(role text, aggregate_type text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    v_role oid := paycons.require_role(disallow_emit.role);
BEGIN
    DELETE FROM paycons.emit_roles e
     WHERE e.role OPERATOR(pg_catalog.=) v_role::pg_catalog.regrole
       AND e.aggregate_type OPERATOR(pg_catalog.=) disallow_emit.aggregate_type;
    RETURN FOUND;
END;
$$;
COMMENT ON FUNCTION paycons.disallow_emit(text, text) IS
    'owner only: withdraw allow_emit(); true if it was allowed';

/* ---- what an operator reads (granted by paycons.grant_operator_role) ---- */

CREATE VIEW paycons.open_reconciliation_diffs WITH (security_barrier) AS
    SELECT id, channel, channel_txn_id, diff, order_id, statement_date,
           statement_amount, local_amount, currency, local_outcome, detail,
           found_at, last_seen_at
      FROM paycons.reconciliation_diffs
     WHERE resolved_at IS NULL;
COMMENT ON VIEW paycons.open_reconciliation_diffs IS
    'reconciliation differences nobody has resolved yet (resolve them with paycons.resolve_diff)';

CREATE VIEW paycons.dead_compensations WITH (security_barrier) AS
    SELECT id, order_id, action, handler, args, attempts, last_error,
           last_sqlstate, created_at, updated_at, last_attempt_at
      FROM paycons.compensations
     WHERE state OPERATOR(pg_catalog.=) 'dead';
COMMENT ON VIEW paycons.dead_compensations IS
    'compensation steps that used up their attempts (retry them with paycons.retry_compensation)';
