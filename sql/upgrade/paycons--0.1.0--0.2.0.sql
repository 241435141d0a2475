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

-- issue 12: statements ------------------------------------------------------
-- Statement files in the channels' formats, statement settings, fee
-- mismatches, the cross-day window and resolve_diff().  Everything below the
-- ALTERs is sql/install/61_statements.sql verbatim.

ALTER TABLE paycons.statement_lines ALTER COLUMN fee DROP NOT NULL;
ALTER TABLE paycons.statement_lines
    ADD COLUMN fee_milli bigint,
    ADD COLUMN line_no integer CONSTRAINT statement_lines_line_no_positive CHECK (line_no > 0),
    ADD COLUMN original_txn_id text CONSTRAINT statement_lines_original_length CHECK (octet_length(original_txn_id) BETWEEN 1 AND 128),
    ADD COLUMN merchant_refund_id text CONSTRAINT statement_lines_merchant_refund_length CHECK (octet_length(merchant_refund_id) BETWEEN 1 AND 128),
    ADD COLUMN line_ref text CONSTRAINT statement_lines_line_ref_length CHECK (octet_length(line_ref) BETWEEN 1 AND 128),
    ADD COLUMN file_id bigint;
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

ALTER TABLE paycons.reconciliation_diffs
    DROP CONSTRAINT reconciliation_diffs_diff_valid,
    ADD CONSTRAINT reconciliation_diffs_diff_valid
        CHECK (diff IN ('missing_locally', 'fact_mismatch', 'status_mismatch',
                        'needs_review', 'missing_in_statement', 'fee_mismatch')),
    ADD COLUMN resolution_note text CONSTRAINT reconciliation_diffs_note_length CHECK (octet_length(resolution_note) <= 1000),
    ADD COLUMN resolved_by text;
COMMENT ON COLUMN paycons.reconciliation_diffs.resolution_note IS 'the operator''s note given to paycons.resolve_diff()';
COMMENT ON COLUMN paycons.reconciliation_diffs.resolved_by IS 'the role that resolved it with paycons.resolve_diff() (NULL: resolved by reconciliation)';

-- reconcile_statement gains the OUT column "deferred"
DROP FUNCTION paycons.reconcile_statement(text, date);

CREATE TABLE paycons.statement_files (
    id             bigserial PRIMARY KEY,
    channel        text NOT NULL,
    statement_date date NOT NULL,
    format         text NOT NULL
                   CONSTRAINT statement_files_format_valid
                   CHECK (format IN ('wechatpay_tradebill', 'alipay_bill', 'stripe_balance', 'csv')),
    digest         text NOT NULL CONSTRAINT statement_files_digest_sha256 CHECK (digest ~ '^[0-9a-f]{64}$'),
    time_zone      text NOT NULL,
    lines          integer NOT NULL,
    payments       integer NOT NULL,
    refunds        integer NOT NULL,
    skipped        integer NOT NULL,
    totals         jsonb NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now(),
    loaded_by      text NOT NULL,
    replaced       integer NOT NULL DEFAULT 0,
    CONSTRAINT statement_files_once UNIQUE (channel, statement_date)
);
COMMENT ON TABLE paycons.statement_files IS
    'one row per loaded statement file: its digest, format, counts and totals (paycons.load_statement)';
COMMENT ON COLUMN paycons.statement_files.digest IS
    'SHA-256 (hex) of the file''s lines, each ended by LF: loading the same file again is a no-op';
COMMENT ON COLUMN paycons.statement_files.time_zone IS
    'the time zone of the file''s times and of its day (Asia/Shanghai for WeChat Pay and Alipay, UTC for Stripe)';
COMMENT ON COLUMN paycons.statement_files.skipped IS
    'records that are not payments or refunds (payouts, revoked trades, refunds still processing, ...)';
COMMENT ON COLUMN paycons.statement_files.totals IS
    'per currency: payments, payment_amount, refunds, refund_amount (minor units), fee_milli';
COMMENT ON COLUMN paycons.statement_files.replaced IS 'how many times another file replaced this one (replace => true)';
SELECT pg_catalog.pg_extension_config_dump('paycons.statement_files', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.statement_files_id_seq', '');

CREATE TABLE paycons.statement_settings (
    channel          text PRIMARY KEY,
    time_zone        text,
    cross_day_window interval NOT NULL DEFAULT '15 minutes'
                     CONSTRAINT statement_settings_window_range
                     CHECK (cross_day_window >= '0'::interval AND cross_day_window < '1 day'::interval),
    fee_rate_ppm     integer CONSTRAINT statement_settings_fee_rate_range CHECK (fee_rate_ppm BETWEEN 0 AND 1000000),
    fee_fixed        bigint NOT NULL DEFAULT 0 CONSTRAINT statement_settings_fee_fixed_nonnegative CHECK (fee_fixed >= 0),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE paycons.statement_settings IS
    'per channel settings of statement reconciliation; a channel without a row uses the defaults';
COMMENT ON COLUMN paycons.statement_settings.time_zone IS
    'time zone of csv files and hand-loaded lines (NULL: UTC); the other formats carry their own';
COMMENT ON COLUMN paycons.statement_settings.cross_day_window IS
    'a payment received this close before the end of a statement day belongs to the next day''s run';
COMMENT ON COLUMN paycons.statement_settings.fee_rate_ppm IS
    'expected fee of a payment in millionths of its amount (6000 = 0.6%); NULL: fees are not checked';
COMMENT ON COLUMN paycons.statement_settings.fee_fixed IS 'expected fixed fee per payment, minor units';
SELECT pg_catalog.pg_extension_config_dump('paycons.statement_settings', '');

/*
 * The advisory lock key of a (channel, statement date): one load or
 * reconciliation of it at a time.
 */
CREATE FUNCTION paycons.statement_lock_key(channel text, statement_date date)
    RETURNS bigint
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
    SELECT pg_catalog.hashtextextended(
        pg_catalog.concat_ws('/', 'paycons.statement', $1, pg_catalog.to_char($2, 'YYYY-MM-DD')), 0)
$$;
COMMENT ON FUNCTION paycons.statement_lock_key(text, date) IS
    'advisory lock key serialising load_statement and reconcile_statement of one (channel, date)';

CREATE FUNCTION paycons.load_statement(
    channel text,
    statement_date date,
    format text,
    content text,
    replace boolean DEFAULT false,
    OUT file_id bigint,
    OUT status text,
    OUT lines integer,
    OUT payments integer,
    OUT refunds integer,
    OUT skipped integer,
    OUT totals jsonb,
    OUT digest text)
    RETURNS record
    AS 'MODULE_PATHNAME', 'paycons_load_statement'
    LANGUAGE C VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp;
COMMENT ON FUNCTION paycons.load_statement(text, date, text, text, boolean) IS
    'load a channel''s statement file (wechatpay_tradebill, alipay_bill, stripe_balance or csv) given as text; the same file again is a no-op';

CREATE FUNCTION paycons.load_statement_upload(
    channel text,
    statement_date date,
    format text,
    upload regclass,
    replace boolean DEFAULT false,
    OUT file_id bigint,
    OUT status text,
    OUT lines integer,
    OUT payments integer,
    OUT refunds integer,
    OUT skipped integer,
    OUT totals jsonb,
    OUT digest text)
    RETURNS record
    AS 'MODULE_PATHNAME', 'paycons_load_statement_upload'
    LANGUAGE C VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp;
COMMENT ON FUNCTION paycons.load_statement_upload(text, date, text, regclass, boolean) IS
    'load a statement file whose lines the caller copied into a table (columns line_no, line) with COPY';

/*
 * paycons.set_statement_settings(channel, ...): arguments left NULL keep
 * the current value (or the default for a new row).  Owner only.
 */
CREATE FUNCTION paycons.set_statement_settings(
    channel text,
    time_zone text DEFAULT NULL,
    cross_day_window interval DEFAULT NULL,
    fee_rate_ppm integer DEFAULT NULL,
    fee_fixed bigint DEFAULT NULL)
    RETURNS paycons.statement_settings
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    v_row paycons.statement_settings;
BEGIN
    IF set_statement_settings.channel IS NULL THEN
        RAISE EXCEPTION 'channel must not be null' USING ERRCODE = '22004';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM paycons.channels c
                    WHERE c.channel OPERATOR(pg_catalog.=) set_statement_settings.channel) THEN
        RAISE EXCEPTION 'payment channel "%" is not registered', set_statement_settings.channel
            USING ERRCODE = 'PC106', HINT = 'Register it with paycons.set_channel().';
    END IF;
    IF set_statement_settings.time_zone IS NOT NULL AND NOT EXISTS
       (SELECT 1 FROM pg_catalog.pg_timezone_names z
         WHERE z.name OPERATOR(pg_catalog.=) set_statement_settings.time_zone) THEN
        RAISE EXCEPTION 'unknown time zone "%"', set_statement_settings.time_zone
            USING ERRCODE = 'PC164', HINT = 'Use a name from pg_timezone_names, such as Asia/Shanghai.';
    END IF;
    IF set_statement_settings.cross_day_window OPERATOR(pg_catalog.<) '0'::interval
       OR set_statement_settings.cross_day_window OPERATOR(pg_catalog.>=) '1 day'::interval THEN
        RAISE EXCEPTION 'cross_day_window % is out of range', set_statement_settings.cross_day_window
            USING ERRCODE = 'PC164', DETAIL = 'The window is at least 0 and less than one day.';
    END IF;
    IF set_statement_settings.fee_rate_ppm OPERATOR(pg_catalog.<) 0
       OR set_statement_settings.fee_rate_ppm OPERATOR(pg_catalog.>) 1000000 THEN
        RAISE EXCEPTION 'fee_rate_ppm % is out of range', set_statement_settings.fee_rate_ppm
            USING ERRCODE = 'PC164', DETAIL = 'The rate is in millionths of the amount, from 0 to 1000000 (6000 is 0.6%).';
    END IF;
    IF set_statement_settings.fee_fixed OPERATOR(pg_catalog.<) 0 THEN
        RAISE EXCEPTION 'fee_fixed % is negative', set_statement_settings.fee_fixed
            USING ERRCODE = 'PC164';
    END IF;

    INSERT INTO paycons.statement_settings AS s
           (channel, time_zone, cross_day_window, fee_rate_ppm, fee_fixed)
    VALUES (set_statement_settings.channel, set_statement_settings.time_zone,
            COALESCE(set_statement_settings.cross_day_window, '15 minutes'::interval),
            set_statement_settings.fee_rate_ppm,
            COALESCE(set_statement_settings.fee_fixed, 0))
    ON CONFLICT ON CONSTRAINT statement_settings_pkey DO UPDATE
       SET time_zone = COALESCE(set_statement_settings.time_zone, s.time_zone),
           cross_day_window = COALESCE(set_statement_settings.cross_day_window, s.cross_day_window),
           fee_rate_ppm = COALESCE(set_statement_settings.fee_rate_ppm, s.fee_rate_ppm),
           fee_fixed = COALESCE(set_statement_settings.fee_fixed, s.fee_fixed),
           updated_at = pg_catalog.now()
    RETURNING s.* INTO v_row;
    RETURN v_row;
END;
$$;
COMMENT ON FUNCTION paycons.set_statement_settings(text, text, interval, integer, bigint) IS
    'set a channel''s statement time zone (csv files), cross-day window and expected fee; NULL keeps a value';

/*
 * paycons.reconcile_statement(channel, statement_date): one pass over the
 * statement of that channel and date.  A second run changes nothing: the
 * statement's own earlier applications are answered as replays, and a
 * difference already recorded is written again only if its facts changed.
 * Owner only: it feeds apply_callback with source 'statement', which skips
 * the per-callback signature (the statement is the channel's own record).
 *
 *   1. lines without a callback: applied now (自动补单), with a resolved
 *      missing_locally diff when the order took the money;
 *   2. every line against its callback, in one join: fact_mismatch,
 *      status_mismatch, needs_review (money the order did not take, or that
 *      awaits a person's decision: amount_mismatch, unknown_order, ...),
 *      fee_mismatch (against the channel's fee setting), or matched;
 *   3. money we believe we received in the statement's day, shifted back
 *      by the cross-day window, that no statement lists: missing_in_statement;
 *      what falls in the window before the day's end is left to the next
 *      day's run (counted as deferred);
 *   4. open differences that no longer hold are resolved.
 */
CREATE FUNCTION paycons.reconcile_statement(
    channel text,
    statement_date date,
    OUT lines integer,
    OUT matched integer,
    OUT repaired integer,
    OUT differences integer,
    OUT missing_in_statement integer,
    OUT deferred integer)
    RETURNS record
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    v_channel  text := reconcile_statement.channel;
    v_date     date := reconcile_statement.statement_date;
    v_money    text[] := ARRAY['applied', 'late_payment', 'duplicate_payment'];
    v_arrived  text[] := ARRAY['applied', 'late_payment', 'duplicate_payment',
                               'amount_mismatch', 'over_refund'];
    v_line_diffs text[] := ARRAY['fact_mismatch', 'status_mismatch', 'needs_review', 'fee_mismatch'];
    v_tz       text;
    v_window   interval;
    v_ppm      integer;
    v_fixed    bigint;
    v_start    timestamptz;
    v_end      timestamptz;
    v_from     timestamptz;
    v_until    timestamptz;
    v_repaired text[] := '{}';
    v_n        bigint;
    l          paycons.statement_lines;
    r          record;
BEGIN
    IF v_channel IS NULL THEN
        RAISE EXCEPTION 'channel must not be null' USING ERRCODE = '22004';
    END IF;
    IF v_date IS NULL THEN
        RAISE EXCEPTION 'statement_date must not be null' USING ERRCODE = '22004';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM paycons.channels ch WHERE ch.channel OPERATOR(pg_catalog.=) v_channel) THEN
        RAISE EXCEPTION 'payment channel "%" is not registered', v_channel
            USING ERRCODE = 'PC106', HINT = 'Register it with paycons.set_channel().';
    END IF;
    IF NOT pg_catalog.isfinite(v_date) THEN
        RAISE EXCEPTION 'statement_date must be a finite date' USING ERRCODE = '22023';
    END IF;

    PERFORM pg_catalog.pg_advisory_xact_lock(paycons.statement_lock_key(v_channel, v_date));

    SELECT st.time_zone, st.cross_day_window, st.fee_rate_ppm, st.fee_fixed
      INTO v_tz, v_window, v_ppm, v_fixed
      FROM paycons.statement_settings st WHERE st.channel OPERATOR(pg_catalog.=) v_channel;
    v_window := COALESCE(v_window, '15 minutes'::interval);
    v_fixed := COALESCE(v_fixed, 0);
    -- the day is a day of the loaded file's time zone (else the setting, else UTC)
    SELECT COALESCE(
               (SELECT f.time_zone FROM paycons.statement_files f
                 WHERE f.channel OPERATOR(pg_catalog.=) v_channel
                   AND f.statement_date OPERATOR(pg_catalog.=) v_date),
               v_tz, 'UTC')
      INTO v_tz;
    v_start := pg_catalog.timezone(v_tz, CAST(v_date AS pg_catalog.timestamp));
    v_end := pg_catalog.timezone(v_tz, CAST(v_date AS pg_catalog.timestamp)
                                       OPERATOR(pg_catalog.+) '1 day'::interval);
    -- the local side of this run: the day, shifted back by the window
    v_from := v_start OPERATOR(pg_catalog.-) v_window;
    v_until := v_end OPERATOR(pg_catalog.-) v_window;

    SELECT pg_catalog.count(*) INTO lines FROM paycons.statement_lines s
     WHERE s.channel OPERATOR(pg_catalog.=) v_channel
       AND s.statement_date OPERATOR(pg_catalog.=) v_date;
    repaired := 0;

    -- 1. settled, but we never heard: apply it now (自动补单)
    FOR l IN SELECT s.* FROM paycons.statement_lines s
              WHERE s.channel OPERATOR(pg_catalog.=) v_channel
                AND s.statement_date OPERATOR(pg_catalog.=) v_date
                AND NOT EXISTS (SELECT 1 FROM paycons.callbacks cb
                                 WHERE cb.channel OPERATOR(pg_catalog.=) s.channel
                                   AND cb.channel_txn_id OPERATOR(pg_catalog.=) s.channel_txn_id)
              ORDER BY s.line_no, s.channel_txn_id
    LOOP
        SELECT * INTO r FROM paycons.apply_callback(
            l.channel, l.channel_txn_id, l.order_id, l.kind, 'success',
            l.amount, l.currency,
            pg_catalog.jsonb_build_object('statement_date', l.statement_date,
                                          'fee_milli', l.fee_milli, 'fee', l.fee,
                                          'settled_at', l.settled_at, 'line_no', l.line_no),
            NULL, NULL, 'statement');
        IF r.outcome OPERATOR(pg_catalog.=) ANY (v_money) THEN
            repaired := repaired OPERATOR(pg_catalog.+) 1;
            v_repaired := pg_catalog.array_append(v_repaired, l.channel_txn_id);
            INSERT INTO paycons.reconciliation_diffs AS d
                   (channel, channel_txn_id, diff, order_id, statement_date,
                    statement_amount, currency, local_outcome, resolution, detail, resolved_at)
            VALUES (l.channel, l.channel_txn_id, 'missing_locally', l.order_id, l.statement_date,
                    l.amount, l.currency, r.outcome,
                    pg_catalog.concat('applied from the statement: ', r.outcome),
                    pg_catalog.jsonb_build_object('statement', pg_catalog.to_jsonb(l) OPERATOR(pg_catalog.-) 'loaded_at'),
                    pg_catalog.now())
            ON CONFLICT ON CONSTRAINT reconciliation_diffs_once DO NOTHING;
        END IF;
    END LOOP;

    -- 2. every line against its callback
    WITH j AS MATERIALIZED (
        SELECT s AS line, c AS cb, rp.id IS NOT NULL AS fresh,
               CASE WHEN c.order_id OPERATOR(pg_catalog.<>) s.order_id
                         OR c.kind OPERATOR(pg_catalog.<>) s.kind
                         OR c.amount OPERATOR(pg_catalog.<>) s.amount
                         OR c.currency OPERATOR(pg_catalog.<>) s.currency
                    THEN 'fact_mismatch'
                    WHEN c.status OPERATOR(pg_catalog.<>) 'success' THEN 'status_mismatch'
                    WHEN c.outcome OPERATOR(pg_catalog.<>) ALL (v_money) THEN 'needs_review'
                    WHEN s.kind OPERATOR(pg_catalog.=) 'payment' AND v_ppm IS NOT NULL
                         AND pg_catalog.abs(
                               CAST(COALESCE(s.fee_milli, s.fee OPERATOR(pg_catalog.*) 1000, 0) AS pg_catalog.numeric)
                               OPERATOR(pg_catalog.-)
                               (((CAST(s.amount AS pg_catalog.numeric) OPERATOR(pg_catalog.*) v_ppm)
                                 OPERATOR(pg_catalog./) 1000)
                                OPERATOR(pg_catalog.+) (CAST(v_fixed AS pg_catalog.numeric) OPERATOR(pg_catalog.*) 1000)))
                             OPERATOR(pg_catalog.>=) 500
                    THEN 'fee_mismatch'
               END AS diff
          FROM paycons.statement_lines s
          JOIN paycons.callbacks c
            ON c.channel OPERATOR(pg_catalog.=) s.channel
           AND c.channel_txn_id OPERATOR(pg_catalog.=) s.channel_txn_id
          LEFT JOIN pg_catalog.unnest(v_repaired) AS rp(id)
            ON rp.id OPERATOR(pg_catalog.=) s.channel_txn_id
         WHERE s.channel OPERATOR(pg_catalog.=) v_channel
           AND s.statement_date OPERATOR(pg_catalog.=) v_date
    ),
    ins AS (
        INSERT INTO paycons.reconciliation_diffs AS d
               (channel, channel_txn_id, diff, order_id, statement_date,
                statement_amount, local_amount, currency, local_outcome, detail)
        SELECT (j.line).channel, (j.line).channel_txn_id, j.diff, (j.line).order_id, v_date,
               (j.line).amount, (j.cb).amount, (j.line).currency, (j.cb).outcome,
               pg_catalog.jsonb_build_object(
                   'statement', pg_catalog.to_jsonb(j.line) OPERATOR(pg_catalog.-) 'loaded_at',
                   'local', pg_catalog.to_jsonb(j.cb) OPERATOR(pg_catalog.-) 'payload')
               OPERATOR(pg_catalog.||)
               CASE WHEN j.diff OPERATOR(pg_catalog.=) 'fee_mismatch'
                    THEN pg_catalog.jsonb_build_object('expected_fee_milli', pg_catalog.trim_scale(
                             ((CAST((j.line).amount AS pg_catalog.numeric) OPERATOR(pg_catalog.*) v_ppm)
                              OPERATOR(pg_catalog./) 1000)
                             OPERATOR(pg_catalog.+) (CAST(v_fixed AS pg_catalog.numeric) OPERATOR(pg_catalog.*) 1000)))
                    ELSE '{}'::pg_catalog.jsonb END
          FROM j
         WHERE j.diff IS NOT NULL
        ON CONFLICT ON CONSTRAINT reconciliation_diffs_once DO UPDATE
           SET last_seen_at = pg_catalog.now(), local_outcome = excluded.local_outcome,
               statement_amount = excluded.statement_amount, local_amount = excluded.local_amount,
               detail = excluded.detail
         WHERE d.resolved_at IS NULL
           AND (d.local_outcome, d.statement_amount, d.local_amount, d.detail)
               IS DISTINCT FROM (excluded.local_outcome, excluded.statement_amount,
                                 excluded.local_amount, excluded.detail)
        RETURNING 1
    )
    SELECT pg_catalog.count(*) FILTER (WHERE j.diff IS NULL AND NOT j.fresh),
           pg_catalog.count(*) FILTER (WHERE j.diff IS NOT NULL),
           (SELECT pg_catalog.count(*) FROM ins)
      INTO matched, differences, v_n
      FROM j;

    -- an open difference of a line that now is something else (matched, or
    -- another class): resolved.  Driven by the open differences (few), each
    -- finding its line and callback by primary key; the CASE is the one above.
    UPDATE paycons.reconciliation_diffs d
       SET resolved_at = pg_catalog.now(), last_seen_at = pg_catalog.now(),
           resolution = COALESCE(d.resolution,
               CASE WHEN x.diff IS NULL THEN 'matched later'
                    ELSE pg_catalog.concat('now ', x.diff) END)
      FROM (SELECT s.channel_txn_id,
               CASE WHEN c.order_id OPERATOR(pg_catalog.<>) s.order_id
                         OR c.kind OPERATOR(pg_catalog.<>) s.kind
                         OR c.amount OPERATOR(pg_catalog.<>) s.amount
                         OR c.currency OPERATOR(pg_catalog.<>) s.currency
                    THEN 'fact_mismatch'
                    WHEN c.status OPERATOR(pg_catalog.<>) 'success' THEN 'status_mismatch'
                    WHEN c.outcome OPERATOR(pg_catalog.<>) ALL (v_money) THEN 'needs_review'
                    WHEN s.kind OPERATOR(pg_catalog.=) 'payment' AND v_ppm IS NOT NULL
                         AND pg_catalog.abs(
                               CAST(COALESCE(s.fee_milli, s.fee OPERATOR(pg_catalog.*) 1000, 0) AS pg_catalog.numeric)
                               OPERATOR(pg_catalog.-)
                               (((CAST(s.amount AS pg_catalog.numeric) OPERATOR(pg_catalog.*) v_ppm)
                                 OPERATOR(pg_catalog./) 1000)
                                OPERATOR(pg_catalog.+) (CAST(v_fixed AS pg_catalog.numeric) OPERATOR(pg_catalog.*) 1000)))
                             OPERATOR(pg_catalog.>=) 500
                    THEN 'fee_mismatch'
               END AS diff
              FROM paycons.reconciliation_diffs od
              JOIN paycons.statement_lines s
                ON s.channel OPERATOR(pg_catalog.=) od.channel
               AND s.channel_txn_id OPERATOR(pg_catalog.=) od.channel_txn_id
              JOIN paycons.callbacks c
                ON c.channel OPERATOR(pg_catalog.=) s.channel
               AND c.channel_txn_id OPERATOR(pg_catalog.=) s.channel_txn_id
             WHERE od.channel OPERATOR(pg_catalog.=) v_channel
               AND od.resolved_at IS NULL
               AND od.diff OPERATOR(pg_catalog.=) ANY (v_line_diffs)
               AND s.statement_date OPERATOR(pg_catalog.=) v_date) x
     WHERE d.channel OPERATOR(pg_catalog.=) v_channel
       AND d.channel_txn_id OPERATOR(pg_catalog.=) x.channel_txn_id
       AND d.resolved_at IS NULL
       AND d.diff OPERATOR(pg_catalog.=) ANY (v_line_diffs)
       AND d.diff IS DISTINCT FROM x.diff;

    -- a line no longer in this date's statement (the file was replaced)
    UPDATE paycons.reconciliation_diffs d
       SET resolved_at = pg_catalog.now(), last_seen_at = pg_catalog.now(),
           resolution = pg_catalog.concat('no longer in the statement of ', v_date)
     WHERE d.channel OPERATOR(pg_catalog.=) v_channel
       AND d.statement_date OPERATOR(pg_catalog.=) v_date
       AND d.resolved_at IS NULL
       AND d.diff OPERATOR(pg_catalog.=) ANY (v_line_diffs)
       -- by primary key only: one probe per open difference
       AND (SELECT s.statement_date FROM paycons.statement_lines s
             WHERE s.channel OPERATOR(pg_catalog.=) d.channel
               AND s.channel_txn_id OPERATOR(pg_catalog.=) d.channel_txn_id)
           IS DISTINCT FROM v_date;

    -- 3. money we believe we have that the channel never settled; the
    --    local day is shifted back by the cross-day window
    WITH m AS (
        INSERT INTO paycons.reconciliation_diffs AS d
               (channel, channel_txn_id, diff, order_id, statement_date,
                local_amount, currency, local_outcome, detail)
        SELECT cb.channel, cb.channel_txn_id, 'missing_in_statement', cb.order_id, v_date,
               cb.amount, cb.currency, cb.outcome, pg_catalog.to_jsonb(cb) OPERATOR(pg_catalog.-) 'payload'
          FROM paycons.callbacks cb
         WHERE cb.channel OPERATOR(pg_catalog.=) v_channel
           AND cb.status OPERATOR(pg_catalog.=) 'success'
           AND cb.outcome OPERATOR(pg_catalog.=) ANY (v_arrived)
           AND cb.received_at OPERATOR(pg_catalog.>=) v_from
           AND cb.received_at OPERATOR(pg_catalog.<) v_until
           AND NOT EXISTS (SELECT 1 FROM paycons.statement_lines s
                            WHERE s.channel OPERATOR(pg_catalog.=) cb.channel
                              AND s.channel_txn_id OPERATOR(pg_catalog.=) cb.channel_txn_id)
        ON CONFLICT ON CONSTRAINT reconciliation_diffs_once DO UPDATE
           SET last_seen_at = pg_catalog.now(), local_outcome = excluded.local_outcome,
               local_amount = excluded.local_amount, detail = excluded.detail
         WHERE d.resolved_at IS NULL
           AND (d.local_outcome, d.local_amount, d.detail)
               IS DISTINCT FROM (excluded.local_outcome, excluded.local_amount, excluded.detail)
        RETURNING 1
    )
    SELECT pg_catalog.count(*) INTO v_n FROM m;

    SELECT pg_catalog.count(*) INTO missing_in_statement
      FROM paycons.callbacks cb
     WHERE cb.channel OPERATOR(pg_catalog.=) v_channel
       AND cb.status OPERATOR(pg_catalog.=) 'success'
       AND cb.outcome OPERATOR(pg_catalog.=) ANY (v_arrived)
       AND cb.received_at OPERATOR(pg_catalog.>=) v_from
       AND cb.received_at OPERATOR(pg_catalog.<) v_until
       AND NOT EXISTS (SELECT 1 FROM paycons.statement_lines s
                        WHERE s.channel OPERATOR(pg_catalog.=) cb.channel
                          AND s.channel_txn_id OPERATOR(pg_catalog.=) cb.channel_txn_id);

    SELECT pg_catalog.count(*) INTO deferred
      FROM paycons.callbacks cb
     WHERE cb.channel OPERATOR(pg_catalog.=) v_channel
       AND cb.status OPERATOR(pg_catalog.=) 'success'
       AND cb.outcome OPERATOR(pg_catalog.=) ANY (v_arrived)
       AND cb.received_at OPERATOR(pg_catalog.>=) v_until
       AND cb.received_at OPERATOR(pg_catalog.<) v_end
       AND NOT EXISTS (SELECT 1 FROM paycons.statement_lines s
                        WHERE s.channel OPERATOR(pg_catalog.=) cb.channel
                          AND s.channel_txn_id OPERATOR(pg_catalog.=) cb.channel_txn_id);

    -- 4. a gap that a later statement filled
    UPDATE paycons.reconciliation_diffs d
       SET resolved_at = pg_catalog.now(), last_seen_at = pg_catalog.now(),
           resolution = 'found in a later statement'
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
 * paycons.resolve_diff(id, resolution, note): an operator settles an open
 * difference.  Refuses an unknown or already resolved one.
 */
CREATE FUNCTION paycons.resolve_diff(
    id bigint,
    resolution text,
    note text DEFAULT NULL)
    RETURNS paycons.reconciliation_diffs
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    v_row paycons.reconciliation_diffs;
BEGIN
    IF resolve_diff.id IS NULL THEN
        RAISE EXCEPTION 'id must not be null' USING ERRCODE = '22004';
    END IF;
    IF resolve_diff.resolution IS NULL THEN
        RAISE EXCEPTION 'resolution must not be null' USING ERRCODE = '22004';
    END IF;
    IF resolve_diff.resolution OPERATOR(pg_catalog.<>) ALL
       (ARRAY['accepted', 'corrected', 'refunded', 'written_off', 'false_positive']) THEN
        RAISE EXCEPTION 'unknown resolution "%"', resolve_diff.resolution
            USING ERRCODE = 'PC167',
                  HINT = 'Use accepted, corrected, refunded, written_off or false_positive.';
    END IF;
    IF pg_catalog.octet_length(resolve_diff.note) OPERATOR(pg_catalog.>) 1000 THEN
        RAISE EXCEPTION 'note is too long'
            USING ERRCODE = '22001', DETAIL = 'A note has at most 1000 bytes.';
    END IF;

    SELECT * INTO v_row FROM paycons.reconciliation_diffs d
     WHERE d.id OPERATOR(pg_catalog.=) resolve_diff.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reconciliation difference % does not exist', resolve_diff.id
            USING ERRCODE = 'PC165';
    END IF;
    IF v_row.resolved_at IS NOT NULL THEN
        RAISE EXCEPTION 'reconciliation difference % is already resolved', resolve_diff.id
            USING ERRCODE = 'PC166',
                  DETAIL = pg_catalog.format('It was resolved at %s: %s.', v_row.resolved_at, v_row.resolution);
    END IF;

    UPDATE paycons.reconciliation_diffs d
       SET resolved_at = pg_catalog.now(), resolution = resolve_diff.resolution,
           resolution_note = resolve_diff.note, resolved_by = session_user
     WHERE d.id OPERATOR(pg_catalog.=) resolve_diff.id
    RETURNING d.* INTO v_row;
    RETURN v_row;
END;
$$;
COMMENT ON FUNCTION paycons.resolve_diff(bigint, text, text) IS
    'an operator settles an open reconciliation difference (accepted, corrected, refunded, written_off, false_positive)';

-- as sql/install/90_privileges.sql does for a fresh install
REVOKE ALL ON paycons.statement_files, paycons.statement_settings FROM PUBLIC;
REVOKE ALL ON SEQUENCE paycons.statement_files_id_seq FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION
    paycons.statement_lock_key(text, date),
    paycons.load_statement(text, date, text, text, boolean),
    paycons.load_statement_upload(text, date, text, regclass, boolean),
    paycons.set_statement_settings(text, text, interval, integer, bigint),
    paycons.reconcile_statement(text, date),
    paycons.resolve_diff(bigint, text, text)
FROM PUBLIC;

-- end issue 12: statements --------------------------------------------------
