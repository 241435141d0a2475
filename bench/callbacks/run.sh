#!/usr/bin/env bash
# bench/callbacks/run.sh -- apply_callback (C) against the floor (one
# data-modifying CTE doing the same writes on trigger-less copies of the
# tables) and against a careful PL/pgSQL function with the same checks, for
# the new-callback path and the replay path, with 2 and 8 clients and
# synchronous_commit on and off.  Writes bench/RESULTS-callbacks.md.
#
#   PGHOST=... PGPORT=... PGUSER=... bash bench/callbacks/run.sh
#
# DURATION (seconds per run, default 10), ROUNDS (default 1: runs of one
# configuration are interleaved C / PL/pgSQL / floor, ROUNDS times; the
# median tps is reported), CONFIGS (default "off:2 off:8 on:2 on:8":
# synchronous_commit:clients), LEAN=1 also measures LEAN_CONFIGS (default
# "off:2") with the interim outbox trigger replaced by a lean one (see
# lean_outbox.sql).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DB=${BENCH_DB:-paycons_bench_callbacks}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-1}
LEAN=${LEAN:-0}
OUT=${OUT:-$here/../RESULTS-callbacks.md}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

q() { psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB" "$@"; }
lsn() { q -c "SELECT pg_current_wal_lsn()"; }

# run PATH VARIANT CLIENTS SYNC -> "tps wal_bytes_per_txn"
run() {
    local path=$1 v=$2 c=$3 sc=$4 before after n tps
    if [ "$path" = new ]; then
        # fresh paying orders for this run: more than it can use
        bash "$here/pool.sh" "$DB" "${v:0:1}" "$POOL"
    fi
    q -c "CHECKPOINT" >/dev/null
    before=$(lsn)
    PGOPTIONS="-c synchronous_commit=$sc" pgbench -n -M prepared -c "$c" -j "$c" -T "$DURATION" -D paid="$PAID" \
        -f "$here/${path}_${v}.sql" "$DB" > "$tmp/out" 2>&1 || { cat "$tmp/out"; exit 1; }
    after=$(lsn)
    n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$tmp/out")
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$tmp/out")
    grep -q "number of failed transactions: 0 " "$tmp/out" || { cat "$tmp/out"; echo "failed transactions"; exit 1; }
    echo "$tps $(q -c "SELECT round(pg_wal_lsn_diff('$after', '$before') / $n)")"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

bash "$here/setup.sh" "$DB" 2>&1 | grep -v NOTICE || true
POOL=${POOL:-$((DURATION * 40000))}
PAID=$(q -c "SELECT paid FROM paycons_bench.settings")
ORDERS=$(q -c "SELECT orders FROM paycons_bench.settings")

# A LISTENer on paycons_outbox for the whole invocation, as an outbox relay
# would have; and whether a notifier serves the database (else every
# transaction that writes an event sends its own NOTIFY: the slow path)
psql -X -q -d "$DB" -c "LISTEN paycons_outbox" -c "SELECT pg_sleep(86400)" >/dev/null 2>&1 &
listener=$!
trap 'kill $listener 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 1 30); do
    notifier=$(q -c "SELECT coalesce(notifier_pid::text, '') FROM paycons.stats()")
    [ -n "$notifier" ] && break
    sleep 1
done
[ -n "$notifier" ] || echo "WARNING: no paycons notifier serves $DB (set paycons.database): every writing transaction will NOTIFY" >&2

results="$tmp/results"
: > "$results"
configs=${CONFIGS:-"off:2 off:8 on:2 on:8"}
measure() {    # measure LABEL
    local label=$1
    for cfg in $configs; do
        sc=${cfg%%:*}; c=${cfg##*:}
        for path in new replay; do
            for r in $(seq 1 "$ROUNDS"); do
                for v in c plpgsql floor; do
                    read -r tps wal <<< "$(run $path $v $c $sc)"
                    echo "$label $path $sc $c $v $tps $wal" | tee -a "$results"
                done
            done
        done
    done
}
measure installed
# WAL per applied callback, split into records and full-page images
bash "$here/wal.sh" > "$tmp/wal" 2>&1 || true
# the new paths must not have run out of orders (that would be unknown_order work)
bad=$(q -c "SELECT count(*) FROM paycons.callbacks WHERE outcome <> 'applied'")
[ "$bad" = 0 ] || { echo "some callbacks were not applied: $bad"; exit 1; }
bad=$(q -c "SELECT (SELECT count(*) FROM paycons_bench.callbacks) - (SELECT count(*) FROM paycons_bench.orders WHERE state::text = 'paid')")
[ "$bad" = 0 ] || { echo "some floor callbacks found no paying order: $bad"; exit 1; }
if [ "$LEAN" = 1 ]; then
    q -f "$here/lean_outbox.sql"
    configs=${LEAN_CONFIGS:-"off:2"}
    measure lean
fi

# summary table
summarize() {   # label path sc c -> line
    local l=$1 p=$2 sc=$3 c=$4 tc tp tf wc wp wf
    tc=$(awk -v l=$l -v p=$p -v s=$sc -v c=$c '$1==l&&$2==p&&$3==s&&$4==c&&$5=="c"{print $6}' "$results" | median)
    tp=$(awk -v l=$l -v p=$p -v s=$sc -v c=$c '$1==l&&$2==p&&$3==s&&$4==c&&$5=="plpgsql"{print $6}' "$results" | median)
    tf=$(awk -v l=$l -v p=$p -v s=$sc -v c=$c '$1==l&&$2==p&&$3==s&&$4==c&&$5=="floor"{print $6}' "$results" | median)
    wc=$(awk -v l=$l -v p=$p -v s=$sc -v c=$c '$1==l&&$2==p&&$3==s&&$4==c&&$5=="c"{print $7}' "$results" | median)
    wp=$(awk -v l=$l -v p=$p -v s=$sc -v c=$c '$1==l&&$2==p&&$3==s&&$4==c&&$5=="plpgsql"{print $7}' "$results" | median)
    wf=$(awk -v l=$l -v p=$p -v s=$sc -v c=$c '$1==l&&$2==p&&$3==s&&$4==c&&$5=="floor"{print $7}' "$results" | median)
    grep -q "^$l $p $sc $c " "$results" || return 0
    awk -v l=$l -v p=$p -v s=$sc -v c=$c -v tc=$tc -v tp=$tp -v tf=$tf -v wc=$wc -v wp=$wp -v wf=$wf 'BEGIN {
        printf "| %s | %s | %s | %d | %.0f | %.0f | %.0f | %.2f | %.2f | %d | %d | %d | %.2f |\n",
               l, p, s, c, tc, tp, tf, tc/tf, tc/tp, wc, wp, wf, (wf > 0 ? wc/wf : 0) }'
}
{
    echo "| outbox emission | path | synchronous_commit | clients | C tps | PL/pgSQL tps | floor tps | C / floor | C / PL/pgSQL | C WAL B/txn | PL/pgSQL WAL B/txn | floor WAL B/txn | C / floor WAL |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for l in installed lean; do
        for p in new replay; do
            for sc in off on; do
                for c in 2 8; do summarize $l $p $sc $c; done
            done
        done
    done
} > "$tmp/table"
cat "$tmp/table"
{
    echo "## Raw runs"
    echo
    echo '```'
    echo "# label path synchronous_commit clients variant tps wal_bytes_per_txn"
    cat "$results"
    echo '```'
} > "$tmp/raw"
{
    echo "# apply_callback benchmark (bench/callbacks)"
    echo
    echo "Command (one invocation): \`${CMDLINE:-DURATION=$DURATION ROUNDS=$ROUNDS LEAN=$LEAN bash bench/callbacks/run.sh}\`"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(q -c 'SELECT version()' | cut -d, -f1);"
    echo "server fsync=$(q -c 'SHOW fsync'), wal_level=$(q -c 'SHOW wal_level'), shared_buffers=$(q -c 'SHOW shared_buffers');"
    echo "$ORDERS orders, $PAID of them paid by callback (the replay pool, drawn uniformly); worker $(q -c "SELECT worker_status FROM paycons.stats()"), notifier ${notifier:-not running}, a LISTENer connected;"
    echo "pgbench -M prepared -T $DURATION per run, tps without connection time, median of $ROUNDS round(s);"
    echo "WAL bytes per transaction from pg_current_wal_lsn() around each run (after a CHECKPOINT, so full-page images are included)."
    echo
    cat "$tmp/table"
    echo
    echo "WAL per applied callback (bench/callbacks/wal.sh: 1 client, fixed count, after a warm-up; pg_waldump --stats):"
    echo
    cat "$tmp/wal"
    echo
    cat "$tmp/raw"
} > "$OUT"
echo "written: $OUT"
