#!/usr/bin/env bash
# bench/callbacks/cpu.sh -- backend CPU time per callback, C vs PL/pgSQL vs
# floor, new-callback and replay paths.  A supplement to run.sh's pgbench
# figures for a machine shared with other work, where tps mostly measures
# the scheduler: here one backend runs a procedure that applies NEW (or
# REPLAY) callbacks, one transaction each (COMMIT per callback,
# synchronous_commit off), and reads its own utime+stime from
# /proc/self/stat (superuser, Linux) before and after.  Rounds alternate
# the variants; the median is reported.
#
#   PGHOST=... PGPORT=... PGUSER=... bash bench/callbacks/cpu.sh   (after setup.sh / run.sh, same DB)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DB=${BENCH_DB:-paycons_bench_callbacks}
NEW=${NEW:-20000}
REPLAY=${REPLAY:-100000}
ROUNDS=${ROUNDS:-3}
q() { PGOPTIONS="-c synchronous_commit=off" psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB" "$@"; }

q <<'SQL'
-- fields after "(comm) ": state is 1, so utime/stime (14, 15 of the whole
-- line) are 12 and 13 here
CREATE OR REPLACE FUNCTION paycons_bench.cpu_ticks() RETURNS bigint LANGUAGE sql AS
$$ SELECT split_part(s, ' ', 12)::bigint + split_part(s, ' ', 13)::bigint
     FROM (SELECT substr(t, strpos(t, ') ') + 2) AS s
             FROM pg_read_file('/proc/self/stat') t) x $$;

CREATE OR REPLACE PROCEDURE paycons_bench.cpu_loop(variant text, path text, n int,
                                                   INOUT ticks bigint DEFAULT NULL,
                                                   INOUT wall_ms numeric DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    t0 bigint; w0 timestamptz; k bigint; r record;
BEGIN
    t0 := paycons_bench.cpu_ticks();
    w0 := clock_timestamp();
    FOR i IN 1..n LOOP
        IF path = 'new' THEN
            IF variant = 'c' THEN
                k := nextval('paycons_bench.seq_c');
                SELECT * INTO r FROM paycons.apply_callback('bench_c', 'T' || k, 'C' || k, 'payment', 'success', 1000, 'CNY');
            ELSIF variant = 'plpgsql' THEN
                k := nextval('paycons_bench.seq_p');
                SELECT * INTO r FROM paycons_bench.apply_callback_plpgsql('bench_p', 'T' || k, 'P' || k, 'payment', 'success', 1000, 'CNY');
            ELSE
                k := nextval('paycons_bench.seq_f');
                WITH ins AS (
                    INSERT INTO paycons_bench.callbacks (channel, channel_txn_id, order_id, kind, status, amount,
                                                         currency, outcome, state, applied_at, source)
                    VALUES ('bench_f', 'T' || k, 'F' || k, 'payment', 'success', 1000, 'CNY',
                            'applied', 'paid', now(), 'callback')
                    ON CONFLICT (channel, channel_txn_id) DO NOTHING
                    RETURNING order_id, channel_txn_id, received_at),
                upd AS (
                    UPDATE paycons_bench.orders o
                       SET state = 'paid', paid_amount = o.paid_amount + 1000, channel = 'bench_f',
                           channel_txn_id = ins.channel_txn_id, updated_at = now(), state_changed_at = now()
                      FROM ins
                     WHERE o.order_id = ins.order_id AND o.state::text = 'paying'
                    RETURNING o.*),
                hist AS (
                    INSERT INTO paycons_bench.order_history (order_id, table_name, from_state, to_state, reason, actor)
                    SELECT upd.order_id, 'paycons.orders', 'paying', 'paid', 'callback bench_f ' || upd.channel_txn_id, current_user
                      FROM upd),
                evt AS (
                    INSERT INTO paycons_bench.outbox (aggregate_type, aggregate_id, event_type, payload)
                    SELECT 'order', upd.order_id, 'order.paid', to_jsonb(upd) FROM upd)
                SELECT 'applied' AS outcome, ins.received_at INTO r FROM ins;
            END IF;
        ELSE
            k := 1 + (random() * ((SELECT paid FROM paycons_bench.settings) - 1))::int;
            IF variant = 'c' THEN
                SELECT * INTO r FROM paycons.apply_callback('bench_c', 'R' || k, 'RC' || k, 'payment', 'success', 1000, 'CNY');
            ELSIF variant = 'plpgsql' THEN
                SELECT * INTO r FROM paycons_bench.apply_callback_plpgsql('bench_c', 'R' || k, 'RC' || k, 'payment', 'success', 1000, 'CNY');
            ELSE
                WITH ins AS (
                    INSERT INTO paycons_bench.callbacks (channel, channel_txn_id, order_id, kind, status, amount,
                                                         currency, outcome, state, applied_at, source)
                    VALUES ('bench_f', 'R' || k, 'RF' || k, 'payment', 'success', 1000, 'CNY',
                            'applied', 'paid', now(), 'callback')
                    ON CONFLICT (channel, channel_txn_id) DO NOTHING
                    RETURNING received_at)
                SELECT i.outcome, i.received_at INTO r
                  FROM paycons_bench.callbacks i
                 WHERE i.channel = 'bench_f' AND i.channel_txn_id = 'R' || k AND NOT EXISTS (SELECT 1 FROM ins);
            END IF;
        END IF;
        COMMIT;
    END LOOP;
    ticks := paycons_bench.cpu_ticks() - t0;
    wall_ms := round(extract(epoch FROM clock_timestamp() - w0) * 1000, 1);
END;
$$;
SQL

hz=$(getconf CLK_TCK)
res=$(mktemp)
for path in new replay; do
    n=$NEW; [ "$path" = replay ] && n=$REPLAY
    for r in $(seq 1 "$ROUNDS"); do
        for v in c plpgsql floor; do
            [ "$path" = new ] && bash "$here/pool.sh" "$DB" "${v:0:1}" $((n + 100))
            out=$(q -c "CALL paycons_bench.cpu_loop('$v', '$path', $n)")
            ticks=${out%%|*}; wall=${out##*|}
            echo "$path $v $n $ticks $wall" >> "$res"
        done
    done
done
echo "| path | C µs CPU/callback | PL/pgSQL | floor | C / floor (speed) | C / PL/pgSQL (speed) |"
echo "|---|---|---|---|---|---|"
for path in new replay; do
    med() { awk -v p=$path -v v=$1 -v hz=$hz '$1==p && $2==v {print $4 * 1e6 / hz / $3}' "$res" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    c=$(med c); p=$(med plpgsql); f=$(med floor)
    awk -v path=$path -v c=$c -v p=$p -v f=$f 'BEGIN { printf "| %s | %.1f | %.1f | %.1f | %.2f | %.2f |\n", path, c, p, f, f / c, p / c }'
done
echo
echo "Raw (path variant callbacks cpu_ticks@${hz}Hz wall_ms):"
echo
sed 's/^/    /' "$res"
rm -f "$res"
