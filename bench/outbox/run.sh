#!/bin/bash
# bench/outbox/run.sh -- outbox benchmarks; writes $OUT (default
# bench/RESULTS-outbox.md).  Every figure is a ratio between runs made in
# this one invocation; rounds are interleaved (reference, then paycons, in
# turn) and the median of the per-round ratios is reported.
#
#  trigger  Trigger overhead on a one-row UPDATE: no trigger vs the C
#           trigger paycons.outbox_trigger vs the same trigger in PL/pgSQL,
#           one pgbench run with the three scripts interleaved.
#  enqueue  100 events per transaction, 2 clients: paycons.emit() (with
#           paycons.outbox_notify on, and off) vs one plain INSERT of the
#           100 rows into an equivalent trigger-less table (plain_q).
#  drain    Batch 100, for each of EVENTS and CONSUMERS: plain
#           "DELETE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED
#           LIMIT 100) RETURNING" on plain_q vs paycons claim + ack, as two
#           transactions per batch (claim, then ack: drain_paycons.sql) and
#           as one (acknowledge the last batch and claim the next:
#           drain_paycons_1tx.sql); rotation on (outbox_maintain every
#           0.5 s, rotate interval 1 s) unless ROTATE=off.
#
# Env: PGHOST, PGPORT, PGUSER (a scratch cluster: the database bench_outbox
# is created and dropped).  SECTIONS (default "trigger enqueue drain"),
# ROUNDS (3), EVENTS ("200000 500000 1000000"), CONSUMERS ("1 2"),
# SECONDS_UPD (10), SECONDS_ENQ (10), ROTATE (on), VARIANTS ("2tx 1tx": which
# paycons drains to run; "1rt" instead of "1tx" sends the one-transaction turn
# as one query string, drain_paycons_1rt.sql, in the same column), WAITS (0;
# 1 samples the consumers' wait events during the drains), OUT.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/../RESULTS-outbox.md}
DB=bench_outbox
SECTIONS=${SECTIONS:-trigger enqueue drain}
ROUNDS=${ROUNDS:-3}
EVENTS=${EVENTS:-200000 500000 1000000}
CONSUMERS=${CONSUMERS:-1 2}
SECONDS_UPD=${SECONDS_UPD:-10}
SECONDS_ENQ=${SECONDS_ENQ:-10}
ROTATE=${ROTATE:-on}
VARIANTS=${VARIANTS:-2tx 1tx}
WAITS=${WAITS:-0}
PSQL="psql -X -q -At -v ON_ERROR_STOP=1 -d $DB"
TMP=$(mktemp -d)
MAINT=
cleanup() {
    [ -n "$MAINT" ] && kill "$MAINT" 2>/dev/null && wait "$MAINT" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
cd "$HERE"

dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB"
$PSQL -f setup.sql >/dev/null

now() { date +%s.%N; }
ratio() { printf "%.2f" "$(echo "scale=4; $1 / $2" | bc)"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
note_load() { echo "$(date -u +%H:%M:%S) load $(load) $*" >> "$TMP/load"; }

{
echo "# Outbox benchmarks"
echo
echo "Command: \`PGHOST=... PGPORT=... PGUSER=postgres SECTIONS=\"$SECTIONS\" ROUNDS=$ROUNDS EVENTS=\"$EVENTS\" CONSUMERS=\"$CONSUMERS\" ROTATE=$ROTATE VARIANTS=\"$VARIANTS\" WAITS=$WAITS bash bench/outbox/run.sh\`"
echo "($(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'), PostgreSQL $(psql -X -At -d "$DB" -c 'SHOW server_version'),"
echo "fsync $(psql -X -At -d "$DB" -c 'SHOW fsync'), synchronous_commit $(psql -X -At -d "$DB" -c 'SHOW synchronous_commit'); load average at start: $(load)."
echo "Every figure below comes from this one invocation.)"
echo
} > "$TMP/head"
: > "$TMP/body"

# ---- trigger overhead ----
if [[ " $SECTIONS " == *" trigger "* ]]; then
    note_load trigger
    upd=$(pgbench -n -d "$DB" -c 1 -T "$SECONDS_UPD" -f upd_none.sql -f upd_c.sql -f upd_plpg.sql 2>&1)
    lat() { echo "$upd" | awk -v s="$1" '$0 ~ "SQL script .*: " s {f=1} f && /latency average/ {print $5; exit}'; }
    l_none=$(lat upd_none.sql); l_c=$(lat upd_c.sql); l_plpg=$(lat upd_plpg.sql)
    o_c=$(echo "$l_c - $l_none" | bc -l); o_plpg=$(echo "$l_plpg - $l_none" | bc -l)
    cat >> "$TMP/body" <<MD
## Trigger overhead on a one-row UPDATE (pgbench -c 1 -T $SECONDS_UPD, three scripts interleaved)

| table | latency (ms) | overhead vs no trigger (ms) |
|---|---|---|
| no trigger | $l_none | - |
| C trigger \`paycons.outbox_trigger('item', 'id')\` | $l_c | $(printf %.3f "$o_c") |
| PL/pgSQL trigger (same row, same event, same NOTIFY) | $l_plpg | $(printf %.3f "$o_plpg") |

C trigger overhead / PL/pgSQL trigger overhead = **$(ratio "$o_c" "$o_plpg")** (target: at most 0.5).

MD
fi

# ---- enqueue ----
tps() { sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$1"; }
if [[ " $SECTIONS " == *" enqueue "* ]]; then
    : > "$TMP/enq"
    for r in $(seq 1 "$ROUNDS"); do
        note_load "enqueue round $r"
        pgbench -n -d "$DB" -c 2 -j 2 -T "$SECONDS_ENQ" -f enq_plain.sql > "$TMP/p" 2>&1
        PGOPTIONS="-c paycons.outbox_notify=on" pgbench -n -d "$DB" -c 2 -j 2 -T "$SECONDS_ENQ" -f enq_emit.sql > "$TMP/on" 2>&1
        PGOPTIONS="-c paycons.outbox_notify=off" pgbench -n -d "$DB" -c 2 -j 2 -T "$SECONDS_ENQ" -f enq_emit.sql > "$TMP/off" 2>&1
        echo "$r $(tps "$TMP/p") $(tps "$TMP/on") $(tps "$TMP/off")" >> "$TMP/enq"
        $PSQL -c "TRUNCATE plain_q" -c "TRUNCATE paycons.outbox"
    done
    {
        echo "## Enqueue, 100 events per transaction, 2 clients ($ROUNDS rounds of ${SECONDS_ENQ} s, interleaved)"
        echo
        echo "| round | plain INSERT tps | emit tps, notify on | emit tps, notify off | on / plain | off / plain |"
        echo "|---|---|---|---|---|---|"
        while read -r r p on off; do
            echo "| $r | $p | $on | $off | $(ratio "$on" "$p") | $(ratio "$off" "$p") |"
        done < "$TMP/enq"
        m_on=$(awk '{print $3 / $2}' "$TMP/enq" | median); m_off=$(awk '{print $4 / $2}' "$TMP/enq" | median)
        echo
        echo "Median ratio: notify on **$(printf %.2f "$m_on")**, notify off **$(printf %.2f "$m_off")** (target: at least 0.8)."
        echo
    } >> "$TMP/body"
fi

# ---- drain ----
drain() {     # script clients events -> "t0 t1"
    local t0 t1 left sampler=
    if [ "$WAITS" = 1 ]; then
        # what the consumers' backends are doing, every 20 ms: wait events
        # (none: running on CPU)
        ( while true; do
              psql -X -At -d "$DB" -c "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity WHERE application_name = 'pgbench' AND state = 'active'"
              sleep 0.02
          done ) >> "$TMP/waits.$(basename "$1" .sql)" 2>/dev/null &
        sampler=$!
    fi
    local l0 l1
    l0=$($PSQL -c "SELECT pg_current_wal_lsn()")
    t0=$(now)
    pgbench -n -d "$DB" -c "$2" -j "$2" -D ids=0 -t $(($3 / 100 / $2 + 20)) -f "$1" > "$TMP/drain.out" 2>&1 ||
        { cat "$TMP/drain.out" >&2; exit 1; }
    t1=$(now)
    l1=$($PSQL -c "SELECT pg_current_wal_lsn()")
    if [ -n "$sampler" ]; then kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true; fi
    # WAL bytes per event drained (maintenance passes included)
    echo "$(basename "$1" .sql) $3 $($PSQL -c "SELECT round(pg_wal_lsn_diff('$l1', '$l0') / $3)")" >> "$TMP/wal"
    echo "$t0 $t1"
}
fill() {      # table events
    $PSQL -c "TRUNCATE $1" -c "CALL fill('$1', $2)"
    $PSQL -c "VACUUM ANALYZE $1"
}
start_maint() {
    if [ "$ROTATE" = on ]; then
        ( while true; do
              $PSQL -c "SET paycons.outbox_rotate_interval = '1s'" -c "SELECT paycons.outbox_maintain()" >/dev/null
              sleep 0.5
          done ) &
        MAINT=$!
    fi
}
stop_maint() {
    if [ -n "$MAINT" ]; then
        kill "$MAINT" 2>/dev/null; wait "$MAINT" 2>/dev/null || true; MAINT=
    fi
}
rate() {      # "t0 t1" events left -> events/s
    echo "($2 - $3) / ($(echo "$1" | cut -d' ' -f2) - $(echo "$1" | cut -d' ' -f1))" | bc -l
}
if [[ " $SECTIONS " == *" drain "* ]]; then
    : > "$TMP/drain"
    for n in $EVENTS; do
        for c in $CONSUMERS; do
            for r in $(seq 1 "$ROUNDS"); do
                note_load "drain $n events, $c consumers, round $r"
                fill plain_q "$n"
                t=$(drain drain_plain.sql "$c" "$n")
                rp=$(rate "$t" "$n" "$($PSQL -c 'SELECT count(*) FROM plain_q')")
                r0=$($PSQL -c "SELECT rotations FROM paycons.outbox_rotation")
                r2=0; r1=0
                if [[ " $VARIANTS " == *" 2tx "* ]]; then
                    fill paycons.outbox "$n"
                    start_maint
                    t=$(drain drain_paycons.sql "$c" "$n")
                    stop_maint
                    r2=$(rate "$t" "$n" "$($PSQL -c 'SELECT count(*) FROM paycons.outbox')")
                fi
                if [[ " $VARIANTS " == *" 1tx "* ]]; then
                    fill paycons.outbox "$n"
                    start_maint
                    t=$(drain drain_paycons_1tx.sql "$c" "$n")
                    stop_maint
                    # the last batch of each consumer stays leased (never acknowledged)
                    r1=$(rate "$t" "$n" "$($PSQL -c "SELECT count(*) FROM paycons.outbox WHERE status <> 'leased'")")
                fi
                if [[ " $VARIANTS " == *" 1rt "* ]]; then
                    fill paycons.outbox "$n"
                    start_maint
                    t=$(drain drain_paycons_1rt.sql "$c" "$n")
                    stop_maint
                    r1=$(rate "$t" "$n" "$($PSQL -c "SELECT count(*) FROM paycons.outbox WHERE status <> 'leased'")")
                fi
                rot=$(( $($PSQL -c "SELECT rotations FROM paycons.outbox_rotation") - r0 ))
                echo "$n $c $r $rp $r2 $r1 $rot" >> "$TMP/drain"
            done
        done
    done
    {
        echo "## Drain, batch 100 (events over events/10 aggregates; rotation $ROTATE)"
        echo
        echo "| events | consumers | round | plain DELETE ... SKIP LOCKED, events/s | paycons claim, ack (2 transactions), events/s | ratio | paycons ack + next claim (1 transaction), events/s | ratio | rotations |"
        echo "|---|---|---|---|---|---|---|---|---|"
        cell() { if [ "$1" = 0 ]; then echo "- | -"; else echo "$(printf %.0f "$1") | $(ratio "$1" "$2")"; fi; }
        while read -r n c r rp r2 r1 rot; do
            echo "| $n | $c | $r | $(printf %.0f "$rp") | $(cell "$r2" "$rp") | $(cell "$r1" "$rp") | $rot |"
        done < "$TMP/drain"
        echo
        echo "Median ratios (target: at least 0.8):"
        echo
        echo "| events | consumers | claim, ack (2 transactions) / plain | ack + next claim (1 transaction) / plain |"
        echo "|---|---|---|---|"
        for n in $EVENTS; do
            for c in $CONSUMERS; do
                m2=$(awk -v n="$n" -v c="$c" '$1 == n && $2 == c && $5 > 0 {print $5 / $4}' "$TMP/drain" | median)
                m1=$(awk -v n="$n" -v c="$c" '$1 == n && $2 == c && $6 > 0 {print $6 / $4}' "$TMP/drain" | median)
                echo "| $n | $c | ${m2:+**$(printf %.2f "$m2")**} | ${m1:+**$(printf %.2f "$m1")**} |"
            done
        done
        echo
    } >> "$TMP/body"
fi

if [ -s "$TMP/wal" ]; then
    {
        echo "WAL bytes per event drained (median over the runs, maintenance included):"
        echo
        for v in $(cut -d' ' -f1 "$TMP/wal" | sort -u); do
            echo "- $v: $(awk -v v="$v" '$1 == v {print $3}' "$TMP/wal" | median)"
        done
        echo
    } >> "$TMP/body"
fi
if [ "$WAITS" = 1 ]; then
    {
        echo "## What the consumers' backends were doing during the drains (samples every 20 ms)"
        echo
        for f in "$TMP"/waits.*; do
            [ -f "$f" ] || continue
            echo "- ${f##*/waits.}: $(sort "$f" | uniq -c | sort -rn | awk -v t="$(wc -l < "$f")" '{printf "%s%s %.0f%%", (NR>1?", ":""), $2, 100*$1/t}')"
        done
        echo
    } >> "$TMP/body"
fi

{
    cat "$TMP/head" "$TMP/body"
    echo "## Machine load during the run (/proc/loadavg: 1, 5, 15 minutes)"
    echo
    sed 's/^/    /' "$TMP/load"
} > "$OUT"
dropdb "$DB"
cat "$OUT"
