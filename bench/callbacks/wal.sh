#!/usr/bin/env bash
# bench/callbacks/wal.sh -- WAL written per applied callback, C vs PL/pgSQL
# vs floor: each variant applies TXNS new callbacks (one client, fixed
# count, after a warm-up of the same size); the WAL between two LSNs is
# measured with pg_current_wal_lsn() and, where pg_waldump can read the
# cluster's pg_wal (run it as the cluster's OS user or root), split into
# record bytes and full-page images.
#
#   PGHOST=... PGPORT=... PGUSER=... bash bench/callbacks/wal.sh  (after run.sh, same DB)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DB=${BENCH_DB:-paycons_bench_callbacks}
TXNS=${TXNS:-5000}
q() { psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB" "$@"; }
waldir=$(q -c "SHOW data_directory")/pg_wal
waldump=$(dirname "$(command -v pgbench)")/pg_waldump
tli=$(q -c "SELECT timeline_id FROM pg_control_checkpoint()")

echo "| variant | txns | WAL bytes/txn (all) | record bytes/txn (no FPI) | FPI bytes/txn |"
echo "|---|---|---|---|---|"
for v in c plpgsql floor; do
    bash "$here/pool.sh" "$DB" "${v:0:1}" $((TXNS * 2 + 100))
    q -c "VACUUM" >/dev/null
    pgbench -n -M prepared -c 1 -t "$TXNS" -f "$here/new_$v.sql" "$DB" >/dev/null   # warm-up
    q -c "SELECT pg_switch_wal()" >/dev/null
    before=$(q -c "SELECT pg_current_wal_lsn()")
    pgbench -n -M prepared -c 1 -t "$TXNS" -f "$here/new_$v.sql" "$DB" >/dev/null
    after=$(q -c "SELECT pg_current_wal_lsn()")
    all=$(q -c "SELECT round(pg_wal_lsn_diff('$after', '$before') / $TXNS)")
    rec="n/a"; fpi="n/a"
    if [ -x "$waldump" ] && [ -r "$waldir" ]; then
        q -c "SELECT pg_switch_wal()" >/dev/null
        line=$("$waldump" -p "$waldir" -t "$tli" -s "$before" -e "$after" --stats 2>/dev/null | grep '^Total' || true)
        # Total  <n>  <record bytes> [pct]  <fpi bytes> [pct]  <total> [100%]
        rec=$(echo "$line" | awk -v n="$TXNS" '{printf "%d", $3 / n}')
        fpi=$(echo "$line" | awk -v n="$TXNS" '{printf "%d", $5 / n}')
    fi
    echo "| $v | $TXNS | $all | $rec | $fpi |"
done
