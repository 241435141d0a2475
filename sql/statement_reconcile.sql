--
-- Reconciliation of loaded statements: classification (with fee_mismatch),
-- the cross-day window, idempotence, resolve_diff, and a replaced file.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS paycons;
RESET client_min_messages;

SELECT paycons.set_channel('sr_wx', ack => 'SUCCESS');
-- WeChat Pay charges 0.6%: a fee that differs by half a fen or more is a fee_mismatch
SELECT channel, time_zone, cross_day_window, fee_rate_ppm, fee_fixed
  FROM paycons.set_statement_settings('sr_wx', fee_rate_ppm => 6000);

-- the orders, in Beijing time: a day is an Asia/Shanghai day for WeChat Pay
SELECT count(paycons.create_order('srec-' || g, 1000, 'CNY')) FROM generate_series(1, 12) g;
SELECT count(paycons.begin_payment('srec-' || g, 'sr_wx')) FROM generate_series(1, 12) g;
-- srec-1 paid by callback, settled, right fee: matched
SELECT outcome FROM paycons.apply_callback('sr_wx', 'W-1', 'srec-1', 'payment', 'success', 1000, 'CNY');
-- srec-2: no callback; only the statement knows (repaired)
-- srec-3: callback 1000, statement 900 (fact_mismatch)
SELECT outcome FROM paycons.apply_callback('sr_wx', 'W-3', 'srec-3', 'payment', 'success', 1000, 'CNY');
-- srec-4: we recorded a failure, the channel settled it (status_mismatch)
SELECT outcome FROM paycons.apply_callback('sr_wx', 'W-4', 'srec-4', 'payment', 'failed', 1000, 'CNY');
-- srec-5: the customer paid 500 of 1000: money arrived, awaiting a decision (needs_review)
SELECT outcome FROM paycons.apply_callback('sr_wx', 'W-5', 'srec-5', 'payment', 'success', 500, 'CNY');
-- srec-6: paid, settled, but the channel took 0.90 yuan instead of 0.06 (fee_mismatch)
SELECT outcome FROM paycons.apply_callback('sr_wx', 'W-6', 'srec-6', 'payment', 'success', 1000, 'CNY');
-- srec-7: paid at noon, never settled (missing_in_statement)
SELECT outcome FROM paycons.apply_callback('sr_wx', 'W-7', 'srec-7', 'payment', 'success', 1000, 'CNY');
-- srec-8: paid at 23:59:59, on the next day's statement (cross-day: not reported)
SELECT outcome FROM paycons.apply_callback('sr_wx', 'W-8', 'srec-8', 'payment', 'success', 1000, 'CNY');
-- srec-9: paid at 23:50:00, never settled: reported once, by the next day's run
SELECT outcome FROM paycons.apply_callback('sr_wx', 'W-9', 'srec-9', 'payment', 'success', 1000, 'CNY');
-- srec-10: the amount mismatch that was never settled either: still money that arrived
SELECT outcome FROM paycons.apply_callback('sr_wx', 'W-10', 'srec-10', 'payment', 'success', 999, 'CNY');
-- when each callback came, in Beijing time
UPDATE paycons.callbacks SET received_at = timestamp '2026-11-20 12:00:00' AT TIME ZONE 'Asia/Shanghai'
 WHERE channel = 'sr_wx';
UPDATE paycons.callbacks SET received_at = timestamp '2026-11-20 23:59:59' AT TIME ZONE 'Asia/Shanghai'
 WHERE channel = 'sr_wx' AND channel_txn_id = 'W-8';
UPDATE paycons.callbacks SET received_at = timestamp '2026-11-20 23:50:00' AT TIME ZONE 'Asia/Shanghai'
 WHERE channel = 'sr_wx' AND channel_txn_id = 'W-9';

-- the statement of 2026-11-20 (W-11: an order we do not know)
CREATE TEMP TABLE bill (id int GENERATED ALWAYS AS IDENTITY, content text);
INSERT INTO bill (content) SELECT concat_ws(E'\r\n',
 '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注',
 '`2026-11-20 10:00:01,`wx1,`190,`0,`,`W-1,`srec-1,`o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`10.00,`0.00,`0,`0,`0.00,`0.00,`,`,`a,`,`0.06000,`0.60%,`10.00,`0.00,`',
 '`2026-11-20 10:00:02,`wx1,`190,`0,`,`W-2,`srec-2,`o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`10.00,`0.00,`0,`0,`0.00,`0.00,`,`,`a,`,`0.06000,`0.60%,`10.00,`0.00,`',
 '`2026-11-20 10:00:03,`wx1,`190,`0,`,`W-3,`srec-3,`o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`9.00,`0.00,`0,`0,`0.00,`0.00,`,`,`a,`,`0.05400,`0.60%,`9.00,`0.00,`',
 '`2026-11-20 10:00:04,`wx1,`190,`0,`,`W-4,`srec-4,`o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`10.00,`0.00,`0,`0,`0.00,`0.00,`,`,`a,`,`0.06000,`0.60%,`10.00,`0.00,`',
 '`2026-11-20 10:00:05,`wx1,`190,`0,`,`W-5,`srec-5,`o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`5.00,`0.00,`0,`0,`0.00,`0.00,`,`,`a,`,`0.03000,`0.60%,`5.00,`0.00,`',
 '`2026-11-20 10:00:06,`wx1,`190,`0,`,`W-6,`srec-6,`o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`10.00,`0.00,`0,`0,`0.00,`0.00,`,`,`a,`,`0.90000,`0.60%,`10.00,`0.00,`',
 '`2026-11-20 10:00:11,`wx1,`190,`0,`,`W-11,`srec-none,`o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`7.00,`0.00,`0,`0,`0.00,`0.00,`,`,`a,`,`0.04200,`0.60%,`7.00,`0.00,`',
 '总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额',
 '`7,`61.00,`0.00,`0.00,`1.26600,`61.00,`0.00');
SELECT status, lines FROM (SELECT content FROM bill WHERE id = 1) b, paycons.load_statement('sr_wx', '2026-11-20', 'wechatpay_tradebill', content);

SELECT * FROM paycons.reconcile_statement('sr_wx', '2026-11-20');

CREATE VIEW diffs AS
SELECT channel_txn_id, diff, order_id, statement_date, statement_amount AS stmt, local_amount AS local,
       local_outcome, resolution, resolved_at IS NOT NULL AS resolved, detail->'expected_fee_milli' AS expected_fee
  FROM paycons.reconciliation_diffs WHERE channel = 'sr_wx' ORDER BY channel_txn_id, diff;
SELECT * FROM diffs;
-- srec-2 paid from the statement, with history and an outbox event
SELECT order_id, state, paid_amount FROM paycons.orders WHERE order_id = 'srec-2';
SELECT from_state, to_state, reason FROM paycons.order_history WHERE order_id = 'srec-2' ORDER BY id;
SELECT event_type FROM paycons.outbox WHERE aggregate_id = 'srec-2' ORDER BY id;

-- a second run changes nothing
CREATE TEMP TABLE before AS SELECT d::text AS r FROM paycons.reconciliation_diffs d;
CREATE TEMP TABLE before_orders AS SELECT o::text AS r FROM paycons.orders o;
SELECT * FROM paycons.reconcile_statement('sr_wx', '2026-11-20');
SELECT (SELECT count(*) FROM ((SELECT d::text FROM paycons.reconciliation_diffs d) EXCEPT (SELECT r FROM before)) x) AS diffs_changed,
       (SELECT count(*) FROM ((SELECT o::text FROM paycons.orders o) EXCEPT (SELECT r FROM before_orders)) x) AS orders_changed;

-- the next day's statement lists W-8 (23:59:59 the day before); W-9 never comes
INSERT INTO bill (content) SELECT concat_ws(E'\n',
 '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注',
 '`2026-11-21 00:00:01,`wx1,`190,`0,`,`W-8,`srec-8,`o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`10.00,`0.00,`0,`0,`0.00,`0.00,`,`,`a,`,`0.06000,`0.60%,`10.00,`0.00,`',
 '总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额',
 '`1,`10.00,`0.00,`0.00,`0.06000,`10.00,`0.00');
SELECT status, lines FROM (SELECT content FROM bill WHERE id = 2) b,
       paycons.load_statement('sr_wx', '2026-11-21', 'wechatpay_tradebill', content);
SELECT * FROM paycons.reconcile_statement('sr_wx', '2026-11-21');
SELECT * FROM diffs WHERE channel_txn_id IN ('W-8', 'W-9');
-- once: a rerun of either day adds nothing
SELECT * FROM paycons.reconcile_statement('sr_wx', '2026-11-21');
SELECT * FROM paycons.reconcile_statement('sr_wx', '2026-11-20');
SELECT channel_txn_id, count(*) FROM paycons.reconciliation_diffs
 WHERE channel = 'sr_wx' AND diff = 'missing_in_statement' GROUP BY 1 ORDER BY 1;

-- a narrower window: with 5 minutes, 23:50 belongs to its own day
SELECT cross_day_window FROM paycons.set_statement_settings('sr_wx', cross_day_window => '5 minutes');
SELECT missing_in_statement, deferred FROM paycons.reconcile_statement('sr_wx', '2026-11-20');
SELECT cross_day_window FROM paycons.set_statement_settings('sr_wx', cross_day_window => '15 minutes');

-- the operator resolves differences; a resolved one cannot be resolved again
SELECT diff, resolution, resolution_note, resolved_by = session_user AS by_me
  FROM paycons.resolve_diff((SELECT id FROM paycons.reconciliation_diffs
                              WHERE channel_txn_id = 'W-6' AND diff = 'fee_mismatch'),
                            'accepted', 'promotional rate ended');
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9]+', 'N', 'g');
END $$;
SELECT pg_temp.try($$SELECT paycons.resolve_diff((SELECT id FROM paycons.reconciliation_diffs
                              WHERE channel_txn_id = 'W-6' AND diff = 'fee_mismatch'), 'accepted')$$);
SELECT pg_temp.try($$SELECT paycons.resolve_diff(-1, 'accepted')$$);
SELECT pg_temp.try($$SELECT paycons.resolve_diff(NULL, 'accepted')$$);
SELECT pg_temp.try($$SELECT paycons.resolve_diff((SELECT id FROM paycons.reconciliation_diffs WHERE channel_txn_id = 'W-3'), NULL)$$);
SELECT pg_temp.try($$SELECT paycons.resolve_diff((SELECT id FROM paycons.reconciliation_diffs WHERE channel_txn_id = 'W-3'), 'ignored')$$);
SELECT pg_temp.try($$SELECT paycons.resolve_diff((SELECT id FROM paycons.reconciliation_diffs WHERE channel_txn_id = 'W-3'), 'corrected', repeat('x', 1001))$$);
-- an operator's decision sticks: the next run does not reopen it
SELECT * FROM paycons.reconcile_statement('sr_wx', '2026-11-20');
SELECT diff, resolution FROM paycons.reconciliation_diffs WHERE channel_txn_id = 'W-6';

-- the channel sends a corrected file: W-3 now settled at 10.00, W-6 gone
UPDATE bill SET content = replace(replace(content, '`9.00,`0.00,`0,`0,`0.00,`0.00,`,`,`a,`,`0.05400,`0.60%,`9.00',
                                          '`10.00,`0.00,`0,`0,`0.00,`0.00,`,`,`a,`,`0.06000,`0.60%,`10.00'),
                          E'\r\n`2026-11-20 10:00:06,`wx1,`190,`0,`,`W-6,`srec-6,`o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`10.00,`0.00,`0,`0,`0.00,`0.00,`,`,`a,`,`0.90000,`0.60%,`10.00,`0.00,`', '')
 WHERE id = 1;
UPDATE bill SET content = replace(content, '`7,`61.00', '`6,`61.00') WHERE id = 1;
\set VERBOSITY terse
SELECT status FROM (SELECT content FROM bill WHERE id = 1) b, paycons.load_statement('sr_wx', '2026-11-20', 'wechatpay_tradebill', content);
\set VERBOSITY default
SELECT status, lines FROM (SELECT content FROM bill WHERE id = 1) b,
       paycons.load_statement('sr_wx', '2026-11-20', 'wechatpay_tradebill', content, replace => true);
-- diffs found earlier stay until the next run, which re-examines them
SELECT * FROM paycons.reconcile_statement('sr_wx', '2026-11-20');
SELECT * FROM diffs WHERE channel_txn_id IN ('W-3', 'W-6');

-- settings: bad input
SELECT pg_temp.try($$SELECT paycons.set_statement_settings('sr_wx', time_zone => 'Mars/Olympus')$$);
SELECT pg_temp.try($$SELECT paycons.set_statement_settings('sr_wx', cross_day_window => '1 day')$$);
SELECT pg_temp.try($$SELECT paycons.set_statement_settings('sr_wx', cross_day_window => '-1 minute')$$);
SELECT pg_temp.try($$SELECT paycons.set_statement_settings('sr_wx', fee_rate_ppm => 1000001)$$);
SELECT pg_temp.try($$SELECT paycons.set_statement_settings('sr_wx', fee_fixed => -1)$$);
SELECT pg_temp.try($$SELECT paycons.set_statement_settings('sr_nosuch')$$);
SELECT pg_temp.try($$SELECT paycons.set_statement_settings(NULL)$$);
SELECT pg_temp.try($$SELECT paycons.reconcile_statement('sr_wx', 'infinity')$$);
SELECT pg_temp.try($$SELECT paycons.reconcile_statement('sr_nosuch', '2026-11-20')$$);
SELECT pg_temp.try($$SELECT paycons.reconcile_statement(NULL, '2026-11-20')$$);

-- only the owner reconciles and resolves
CREATE ROLE regress_paycons_sr_app;
SELECT paycons.grant_app_role('regress_paycons_sr_app');
SET ROLE regress_paycons_sr_app;
SELECT paycons.reconcile_statement('sr_wx', '2026-11-20');
SELECT paycons.resolve_diff(1, 'accepted');
SELECT paycons.set_statement_settings('sr_wx');
RESET ROLE;

-- an operator granted resolve_diff, with a hostile search_path
SELECT id AS w4 FROM paycons.reconciliation_diffs WHERE channel_txn_id = 'W-4' AND resolved_at IS NULL \gset
CREATE ROLE regress_paycons_sr_ops;
GRANT EXECUTE ON FUNCTION paycons.resolve_diff(bigint, text, text) TO regress_paycons_sr_ops;
CREATE SCHEMA regress_sr_evil AUTHORIZATION regress_paycons_sr_ops;
SET ROLE regress_paycons_sr_ops;
CREATE FUNCTION regress_sr_evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'epoch'::timestamptz $$;
CREATE TABLE regress_sr_evil.reconciliation_diffs (id bigint);
SET search_path = regress_sr_evil, public;
SELECT diff, resolution, resolved_at > 'epoch' AS real_time
  FROM paycons.resolve_diff(:w4, 'corrected');
RESET search_path;
RESET ROLE;
DROP SCHEMA regress_sr_evil CASCADE;
DROP OWNED BY regress_paycons_sr_app, regress_paycons_sr_ops;
DROP ROLE regress_paycons_sr_app, regress_paycons_sr_ops;
