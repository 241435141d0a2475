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

measure() {
	local size=$1
	echo "== $size orders"
	"${PSQL[@]}" -v target="$size" -f load.sql
	"${PSQL[@]}" -f explain.sql
	for kind in "query:1h" "close:0"; do
		local name=${kind%%:*} grace=${kind#*:}
		local times=()
		for _ in $(seq "$RUNS"); do
			out=$(pass "$grace")
			echo "  $name: $out"
			times+=("${out%% ms*}")
		done
		printf '%s\n' "${times[@]}" | median >"/tmp/bench_worker_${name}_${size}"
		echo "  $name median: $(cat "/tmp/bench_worker_${name}_${size}") ms"
	done
}

measure "$SMALL"
measure "$LARGE"
for name in query close; do
	s=$(cat "/tmp/bench_worker_${name}_${SMALL}")
	l=$(cat "/tmp/bench_worker_${name}_${LARGE}")
	echo "ratio $name pass ${LARGE}/${SMALL}: $(awk -v l="$l" -v s="$s" 'BEGIN {printf "%.2f", l / s}')"
done

echo "== compensation throughput"
for _ in 1 2 3; do
	"${PSQL[@]}" -v n=10000 -f throughput.sql | tail -3
done
