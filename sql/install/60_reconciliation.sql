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
    fee            bigint DEFAULT 0 CONSTRAINT statement_lines_fee_nonnegative CHECK (fee >= 0),
    settled_at     timestamptz,
    loaded_at      timestamptz NOT NULL DEFAULT now(),
    -- issue 12: statements (the upgrade script adds these in this order)
    fee_milli      bigint,
    line_no        integer CONSTRAINT statement_lines_line_no_positive CHECK (line_no > 0),
    original_txn_id text CONSTRAINT statement_lines_original_length CHECK (octet_length(original_txn_id) BETWEEN 1 AND 128),
    merchant_refund_id text CONSTRAINT statement_lines_merchant_refund_length CHECK (octet_length(merchant_refund_id) BETWEEN 1 AND 128),
    line_ref       text CONSTRAINT statement_lines_line_ref_length CHECK (octet_length(line_ref) BETWEEN 1 AND 128),
    file_id        bigint,
    PRIMARY KEY (channel, channel_txn_id)
);
CREATE INDEX statement_lines_date ON paycons.statement_lines (channel, statement_date);
COMMENT ON TABLE paycons.statement_lines IS
    'settled transactions from the channels'' statements, one row per (channel, channel_txn_id); load with paycons.load_statement() or COPY';
COMMENT ON COLUMN paycons.statement_lines.fee IS
    'the channel''s fee in whole minor units; NULL when the channel states it more precisely or gives it back (see fee_milli)';
COMMENT ON COLUMN paycons.statement_lines.fee_milli IS
    'the channel''s fee exactly, in thousandths of a minor unit (WeChat Pay states fees to 1/1000 fen); negative: a fee given back on a refund; NULL: see fee';
COMMENT ON COLUMN paycons.statement_lines.line_no IS 'the line of the statement file it was loaded from';
COMMENT ON COLUMN paycons.statement_lines.original_txn_id IS 'refunds: the channel''s id of the refunded payment';
COMMENT ON COLUMN paycons.statement_lines.merchant_refund_id IS 'refunds: the merchant''s refund number as the channel lists it';
COMMENT ON COLUMN paycons.statement_lines.line_ref IS 'the channel''s own id of the statement line (Stripe: the balance transaction txn_...)';
COMMENT ON COLUMN paycons.statement_lines.file_id IS 'paycons.statement_files.id of the file it was loaded from (NULL: loaded by hand)';
SELECT pg_catalog.pg_extension_config_dump('paycons.statement_lines', '');

CREATE TABLE paycons.reconciliation_diffs (
    id              bigserial PRIMARY KEY,
    channel         text NOT NULL,
    channel_txn_id  text NOT NULL,
    diff            text NOT NULL
                    CONSTRAINT reconciliation_diffs_diff_valid
                    CHECK (diff IN ('missing_locally', 'fact_mismatch', 'status_mismatch',
                                    'needs_review', 'missing_in_statement', 'fee_mismatch')),
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
    -- issue 12: statements (the upgrade script adds these in this order)
    resolution_note text CONSTRAINT reconciliation_diffs_note_length CHECK (octet_length(resolution_note) <= 1000),
    resolved_by     text,
    CONSTRAINT reconciliation_diffs_once UNIQUE (channel, channel_txn_id, diff)
);
CREATE INDEX reconciliation_diffs_open ON paycons.reconciliation_diffs (found_at)
    WHERE resolved_at IS NULL;
COMMENT ON TABLE paycons.reconciliation_diffs IS
    'differences between statements and local state: repaired ones (resolved_at set) and those a person must look at';
COMMENT ON COLUMN paycons.reconciliation_diffs.resolution IS
    'how the difference was settled (for a line applied from the statement: the outcome apply_callback decided)';
COMMENT ON COLUMN paycons.reconciliation_diffs.resolution_note IS 'the operator''s note given to paycons.resolve_diff()';
COMMENT ON COLUMN paycons.reconciliation_diffs.resolved_by IS 'the role that resolved it with paycons.resolve_diff() (NULL: resolved by reconciliation)';
SELECT pg_catalog.pg_extension_config_dump('paycons.reconciliation_diffs', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.reconciliation_diffs_id_seq', '');

