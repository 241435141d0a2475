#!/usr/bin/env bash
# test/scripts/statements_100k.sh -- a WeChat Pay trade bill of 100,000 lines
# with 1% seeded differences of every class, against a database state this
# script also creates.  It loads the bill through an upload table (COPY),
# reconciles, and checks that every seeded difference is found and
# classified, nothing else is reported, and the missed payments became paid
# orders with history and outbox events; then that a second run changes
# nothing and the cross-day payments are matched by the next day's bill.
#
# Run by test/run.sh (suite "scripts"), which sets PGHOST/PGPORT/PGUSER and
# PAYCONS_TMP.  STATEMENTS_N overrides the number of orders (default 100000).
set -euo pipefail

N=${STATEMENTS_N:-100000}
TMP=${PAYCONS_TMP:-$(mktemp -d)}
DB=paycons_statements_100k
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

dropdb --if-exists "$DB"
createdb "$DB"
psql_db -c 'CREATE EXTENSION paycons'
start=$SECONDS

# ---------------------------------------------------------------------------
# The local state.  Order k-i, amount 100 + i % 9900 fen; class c = i % 100:
#   1 missing locally (no callback)       2 amount differs (fact_mismatch)
#   3 we recorded a failure (status)       4 never settled (missing_in_statement)
#   5 the channel took 1 fen more         6 paid 23:59:50, on the next day's bill
#   7 paid short (amount_mismatch -> needs_review)     other: matched
psql_db -v n="$N" <<'SQL'
SELECT paycons.set_channel('wx100k', ack => 'SUCCESS');
SELECT paycons.set_statement_settings('wx100k', fee_rate_ppm => 6000);
CREATE TABLE seed AS
SELECT i, 'k-' || i AS order_id, 'T' || lpad(i::text, 10, '0') AS txn,
       100 + i % 9900 AS amount, i % 100 AS c
  FROM generate_series(1, :n) i;
SELECT count(paycons.create_order(order_id, amount, 'CNY')) FROM seed;
SELECT count(paycons.begin_payment(order_id, 'wx100k')) FROM seed;
SELECT count(*) FROM seed,
       paycons.apply_callback('wx100k', txn, order_id, 'payment',
                              CASE WHEN c = 3 THEN 'failed' ELSE 'success' END,
                              CASE WHEN c = 7 THEN amount - 1 ELSE amount END, 'CNY')
 WHERE c <> 1;
UPDATE paycons.callbacks SET received_at =
       CASE WHEN channel_txn_id IN (SELECT txn FROM seed WHERE c = 6)
            THEN timestamp '2026-11-20 23:59:50' AT TIME ZONE 'Asia/Shanghai'
            ELSE timestamp '2026-11-20 12:00:00' AT TIME ZONE 'Asia/Shanghai' END
 WHERE channel = 'wx100k';
SQL
echo "local state: $((SECONDS - start)) s"

# ---------------------------------------------------------------------------
# The bills, as WeChat Pay writes them (backticks, CRLF, a summary block)
bill() { # bill FILE DATE WHERE
	psql_db -At -v d="$2" >"$1" <<SQL
SELECT '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注' || chr(13);
SELECT format('\`%s %s,\`wx8c4f683438292e27,\`1562960801,\`0,\`,\`%s,\`%s,\`o0bRy0_%s,\`JSAPI,\`SUCCESS,\`OTHERS,\`CNY,\`%s,\`0.00,\`0,\`0,\`0.00,\`0.00,\`,\`,\`商品,\`,\`%s,\`0.60%%,\`%s,\`0.00,\`',
              :'d', to_char(time '00:00:01' + (i % 86000) * interval '1 second', 'HH24:MI:SS'),
              txn, order_id, i, y, fee, y) || chr(13)
  FROM (SELECT i, txn, order_id,
               to_char(a / 100.0, 'FM999990.00') AS y,
               to_char(CASE WHEN c = 5 THEN a * 6 + 1000 ELSE a * 6 END / 100000.0, 'FM990.00000') AS fee
          FROM (SELECT i, txn, order_id, c, CASE WHEN c = 2 THEN amount + 1 WHEN c = 7 THEN amount - 1 ELSE amount END AS a
                  FROM seed WHERE $3) s0) s
 ORDER BY i;
SELECT '总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额' || chr(13);
SELECT format('\`%s,\`0.00,\`0.00,\`0.00,\`0.00000,\`0.00,\`0.00', count(*)) || chr(13) FROM seed WHERE $3;
SQL
}
bill "$TMP/bill-20.csv" 2026-11-20 'c NOT IN (4, 6)'
bill "$TMP/bill-21.csv" 2026-11-21 'c = 6'
echo "bills: $(wc -l <"$TMP/bill-20.csv") and $(wc -l <"$TMP/bill-21.csv") lines, $((SECONDS - start)) s"

# ---------------------------------------------------------------------------
# Load (COPY into an upload table) and reconcile, then check
upload() { # upload FILE: the file's lines into table upload
	psql_db -c 'TRUNCATE upload' \
		-c "\\copy upload (line) FROM '$1' (FORMAT csv, DELIMITER E'\\x1f', QUOTE E'\\x1e')"
}
psql_db -c 'CREATE TABLE upload (line_no bigint GENERATED ALWAYS AS IDENTITY, line text)'
upload "$TMP/bill-20.csv"
psql_db <<'SQL'
\timing on
SELECT status, lines, payments, skipped FROM paycons.load_statement_upload('wx100k', '2026-11-20', 'wechatpay_tradebill', 'upload');
CREATE TABLE run1 AS SELECT * FROM paycons.reconcile_statement('wx100k', '2026-11-20');
\timing off
TABLE run1;

CREATE FUNCTION check_that(ok boolean, what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN RAISE EXCEPTION 'check failed: %', what; END IF;
    RAISE NOTICE 'ok: %', what;
END $$;
SET client_min_messages = notice;

-- the expected differences, exactly
CREATE TABLE expected (txn text, diff text, resolved boolean);
INSERT INTO expected
SELECT txn, CASE c WHEN 1 THEN 'missing_locally' WHEN 2 THEN 'fact_mismatch' WHEN 3 THEN 'status_mismatch'
                   WHEN 4 THEN 'missing_in_statement' WHEN 5 THEN 'fee_mismatch' WHEN 7 THEN 'needs_review' END,
       c = 1
  FROM seed WHERE c IN (1, 2, 3, 4, 5, 7);
SELECT check_that(NOT EXISTS ((SELECT txn, diff, resolved FROM expected)
                              EXCEPT
                              (SELECT channel_txn_id, diff, resolved_at IS NOT NULL FROM paycons.reconciliation_diffs
                                WHERE channel = 'wx100k')),
                  'every seeded difference is found and classified');
SELECT check_that(NOT EXISTS ((SELECT channel_txn_id, diff, resolved_at IS NOT NULL FROM paycons.reconciliation_diffs
                                WHERE channel = 'wx100k')
                              EXCEPT
                              (SELECT txn, diff, resolved FROM expected)),
                  'nothing else is reported (cross-day payments included)');
SELECT check_that((SELECT count(*) FROM seed WHERE c = 6) = deferred, 'the cross-day payments are deferred') FROM run1;
SELECT check_that(repaired = (SELECT count(*) FROM seed WHERE c = 1)
                  AND lines = (SELECT count(*) FROM seed WHERE c NOT IN (4, 6))
                  AND differences = (SELECT count(*) FROM seed WHERE c IN (2, 3, 5, 7))
                  AND missing_in_statement = (SELECT count(*) FROM seed WHERE c = 4)
                  AND matched = lines - repaired - differences, 'the counts') FROM run1;
-- the missed payments are paid orders, with history and outbox events
SELECT check_that(bool_and(o.state::text = 'paid' AND o.paid_amount = s.amount), 'missed payments are paid')
  FROM seed s JOIN paycons.orders o USING (order_id) WHERE s.c = 1;
SELECT check_that(count(*) = (SELECT count(*) FROM seed WHERE c = 1), 'each has its paying -> paid history')
  FROM seed s JOIN paycons.order_history h USING (order_id)
 WHERE s.c = 1 AND h.from_state::text = 'paying' AND h.to_state::text = 'paid' AND h.reason LIKE 'statement wx100k %';
SELECT check_that(count(*) = (SELECT count(*) FROM seed WHERE c = 1), 'each has its order.paid event')
  FROM seed s JOIN paycons.outbox e ON e.aggregate_id = s.order_id
 WHERE s.c = 1 AND e.event_type = 'order.paid';
SELECT check_that(bool_and(cb.source = 'statement' AND cb.outcome = 'applied'), 'applied with source statement')
  FROM seed s JOIN paycons.callbacks cb ON cb.channel = 'wx100k' AND cb.channel_txn_id = s.txn WHERE s.c = 1;

-- idempotent: the same file again, and a second run, change nothing
CREATE TABLE snap AS SELECT d::text AS r FROM paycons.reconciliation_diffs d;
CREATE TABLE snap_orders AS SELECT o::text AS r FROM paycons.orders o;
SELECT check_that(status = 'unchanged', 'loading the bill again is a no-op')
  FROM paycons.load_statement_upload('wx100k', '2026-11-20', 'wechatpay_tradebill', 'upload');
SELECT check_that(r2.repaired = 0 AND r2.differences = r1.differences AND r2.missing_in_statement = r1.missing_in_statement,
                  'a second run finds the same') FROM run1 r1, paycons.reconcile_statement('wx100k', '2026-11-20') r2;
SELECT check_that(NOT EXISTS ((SELECT d::text FROM paycons.reconciliation_diffs d) EXCEPT (SELECT r FROM snap))
                  AND NOT EXISTS ((SELECT o::text FROM paycons.orders o) EXCEPT (SELECT r FROM snap_orders)),
                  'a second run changes nothing');

SQL
# the next day's bill lists the cross-day payments: matched, never reported
upload "$TMP/bill-21.csv"
psql_db <<'SQL'
SET client_min_messages = notice;
SELECT status FROM paycons.load_statement_upload('wx100k', '2026-11-21', 'wechatpay_tradebill', 'upload');
SELECT check_that(matched = (SELECT count(*) FROM seed WHERE c = 6) AND differences = 0 AND missing_in_statement = 0,
                  'the next day matches the cross-day payments')
  FROM paycons.reconcile_statement('wx100k', '2026-11-21');
SELECT check_that(NOT EXISTS (SELECT 1 FROM paycons.reconciliation_diffs d JOIN seed s ON s.txn = d.channel_txn_id
                               WHERE s.c = 6), 'no cross-day payment was ever reported');
SQL
echo "total: $((SECONDS - start)) s"
[[ -n ${KEEP_DB:-} ]] || dropdb "$DB"
