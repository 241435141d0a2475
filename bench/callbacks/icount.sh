#!/usr/bin/env bash
# bench/callbacks/icount.sh -- instructions per new callback and per replay
# for apply_callback (C), the PL/pgSQL reference and the floor, counted by
# valgrind (callgrind) in a single-user backend.  Unlike time, an
# instruction count does not depend on what else the machine runs, so it
# can tell apart two builds whose difference is smaller than the noise of a
# shared machine (A/B: run it once per build, LIB=/path/to/paycons.so).
# It ignores cache misses, lock waits and WAL flushes: it complements the
# pgbench figures, it does not replace them.
#
#   [N=300] [LIB=...] [KEEP=1] bash bench/callbacks/icount.sh
#
# KEEP=1 keeps bench/tmp/icount, with the callgrind files (cg.PATH.VARIANT.COUNT)
# for callgrind_annotate.
#
# Makes its own throwaway cluster under bench/tmp/icount (run as user
# postgres), builds the benchmark database with setup.sh, stops the server,
# then for each variant runs a single-user backend twice under callgrind,
# with N and 3N statements, and prints (count(3N) - count(N)) / 2N: the
# instructions of one call, start-up and shutdown cancelled out.  In
# single-user mode no background worker runs: a transaction that writes an
# event queues its NOTIFY itself (paycons.outbox_notify fallback), the same
# for every build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
N=${N:-300}
BIN=${PAYCONS_PGBIN:-$(pg_config --bindir)}
dir=$here/../tmp/icount
port=${ICOUNT_PORT:-55433}
db=paycons_bench_icount
command -v valgrind >/dev/null || apt-get install -y valgrind >/dev/null

if [ -n "${LIB:-}" ]; then
	lib=$("$BIN/pg_config" --pkglibdir)
	cp "$LIB" "$lib/.paycons.so.icount" && mv "$lib/.paycons.so.icount" "$lib/paycons.so"
fi

as_pg() { runuser -u postgres -- "$@"; }
rm -rf "$dir"; mkdir -p "$dir"; chown postgres "$dir"
as_pg "$BIN/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
cat >> "$dir/data/postgresql.conf" <<EOF
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
shared_preload_libraries = 'paycons'
paycons.enabled = off
synchronous_commit = off
jit = off
EOF
as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/log" start -w >/dev/null
export PGHOST=$dir PGPORT=$port PGUSER=postgres
ORDERS=20000 PAID=10000 bash "$here/setup.sh" "$db" 2>&1 | grep -v NOTICE || true
for v in c p f; do bash "$here/pool.sh" "$db" "$v" $((4 * N + 100)) >/dev/null; done
psql -X -q -d "$db" -c "CHECKPOINT"
as_pg "$BIN/pg_ctl" -D "$dir/data" stop -w >/dev/null

# script PATH VARIANT COUNT FIRST: the statement prepared once (as pgbench
# -M prepared does), then COUNT executions, one per line
script() {
	local path=$1 v=$2 count=$3 first=$4 i stmt
	stmt=$(grep -v '^\\set' "$here/${path}_${v}.sql" | tr '\n' ' ')
	if [[ $stmt == *:r* ]]; then
		echo "PREPARE s(int) AS ${stmt//:r/\$1}"
		for ((i = 0; i < count; i++)); do
			echo "EXECUTE s($(( (first + i) % 10000 + 1 )))"
		done
	else
		echo "PREPARE s AS $stmt"
		for ((i = 0; i < count; i++)); do echo "EXECUTE s"; done
	fi
}

# instructions PATH VARIANT COUNT FIRST
instructions() {
	local out=$dir/cg.$1.$2.$3
	script "$@" > "$dir/in.sql"
	chown postgres "$dir/in.sql"
	as_pg valgrind --tool=callgrind --callgrind-out-file="$out" --trace-children=no \
		"$BIN/postgres" --single -D "$dir/data" "$db" < "$dir/in.sql" > "$dir/single.out" 2>&1
	if grep -q "ERROR" "$dir/single.out"; then grep -m3 ERROR "$dir/single.out" >&2; exit 1; fi
	sed -n 's/^summary: \([0-9]*\)/\1/p' "$out"
}

echo "# instructions per call (valgrind callgrind, single-user backend, N=$N)"
for path in new replay; do
	for v in c plpgsql floor; do
		a=$(instructions "$path" "$v" "$N" 0)
		b=$(instructions "$path" "$v" $((3 * N)) "$N")
		echo "$path $v $(( (b - a) / (2 * N) ))"
	done
done
[ -n "${KEEP:-}" ] || rm -rf "$dir"
