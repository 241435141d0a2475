-- bench/statements/setup.sql -- the local state of the statement benchmark
-- (run by run.sh in a fresh database, psql -v n=LINES).
--
-- :n orders wxb-1 .. wxb-n of channel wxbench, amount 100 + i % 9900 fen,
-- each created and paying, and a callback for every order except the ones
-- the channel alone knows of.  About 1% of the orders carry a difference,
-- by class c = i % 1000:
--    1, 2, 10  no callback (missing locally: the statement repairs them)
--    3         the statement says 1 fen more (fact_mismatch)
--    4         we recorded a failure (status_mismatch)
--    5, 6      never settled: not in the statement (missing_in_statement)
--    7         the channel took 0.01 yuan more fee (fee_mismatch)
--    8         paid 23:59:50, on the next day's statement (deferred)
--    9         paid 1 fen short (amount_mismatch: needs_review)
--    other     matched
-- Every write goes through the paycons API, as the application's would.
\set ON_ERROR_STOP on
CREATE EXTENSION paycons;
SELECT paycons.set_channel('wxbench', ack => 'SUCCESS');
SELECT paycons.set_statement_settings('wxbench', fee_rate_ppm => 6000);

CREATE TABLE seed AS
SELECT i, 'wxb-' || i AS order_id, '42000' || lpad(i::text, 23, '0') AS txn,
       100 + i % 9900 AS amount, i % 1000 AS c
  FROM generate_series(1, :n) i;
ALTER TABLE seed ADD PRIMARY KEY (i);

SELECT count(paycons.create_order(order_id, amount, 'CNY')) AS orders FROM seed;
SELECT count(paycons.begin_payment(order_id, 'wxbench')) AS paying FROM seed;
SELECT count(*) AS callbacks FROM seed,
       paycons.apply_callback('wxbench', txn, order_id, 'payment',
                              CASE WHEN c = 4 THEN 'failed' ELSE 'success' END,
                              CASE WHEN c = 9 THEN amount - 1 ELSE amount END, 'CNY')
 WHERE c NOT IN (1, 2, 10);
-- the day of the callbacks: 2026-11-20 in Beijing, class 8 just before midnight
UPDATE paycons.callbacks SET received_at =
       CASE WHEN right(channel_txn_id, 3) = '008'
            THEN timestamp '2026-11-20 23:59:50' AT TIME ZONE 'Asia/Shanghai'
            ELSE timestamp '2026-11-20 00:00:00' AT TIME ZONE 'Asia/Shanghai'
                 + (right(channel_txn_id, 5)::int % 85000) * interval '1 second' END
 WHERE channel = 'wxbench';

-- the expected outcome, for the checks after each run
CREATE TABLE expected AS
SELECT count(*) FILTER (WHERE c NOT IN (5, 6, 8)) AS lines,
       count(*) FILTER (WHERE c IN (1, 2, 10)) AS repaired,
       count(*) FILTER (WHERE c IN (3, 4, 7, 9)) AS differences,
       count(*) FILTER (WHERE c IN (5, 6)) AS missing_in_statement,
       count(*) FILTER (WHERE c = 8) AS deferred
  FROM seed;

-- the statement's lines, as the channel's file has them (filled by run.sh
-- with COPY from the generated bill)
CREATE TABLE upload (line_no bigint GENERATED ALWAYS AS IDENTITY, line text);

-- the reference's side: the same statement lines, parsed, in a plain table
-- with the same key as paycons.statement_lines
CREATE TABLE ref_lines (
    channel        text NOT NULL,
    statement_date date NOT NULL,
    channel_txn_id text NOT NULL,
    order_id       text NOT NULL,
    amount         bigint NOT NULL,
    currency       text NOT NULL,
    fee_milli      bigint,
    PRIMARY KEY (channel, channel_txn_id)
);
CREATE TABLE ref_diffs (diff text NOT NULL, channel_txn_id text NOT NULL);
