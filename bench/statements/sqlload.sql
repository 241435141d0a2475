-- bench/statements/sqlload.sql -- the second reference's load step: the
-- bill's lines (table upload, as COPY left them) parsed by hand-written SQL
-- into the plain table :lines_table: backticks dropped, fields split on
-- commas, SUCCESS rows only, yuan to fen through numeric.  No checks of any
-- kind (no date, summary, duplicate or amount validation), no digest, no
-- file record: what a quick script would do.
INSERT INTO :lines_table (channel, statement_date, channel_txn_id, order_id, amount, currency, fee_milli)
SELECT 'wxbench', date '2026-11-20', f[6], f[7], (f[25]::numeric * 100)::bigint, f[12],
       (f[23]::numeric * 100000)::bigint
  FROM (SELECT string_to_array(replace(u.line, '`', ''), ',') AS f
          FROM upload u
         WHERE u.line LIKE '`%') s
 WHERE f[10] = 'SUCCESS';
