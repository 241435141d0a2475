--
-- Statement reconciliation (对账): settled transactions we never heard of
-- are applied (source 'statement'); every other difference is recorded.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS paycons;
RESET client_min_messages;

SELECT paycons.set_channel('rc_pay', ack => 'success');
SELECT paycons.set_channel('rc_signed', secret => 'k3y', require_signature => true);

-- rc-1: paid by its callback, and settled: matched
SELECT count(paycons.create_order('rc-' || g, 1000, 'CNY')) FROM generate_series(1, 8) g;
SELECT count(paycons.begin_payment('rc-' || g, 'rc_pay')) FROM generate_series(1, 8) g;
SELECT outcome FROM paycons.apply_callback('rc_pay', 'RT-1', 'rc-1', 'payment', 'success', 1000, 'CNY');
-- rc-2: the callback never came (it is only in the statement)
-- rc-3: closed before the money arrived; only the statement knows
SELECT state FROM paycons.transition('rc-3', 'closed', 'timed out');
-- rc-4: our callback says 1000, the statement says 900
SELECT outcome FROM paycons.apply_callback('rc_pay', 'RT-4', 'rc-4', 'payment', 'success', 1000, 'CNY');
-- rc-6: paid by callback, but the channel never settled it
SELECT outcome FROM paycons.apply_callback('rc_pay', 'RT-6', 'rc-6', 'payment', 'success', 1000, 'CNY');
-- rc-7: the customer paid 500 of 1000: amount_mismatch, settled as 500
SELECT outcome FROM paycons.apply_callback('rc_pay', 'RT-7', 'rc-7', 'payment', 'success', 500, 'CNY');
-- rc-8: we recorded a failure, the channel settled it
SELECT outcome FROM paycons.apply_callback('rc_pay', 'RT-8', 'rc-8', 'payment', 'failed', 1000, 'CNY');

-- the callbacks came at noon (UTC: hand-loaded lines use the channel's
-- statement time zone, UTC by default), far from the day's boundary
UPDATE paycons.callbacks SET received_at = current_date + time '12:00' AT TIME ZONE 'UTC'
 WHERE channel = 'rc_pay';

-- the statement, as COPY would load it (RT-5: an order we do not know)
COPY paycons.statement_lines (channel, statement_date, channel_txn_id, order_id, kind, amount, currency, fee) FROM stdin;
rc_pay	2026-11-20	RT-1	rc-1	payment	1000	CNY	6
rc_pay	2026-11-20	RT-2	rc-2	payment	1000	CNY	6
rc_pay	2026-11-20	RT-3	rc-3	payment	1000	CNY	6
rc_pay	2026-11-20	RT-4	rc-4	payment	900	CNY	5
rc_pay	2026-11-20	RT-5	rc-none	payment	700	CNY	4
rc_pay	2026-11-20	RT-7	rc-7	payment	500	CNY	3
rc_pay	2026-11-20	RT-8	rc-8	payment	1000	CNY	6
\.
-- the inbox rows of today are reconciled against today's statement date
UPDATE paycons.statement_lines SET statement_date = current_date WHERE channel = 'rc_pay';

SELECT * FROM paycons.reconcile_statement('rc_pay', current_date);

-- what it did: rc-2 paid from the statement, rc-3 late money -> refunding
SELECT order_id, state, paid_amount FROM paycons.orders
 WHERE order_id LIKE 'rc-%' ORDER BY order_id;
SELECT channel_txn_id, order_id, outcome, source FROM paycons.callbacks
 WHERE channel = 'rc_pay' ORDER BY channel_txn_id;
SELECT order_id, action, state FROM paycons.compensations
 WHERE order_id LIKE 'rc-%' ORDER BY order_id;
SELECT channel_txn_id, diff, order_id, statement_amount AS stmt, local_amount AS local,
       local_outcome, resolution, resolved_at IS NOT NULL AS resolved
  FROM paycons.reconciliation_diffs WHERE channel = 'rc_pay' ORDER BY channel_txn_id, diff;
SELECT from_state, to_state, reason FROM paycons.order_history
 WHERE order_id = 'rc-2' ORDER BY id;

-- a second run applies nothing and adds no diff
SELECT * FROM paycons.reconcile_statement('rc_pay', current_date);
SELECT count(*) AS diffs FROM paycons.reconciliation_diffs WHERE channel = 'rc_pay';
SELECT count(*) AS history FROM paycons.order_history WHERE order_id LIKE 'rc-%';

-- RT-6 turns up in the next statement: its gap is resolved
INSERT INTO paycons.statement_lines (channel, statement_date, channel_txn_id, order_id, kind, amount, currency)
VALUES ('rc_pay', current_date + 1, 'RT-6', 'rc-6', 'payment', 1000, 'CNY');
SELECT * FROM paycons.reconcile_statement('rc_pay', current_date + 1);
SELECT diff, resolution, resolved_at IS NOT NULL AS resolved
  FROM paycons.reconciliation_diffs WHERE channel_txn_id = 'RT-6';

-- a channel that requires signatures: a forged (unsigned) notice is
-- refused, the statement line for the same payment is applied
SELECT state FROM paycons.create_order('rcs-1', 1000, 'CNY');
SELECT state FROM paycons.begin_payment('rcs-1', 'rc_signed');
SELECT outcome, duplicate FROM paycons.apply_callback('rc_signed', 'RS-1', 'rcs-1', 'payment', 'success', 1000, 'CNY');
UPDATE paycons.callbacks SET received_at = current_date + time '12:00' AT TIME ZONE 'UTC'
 WHERE channel = 'rc_signed';
INSERT INTO paycons.statement_lines (channel, statement_date, channel_txn_id, order_id, kind, amount, currency)
VALUES ('rc_signed', current_date, 'RS-1', 'rcs-1', 'payment', 1000, 'CNY');
SELECT * FROM paycons.reconcile_statement('rc_signed', current_date);
SELECT order_id, state, paid_amount FROM paycons.orders WHERE order_id = 'rcs-1';
SELECT outcome, source FROM paycons.callbacks WHERE channel = 'rc_signed';

-- an empty statement date reconciles nothing
SELECT * FROM paycons.reconcile_statement('rc_pay', '2000-01-01');

-- bad input
\set VERBOSITY terse
SELECT paycons.reconcile_statement(NULL, current_date);
SELECT paycons.reconcile_statement('rc_pay', NULL);
SELECT paycons.reconcile_statement('rc_nosuch', current_date);
INSERT INTO paycons.statement_lines (channel, statement_date, channel_txn_id, order_id, kind, amount, currency)
VALUES ('rc_pay', current_date, 'RT-bad', 'rc-1', 'payment', 0, 'CNY');
INSERT INTO paycons.statement_lines (channel, statement_date, channel_txn_id, order_id, kind, amount, currency)
VALUES ('rc_pay', current_date, 'RT-bad', 'rc-1', 'payment', 10, 'cny');
INSERT INTO paycons.statement_lines (channel, statement_date, channel_txn_id, order_id, kind, amount, currency)
VALUES ('rc_pay', current_date, 'RT-bad', 'rc-1', 'chargeback', 10, 'CNY');

\set VERBOSITY default

-- only the owner reconciles; an application role cannot
CREATE ROLE regress_paycons_recon_app;
SELECT paycons.grant_app_role('regress_paycons_recon_app');
SET ROLE regress_paycons_recon_app;
SELECT paycons.reconcile_statement('rc_pay', current_date);
-- nor claim the statement source to skip a signature
SELECT outcome FROM paycons.apply_callback('rc_signed', 'RS-2', 'rcs-1', 'payment', 'success', 1000, 'CNY',
                                           source => 'statement');
RESET ROLE;
DROP OWNED BY regress_paycons_recon_app;
DROP ROLE regress_paycons_recon_app;
