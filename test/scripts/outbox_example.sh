#!/bin/bash
# outbox_example.sh -- runs examples/outbox_consumer.py (psycopg2, LISTEN +
# claim/ack) against a fresh database: the consumer starts on an empty
# outbox, is woken by NOTIFY when orders are created and paid, handles
# every event exactly once in per-order order, and an event type whose
# handler always fails ends up dead-lettered.  Exit 0 = pass.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/../.." && pwd)
DB=outbox_example_$$
export PGDATABASE=$DB
OUT=$(mktemp)
ERR=$(mktemp)
cleanup() {
    [ -n "${CPID:-}" ] && kill "$CPID" 2>/dev/null || true
    wait 2>/dev/null || true
    dropdb --if-exists "$DB" >/dev/null 2>&1 || true
    rm -f "$OUT" "$ERR"
}
trap cleanup EXIT
PSQL="psql -X -q -At -v ON_ERROR_STOP=1"

createdb "$DB"
$PSQL <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION paycons;
INSERT INTO paycons.retry_policies
       (action, initial_interval, backoff_coefficient, max_interval, max_attempts, jitter)
VALUES ('outbox:poison.pill', '10 ms', 1, '10 ms', 3, 0);
SQL

/usr/bin/python3 "$HERE/examples/outbox_consumer.py" example-1 --until-empty \
    --fail-type poison.pill >"$OUT" 2>"$ERR" &
CPID=$!
# wait until the consumer's LISTEN is in effect (its listening session
# stays idle with LISTEN as its last statement)
for _ in $(seq 1 300); do
    [ "$($PSQL -c "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN paycons_outbox' AND state = 'idle'")" -ge 1 ] && break
    sleep 0.1
done

# 20 orders created and paid, one transaction (three events) per order,
# plus one poison event
for i in $(seq 1 20); do
    $PSQL -c "BEGIN;
              SELECT paycons.create_order('ex-$i', 100 * $i, 'EUR');
              SELECT paycons.begin_payment('ex-$i', 'alipay');
              SELECT paycons.transition('ex-$i', 'paid', 'example: paid');
              COMMIT;" >/dev/null
done
$PSQL -c "SELECT paycons.emit('test', 'p-1', 'poison.pill', '{}')" >/dev/null
wait "$CPID"
CPID=

cat "$ERR"
lines=$(wc -l <"$OUT")
echo "handled $lines events"
fail=0
# 20 orders x 3 events (created, paying, paid), each once
[ "$lines" -eq 60 ] || { echo "FAIL: expected 60 handled events"; fail=1; }
[ "$(sort -u "$OUT" | wc -l)" -eq 60 ] || { echo "FAIL: an event was handled twice"; fail=1; }
for i in $(seq 1 20); do
    got=$(awk -v a="ex-$i" '$3 == a {print $4}' "$OUT" | tr '\n' ' ')
    [ "$got" = "order.created order.paying order.paid " ] || { echo "FAIL: ex-$i got: $got"; fail=1; }
done
grep -q "notifications" "$ERR" || { echo "FAIL: no notification count"; fail=1; }
n=$(sed -n 's/.*: \([0-9]*\) notifications/\1/p' "$ERR")
# one NOTIFY per committing transaction, however many events it wrote:
# 21 (20 order transactions of 3 events each, plus the poison event)
[ "$n" -eq 21 ] || { echo "FAIL: $n notifications, expected 21"; fail=1; }
dead=$($PSQL -c "SELECT count(*) FROM paycons.outbox_dead_letters WHERE event_type = 'poison.pill' AND attempts = 3")
[ "$dead" -eq 1 ] || { echo "FAIL: poison pill not dead-lettered"; fail=1; }
left=$($PSQL -c "SELECT count(*) FROM paycons.outbox WHERE status <> 'dead'")
[ "$left" -eq 0 ] || { echo "FAIL: $left events left"; fail=1; }
[ $fail -eq 0 ] && echo PASS
exit $fail
