#!/usr/bin/env bash
# test/soak.sh -- `make soak`: a bounded soak under mixed load.
#
# Builds and installs paycons and starts the throwaway cluster of the test
# harness (test/lib.sh), turns the background worker on (naptime 1s), and
# runs for SOAK_MINUTES (default 10) a pgbench mix of the scripts in
# test/soak/: new orders (some reserving stock, some never paying, some with
# a 3-second deadline), payments (short ones going to review, failure
# notices, second payments), replays of older notices (some with
# conflicting facts), refunds (some before their payment: over-refunds),
# forged notices, an operator resolving reviews, orders moving on to
# shipped and completed, a consumer claiming and acknowledging events
# (nacking 5%, answering refund commands with the channel's refund
# callback), and maintenance by hand besides the worker.
#
# Every minute: paycons.verify() over everything and over the last two
# minutes (its violations and its duration are logged), and the size of
# every paycons table with its indexes.  At the end the run fails if
#   - verify() reported anything, at any minute or at the end;
#   - a pgbench client failed;
#   - growth is unbounded: the tables that do not grow with the number of
#     orders (the outbox partitions, order_probes, stock, channels,
#     retry_policies, outbox_rotation) are, in the second half of the run,
#     larger than twice their largest size in the first half plus 1 MB; or
#     the tables that hold one set of rows per order (orders, history,
#     callbacks, conflicts, compensations, stock reservations) take more
#     than 1.5 times the bytes per order at the end than at minute 2 (or
#     the first sample, in a shorter run).
#
# Environment: SOAK_MINUTES (default 10), SOAK_CLIENTS (default 6),
# SOAK_RATE (pgbench transactions per second over all clients, default
# 150), plus PAYCONS_PGBIN / PAYCONS_PGXS as for test/run.sh.  Output and
# figures: tmp_check/soak/ (sizes.csv, verify.log, pgbench.log, summary).

set -euo pipefail

# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

MINUTES=${SOAK_MINUTES:-10}
CLIENTS=${SOAK_CLIENTS:-6}
RATE=${SOAK_RATE:-150}
[[ $MINUTES =~ ^[1-9][0-9]*$ ]] || { paycons_err "SOAK_MINUTES must be a positive integer"; exit 1; }

trap paycons_stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

paycons_ensure_packages
paycons_build_install
paycons_start_cluster

OUT=$PAYCONS_CHECK_DIR/soak
rm -rf "$OUT"
mkdir -p "$OUT"

q() { psql -X -q -v ON_ERROR_STOP=1 -At -d postgres "$@"; }

# The worker serves database postgres (paycons.database's default).
q -c "ALTER SYSTEM SET paycons.enabled = on" \
	-c "ALTER SYSTEM SET paycons.naptime = '1s'" \
	-c "ALTER SYSTEM SET paycons.stuck_grace = '5s'" \
	-c "ALTER SYSTEM SET paycons.refund_stuck_after = '30s'" \
	-c "SELECT pg_reload_conf()" >/dev/null
q -f test/soak/setup.sql >/dev/null

# The relations measured, by group (tables with their indexes and TOAST).
SIZES_SQL="
SELECT c.relname, pg_total_relation_size(c.oid)
  FROM pg_class c
 WHERE c.relnamespace = 'paycons'::regnamespace AND c.relkind = 'r'
 ORDER BY 1"

# sample MINUTE: verify() (all, and the last two minutes) and the sizes.
sample() {
	local minute=$1 t0 t1 t2 all recent orders live
	t0=$(date +%s.%N)
	all=$(q -c "SELECT count(*) || coalesce(': ' || string_agg(invariant || ' ' || key || ' ' || detail, '; '), '')
	            FROM (SELECT * FROM paycons.verify() LIMIT 20) v")
	t1=$(date +%s.%N)
	recent=$(q -c "SELECT count(*) FROM paycons.verify(now() - interval '2 minutes')")
	t2=$(date +%s.%N)
	orders=$(q -c "SELECT last_value FROM soak_order_seq")
	live=$(q -c "SELECT count(*) FROM paycons.outbox")
	printf '%s minute %d: orders %s, live events %s, verify() %s (%.2fs), verify(2 min) %s (%.2fs)\n' \
		"$(date -u +%H:%M:%S)" "$minute" "$orders" "$live" "$all" "$(awk "BEGIN { print $t1 - $t0 }")" \
		"$recent" "$(awk "BEGIN { print $t2 - $t1 }")" | tee -a "$OUT/verify.log"
	[[ $all == 0 && $recent == 0 ]] || echo "$minute" >>"$OUT/violations"
	q -F, -c "$SIZES_SQL" | sed "s/^/$minute,$orders,$live,/" >>"$OUT/sizes.csv"
}

paycons_say "soak: $MINUTES minute(s), $CLIENTS clients, $RATE transactions/s (output: ${OUT#"$REPO"/})"
echo "minute,orders,live_events,relation,bytes" >"$OUT/sizes.csv"
sample 0

pgbench_rc=0
pgbench -n -c "$CLIENTS" -j 2 -T $((MINUTES * 60)) -R "$RATE" --max-tries=10 \
	--progress=60 postgres \
	-f test/soak/order.sql@10 -f test/soak/pay.sql@12 -f test/soak/replay.sql@5 \
	-f test/soak/refund.sql@3 -f test/soak/forge.sql@2 -f test/soak/consume.sql@8 \
	-f test/soak/review.sql@1 -f test/soak/progress.sql@3 -f test/soak/maintenance.sql@1 \
	>"$OUT/pgbench.log" 2>&1 &
PGBENCH_PID=$!
trap 'kill $PGBENCH_PID 2>/dev/null || true; paycons_stop_cluster' EXIT

start=$(date +%s)
for ((m = 1; m <= MINUTES; m++)); do
	while (($(date +%s) < start + 60 * m)); do sleep 1; done
	sample "$m"
done
wait "$PGBENCH_PID" || pgbench_rc=$?
trap paycons_stop_cluster EXIT

# The end: let the consumer and the worker catch up, then audit once more.
for _ in $(seq 1 30); do
	q -c "SELECT soak_consume('soak-end', 0)" >/dev/null
	[[ $(q -c "SELECT count(*) FROM paycons.outbox WHERE status <> 'dead'") == 0 ]] && break
	sleep 1
done
sample $((MINUTES + 1))

# ---- figures and bounds ----
failed=0
echo "==== soak summary ====" | tee "$OUT/summary"
{
	echo "duration: $MINUTES minute(s), $CLIENTS clients, rate $RATE/s"
	grep -E '^(number of transactions actually processed|number of failed transactions|latency average|tps)' "$OUT/pgbench.log" || true
	q -c "SELECT 'orders ' || sum(n) || ': ' || string_agg(state || ' ' || n, ', ' ORDER BY state)
	        FROM (SELECT state::text, count(*) n FROM paycons.orders GROUP BY 1) s"
	q -c "SELECT 'callbacks ' || sum(n) || ': ' || string_agg(outcome || ' ' || n, ', ' ORDER BY outcome)
	        FROM (SELECT outcome, count(*) n FROM paycons.callbacks GROUP BY 1) s"
	q -c "SELECT 'forged notices refused: ' || bad_signatures FROM paycons.channels WHERE channel = 'soak_signed'"
	q -c "SELECT 'conflicts: ' || count(*) FROM paycons.callback_conflicts"
	q -c "SELECT 'reviews resolved: ' || count(*) FROM paycons.order_history WHERE reason LIKE 'review %'"
	q -c "SELECT 'compensations: ' || string_agg(k || ' ' || n, ', ' ORDER BY k)
	        FROM (SELECT split_part(action, ':', 1) || '/' || state AS k, count(*) n
	                FROM paycons.compensations GROUP BY 1) s"
	q -c "SELECT 'closed by the worker: ' || count(*) FROM paycons.order_history WHERE reason LIKE 'paycons: no payment%'"
	q -c "SELECT 'outbox rotations: ' || rotations FROM paycons.outbox_rotation"
	q -c "SELECT 'worker passes: ' || passes || ', item errors: ' || item_errors FROM paycons.stats()"
} | tee -a "$OUT/summary"

if ((pgbench_rc != 0)) || grep -q 'aborted' "$OUT/pgbench.log"; then
	echo "FAIL: pgbench exited with status $pgbench_rc or a client aborted:" | tee -a "$OUT/summary"
	tail -n 20 "$OUT/pgbench.log"
	failed=1
fi
if [[ -s $OUT/violations ]]; then
	echo "FAIL: verify() reported violations at minute(s) $(paste -sd, "$OUT/violations") (see $OUT/verify.log)" |
		tee -a "$OUT/summary"
	failed=1
else
	echo "verify(): 0 violations at all $((MINUTES + 2)) samples" | tee -a "$OUT/summary"
fi

# Bounds, from sizes.csv.
bounds=$(awk -F, -v last=$((MINUTES + 1)) -v minutes="$MINUTES" '
	NR == 1 { next }
	{
		m = $1; rel = $4; bytes = $5; orders[m] = $2
		bounded = (rel ~ /^outbox_[0-9]$/ || rel == "order_probes" || rel == "stock" ||
		           rel == "channels" || rel == "retry_policies" || rel == "outbox_rotation")
		perorder = (rel == "orders" || rel == "order_history" || rel == "callbacks" ||
		            rel == "callback_conflicts" || rel == "compensations" ||
		            rel == "stock_orders" || rel == "stock_reservations")
		if (bounded) b[m] += bytes
		if (perorder) p[m] += bytes
	}
	END {
		half = int(minutes / 2); if (half < 1) half = 1
		first = 0; second = 0
		for (m = 1; m <= last; m++) {
			if (m <= half) { if (b[m] > first) first = b[m] }
			else if (b[m] > second) second = b[m]
		}
		ref = (minutes >= 2) ? 2 : 1
		bpo_ref = p[ref] / orders[ref]; bpo_end = p[last] / orders[last]
		ok1 = (second <= 2 * first + 1048576)
		ok2 = (bpo_end <= 1.5 * bpo_ref)
		printf "bounded tables: largest %.1f MB in minutes 1-%d, %.1f MB after (bound %.1f MB): %s\n",
			first / 1048576, half, second / 1048576, (2 * first + 1048576) / 1048576, ok1 ? "ok" : "EXCEEDED"
		printf "per-order tables: %.0f bytes/order at minute %d, %.0f at the end (%d orders; bound %.0f): %s\n",
			bpo_ref, ref, bpo_end, orders[last], 1.5 * bpo_ref, ok2 ? "ok" : "EXCEEDED"
		exit !(ok1 && ok2)
	}' "$OUT/sizes.csv") || failed=1
echo "$bounds" | tee -a "$OUT/summary"
echo "sizes per minute: ${OUT#"$REPO"/}/sizes.csv" | tee -a "$OUT/summary"

paycons_stop_cluster
if ((failed)); then
	echo "soak: FAILED"
	exit 1
fi
echo "soak: passed"
