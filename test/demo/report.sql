-- test/demo/report.sql -- the report of `make demo` on the terminal
--
-- Every figure is a query of the database (the functions of
-- report_schema.sql); run by test/demo.sh after the storm.

\set QUIET on
\set ON_ERROR_STOP on
\pset footer off
\pset null ''
\echo
\echo '==================== paycons demo report (computed from the database) ===================='
\echo
\echo 'Orders by state'
SELECT * FROM demo.orders_by_state();
\echo
\echo 'Where the money went'
SELECT * FROM demo.money();
\echo
\echo 'Requests and answers the shop saw (its log; a replay is answered with the stored outcome)'
SELECT * FROM demo.deliveries();
\echo
\echo 'The inbox, paycons.callbacks: one row per channel transaction, by source and outcome'
SELECT * FROM demo.callbacks_by_outcome();
\echo
\echo 'Compensations'
SELECT * FROM demo.compensations();
\echo
\echo 'Statements loaded'
SELECT channel, statement_date, format, lines, payments, refunds FROM demo.statements();
\echo
\echo 'Statement differences, by class and how each was resolved'
SELECT * FROM demo.statement_diffs();
\echo
\echo 'The operator''s review decisions (resolve_review; each order in demo-report/index.html)'
SELECT * FROM demo.review_summary();
\echo
\echo 'What the background worker did (paycons.stats())'
SELECT * FROM demo.worker();
\echo
\echo 'Outbox: events delivered to the consumer'
SELECT * FROM demo.outbox_delivered();
\echo
\echo 'Invariants'
SELECT CASE WHEN ok THEN 'ok' ELSE 'FAILED' END AS " ", "check", violations,
       coalesce(example, '') AS "first violation"
  FROM demo.invariants();
