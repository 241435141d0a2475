-- bench/worker/explain.sql: the sweep's candidate queries (the same text as
-- src/maintenance.c) use the partial indexes.
EXPLAIN (COSTS OFF)
SELECT o.order_id FROM paycons.orders o
 WHERE o.state OPERATOR(paycons.=) 'paying'::paycons.order_state
   AND o.pay_deadline OPERATOR(pg_catalog.<=) now()
 ORDER BY o.pay_deadline LIMIT 1000 FOR UPDATE SKIP LOCKED;
EXPLAIN (COSTS OFF)
SELECT o.order_id, COALESCE(p.attempts, 0)
  FROM paycons.orders o LEFT JOIN paycons.order_probes p
    ON p.order_id OPERATOR(pg_catalog.=) o.order_id AND p.kind OPERATOR(pg_catalog.=) 'payment.query'
 WHERE o.state OPERATOR(paycons.=) 'paying'::paycons.order_state
   AND o.pay_deadline OPERATOR(pg_catalog.<=) now()
   AND (p.next_at IS NULL OR p.next_at OPERATOR(pg_catalog.<=) now())
 ORDER BY o.pay_deadline LIMIT 1000;
EXPLAIN (COSTS OFF)
SELECT o.order_id, COALESCE(p.attempts, 0)
  FROM paycons.orders o LEFT JOIN paycons.order_probes p
    ON p.order_id OPERATOR(pg_catalog.=) o.order_id AND p.kind OPERATOR(pg_catalog.=) 'refund.query'
 WHERE o.state OPERATOR(paycons.=) 'refunding'::paycons.order_state
   AND o.state_changed_at OPERATOR(pg_catalog.<=) now() - interval '1 hour'
   AND (p.next_at IS NULL OR p.next_at OPERATOR(pg_catalog.<=) now())
 ORDER BY o.state_changed_at LIMIT 1000;
-- the C code runs these as kept plans with $n parameters: the generic plan
-- uses the partial index too
SET plan_cache_mode = force_generic_plan;
PREPARE close_candidates(timestamptz, int) AS
SELECT o.order_id FROM paycons.orders o
 WHERE o.state OPERATOR(paycons.=) 'paying'::paycons.order_state
   AND o.pay_deadline OPERATOR(pg_catalog.<=) $1
 ORDER BY o.pay_deadline LIMIT $2 FOR UPDATE SKIP LOCKED;
EXPLAIN (COSTS OFF) EXECUTE close_candidates(now(), 1000);
PREPARE due_compensations(int) AS
SELECT c.id FROM paycons.compensations c
 WHERE c.state IN ('pending', 'waiting_external')
   AND c.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()
 ORDER BY c.next_attempt_at, c.id LIMIT $1 FOR UPDATE SKIP LOCKED;
EXPLAIN (COSTS OFF) EXECUTE due_compensations(1000);
