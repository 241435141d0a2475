--
-- Statement files in the channels' own formats: paycons.load_statement()
-- and paycons.load_statement_upload().  Samples in test/fixtures/statements/.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS paycons;
RESET client_min_messages;

SELECT count(paycons.set_channel(c)) FROM unnest(ARRAY['sl_wx', 'sl_ali', 'sl_stripe', 'sl_csv', 'sl_bad']) c;

-- Run a statement; answer its SQLSTATE and message, and how many statement
-- lines and files the channel has from 2026-11-20 on afterwards (proof that
-- nothing was kept).
CREATE FUNCTION pg_temp.try(sql text, ch text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM || ' | lines '
        || (SELECT count(*) FROM paycons.statement_lines WHERE channel = ch AND statement_date >= '2026-11-20')
        || ', files ' || (SELECT count(*) FROM paycons.statement_files WHERE channel = ch AND statement_date >= '2026-11-20');
END $$;

-- each format from its sample file
\set wx `cat test/fixtures/statements/wechatpay_tradebill.csv`
\set ali `cat test/fixtures/statements/alipay_bill.csv`
\set stripe `cat test/fixtures/statements/stripe_balance.csv`
\set csv `cat test/fixtures/statements/generic.csv`
\set csvm `cat test/fixtures/statements/generic_minor.csv`
SELECT file_id > 0 AS file, status, lines, payments, refunds, skipped, totals
  FROM paycons.load_statement('sl_wx', '2026-11-20', 'wechatpay_tradebill', :'wx');
SELECT status, lines, payments, refunds, skipped, totals
  FROM paycons.load_statement('sl_ali', '2026-11-20', 'alipay_bill', :'ali');
SELECT status, lines, payments, refunds, skipped, totals
  FROM paycons.load_statement('sl_stripe', '2026-11-20', 'stripe_balance', :'stripe');
SELECT status, lines, payments, refunds, skipped, totals
  FROM paycons.load_statement('sl_csv', '2026-11-20', 'csv', :'csv');
SELECT status, lines, payments, refunds, skipped, totals
  FROM paycons.load_statement('sl_csv', '2026-11-21', 'csv', :'csvm');
SELECT channel, line_no, channel_txn_id, order_id, kind, amount, currency, fee, fee_milli,
       settled_at AT TIME ZONE 'UTC' AS settled_utc, original_txn_id, merchant_refund_id, line_ref
  FROM paycons.statement_lines WHERE channel LIKE 'sl\_%' ORDER BY channel, statement_date, line_no;
SELECT channel, statement_date, format, time_zone, lines, loaded_by = current_user AS by_me,
       replaced, digest ~ '^[0-9a-f]{64}$' AS sha256
  FROM paycons.statement_files WHERE channel LIKE 'sl\_%' ORDER BY channel, statement_date;

-- the same file again is a no-op, also with LF instead of CRLF line ends
SELECT status, lines FROM paycons.load_statement('sl_wx', '2026-11-20', 'wechatpay_tradebill', :'wx');
SELECT status, lines FROM paycons.load_statement('sl_wx', '2026-11-20', 'wechatpay_tradebill',
                                                 replace(:'wx', E'\r\n', E'\n'));
SELECT count(*) AS lines, max(loaded_at) = min(loaded_at) AS loaded_once
  FROM paycons.statement_lines WHERE channel = 'sl_wx';

-- the Alipay bill as the channel ships it (GBK), through an upload table
-- filled by COPY: the same file, so the same digest, so a no-op
CREATE TEMP TABLE upload (line_no bigint GENERATED ALWAYS AS IDENTITY, line text);
\copy upload (line) FROM PROGRAM 'iconv -f UTF-8 -t GBK test/fixtures/statements/alipay_bill.csv' (FORMAT csv, DELIMITER E'\x1f', QUOTE E'\x1e', ENCODING 'GBK')
SELECT count(*) AS uploaded FROM upload;
SELECT status, lines, digest = (SELECT digest FROM paycons.statement_files WHERE channel = 'sl_ali') AS same_digest
  FROM paycons.load_statement_upload('sl_ali', '2026-11-20', 'alipay_bill', 'upload');
-- ... and loaded from scratch for another channel
SELECT paycons.set_channel('sl_ali2');
SELECT status, lines, payments, refunds FROM paycons.load_statement_upload('sl_ali2', '2026-11-20', 'alipay_bill', 'upload');
SELECT count(*) FROM paycons.statement_lines WHERE channel = 'sl_ali2';
-- an upload table whose rows are not in line_no order on disk (the UPDATE
-- moves the first line to the end): read sorted, it is the same file
UPDATE upload SET line = line WHERE line_no = (SELECT min(line_no) FROM upload);
SELECT (SELECT line_no FROM upload LIMIT 1) > (SELECT min(line_no) FROM upload) AS first_row_moved;
SELECT paycons.set_channel('sl_ali3');
SELECT status, lines, payments, refunds, digest = (SELECT digest FROM paycons.statement_files WHERE channel = 'sl_ali') AS same_digest
  FROM paycons.load_statement_upload('sl_ali3', '2026-11-20', 'alipay_bill', 'upload');
SELECT status FROM paycons.load_statement_upload('sl_ali3', '2026-11-20', 'alipay_bill', 'upload');
SELECT count(*), min(line_no), max(line_no) FROM paycons.statement_lines WHERE channel = 'sl_ali3';

-- another file for the same (channel, date): refused, then replaced
SELECT pg_temp.try(format('SELECT paycons.load_statement(%L, %L, %L, %L)', 'sl_csv', '2026-11-21', 'csv',
       E'channel_txn_id,order_id,amount_minor,currency\nM-1,sf-csvm-1,1230,CNY\n'), 'sl_csv');
SELECT status, lines FROM paycons.load_statement('sl_csv', '2026-11-21', 'csv',
       E'channel_txn_id,order_id,amount_minor,currency\nM-1,sf-csvm-1,1230,CNY\n', replace => true);
SELECT channel_txn_id, amount FROM paycons.statement_lines WHERE channel = 'sl_csv' AND statement_date = '2026-11-21';
SELECT replaced FROM paycons.statement_files WHERE channel = 'sl_csv' AND statement_date = '2026-11-21';

-- hand-loaded lines are replaced only on request
INSERT INTO paycons.statement_lines (channel, statement_date, channel_txn_id, order_id, kind, amount, currency)
VALUES ('sl_csv', '2026-11-22', 'HAND-1', 'sf-hand', 'payment', 100, 'CNY');
SELECT pg_temp.try(format('SELECT paycons.load_statement(%L, %L, %L, %L)', 'sl_csv', '2026-11-22', 'csv',
       E'channel_txn_id,order_id,amount_minor,currency\nH-2,sf-hand,100,CNY\n'), 'sl_csv');
SELECT status FROM paycons.load_statement('sl_csv', '2026-11-22', 'csv',
       E'channel_txn_id,order_id,amount_minor,currency\nH-2,sf-hand,100,CNY\n', true);
SELECT channel_txn_id FROM paycons.statement_lines WHERE channel = 'sl_csv' AND statement_date = '2026-11-22';

-- bad input: each error names the line and the value, and nothing of the
-- file is kept (every bad file below has good lines before the bad one)
\set h '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注'
\set ok '`2026-11-20 10:00:00,`wx1,`190,`0,`,`4200000001,`bad-1,`o1,`NATIVE,`SUCCESS,`OTHERS,`CNY,`9.90,`0.00,`0,`0,`0.00,`0.00,`,`,`Lily,`,`0.05940,`0.60%,`9.90,`0.00,`'
\set sum '总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额'
CREATE TEMP TABLE wxparts AS SELECT :'h' AS h, :'ok' AS ok, :'sum' AS sum;
CREATE FUNCTION pg_temp.wx(line text, n int DEFAULT 2) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(E'\n', p.h, p.ok, line, p.sum, '`' || n || ',`0,`0,`0,`0,`0,`0') FROM wxparts p
$$;
CREATE FUNCTION pg_temp.wxload(content text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.try(format('SELECT paycons.load_statement(%L, %L, %L, %L)', 'sl_bad', '2026-11-20',
                              'wechatpay_tradebill', content), 'sl_bad')
$$;
-- the good file loads
SELECT pg_temp.wxload(pg_temp.wx(replace(:'ok', '4200000001', '4200000002')));
DELETE FROM paycons.statement_lines WHERE channel = 'sl_bad';
DELETE FROM paycons.statement_files WHERE channel = 'sl_bad';
-- PC153: more decimals than the currency has, an exponent, a thousands separator
SELECT pg_temp.wxload(pg_temp.wx(replace(replace(:'ok', '4200000001', 'X2'), '`9.90,`0.00,`', '`12.345,`0.00,`')));
SELECT pg_temp.wxload(pg_temp.wx(replace(replace(:'ok', '4200000001', 'X2'), '`9.90,`0.00,`', '`1e3,`0.00,`')));
-- (a thousands separator is a comma: the line has a field too many, PC151)
SELECT pg_temp.wxload(pg_temp.wx(replace(replace(:'ok', '4200000001', 'X2'), '`9.90,`0.00,`', '`1,000.00,`0.00,`')));
SELECT pg_temp.wxload(pg_temp.wx(replace(replace(:'ok', '4200000001', 'X2'), '`0.05940', '`0.059401')));
-- PC154: a negative or zero payment
SELECT pg_temp.wxload(pg_temp.wx(replace(replace(:'ok', '4200000001', 'X2'), '`9.90,`0.00,`', '`-0.01,`0.00,`')));
SELECT pg_temp.wxload(pg_temp.wx(replace(replace(:'ok', '4200000001', 'X2'), '`9.90,`0.00,`', '`0.00,`0.00,`')));
-- PC155: an unknown currency
SELECT pg_temp.wxload(pg_temp.wx(replace(replace(:'ok', '4200000001', 'X2'), '`CNY', '`XYZ')));
SELECT pg_temp.wxload(pg_temp.wx(replace(replace(:'ok', '4200000001', 'X2'), '`CNY', '`cny')));
-- PC156: a duplicate line, in the file and across statements
SELECT pg_temp.wxload(pg_temp.wx(:'ok'));
SELECT status FROM paycons.load_statement('sl_bad', '2026-11-19', 'csv',
       E'channel_txn_id,order_id,amount_minor,currency\nDUP-1,sf-dup,100,CNY\n');
SELECT pg_temp.wxload(pg_temp.wx(replace(:'ok', '4200000001', 'DUP-1')));
-- PC157: a line of another day; PC158: a time that is not one
SELECT pg_temp.wxload(pg_temp.wx(replace(replace(:'ok', '4200000001', 'X2'), '2026-11-20 10:00:00', '2026-11-21 00:00:00')));
SELECT pg_temp.wxload(pg_temp.wx(replace(replace(:'ok', '4200000001', 'X2'), '2026-11-20 10:00:00', '2026-11-20 24:00:00')));
SELECT pg_temp.wxload(pg_temp.wx(replace(replace(:'ok', '4200000001', 'X2'), '2026-11-20 10:00:00', '2026/11/20 10:00:00')));
-- PC152: a missing column, no header at all
SELECT pg_temp.wxload(replace(pg_temp.wx(replace(:'ok', '4200000001', 'X2')), '微信订单号', '微信单号'));
SELECT pg_temp.wxload('');
-- PC151: a line with too few fields, a quote that never closes
SELECT pg_temp.wxload(pg_temp.wx('`2026-11-20 10:00:00,`wx1'));
SELECT pg_temp.wxload(pg_temp.wx(replace(replace(:'ok', '4200000001', 'X2'), '`Lily', '"Lily')));
-- PC161: a summary that does not count the lines, a file without its summary
SELECT pg_temp.wxload(pg_temp.wx(replace(:'ok', '4200000001', 'X2'), 3));
SELECT pg_temp.wxload(concat_ws(E'\n', :'h', :'ok'));
-- PC162: an empty order id, a control character in an id
SELECT pg_temp.wxload(pg_temp.wx(replace(replace(:'ok', '4200000001', 'X2'), '`bad-1', '`')));
SELECT pg_temp.wxload(pg_temp.wx(replace(replace(:'ok', '4200000001', 'X2'), '`bad-1', E'`bad\x01')));
-- PC159: a line over 64 kB, content over paycons.statement_max_size
SELECT pg_temp.wxload(pg_temp.wx(replace(replace(:'ok', '4200000001', 'X2'), '`Lily', '`' || repeat('x', 70000))));
SET paycons.statement_max_size = 1;
SELECT pg_temp.wxload(pg_temp.wx(replace(replace(:'ok', '4200000001', 'X2'), '`Lily', '`' || repeat('x', 2000))));
RESET paycons.statement_max_size;
-- PC150: an unknown format; PC163: a csv kind that is not one
SELECT pg_temp.try($$SELECT paycons.load_statement('sl_bad', '2026-11-20', 'ofx', 'x')$$, 'sl_bad');
SELECT pg_temp.try(format('SELECT paycons.load_statement(%L, %L, %L, %L)', 'sl_bad', '2026-11-20', 'csv',
       E'channel_txn_id,order_id,kind,amount_minor,currency\nC-1,o,payment,1,CNY\nC-2,o,chargeback,1,CNY\n'), 'sl_bad');
-- csv: both amount columns, or none; Stripe: a payment in a zero-decimal currency with decimals
SELECT pg_temp.try(format('SELECT paycons.load_statement(%L, %L, %L, %L)', 'sl_bad', '2026-11-20', 'csv',
       E'channel_txn_id,order_id,amount,amount_minor,currency\nC-1,o,1.00,100,CNY\n'), 'sl_bad');
SELECT pg_temp.try(format('SELECT paycons.load_statement(%L, %L, %L, %L)', 'sl_bad', '2026-11-20', 'stripe_balance',
       replace(:'stripe', '1200,36,1164,jpy', '1200.50,36,1164,jpy')), 'sl_bad');
-- NULLs (22004), an unknown channel (PC106), a bad upload table (PC169)
SELECT pg_temp.try($$SELECT paycons.load_statement(NULL, '2026-11-20', 'csv', 'x')$$, 'sl_bad');
SELECT pg_temp.try($$SELECT paycons.load_statement('sl_bad', NULL, 'csv', 'x')$$, 'sl_bad');
SELECT pg_temp.try($$SELECT paycons.load_statement('sl_bad', '2026-11-20', NULL, 'x')$$, 'sl_bad');
SELECT pg_temp.try($$SELECT paycons.load_statement('sl_bad', '2026-11-20', 'csv', NULL)$$, 'sl_bad');
SELECT pg_temp.try($$SELECT paycons.load_statement('sl_bad', '2026-11-20', 'csv', 'x', NULL)$$, 'sl_bad');
SELECT pg_temp.try($$SELECT paycons.load_statement('sl_nosuch', '2026-11-20', 'csv', 'x')$$, 'sl_bad');
SELECT pg_temp.try($$SELECT paycons.load_statement('sl_bad', 'infinity', 'csv', 'x')$$, 'sl_bad');
CREATE TEMP TABLE badupload (n int, line text);
SELECT pg_temp.try($$SELECT paycons.load_statement_upload('sl_bad', '2026-11-20', 'csv', 'badupload')$$, 'sl_bad');
SELECT pg_temp.try($$SELECT paycons.load_statement_upload('sl_bad', '2026-11-20', 'csv', 'paycons.health')$$, 'sl_bad');

-- and at top level: the errors as a client sees them, then nothing kept
\set VERBOSITY default
SELECT * FROM paycons.load_statement('sl_bad', '2026-11-20', 'wechatpay_tradebill',
       pg_temp.wx(replace(replace(:'ok', '4200000001', 'X2'), '`9.90,`0.00,`', '`12.345,`0.00,`')));
SELECT * FROM paycons.load_statement('sl_bad', '2026-11-20', 'wechatpay_tradebill', pg_temp.wx(:'ok'));
SELECT count(*) AS lines FROM paycons.statement_lines WHERE channel = 'sl_bad' AND statement_date = '2026-11-20';
SELECT count(*) AS files FROM paycons.statement_files WHERE channel = 'sl_bad' AND statement_date = '2026-11-20';

-- only the owner loads: an application role cannot
CREATE ROLE regress_paycons_stmt_app;
SELECT paycons.grant_app_role('regress_paycons_stmt_app');
SET ROLE regress_paycons_stmt_app;
SELECT paycons.load_statement('sl_bad', '2026-11-20', 'csv', 'x');
SELECT paycons.load_statement_upload('sl_bad', '2026-11-20', 'csv', 'upload');
RESET ROLE;

-- an operator role granted EXECUTE, with hostile objects in its search_path:
-- the loader's SQL never resolves to them, and the upload table is read
-- with the operator's own rights
CREATE ROLE regress_paycons_stmt_ops;
GRANT EXECUTE ON FUNCTION paycons.load_statement(text, date, text, text, boolean),
                          paycons.load_statement_upload(text, date, text, regclass, boolean)
   TO regress_paycons_stmt_ops;
CREATE SCHEMA regress_stmt_evil AUTHORIZATION regress_paycons_stmt_ops;
SET ROLE regress_paycons_stmt_ops;
CREATE FUNCTION regress_stmt_evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'evil unnest called'; END $$;
CREATE FUNCTION regress_stmt_evil.timezone(text, timestamp) RETURNS timestamptz LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'evil timezone called'; END $$;
CREATE FUNCTION regress_stmt_evil.texteq_evil(text, text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'evil = called'; END $$;
CREATE OPERATOR regress_stmt_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_stmt_evil.texteq_evil);
CREATE TABLE regress_stmt_evil.statement_lines (x int);
SET search_path = regress_stmt_evil, pg_catalog, public;
SELECT status, lines FROM paycons.load_statement('sl_bad', '2026-11-23', 'csv',
       E'channel_txn_id,order_id,amount_minor,currency\nOPS-1,sf-ops,100,CNY\n');
-- an upload table the operator cannot read is refused
SELECT paycons.load_statement_upload('sl_bad', '2026-11-24', 'csv', 'upload');
RESET search_path;
RESET ROLE;
SELECT statement_date, channel_txn_id, file_id IS NOT NULL AS from_file
  FROM paycons.statement_lines WHERE channel = 'sl_bad' ORDER BY 1;
DROP SCHEMA regress_stmt_evil CASCADE;
DROP OWNED BY regress_paycons_stmt_app, regress_paycons_stmt_ops;
DROP ROLE regress_paycons_stmt_app, regress_paycons_stmt_ops;
