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

-- reconciliation: resolved_by, reconcile_statement and resolve_diff come
-- with the statements section above (issue 12).

-- the health view's function (callback_outcomes_last_hour) and the refund
-- trigger (callbacks_complete_refund), qualified, come with the issue 11
-- sections below.

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
        'paycons.apply_notification(text, text, jsonb)',

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
 * reconciliation differences, auditing with verify(), and the read API.
 * Nothing on the tables,
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
        'paycons.resolve_diff(bigint, text, text)',
        'paycons.resolve_review(text, text, text)',
        'paycons.load_statement(text, date, text, text, boolean)',
        'paycons.load_statement_upload(text, date, text, regclass, boolean)',
        'paycons.reconcile_statement(text, date)',
        'paycons.verify(timestamptz)'
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
    'grant an existing role what on-call needs: the health views, outbox_redrive, retry_compensation, resolve_review, statements (load, reconcile, resolve_diff), verify(), the read API';

-- ACLs as a fresh install has them: every function above is the owner's
-- alone (REVOKE ... FROM PUBLIC in 90_privileges.sql runs after them).
REVOKE EXECUTE ON FUNCTION
    paycons.get_order(text),
    paycons.order_history_of(text),
    paycons.resolve_diff(bigint, text, text),
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

-- ---------------------------------------------------------------------------
-- issue 14: channels
--
-- Channel protocols for paycons.apply_notification() (Alipay, WeChat Pay
-- v3, Stripe, Adyen, generic HMAC): the protocol columns of
-- paycons.channels, the keys table, set_channel with its new trailing
-- parameters (dropped and created again: its signature changes), the key
-- functions and apply_notification, granted to application roles by
-- grant_app_role.  Also issue 10 item 5: body_format/body_fields bind a
-- signed body's facts for apply_callback.  As in sql/install/50_callbacks.sql,
-- 55_channels.sql and 90_privileges.sql.

ALTER TABLE paycons.channels
    ADD COLUMN protocol text NOT NULL DEFAULT 'hmac'
        CONSTRAINT channels_protocol_valid
        CHECK (protocol IN ('hmac', 'alipay', 'wechatpay_v3', 'stripe', 'adyen')),
    ADD COLUMN ack_status integer NOT NULL DEFAULT 200
        CONSTRAINT channels_ack_status_valid CHECK (ack_status BETWEEN 100 AND 599),
    ADD COLUMN nack_status integer NOT NULL DEFAULT 400
        CONSTRAINT channels_nack_status_valid CHECK (nack_status BETWEEN 100 AND 599),
    ADD COLUMN body_format text
        CONSTRAINT channels_body_format_valid CHECK (body_format IN ('json', 'form')),
    ADD COLUMN body_fields jsonb,
    ADD COLUMN signature_header text
        CONSTRAINT channels_signature_header_valid
        CHECK (octet_length(signature_header) BETWEEN 1 AND 200),
    ADD COLUMN default_currency text
        CONSTRAINT channels_default_currency_valid CHECK (default_currency ~ '^[A-Z]{3}$'),
    ADD COLUMN merchant_id text
        CONSTRAINT channels_merchant_id_valid CHECK (octet_length(merchant_id) BETWEEN 1 AND 128),
    ADD CONSTRAINT channels_body_fields_with_format CHECK ((body_format IS NULL) = (body_fields IS NULL));
COMMENT ON COLUMN paycons.channels.protocol IS
    'how apply_notification verifies and reads this channel''s webhooks: hmac, alipay, wechatpay_v3, stripe or adyen';
COMMENT ON COLUMN paycons.channels.ack_status IS 'HTTP status apply_notification answers a notification it took (or ignored) with';
COMMENT ON COLUMN paycons.channels.nack_status IS 'HTTP status apply_notification answers a bad_signature with (body: nack)';
COMMENT ON COLUMN paycons.channels.body_format IS
    'json or form: the signed body states the facts in the fields body_fields names (apply_callback checks them; the hmac protocol reads them)';
COMMENT ON COLUMN paycons.channels.body_fields IS
    'fact name (channel_txn_id, order_id, kind, status, amount, currency) -> field of the signed body';
COMMENT ON COLUMN paycons.channels.signature_header IS 'hmac protocol: the request header carrying the signature (NULL: X-Signature)';
COMMENT ON COLUMN paycons.channels.default_currency IS 'currency of notifications that state none (Alipay, WeChat Pay refunds)';
COMMENT ON COLUMN paycons.channels.merchant_id IS
    'if set, a notification must name this merchant account (Alipay app_id, WeChat Pay mchid, Adyen merchantAccountCode, Stripe account)';

DROP FUNCTION paycons.set_channel(text, text, boolean, text, interval, text, text);
CREATE FUNCTION paycons.set_channel(
    channel text,
    secret text DEFAULT NULL,
    require_signature boolean DEFAULT NULL,
    signature_format text DEFAULT NULL,
    tolerance interval DEFAULT NULL,
    ack text DEFAULT NULL,
    nack text DEFAULT NULL,
    protocol text DEFAULT NULL,
    ack_status integer DEFAULT NULL,
    nack_status integer DEFAULT NULL,
    body_format text DEFAULT NULL,
    body_fields jsonb DEFAULT NULL,
    signature_header text DEFAULT NULL,
    default_currency text DEFAULT NULL,
    merchant_id text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    preset boolean := set_channel.protocol IS NOT NULL;
    p_ack text;
    p_nack text;
    p_ack_status integer;
    p_nack_status integer;
    p_tolerance interval := '5 minutes';
    p_currency text;
    clear_body boolean := set_channel.body_format IS NOT DISTINCT FROM 'none';
    fact text;
    failed_constraint text;
BEGIN
    IF set_channel.channel IS NULL THEN
        RAISE EXCEPTION 'channel must not be null' USING ERRCODE = '22004';
    END IF;
    -- the rules apply_callback applies to a channel name
    IF octet_length(set_channel.channel) NOT BETWEEN 1 AND 64
       OR set_channel.channel OPERATOR(pg_catalog.~) '[\x01-\x1f\x7f]' THEN
        RAISE EXCEPTION 'invalid channel name "%"', set_channel.channel
            USING ERRCODE = 'PC105',
                  DETAIL = 'A channel name has 1 to 64 bytes and no control characters.';
    END IF;
    IF set_channel.signature_format IS NOT NULL
       AND set_channel.signature_format <> ALL (ARRAY['hex', 'base64', 'header']) THEN
        RAISE EXCEPTION 'unknown signature format "%"', set_channel.signature_format
            USING ERRCODE = 'PC105', HINT = 'Use hex, base64 or header.';
    END IF;
    IF set_channel.tolerance IS NOT NULL AND set_channel.tolerance <= '0'::interval THEN
        RAISE EXCEPTION 'signature tolerance must be positive: "%"', set_channel.tolerance
            USING ERRCODE = 'PC105';
    END IF;
    IF set_channel.secret = '' THEN
        RAISE EXCEPTION 'the secret of channel "%" must not be empty', set_channel.channel
            USING ERRCODE = 'PC105';
    END IF;
    IF set_channel.protocol IS NOT NULL
       AND set_channel.protocol <> ALL (ARRAY['hmac', 'alipay', 'wechatpay_v3', 'stripe', 'adyen']) THEN
        RAISE EXCEPTION 'unknown channel protocol "%"', set_channel.protocol
            USING ERRCODE = 'PC105', HINT = 'Use hmac, alipay, wechatpay_v3, stripe or adyen.';
    END IF;
    IF set_channel.ack_status NOT BETWEEN 100 AND 599 OR set_channel.nack_status NOT BETWEEN 100 AND 599 THEN
        RAISE EXCEPTION 'invalid HTTP status for channel "%": %', set_channel.channel,
            COALESCE(set_channel.ack_status, set_channel.nack_status)
            USING ERRCODE = 'PC105', DETAIL = 'An HTTP status is between 100 and 599.';
    END IF;
    IF set_channel.body_format IS NOT NULL AND NOT clear_body
       AND set_channel.body_format <> ALL (ARRAY['json', 'form']) THEN
        RAISE EXCEPTION 'unknown body format "%"', set_channel.body_format
            USING ERRCODE = 'PC105', HINT = 'Use json or form (or none to remove the body format).';
    END IF;
    IF (set_channel.body_format IS NULL) <> (set_channel.body_fields IS NULL) AND NOT clear_body THEN
        RAISE EXCEPTION 'body_format and body_fields of channel "%" are set together', set_channel.channel
            USING ERRCODE = 'PC105';
    END IF;
    IF set_channel.body_fields IS NOT NULL THEN
        IF pg_catalog.jsonb_typeof(set_channel.body_fields) <> 'object' THEN
            RAISE EXCEPTION 'body_fields of channel "%" must be a JSON object', set_channel.channel
                USING ERRCODE = 'PC105';
        END IF;
        FOR fact IN SELECT k FROM pg_catalog.jsonb_object_keys(set_channel.body_fields) AS k LOOP
            IF fact <> ALL (ARRAY['channel_txn_id', 'order_id', 'kind', 'status', 'amount', 'currency']) THEN
                RAISE EXCEPTION 'unknown fact "%" in body_fields of channel "%"', fact, set_channel.channel
                    USING ERRCODE = 'PC105',
                          HINT = 'The facts are channel_txn_id, order_id, kind, status, amount and currency.';
            END IF;
            IF pg_catalog.jsonb_typeof(set_channel.body_fields -> fact) <> 'string'
               OR set_channel.body_fields ->> fact = '' THEN
                RAISE EXCEPTION 'body_fields of channel "%" must name a field for "%"', set_channel.channel, fact
                    USING ERRCODE = 'PC105';
            END IF;
        END LOOP;
        FOREACH fact IN ARRAY ARRAY['channel_txn_id', 'order_id', 'amount', 'currency'] LOOP
            IF NOT set_channel.body_fields ? fact THEN
                RAISE EXCEPTION 'body_fields of channel "%" must name the field of "%"', set_channel.channel, fact
                    USING ERRCODE = 'PC105',
                          DETAIL = 'A signed body binds at least the transaction id, order id, amount and currency.';
            END IF;
        END LOOP;
    END IF;
    IF set_channel.signature_header IS NOT NULL
       AND octet_length(set_channel.signature_header) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'invalid signature header name "%"', set_channel.signature_header
            USING ERRCODE = 'PC105';
    END IF;
    IF set_channel.default_currency IS NOT NULL
       AND set_channel.default_currency OPERATOR(pg_catalog.!~) '^[A-Z]{3}$' THEN
        RAISE EXCEPTION 'invalid default currency "%"', set_channel.default_currency
            USING ERRCODE = 'PC105', HINT = 'Use an ISO 4217 code of three upper-case letters.';
    END IF;
    IF set_channel.merchant_id IS NOT NULL
       AND octet_length(set_channel.merchant_id) NOT BETWEEN 1 AND 128 THEN
        RAISE EXCEPTION 'invalid merchant id "%"', set_channel.merchant_id
            USING ERRCODE = 'PC105';
    END IF;

    -- presets: what each protocol's channel expects back (doc/channels.md)
    IF set_channel.protocol = 'alipay' THEN
        p_ack := 'success'; p_ack_status := 200; p_nack := 'fail'; p_nack_status := 200;
        p_currency := 'CNY';
    ELSIF set_channel.protocol = 'wechatpay_v3' THEN
        p_ack := ''; p_ack_status := 204;
        p_nack := '{"code":"FAIL","message":"signature verification failed"}'; p_nack_status := 401;
        p_currency := 'CNY';
    ELSIF set_channel.protocol = 'stripe' THEN
        p_ack := ''; p_ack_status := 200; p_nack := NULL; p_nack_status := 400;
    ELSIF set_channel.protocol = 'adyen' THEN
        p_ack := '[accepted]'; p_ack_status := 200; p_nack := NULL; p_nack_status := 401;
    ELSE
        p_ack := ''; p_ack_status := 200; p_nack := NULL; p_nack_status := 400;
    END IF;

    BEGIN
        INSERT INTO paycons.channels AS c (channel, secret, require_signature, signature_format,
                                           tolerance, ack, nack, protocol, ack_status, nack_status,
                                           body_format, body_fields, signature_header,
                                           default_currency, merchant_id)
        VALUES (set_channel.channel,
                convert_to(set_channel.secret, 'UTF8'),
                COALESCE(set_channel.require_signature, false),
                COALESCE(set_channel.signature_format, 'hex'),
                COALESCE(set_channel.tolerance, p_tolerance),
                COALESCE(set_channel.ack, p_ack),
                COALESCE(set_channel.nack, p_nack),
                COALESCE(set_channel.protocol, 'hmac'),
                COALESCE(set_channel.ack_status, p_ack_status),
                COALESCE(set_channel.nack_status, p_nack_status),
                CASE WHEN NOT clear_body THEN set_channel.body_format END,
                CASE WHEN NOT clear_body THEN set_channel.body_fields END,
                set_channel.signature_header,
                COALESCE(set_channel.default_currency, p_currency),
                set_channel.merchant_id)
        ON CONFLICT ON CONSTRAINT channels_pkey DO UPDATE
           SET secret = COALESCE(EXCLUDED.secret, c.secret),
               require_signature = COALESCE(set_channel.require_signature, c.require_signature),
               signature_format = COALESCE(set_channel.signature_format, c.signature_format),
               tolerance = COALESCE(set_channel.tolerance,
                                    CASE WHEN preset THEN p_tolerance END, c.tolerance),
               ack = COALESCE(set_channel.ack, CASE WHEN preset THEN p_ack END, c.ack),
               nack = CASE WHEN preset THEN COALESCE(set_channel.nack, p_nack)
                           ELSE COALESCE(set_channel.nack, c.nack) END,
               protocol = COALESCE(set_channel.protocol, c.protocol),
               ack_status = COALESCE(set_channel.ack_status,
                                     CASE WHEN preset THEN p_ack_status END, c.ack_status),
               nack_status = COALESCE(set_channel.nack_status,
                                      CASE WHEN preset THEN p_nack_status END, c.nack_status),
               body_format = CASE WHEN clear_body THEN NULL
                                  ELSE COALESCE(set_channel.body_format, c.body_format) END,
               body_fields = CASE WHEN clear_body THEN NULL
                                  ELSE COALESCE(set_channel.body_fields, c.body_fields) END,
               signature_header = COALESCE(set_channel.signature_header, c.signature_header),
               default_currency = CASE WHEN preset THEN COALESCE(set_channel.default_currency, p_currency)
                                       ELSE COALESCE(set_channel.default_currency, c.default_currency) END,
               merchant_id = COALESCE(set_channel.merchant_id, c.merchant_id),
               updated_at = now();
    EXCEPTION
        WHEN check_violation THEN
            GET STACKED DIAGNOSTICS failed_constraint = CONSTRAINT_NAME;
            IF failed_constraint = 'channels_secret_when_required' THEN
                RAISE EXCEPTION 'channel "%" cannot require signatures without a secret', set_channel.channel
                    USING ERRCODE = 'PC105', HINT = 'Pass the secret in the same call.';
            END IF;
            RAISE EXCEPTION 'invalid settings for channel "%": % is violated', set_channel.channel,
                failed_constraint
                USING ERRCODE = 'PC105';
    END;
END;
$$;
COMMENT ON FUNCTION paycons.set_channel(text, text, boolean, text, interval, text, text, text, integer, integer, text, jsonb, text, text, text) IS
    'create or change a payment channel''s settings (owner only); NULL arguments keep the current value; protocol => fills in that channel''s ack, nack, HTTP statuses, tolerance and default currency (explicit arguments win)';
REVOKE EXECUTE ON FUNCTION
    paycons.set_channel(text, text, boolean, text, interval, text, text, text, integer, integer, text, jsonb, text, text, text)
FROM PUBLIC;

CREATE TABLE paycons.channel_keys (
    channel    text NOT NULL
               REFERENCES paycons.channels (channel) ON DELETE CASCADE ON UPDATE CASCADE,
    key_id     text NOT NULL
               CONSTRAINT channel_keys_key_id_length CHECK (octet_length(key_id) BETWEEN 1 AND 128),
    kind       text NOT NULL
               CONSTRAINT channel_keys_kind_valid CHECK (kind IN ('rsa_public', 'aes256', 'hmac')),
    key        bytea NOT NULL
               CONSTRAINT channel_keys_key_not_empty CHECK (octet_length(key) > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz,
    PRIMARY KEY (channel, key_id)
);
COMMENT ON TABLE paycons.channel_keys IS
    'keys apply_notification verifies and decrypts with, several per channel for rotation; readable by the extension owner only';
COMMENT ON COLUMN paycons.channel_keys.key_id IS
    'the key''s name; for WeChat Pay the platform certificate serial (or public key id) that Wechatpay-Serial names';
COMMENT ON COLUMN paycons.channel_keys.kind IS
    'rsa_public (DER SubjectPublicKeyInfo: Alipay, WeChat Pay platform), aes256 (WeChat Pay APIv3 key), hmac (Stripe, Adyen, generic)';
COMMENT ON COLUMN paycons.channel_keys.key IS 'the key bytes (never granted to any other role)';
COMMENT ON COLUMN paycons.channel_keys.retired_at IS 'when the key was retired; retired keys are not used';
SELECT pg_catalog.pg_extension_config_dump('paycons.channel_keys', '');

CREATE FUNCTION paycons.channel_key_decode(kind text, key text)
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'paycons_channel_key_decode'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION paycons.channel_key_decode(text, text) IS
    'a channel key as the channel hands it out (PEM, base64 DER, 32-byte text, hex) as the bytes channel_keys stores (owner only)';

/*
 * Key management: owner only (no EXECUTE for anyone else; the functions
 * run as the caller, who must be able to write paycons.channel_keys).
 */
CREATE FUNCTION paycons.set_channel_key(channel text, key_id text, kind text, key text)
    RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    stored_kind text;
BEGIN
    IF set_channel_key.channel IS NULL OR set_channel_key.key_id IS NULL
       OR set_channel_key.kind IS NULL OR set_channel_key.key IS NULL THEN
        RAISE EXCEPTION 'channel, key_id, kind and key must not be null' USING ERRCODE = '22004';
    END IF;
    IF NOT EXISTS (SELECT FROM paycons.channels c
                    WHERE c.channel OPERATOR(pg_catalog.=) set_channel_key.channel) THEN
        RAISE EXCEPTION 'payment channel "%" is not registered', set_channel_key.channel
            USING ERRCODE = 'PC106', HINT = 'Register it with paycons.set_channel() first.';
    END IF;
    IF octet_length(set_channel_key.key_id) NOT BETWEEN 1 AND 128
       OR set_channel_key.key_id OPERATOR(pg_catalog.~) '[\x01-\x1f\x7f]' THEN
        RAISE EXCEPTION 'invalid key id "%"', set_channel_key.key_id
            USING ERRCODE = 'PC127', DETAIL = 'A key id has 1 to 128 bytes and no control characters.';
    END IF;
    stored_kind := CASE WHEN set_channel_key.kind OPERATOR(pg_catalog.=) 'hmac_hex' THEN 'hmac'
                        ELSE set_channel_key.kind END;
    INSERT INTO paycons.channel_keys AS k (channel, key_id, kind, key)
    VALUES (set_channel_key.channel, set_channel_key.key_id, stored_kind,
            paycons.channel_key_decode(set_channel_key.kind, set_channel_key.key))
    ON CONFLICT ON CONSTRAINT channel_keys_pkey DO UPDATE
       SET kind = EXCLUDED.kind, key = EXCLUDED.key, created_at = pg_catalog.now(),
           retired_at = NULL;
END;
$$;
COMMENT ON FUNCTION paycons.set_channel_key(text, text, text, text) IS
    'add or replace a channel key (owner only): kind rsa_public, aes256, hmac or hmac_hex; a replaced or re-added key is active again';

CREATE FUNCTION paycons.retire_channel_key(channel text, key_id text)
    RETURNS boolean
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
    WITH r AS (
        UPDATE paycons.channel_keys k SET retired_at = pg_catalog.now()
         WHERE k.channel OPERATOR(pg_catalog.=) retire_channel_key.channel
           AND k.key_id OPERATOR(pg_catalog.=) retire_channel_key.key_id
           AND k.retired_at IS NULL
        RETURNING 1)
    SELECT EXISTS (SELECT FROM r)
$$;
COMMENT ON FUNCTION paycons.retire_channel_key(text, text) IS
    'retire a channel key (owner only): apply_notification no longer uses it; false if there was no such active key';

CREATE FUNCTION paycons.apply_notification(
    channel text,
    body text,
    headers jsonb DEFAULT '{}',
    OUT outcome text,
    OUT state paycons.order_state,
    OUT duplicate boolean,
    OUT first_seen_at timestamptz,
    OUT ack_status integer,
    OUT ack_body text,
    OUT order_id text,
    OUT channel_txn_id text)
    RETURNS record
    AS 'MODULE_PATHNAME', 'paycons_apply_notification'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.apply_notification(text, text, jsonb) IS
    'the webhook handler''s one call: verify, decrypt and parse a channel''s raw notification by its protocol, apply the facts of the signed body exactly once, and return the HTTP status and body the channel expects';

REVOKE ALL ON TABLE paycons.channel_keys FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION
    paycons.channel_key_decode(text, text),
    paycons.set_channel_key(text, text, text, text),
    paycons.retire_channel_key(text, text),
    paycons.apply_notification(text, text, jsonb)
FROM PUBLIC;

-- grant_app_role lists apply_notification: see the issue 10 section above
-- end issue 14: channels

/* ---- issue 11: worker per database and monitoring ---- */

-- paycons.stats() reports the current database (one shared-memory slot
-- per database) and its result type changed; paycons.health reads it, so
-- both are dropped and created again exactly as a fresh install has them.
DROP VIEW paycons.health;
DROP FUNCTION paycons.stats();
COMMENT ON FUNCTION paycons.wake() IS
    'wake the background worker of the current database for a pass now; false if no worker serves it or none is running';
CREATE FUNCTION paycons.stats(
    OUT preloaded boolean,
    OUT datname name,
    OUT served boolean,
    OUT worker_status text,
    OUT worker_pid integer,
    OUT worker_started_at timestamptz,
    OUT notifier_pid integer,
    OUT last_pass_at timestamptz,
    OUT notifications bigint,
    OUT passes bigint,
    OUT passes_skipped bigint,
    OUT compensations_done bigint,
    OUT compensations_retried bigint,
    OUT compensations_dead bigint,
    OUT external_sent bigint,
    OUT payment_queries bigint,
    OUT orders_closed bigint,
    OUT stock_committed bigint,
    OUT refund_queries bigint,
    OUT item_errors bigint)
    RETURNS record
    AS 'MODULE_PATHNAME', 'paycons_stats'
    LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION paycons.stats() IS
    'the current database in shared memory: whether paycons is preloaded, whether a worker serves the database (paycons.database) and its status (running, disabled, not running, standby, not served, not preloaded), worker and notifier pids, NOTIFYs sent, and maintenance counters since server start (NULL when not kept)';

REVOKE EXECUTE ON FUNCTION paycons.stats() FROM PUBLIC;

-- Callback counts for monitoring roles: SECURITY DEFINER, operators qualified.
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
COMMENT ON FUNCTION paycons.callback_outcomes_last_hour() IS
    'callback outcomes of the last hour as {"outcome": count}; NULL if paycons.callbacks does not exist';

CREATE FUNCTION paycons.callback_outcomes(since interval DEFAULT '1 minute',
                                          OUT outcome text, OUT callbacks bigint)
    RETURNS SETOF record
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
BEGIN
    IF since IS NULL OR since OPERATOR(pg_catalog.<=) interval '0' THEN
        RAISE EXCEPTION 'since must be a positive interval, not %', COALESCE(since::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF pg_catalog.to_regclass('paycons.callbacks') IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE
        'SELECT k.outcome, COALESCE(c.n, 0)::pg_catalog.int8'
        '  FROM (SELECT pg_catalog.unnest(ARRAY[''applied'', ''amount_mismatch'', ''late_payment'','
        '               ''duplicate_payment'', ''unknown_order'', ''conflict'', ''bad_signature'','
        '               ''ignored'', ''refund_failed'', ''over_refund'']) AS outcome) k'
        '  FULL JOIN (SELECT cb.outcome::pg_catalog.text AS outcome, pg_catalog.count(*) AS n'
        '               FROM paycons.callbacks cb'
        '              WHERE cb.received_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) $1)'
        '              GROUP BY 1) c USING (outcome)'
        ' ORDER BY 1'
        USING since;
END;
$$;
COMMENT ON FUNCTION paycons.callback_outcomes(interval) IS
    'callbacks per outcome received within the last "since" (default one minute), 0 for outcomes not seen; for monitoring';

REVOKE EXECUTE ON FUNCTION paycons.callback_outcomes(interval) FROM PUBLIC;

CREATE INDEX callbacks_received_at ON paycons.callbacks USING brin (received_at);
COMMENT ON INDEX paycons.callbacks_received_at IS
    'recent callbacks for health and monitoring (callback_outcomes)';

-- Orders waiting for a person: counted and aged from this index alone.
CREATE INDEX orders_needs_review_since ON paycons.orders (state_changed_at)
    WHERE state = 'needs_review';
COMMENT ON INDEX paycons.orders_needs_review_since IS
    'orders in needs_review, by the time they entered it (health view)';

CREATE VIEW paycons.health AS
SELECT
    (SELECT count(*) FROM paycons.orders
      WHERE state = 'paying') AS orders_paying,
    (SELECT count(*) FROM paycons.orders
      WHERE state = 'paying' AND pay_deadline < now()) AS orders_paying_overdue,
    (SELECT now() - min(pay_deadline) FROM paycons.orders
      WHERE state = 'paying' AND pay_deadline < now()) AS oldest_overdue_paying,
    (SELECT count(*) FROM paycons.orders
      WHERE state = 'refunding') AS orders_refunding,
    (SELECT now() - min(state_changed_at) FROM paycons.orders
      WHERE state = 'refunding') AS oldest_refunding,
    (SELECT count(*) FROM paycons.orders
      WHERE state = 'needs_review') AS orders_needs_review,
    (SELECT now() - min(state_changed_at) FROM paycons.orders
      WHERE state = 'needs_review') AS oldest_needs_review,
    (SELECT count(*) FROM paycons.outbox
      WHERE status IN ('pending', 'leased')) AS outbox_backlog,
    (SELECT now() - min(created_at) FROM paycons.outbox
      WHERE status IN ('pending', 'leased')) AS outbox_oldest,
    (SELECT count(*) FROM paycons.outbox WHERE status = 'dead') AS outbox_dead,
    (SELECT count(*) FROM paycons.compensations
      WHERE state IN ('pending', 'waiting_external') AND next_attempt_at <= now()) AS compensations_due,
    (SELECT count(*) FROM paycons.compensations
      WHERE state = 'waiting_external') AS compensations_waiting_external,
    (SELECT count(*) FROM paycons.compensations
      WHERE state = 'dead') AS compensations_dead,
    (SELECT count(*) FROM paycons.stock_orders s JOIN paycons.orders o USING (order_id)
      WHERE s.state = 'reserved'
        AND o.state IN ('paid', 'fulfilling', 'shipped', 'completed')) AS stock_commits_pending,
    st.worker_status,
    st.worker_pid,
    st.last_pass_at,
    CASE
      WHEN NOT st.preloaded THEN
        'paycons is not in shared_preload_libraries: there is no background worker, no notifier and '
        'no shared-memory counters (last_pass_at is unknown). Schedule SELECT paycons.run_maintenance() '
        'with pg_cron, or add paycons to shared_preload_libraries and this database to paycons.database, '
        'and restart.'
      WHEN NOT st.served THEN
        format('no paycons worker serves database %s (paycons.database = %L): stuck orders are not '
               'closed and compensations not retried unless SELECT paycons.run_maintenance() is '
               'scheduled here (pg_cron: cron.schedule_in_database). Add the database to '
               'paycons.database and restart, or schedule the pass.',
               quote_ident(current_database()), current_setting('paycons.database', true))
      WHEN st.worker_status = 'standby' THEN
        'this server is in recovery: the paycons worker of this database starts when it is promoted.'
      WHEN st.worker_status = 'not running' THEN
        'the paycons worker of this database is not running: it is starting, waiting to be restarted '
        'after an error (see the server log), or could not be registered (raise max_worker_processes).'
      WHEN st.worker_status = 'disabled' THEN
        'paycons.enabled is off: the worker runs no maintenance passes. Turn it on, or schedule '
        'SELECT paycons.run_maintenance() with pg_cron.'
      WHEN st.notifier_pid IS NULL THEN
        'the paycons notifier of this database is not running: writers send one NOTIFY per '
        'transaction until it is back (see the server log).'
    END AS worker_hint,
    paycons.callback_outcomes_last_hour() AS callback_outcomes_last_hour
  FROM paycons.stats() st;
COMMENT ON VIEW paycons.health IS
    'one row for on-call: what is stuck (overdue paying, refunding, needs_review), lagging (outbox backlog) or dead (compensations, outbox), and whether a worker serves this database (worker_status; worker_hint says what to do); every figure comes from a partial index, a small table or shared memory';

REVOKE ALL ON paycons.health FROM PUBLIC;

CREATE FUNCTION paycons.grant_monitor_role(role text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
BEGIN
    PERFORM paycons.require_role(grant_monitor_role.role);
    EXECUTE pg_catalog.format('GRANT SELECT ON paycons.health, paycons.order_counts TO %I',
                              grant_monitor_role.role);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION paycons.stats(),'
                              ' paycons.callback_outcomes_last_hour(),'
                              ' paycons.callback_outcomes(interval) TO %I', grant_monitor_role.role);
END;
$$;
COMMENT ON FUNCTION paycons.grant_monitor_role(text) IS
    'grant a monitoring role read access to paycons.health, paycons.order_counts, paycons.stats() and paycons.callback_outcomes() (nothing on the tables)';
REVOKE EXECUTE ON FUNCTION paycons.grant_monitor_role(text) FROM PUBLIC;

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

/* ---- issue 11: CDC-safe outbox ---- */

-- Rotation no longer copies live events: an event stays in the segment
-- (partition) it was written to until it is acknowledged, a segment is
-- truncated only once it holds nothing, and the ring grows by a segment
-- when none is empty.  Existing events stay where they are.  The current
-- segment is now the sequence's last value itself, not its value modulo 3.
SELECT pg_catalog.setval('paycons.outbox_slot_seq',
                         (SELECT last_value OPERATOR(pg_catalog.%) 3 FROM paycons.outbox_slot_seq), true);
COMMENT ON SEQUENCE paycons.outbox_slot_seq IS
    'outbox rotation: the current segment is paycons.outbox_<last_value>';
CREATE OR REPLACE FUNCTION paycons.outbox_current_slot() RETURNS smallint
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
    SELECT last_value::pg_catalog.int2 FROM paycons.outbox_slot_seq
$$;
COMMENT ON FUNCTION paycons.outbox_current_slot() IS
    'the outbox segment (partition) new events go into';
COMMENT ON COLUMN paycons.outbox.id IS 'event id (Debezium: table.field.event.id, default id); increases with commit order within one aggregate';
COMMENT ON COLUMN paycons.outbox.aggregate_type IS 'Debezium: route.by.field=aggregate_type (routes to a topic)';
COMMENT ON COLUMN paycons.outbox.aggregate_id IS 'Debezium: table.field.event.key=aggregate_id (message key; per-aggregate FIFO)';
COMMENT ON COLUMN paycons.outbox.event_type IS 'Debezium: table.field.event.type=event_type';
COMMENT ON COLUMN paycons.outbox.payload IS 'Debezium: table.field.event.payload, default payload';
COMMENT ON COLUMN paycons.outbox.slot IS 'segment (partition) the row was written to and stays in (internal)';
COMMENT ON TABLE paycons.outbox_0 IS 'outbox segment (see paycons.outbox_maintain)';
COMMENT ON TABLE paycons.outbox_1 IS 'outbox segment (see paycons.outbox_maintain)';
COMMENT ON TABLE paycons.outbox_2 IS 'outbox segment (see paycons.outbox_maintain)';
COMMENT ON TABLE paycons.outbox_rotation IS 'when paycons.outbox_maintain() last rotated the outbox segments';
CREATE OR REPLACE FUNCTION paycons.outbox_maintain(force boolean DEFAULT false)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, paycons, pg_temp
    SET lock_timeout = '50ms'
AS $$
DECLARE
    -- (missing_ok: in a session where the library is not loaded yet)
    v_interval  interval := COALESCE(current_setting('paycons.outbox_rotate_interval', true), '10s')::interval;
    v_max       constant integer := 16;     -- OUTBOX_MAX_SLOTS in src/outbox.h
    v_last      timestamptz;
    v_cur       smallint;
    v_next      smallint;
    v_new       smallint;
    v_slots     smallint[];
    v_truncated smallint[] := '{}';
    v_waiting   smallint[] := '{}';
    v_busy      smallint[] := '{}';
    v_rotated   boolean := false;
    v_skipped   text;
    v_rel       regclass;
    v_id        bigint;
    v_locked    boolean;
    v_budget    timestamptz;
    s           smallint;
BEGIN
    SELECT rotated_at INTO v_last FROM paycons.outbox_rotation FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('rotated', false, 'current_slot', paycons.outbox_current_slot(),
                                  'skipped', 'another maintenance pass is running');
    END IF;
    v_cur := paycons.outbox_current_slot();
    SELECT array_agg(substr(c.relname, 8)::smallint ORDER BY substr(c.relname, 8)::integer)
      INTO v_slots
      FROM pg_catalog.pg_inherits i
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid
     WHERE i.inhparent OPERATOR(pg_catalog.=) 'paycons.outbox'::pg_catalog.regclass
       AND c.relname OPERATOR(pg_catalog.~) '^outbox_[0-9]+$';

    -- 1. truncate the segments that hold nothing
    FOREACH s IN ARRAY v_slots LOOP
        CONTINUE WHEN s = v_cur;
        v_rel := format('paycons.%I', 'outbox_' || s)::regclass;
        CONTINUE WHEN pg_catalog.pg_relation_size(v_rel) = 0;
        EXECUTE format('SELECT id FROM %s ORDER BY id LIMIT 1', v_rel) INTO v_id;
        IF v_id IS NOT NULL THEN
            v_waiting := v_waiting || s;
            CONTINUE;
        END IF;
        -- A transaction that has held a lock on it for over a second (a
        -- report, pg_dump) will not let go soon: do not wait for it.
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                     JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid
                    WHERE l.relation OPERATOR(pg_catalog.=) v_rel AND l.granted
                      AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
                      AND a.xact_start OPERATOR(pg_catalog.<) (pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) interval '1 second')) THEN
            v_busy := v_busy || s;
            CONTINUE;
        END IF;
        -- NOWAIT: a queued lock request would hold up every claim behind
        -- it.  Claims hold their locks for a moment only: try again every
        -- 2 ms, for at most 20 ms per segment.
        v_locked := false;
        v_budget := clock_timestamp() + interval '20 milliseconds';
        LOOP
            BEGIN
                EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', v_rel);
                v_locked := true;
            EXCEPTION WHEN lock_not_available THEN
                NULL;
            END;
            EXIT WHEN v_locked OR clock_timestamp() >= v_budget;
            PERFORM pg_catalog.pg_sleep(0.002);
        END LOOP;
        IF NOT v_locked THEN
            v_busy := v_busy || s;
            CONTINUE;
        END IF;
        -- again under the lock: a writer that read the slot before a
        -- rotation may have added an event since the first look
        EXECUTE format('SELECT id FROM %s ORDER BY id LIMIT 1', v_rel) INTO v_id;
        IF v_id IS NOT NULL THEN
            v_waiting := v_waiting || s;
            CONTINUE;
        END IF;
        BEGIN
            EXECUTE format('TRUNCATE %s', v_rel);
            v_truncated := v_truncated || s;
        EXCEPTION WHEN object_in_use THEN
            -- the statement that called us is reading the outbox itself
            v_busy := v_busy || s;
        END;
    END LOOP;

    -- 2. rotate into the next empty segment
    IF NOT force AND clock_timestamp() - v_last < v_interval THEN
        v_skipped := 'rotated less than paycons.outbox_rotate_interval ago';
    ELSE
        SELECT x INTO v_next FROM unnest(v_slots) x
         WHERE x <> v_cur
           AND pg_catalog.pg_relation_size(format('paycons.%I', 'outbox_' || x)::regclass) = 0
         ORDER BY x <= v_cur, x
         LIMIT 1;
        IF v_next IS NOT NULL THEN
            PERFORM pg_catalog.setval('paycons.outbox_slot_seq', v_next, true);
            UPDATE paycons.outbox_rotation
               SET rotated_at = clock_timestamp(), rotations = rotations + 1;
            v_cur := v_next;
            v_rotated := true;
        ELSIF cardinality(v_slots) >= v_max THEN
            v_skipped := format('no empty segment and already %s segments', cardinality(v_slots));
        ELSE
            -- 3. a new segment, current from the next pass on
            SELECT min(x) INTO v_new FROM generate_series(0, v_max - 1) x
             WHERE x <> ALL (v_slots);
            BEGIN
                EXECUTE format('CREATE TABLE paycons.%I (LIKE paycons.outbox INCLUDING DEFAULTS INCLUDING CONSTRAINTS) WITH (fillfactor = 50)',
                               'outbox_' || v_new);
                EXECUTE format('ALTER TABLE paycons.outbox ATTACH PARTITION paycons.%I FOR VALUES IN (%s)',
                               'outbox_' || v_new, v_new);
                EXECUTE format('COMMENT ON TABLE paycons.%I IS %L', 'outbox_' || v_new,
                               'outbox segment (see paycons.outbox_maintain), added when no segment was empty');
                v_slots := v_slots || v_new;
                v_skipped := format('no empty segment: added segment %s', v_new);
            EXCEPTION WHEN lock_not_available THEN
                v_skipped := 'no empty segment, and paycons.outbox was busy for longer than lock_timeout';
            END;
        END IF;
    END IF;

    RETURN jsonb_build_object('rotated', v_rotated, 'current_slot', v_cur,
                              'segments', cardinality(v_slots),
                              'truncated', to_jsonb(v_truncated),
                              'waiting', to_jsonb(v_waiting),
                              'busy', to_jsonb(v_busy))
           || CASE WHEN v_skipped IS NULL THEN '{}'::jsonb
                   ELSE jsonb_build_object('skipped', v_skipped) END;
END;
$$;
COMMENT ON FUNCTION paycons.outbox_maintain(boolean) IS
    'outbox maintenance pass: truncate the segments that hold no event, rotate into an empty one, add a segment when none is empty; never copies an event; returns what it did';

/* ---- end issue 11: CDC-safe outbox ---- */

/* ---- issue 13: verify ---- */

-- paycons.verify(since) and the indexes it reads (see sql/install/75_verify.sql).
-- The window: rows by time.  Both order_history and callbacks are append-mostly in time order,
-- so a BRIN range summary (one tuple per 128 pages) finds the recent rows
-- at almost no cost on the write path.
CREATE INDEX order_history_at_brin ON paycons.order_history USING brin (at);
COMMENT ON INDEX paycons.order_history_at_brin IS
    'finds the history rows of a time window for paycons.verify(since)';
-- (the inbox rows of the window: callbacks_received_at, 70_maintenance.sql)
-- An order's refunds (the plain applied payment is found through the
-- order's own channel_txn_id, the other money rows through
-- callbacks_attention): refunds are few, so this index costs little.
CREATE INDEX callbacks_refund_order ON paycons.callbacks (order_id)
    WHERE kind = 'refund';
COMMENT ON INDEX paycons.callbacks_refund_order IS
    'refund callbacks by order, for paycons.verify()';

CREATE FUNCTION paycons.verify(since timestamptz DEFAULT NULL)
    RETURNS TABLE (invariant text, key text, detail text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, paycons, pg_temp
    -- one big statement of index probes: compiling it would cost more
    -- than running it
    SET jit = off
AS $fn$
DECLARE
    -- the orders to check (w): all of them, or those with a history row or
    -- an inbox row at or after $1
    w_all CONSTANT text := $w$
        SELECT o.order_id, o.state::pg_catalog.text AS state, o.amount, o.currency,
               o.paid_amount, o.refunded_amount, o.channel, o.channel_txn_id
          FROM paycons.orders o $w$;
    w_window CONSTANT text := $w$
        SELECT o.order_id, o.state, o.amount, o.currency,
               o.paid_amount, o.refunded_amount, o.channel, o.channel_txn_id
          FROM (SELECT h.order_id FROM paycons.order_history h
                 WHERE h.at OPERATOR(pg_catalog.>=) $1
                UNION
                SELECT c.order_id FROM paycons.callbacks c
                 WHERE c.received_at OPERATOR(pg_catalog.>=) $1) ids
         CROSS JOIN LATERAL (
                SELECT o.order_id, o.state::pg_catalog.text AS state, o.amount, o.currency,
                       o.paid_amount, o.refunded_amount, o.channel, o.channel_txn_id
                  FROM paycons.orders o
                 WHERE o.order_id OPERATOR(pg_catalog.=) ids.order_id
                OFFSET 0) o $w$;
    -- the applied payments to check for a link from their order
    applied_all CONSTANT text := 'true';
    applied_window CONSTANT text := 'c.received_at OPERATOR(pg_catalog.>=) $1';
    audit CONSTANT text := $q$
WITH
w AS MATERIALIZED (%s),

-- the inbox rows of w's orders other than plain "applied" ones (late,
-- duplicate, mismatched, held, over-refunded money, unknown orders)
att AS MATERIALIZED (
    SELECT w.order_id, w.currency AS order_currency, c.*
      FROM w CROSS JOIN LATERAL (
            SELECT c.channel, c.channel_txn_id, c.kind, c.status, c.amount, c.currency, c.outcome,
                   COALESCE(c.review, '') AS review
              FROM paycons.callbacks c
             WHERE c.order_id OPERATOR(pg_catalog.=) w.order_id
               AND c.outcome OPERATOR(pg_catalog.<>) 'applied'
            OFFSET 0) c),

money AS (
    SELECT a.order_id,
           COALESCE(pg_catalog.sum(a.amount) FILTER (
               WHERE a.kind OPERATOR(pg_catalog.=) 'payment'
                 AND a.status OPERATOR(pg_catalog.=) 'success'
                 AND a.currency OPERATOR(pg_catalog.=) a.order_currency
                 AND a.review OPERATOR(pg_catalog.<>) 'pending'
                 AND a.outcome OPERATOR(pg_catalog.=) ANY (ARRAY['late_payment', 'duplicate_payment',
                                                                'amount_mismatch', 'held_for_review'])),
                    0)::pg_catalog.int8 AS taken,
           pg_catalog.count(*) FILTER (WHERE a.review OPERATOR(pg_catalog.=) 'pending') AS pending,
           pg_catalog.count(*) FILTER (
               WHERE a.kind OPERATOR(pg_catalog.=) 'refund'
                 AND a.outcome OPERATOR(pg_catalog.=) ANY (ARRAY['over_refund', 'amount_mismatch'])) AS review_refunds,
           COALESCE(pg_catalog.sum(a.amount) FILTER (
               WHERE a.kind OPERATOR(pg_catalog.=) 'refund'
                 AND a.outcome OPERATOR(pg_catalog.=) 'over_refund'
                 AND a.currency OPERATOR(pg_catalog.=) a.order_currency), 0)::pg_catalog.int8 AS over_refunded
      FROM att a
     GROUP BY a.order_id),

-- each order with its sums: the one plain "applied" payment is the one
-- the order records; refunds come from callbacks_refund_order
m AS (
    SELECT w.*,
           (COALESCE((SELECT c.amount FROM paycons.callbacks c
                       WHERE c.channel OPERATOR(pg_catalog.=) w.channel
                         AND c.channel_txn_id OPERATOR(pg_catalog.=) w.channel_txn_id
                         AND c.order_id OPERATOR(pg_catalog.=) w.order_id
                         AND c.kind OPERATOR(pg_catalog.=) 'payment'
                         AND c.status OPERATOR(pg_catalog.=) 'success'
                         AND c.outcome OPERATOR(pg_catalog.=) 'applied'
                         AND c.currency OPERATOR(pg_catalog.=) w.currency), 0)
            OPERATOR(pg_catalog.+) COALESCE(mo.taken, 0)) AS paid_sum,
           COALESCE((SELECT pg_catalog.sum(c.amount)::pg_catalog.int8 FROM paycons.callbacks c
                      WHERE c.order_id OPERATOR(pg_catalog.=) w.order_id
                        AND c.kind OPERATOR(pg_catalog.=) 'refund'
                        AND c.status OPERATOR(pg_catalog.=) 'success'
                        AND c.currency OPERATOR(pg_catalog.=) w.currency
                        AND c.outcome OPERATOR(pg_catalog.=) ANY (ARRAY['applied', 'over_refund'])), 0) AS refunded_sum,
           COALESCE(mo.pending, 0) AS pending,
           COALESCE(mo.review_refunds, 0) AS review_refunds,
           COALESCE(mo.over_refunded, 0) AS over_refunded
      FROM w
      LEFT JOIN money mo ON mo.order_id OPERATOR(pg_catalog.=) w.order_id),

-- every history row of w's orders, with its neighbours
-- (each access below is per order of w, through an index: OFFSET 0 keeps
-- the planner from turning it into a join that scans a whole table, so
-- the cost follows the size of w)
hist AS NOT MATERIALIZED (
    SELECT w.order_id, w.state, h.id, h.f, h.t, h.reason, h.txid, h.prev_t, h.n, h.next_id
      FROM w CROSS JOIN LATERAL (
            SELECT h.id, h.from_state::pg_catalog.text AS f, h.to_state::pg_catalog.text AS t,
                   h.reason, h.txid,
                   pg_catalog.lag(h.to_state::pg_catalog.text) OVER win AS prev_t,
                   pg_catalog.row_number() OVER win AS n,
                   pg_catalog.lead(h.id) OVER win AS next_id
              FROM paycons.order_history h
             WHERE h.order_id OPERATOR(pg_catalog.=) w.order_id
               AND h.table_name OPERATOR(pg_catalog.=) 'paycons.orders'
            WINDOW win AS (ORDER BY h.id)
            OFFSET 0) h),

-- the live order.<state> events of each order, oldest first
ev AS (
    SELECT x.aggregate_id AS order_id,
           pg_catalog.array_agg(x.event_type ORDER BY x.id) AS types,
           pg_catalog.array_agg(x.created_at ORDER BY x.id) AS ats,
           pg_catalog.count(*) AS n
      FROM paycons.outbox x
     WHERE x.aggregate_type OPERATOR(pg_catalog.=) 'order'
       AND x.event_type OPERATOR(pg_catalog.=) ANY (ARRAY(
               SELECT 'order.' OPERATOR(pg_catalog.||) s::pg_catalog.text FROM paycons.all_states() s))
     GROUP BY x.aggregate_id)

-- 1. a callback changed only its own order, in one transaction
SELECT 'callback_applied_once'::pg_catalog.text AS invariant, k.h_order AS key,
       pg_catalog.format('callback %%s %%s of order %%s changed order %%s in %%s transaction(s)',
                         k.channel, k.channel_txn_id, k.c_order, k.h_order, k.xacts) AS detail
  FROM (SELECT c.channel, c.channel_txn_id, c.order_id AS c_order, h.order_id AS h_order,
               pg_catalog.count(DISTINCT h.txid) AS xacts
          FROM hist h
          JOIN paycons.channels ch
            ON pg_catalog.starts_with(h.reason, pg_catalog.split_part(h.reason, ' ', 1)
                                      OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) ch.channel
                                      OPERATOR(pg_catalog.||) ' ')
         CROSS JOIN LATERAL (
                SELECT c.channel, c.channel_txn_id, c.order_id
                  FROM paycons.callbacks c
                 WHERE c.channel OPERATOR(pg_catalog.=) ch.channel
                   AND c.channel_txn_id OPERATOR(pg_catalog.=)
                       pg_catalog.substr(h.reason, pg_catalog.length(pg_catalog.split_part(h.reason, ' ', 1))
                                                   OPERATOR(pg_catalog.+) pg_catalog.length(ch.channel)
                                                   OPERATOR(pg_catalog.+) 3)
                   AND c.source OPERATOR(pg_catalog.=) pg_catalog.split_part(h.reason, ' ', 1)
                OFFSET 0) c
         WHERE pg_catalog.split_part(h.reason, ' ', 1) OPERATOR(pg_catalog.=) ANY (ARRAY['callback', 'query', 'statement'])
         GROUP BY 1, 2, 3, 4) k
 WHERE k.h_order OPERATOR(pg_catalog.<>) k.c_order OR k.xacts OPERATOR(pg_catalog.>) 1

-- 2. an applied payment is the payment its order records (one per order)
UNION ALL
SELECT 'applied_payment_unlinked', c.order_id,
       pg_catalog.format('applied payment %%s %%s of %%s %%s is not the payment order %%s records (%%s %%s)',
                         c.channel, c.channel_txn_id, c.amount, c.currency, c.order_id, o.channel, o.channel_txn_id)
  FROM paycons.callbacks c
  LEFT JOIN LATERAL (
        SELECT o.channel, o.channel_txn_id FROM paycons.orders o
         WHERE o.order_id OPERATOR(pg_catalog.=) c.order_id OFFSET 0) o ON true
 WHERE %s
   AND c.kind OPERATOR(pg_catalog.=) 'payment'
   AND c.status OPERATOR(pg_catalog.=) 'success'
   AND c.outcome OPERATOR(pg_catalog.=) 'applied'
   AND NOT (COALESCE(o.channel OPERATOR(pg_catalog.=) c.channel, false)
            AND COALESCE(o.channel_txn_id OPERATOR(pg_catalog.=) c.channel_txn_id, false))

-- 3. paid_amount is the money received in the order's currency
UNION ALL
SELECT 'paid_amount_matches_callbacks', m.order_id,
       pg_catalog.format('paid_amount %%s %%s, but its successful payments in %%s not waiting in review add up to %%s',
                         m.paid_amount, m.currency, m.currency, m.paid_sum)
  FROM m WHERE m.paid_amount OPERATOR(pg_catalog.<>) m.paid_sum

-- 4. refunded_amount is the money refunded in the order's currency
UNION ALL
SELECT 'refunded_amount_matches_callbacks', m.order_id,
       pg_catalog.format('refunded_amount %%s %%s, but its successful refunds in %%s add up to %%s',
                         m.refunded_amount, m.currency, m.currency, m.refunded_sum)
  FROM m WHERE m.refunded_amount OPERATOR(pg_catalog.<>) m.refunded_sum

-- 5. no more refunded than paid, beyond what the channel over-refunded
UNION ALL
SELECT 'refunded_le_paid', m.order_id,
       pg_catalog.format('refunded_amount %%s > paid_amount %%s %%s (over-refunds recorded: %%s)',
                         m.refunded_amount, m.paid_amount, m.currency, m.over_refunded)
  FROM m
 WHERE m.refunded_amount OPERATOR(pg_catalog.>) m.paid_amount
   AND (m.refunded_amount OPERATOR(pg_catalog.-) m.paid_amount) OPERATOR(pg_catalog.>) m.over_refunded

-- 6. an order that counts as paid has received its amount
UNION ALL
SELECT 'paid_without_money', m.order_id,
       pg_catalog.format('order is %%s with paid_amount %%s of amount %%s %%s',
                         m.state, m.paid_amount, m.amount, m.currency)
  FROM m
 WHERE m.state OPERATOR(pg_catalog.=) ANY (ARRAY['paid', 'fulfilling', 'shipped', 'completed'])
   AND m.paid_amount OPERATOR(pg_catalog.<) m.amount

-- 7. an order that was given up (or fully refunded) keeps no money
-- without a refund under way or done
UNION ALL
SELECT 'closed_holding_money', m.order_id,
       pg_catalog.format('order is %%s and holds %%s %%s (paid %%s, refunded %%s) with no open or done refund compensation',
                         m.state, m.paid_amount OPERATOR(pg_catalog.-) m.refunded_amount, m.currency,
                         m.paid_amount, m.refunded_amount)
  FROM m
 WHERE m.state OPERATOR(pg_catalog.=) ANY (ARRAY['closed', 'cancelled', 'refunded'])
   AND m.paid_amount OPERATOR(pg_catalog.>) m.refunded_amount
   AND NOT EXISTS (
        SELECT 1 FROM paycons.compensations k
         WHERE k.order_id OPERATOR(pg_catalog.=) m.order_id
           AND k.action OPERATOR(pg_catalog.~~) 'refund:%%'
           AND k.state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running', 'waiting_external', 'done']))

-- 8. an order refunding has something left to refund: money of its
-- currency, or a refund compensation not yet done
UNION ALL
SELECT 'refunding_without_refund', m.order_id,
       pg_catalog.format('order is refunding but holds nothing to refund (paid %%s, refunded %%s %%s) and no refund compensation is open',
                         m.paid_amount, m.refunded_amount, m.currency)
  FROM m
 WHERE m.state OPERATOR(pg_catalog.=) 'refunding'
   AND m.paid_amount OPERATOR(pg_catalog.<=) m.refunded_amount
   AND NOT EXISTS (
        SELECT 1 FROM paycons.compensations k
         WHERE k.order_id OPERATOR(pg_catalog.=) m.order_id
           AND k.action OPERATOR(pg_catalog.~~) 'refund:%%'
           AND k.state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running', 'waiting_external', 'dead']))

-- 9. money waits for review only while its order is in review
UNION ALL
SELECT 'review_pending_outside_review', c.order_id,
       pg_catalog.format('payment %%s %%s of %%s %%s waits for review but order %%s is %%s',
                         c.channel, c.channel_txn_id, c.amount, c.currency, c.order_id,
                         COALESCE(o.state::pg_catalog.text, 'missing'))
  FROM paycons.callbacks c
  LEFT JOIN LATERAL (
        SELECT o.state FROM paycons.orders o
         WHERE o.order_id OPERATOR(pg_catalog.=) c.order_id OFFSET 0) o ON true
 WHERE c.review OPERATOR(pg_catalog.=) 'pending'
   AND COALESCE(o.state::pg_catalog.text OPERATOR(pg_catalog.<>) 'needs_review', true)

-- 10. an order in review has something to review
UNION ALL
SELECT 'needs_review_without_reason', m.order_id,
       'order is needs_review with no pending payment, over-refund or refund in another currency'
  FROM m
 WHERE m.state OPERATOR(pg_catalog.=) 'needs_review'
   AND m.pending OPERATOR(pg_catalog.=) 0
   AND m.review_refunds OPERATOR(pg_catalog.=) 0

-- 11. money to give back has its refund: late and duplicate payments,
-- and payments refunded by a review (in the order's currency); for a
-- review, the part the channel had returned already (an over-refund
-- before the decision) is the done compensation refund:<txn>:returned,
-- and refund:<txn> asks for the rest
UNION ALL
SELECT 'refund_compensation_missing', a.order_id,
       pg_catalog.format('payment %%s %%s of %%s %%s (%%s%%s) has no compensation refund:%%s of that amount',
                         a.channel, a.channel_txn_id, a.amount, a.currency, a.outcome,
                         CASE WHEN a.review OPERATOR(pg_catalog.<>) '' THEN ', review ' OPERATOR(pg_catalog.||) a.review ELSE '' END,
                         a.channel_txn_id)
  FROM att a
 WHERE a.kind OPERATOR(pg_catalog.=) 'payment'
   AND a.status OPERATOR(pg_catalog.=) 'success'
   AND a.currency OPERATOR(pg_catalog.=) a.order_currency
   AND (a.outcome OPERATOR(pg_catalog.=) ANY (ARRAY['late_payment', 'duplicate_payment'])
        OR a.review OPERATOR(pg_catalog.=) 'refunded')
   AND NOT EXISTS (
        SELECT 1 FROM paycons.compensations k
         WHERE k.order_id OPERATOR(pg_catalog.=) a.order_id
           AND k.action OPERATOR(pg_catalog.=) ('refund:' OPERATOR(pg_catalog.||) a.channel_txn_id)
           AND (k.args OPERATOR(pg_catalog.->) 'amount') OPERATOR(pg_catalog.=) pg_catalog.to_jsonb(a.amount)
           AND (k.args OPERATOR(pg_catalog.->>) 'currency') OPERATOR(pg_catalog.=) a.currency)
   AND NOT (a.review OPERATOR(pg_catalog.=) 'refunded'
            AND COALESCE((
                SELECT pg_catalog.sum((k.args OPERATOR(pg_catalog.->>) 'amount')::pg_catalog.numeric)
                  FROM paycons.compensations k
                 WHERE k.order_id OPERATOR(pg_catalog.=) a.order_id
                   AND k.action OPERATOR(pg_catalog.=) ANY (ARRAY[
                           'refund:' OPERATOR(pg_catalog.||) a.channel_txn_id,
                           'refund:' OPERATOR(pg_catalog.||) a.channel_txn_id OPERATOR(pg_catalog.||) ':returned'])
                   AND (k.args OPERATOR(pg_catalog.->>) 'currency') OPERATOR(pg_catalog.=) a.currency
                   AND pg_catalog.jsonb_typeof(k.args OPERATOR(pg_catalog.->) 'amount') OPERATOR(pg_catalog.=) 'number'),
                0) OPERATOR(pg_catalog.=) a.amount::pg_catalog.numeric)

-- 12. money in another currency is never kept: each such payment not
-- waiting in review has a refund of that currency
UNION ALL
SELECT 'foreign_payment_unrefunded', a.order_id,
       pg_catalog.format('payment %%s %%s of %%s %%s (%%s) in another currency than the order''s %%s has no compensation refund:%%s in %%s',
                         a.channel, a.channel_txn_id, a.amount, a.currency, a.outcome, a.order_currency,
                         a.channel_txn_id, a.currency)
  FROM att a
 WHERE a.kind OPERATOR(pg_catalog.=) 'payment'
   AND a.status OPERATOR(pg_catalog.=) 'success'
   AND a.currency OPERATOR(pg_catalog.<>) a.order_currency
   AND a.review OPERATOR(pg_catalog.<>) 'pending'
   AND a.outcome OPERATOR(pg_catalog.<>) 'unknown_order'
   AND NOT EXISTS (
        SELECT 1 FROM paycons.compensations k
         WHERE k.order_id OPERATOR(pg_catalog.=) a.order_id
           AND k.action OPERATOR(pg_catalog.=) ('refund:' OPERATOR(pg_catalog.||) a.channel_txn_id)
           AND (k.args OPERATOR(pg_catalog.->>) 'currency') OPERATOR(pg_catalog.=) a.currency)

-- 13. one history row per state change: a chain from the creation to the
-- order's state
UNION ALL
SELECT 'history_chain', h.order_id,
       CASE WHEN h.n OPERATOR(pg_catalog.=) 1 AND h.f IS NOT NULL
            THEN pg_catalog.format('first history row %%s is %%s -> %%s, not the creation', h.id, h.f, h.t)
            WHEN h.n OPERATOR(pg_catalog.>) 1 AND COALESCE(h.f, '') OPERATOR(pg_catalog.<>) h.prev_t
            THEN pg_catalog.format('history row %%s is %%s -> %%s, but the row before it ends in %%s',
                                   h.id, COALESCE(h.f, 'NULL'), h.t, h.prev_t)
            ELSE pg_catalog.format('the last history row %%s ends in %%s, but the order is %%s', h.id, h.t, h.state)
       END
  FROM hist h
 WHERE (h.n OPERATOR(pg_catalog.=) 1 AND h.f IS NOT NULL)
    OR (h.n OPERATOR(pg_catalog.>) 1 AND COALESCE(h.f, '') OPERATOR(pg_catalog.<>) h.prev_t)
    OR (h.next_id IS NULL AND h.t OPERATOR(pg_catalog.<>) h.state)
UNION ALL
SELECT 'history_chain', w.order_id, pg_catalog.format('order is %%s and has no history row', w.state)
  FROM w
  LEFT JOIN LATERAL (
        SELECT 1 AS found FROM paycons.order_history h
         WHERE h.order_id OPERATOR(pg_catalog.=) w.order_id
           AND h.table_name OPERATOR(pg_catalog.=) 'paycons.orders'
         LIMIT 1) h ON true
 WHERE h.found IS NULL

-- 14. one order.<state> event per state change: the events not yet
-- acknowledged are those of the order's last state changes (per-order
-- FIFO: an event is handed out only after every earlier one was acked)
UNION ALL
SELECT 'event_history_mismatch', e.order_id,
       pg_catalog.format('live events %%s do not match the last %%s history rows %%s',
                         e.types, e.n, COALESCE(hh.types::pg_catalog.text, 'none'))
  FROM ev e
  LEFT JOIN LATERAL (
        SELECT pg_catalog.array_agg(s.t ORDER BY s.id) AS types,
               pg_catalog.array_agg(s.at ORDER BY s.id) AS ats
          FROM (SELECT h.id, 'order.' OPERATOR(pg_catalog.||) h.to_state::pg_catalog.text AS t, h.at
                  FROM paycons.order_history h
                 WHERE h.order_id OPERATOR(pg_catalog.=) e.order_id
                   AND h.table_name OPERATOR(pg_catalog.=) 'paycons.orders'
                 ORDER BY h.id DESC
                 LIMIT e.n) s) hh ON true
 WHERE NOT COALESCE(e.types OPERATOR(pg_catalog.=) hh.types AND e.ats OPERATOR(pg_catalog.=) hh.ats, false)

-- 15. stock held for an order that was given up is given back once the
-- release_stock compensation ran
UNION ALL
SELECT 'stock_reservation_outlives_order', so.order_id,
       pg_catalog.format('order is %%s but its stock is still reserved (release_stock: %%s)',
                         COALESCE(o.state::pg_catalog.text, 'missing'), COALESCE(k.state, 'none'))
  FROM paycons.stock_orders so
  LEFT JOIN LATERAL (
        SELECT o.order_id, o.state FROM paycons.orders o
         WHERE o.order_id OPERATOR(pg_catalog.=) so.order_id OFFSET 0) o ON true
  LEFT JOIN paycons.compensations k
    ON k.order_id OPERATOR(pg_catalog.=) so.order_id
   AND k.action OPERATOR(pg_catalog.=) 'release_stock'
 WHERE so.state OPERATOR(pg_catalog.=) 'reserved'
   AND (o.order_id IS NULL
        OR o.state::pg_catalog.text OPERATOR(pg_catalog.=) ANY (ARRAY['closed', 'cancelled'])
        OR k.id IS NOT NULL)
   AND NOT COALESCE(k.state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running', 'waiting_external']), false)

-- 16. stock figures stay in bounds
UNION ALL
SELECT 'stock_bounds', s.sku,
       pg_catalog.format('on_hand %%s, reserved %%s', s.on_hand, s.reserved)
  FROM paycons.stock s
 WHERE s.on_hand OPERATOR(pg_catalog.<) 0
    OR s.reserved OPERATOR(pg_catalog.<) 0
    OR s.reserved OPERATOR(pg_catalog.>) s.on_hand

-- 17. reserved is what the open reservations hold
UNION ALL
SELECT 'stock_reserved_matches_lines', s.sku,
       pg_catalog.format('reserved %%s, but the open reservations hold %%s', s.reserved, COALESCE(r.held, 0))
  FROM paycons.stock s
  LEFT JOIN (SELECT l.sku, pg_catalog.sum(l.quantity)::pg_catalog.int8 AS held
               FROM paycons.stock_orders so
              CROSS JOIN LATERAL (
                    SELECT l.sku, l.quantity FROM paycons.stock_reservations l
                     WHERE l.order_id OPERATOR(pg_catalog.=) so.order_id OFFSET 0) l
              WHERE so.state OPERATOR(pg_catalog.=) 'reserved'
              GROUP BY l.sku) r ON r.sku OPERATOR(pg_catalog.=) s.sku
 WHERE s.reserved OPERATOR(pg_catalog.<>) COALESCE(r.held, 0)

ORDER BY 1, 2, 3
$q$;
BEGIN
    /*
     * outbox_maintain TRUNCATEs an outbox segment once every event in it is
     * acknowledged, and TRUNCATE is not MVCC-safe: a snapshot taken before
     * it would lose events it should still see.  So first wait for any
     * truncation under way (and keep new ones out until the end of the
     * transaction), then run the audit, which takes its snapshot after
     * that in READ COMMITTED (hence VOLATILE).
     */
    LOCK TABLE paycons.outbox IN ACCESS SHARE MODE;
    RETURN QUERY EXECUTE pg_catalog.format(audit,
                                           CASE WHEN since IS NULL THEN w_all ELSE w_window END,
                                           CASE WHEN since IS NULL THEN applied_all ELSE applied_window END)
        USING since;
END;
$fn$;
COMMENT ON FUNCTION paycons.verify(timestamptz) IS
    'audit the money invariants: one row (invariant, key, detail) per violation, none when clean; since: only the orders changed at or after it (NULL: all)';
REVOKE EXECUTE ON FUNCTION paycons.verify(timestamptz) FROM PUBLIC;
