/*
 * 61_statements.sql -- statement files in the channels' own formats, the
 * per-channel statement settings (time zone, cross-day window, fee rate),
 * reconciliation and the operator's resolution of differences (issue 12).
 * See doc/reconciliation.md.
 *
 * The upgrade script (section "issue 12: statements") repeats everything
 * of this file verbatim; keep the two in step.
 */

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
 *   0. a statement of 1000 lines or more that the table's statistics do
 *      not know yet (the table was never analyzed, or not since the file
 *      was loaded, or the day's lines are over a tenth of the rows it
 *      counted) is analyzed first, so that the joins below are planned for
 *      its size, not for the handful of rows an unknown day looks like;
 *      skipped, never waited for, while another session holds the lock;
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
    v_diff_txns text[];
    v_diff_kinds text[];
    v_tuples   double precision;
    v_analyzed timestamptz;
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

    -- 0. statistics that know the day's lines (see above)
    SELECT CAST(c.reltuples AS pg_catalog.float8),
           GREATEST(pg_catalog.pg_stat_get_last_analyze_time(c.oid),
                    pg_catalog.pg_stat_get_last_autoanalyze_time(c.oid))
      INTO v_tuples, v_analyzed
      FROM pg_catalog.pg_class c
     WHERE c.oid OPERATOR(pg_catalog.=) CAST('paycons.statement_lines' AS pg_catalog.regclass);
    IF lines OPERATOR(pg_catalog.>=) 1000
       AND (v_analyzed IS NULL
            OR v_tuples OPERATOR(pg_catalog.<) CAST(0 AS pg_catalog.float8)
            OR CAST(lines AS pg_catalog.float8)
               OPERATOR(pg_catalog.>) (v_tuples OPERATOR(pg_catalog./) CAST(10 AS pg_catalog.float8))
            OR v_analyzed OPERATOR(pg_catalog.<)
               (SELECT f.loaded_at FROM paycons.statement_files f
                 WHERE f.channel OPERATOR(pg_catalog.=) v_channel
                   AND f.statement_date OPERATOR(pg_catalog.=) v_date)) THEN
        ANALYZE (SKIP_LOCKED) paycons.statement_lines;
    END IF;

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

    -- 2. every line against its callback, classified in one join that keeps
    --    the ids and classes of the differences only (arrays: their number
    --    is known to the planner below); their rows are fetched by key
    SELECT pg_catalog.count(*) FILTER (WHERE j.diff IS NULL AND NOT j.fresh),
           pg_catalog.count(*) FILTER (WHERE j.diff IS NOT NULL),
           COALESCE(pg_catalog.array_agg(j.txn) FILTER (WHERE j.diff IS NOT NULL), '{}'),
           COALESCE(pg_catalog.array_agg(j.diff) FILTER (WHERE j.diff IS NOT NULL), '{}')
      INTO matched, differences, v_diff_txns, v_diff_kinds
      FROM (SELECT s.channel_txn_id AS txn, rp.id IS NOT NULL AS fresh,
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
               AND s.statement_date OPERATOR(pg_catalog.=) v_date) j;

    WITH ins AS (
        INSERT INTO paycons.reconciliation_diffs AS d
               (channel, channel_txn_id, diff, order_id, statement_date,
                statement_amount, local_amount, currency, local_outcome, detail)
        SELECT s.channel, s.channel_txn_id, j.diff, s.order_id, v_date,
               s.amount, c.amount, s.currency, c.outcome,
               pg_catalog.jsonb_build_object(
                   'statement', pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.-) 'loaded_at',
                   'local', pg_catalog.to_jsonb(c) OPERATOR(pg_catalog.-) 'payload')
               OPERATOR(pg_catalog.||)
               CASE WHEN j.diff OPERATOR(pg_catalog.=) 'fee_mismatch'
                    THEN pg_catalog.jsonb_build_object('expected_fee_milli', pg_catalog.trim_scale(
                             ((CAST(s.amount AS pg_catalog.numeric) OPERATOR(pg_catalog.*) v_ppm)
                              OPERATOR(pg_catalog./) 1000)
                             OPERATOR(pg_catalog.+) (CAST(v_fixed AS pg_catalog.numeric) OPERATOR(pg_catalog.*) 1000)))
                    ELSE '{}'::pg_catalog.jsonb END
          FROM ROWS FROM (pg_catalog.unnest(v_diff_txns), pg_catalog.unnest(v_diff_kinds))
               WITH ORDINALITY AS j(txn, diff, n)
          JOIN paycons.statement_lines s
            ON s.channel OPERATOR(pg_catalog.=) v_channel
           AND s.channel_txn_id OPERATOR(pg_catalog.=) j.txn
          JOIN paycons.callbacks c
            ON c.channel OPERATOR(pg_catalog.=) v_channel
           AND c.channel_txn_id OPERATOR(pg_catalog.=) j.txn
         ORDER BY j.n
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
    SELECT pg_catalog.count(*) INTO v_n FROM ins;

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
    --    local day is shifted back by the cross-day window.  One anti-join
    --    finds both these and the ones in the window before the day's end,
    --    which the next day's run reports if they are still missing then
    WITH miss AS MATERIALIZED (
        SELECT cb.* FROM paycons.callbacks cb
         WHERE cb.channel OPERATOR(pg_catalog.=) v_channel
           AND cb.status OPERATOR(pg_catalog.=) 'success'
           AND cb.outcome OPERATOR(pg_catalog.=) ANY (v_arrived)
           AND cb.received_at OPERATOR(pg_catalog.>=) v_from
           AND cb.received_at OPERATOR(pg_catalog.<) v_end
           AND NOT EXISTS (SELECT 1 FROM paycons.statement_lines s
                            WHERE s.channel OPERATOR(pg_catalog.=) cb.channel
                              AND s.channel_txn_id OPERATOR(pg_catalog.=) cb.channel_txn_id)
    ),
    m AS (
        INSERT INTO paycons.reconciliation_diffs AS d
               (channel, channel_txn_id, diff, order_id, statement_date,
                local_amount, currency, local_outcome, detail)
        SELECT cb.channel, cb.channel_txn_id, 'missing_in_statement', cb.order_id, v_date,
               cb.amount, cb.currency, cb.outcome, pg_catalog.to_jsonb(cb) OPERATOR(pg_catalog.-) 'payload'
          FROM miss cb
         WHERE cb.received_at OPERATOR(pg_catalog.<) v_until
        ON CONFLICT ON CONSTRAINT reconciliation_diffs_once DO UPDATE
           SET last_seen_at = pg_catalog.now(), local_outcome = excluded.local_outcome,
               local_amount = excluded.local_amount, detail = excluded.detail
         WHERE d.resolved_at IS NULL
           AND (d.local_outcome, d.local_amount, d.detail)
               IS DISTINCT FROM (excluded.local_outcome, excluded.local_amount, excluded.detail)
        RETURNING 1
    )
    SELECT pg_catalog.count(*) FILTER (WHERE cb.received_at OPERATOR(pg_catalog.<) v_until),
           pg_catalog.count(*) FILTER (WHERE cb.received_at OPERATOR(pg_catalog.>=) v_until),
           (SELECT pg_catalog.count(*) FROM m)
      INTO missing_in_statement, deferred, v_n
      FROM miss cb;

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
    AS 'MODULE_PATHNAME', 'paycons_resolve_diff'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.resolve_diff(bigint, text, text) IS
    'an operator settles an open reconciliation difference (accepted, corrected, refunded, written_off, false_positive)';
