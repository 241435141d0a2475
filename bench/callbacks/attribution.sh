#!/usr/bin/env bash
# bench/callbacks/attribution.sh -- where the new-callback path's CPU goes:
# backend CPU per callback (cpu.sh's procedure) for the floor, and for the
# C path with all of paycons.orders' triggers, with the guard only (the
# AFTER history and outbox triggers disabled), and with no trigger.  Uses
# whichever outbox emission is installed (interim, or lean_outbox.sql).
# Run after cpu.sh (it creates the procedure).  Rounds alternate; median.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DB=${BENCH_DB:-paycons_bench_callbacks}
N=${N:-10000}
ROUNDS=${ROUNDS:-3}
q() { PGOPTIONS="-c synchronous_commit=off" psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB" "$@"; }
hz=$(getconf CLK_TCK)
res=$(mktemp)
trap 'q -c "ALTER TABLE paycons.orders ENABLE TRIGGER USER"; rm -f "$res"' EXIT
for r in $(seq 1 "$ROUNDS"); do
    for cfg in floor c_all c_guard c_none; do
        v=c; [ $cfg = floor ] && v=floor
        bash "$here/pool.sh" "$DB" "${v:0:1}" $((N + 100))   # (re-enables the triggers)
        q -c "ALTER TABLE paycons.orders ENABLE TRIGGER USER"
        case $cfg in
          c_guard) q -c "ALTER TABLE paycons.orders DISABLE TRIGGER paycons_history_update; ALTER TABLE paycons.orders DISABLE TRIGGER paycons_outbox_update" ;;
          c_none)  q -c "ALTER TABLE paycons.orders DISABLE TRIGGER USER" ;;
        esac
        out=$(q -c "CALL paycons_bench.cpu_loop('$v', 'new', $N)")
        echo "$cfg ${out%%|*}" >> "$res"
    done
done
bad=$(q -c "SELECT count(*) FROM paycons.callbacks WHERE channel = 'bench_c' AND outcome <> 'applied'")
echo "| configuration | µs CPU per new callback (median of $ROUNDS × $N) |"
echo "|---|---|"
for cfg in floor c_all c_guard c_none; do
    awk -v c=$cfg -v hz=$hz -v n=$N '$1==c {print $2 * 1e6 / hz / n}' "$res" | sort -n |
        awk -v c=$cfg '{a[NR]=$1} END {printf "| %s | %.1f |\n", c, a[int((NR+1)/2)]}'
done
echo
echo "(callbacks of bench_c not applied in this database: $bad -- must be 0 for the figures to count)"
