#!/usr/bin/env bash
# bench/run.sh -- build paycons, start a throwaway cluster the way the tests
# do (test/lib.sh), run the benchmarks with short defaults, stop it.
#
# Usage: bash bench/run.sh [callbacks] [outbox] [worker]   (`make bench`: all)
#
# Each bench/NAME/run.sh writes its results where it always does
# (bench/RESULTS-NAME.md, overwritten); the console shows its output and
# this script ends with one line per benchmark ("ok" or "FAILED").  Every
# figure a benchmark reports is a ratio between runs made in this one
# invocation, on this one cluster.  The defaults are short, to check that
# the benchmarks run and to see the ratios roughly; the figures in
# bench/RESULTS.md come from longer runs with the commands given there.
#
# Environment knobs (defaults in brackets):
#   BENCH_FSYNC           fsync of the cluster, on or off [on]
#   callbacks: DURATION [5] seconds per pgbench run, ROUNDS [1],
#              CONFIGS ["off:2 off:8 on:2 on:8"] synchronous_commit:clients
#   outbox:    EVENTS [50000], SECONDS_UPD [5]
#   worker:    WORKER_SMALL [100000] and WORKER_LARGE [1000000] orders,
#              WORKER_RUNS [3]
# and any other knob the benchmark's own run.sh reads.
set -euo pipefail

# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../test/lib.sh"
cd "$REPO"

ALL_BENCHES=()
for d in bench/*/; do
	[[ -f $d/run.sh ]] && ALL_BENCHES+=("$(basename "$d")")
done
BENCHES=("$@")
for b in "${BENCHES[@]}"; do
	if [[ ! -f bench/$b/run.sh ]]; then
		echo "usage: bash bench/run.sh [${ALL_BENCHES[*]}]..." >&2
		echo "unknown benchmark: $b" >&2
		exit 1
	fi
done
((${#BENCHES[@]})) || BENCHES=("${ALL_BENCHES[@]}")

trap paycons_stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

paycons_ensure_packages
paycons_build_install
paycons_start_cluster

fsync=${BENCH_FSYNC:-on}
# As in production: the worker and the notifier serve the callback
# benchmark's database (paycons.database needs a restart; they connect
# within seconds of the database being created), the worker enabled.
psql -X -q -d postgres -c "ALTER SYSTEM SET fsync = $fsync" \
	-c "ALTER SYSTEM SET paycons.database = 'paycons_bench_callbacks'" \
	-c "ALTER SYSTEM SET paycons.enabled = on" >/dev/null
(cd / && paycons_as_cluster_user "$PAYCONS_PGBIN/pg_ctl" -D "$PAYCONS_DATA" \
	-l "$PAYCONS_PGLOG" -w -t 60 restart) >/dev/null
paycons_say "benchmarks: ${BENCHES[*]} (fsync = $(psql -X -At -d postgres -c 'SHOW fsync'))"

declare -A status
for b in "${BENCHES[@]}"; do
	paycons_say "bench/$b/run.sh"
	start=$SECONDS
	rc=0
	case $b in
	callbacks)
		DURATION=${DURATION:-5} ROUNDS=${ROUNDS:-1} bash "bench/$b/run.sh" || rc=$?
		;;
	outbox)
		EVENTS=${EVENTS:-50000} SECONDS_UPD=${SECONDS_UPD:-5} bash "bench/$b/run.sh" || rc=$?
		;;
	worker)
		bash "bench/$b/run.sh" "${WORKER_SMALL:-100000}" "${WORKER_LARGE:-1000000}" "${WORKER_RUNS:-3}" || rc=$?
		;;
	*)
		bash "bench/$b/run.sh" || rc=$?
		;;
	esac
	if ((rc == 0)); then
		status[$b]="ok      $b ($((SECONDS - start)) s)"
	else
		status[$b]="FAILED  $b (exit status $rc, $((SECONDS - start)) s)"
	fi
done

paycons_stop_cluster
echo "==== benchmarks ===="
failed=0
for b in "${BENCHES[@]}"; do
	echo "${status[$b]}"
	[[ ${status[$b]} == ok* ]] || failed=1
done
exit "$failed"
