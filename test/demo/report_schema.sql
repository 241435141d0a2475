-- test/demo/report_schema.sql -- the queries behind the demo's report
--
-- Every figure of the report (terminal and demo-report/index.html) comes
-- from one of these functions, which read paycons' tables, the shop's own
-- tables (shop.payment_log, shop.delivered_events) and the channels' books
-- (demo.channel_ledger).  Nothing is taken from the simulator's counters.
-- Run by test/demo.sh as the database owner, after test/demo/setup.sql.

\set ON_ERROR_STOP on
SET client_min_messages = warning;
-- paycons' operators (order_state =) resolve when the functions are created
SET search_path = demo, paycons, public;

-- the states in which an order still waits for something
CREATE FUNCTION demo.unsettled() RETURNS paycons.order_state[]
    LANGUAGE sql IMMUTABLE
    RETURN '{created,paying,payment_failed,needs_review,refunding}'::paycons.order_state[];

-- yuan text of minor units (CNY), exactly
CREATE FUNCTION demo.yuan(fen numeric) RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN CASE WHEN fen IS NULL THEN NULL
                ELSE to_char(fen / 100, 'FM999G999G999G990D00') END;

CREATE FUNCTION demo.orders_by_state()
    RETURNS TABLE (state text, orders bigint, "amount (CNY)" text)
    LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT o.state::text, count(*), demo.yuan(sum(o.amount))
      FROM paycons.orders o GROUP BY o.state ORDER BY o.state;
END;

-- the inbox: one row per (channel, channel_txn_id), decided by the first delivery
CREATE FUNCTION demo.callbacks_by_outcome()
    RETURNS TABLE (source text, kind text, status text, outcome text, review text, callbacks bigint,
                   "amount (CNY)" text)
    LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT c.source, c.kind, c.status, c.outcome, coalesce(c.review, ''), count(*), demo.yuan(sum(c.amount))
      FROM paycons.callbacks c
     GROUP BY 1, 2, 3, 4, 5
     ORDER BY 1, 2, 3 DESC, count(*) DESC;
END;

-- every request and answer the shop saw (its own log, written with each call)
CREATE FUNCTION demo.deliveries()
    RETURNS TABLE (via text, channel text, outcome text, replays bigint, first_deliveries bigint,
                   "HTTP answers" text)
    LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT l.via, l.channel, l.outcome,
           count(*) FILTER (WHERE l.duplicate),
           count(*) FILTER (WHERE NOT coalesce(l.duplicate, false)),
           coalesce(string_agg(DISTINCT l.ack_status::text, ', '), '')
      FROM shop.payment_log l
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, count(*) DESC;
END;

CREATE FUNCTION demo.compensations()
    RETURNS TABLE (action text, kind text, state text, steps bigint, attempts bigint, "amount (CNY)" text)
    LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT CASE WHEN c.action LIKE 'refund:%:partial' THEN 'refund (partial, customer)'
                WHEN c.action LIKE 'refund:%:excess' THEN 'refund (excess of a review)'
                WHEN c.action LIKE 'refund:%' THEN 'refund (' || coalesce(c.args->>'reason', '?') || ')'
                ELSE split_part(c.action, ':', 1) END,
           CASE WHEN c.handler IS NULL THEN 'external' ELSE 'in database' END,
           c.state, count(*), sum(c.attempts),
           demo.yuan(sum((c.args->>'amount')::bigint))
      FROM paycons.compensations c
     GROUP BY 1, 2, 3
     ORDER BY 1, 3;
END;

CREATE FUNCTION demo.statement_diffs()
    RETURNS TABLE (channel text, diff text, resolution text, differences bigint, "statement (CNY)" text,
                   "local (CNY)" text)
    LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT d.channel, d.diff,
           CASE WHEN d.resolved_at IS NULL THEN 'OPEN'
                ELSE regexp_replace(coalesce(d.resolution, ''), ': .*', '')
                     || CASE WHEN d.resolved_by IS NOT NULL THEN ' (by ' || d.resolved_by || ')' ELSE '' END
           END,
           count(*), demo.yuan(sum(d.statement_amount)), demo.yuan(sum(d.local_amount))
      FROM paycons.reconciliation_diffs d
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3;
END;

CREATE FUNCTION demo.statements()
    RETURNS TABLE (channel text, statement_date date, format text, lines bigint, payments bigint,
                   refunds bigint, loaded_at timestamptz)
    LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT f.channel, f.statement_date, f.format,
           (SELECT count(*) FROM paycons.statement_lines s
             WHERE s.channel = f.channel AND s.statement_date = f.statement_date),
           (SELECT count(*) FROM paycons.statement_lines s
             WHERE s.channel = f.channel AND s.statement_date = f.statement_date AND s.kind = 'payment'),
           (SELECT count(*) FROM paycons.statement_lines s
             WHERE s.channel = f.channel AND s.statement_date = f.statement_date AND s.kind = 'refund'),
           f.loaded_at
      FROM paycons.statement_files f
     ORDER BY 1, 2;
END;

CREATE FUNCTION demo.reviews()
    RETURNS TABLE (order_id text, "amount (CNY)" text, "paid (CNY)" text, decision text, state text)
    LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT h.order_id, demo.yuan(o.amount),
           demo.yuan((SELECT sum(c.amount) FROM paycons.callbacks c
                       WHERE c.order_id = h.order_id AND c.kind = 'payment' AND c.status = 'success')),
           h.reason, o.state::text
      FROM paycons.order_history h
      JOIN paycons.orders o USING (order_id)
     WHERE h.reason LIKE 'review %'
     ORDER BY h.order_id;
END;

CREATE FUNCTION demo.outbox_delivered()
    RETURNS TABLE (event_type text, delivered bigint, "after a nack or retry" bigint, "still in the outbox" bigint)
    LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT coalesce(d.event_type, b.event_type), coalesce(d.n, 0), coalesce(d.retried, 0), coalesce(b.n, 0)
      FROM (SELECT e.event_type, count(*) AS n, count(*) FILTER (WHERE e.attempts > 1) AS retried
              FROM shop.delivered_events e GROUP BY 1) d
      FULL JOIN (SELECT x.event_type, count(*) AS n FROM paycons.outbox x GROUP BY 1) b
        ON b.event_type = d.event_type
     ORDER BY 2 DESC;
END;

-- the decisions, counted
CREATE FUNCTION demo.review_summary()
    RETURNS TABLE (decision text, orders bigint, "owed (CNY)" text, "paid (CNY)" text, "state now" text)
    LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT split_part(r.decision, ':', 1), count(*),
           demo.yuan(sum(replace(r."amount (CNY)", ',', '')::numeric * 100)),
           demo.yuan(sum(replace(r."paid (CNY)", ',', '')::numeric * 100)),
           string_agg(DISTINCT r.state, ', ')
      FROM demo.reviews() r
     GROUP BY 1 ORDER BY 1;
END;

-- what the background worker did (paycons.stats(): shared memory, since the server started)
CREATE FUNCTION demo.worker()
    RETURNS TABLE (what text, count bigint)
    LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT k, v
      FROM paycons.stats() s,
           LATERAL (VALUES ('maintenance passes', s.passes),
                           ('payment.query commands sent for overdue orders', s.payment_queries),
                           ('orders closed (no payment by the deadline + grace)', s.orders_closed),
                           ('stock commits the payment could not make, made by the worker', s.stock_committed),
                           ('compensations done by the worker (stock released, ...)', s.compensations_done),
                           ('compensations retried', s.compensations_retried),
                           ('compensations dead', s.compensations_dead),
                           ('external commands re-sent (refund.request after silence)', s.external_sent),
                           ('refund.query commands sent', s.refund_queries),
                           ('items that failed (and were retried)', s.item_errors)) AS x(k, v);
END;

-- money per order (CNY), summed: where every cent that came in went
CREATE FUNCTION demo.money()
    RETURNS TABLE (what text, "amount (CNY)" text, payments bigint)
    LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH pay AS (
        SELECT c.order_id, c.amount, c.outcome, c.review
          FROM paycons.callbacks c
         WHERE c.kind = 'payment' AND c.status = 'success'
           AND c.outcome = ANY ('{applied,late_payment,duplicate_payment,amount_mismatch,held_for_review}')),
    comp AS (
        SELECT sum((c.args->>'amount')::bigint) FILTER (WHERE c.state IN ('pending', 'waiting_external', 'running')) AS open
          FROM paycons.compensations c WHERE c.action LIKE 'refund:%')
    SELECT 'money in: successful payments the inbox took', demo.yuan(sum(amount)), count(*) FROM pay
    UNION ALL
    SELECT '  kept by orders that are paid', demo.yuan(sum(o.paid_amount - o.refunded_amount)), NULL
      FROM paycons.orders o WHERE o.state IN ('paid', 'fulfilling', 'shipped', 'completed')
    UNION ALL
    SELECT '  refunded (refund callbacks applied)', demo.yuan(sum(o.refunded_amount)), NULL FROM paycons.orders o
    UNION ALL
    SELECT '  to refund (open refund compensations)', demo.yuan(coalesce((SELECT open FROM comp), 0)), NULL
    UNION ALL
    SELECT '  waiting for a review decision', demo.yuan(coalesce(sum(amount) FILTER (WHERE review = 'pending'), 0)),
           count(*) FILTER (WHERE review = 'pending') FROM pay
    UNION ALL
    SELECT 'money at the channels (their books: payments - refunds)',
           demo.yuan(sum(CASE WHEN l.kind = 'payment' THEN l.amount ELSE -l.amount END)), count(*) FILTER (WHERE l.kind = 'payment')
      FROM demo.channel_ledger l;
END;

/*
 * demo.invariants(): one row per check; violations 0 means it holds.
 * The last is paycons.verify(), paycons' own audit of every order.
 */
CREATE FUNCTION demo.invariants()
    RETURNS TABLE (ok boolean, "check" text, violations bigint, example text)
    LANGUAGE plpgsql STABLE
    SET search_path = demo, paycons, public
AS $$
DECLARE
    n bigint;
    ex text;
BEGIN
    -- 1. nothing stuck
    SELECT count(*), min(o.order_id || ' is ' || o.state) INTO n, ex
      FROM paycons.orders o WHERE o.state = ANY (demo.unsettled());
    RETURN QUERY SELECT n = 0, 'every order settled (none created, paying, payment_failed, needs_review or refunding)', n, ex;

    -- 2. nothing lost: every payment and refund in the channels' books is in the inbox, with its amount
    SELECT count(*), min(l.kind || ' ' || l.channel || '/' || l.channel_txn_id || ' of ' || l.order_id) INTO n, ex
      FROM demo.channel_ledger l
      LEFT JOIN paycons.callbacks c
        ON c.channel = l.channel AND c.channel_txn_id = l.channel_txn_id
       AND c.kind = l.kind AND c.status = 'success' AND c.amount = l.amount AND c.order_id = l.order_id
     WHERE c.channel IS NULL;
    RETURN QUERY SELECT n = 0, '0 lost: every payment and refund in the channels'' books is in paycons.callbacks with its amount', n, ex;

    -- 3. nothing invented: every success the inbox took is in the channels' books
    SELECT count(*), min(c.kind || ' ' || c.channel || '/' || c.channel_txn_id) INTO n, ex
      FROM paycons.callbacks c
      LEFT JOIN demo.channel_ledger l ON l.channel = c.channel AND l.channel_txn_id = c.channel_txn_id
     WHERE c.status = 'success' AND l.channel IS NULL;
    RETURN QUERY SELECT n = 0, 'no money from nowhere: every success in paycons.callbacks is in the channels'' books (forgeries refused)', n, ex;

    -- 4. applied exactly once
    SELECT count(*), min(x.order_id) INTO n, ex
      FROM (SELECT c.order_id FROM paycons.callbacks c
             WHERE c.kind = 'payment' AND c.status = 'success' AND c.outcome = 'applied'
             GROUP BY 1 HAVING count(*) > 1
            UNION ALL
            SELECT h.order_id FROM paycons.order_history h
             WHERE h.to_state = 'paid' GROUP BY 1 HAVING count(*) > 1) x;
    RETURN QUERY SELECT n = 0, '0 double-applied: no order paid twice (one applied payment, one move to paid)', n, ex;

    -- 5. money in = paid_amount (+ waiting for review); money out = refunded_amount
    SELECT count(*), min(o.order_id || ': paid_amount ' || o.paid_amount || ' <> ' || coalesce(p.taken, 0)) INTO n, ex
      FROM paycons.orders o
      LEFT JOIN (SELECT c.order_id,
                        sum(c.amount) FILTER (WHERE c.outcome = ANY ('{applied,late_payment,duplicate_payment}')
                                                 OR c.review IN ('accepted', 'refunded')) AS taken
                   FROM paycons.callbacks c, paycons.orders oo
                  WHERE oo.order_id = c.order_id AND c.currency = oo.currency
                    AND c.kind = 'payment' AND c.status = 'success'
                  GROUP BY 1) p ON p.order_id = o.order_id
     WHERE o.paid_amount <> coalesce(p.taken, 0);
    RETURN QUERY SELECT n = 0, 'every payment taken is in its order''s paid_amount, and nothing else is', n, ex;

    SELECT count(*), min(o.order_id || ': refunded_amount ' || o.refunded_amount || ' <> ' || coalesce(r.back, 0)) INTO n, ex
      FROM paycons.orders o
      LEFT JOIN (SELECT c.order_id, sum(c.amount) AS back
                   FROM paycons.callbacks c, paycons.orders oo
                  WHERE oo.order_id = c.order_id AND c.currency = oo.currency
                    AND c.kind = 'refund' AND c.status = 'success' AND c.outcome IN ('applied', 'over_refund')
                  GROUP BY 1) r ON r.order_id = o.order_id
     WHERE o.refunded_amount <> coalesce(r.back, 0);
    RETURN QUERY SELECT n = 0, 'every refund applied is in its order''s refunded_amount, and nothing else is', n, ex;

    -- 6. every cent accounted: money in = kept + refunded + to refund + waiting, per order;
    --    kept = the amount for a paid order (less the refunds the shop asked for), 0 otherwise
    SELECT count(*), min(format('%s (%s): in %s, refunded %s, to refund %s, waiting %s, kept should be %s',
                                x.order_id, x.state, x.money_in, x.refunded_amount, x.to_refund, x.waiting, x.kept))
      INTO n, ex
      FROM (SELECT o.order_id, o.state, o.refunded_amount,
                   o.paid_amount + coalesce(w.waiting, 0) AS money_in,
                   coalesce(w.waiting, 0) AS waiting,
                   coalesce(k.open, 0) AS to_refund,
                   CASE WHEN o.state IN ('paid', 'fulfilling', 'shipped', 'completed')
                        THEN o.amount - coalesce(k.partial, 0) ELSE 0 END AS kept
              FROM paycons.orders o
              LEFT JOIN (SELECT c.order_id, sum(c.amount) AS waiting FROM paycons.callbacks c
                          WHERE c.review = 'pending' GROUP BY 1) w ON w.order_id = o.order_id
              LEFT JOIN (SELECT c.order_id,
                                sum((c.args->>'amount')::bigint)
                                    FILTER (WHERE c.state IN ('pending', 'waiting_external', 'running')) AS open,
                                sum((c.args->>'amount')::bigint)
                                    FILTER (WHERE c.action LIKE 'refund:%:partial') AS partial
                           FROM paycons.compensations c WHERE c.action LIKE 'refund:%' GROUP BY 1) k
                ON k.order_id = o.order_id) x
     WHERE x.money_in <> x.kept + x.refunded_amount + x.to_refund + x.waiting;
    RETURN QUERY SELECT n = 0, 'every cent accounted, per order: money in = kept + refunded + to refund + waiting for review', n, ex;

    -- 7. the outbox: each state change delivered exactly once, nothing left
    SELECT count(*), min(format('%s: %s state changes, %s order events delivered', x.order_id, x.changes, x.events))
      INTO n, ex
      FROM (SELECT o.order_id,
                   (SELECT count(*) FROM paycons.order_history h WHERE h.order_id = o.order_id) AS changes,
                   coalesce(e.n, 0) AS events
              FROM paycons.orders o
              LEFT JOIN (SELECT d.aggregate_id, count(*) AS n FROM shop.delivered_events d
                          WHERE d.event_type LIKE 'order.%'
                          GROUP BY 1) e ON e.aggregate_id = o.order_id) x
     WHERE x.changes <> x.events;
    RETURN QUERY SELECT n = 0, 'every state change reached the consumer as exactly one order.<state> event', n, ex;

    SELECT count(*), min(x.event_type || ' ' || x.status || ' ' || x.aggregate_id) INTO n, ex FROM paycons.outbox x;
    RETURN QUERY SELECT n = 0, 'outbox drained: nothing pending, leased or dead', n, ex;

    -- 8. compensations, reviews, statements, stock
    SELECT count(*), min(c.order_id || ' ' || c.action || ' ' || c.state) INTO n, ex
      FROM paycons.compensations c WHERE c.state <> 'done';
    RETURN QUERY SELECT n = 0, 'every compensation done (none pending, waiting or dead)', n, ex;

    SELECT count(*), min(d.channel || '/' || d.channel_txn_id || ' ' || d.diff) INTO n, ex
      FROM paycons.reconciliation_diffs d WHERE d.resolved_at IS NULL;
    RETURN QUERY SELECT n = 0, 'every statement difference resolved', n, ex;

    SELECT count(*), min(s.order_id || ' (' || o.state || ')') INTO n, ex
      FROM paycons.stock_orders s JOIN paycons.orders o USING (order_id)
     WHERE s.state = 'reserved' AND o.state <> ALL (demo.unsettled());
    RETURN QUERY SELECT n = 0, 'no stock held for a settled order (paid: committed; closed or refunded: released)', n, ex;

    -- 9. paycons' own audit of every money invariant (verify(since NULL):
    -- every order), one row per violation
    SELECT count(*), min(v.invariant || ' ' || v.key || ': ' || left(v.detail, 160)) INTO n, ex
      FROM paycons.verify() v;
    RETURN QUERY SELECT n = 0, 'paycons.verify(): every money invariant of paycons itself, on every order', n, ex;
END;
$$;

-- orders settled per second (the first time each reached paid, closed or
-- refunded), and webhook requests per second, from the start of the day
CREATE FUNCTION demo.timeline()
    RETURNS TABLE (sec integer, paid bigint, closed bigint, refunded bigint, requests bigint)
    LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH t0 AS (SELECT min(created_at) AS t0 FROM paycons.orders),
    firsts AS (
        SELECT DISTINCT ON (h.order_id) h.order_id, h.to_state, h.at
          FROM paycons.order_history h
         WHERE h.to_state IN ('paid', 'closed', 'refunded')
         ORDER BY h.order_id, h.at, h.id),
    s AS (
        SELECT floor(extract(epoch FROM f.at - t0.t0))::int AS sec, f.to_state
          FROM firsts f, t0),
    r AS (
        SELECT floor(extract(epoch FROM l.at - t0.t0))::int AS sec, count(*) AS n
          FROM shop.payment_log l, t0 WHERE l.via = 'notification' GROUP BY 1),
    secs AS (
        SELECT generate_series(0, greatest((SELECT max(sec) FROM s), (SELECT max(sec) FROM r), 0)) AS sec)
    SELECT secs.sec,
           (SELECT count(*) FROM s WHERE s.sec = secs.sec AND s.to_state = 'paid'),
           (SELECT count(*) FROM s WHERE s.sec = secs.sec AND s.to_state = 'closed'),
           (SELECT count(*) FROM s WHERE s.sec = secs.sec AND s.to_state = 'refunded'),
           coalesce((SELECT r.n FROM r WHERE r.sec = secs.sec), 0)
      FROM secs ORDER BY 1;
END;

-- moments of the day, seconds from its start
CREATE FUNCTION demo.milestones()
    RETURNS TABLE (sec numeric, label text)
    LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH t0 AS (SELECT min(created_at) AS t0 FROM paycons.orders)
    SELECT round(extract(epoch FROM m.at - t0.t0), 1), m.label
      FROM t0, (SELECT max(o.created_at) AS at, 'last order' AS label FROM paycons.orders o
                UNION ALL
                SELECT min(f.loaded_at), 'statements loaded' FROM paycons.statement_files f
                UNION ALL
                SELECT min(h.at), 'operator decides reviews' FROM paycons.order_history h
                 WHERE h.reason LIKE 'review %') m
     WHERE m.at IS NOT NULL
     ORDER BY 1;
END;
