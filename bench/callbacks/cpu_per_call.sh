#!/usr/bin/env bash
# bench/callbacks/cpu_per_call.sh -- backend CPU time per new callback and per
# replay, for apply_callback (C), the PL/pgSQL reference and the floor, read
# from /proc/<backend pid>/stat (utime + stime) around N calls made in one
# session, one transaction per call.  CPU time, unlike tps, barely depends on
# what else the machine is doing; run it on the database bench/callbacks/run.sh
# set up (setup.sh), after pool.sh has made fresh paying orders.
#
#   PGHOST=... PGPORT=... N=2000 ROUNDS=3 [PATHS="new replay"] [VARIANTS="c plpgsql floor"] \
#     bash bench/callbacks/cpu_per_call.sh [DB]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DB=${1:-${BENCH_DB:-paycons_bench_callbacks}}
N=${N:-2000}
ROUNDS=${ROUNDS:-3}

# cpu VARIANT PATH -> microseconds of backend CPU per call
cpu() {
	local v=$1 path=$2 script
	script=$here/${path}_${v}.sql
	# pgbench with one client runs the script N times in one backend; the
	# backend's pid comes from the first transaction
	PGOPTIONS="-c synchronous_commit=off" pgbench -n -M prepared -c 1 -t "$N" \
		-f <(echo "\\set pid_probe 1"; cat "$script") "$DB" >/dev/null 2>&1 &
	local pgb=$! pid="" t0 t1
	for _ in $(seq 1 200); do
		pid=$(psql -X -At -d "$DB" -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' AND datname = current_database() LIMIT 1")
		[[ -n $pid ]] && break
		sleep 0.01
	done
	t0=$(awk '{print $1}' "/proc/$pid/schedstat" 2>/dev/null || echo 0)
	local last=$t0
	while kill -0 "$pgb" 2>/dev/null; do
		last=$(awk '{print $1}' "/proc/$pid/schedstat" 2>/dev/null || echo "$last")
		sleep 0.02
	done
	wait "$pgb"
	t1=$last
	awk -v a="$t0" -v b="$t1" -v n="$N" 'BEGIN { printf "%.0f\n", (b - a) / n / 1e3 }'
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "# backend CPU per call, microseconds (N=$N per run, median of $ROUNDS)"
for path in ${PATHS:-new replay}; do
	for v in ${VARIANTS:-c plpgsql floor}; do
		for r in $(seq 1 "$ROUNDS"); do
			[[ $path == new ]] && bash "$here/pool.sh" "$DB" "${v:0:1}" "$N" >/dev/null
			cpu "$v" "$path"
		done | median | sed "s/^/$path $v /"
	done
done
