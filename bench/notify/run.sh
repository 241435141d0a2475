#!/usr/bin/env bash
# bench/notify/run.sh -- NOTIFY paycons_outbox off the commit path.
#
# New callbacks (bench/callbacks/new_c.sql: each applies one payment and
# writes one outbox event) from CLIENTS pgbench clients, with a LISTENer
# (listener.c) connected throughout, under each paycons.outbox_notify
# mode, interleaved ROUNDS times in one invocation:
#
#   on           one NOTIFY per notifier wake-up, for many commits
#   transaction  one NOTIFY per writing transaction, at its commit (0.1.0)
#   off          no notification
#
# A mode may carry a notifier interval: "on/0" runs with
# paycons.notify_interval = 0 (ALTER SYSTEM + reload; RESET at the end).
# Reported per mode: median tps and ratios, notifications per commit, and
# the consumer wake-up latency -- per commit, from the commit returning to
# pgbench (pgbench -l) to the next notification the LISTENer received --
# p50 / p99 / max over all commits of all rounds (latency.awk).
# SLOWPASS=1 adds a run of mode "on" while the worker is inside one long
# maintenance pass (compensation handlers that sleep), to show that a pass
# does not delay notifications.
#
#   PGHOST=... PGPORT=... PGUSER=postgres bash bench/notify/run.sh
#
# The server must preload paycons and list BENCH_DB (default
# paycons_bench_notify) in paycons.database, so that a notifier serves it.
# The database is dropped (WITH (FORCE): its worker and notifier reconnect)
# and created by bench/callbacks/setup.sh.  Knobs: DURATION (s per run,
# default 10), ROUNDS (3), CLIENTS (8), SYNC (synchronous_commit, on),
# MODES ("on transaction off"), SLOWPASS (0), OUT (bench/RESULTS-notify.md),
# KEEP=1 keeps the raw logs (pgbench -l, notifications).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DB=${BENCH_DB:-paycons_bench_notify}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-8}
SYNC=${SYNC:-on}
MODES=${MODES:-"on transaction off"}
SLOWPASS=${SLOWPASS:-0}
OUT=${OUT:-$here/../RESULTS-notify.md}
POOL=$((DURATION * 6000))
tmp=$(mktemp -d)
LPID=
cleanup() {
    [ -n "$LPID" ] && kill "$LPID" 2>/dev/null && wait "$LPID" 2>/dev/null || true
    psql -X -q -d postgres -c "ALTER SYSTEM RESET paycons.notify_interval" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    if [ "${KEEP:-0}" = 1 ]; then echo "raw data kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

q() { psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB" "$@"; }
now_us() { date +%s%6N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# the LISTENer
pgc=$(command -v pg_config)
cc -O2 -o "$tmp/listener" "$here/listener.c" -I"$("$pgc" --includedir)" \
    -L"$("$pgc" --libdir)" -lpq

# a fresh database, served by a worker and a notifier
listed=$(psql -X -At -d postgres -c "SELECT current_setting('paycons.database', true)")
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
bash "$here/../callbacks/setup.sh" "$DB" 2>&1 | grep -v NOTICE || true
for _ in $(seq 1 60); do
    st=$(q -c "SELECT worker_status || '/' || (notifier_pid IS NOT NULL) FROM paycons.stats()")
    [ "$st" = "running/true" ] && break
    sleep 0.5
done
if [ "$st" != "running/true" ]; then
    echo "no notifier serves database $DB (stats: $st; paycons.database = '$listed');"
    echo "start the server with shared_preload_libraries = 'paycons' and $DB in paycons.database"
    exit 1
fi

"$tmp/listener" "$DB" "$tmp/notifications" > "$tmp/listener.out" 2> "$tmp/listener.err" &
LPID=$!
for _ in $(seq 1 50); do grep -q listening "$tmp/listener.out" 2>/dev/null && break; sleep 0.1; done

# run LABEL MODE[/INTERVAL]: one pgbench run; appends to $tmp/runs
run() {
    local label=$1 spec=$2 mode=${2%%/*} interval= start tps
    [[ $spec == */* ]] && interval=${spec#*/}
    if [ -n "$interval" ]; then
        psql -X -q -d postgres -c "ALTER SYSTEM SET paycons.notify_interval = $interval" -c "SELECT pg_reload_conf()" >/dev/null
        sleep 0.5
    fi
    bash "$here/../callbacks/pool.sh" "$DB" c "$POOL"
    q -c "CHECKPOINT" >/dev/null
    rm -f "$tmp"/pgb.*
    start=$(now_us)
    PGOPTIONS="-c synchronous_commit=$SYNC -c paycons.outbox_notify=$mode" \
        pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" -l --log-prefix="$tmp/pgb" \
        -f "$here/../callbacks/new_c.sql" "$DB" > "$tmp/out" 2>&1 || { cat "$tmp/out"; exit 1; }
    grep -q "number of failed transactions: 0 " "$tmp/out" || { cat "$tmp/out"; echo "failed transactions"; exit 1; }
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$tmp/out")
    sleep 1                            # the last commits' notifications
    mkdir -p "$tmp/logs/$label-$spec"
    mv "$tmp"/pgb.* "$tmp/logs/$label-$spec/"
    echo "$start" > "$tmp/logs/$label-$spec/start"
    # notifications of this run only: from its start to now
    awk -v from="$start" '$1 >= from' "$tmp/notifications" > "$tmp/logs/$label-$spec/notifications"
    read -r commits notes p50 p99 max missing early <<< "$(awk -f "$here/latency.awk" -v from="$start" \
        "$tmp/logs/$label-$spec/notifications" "$tmp/logs/$label-$spec"/pgb.*)"
    [ "$mode" = off ] && missing=-
    echo "$label $spec $tps $commits $notes $p50 $p99 $max $missing $early" | tee -a "$tmp/runs"
    if [ -n "$interval" ]; then
        psql -X -q -d postgres -c "ALTER SYSTEM RESET paycons.notify_interval" -c "SELECT pg_reload_conf()" >/dev/null
        sleep 0.5
    fi
}

: > "$tmp/runs"
for r in $(seq 1 "$ROUNDS"); do
    for m in $MODES; do run "r$r" "$m"; done
done

if [ "$SLOWPASS" = 1 ]; then
    # one maintenance pass that lasts about DURATION + 2 seconds
    n=$(( (DURATION + 2) * 5 ))
    q <<SQL >/dev/null
CREATE OR REPLACE FUNCTION paycons_bench.slow(order_id text, args jsonb) RETURNS void
    LANGUAGE sql AS 'SELECT pg_sleep(0.2)';
SELECT count(paycons.enqueue_compensation('RC' || i, 'bench-slow', 'paycons_bench.slow(text,jsonb)'))
  FROM generate_series(1, $n) i;
SQL
    q -c "SELECT paycons.wake()" >/dev/null
    sleep 0.5
    busy=$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'paycons worker' AND datname = current_database() AND state = 'active'")
    run slowpass on
    echo "(worker busy in a pass at the start of the slowpass run: $busy)"
fi

kill "$LPID"; wait "$LPID" || true; LPID=

# summary per mode: median tps, ratios, notifications per commit, latency
# over all the mode's commits
{
    echo "| mode | median tps | tps / off | tps / transaction | commits | notifications | notifications per commit | wake-up latency p50 | p99 | max | commits never notified | notified before the client saw the commit (end of run) |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    toff=$(awk '$2=="off"{print $3}' "$tmp/runs" | median)
    ttx=$(awk '$2=="transaction"{print $3}' "$tmp/runs" | median)
    for m in $MODES $([ "$SLOWPASS" = 1 ] && echo slowpass); do
        if [ "$m" = slowpass ]; then sel='$1=="slowpass"'; else sel="\$1!=\"slowpass\" && \$2==\"$m\""; fi
        t=$(awk "$sel{print \$3}" "$tmp/runs" | median)
        c=$(awk "$sel{s+=\$4} END{print s+0}" "$tmp/runs")
        nn=$(awk "$sel{s+=\$5} END{print s+0}" "$tmp/runs")
        miss=$(awk "$sel{s+=\$9} END{print s+0}" "$tmp/runs")
        early=$(awk "$sel{s+=\$10} END{print s+0}" "$tmp/runs")
        dirs=$(awk "$sel{print \$1 \"-\" \$2}" "$tmp/runs")
        lat="- - -"
        if [ "$m" != off ]; then
            lat=$(for d in $dirs; do
                      awk -f "$here/latency.awk" -v from="$(cat "$tmp/logs/$d/start")" -v raw=1 \
                          "$tmp/logs/$d/notifications" "$tmp/logs/$d"/pgb.*
                  done | awk '{print}' | sort -n | awk '{a[NR]=$1} END {if (NR) printf "%.2f %.2f %.2f", a[int(NR*0.5)+1], a[int(NR*0.99)+1], a[NR]; else print "- - -"}')
        fi
        read -r p50 p99 max <<< "$lat"
        awk -v m="$m" -v t="$t" -v off="${toff:-0}" -v tx="${ttx:-0}" -v c="$c" -v nn="$nn" \
            -v p50="$p50" -v p99="$p99" -v max="$max" -v miss="$miss" -v early="$early" 'BEGIN {
            if (m == "off") { miss = "-"; early = "-" }
            printf "| %s | %.0f | %s | %s | %d | %d | %s | %s ms | %s ms | %s ms | %s | %s |\n", m, t,
                (off > 0 ? sprintf("%.2f", t / off) : "-"), (tx > 0 ? sprintf("%.2f", t / tx) : "-"),
                c, nn, (c > 0 ? sprintf("%.4f", nn / c) : "-"), p50, p99, max, miss, early }'
    done
} > "$tmp/table"
cat "$tmp/table"
{
    echo "# Notification benchmark (bench/notify)"
    echo
    echo "Command (one invocation): \`${CMDLINE:-DURATION=$DURATION ROUNDS=$ROUNDS CLIENTS=$CLIENTS SYNC=$SYNC MODES=\"$MODES\" SLOWPASS=$SLOWPASS bash bench/notify/run.sh}\`"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(q -c 'SELECT version()' | cut -d, -f1);"
    echo "server fsync=$(q -c 'SHOW fsync'), synchronous_commit=$SYNC, shared_buffers=$(q -c 'SHOW shared_buffers'),"
    echo "paycons.notify_interval=$(q -c 'SHOW paycons.notify_interval') (unless the mode says otherwise), a LISTENer connected throughout;"
    echo "pgbench -M prepared -c $CLIENTS -j $CLIENTS -T $DURATION -l per run (bench/callbacks/new_c.sql), tps without connection time, median of $ROUNDS round(s)."
    echo
    cat "$tmp/table"
    echo
    echo "## Raw runs"
    echo
    echo '```'
    echo "# label mode tps commits notifications p50_ms p99_ms max_ms never_notified notified_early"
    cat "$tmp/runs"
    echo '```'
} > "$OUT"
echo "written: $OUT"
