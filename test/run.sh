#!/usr/bin/env bash
# test/run.sh -- build paycons, start a throwaway cluster, run the test suites
#
# Usage: bash test/run.sh [SUITE...]        (`make test` runs it without arguments)
#
# Suites, in this order (give names to run only some of them):
#   regress    pg_regress, one test per sql/*.sql (expected output in expected/)
#   isolation  pg_isolation_regress, one test per test/isolation/specs/*.spec
#   pgtap      pg_prove on test/pgtap/*.sql, in a fresh database paycons_tap
#   tap        prove on test/t/*.pl (PostgreSQL::Test::Cluster; own clusters)
#   scripts    bash test/scripts/*.sh (stress tests, example clients,
#              dump/restore, upgrade, the README's SQL)
#   nopreload  a second cluster WITHOUT shared_preload_libraries: the
#              pg_regress tests and the README's SQL again (always run last,
#              after the main cluster has stopped)
#
# Each test file counts as one test.  The last line of output is always
# exactly "N passed, N failed"; the exit status is 1 if anything failed,
# including the build or the cluster start (reported as "0 passed, 1 failed").
# Everything generated lands in tmp_check/ (git-ignored).
#
# Environment knobs:
#   PAYCONS_SCRIPT_TIMEOUT  seconds one test/scripts/*.sh may run (default 600)

set -euo pipefail

# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

ALL_SUITES=(regress isolation pgtap tap scripts nopreload)

usage() {
	echo "usage: bash test/run.sh [${ALL_SUITES[*]}]..."
	echo "Builds and installs paycons, starts a throwaway cluster and runs the"
	echo "named test suites (all of them when none is named)."
}

# ---------------------------------------------------------------------------
# Arguments: which suites to run.

SUITES=()
for arg in "$@"; do
	case $arg in
	-h | --help)
		usage
		exit 0
		;;
	regress | isolation | pgtap | tap | scripts | nopreload)
		SUITES+=("$arg")
		;;
	*)
		usage >&2
		echo "unknown suite: $arg" >&2
		echo "0 passed, 1 failed"
		exit 1
		;;
	esac
done
[[ ${#SUITES[@]} -eq 0 ]] && SUITES=("${ALL_SUITES[@]}")

# ---------------------------------------------------------------------------
# Bookkeeping

TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARY=()

# record SUITE PASSED FAILED: add to the totals and print the suite's line.
record() {
	local line="$1: $2 passed, $3 failed"
	TOTAL_PASSED=$((TOTAL_PASSED + $2))
	TOTAL_FAILED=$((TOTAL_FAILED + $3))
	SUMMARY+=("$line")
	echo "$line"
	echo
}

# list_files GLOB: print the files matching GLOB, one a line, in byte order
# (the order make's $(sort) uses), nothing if there are none.
list_files() {
	local f
	for f in $1; do
		[[ -f $f ]] && printf '%s\n' "$f"
	done | LC_ALL=C sort
}

# harness_failures LOG: print the test files that the "Test Summary Report"
# of a TAP::Harness run (prove, pg_prove) lists as failed.
harness_failures() {
	awk '/^Test Summary Report/ { s = 1; next }
		s && /^[^ ].* \(Wstat: / { sub(/ \(Wstat: .*/, ""); print }' "$1" | LC_ALL=C sort -u
}

# count_pg_regress_ok LOG: number of tests pg_regress reported as passing
# ("test NAME ... ok" in PG 15, "ok N - NAME" from PG 16 on).
count_pg_regress_ok() {
	grep -cE '^(test +[^ ]+ +\.\.\. (ok|failed \(ignored\))|ok +[0-9]+ +[-+] )' "$1" || true
}

# quiet_driver: filter pg_regress's output for the screen, dropping the
# database setup chatter (the full output is kept in OUTDIR/driver.log).
quiet_driver() {
	grep -vE '^(SET|DROP DATABASE|CREATE DATABASE|ALTER DATABASE|CREATE EXTENSION)$|^=+ (dropping|creating|installing) .* =+$' || true
}

# show_diffs OUTDIR: print the head of OUTDIR/regression.diffs and its place.
show_diffs() {
	local diffs=$1/regression.diffs
	if [[ -s $diffs ]]; then
		echo "---- $diffs (first 300 lines) ----"
		head -n 300 "$diffs"
		echo "---- end of diffs; full file: $diffs ----"
	else
		echo "(no $diffs was written; see $1/ for pg_regress output)"
	fi
}

# ---------------------------------------------------------------------------
# Suites.  Each ends with exactly one call to record.

# run_pg_regress SUITE DRIVER OUTDIR TEST... [-- DRIVER-OPTIONS...]
# Shared by regress and isolation: both drivers print one line per test.
run_pg_regress() {
	local suite=$1 driver=$2 outdir=$3
	shift 3
	local -a tests=() opts=()
	while [[ $# -gt 0 && $1 != -- ]]; do
		tests+=("$1")
		shift
	done
	[[ $# -gt 0 ]] && shift && opts=("$@")

	rm -rf "$outdir"
	mkdir -p "$outdir"
	# (pg_regress exports this directory as PG_ABS_BUILDDIR.  Tests write
	# files only from the client side, with psql's \copy: the server may
	# not be able to reach the checkout at all.)
	local rc=0
	"$driver" "${opts[@]}" \
		--outputdir="$outdir" \
		--bindir="$PAYCONS_PGBIN" \
		--host="$PGHOST" --port="$PGPORT" --user=postgres \
		"${tests[@]}" 2>&1 | tee "$outdir/driver.log" | quiet_driver || rc=$?

	local passed failed
	passed=$(count_pg_regress_ok "$outdir/driver.log")
	failed=$((${#tests[@]} - passed))
	if ((rc != 0 && failed == 0)); then
		echo "$(basename "$driver") exited with status $rc although every test passed"
		failed=1
	fi
	((failed > 0)) && show_diffs "$outdir"
	record "$suite" "$passed" "$failed"
}

# suite_regress [SUITE OUTDIR]: the pg_regress tests (SUITE names the line
# in the summary; the nopreload suite runs them again on its own cluster).
suite_regress() {
	local suite=${1:-regress} outdir=${2:-$PAYCONS_CHECK_DIR/regress}
	local -a tests
	mapfile -t tests < <(list_files 'sql/*.sql' | sed 's|^sql/||; s|\.sql$||')
	paycons_say "$suite: ${#tests[@]} pg_regress test(s)"
	if [[ ${#tests[@]} -eq 0 ]]; then
		record "$suite" 0 0
		return
	fi
	# Inputs sql/NAME.sql, expected output expected/NAME.out (or one of its
	# alternatives NAME_N.out).  No --load-extension: each test creates the
	# extension itself.
	run_pg_regress "$suite" "$PAYCONS_PGXS/src/test/regress/pg_regress" \
		"$outdir" "${tests[@]}" -- \
		--inputdir=. --dbname=contrib_regression
}

suite_isolation() {
	local -a specs
	mapfile -t specs < <(list_files 'test/isolation/specs/*.spec' |
		sed 's|^.*/||; s|\.spec$||')
	paycons_say "isolation: ${#specs[@]} spec(s)"
	if [[ ${#specs[@]} -eq 0 ]]; then
		record isolation 0 0
		return
	fi
	# Specs in test/isolation/specs/, expected output in test/isolation/expected/.
	run_pg_regress isolation "$PAYCONS_PGXS/src/test/isolation/pg_isolation_regress" \
		"$PAYCONS_CHECK_DIR/isolation" "${specs[@]}" -- \
		--inputdir=test/isolation --dbname=isolation_regression --load-extension=paycons
}

suite_pgtap() {
	local -a files
	mapfile -t files < <(list_files 'test/pgtap/*.sql')
	paycons_say "pgtap: ${#files[@]} file(s)"
	if [[ ${#files[@]} -eq 0 ]]; then
		record pgtap 0 0
		return
	fi
	local log=tmp_check/pgtap.log

	# A fresh database with both extensions.
	if ! { dropdb --if-exists paycons_tap &&
		createdb paycons_tap &&
		psql -X -q -v ON_ERROR_STOP=1 -d paycons_tap \
			-c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION paycons'; } >"$log" 2>&1; then
		echo "could not prepare database paycons_tap:"
		cat "$log"
		record pgtap 0 "${#files[@]}"
		return
	fi

	local rc=0
	pg_prove --psql-bin "$PAYCONS_PGBIN/psql" -h "$PGHOST" -p "$PGPORT" -U postgres \
		-d paycons_tap "${files[@]}" 2>&1 | tee -a "$log" || rc=$?

	local nfail
	nfail=$(harness_failures "$log" | wc -l)
	if ((rc != 0 && nfail == 0)); then
		echo "pg_prove exited with status $rc without naming a failed file; counting all as failed"
		nfail=${#files[@]}
	fi
	record pgtap $((${#files[@]} - nfail)) "$nfail"
}

suite_tap() {
	local -a files
	mapfile -t files < <(list_files 'test/t/*.pl')
	paycons_say "tap: ${#files[@]} file(s)"
	if [[ ${#files[@]} -eq 0 ]]; then
		record tap 0 0
		return
	fi

	# The tests initdb their own clusters, so they run as the cluster user
	# and need a directory it can write (TESTDIR: logs, data, port locks).
	local tapdir=$PAYCONS_CLUSTER_BASE/tap srcroot=$REPO log=$PAYCONS_CHECK_DIR/tap.log
	PAYCONS_TAP_DIR=$tapdir # so paycons_stop_cluster finds leftovers
	rm -rf "$tapdir"
	mkdir -p "$tapdir"
	paycons_chown_cluster "$tapdir"
	if ! (cd / && paycons_as_cluster_user test -r "$REPO/${files[0]}"); then
		# The cluster user cannot read the checkout: give it a copy.
		srcroot=$tapdir/src
		mkdir -p "$srcroot/test" "$srcroot/doc"
		cp -r test/t "$srcroot/test/"
		cp -r doc/monitoring "$srcroot/doc/" # 028 reads the exporter's queries
		paycons_is_root && chown -R "$PAYCONS_CLUSTER_USER:" "$srcroot"
	fi

	local rc=0
	(cd "$srcroot" && paycons_as_cluster_user env \
		PATH="$PAYCONS_PGBIN:$PATH" \
		PG_REGRESS="$PAYCONS_PGXS/src/test/regress/pg_regress" \
		TESTDIR="$tapdir" \
		REPO="$REPO" \
		LANG=C.UTF-8 \
		prove -I "$PAYCONS_PGXS/src/test/perl" -I test/t "${files[@]}") 2>&1 |
		tee "$log" || rc=$?

	local nfail f name
	local -a failed_files
	mapfile -t failed_files < <(harness_failures "$log")
	nfail=${#failed_files[@]}
	if ((rc != 0 && nfail == 0)); then
		echo "prove exited with status $rc without naming a failed file; counting all as failed"
		nfail=${#files[@]}
	fi
	for f in "${failed_files[@]}"; do
		name=$(basename "$f" .pl)
		local tlog=$tapdir/tmp_check/log/regress_log_$name
		if [[ -f $tlog ]]; then
			echo "---- last 50 lines of $tlog ----"
			tail -n 50 "$tlog"
		fi
	done
	if ((nfail > 0)); then
		if [[ -n $PAYCONS_CLUSTER_SCRATCH ]]; then
			echo "TAP logs: $PAYCONS_CHECK_DIR/tap_log/ (copied there when the cluster stops)"
		else
			echo "TAP logs: $tapdir/tmp_check/log/"
		fi
	fi
	record tap $((${#files[@]} - nfail)) "$nfail"
}

suite_scripts() {
	local -a files
	mapfile -t files < <(list_files 'test/scripts/*.sh')
	paycons_say "scripts: ${#files[@]} script(s)"
	if [[ ${#files[@]} -eq 0 ]]; then
		record scripts 0 0
		return
	fi

	local passed=0 failed=0 f
	for f in "${files[@]}"; do
		if run_script scripts "$(basename "$f" .sh)" "$f"; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
		fi
	done
	record scripts "$passed" "$failed"
}

# run_script SUITE NAME FILE: run one test script against the running
# cluster, print "ok"/"FAILED" with its output; returns its status.
run_script() {
	local suite=$1 name=$2 f=$3
	local timeout=${PAYCONS_SCRIPT_TIMEOUT:-600}
	local log scratch rc=0 start lines
	mkdir -p "$PAYCONS_CHECK_DIR/$suite"
	log=$PAYCONS_CHECK_DIR/$suite/$name.log
	# Scratch space the script and the server (COPY TO/FROM) can both use.
	scratch=$PAYCONS_CLUSTER_BASE/$suite/$name
	rm -rf "$scratch"
	mkdir -p "$scratch"
	paycons_chown_cluster "$scratch"

	start=$SECONDS
	# `timeout` runs the script in a process group of its own, out of
	# reach of a Ctrl-C at the terminal; so run it in the background and
	# `wait`, which a signal interrupts: on_signal then stops it.
	env -u PGDATABASE \
		PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres \
		REPO="$REPO" PAYCONS_TMP="$scratch" \
		timeout --kill-after=10 "$timeout" bash "$f" </dev/null >"$log" 2>&1 &
	CHILD_PID=$!
	wait "$CHILD_PID" || rc=$?
	CHILD_PID=

	lines=$(wc -l <"$log")
	if ((rc == 0)); then
		echo "  ok      $name ($((SECONDS - start)) s)"
		# Short output is worth seeing; long output stays in the log.
		if ((lines <= 15)); then
			sed 's/^/          | /' "$log"
		else
			echo "          ($lines lines of output in $log)"
		fi
	else
		if ((rc == 124)); then
			echo "  FAILED  $name (timed out after $timeout s)"
		else
			echo "  FAILED  $name (exit status $rc, $((SECONDS - start)) s)"
		fi
		echo "---- last 50 lines of $log ----"
		tail -n 50 "$log"
		echo "----"
	fi
	return "$rc"
}

# suite_nopreload: a cluster without shared_preload_libraries (DESIGN D6:
# everything but the worker and the shared-memory counters works).  The
# pg_regress tests run there (expected/*_1.out hold the few answers that
# differ without preload), and the README's SQL tour.
suite_nopreload() {
	paycons_stop_cluster
	if ! paycons_start_cluster nopreload; then
		record nopreload 0 1
		return
	fi
	local passed=0 failed=0
	suite_regress "nopreload-regress" "$PAYCONS_CHECK_DIR/nopreload/regress"
	if [[ -f test/scripts/readme_tour.sh ]]; then
		paycons_say "nopreload: the README's SQL tour"
		if run_script nopreload readme_tour test/scripts/readme_tour.sh; then
			passed=1
		else
			failed=1
		fi
	fi
	paycons_stop_cluster
	record nopreload-scripts "$passed" "$failed"
}

# ---------------------------------------------------------------------------
# Main

# The cluster is always stopped: on normal exit, on error, on Ctrl-C.  The
# signal traps turn a signal into an exit so that the EXIT trap runs.
CHILD_PID= # a test script running in the background (suite_scripts)

# on_signal STATUS: stop a running test script, then exit with STATUS.
on_signal() {
	if [[ -n $CHILD_PID ]]; then
		kill -TERM "$CHILD_PID" 2>/dev/null || true
		wait "$CHILD_PID" 2>/dev/null || true
	fi
	exit "$1"
}

trap paycons_stop_cluster EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

# setup_failed: the build or the cluster did not come up: count it as one
# failed test so that CI sees it.
setup_failed() {
	paycons_stop_cluster
	echo "0 passed, 1 failed"
	exit 1
}

paycons_ensure_packages || setup_failed
paycons_build_install || setup_failed

# The suites of the main cluster first; nopreload, which stops it and
# starts its own, last.
MAIN_SUITES=()
RUN_NOPRELOAD=0
for suite in "${SUITES[@]}"; do
	if [[ $suite == nopreload ]]; then
		RUN_NOPRELOAD=1
	else
		MAIN_SUITES+=("$suite")
	fi
done
if ((${#MAIN_SUITES[@]} > 0)); then
	paycons_start_cluster || setup_failed
	echo
	for suite in "${MAIN_SUITES[@]}"; do
		"suite_$suite"
	done
fi
if ((RUN_NOPRELOAD)); then
	suite_nopreload
fi

# Stop before the summary, so that nothing is printed after the last line.
paycons_stop_cluster

echo "==== summary ===="
printf '%s\n' "${SUMMARY[@]}"
echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
((TOTAL_FAILED == 0)) || exit 1
