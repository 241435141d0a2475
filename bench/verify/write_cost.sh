#!/usr/bin/env bash
# bench/verify/write_cost.sh -- what the three indexes paycons.verify()
# reads cost on the write path: apply_callback's new-payment path (one inbox
# row, one history row, one event) with the indexes (order_history_at_brin,
# callbacks_received_at, callbacks_refund_order) and without them,
# interleaved in one invocation, ROUNDS times each (default 3), DURATION
# seconds per run (default 15), CLIENTS clients (default 2).  Prints the tps
# and the WAL bytes per callback of every run, and the ratios of the medians.
#
#   PGHOST=... PGPORT=... PGUSER=postgres bash bench/verify/write_cost.sh
set -euo pipefail
DB=${BENCH_DB:-paycons_bench_verify_write}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-15}
CLIENTS=${CLIENTS:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
q() { psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB" "$@"; }

dropdb --if-exists "$DB"
createdb "$DB"
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION paycons" \
  -c "SELECT paycons.set_channel('bench')" -c "CREATE SEQUENCE bench_seq" >/dev/null
cat > "$tmp/new.sql" <<'SQL'
SELECT r.* FROM (SELECT nextval('bench_seq') AS n) s,
       LATERAL paycons.apply_callback('bench', 'T' || s.n, 'V' || s.n, 'payment', 'success', 1000, 'CNY') r;
SQL

# pool COUNT: fresh paying orders numbered after the sequence (fixture,
# inserted with the triggers off)
pool() {
    q <<SQL
ALTER TABLE paycons.orders DISABLE TRIGGER USER;
INSERT INTO paycons.orders (order_id, state, amount, currency, channel, pay_deadline)
SELECT 'V' || i, 'paying', 1000, 'CNY', 'bench', now() + interval '1 day'
  FROM generate_series((SELECT last_value + 1 FROM bench_seq), (SELECT last_value FROM bench_seq) + $1) i
ON CONFLICT DO NOTHING;
ALTER TABLE paycons.orders ENABLE TRIGGER USER;
VACUUM ANALYZE paycons.orders;
SQL
}
indexes() {    # indexes on|off
    if [ "$1" = on ]; then
        q -c "CREATE INDEX IF NOT EXISTS order_history_at_brin ON paycons.order_history USING brin (at)" \
          -c "CREATE INDEX IF NOT EXISTS callbacks_received_at ON paycons.callbacks USING brin (received_at)" \
          -c "CREATE INDEX IF NOT EXISTS callbacks_refund_order ON paycons.callbacks (order_id) WHERE kind = 'refund'"
    else
        q -c "DROP INDEX IF EXISTS paycons.order_history_at_brin" \
          -c "DROP INDEX IF EXISTS paycons.callbacks_received_at" \
          -c "DROP INDEX IF EXISTS paycons.callbacks_refund_order"
    fi
}
run() {    # run with|without -> "tps wal_bytes_per_callback"
    local before after n
    indexes "$([ "$1" = with ] && echo on || echo off)" 2>/dev/null
    pool $((DURATION * 3000))
    q -c "CHECKPOINT"
    before=$(q -c "SELECT pg_current_wal_lsn()")
    pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" -f "$tmp/new.sql" "$DB" > "$tmp/out" 2>&1 ||
        { cat "$tmp/out"; exit 1; }
    grep -q "number of failed transactions: 0 " "$tmp/out" || { cat "$tmp/out"; exit 1; }
    after=$(q -c "SELECT pg_current_wal_lsn()")
    n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$tmp/out")
    echo "$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$tmp/out") $(q -c "SELECT round(pg_wal_lsn_diff('$after', '$before') / $n)")"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

: > "$tmp/with"; : > "$tmp/without"
for r in $(seq 1 "$ROUNDS"); do
    w=$(run with); o=$(run without)
    echo "round $r: with the verify indexes ${w% *} tps ${w#* } WAL bytes/callback; without ${o% *} tps ${o#* } WAL bytes/callback"
    echo "$w" >> "$tmp/with"; echo "$o" >> "$tmp/without"
done
mw=$(cut -d' ' -f1 < "$tmp/with" | median); mo=$(cut -d' ' -f1 < "$tmp/without" | median)
ww=$(cut -d' ' -f2 < "$tmp/with" | median); wo=$(cut -d' ' -f2 < "$tmp/without" | median)
echo "median tps: with $mw, without $mo, with / without = $(awk "BEGIN { printf \"%.3f\", $mw / $mo }")"
echo "median WAL bytes per callback: with $ww, without $wo, with / without = $(awk "BEGIN { printf \"%.3f\", $ww / $wo }")"
dropdb "$DB"
