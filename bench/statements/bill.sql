-- bench/statements/bill.sql -- the WeChat Pay trade bill of 2026-11-20 for
-- the orders of setup.sql, as WeChat Pay writes it: a header, one row per
-- settled payment with every field behind a backtick, amounts in yuan, fees
-- to 1/1000 fen, CRLF, then the summary block.  psql -At > bill.csv
-- (the layout of test/scripts/statements_100k.sh)
SELECT '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注' || chr(13);
SELECT format('`2026-11-20 %s,`wx8c4f683438292e27,`1562960801,`0,`,`%s,`%s,`o0bRy0_%s,`JSAPI,`SUCCESS,`OTHERS,`CNY,`%s,`0.00,`0,`0,`0.00,`0.00,`,`,`商品,`,`%s,`0.60%%,`%s,`0.00,`',
              to_char(time '00:00:01' + (i % 86000) * interval '1 second', 'HH24:MI:SS'),
              txn, order_id, i, y, fee, y) || chr(13)
  FROM (SELECT i, txn, order_id,
               to_char(a / 100.0, 'FM999990.00') AS y,
               to_char(CASE WHEN c = 7 THEN a * 6 + 1000 ELSE a * 6 END / 100000.0, 'FM990.00000') AS fee
          FROM (SELECT i, txn, order_id, c,
                       CASE WHEN c = 3 THEN amount + 1 WHEN c = 9 THEN amount - 1 ELSE amount END AS a
                  FROM seed WHERE c NOT IN (5, 6, 8)) s0) s
 ORDER BY i;
SELECT '总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额' || chr(13);
SELECT format('`%s,`0.00,`0.00,`0.00,`0.00000,`0.00,`0.00', count(*)) || chr(13) FROM seed WHERE c NOT IN (5, 6, 8);
