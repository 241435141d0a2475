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

/* ---- issue 10: security -- money authority and least privilege ---- */

/*
 * See doc/security.md.  Order history records forced money edges; read API;
 * registrations of the tables and roles allowed to write history and
 * events; the app / consumer / operator grant functions; owner-run SQL
 * fully qualified.  Every object is created exactly as the install
 * fragments create it (20, 50, 60, 70, 80, 90), with the same ACL.
 */

-- order_history: forced money edges are recorded as such (20_orders.sql)
ALTER TABLE paycons.order_history ADD COLUMN forced boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN paycons.order_history.forced IS
    'true for a money edge (-> paid, -> refunded, ...) that the extension owner forced with a reason, without money facts';

-- the read API (20_orders.sql)
CREATE FUNCTION paycons.get_order(order_id text)
    RETURNS paycons.orders
    AS 'MODULE_PATHNAME', 'paycons_get_order'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.get_order(text) IS
    'the row of one order (PC002 if there is none)';

CREATE FUNCTION paycons.order_history_of(order_id text)
    RETURNS SETOF paycons.order_history
    AS 'MODULE_PATHNAME', 'paycons_order_history_of'
    LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 8;
COMMENT ON FUNCTION paycons.order_history_of(text) IS
    'the state changes of one order of paycons.orders, oldest first (PC002 if there is no such order)';

-- drop_channel, qualified (50_callbacks.sql)
CREATE OR REPLACE FUNCTION paycons.drop_channel(channel text)
    RETURNS boolean
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
    WITH d AS (DELETE FROM paycons.channels c
                WHERE c.channel OPERATOR(pg_catalog.=) drop_channel.channel RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d)
$$;

-- reconciliation: who resolved a difference; reconcile_statement qualified;
-- resolve_diff (60_reconciliation.sql)
ALTER TABLE paycons.reconciliation_diffs ADD COLUMN resolved_by text;
COMMENT ON COLUMN paycons.reconciliation_diffs.resolved_by IS
    'the role that resolved it with paycons.resolve_diff() (NULL when reconciliation itself settled it)';
CREATE OR REPLACE FUNCTION paycons.reconcile_statement(
    channel text,
    statement_date date,
    OUT lines integer,
    OUT matched integer,
    OUT repaired integer,
    OUT differences integer,
    OUT missing_in_statement integer)
    RETURNS record
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
-- Runs as the owner: every operator and function is schema-qualified on
-- top of the pinned search_path (doc/security.md).
DECLARE
    v_channel  text := reconcile_statement.channel;
    v_date     date := reconcile_statement.statement_date;
    l          paycons.statement_lines;
    c          paycons.callbacks;
    r          record;
    v_diff     text;
BEGIN
    IF v_channel IS NULL THEN
        RAISE EXCEPTION 'channel must not be null' USING ERRCODE = '22004';
    END IF;
    IF v_date IS NULL THEN
        RAISE EXCEPTION 'statement_date must not be null' USING ERRCODE = '22004';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM paycons.channels ch
                    WHERE ch.channel OPERATOR(pg_catalog.=) v_channel) THEN
        RAISE EXCEPTION 'payment channel "%" is not registered', v_channel
            USING ERRCODE = 'PC106', HINT = 'Register it with paycons.set_channel().';
    END IF;

    lines := 0; matched := 0; repaired := 0; differences := 0; missing_in_statement := 0;

    FOR l IN SELECT * FROM paycons.statement_lines s
              WHERE s.channel OPERATOR(pg_catalog.=) v_channel
                AND s.statement_date OPERATOR(pg_catalog.=) v_date
              ORDER BY s.channel_txn_id
    LOOP
        lines := lines OPERATOR(pg_catalog.+) 1;
        SELECT * INTO c FROM paycons.callbacks cb
         WHERE cb.channel OPERATOR(pg_catalog.=) l.channel
           AND cb.channel_txn_id OPERATOR(pg_catalog.=) l.channel_txn_id;

        IF NOT FOUND THEN
            -- settled, but we never heard: apply it now (自动补单)
            SELECT * INTO r FROM paycons.apply_callback(
                l.channel, l.channel_txn_id, l.order_id, l.kind, 'success',
                l.amount, l.currency,
                pg_catalog.jsonb_build_object('statement_date', l.statement_date, 'fee', l.fee,
                                              'settled_at', l.settled_at),
                NULL, NULL, 'statement');
            IF r.outcome OPERATOR(pg_catalog.=) ANY (ARRAY['applied', 'late_payment', 'duplicate_payment']) THEN
                repaired := repaired OPERATOR(pg_catalog.+) 1;
                v_diff := 'missing_locally';
            ELSE
                -- applied, but the order could not take it (unknown order,
                -- mismatched money, ...): a person must look
                differences := differences OPERATOR(pg_catalog.+) 1;
                v_diff := 'needs_review';
            END IF;
            INSERT INTO paycons.reconciliation_diffs AS d
                   (channel, channel_txn_id, diff, order_id, statement_date,
                    statement_amount, currency, local_outcome, resolution, detail, resolved_at)
            VALUES (l.channel, l.channel_txn_id, v_diff, l.order_id, l.statement_date,
                    l.amount, l.currency, r.outcome,
                    'applied from the statement: ' OPERATOR(pg_catalog.||) r.outcome,
                    pg_catalog.jsonb_build_object('statement',
                        pg_catalog.to_jsonb(l) OPERATOR(pg_catalog.-) 'loaded_at'::pg_catalog.text),
                    CASE WHEN v_diff OPERATOR(pg_catalog.=) 'missing_locally' THEN pg_catalog.now() END)
            ON CONFLICT ON CONSTRAINT reconciliation_diffs_once
            DO UPDATE SET last_seen_at = pg_catalog.now();
            CONTINUE;
        END IF;

        v_diff := NULL;
        IF c.order_id OPERATOR(pg_catalog.<>) l.order_id OR c.kind OPERATOR(pg_catalog.<>) l.kind
           OR c.amount OPERATOR(pg_catalog.<>) l.amount OR c.currency OPERATOR(pg_catalog.<>) l.currency THEN
            v_diff := 'fact_mismatch';
        ELSIF c.status OPERATOR(pg_catalog.<>) 'success' THEN
            v_diff := 'status_mismatch';
        ELSIF NOT (c.outcome OPERATOR(pg_catalog.=) ANY (ARRAY['applied', 'late_payment', 'duplicate_payment'])) THEN
            -- the money is real, but the order did not take it
            v_diff := 'needs_review';
        END IF;

        IF v_diff IS NULL THEN
            matched := matched OPERATOR(pg_catalog.+) 1;
            -- a difference found earlier and since repaired by other means
            UPDATE paycons.reconciliation_diffs d
               SET resolved_at = pg_catalog.now(), last_seen_at = pg_catalog.now(),
                   resolution = coalesce(d.resolution, 'matched later')
             WHERE d.channel OPERATOR(pg_catalog.=) l.channel
               AND d.channel_txn_id OPERATOR(pg_catalog.=) l.channel_txn_id
               AND d.resolved_at IS NULL AND d.diff OPERATOR(pg_catalog.<>) 'missing_locally';
        ELSE
            differences := differences OPERATOR(pg_catalog.+) 1;
            INSERT INTO paycons.reconciliation_diffs AS d
                   (channel, channel_txn_id, diff, order_id, statement_date,
                    statement_amount, local_amount, currency, local_outcome, detail)
            VALUES (l.channel, l.channel_txn_id, v_diff, l.order_id, l.statement_date,
                    l.amount, c.amount, l.currency, c.outcome,
                    pg_catalog.jsonb_build_object(
                        'statement', pg_catalog.to_jsonb(l) OPERATOR(pg_catalog.-) 'loaded_at'::pg_catalog.text,
                        'local', pg_catalog.to_jsonb(c) OPERATOR(pg_catalog.-) 'payload'::pg_catalog.text))
            ON CONFLICT ON CONSTRAINT reconciliation_diffs_once
            DO UPDATE SET last_seen_at = pg_catalog.now(), local_outcome = excluded.local_outcome,
                          detail = excluded.detail;
        END IF;
    END LOOP;

    -- money we believe we received on that day that the channel never settled
    FOR c IN SELECT * FROM paycons.callbacks cb
              WHERE cb.channel OPERATOR(pg_catalog.=) v_channel
                AND cb.status OPERATOR(pg_catalog.=) 'success'
                AND cb.outcome OPERATOR(pg_catalog.=) ANY (ARRAY['applied', 'late_payment', 'duplicate_payment'])
                AND cb.received_at OPERATOR(pg_catalog.>=) v_date::pg_catalog.timestamptz
                AND cb.received_at OPERATOR(pg_catalog.<) (v_date OPERATOR(pg_catalog.+) 1)::pg_catalog.timestamptz
                AND NOT EXISTS (SELECT 1 FROM paycons.statement_lines s
                                 WHERE s.channel OPERATOR(pg_catalog.=) cb.channel
                                   AND s.channel_txn_id OPERATOR(pg_catalog.=) cb.channel_txn_id)
              ORDER BY cb.channel_txn_id
    LOOP
        missing_in_statement := missing_in_statement OPERATOR(pg_catalog.+) 1;
        INSERT INTO paycons.reconciliation_diffs AS d
               (channel, channel_txn_id, diff, order_id, statement_date,
                local_amount, currency, local_outcome, detail)
        VALUES (c.channel, c.channel_txn_id, 'missing_in_statement', c.order_id, v_date,
                c.amount, c.currency, c.outcome,
                pg_catalog.to_jsonb(c) OPERATOR(pg_catalog.-) 'payload'::pg_catalog.text)
        ON CONFLICT ON CONSTRAINT reconciliation_diffs_once
        DO UPDATE SET last_seen_at = pg_catalog.now();
    END LOOP;

    -- a line that arrived in a later statement resolves an earlier gap
    UPDATE paycons.reconciliation_diffs d
       SET resolved_at = pg_catalog.now(), resolution = 'found in a later statement'
     WHERE d.channel OPERATOR(pg_catalog.=) v_channel
       AND d.diff OPERATOR(pg_catalog.=) 'missing_in_statement'
       AND d.resolved_at IS NULL
       AND EXISTS (SELECT 1 FROM paycons.statement_lines s
                    WHERE s.channel OPERATOR(pg_catalog.=) d.channel
                      AND s.channel_txn_id OPERATOR(pg_catalog.=) d.channel_txn_id);
END;
$$;
CREATE FUNCTION paycons.resolve_diff(id bigint, resolution text)
    RETURNS paycons.reconciliation_diffs
    AS 'MODULE_PATHNAME', 'paycons_resolve_diff'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.resolve_diff(bigint, text) IS
    'mark an open reconciliation difference resolved, with a note and the calling role (PC027 unknown, PC028 resolved already)';

-- the health view's function runs as the owner; the refund trigger
-- qualified (70_maintenance.sql)
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
            ' FROM (SELECT COALESCE(outcome::pg_catalog.text, ''(none)'') AS outcome, pg_catalog.count(*) AS n'
            '       FROM paycons.callbacks'
            '       WHERE received_at OPERATOR(pg_catalog.>)'
            '             (pg_catalog.now() OPERATOR(pg_catalog.-) ''1 hour''::pg_catalog.interval)'
            '       GROUP BY 1) s'
       INTO result;
    RETURN result;
END;
$$;
CREATE OR REPLACE FUNCTION paycons.callbacks_complete_refund() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    cb jsonb := pg_catalog.to_jsonb(NEW);
BEGIN
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

-- registrations, their functions and the operator's views (80_security.sql)
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

/*
 * Tables that carried paycons.order_guard() with a key column, or
 * paycons.outbox_trigger(), before 0.2.0 keep working: they are registered
 * as 0.1.0 allowed them, unless a fresh install would need no entry (a
 * table of the owner's) or the table is temporary.  An outbox trigger of a
 * reserved aggregate type ('order', 'compensation') on such a table is the
 * forgery 0.2.0 closes: it is not registered (its table's writes fail with
 * PC024 until the owner decides), and a WARNING names it.  Review
 * paycons.history_tables and paycons.outbox_tables after the upgrade.
 */
INSERT INTO paycons.history_tables (relid)
SELECT DISTINCT t.tgrelid::pg_catalog.regclass
  FROM pg_catalog.pg_trigger t
  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tgrelid
 WHERE t.tgfoid OPERATOR(pg_catalog.=) 'paycons.order_guard()'::pg_catalog.regprocedure
   AND t.tgnargs OPERATOR(pg_catalog.=) 2
   AND c.relpersistence OPERATOR(pg_catalog.<>) 't'
   AND NOT pg_catalog.pg_has_role(c.relowner,
           (SELECT n.nspowner FROM pg_catalog.pg_namespace n
             WHERE n.nspname OPERATOR(pg_catalog.=) 'paycons'), 'USAGE')
ON CONFLICT ON CONSTRAINT history_tables_pkey DO NOTHING;

DO $$
DECLARE
    o record;
BEGIN
    FOR o IN
        SELECT DISTINCT t.tgrelid::pg_catalog.regclass AS relid, t.tgname,
               (pg_catalog.string_to_array(pg_catalog.encode(t.tgargs, 'escape'), '\000'))[1] AS aggregate_type
          FROM pg_catalog.pg_trigger t
          JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tgrelid
         WHERE t.tgfoid OPERATOR(pg_catalog.=) 'paycons.outbox_trigger()'::pg_catalog.regprocedure
           AND t.tgnargs OPERATOR(pg_catalog.>=) 1
           AND c.relpersistence OPERATOR(pg_catalog.<>) 't'
           AND NOT pg_catalog.pg_has_role(c.relowner,
                   (SELECT n.nspowner FROM pg_catalog.pg_namespace n
                     WHERE n.nspname OPERATOR(pg_catalog.=) 'paycons'), 'USAGE')
    LOOP
        IF pg_catalog.lower(o.aggregate_type) OPERATOR(pg_catalog.=) ANY (ARRAY['order', 'compensation']) THEN
            RAISE WARNING 'paycons: trigger "%" on table % writes events of the reserved aggregate type "%": not registered',
                o.tgname, o.relid, o.aggregate_type
                USING HINT = 'Its rows fail with PC024 until the extension owner runs paycons.allow_outbox_table() for it, or the trigger is changed.';
        ELSIF pg_catalog.octet_length(o.aggregate_type) OPERATOR(pg_catalog.<=) 64 THEN
            INSERT INTO paycons.outbox_tables (relid, aggregate_type)
            VALUES (o.relid, o.aggregate_type)
            ON CONFLICT ON CONSTRAINT outbox_tables_pkey DO NOTHING;
        END IF;
    END LOOP;
END;
$$;

-- the role model (90_privileges.sql): grant functions take the role's
-- name and refuse an unknown role with PC026
DROP FUNCTION paycons.grant_app_role(regrole);
/*
 * paycons.grant_app_role(role): give an application role what a webhook
 * handler and an order service need -- EXECUTE on the application API.
 * Every fragment that adds an application-facing function adds it to the
 * list below.  "role" is the exact name of an existing role (PC026 if
 * there is none).
 */
CREATE FUNCTION paycons.grant_app_role(role text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    fn text;
BEGIN
    PERFORM paycons.require_role(grant_app_role.role);
    FOREACH fn IN ARRAY ARRAY[
        'paycons.create_order(text, bigint, text, interval, jsonb)',
        'paycons.begin_payment(text, text)',
        'paycons.transition(text, paycons.order_state, text)',
        'paycons.get_order(text)',
        'paycons.order_history_of(text)',
        -- callbacks (keep each section apart so parallel edits merge)
        'paycons.apply_callback(text, text, text, text, text, bigint, text, jsonb, text, text, text)',

        -- end callbacks
        -- outbox
        'paycons.emit(text, text, text, jsonb, jsonb, timestamptz)',
        'paycons.outbox_trigger()',
        -- end outbox
        -- compensations and maintenance
        'paycons.enqueue_compensation(text, text, regprocedure, jsonb)',
        'paycons.complete_compensation(bigint, boolean, text)',
        'paycons.complete_refund_for(text, bigint, text, text)',
        'paycons.add_stock(text, bigint)',
        'paycons.reserve_stock(text, jsonb)',
        'paycons.commit_stock(text)',
        'paycons.release_stock(text, jsonb)',
        'paycons.wake()',

        -- end compensations
        'paycons.can_transition(paycons.order_state, paycons.order_state)'
    ]
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I', fn, grant_app_role.role);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION paycons.grant_app_role(text) IS
    'grant an existing role EXECUTE on the paycons application API (orders, callbacks, events, compensations, stock) and nothing on the tables';

/*
 * paycons.grant_consumer_role(role): what an outbox consumer needs --
 * claim, acknowledge, give back; and the read API to look up an event's
 * order.
 */
CREATE FUNCTION paycons.grant_consumer_role(role text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    fn text;
BEGIN
    PERFORM paycons.require_role(grant_consumer_role.role);
    FOREACH fn IN ARRAY ARRAY[
        'paycons.outbox_claim(text, integer, interval)',
        'paycons.outbox_ack(bigint[], text)',
        'paycons.outbox_nack(bigint, text, interval, text)',
        'paycons.get_order(text)',
        'paycons.order_history_of(text)'
    ]
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I', fn, grant_consumer_role.role);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION paycons.grant_consumer_role(text) IS
    'grant an existing role what an outbox consumer needs: outbox_claim, outbox_ack, outbox_nack, get_order, order_history_of';

/*
 * paycons.grant_operator_role(role): what on-call needs -- the health
 * views, redriving dead events, retrying dead compensations, resolving
 * reconciliation differences, and the read API.  Nothing on the tables,
 * never the channel secrets.
 */
CREATE FUNCTION paycons.grant_operator_role(role text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    obj text;
BEGIN
    PERFORM paycons.require_role(grant_operator_role.role);
    FOREACH obj IN ARRAY ARRAY[
        'paycons.get_order(text)',
        'paycons.order_history_of(text)',
        'paycons.stats()',
        'paycons.callback_outcomes_last_hour()',
        'paycons.outbox_redrive(bigint[])',
        'paycons.retry_compensation(bigint)',
        'paycons.resolve_diff(bigint, text)'
        -- review resolution (issue 12) goes here
    ]
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I', obj, grant_operator_role.role);
    END LOOP;
    FOREACH obj IN ARRAY ARRAY[
        'paycons.health',
        'paycons.order_counts',
        'paycons.outbox_dead_letters',
        'paycons.open_reconciliation_diffs',
        'paycons.dead_compensations'
    ]
    LOOP
        EXECUTE pg_catalog.format('GRANT SELECT ON %s TO %I', obj, grant_operator_role.role);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION paycons.grant_operator_role(text) IS
    'grant an existing role what on-call needs: the health views, outbox_redrive, retry_compensation, resolve_diff, the read API';

-- ACLs as a fresh install has them: every function above is the owner's
-- alone (REVOKE ... FROM PUBLIC in 90_privileges.sql runs after them).
REVOKE EXECUTE ON FUNCTION
    paycons.get_order(text),
    paycons.order_history_of(text),
    paycons.resolve_diff(bigint, text),
    paycons.registry_changed(),
    paycons.require_role(text),
    paycons.require_table(regclass, text),
    paycons.require_aggregate_type(text),
    paycons.allow_guarded_table(regclass),
    paycons.disallow_guarded_table(regclass),
    paycons.allow_outbox_table(regclass, text),
    paycons.disallow_outbox_table(regclass, text),
    paycons.allow_emit(text, text),
    paycons.disallow_emit(text, text),
    paycons.grant_app_role(text),
    paycons.grant_consumer_role(text),
    paycons.grant_operator_role(text)
FROM PUBLIC;
REVOKE ALL ON paycons.history_tables, paycons.outbox_tables, paycons.emit_roles,
    paycons.open_reconciliation_diffs, paycons.dead_compensations FROM PUBLIC;
-- roles granted with 0.1.0's grant_app_role keep what it gave them, the
-- outbox consumer functions included; grant_consumer_role is the new way.
