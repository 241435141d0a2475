#!/usr/bin/env bash
# test/fuzz/run.sh -- build and run every libFuzzer target of paycons
# (`make fuzz`; not part of `make test`).
#
#   bash test/fuzz/run.sh [TARGET...]     (default: every test/fuzz/fuzz_*.c)
#
# A target is test/fuzz/fuzz_<name>.c.  Each is built with clang,
# -fsanitize=fuzzer,address,undefined (every UBSan report fatal, LeakSanitizer
# on), from the backend-free sources of src/ listed in SOURCES below, and run
# for FUZZ_SECONDS (default 60) from its committed seeds in
# test/fuzz/corpus/<name>/ plus the corpus earlier runs grew in
# test/fuzz/work/<name>/corpus/ (git-ignored, kept from run to run; delete
# the folder to start afresh).  FUZZ_SEED=n makes libFuzzer's choices
# repeatable.
#
# A crash, leak, timeout, out-of-memory or sanitizer report (a broken
# property is an abort()) fails the run: the input that caused it is left in
# test/fuzz/work/<name>/artifacts/ and its path printed with the command
# that replays it.  A table of executions and corpus sizes ends the output;
# the last line is "N passed, N failed", and the exit status is non-zero if
# any target failed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_SEED=${FUZZ_SEED:-}
WORK=$REPO/test/fuzz/work

# The backend-free sources (no postgres.h) the targets link: every target
# links all of them.  A source split in two, or a new parser, goes here.
SOURCES=(src/money.c src/order_state_label.c src/statement_parse.c
	src/channels/chan_common.c src/channels/codec.c src/channels/json.c
	src/channels/form.c src/channels/sighdr.c src/channels/alipay.c
	src/channels/wechatpay.c src/channels/stripe.c src/channels/adyen.c
	src/channels/generic.c)
CFLAGS=(-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=all -Wall -Wextra -Werror -Wno-unused-parameter
	-Wno-unused-function -I src -I src/channels)

if ! [[ $FUZZ_SECONDS =~ ^[1-9][0-9]*$ ]]; then
	echo "FUZZ_SECONDS must be a positive number of seconds, not '$FUZZ_SECONDS'" >&2
	exit 2
fi

# clang with libFuzzer's runtime (Debian: clang, libclang-rt-dev).  Not in
# test/lib.sh's PAYCONS_PACKAGES: `make test` does not need it, so this
# target installs it itself when run as root (as `make demo` does).
find_clang() {
	CLANG=${CLANG:-$(command -v clang || command -v clang-14 || true)}
	[[ -n $CLANG ]] || return 1
	printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' \
		>"$WORK/probe.c"
	"$CLANG" -fsanitize=fuzzer,address,undefined "$WORK/probe.c" \
		-o "$WORK/probe" >/dev/null 2>&1
}
mkdir -p "$WORK"
if ! find_clang; then
	# shellcheck source=test/lib.sh
	source "$REPO/test/lib.sh"
	PAYCONS_PACKAGES=(clang libclang-rt-dev)
	paycons_ensure_packages || { echo "0 passed, 1 failed"; exit 1; }
	CLANG=
	if ! find_clang; then
		echo "clang cannot build a libFuzzer target (-fsanitize=fuzzer)" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
fi
rm -f "$WORK/probe.c" "$WORK/probe"

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
	for f in test/fuzz/fuzz_*.c; do
		t=$(basename "$f" .c)
		targets+=("${t#fuzz_}")
	done
fi
for t in "${targets[@]}"; do
	if [[ ! -f test/fuzz/fuzz_$t.c ]]; then
		echo "no fuzz target test/fuzz/fuzz_$t.c" >&2
		exit 2
	fi
done

# value of a libFuzzer final statistic (-print_final_stats=1)
fuzz_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n 1; }

passed=0
failed=0
summary=()
seed_opt=()
[[ -n $FUZZ_SEED ]] && seed_opt=(-seed="$FUZZ_SEED")
start=$SECONDS
echo "fuzzing ${#targets[@]} targets, ${FUZZ_SECONDS}s each (work: ${WORK#"$REPO"/}/)"
for t in "${targets[@]}"; do
	dir=$WORK/$t
	seeds=$REPO/test/fuzz/corpus/$t
	mkdir -p "$dir/corpus" "$seeds"
	rm -rf "$dir/artifacts" "$dir/fuzz.log" "$dir/build.log"
	mkdir -p "$dir/artifacts"
	echo "==> fuzz_$t: building"
	if ! "$CLANG" "${CFLAGS[@]}" "test/fuzz/fuzz_$t.c" "${SOURCES[@]}" \
		-o "$dir/fuzz_$t" >"$dir/build.log" 2>&1; then
		cat "$dir/build.log" >&2
		echo "fuzz_$t: build FAILED"
		summary+=("$(printf '%-12s %-6s' "$t" "BUILD")")
		failed=$((failed + 1))
		continue
	fi
	before=$(find "$dir/corpus" -type f | wc -l)
	echo "==> fuzz_$t: running ${FUZZ_SECONDS}s (log: ${dir#"$REPO"/}/fuzz.log)"
	rc=0
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$dir/fuzz_$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
		-rss_limit_mb=2048 -max_len=70000 -print_final_stats=1 \
		"${seed_opt[@]}" -artifact_prefix="$dir/artifacts/" \
		"$dir/corpus" "$seeds" >"$dir/fuzz.log" 2>&1 || rc=$?
	execs=$(fuzz_stat number_of_executed_units "$dir/fuzz.log")
	speed=$(fuzz_stat average_exec_per_sec "$dir/fuzz.log")
	# the in-memory corpus at the end: "#N DONE cov: C ft: F corp: U/Sb"
	corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$dir/fuzz.log" | tail -n 1 | cut -d' ' -f2)
	cov=$(grep -oE 'cov: [0-9]+' "$dir/fuzz.log" | tail -n 1 | cut -d' ' -f2)
	after=$(find "$dir/corpus" -type f | wc -l)
	repro=$(find "$dir/artifacts" -type f | head -n 1)
	if ((rc != 0)) || [[ -n $repro ]] ||
		grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:' "$dir/fuzz.log"; then
		grep -E -m 1 -A 30 'ERROR: |runtime error:|==ERROR|deadly signal' "$dir/fuzz.log" || tail -n 40 "$dir/fuzz.log"
		echo "fuzz_$t: FAILED (exit $rc)"
		if [[ -n $repro ]]; then
			echo "  reproducer: ${repro#"$REPO"/}"
			echo "  replay:     ${dir#"$REPO"/}/fuzz_$t ${repro#"$REPO"/}"
		fi
		summary+=("$(printf '%-12s %-6s %12s %8s %10s %6s %9s  %s' "$t" "FAIL" \
			"${execs:-?}" "${speed:-?}" "${corp:-?}" "${cov:-?}" "$((after - before))" \
			"${repro:+${repro#"$REPO"/}}")")
		failed=$((failed + 1))
	else
		echo "fuzz_$t: ok, ${execs} executions, corpus ${corp} (${after} files kept, $((after - before)) new)"
		summary+=("$(printf '%-12s %-6s %12s %8s %10s %6s %9s' "$t" "ok" \
			"$execs" "$speed" "$corp" "$cov" "$((after - before))")")
		passed=$((passed + 1))
	fi
done

echo
echo "fuzz summary (${FUZZ_SECONDS}s per target, $((SECONDS - start))s in all):"
printf '%-12s %-6s %12s %8s %10s %6s %9s  %s\n' target result executions "exec/s" \
	"corpus" cov "new files" reproducer
printf '%s\n' "${summary[@]}"
echo "(corpus: inputs/bytes libFuzzer held at the end, seeds included; new files: added to ${WORK#"$REPO"/}/<target>/corpus)"
echo "$passed passed, $failed failed"
((failed == 0))
