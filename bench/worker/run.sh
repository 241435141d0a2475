#!/usr/bin/env bash
# bench/worker/run.sh -- maintenance pass cost at 1M and 10M orders (1000
# stuck), and compensation retry throughput.  One invocation, one cluster:
# the ratios compare runs made here, in this invocation.
#
#   PGHOST=... PGPORT=... PGUSER=postgres bash bench/worker/run.sh [small] [large] [runs]
#
# Creates (drops) database bench_worker.  Defaults: 1000000 10000000 5.
set -euo pipefail
cd "$(dirname "$0")"
SMALL=${1:-1000000}
LARGE=${2:-10000000}
RUNS=${3:-5}
DB=bench_worker
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d "$DB")

dropdb --if-exists "$DB"
createdb "$DB"
"${PSQL[@]}" -f setup.sql

# pass: time one run_maintenance() in ms (server side), after resetting the stuck orders
pass() {
	local grace=$1
	"${PSQL[@]}" -f reset_stuck.sql >/dev/null
	"${PSQL[@]}" -At <<SQL
SET paycons.stuck_grace = '$grace';
SELECT clock_timestamp() AS t0 \gset
SELECT paycons.run_maintenance() AS r \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0') * 1000, 1) || ' ms ' || :'r';
SQL
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
minimum() { sort -n | head -1; }

measure() {
	local size=$1
	echo "== $size orders"
	"${PSQL[@]}" -v target="$size" -f load.sql
	"${PSQL[@]}" -f explain.sql
	"${PSQL[@]}" -f reset_stuck.sql >/dev/null
	echo "  buffers read by the close candidates query (EXPLAIN ANALYZE, BUFFERS):"
	"${PSQL[@]}" -At -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT o.order_id FROM paycons.orders o WHERE o.state OPERATOR(paycons.=) 'paying'::paycons.order_state AND o.pay_deadline <= now() ORDER BY o.pay_deadline LIMIT 1000" | sed 's/^/    /'
	for kind in "query:1d" "close:0"; do
		local name=${kind%%:*} grace=${kind#*:}
		local times=()
		for _ in $(seq "$RUNS"); do
			out=$(pass "$grace")
			echo "  $name: $out"
			times+=("${out%% ms*}")
		done
		printf '%s\n' "${times[@]}" | median >"/tmp/bench_worker_${name}_${size}"
		printf '%s\n' "${times[@]}" | minimum >"/tmp/bench_worker_${name}_${size}_min"
		echo "  $name median: $(cat "/tmp/bench_worker_${name}_${size}") ms, min: $(cat "/tmp/bench_worker_${name}_${size}_min") ms"
	done
}

measure "$SMALL"
measure "$LARGE"
for name in query close; do
	for stat in "" _min; do
		s=$(cat "/tmp/bench_worker_${name}_${SMALL}${stat}")
		l=$(cat "/tmp/bench_worker_${name}_${LARGE}${stat}")
		echo "ratio $name pass${stat:-_median} ${LARGE}/${SMALL}: $(awk -v l="$l" -v s="$s" 'BEGIN {printf "%.2f", l / s}')"
	done
done

echo "== compensation throughput"
for _ in 1 2 3; do
	"${PSQL[@]}" -v n=10000 -f throughput.sql | tail -3
done
