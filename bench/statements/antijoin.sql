-- bench/statements/antijoin.sql -- the reference: a hand-written SQL
-- anti-join doing only the matching step of a reconciliation, both ways:
-- statement lines with no callback (missing locally), and successful
-- callbacks of the statement's day (Beijing time, shifted back by the same
-- 15-minute cross-day window reconcile_statement uses) that no line lists
-- (missing in the statement).  The lines are read from :lines_table (the
-- statement already parsed into a plain table); the finds are written to
-- ref_diffs.  psql -v lines_table=ref_lines
INSERT INTO ref_diffs
SELECT 'missing_locally', s.channel_txn_id
  FROM :lines_table s
 WHERE s.channel = 'wxbench' AND s.statement_date = date '2026-11-20'
   AND NOT EXISTS (SELECT 1 FROM paycons.callbacks c
                    WHERE c.channel = s.channel AND c.channel_txn_id = s.channel_txn_id);
INSERT INTO ref_diffs
SELECT 'missing_in_statement', c.channel_txn_id
  FROM paycons.callbacks c
 WHERE c.channel = 'wxbench' AND c.status = 'success'
   AND c.received_at >= timestamptz '2026-11-20 00:00:00+08' - interval '15 minutes'
   AND c.received_at <  timestamptz '2026-11-21 00:00:00+08' - interval '15 minutes'
   AND NOT EXISTS (SELECT 1 FROM :lines_table s
                    WHERE s.channel = c.channel AND s.channel_txn_id = c.channel_txn_id);
