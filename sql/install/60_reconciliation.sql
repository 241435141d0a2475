/*
 * 60_reconciliation.sql -- statement reconciliation (对账): the channel's
 * settlement statement, loaded with COPY, is compared with the callback
 * inbox.  Settled transactions we never heard of are applied through
 * apply_callback() with source 'statement' (automatic re-order, 自动补单);
 * every other difference is kept in paycons.reconciliation_diffs for a
 * person.  See doc/reconciliation.md.
 */

CREATE TABLE paycons.statement_lines (
    channel        text NOT NULL,
    statement_date date NOT NULL,
    channel_txn_id text NOT NULL
                   CONSTRAINT statement_lines_txn_length CHECK (octet_length(channel_txn_id) BETWEEN 1 AND 128),
    order_id       text NOT NULL
                   CONSTRAINT statement_lines_order_length CHECK (octet_length(order_id) BETWEEN 1 AND 64),
    kind           text NOT NULL CONSTRAINT statement_lines_kind_valid CHECK (kind IN ('payment', 'refund')),
    amount         bigint NOT NULL CONSTRAINT statement_lines_amount_positive CHECK (amount > 0),
    currency       text NOT NULL CONSTRAINT statement_lines_currency_iso4217 CHECK (currency ~ '^[A-Z]{3}$'),
    fee            bigint NOT NULL DEFAULT 0 CONSTRAINT statement_lines_fee_nonnegative CHECK (fee >= 0),
    settled_at     timestamptz,
    loaded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, channel_txn_id)
);
CREATE INDEX statement_lines_date ON paycons.statement_lines (channel, statement_date);
COMMENT ON TABLE paycons.statement_lines IS
    'settled transactions from the channels'' statements, one row per (channel, channel_txn_id); load with COPY';
SELECT pg_catalog.pg_extension_config_dump('paycons.statement_lines', '');

CREATE TABLE paycons.reconciliation_diffs (
    id              bigserial PRIMARY KEY,
    channel         text NOT NULL,
    channel_txn_id  text NOT NULL,
    diff            text NOT NULL
                    CONSTRAINT reconciliation_diffs_diff_valid
                    CHECK (diff IN ('missing_locally', 'fact_mismatch', 'status_mismatch',
                                    'needs_review', 'missing_in_statement')),
    order_id        text,
    statement_date  date,
    statement_amount bigint,
    local_amount    bigint,
    currency        text,
    local_outcome   text,
    resolution      text,
    detail          jsonb NOT NULL DEFAULT '{}',
    found_at        timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    resolved_by     text,
    CONSTRAINT reconciliation_diffs_once UNIQUE (channel, channel_txn_id, diff)
);
CREATE INDEX reconciliation_diffs_open ON paycons.reconciliation_diffs (found_at)
    WHERE resolved_at IS NULL;
COMMENT ON TABLE paycons.reconciliation_diffs IS
    'differences between statements and local state: repaired ones (resolved_at set) and those a person must look at';
COMMENT ON COLUMN paycons.reconciliation_diffs.resolution IS
    'how the difference was settled (for a line applied from the statement: the outcome apply_callback decided)';
COMMENT ON COLUMN paycons.reconciliation_diffs.resolved_by IS
    'the role that resolved it with paycons.resolve_diff() (NULL when reconciliation itself settled it)';
SELECT pg_catalog.pg_extension_config_dump('paycons.reconciliation_diffs', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.reconciliation_diffs_id_seq', '');

/*
 * paycons.reconcile_statement(channel, statement_date): one pass over the
 * statement lines of that channel and date.  Idempotent: a second run
 * applies nothing new (apply_callback answers replays) and adds no diff
 * twice.  Owner only: it feeds apply_callback with source 'statement',
 * which skips the per-callback signature (the statement is the channel's
 * own record).
 */
CREATE FUNCTION paycons.reconcile_statement(
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
COMMENT ON FUNCTION paycons.reconcile_statement(text, date) IS
    'reconcile one channel''s statement for one date: apply what we missed (source statement), record every other difference';

/*
 * paycons.resolve_diff(id, resolution): an operator settles an open
 * difference (granted by paycons.grant_operator_role()).
 */
CREATE FUNCTION paycons.resolve_diff(id bigint, resolution text)
    RETURNS paycons.reconciliation_diffs
    AS 'MODULE_PATHNAME', 'paycons_resolve_diff'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.resolve_diff(bigint, text) IS
    'mark an open reconciliation difference resolved, with a note and the calling role (PC027 unknown, PC028 resolved already)';
