/*
 * 75_verify.sql -- paycons.verify(): the audit of every money invariant on
 * the live database, one row per violation, none when clean.  See
 * doc/reliability.md (what each invariant means, what can and cannot be
 * proven, how it scales) and doc/operations.md (the hourly pg_cron job).
 *
 * verify(since) checks the orders that changed since "since" (a history
 * row or an inbox row at or after it) plus everything whose size does not
 * grow with the order count (the live outbox, pending review money, stock);
 * verify() (since NULL) checks every order.  The window is found through
 * the two BRIN indexes below; everything else per order is an index probe
 * on an existing index, or on callbacks_refund_order for refund rows.
 *
 * The whole audit is ONE statement, so it reads one snapshot: every
 * paycons write (callback, review, maintenance pass, ack) commits the
 * order, its history, its events, its inbox row and its compensations
 * together, so a correct database shows no violation at any moment.  The
 * snapshot is taken after the outbox partitions are locked (see the
 * function body): run it in READ COMMITTED, as pg_cron does.
 */

-- The window: rows by time.  Both order_history and callbacks are append-mostly in time order,
-- so a BRIN range summary (one tuple per 128 pages) finds the recent rows
-- at almost no cost on the write path.
CREATE INDEX order_history_at_brin ON paycons.order_history USING brin (at);
COMMENT ON INDEX paycons.order_history_at_brin IS
    'finds the history rows of a time window for paycons.verify(since)';
-- (the inbox rows of the window: callbacks_received_at, 70_maintenance.sql)
-- An order's refunds (the plain applied payment is found through the
-- order's own channel_txn_id, the other money rows through
-- callbacks_attention): refunds are few, so this index costs little.
CREATE INDEX callbacks_refund_order ON paycons.callbacks (order_id)
    WHERE kind = 'refund';
COMMENT ON INDEX paycons.callbacks_refund_order IS
    'refund callbacks by order, for paycons.verify()';

CREATE FUNCTION paycons.verify(since timestamptz DEFAULT NULL)
    RETURNS TABLE (invariant text, key text, detail text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, paycons, pg_temp
    -- one big statement of index probes: compiling it would cost more
    -- than running it
    SET jit = off
AS $fn$
DECLARE
    -- the orders to check (w): all of them, or those with a history row or
    -- an inbox row at or after $1
    w_all CONSTANT text := $w$
        SELECT o.order_id, o.state::pg_catalog.text AS state, o.amount, o.currency,
               o.paid_amount, o.refunded_amount, o.channel, o.channel_txn_id
          FROM paycons.orders o $w$;
    w_window CONSTANT text := $w$
        SELECT o.order_id, o.state, o.amount, o.currency,
               o.paid_amount, o.refunded_amount, o.channel, o.channel_txn_id
          FROM (SELECT h.order_id FROM paycons.order_history h
                 WHERE h.at OPERATOR(pg_catalog.>=) $1
                UNION
                SELECT c.order_id FROM paycons.callbacks c
                 WHERE c.received_at OPERATOR(pg_catalog.>=) $1) ids
         CROSS JOIN LATERAL (
                SELECT o.order_id, o.state::pg_catalog.text AS state, o.amount, o.currency,
                       o.paid_amount, o.refunded_amount, o.channel, o.channel_txn_id
                  FROM paycons.orders o
                 WHERE o.order_id OPERATOR(pg_catalog.=) ids.order_id
                OFFSET 0) o $w$;
    -- the applied payments to check for a link from their order
    applied_all CONSTANT text := 'true';
    applied_window CONSTANT text := 'c.received_at OPERATOR(pg_catalog.>=) $1';
    audit CONSTANT text := $q$
WITH
w AS MATERIALIZED (%s),

-- the inbox rows of w's orders other than plain "applied" ones (late,
-- duplicate, mismatched, held, over-refunded money, unknown orders)
att AS MATERIALIZED (
    SELECT w.order_id, w.currency AS order_currency, c.*
      FROM w CROSS JOIN LATERAL (
            SELECT c.channel, c.channel_txn_id, c.kind, c.status, c.amount, c.currency, c.outcome,
                   COALESCE(c.review, '') AS review
              FROM paycons.callbacks c
             WHERE c.order_id OPERATOR(pg_catalog.=) w.order_id
               AND c.outcome OPERATOR(pg_catalog.<>) 'applied'
            OFFSET 0) c),

money AS (
    SELECT a.order_id,
           COALESCE(pg_catalog.sum(a.amount) FILTER (
               WHERE a.kind OPERATOR(pg_catalog.=) 'payment'
                 AND a.status OPERATOR(pg_catalog.=) 'success'
                 AND a.currency OPERATOR(pg_catalog.=) a.order_currency
                 AND a.review OPERATOR(pg_catalog.<>) 'pending'
                 AND a.outcome OPERATOR(pg_catalog.=) ANY (ARRAY['late_payment', 'duplicate_payment',
                                                                'amount_mismatch', 'held_for_review'])),
                    0)::pg_catalog.int8 AS taken,
           pg_catalog.count(*) FILTER (WHERE a.review OPERATOR(pg_catalog.=) 'pending') AS pending,
           pg_catalog.count(*) FILTER (
               WHERE a.kind OPERATOR(pg_catalog.=) 'refund'
                 AND a.outcome OPERATOR(pg_catalog.=) ANY (ARRAY['over_refund', 'amount_mismatch'])) AS review_refunds,
           COALESCE(pg_catalog.sum(a.amount) FILTER (
               WHERE a.kind OPERATOR(pg_catalog.=) 'refund'
                 AND a.outcome OPERATOR(pg_catalog.=) 'over_refund'
                 AND a.currency OPERATOR(pg_catalog.=) a.order_currency), 0)::pg_catalog.int8 AS over_refunded
      FROM att a
     GROUP BY a.order_id),

-- each order with its sums: the one plain "applied" payment is the one
-- the order records; refunds come from callbacks_refund_order
m AS (
    SELECT w.*,
           (COALESCE((SELECT c.amount FROM paycons.callbacks c
                       WHERE c.channel OPERATOR(pg_catalog.=) w.channel
                         AND c.channel_txn_id OPERATOR(pg_catalog.=) w.channel_txn_id
                         AND c.order_id OPERATOR(pg_catalog.=) w.order_id
                         AND c.kind OPERATOR(pg_catalog.=) 'payment'
                         AND c.status OPERATOR(pg_catalog.=) 'success'
                         AND c.outcome OPERATOR(pg_catalog.=) 'applied'
                         AND c.currency OPERATOR(pg_catalog.=) w.currency), 0)
            OPERATOR(pg_catalog.+) COALESCE(mo.taken, 0)) AS paid_sum,
           COALESCE((SELECT pg_catalog.sum(c.amount)::pg_catalog.int8 FROM paycons.callbacks c
                      WHERE c.order_id OPERATOR(pg_catalog.=) w.order_id
                        AND c.kind OPERATOR(pg_catalog.=) 'refund'
                        AND c.status OPERATOR(pg_catalog.=) 'success'
                        AND c.currency OPERATOR(pg_catalog.=) w.currency
                        AND c.outcome OPERATOR(pg_catalog.=) ANY (ARRAY['applied', 'over_refund'])), 0) AS refunded_sum,
           COALESCE(mo.pending, 0) AS pending,
           COALESCE(mo.review_refunds, 0) AS review_refunds,
           COALESCE(mo.over_refunded, 0) AS over_refunded
      FROM w
      LEFT JOIN money mo ON mo.order_id OPERATOR(pg_catalog.=) w.order_id),

-- every history row of w's orders, with its neighbours
-- (each access below is per order of w, through an index: OFFSET 0 keeps
-- the planner from turning it into a join that scans a whole table, so
-- the cost follows the size of w)
hist AS NOT MATERIALIZED (
    SELECT w.order_id, w.state, h.id, h.f, h.t, h.reason, h.txid, h.prev_t, h.n, h.next_id
      FROM w CROSS JOIN LATERAL (
            SELECT h.id, h.from_state::pg_catalog.text AS f, h.to_state::pg_catalog.text AS t,
                   h.reason, h.txid,
                   pg_catalog.lag(h.to_state::pg_catalog.text) OVER win AS prev_t,
                   pg_catalog.row_number() OVER win AS n,
                   pg_catalog.lead(h.id) OVER win AS next_id
              FROM paycons.order_history h
             WHERE h.order_id OPERATOR(pg_catalog.=) w.order_id
               AND h.table_name OPERATOR(pg_catalog.=) 'paycons.orders'
            WINDOW win AS (ORDER BY h.id)
            OFFSET 0) h),

-- the live order.<state> events of each order, oldest first
ev AS (
    SELECT x.aggregate_id AS order_id,
           pg_catalog.array_agg(x.event_type ORDER BY x.id) AS types,
           pg_catalog.array_agg(x.created_at ORDER BY x.id) AS ats,
           pg_catalog.count(*) AS n
      FROM paycons.outbox x
     WHERE x.aggregate_type OPERATOR(pg_catalog.=) 'order'
       AND x.event_type OPERATOR(pg_catalog.=) ANY (ARRAY(
               SELECT 'order.' OPERATOR(pg_catalog.||) s::pg_catalog.text FROM paycons.all_states() s))
     GROUP BY x.aggregate_id)

-- 1. a callback changed only its own order, in one transaction
SELECT 'callback_applied_once'::pg_catalog.text AS invariant, k.h_order AS key,
       pg_catalog.format('callback %%s %%s of order %%s changed order %%s in %%s transaction(s)',
                         k.channel, k.channel_txn_id, k.c_order, k.h_order, k.xacts) AS detail
  FROM (SELECT c.channel, c.channel_txn_id, c.order_id AS c_order, h.order_id AS h_order,
               pg_catalog.count(DISTINCT h.txid) AS xacts
          FROM hist h
          JOIN paycons.channels ch
            ON pg_catalog.starts_with(h.reason, pg_catalog.split_part(h.reason, ' ', 1)
                                      OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) ch.channel
                                      OPERATOR(pg_catalog.||) ' ')
         CROSS JOIN LATERAL (
                SELECT c.channel, c.channel_txn_id, c.order_id
                  FROM paycons.callbacks c
                 WHERE c.channel OPERATOR(pg_catalog.=) ch.channel
                   AND c.channel_txn_id OPERATOR(pg_catalog.=)
                       pg_catalog.substr(h.reason, pg_catalog.length(pg_catalog.split_part(h.reason, ' ', 1))
                                                   OPERATOR(pg_catalog.+) pg_catalog.length(ch.channel)
                                                   OPERATOR(pg_catalog.+) 3)
                   AND c.source OPERATOR(pg_catalog.=) pg_catalog.split_part(h.reason, ' ', 1)
                OFFSET 0) c
         WHERE pg_catalog.split_part(h.reason, ' ', 1) OPERATOR(pg_catalog.=) ANY (ARRAY['callback', 'query', 'statement'])
         GROUP BY 1, 2, 3, 4) k
 WHERE k.h_order OPERATOR(pg_catalog.<>) k.c_order OR k.xacts OPERATOR(pg_catalog.>) 1

-- 2. an applied payment is the payment its order records (one per order)
UNION ALL
SELECT 'applied_payment_unlinked', c.order_id,
       pg_catalog.format('applied payment %%s %%s of %%s %%s is not the payment order %%s records (%%s %%s)',
                         c.channel, c.channel_txn_id, c.amount, c.currency, c.order_id, o.channel, o.channel_txn_id)
  FROM paycons.callbacks c
  LEFT JOIN LATERAL (
        SELECT o.channel, o.channel_txn_id FROM paycons.orders o
         WHERE o.order_id OPERATOR(pg_catalog.=) c.order_id OFFSET 0) o ON true
 WHERE %s
   AND c.kind OPERATOR(pg_catalog.=) 'payment'
   AND c.status OPERATOR(pg_catalog.=) 'success'
   AND c.outcome OPERATOR(pg_catalog.=) 'applied'
   AND NOT (COALESCE(o.channel OPERATOR(pg_catalog.=) c.channel, false)
            AND COALESCE(o.channel_txn_id OPERATOR(pg_catalog.=) c.channel_txn_id, false))

-- 3. paid_amount is the money received in the order's currency
UNION ALL
SELECT 'paid_amount_matches_callbacks', m.order_id,
       pg_catalog.format('paid_amount %%s %%s, but its successful payments in %%s not waiting in review add up to %%s',
                         m.paid_amount, m.currency, m.currency, m.paid_sum)
  FROM m WHERE m.paid_amount OPERATOR(pg_catalog.<>) m.paid_sum

-- 4. refunded_amount is the money refunded in the order's currency
UNION ALL
SELECT 'refunded_amount_matches_callbacks', m.order_id,
       pg_catalog.format('refunded_amount %%s %%s, but its successful refunds in %%s add up to %%s',
                         m.refunded_amount, m.currency, m.currency, m.refunded_sum)
  FROM m WHERE m.refunded_amount OPERATOR(pg_catalog.<>) m.refunded_sum

-- 5. no more refunded than paid, beyond what the channel over-refunded
UNION ALL
SELECT 'refunded_le_paid', m.order_id,
       pg_catalog.format('refunded_amount %%s > paid_amount %%s %%s (over-refunds recorded: %%s)',
                         m.refunded_amount, m.paid_amount, m.currency, m.over_refunded)
  FROM m
 WHERE m.refunded_amount OPERATOR(pg_catalog.>) m.paid_amount
   AND (m.refunded_amount OPERATOR(pg_catalog.-) m.paid_amount) OPERATOR(pg_catalog.>) m.over_refunded

-- 6. an order that counts as paid has received its amount
UNION ALL
SELECT 'paid_without_money', m.order_id,
       pg_catalog.format('order is %%s with paid_amount %%s of amount %%s %%s',
                         m.state, m.paid_amount, m.amount, m.currency)
  FROM m
 WHERE m.state OPERATOR(pg_catalog.=) ANY (ARRAY['paid', 'fulfilling', 'shipped', 'completed'])
   AND m.paid_amount OPERATOR(pg_catalog.<) m.amount

-- 7. an order that was given up (or fully refunded) keeps no money
-- without a refund under way or done
UNION ALL
SELECT 'closed_holding_money', m.order_id,
       pg_catalog.format('order is %%s and holds %%s %%s (paid %%s, refunded %%s) with no open or done refund compensation',
                         m.state, m.paid_amount OPERATOR(pg_catalog.-) m.refunded_amount, m.currency,
                         m.paid_amount, m.refunded_amount)
  FROM m
 WHERE m.state OPERATOR(pg_catalog.=) ANY (ARRAY['closed', 'cancelled', 'refunded'])
   AND m.paid_amount OPERATOR(pg_catalog.>) m.refunded_amount
   AND NOT EXISTS (
        SELECT 1 FROM paycons.compensations k
         WHERE k.order_id OPERATOR(pg_catalog.=) m.order_id
           AND k.action OPERATOR(pg_catalog.~~) 'refund:%%'
           AND k.state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running', 'waiting_external', 'done']))

-- 8. an order refunding has something left to refund: money of its
-- currency, or a refund compensation not yet done
UNION ALL
SELECT 'refunding_without_refund', m.order_id,
       pg_catalog.format('order is refunding but holds nothing to refund (paid %%s, refunded %%s %%s) and no refund compensation is open',
                         m.paid_amount, m.refunded_amount, m.currency)
  FROM m
 WHERE m.state OPERATOR(pg_catalog.=) 'refunding'
   AND m.paid_amount OPERATOR(pg_catalog.<=) m.refunded_amount
   AND NOT EXISTS (
        SELECT 1 FROM paycons.compensations k
         WHERE k.order_id OPERATOR(pg_catalog.=) m.order_id
           AND k.action OPERATOR(pg_catalog.~~) 'refund:%%'
           AND k.state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running', 'waiting_external', 'dead']))

-- 9. money waits for review only while its order is in review
UNION ALL
SELECT 'review_pending_outside_review', c.order_id,
       pg_catalog.format('payment %%s %%s of %%s %%s waits for review but order %%s is %%s',
                         c.channel, c.channel_txn_id, c.amount, c.currency, c.order_id,
                         COALESCE(o.state::pg_catalog.text, 'missing'))
  FROM paycons.callbacks c
  LEFT JOIN LATERAL (
        SELECT o.state FROM paycons.orders o
         WHERE o.order_id OPERATOR(pg_catalog.=) c.order_id OFFSET 0) o ON true
 WHERE c.review OPERATOR(pg_catalog.=) 'pending'
   AND COALESCE(o.state::pg_catalog.text OPERATOR(pg_catalog.<>) 'needs_review', true)

-- 10. an order in review has something to review
UNION ALL
SELECT 'needs_review_without_reason', m.order_id,
       'order is needs_review with no pending payment, over-refund or refund in another currency'
  FROM m
 WHERE m.state OPERATOR(pg_catalog.=) 'needs_review'
   AND m.pending OPERATOR(pg_catalog.=) 0
   AND m.review_refunds OPERATOR(pg_catalog.=) 0

-- 11. money to give back has its refund: late and duplicate payments,
-- and payments refunded by a review (in the order's currency)
UNION ALL
SELECT 'refund_compensation_missing', a.order_id,
       pg_catalog.format('payment %%s %%s of %%s %%s (%%s%%s) has no compensation refund:%%s of that amount',
                         a.channel, a.channel_txn_id, a.amount, a.currency, a.outcome,
                         CASE WHEN a.review OPERATOR(pg_catalog.<>) '' THEN ', review ' OPERATOR(pg_catalog.||) a.review ELSE '' END,
                         a.channel_txn_id)
  FROM att a
 WHERE a.kind OPERATOR(pg_catalog.=) 'payment'
   AND a.status OPERATOR(pg_catalog.=) 'success'
   AND a.currency OPERATOR(pg_catalog.=) a.order_currency
   AND (a.outcome OPERATOR(pg_catalog.=) ANY (ARRAY['late_payment', 'duplicate_payment'])
        OR a.review OPERATOR(pg_catalog.=) 'refunded')
   AND NOT EXISTS (
        SELECT 1 FROM paycons.compensations k
         WHERE k.order_id OPERATOR(pg_catalog.=) a.order_id
           AND k.action OPERATOR(pg_catalog.=) ('refund:' OPERATOR(pg_catalog.||) a.channel_txn_id)
           AND (k.args OPERATOR(pg_catalog.->) 'amount') OPERATOR(pg_catalog.=) pg_catalog.to_jsonb(a.amount)
           AND (k.args OPERATOR(pg_catalog.->>) 'currency') OPERATOR(pg_catalog.=) a.currency)

-- 12. money in another currency is never kept: each such payment not
-- waiting in review has a refund of that currency
UNION ALL
SELECT 'foreign_payment_unrefunded', a.order_id,
       pg_catalog.format('payment %%s %%s of %%s %%s (%%s) in another currency than the order''s %%s has no compensation refund:%%s in %%s',
                         a.channel, a.channel_txn_id, a.amount, a.currency, a.outcome, a.order_currency,
                         a.channel_txn_id, a.currency)
  FROM att a
 WHERE a.kind OPERATOR(pg_catalog.=) 'payment'
   AND a.status OPERATOR(pg_catalog.=) 'success'
   AND a.currency OPERATOR(pg_catalog.<>) a.order_currency
   AND a.review OPERATOR(pg_catalog.<>) 'pending'
   AND a.outcome OPERATOR(pg_catalog.<>) 'unknown_order'
   AND NOT EXISTS (
        SELECT 1 FROM paycons.compensations k
         WHERE k.order_id OPERATOR(pg_catalog.=) a.order_id
           AND k.action OPERATOR(pg_catalog.=) ('refund:' OPERATOR(pg_catalog.||) a.channel_txn_id)
           AND (k.args OPERATOR(pg_catalog.->>) 'currency') OPERATOR(pg_catalog.=) a.currency)

-- 13. one history row per state change: a chain from the creation to the
-- order's state
UNION ALL
SELECT 'history_chain', h.order_id,
       CASE WHEN h.n OPERATOR(pg_catalog.=) 1 AND h.f IS NOT NULL
            THEN pg_catalog.format('first history row %%s is %%s -> %%s, not the creation', h.id, h.f, h.t)
            WHEN h.n OPERATOR(pg_catalog.>) 1 AND COALESCE(h.f, '') OPERATOR(pg_catalog.<>) h.prev_t
            THEN pg_catalog.format('history row %%s is %%s -> %%s, but the row before it ends in %%s',
                                   h.id, COALESCE(h.f, 'NULL'), h.t, h.prev_t)
            ELSE pg_catalog.format('the last history row %%s ends in %%s, but the order is %%s', h.id, h.t, h.state)
       END
  FROM hist h
 WHERE (h.n OPERATOR(pg_catalog.=) 1 AND h.f IS NOT NULL)
    OR (h.n OPERATOR(pg_catalog.>) 1 AND COALESCE(h.f, '') OPERATOR(pg_catalog.<>) h.prev_t)
    OR (h.next_id IS NULL AND h.t OPERATOR(pg_catalog.<>) h.state)
UNION ALL
SELECT 'history_chain', w.order_id, pg_catalog.format('order is %%s and has no history row', w.state)
  FROM w
  LEFT JOIN LATERAL (
        SELECT 1 AS found FROM paycons.order_history h
         WHERE h.order_id OPERATOR(pg_catalog.=) w.order_id
           AND h.table_name OPERATOR(pg_catalog.=) 'paycons.orders'
         LIMIT 1) h ON true
 WHERE h.found IS NULL

-- 14. one order.<state> event per state change: the events not yet
-- acknowledged are those of the order's last state changes (per-order
-- FIFO: an event is handed out only after every earlier one was acked)
UNION ALL
SELECT 'event_history_mismatch', e.order_id,
       pg_catalog.format('live events %%s do not match the last %%s history rows %%s',
                         e.types, e.n, COALESCE(hh.types::pg_catalog.text, 'none'))
  FROM ev e
  LEFT JOIN LATERAL (
        SELECT pg_catalog.array_agg(s.t ORDER BY s.id) AS types,
               pg_catalog.array_agg(s.at ORDER BY s.id) AS ats
          FROM (SELECT h.id, 'order.' OPERATOR(pg_catalog.||) h.to_state::pg_catalog.text AS t, h.at
                  FROM paycons.order_history h
                 WHERE h.order_id OPERATOR(pg_catalog.=) e.order_id
                   AND h.table_name OPERATOR(pg_catalog.=) 'paycons.orders'
                 ORDER BY h.id DESC
                 LIMIT e.n) s) hh ON true
 WHERE NOT COALESCE(e.types OPERATOR(pg_catalog.=) hh.types AND e.ats OPERATOR(pg_catalog.=) hh.ats, false)

-- 15. stock held for an order that was given up is given back once the
-- release_stock compensation ran
UNION ALL
SELECT 'stock_reservation_outlives_order', so.order_id,
       pg_catalog.format('order is %%s but its stock is still reserved (release_stock: %%s)',
                         COALESCE(o.state::pg_catalog.text, 'missing'), COALESCE(k.state, 'none'))
  FROM paycons.stock_orders so
  LEFT JOIN LATERAL (
        SELECT o.order_id, o.state FROM paycons.orders o
         WHERE o.order_id OPERATOR(pg_catalog.=) so.order_id OFFSET 0) o ON true
  LEFT JOIN paycons.compensations k
    ON k.order_id OPERATOR(pg_catalog.=) so.order_id
   AND k.action OPERATOR(pg_catalog.=) 'release_stock'
 WHERE so.state OPERATOR(pg_catalog.=) 'reserved'
   AND (o.order_id IS NULL
        OR o.state::pg_catalog.text OPERATOR(pg_catalog.=) ANY (ARRAY['closed', 'cancelled'])
        OR k.id IS NOT NULL)
   AND NOT COALESCE(k.state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running', 'waiting_external']), false)

-- 16. stock figures stay in bounds
UNION ALL
SELECT 'stock_bounds', s.sku,
       pg_catalog.format('on_hand %%s, reserved %%s', s.on_hand, s.reserved)
  FROM paycons.stock s
 WHERE s.on_hand OPERATOR(pg_catalog.<) 0
    OR s.reserved OPERATOR(pg_catalog.<) 0
    OR s.reserved OPERATOR(pg_catalog.>) s.on_hand

-- 17. reserved is what the open reservations hold
UNION ALL
SELECT 'stock_reserved_matches_lines', s.sku,
       pg_catalog.format('reserved %%s, but the open reservations hold %%s', s.reserved, COALESCE(r.held, 0))
  FROM paycons.stock s
  LEFT JOIN (SELECT l.sku, pg_catalog.sum(l.quantity)::pg_catalog.int8 AS held
               FROM paycons.stock_orders so
              CROSS JOIN LATERAL (
                    SELECT l.sku, l.quantity FROM paycons.stock_reservations l
                     WHERE l.order_id OPERATOR(pg_catalog.=) so.order_id OFFSET 0) l
              WHERE so.state OPERATOR(pg_catalog.=) 'reserved'
              GROUP BY l.sku) r ON r.sku OPERATOR(pg_catalog.=) s.sku
 WHERE s.reserved OPERATOR(pg_catalog.<>) COALESCE(r.held, 0)

ORDER BY 1, 2, 3
$q$;
BEGIN
    /*
     * outbox_maintain TRUNCATEs an outbox segment once every event in it is
     * acknowledged, and TRUNCATE is not MVCC-safe: a snapshot taken before
     * it would lose events it should still see.  So first wait for any
     * truncation under way (and keep new ones out until the end of the
     * transaction), then run the audit, which takes its snapshot after
     * that in READ COMMITTED (hence VOLATILE).
     */
    LOCK TABLE paycons.outbox IN ACCESS SHARE MODE;
    RETURN QUERY EXECUTE pg_catalog.format(audit,
                                           CASE WHEN since IS NULL THEN w_all ELSE w_window END,
                                           CASE WHEN since IS NULL THEN applied_all ELSE applied_window END)
        USING since;
END;
$fn$;
COMMENT ON FUNCTION paycons.verify(timestamptz) IS
    'audit the money invariants: one row (invariant, key, detail) per violation, none when clean; since: only the orders changed at or after it (NULL: all)';
REVOKE EXECUTE ON FUNCTION paycons.verify(timestamptz) FROM PUBLIC;
