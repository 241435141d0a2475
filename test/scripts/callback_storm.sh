#!/usr/bin/env bash
# callback_storm.sh -- a bounded storm of payment callbacks.
#
# Part 1: 8 clients deliver 1,000 distinct payment callbacks 5 times each,
# in random order (pgbench, one delivery per transaction, taken from a
# shuffled queue).  Then: every order is paid exactly once, the inbox has
# 1,000 rows, the outbox 1,000 order.paid events, 4,000 answers were
# duplicates, no client saw an error, and the sum of paid_amount equals the
# sum of the callbacks' amounts.
#
# Part 2 (bursts): for 300 more orders, all deliveries of one order are
# queued next to each other, so the 8 clients hit the same order at once:
# its payment success 5 times, a failure notice 3 times and a second,
# different successful payment twice.  Then: every order ends paid, paid
# exactly once (one history row, one order.paid event), one of its two
# payments applied and the other a duplicate_payment with one refund
# compensation, paid_amount twice the amount, and every delivery of a
# transaction got the same answer.
#
# Exit 0 on success, non-zero on any mismatch.
#
# Environment: PGHOST, PGPORT, PGUSER (as for psql); PGBENCH or PG_CONFIG
# may point at the binaries.
set -euo pipefail

N=${STORM_CALLBACKS:-1000}
BURST=${STORM_BURST_ORDERS:-300}
REPEAT=${STORM_REPEAT:-5}
CLIENTS=${STORM_CLIENTS:-8}
DB=paycons_callback_storm_$$

bindir=""
if [ -n "${PG_CONFIG:-}" ]; then bindir=$("$PG_CONFIG" --bindir); fi
find_bin() {
    if [ -n "$bindir" ] && [ -x "$bindir/$1" ]; then echo "$bindir/$1"
    elif command -v "$1" >/dev/null 2>&1; then command -v "$1"
    elif command -v pg_config >/dev/null 2>&1; then echo "$(pg_config --bindir)/$1"
    else echo "$1"; fi
}
PSQL=$(find_bin psql)
CREATEDB=$(find_bin createdb)
DROPDB=$(find_bin dropdb)
PGBENCH=${PGBENCH:-$(find_bin pgbench)}

work=$(mktemp -d)
cleanup() {
    "$DROPDB" --if-exists "$DB" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

q() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -At -d "$DB" "$@"; }

"$CREATEDB" "$DB"
q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION paycons;
SELECT paycons.set_channel('storm', ack => 'success');

-- 1,000 orders, half of them paying, half still created; random amounts
SELECT count(paycons.create_order('storm-' || i, 100 + (random() * 99900)::bigint, 'CNY'))
  FROM generate_series(1, $N) i;
SELECT count(paycons.begin_payment(order_id, 'storm'))
  FROM paycons.orders WHERE order_id LIKE 'storm-%' AND right(order_id, 1) IN ('0', '2', '4', '6', '8');

-- the callbacks, and the shuffled queue of their deliveries
CREATE TABLE storm_callbacks AS
SELECT 'storm-T-' || substr(order_id, 7) AS txn, order_id, amount, 'success'::text AS status
  FROM paycons.orders WHERE order_id LIKE 'storm-%';
CREATE TABLE storm_queue AS
SELECT row_number() OVER (ORDER BY random()) AS n, c.*
  FROM storm_callbacks c CROSS JOIN generate_series(1, $REPEAT);

-- part 2: bursts on one order at a time (all paying)
SELECT count(paycons.create_order('burst-' || i, 100 + (random() * 99900)::bigint, 'CNY'))
  FROM generate_series(1, $BURST) i;
SELECT count(paycons.begin_payment(order_id, 'storm'))
  FROM paycons.orders WHERE order_id LIKE 'burst-%';
CREATE TABLE burst_callbacks AS
SELECT t.txn || substr(o.order_id, 7) AS txn, o.order_id, o.amount, t.status, t.times
  FROM paycons.orders o,
       (VALUES ('burst-S1-', 'success', 5), ('burst-F-', 'failed', 3), ('burst-S2-', 'success', 2))
         AS t (txn, status, times)
 WHERE o.order_id LIKE 'burst-%';
INSERT INTO storm_queue
SELECT (SELECT count(*) FROM storm_queue) + row_number() OVER (ORDER BY b.order_id, random()),
       b.txn, b.order_id, b.amount, b.status
  FROM burst_callbacks b, generate_series(1, b.times);
CREATE UNIQUE INDEX ON storm_queue (n);
CREATE SEQUENCE storm_next;
CREATE TABLE storm_answers (txn text, outcome text, state text, duplicate bool, first_seen_at timestamptz);
SQL

cat > "$work/deliver.sql" <<'SQL'
INSERT INTO storm_answers
SELECT q.txn, r.outcome, r.state::text, r.duplicate, r.first_seen_at
  FROM storm_queue q,
       LATERAL paycons.apply_callback('storm', q.txn, q.order_id, 'payment', q.status, q.amount, 'CNY') r
 WHERE q.n = (SELECT nextval('storm_next'));
SQL

total=$((N * REPEAT + BURST * 10))
per_client=$((total / CLIENTS))
rest=$((total - per_client * CLIENTS))
echo "storm: $total deliveries ($N callbacks x $REPEAT, then bursts on $BURST orders) by $CLIENTS clients"
"$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -t "$per_client" -f "$work/deliver.sql" "$DB" > "$work/pgbench.out" 2>&1 || {
    cat "$work/pgbench.out"; echo "FAIL: pgbench reported errors"; exit 1; }
grep -E "number of (transactions actually processed|failed)|tps" "$work/pgbench.out" || true
if [ "$rest" -gt 0 ]; then
    "$PGBENCH" -n -M prepared -c 1 -t "$rest" -f "$work/deliver.sql" "$DB" > /dev/null 2>&1
fi

fail=0
check() {   # check "what" "query" "expected"
    local got
    got=$(q -c "$2")
    if [ "$got" = "$3" ]; then
        echo "ok: $1 ($got)"
    else
        echo "FAIL: $1: got '$got', expected '$3'"
        fail=1
    fi
}

check "deliveries answered" "SELECT count(*) FROM storm_answers" "$total"
P1="txn LIKE 'storm-T-%'"
check "answers that were not 'applied'/paid" \
      "SELECT count(*) FROM storm_answers WHERE $P1 AND (outcome <> 'applied' OR state <> 'paid')" "0"
check "first deliveries" "SELECT count(*) FROM storm_answers WHERE $P1 AND NOT duplicate" "$N"
check "duplicates" "SELECT count(*) FROM storm_answers WHERE $P1 AND duplicate" "$((N * REPEAT - N))"
check "orders paid" \
      "SELECT count(*) FROM paycons.orders WHERE order_id LIKE 'storm-%' AND state::text = 'paid'" "$N"
check "orders paid more than once (history)" \
      "SELECT count(*) FROM (SELECT order_id FROM paycons.order_history
                              WHERE order_id LIKE 'storm-%' AND to_state::text = 'paid'
                              GROUP BY order_id HAVING count(*) <> 1) s" "0"
check "paid history rows" \
      "SELECT count(*) FROM paycons.order_history WHERE order_id LIKE 'storm-%' AND to_state::text = 'paid'" "$N"
check "inbox rows" "SELECT count(*) FROM paycons.callbacks WHERE channel = 'storm' AND order_id LIKE 'storm-%'" "$N"
check "order.paid events" \
      "SELECT count(*) FROM paycons.outbox WHERE aggregate_type = 'order' AND event_type = 'order.paid' AND aggregate_id LIKE 'storm-%'" "$N"
check "conflicts" "SELECT count(*) FROM paycons.callback_conflicts WHERE channel = 'storm'" "0"
check "compensations" "SELECT count(*) FROM paycons.compensations WHERE order_id LIKE 'storm-%'" "0"
check "sum of paid_amount equals sum of callback amounts" \
      "SELECT (SELECT sum(paid_amount) FROM paycons.orders WHERE order_id LIKE 'storm-%')
            = (SELECT sum(amount) FROM storm_callbacks)" "t"
check "callbacks whose deliveries disagree on first_seen_at" \
      "SELECT count(*) FROM (SELECT txn FROM storm_answers WHERE $P1 GROUP BY txn
                              HAVING count(DISTINCT first_seen_at) <> 1 OR count(*) <> $REPEAT) s" "0"

# part 2
check "burst orders not paid" \
      "SELECT count(*) FROM paycons.orders WHERE order_id LIKE 'burst-%' AND state::text <> 'paid'" "0"
check "burst orders whose history does not show exactly one paid" \
      "SELECT count(*) FROM paycons.orders o WHERE o.order_id LIKE 'burst-%' AND
              (SELECT count(*) FROM paycons.order_history h
                WHERE h.order_id = o.order_id AND h.to_state::text = 'paid') <> 1" "0"
check "burst orders without exactly one order.paid event" \
      "SELECT count(*) FROM paycons.orders o WHERE o.order_id LIKE 'burst-%' AND
              (SELECT count(*) FROM paycons.outbox e WHERE e.aggregate_type = 'order'
                  AND e.aggregate_id = o.order_id AND e.event_type = 'order.paid') <> 1" "0"
check "burst orders whose paid_amount is not twice the amount" \
      "SELECT count(*) FROM paycons.orders WHERE order_id LIKE 'burst-%' AND paid_amount <> 2 * amount" "0"
check "burst inbox rows" \
      "SELECT count(*) FROM paycons.callbacks WHERE channel = 'storm' AND order_id LIKE 'burst-%'" "$((BURST * 3))"
check "burst orders without one applied and one duplicate_payment payment" \
      "SELECT count(*) FROM paycons.orders o WHERE o.order_id LIKE 'burst-%' AND
              (SELECT array_agg(c.outcome ORDER BY c.outcome) FROM paycons.callbacks c
                WHERE c.order_id = o.order_id AND c.status = 'success') <> '{applied,duplicate_payment}'" "0"
check "burst failure notices not ignored/applied" \
      "SELECT count(*) FROM paycons.callbacks WHERE order_id LIKE 'burst-%' AND status = 'failed'
          AND outcome NOT IN ('ignored', 'applied')" "0"
check "burst refund compensations that do not match the duplicate payment" \
      "SELECT count(*) FROM paycons.orders o WHERE o.order_id LIKE 'burst-%' AND
              (SELECT array_agg(k.action) FROM paycons.compensations k WHERE k.order_id = o.order_id)
              IS DISTINCT FROM
              (SELECT array_agg('refund:' || c.channel_txn_id) FROM paycons.callbacks c
                WHERE c.order_id = o.order_id AND c.outcome = 'duplicate_payment')" "0"
check "burst transactions whose deliveries got different answers" \
      "SELECT count(*) FROM (SELECT txn FROM storm_answers WHERE txn LIKE 'burst-%' GROUP BY txn
                              HAVING count(DISTINCT (outcome, first_seen_at)) <> 1) s" "0"

if [ "$fail" -ne 0 ]; then
    echo "callback_storm: FAILED"
    exit 1
fi
echo "callback_storm: passed"
