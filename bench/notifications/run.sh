#!/usr/bin/env bash
# bench/notifications/run.sh -- what verification costs: apply_notification
# for Alipay (RSA2) and WeChat Pay v3 (RSA + AES-256-GCM) against
# apply_callback with the facts already parsed (no signature), and against
# apply_callback with its own HMAC check, in one invocation.  New
# notifications first (each applies a payment to a paying order), then the
# same notifications again (replays).  Prints a table of tps and ratios.
#
#   PGHOST=... PGPORT=... PGUSER=... bash bench/notifications/run.sh
#
# N (notifications per variant and round, default 2000), ROUNDS (default 3),
# CLIENTS (default 2), SYNC (synchronous_commit, default off: the cost
# measured is CPU, not commit latency).  Each round runs every variant once,
# pgbench -t N/CLIENTS, in a rotated order, on fresh orders and
# notifications; the table shows the median tps of the rounds.  Needs
# python3-cryptography (gen.py signs the notifications with the TEST-ONLY
# keys of test/fixtures/channels/).  Short by default (about a minute).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
DB=${BENCH_DB:-paycons_bench_notifications}
N=${N:-2000}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-2}
SYNC=${SYNC:-off}
N=$((N / CLIENTS * CLIENTS))
CPU_N=${CPU_N:-1500}
TOTAL=$((N * ROUNDS + CPU_N * ROUNDS))
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

q() { psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB" "$@"; }

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
echo "generating $TOTAL signed Alipay and WeChat Pay notifications" >&2
python3 "$here/gen.py" "$TOTAL" "$tmp"
(cd "$repo" && q -v n="$TOTAL" -f "$here/setup.sql" >/dev/null)
q -c "\\copy bn.alipay FROM '$tmp/alipay.tsv'" -c "\\copy bn.wechat FROM '$tmp/wechat.tsv'"
q -c "ANALYZE bn.alipay" -c "ANALYZE bn.wechat"
q -f "$here/cpu.sql"

# run VARIANT ROUND -> tps (notifications (ROUND-1)*N+1 .. ROUND*N)
run() {
    q -c "ALTER SEQUENCE bn.seq RESTART WITH $((($2 - 1) * N + 1))" -c "CHECKPOINT" >/dev/null
    PGOPTIONS="-c synchronous_commit=$SYNC" pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" \
        -t $((N / CLIENTS)) -f "$here/$1.sql" "$DB" > "$tmp/out" 2>&1 || { cat "$tmp/out"; exit 1; }
    grep -q "number of failed transactions: 0 " "$tmp/out" || { cat "$tmp/out"; exit 1; }
    sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$tmp/out"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

variants=(callback alipay wechat callback_hmac)
: > "$tmp/results"
for path in new replay; do
    for r in $(seq 1 "$ROUNDS"); do
        for i in 0 1 2 3; do
            v=${variants[$(((i + r) % 4))]}
            t=$(run "$v" "$r")
            echo "$path $r $v $t" | tee -a "$tmp/results" >&2
        done
    done
    if [ "$path" = new ]; then
        # every notification applied exactly once, nothing else
        bad=$(q -c "SELECT count(*) FILTER (WHERE outcome <> 'applied') || ' ' || count(*) FROM paycons.callbacks")
        [ "$bad" = "0 $((N * ROUNDS * 4))" ] || { echo "unexpected inbox: $bad"; exit 1; }
    fi
done
# backend CPU per call: notifications after the pgbench ranges, new then replay
hz=$(getconf CLK_TCK)
: > "$tmp/cpu"
for path in new replay; do
    for r in $(seq 1 "$ROUNDS"); do
        for i in 0 1 2 3; do
            v=${variants[$(((i + r) % 4))]}
            ticks=$(PGOPTIONS="-c synchronous_commit=$SYNC" q -c "CALL bn.cpu_loop('$v', $((N * ROUNDS + (r - 1) * CPU_N + 1)), $CPU_N)")
            echo "$path $r $v $ticks" | tee -a "$tmp/cpu" >&2
        done
    done
done
rows=$(q -c "SELECT count(*) FROM paycons.callbacks")
[ "$rows" = $((TOTAL * 4)) ] || { echo "unexpected inbox rows: $rows"; exit 1; }
declare -A tps
for path in new replay; do
    for v in "${variants[@]}"; do
        tps[$path.$v]=$(awk -v p=$path -v v=$v '$1==p && $3==v {print $4}' "$tmp/results" | median)
    done
done

echo "| path | apply_callback, facts pre-parsed (tps) | apply_callback + HMAC (tps) | Alipay RSA2 (tps) | WeChat Pay v3 RSA + GCM (tps) | Alipay / pre-parsed | WeChat / pre-parsed | HMAC / pre-parsed |"
echo "|---|---|---|---|---|---|---|---|"
for path in new replay; do
    awk -v p=$path -v c="${tps[$path.callback]}" -v h="${tps[$path.callback_hmac]}" \
        -v a="${tps[$path.alipay]}" -v w="${tps[$path.wechat]}" 'BEGIN {
        printf "| %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f |\n", p, c, h, a, w, a/c, w/c, h/c }'
done
echo
echo "Backend CPU per call (µs, median of $ROUNDS rounds of $CPU_N calls in one backend):"
echo
echo "| path | apply_callback, facts pre-parsed | apply_callback + HMAC | Alipay RSA2 | WeChat Pay v3 RSA + GCM | Alipay − pre-parsed | WeChat − pre-parsed |"
echo "|---|---|---|---|---|---|---|"
declare -A us
for path in new replay; do
    for v in "${variants[@]}"; do
        us[$path.$v]=$(awk -v p=$path -v v=$v -v hz="$hz" -v n="$CPU_N" \
            '$1==p && $3==v {print $4 * 1000000 / hz / n}' "$tmp/cpu" | median)
    done
    awk -v p=$path -v c="${us[$path.callback]}" -v h="${us[$path.callback_hmac]}" \
        -v a="${us[$path.alipay]}" -v w="${us[$path.wechat]}" 'BEGIN {
        printf "| %s | %.0f | %.0f | %.0f | %.0f | %+.0f | %+.0f |\n", p, c, h, a, w, a-c, w-c }'
done
echo
echo "N=$N ROUNDS=$ROUNDS CLIENTS=$CLIENTS CPU_N=$CPU_N synchronous_commit=$SYNC; raw runs (path round variant tps):"
cat "$tmp/results"
echo "raw CPU runs (path round variant ticks, $hz ticks/s, $CPU_N calls):"
cat "$tmp/cpu"
