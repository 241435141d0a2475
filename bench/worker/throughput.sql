-- bench/worker/throughput.sql: :n due in-database compensations with a
-- trivial handler, run (a) by run_maintenance() and (b) by plain loops
-- calling the same handler.  Prints seconds for each.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_hits;
CREATE TABLE bench_hits (order_id text, n int);
CREATE OR REPLACE FUNCTION bench_handler(order_id text, args jsonb) RETURNS void
LANGUAGE sql AS $$ INSERT INTO bench_hits VALUES (order_id, (args->>'n')::int) $$;
RESET client_min_messages;
DELETE FROM paycons.compensations WHERE action = 'bench';
INSERT INTO paycons.compensations (order_id, action, handler, args, run_as)
SELECT 'tp-' || g, 'bench', 'bench_handler(text,jsonb)'::regprocedure,
       jsonb_build_object('n', g), 'postgres'::regrole
  FROM generate_series(1, :n) AS g;
VACUUM ANALYZE paycons.compensations;
SET paycons.batch_size = :n;
-- (a) run_maintenance(): claim, subtransaction per item, bookkeeping
SELECT clock_timestamp() AS t0 \gset
SELECT paycons.run_maintenance() ->> 'compensations_done' AS done;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 3) AS maintenance_secs \gset
-- (b) a bare SQL loop calling the handler, nothing recorded
TRUNCATE bench_hits;
SELECT clock_timestamp() AS t0 \gset
SELECT count(bench_handler(c.order_id, c.args)) FROM paycons.compensations c WHERE c.action = 'bench';
SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 3) AS bare_secs \gset
-- (c) the same done by hand in PL/pgSQL: exception block per item plus the state update
TRUNCATE bench_hits;
UPDATE paycons.compensations SET state = 'pending', attempts = 0 WHERE action = 'bench';
SELECT clock_timestamp() AS t0 \gset
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT id, order_id, args FROM paycons.compensations
              WHERE action = 'bench' AND state = 'pending' ORDER BY id FOR UPDATE LOOP
        BEGIN
            PERFORM bench_handler(r.order_id, r.args);
            UPDATE paycons.compensations SET state = 'done', attempts = attempts + 1,
                   done_at = now(), updated_at = now(), last_attempt_at = now() WHERE id = r.id;
        EXCEPTION WHEN OTHERS THEN
            UPDATE paycons.compensations SET attempts = attempts + 1, last_error = SQLERRM WHERE id = r.id;
        END;
    END LOOP;
END;
$$;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 3) AS plpgsql_secs \gset
SELECT :n AS compensations,
       :maintenance_secs AS maintenance_secs, round(:n / :maintenance_secs) AS maintenance_per_sec,
       :bare_secs AS bare_loop_secs, round(:n / :bare_secs) AS bare_loop_per_sec,
       :plpgsql_secs AS plpgsql_loop_secs, round(:n / :plpgsql_secs) AS plpgsql_loop_per_sec,
       round(:maintenance_secs / :bare_secs, 2) AS ratio_vs_bare,
       round(:maintenance_secs / :plpgsql_secs, 2) AS ratio_vs_plpgsql;
DELETE FROM paycons.compensations WHERE action = 'bench';
