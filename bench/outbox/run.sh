#!/bin/bash
# bench/outbox/run.sh -- outbox benchmarks; writes bench/RESULTS-outbox.md.
#
#  1. Trigger overhead on a one-row UPDATE: no trigger vs the C trigger
#     paycons.outbox_trigger vs the same trigger in PL/pgSQL.  One pgbench
#     invocation runs the three scripts interleaved (-f a -f b -f c), so
#     they share every condition; latencies are per script.
#  2. Drain throughput, batch 100, 2 consumers: paycons claim+ack (with
#     per-aggregate FIFO) vs a plain "DELETE ... FOR UPDATE SKIP LOCKED
#     RETURNING" queue vs PgQ (one consumer: PgQ consumers each read every
#     event, they do not share work).
#  3. Claim cost over a long drain: events/s per second of a paycons drain
#     with rotation (outbox_maintain every 0.5 s) and without.
#
# Env: PGHOST, PGPORT, PGUSER (a scratch cluster: it creates and drops the
# database bench_outbox).  EVENTS (default 500000), SECONDS_UPD (20).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/../RESULTS-outbox.md}
DB=bench_outbox
EVENTS=${EVENTS:-500000}
SECONDS_UPD=${SECONDS_UPD:-20}
AGGS=$((EVENTS / 10))
PSQL="psql -X -q -At -v ON_ERROR_STOP=1 -d $DB"
cd "$HERE"

dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB"
$PSQL -f setup.sql >/dev/null

now() { date +%s.%N; }
ratio() { printf "%.2f" "$(echo "scale=4; $1 / $2" | bc)"; }

# ---- 1. trigger overhead ----
upd=$(pgbench -n -d "$DB" -c 1 -T "$SECONDS_UPD" -f upd_none.sql -f upd_c.sql -f upd_plpg.sql 2>&1)
lat() { echo "$upd" | awk -v s="$1" '$0 ~ "SQL script .*: " s {f=1} f && /latency average/ {print $5; exit}'; }
l_none=$(lat upd_none.sql); l_c=$(lat upd_c.sql); l_plpg=$(lat upd_plpg.sql)
o_c=$(echo "$l_c - $l_none" | bc -l); o_plpg=$(echo "$l_plpg - $l_none" | bc -l)

# ---- 2. drain throughput ----
fill_paycons() {
    $PSQL -c "TRUNCATE paycons.outbox" -c "SELECT count(paycons.emit('bench', 'agg-' || (g % $AGGS), 'bench.event', jsonb_build_object('n', g))) FROM generate_series(1, $EVENTS) g" >/dev/null
    $PSQL -c "VACUUM ANALYZE paycons.outbox"
}
drain() {     # script clients transactions-per-client [progress-file]
    local t0 t1 left0 left1
    t0=$(now)
    if [ -n "${4:-}" ]; then
        pgbench -n -d "$DB" -c "$2" -j "$2" -t "$3" -P 1 -f "$1" >/dev/null 2>"$4"
    else
        pgbench -n -d "$DB" -c "$2" -j "$2" -t "$3" -f "$1" >/dev/null 2>&1
    fi
    t1=$(now)
    echo "$t0 $t1"
}

# plain SQL queue
$PSQL -c "INSERT INTO plain_q (aggregate_id, event_type, payload) SELECT 'agg-' || (g % $AGGS), 'bench.event', jsonb_build_object('n', g) FROM generate_series(1, $EVENTS) g"
$PSQL -c "VACUUM ANALYZE plain_q"
read t0 t1 < <(drain drain_plain.sql 2 $((EVENTS / 200)) /tmp/outbox_bench_plain.progress)
left=$($PSQL -c "SELECT count(*) FROM plain_q")
r_plain=$(echo "($EVENTS - $left) / ($t1 - $t0)" | bc -l)

# paycons, with rotation every 0.5 s (what run_maintenance would do)
fill_paycons
( while true; do $PSQL -c "SET paycons.outbox_rotate_interval = '500ms'" -c "SELECT paycons.outbox_maintain()" >/dev/null; sleep 0.5; done ) &
MAINT=$!
read t0 t1 < <(drain drain_paycons.sql 2 $((EVENTS / 200 + 50)) /tmp/outbox_bench_rot.progress)
kill $MAINT; wait $MAINT 2>/dev/null || true
left=$($PSQL -c "SELECT count(*) FROM paycons.outbox")
r_rot=$(echo "($EVENTS - $left) / ($t1 - $t0)" | bc -l)
rotations=$($PSQL -c "SELECT rotations FROM paycons.outbox_rotation")

# paycons, no rotation (plain delete-based drain of our table)
fill_paycons
read t0 t1 < <(drain drain_paycons.sql 2 $((EVENTS / 200 + 50)) /tmp/outbox_bench_norot.progress)
left=$($PSQL -c "SELECT count(*) FROM paycons.outbox")
r_norot=$(echo "($EVENTS - $left) / ($t1 - $t0)" | bc -l)

# PgQ: ticks every 100 events, one consumer
$PSQL -c "CALL fill_pgq($EVENTS)"
read t0 t1 < <(drain drain_pgq.sql 1 $((EVENTS / 100 + 10)) /tmp/outbox_bench_pgq.progress)
r_pgq=$(echo "$EVENTS / ($t1 - $t0)" | bc -l)

# per-second progress: events/s (tps x 100 events per turn)
series() { sed -n 's/^progress: \([0-9.]*\) s, \([0-9.]*\) tps.*/\2/p' "$1" | awk '{printf "%s%d", (NR>1?" ":""), $1*100/1000} END {print ""}'; }
s_plain=$(series /tmp/outbox_bench_plain.progress)
s_rot=$(series /tmp/outbox_bench_rot.progress)
s_norot=$(series /tmp/outbox_bench_norot.progress)

dropdb "$DB"
cat > "$OUT" <<MD
# Outbox benchmarks

Command: \`PGHOST=... PGPORT=... PGUSER=postgres EVENTS=$EVENTS SECONDS_UPD=$SECONDS_UPD bash bench/outbox/run.sh\`
($(nproc) cores, $(date -u +%Y-%m-%d), PostgreSQL $(psql -X -At -d postgres -c 'SHOW server_version'), fsync off; one run of the
script, every figure below from that run, compared within it).

## Trigger overhead on a one-row UPDATE (pgbench -c 1 -T $SECONDS_UPD, three scripts interleaved)

| table | latency (ms) | overhead vs no trigger (ms) |
|---|---|---|
| no trigger | $l_none | - |
| C trigger \`paycons.outbox_trigger('item', 'id')\` | $l_c | $(printf %.3f "$o_c") |
| PL/pgSQL trigger (same row, same event, same NOTIFY) | $l_plpg | $(printf %.3f "$o_plpg") |

C trigger overhead / PL/pgSQL trigger overhead = **$(ratio "$o_c" "$o_plpg")** (target: at most 0.5).

## Drain throughput, batch 100 ($EVENTS events over $AGGS aggregates)

| drain | consumers | events/s | vs plain SQL |
|---|---|---|---|
| plain \`DELETE ... FOR UPDATE SKIP LOCKED RETURNING\` (no per-aggregate order) | 2 | $(printf %.0f "$r_plain") | 1.00 |
| paycons claim + ack, per-aggregate FIFO, rotation every 0.5 s ($rotations rotations) | 2 | $(printf %.0f "$r_rot") | **$(ratio "$r_rot" "$r_plain")** |
| paycons claim + ack, per-aggregate FIFO, no rotation | 2 | $(printf %.0f "$r_norot") | $(ratio "$r_norot" "$r_plain") |
| PgQ (\`next_batch\` / \`get_batch_events\` / \`finish_batch\`, ticks every 100 events) | 1 | $(printf %.0f "$r_pgq") | $(ratio "$r_pgq" "$r_plain") |

A paycons consumer turn is two transactions (claim, then ack after the
work), as a real consumer does; the plain queue deletes in the one
transaction that reads (work must happen inside it, or events are lost on a
crash).  Target: paycons at least 0.8x plain SQL.

## Claim cost over the drain (thousand events/s, one figure per second)

- plain SQL: $s_plain
- paycons, rotation: $s_rot
- paycons, no rotation: $s_norot

## Targets

- C trigger overhead at most half the PL/pgSQL trigger's: $(echo "$o_c * 2 <= $o_plpg" | bc -l | sed 's/1/met/; s/0/NOT met/') ($(ratio "$o_c" "$o_plpg")).
- Drain at least 0.8x the plain SQL drain with per-aggregate order: $(echo "$r_rot >= 0.8 * $r_plain" | bc -l | sed 's/1/met/; s/0/NOT met/') ($(ratio "$r_rot" "$r_plain")x).
MD
cat "$OUT"
