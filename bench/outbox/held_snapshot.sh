#!/bin/bash
# bench/outbox/held_snapshot.sh -- a transaction holding an old snapshot
# (issue 13, item 4), and what it does to the outbox.
#
# Three scenarios of DURATION seconds each, interleaved ROUNDS times, in one
# invocation, under the same steady load: one client applying new payment
# callbacks (paycons.apply_callback, as bench/callbacks does: each writes an
# order.paid event), one outbox consumer (ack the last batch + claim the
# next, batch 100, waiting 10 ms when nothing was due: consumer_poll.sql),
# and the maintenance pass every 0.5 s (rotation interval
# 1 s):
#   none     nothing else runs
#   other    a REPEATABLE READ transaction reads another table, then holds
#            its snapshot for the whole scenario
#   outbox   the same transaction reads paycons.outbox instead (so it also
#            holds ACCESS SHARE locks on every segment it read)
# Reported per scenario: callbacks/s, events consumed/s, the outbox's size
# on disk (heap and indexes of every segment, read from the files so that
# measuring takes no lock), at the start, the largest seen and at the end,
# and its segments; then the ratios to "none" of the same round.
#
# Env: PGHOST, PGPORT, PGUSER (a scratch cluster: the database
# bench_held is created and dropped).  DURATION (default 20; the issue's
# case is 60), ROUNDS (1), OUT (default: print only).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DB=bench_held
DURATION=${DURATION:-20}
ROUNDS=${ROUNDS:-1}
PSQL="psql -X -q -At -v ON_ERROR_STOP=1 -d $DB"
TMP=$(mktemp -d)
PIDS=
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB"
POOL=$((DURATION * ROUNDS * 3 * 4000))
$PSQL <<SQL >/dev/null
SET client_min_messages = warning;
CREATE EXTENSION paycons;
SELECT paycons.set_channel('bench_c');
CREATE SCHEMA held;
CREATE SEQUENCE held.seq;
CREATE TABLE held.other AS SELECT g AS n FROM generate_series(1, 1000) g;
-- fixture: paying orders for every callback the runs can apply
ALTER TABLE paycons.orders DISABLE TRIGGER USER;
INSERT INTO paycons.orders (order_id, state, amount, currency, channel, pay_deadline)
SELECT 'H' || i, 'paying', 1000, 'CNY', 'bench', now() + interval '1 day'
  FROM generate_series(1, $POOL) i;
ALTER TABLE paycons.orders ENABLE TRIGGER USER;
VACUUM ANALYZE;
-- the outbox's size on disk without taking a lock on it
CREATE FUNCTION held.outbox_bytes() RETURNS bigint LANGUAGE sql AS \$\$
    SELECT coalesce(sum((pg_stat_file(pg_relation_filepath(r), true)).size), 0)::bigint
      FROM (SELECT i.inhrelid::regclass AS r FROM pg_inherits i
             WHERE i.inhparent = 'paycons.outbox'::regclass
            UNION ALL
            SELECT x.indexrelid::regclass FROM pg_inherits i JOIN pg_index x ON x.indrelid = i.inhrelid
             WHERE i.inhparent = 'paycons.outbox'::regclass) s
\$\$;
SQL
cat > "$TMP/callback.sql" <<'SQL'
SELECT r.outcome FROM (SELECT nextval('held.seq') AS n) s,
       LATERAL paycons.apply_callback('bench_c', 'T' || s.n, 'H' || s.n, 'payment', 'success', 1000, 'CNY') r;
SQL

tps() { sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$1"; }
ratio() { printf "%.2f" "$(echo "scale=4; $1 / $2" | bc)"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# scenario NAME -> "callbacks/s consumed/s bytes_start bytes_max bytes_end segments_end"
scenario() {
    local name=$1 holder= sampler= maint= n0 n1 c0 c1 b0
    $PSQL -c "SELECT paycons.outbox_maintain(force => true)" >/dev/null
    n0=$($PSQL -c "SELECT last_value FROM paycons.outbox_id_seq")
    c0=$($PSQL -c "SELECT count(*) FROM paycons.outbox")
    b0=$($PSQL -c "SELECT held.outbox_bytes()")
    case $name in
        other)  psql -X -q -d "$DB" -c "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM held.other; SELECT pg_sleep($DURATION + 1); COMMIT;" >/dev/null &
                holder=$! ;;
        outbox) psql -X -q -d "$DB" -c "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM paycons.outbox; SELECT pg_sleep($DURATION + 1); COMMIT;" >/dev/null &
                holder=$! ;;
    esac
    PIDS="$PIDS $holder"
    ( while true; do
          $PSQL -c "SET paycons.outbox_rotate_interval = '1s'" -c "SELECT paycons.outbox_maintain()" >/dev/null
          sleep 0.5
      done ) &
    maint=$!
    ( while true; do $PSQL -c "SELECT held.outbox_bytes()"; sleep 0.5; done ) > "$TMP/sizes" &
    sampler=$!
    PIDS="$PIDS $maint $sampler"
    sleep 0.5
    pgbench -n -d "$DB" -c 1 -T "$DURATION" -f "$TMP/callback.sql" > "$TMP/cb.out" 2>&1 &
    local cb=$!
    pgbench -n -d "$DB" -c 1 -T "$DURATION" -D ids=0 -f "$HERE/consumer_poll.sql" > "$TMP/dr.out" 2>&1 &
    local dr=$!
    wait "$cb" "$dr"
    kill "$maint" "$sampler" 2>/dev/null || true
    wait "$maint" "$sampler" 2>/dev/null || true
    [ -n "$holder" ] && wait "$holder"
    PIDS=
    n1=$($PSQL -c "SELECT last_value FROM paycons.outbox_id_seq")
    c1=$($PSQL -c "SELECT count(*) FROM paycons.outbox WHERE status <> 'leased'")
    echo "$(tps "$TMP/cb.out") $(echo "($n1 - $n0 - ($c1 - $c0)) / $DURATION" | bc -l) $b0 $(sort -n "$TMP/sizes" | tail -1) $($PSQL -c "SELECT held.outbox_bytes()") $($PSQL -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'paycons.outbox'::regclass") $c1"
}

echo "# held snapshot: DURATION=$DURATION ROUNDS=$ROUNDS, $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'), load $(load)"
: > "$TMP/res"
for r in $(seq 1 "$ROUNDS"); do
    for s in none other outbox; do
        echo "$r $s $(scenario "$s")" >> "$TMP/res"
        tail -1 "$TMP/res" >&2
    done
done
{
echo
echo "| round | held snapshot | callbacks/s | events consumed/s | outbox bytes at start | largest | at end | segments | backlog at end | callbacks vs none | consumed vs none | largest size vs none |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
while read -r r s cb co b0 bm be seg bl; do
    if [ "$s" = none ]; then ncb=$cb; nco=$co; nbm=$bm; fi
    echo "| $r | $s | $(printf %.0f "$cb") | $(printf %.0f "$co") | $b0 | $bm | $be | $seg | $bl | $(ratio "$cb" "$ncb") | $(ratio "$co" "$nco") | $(ratio "$bm" "$nbm") |"
done < "$TMP/res"
echo
echo "load at the end: $(load)"
} | tee "${OUT:-/dev/null}"
dropdb "$DB"
