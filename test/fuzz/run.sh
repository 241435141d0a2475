#!/usr/bin/env bash
# test/fuzz/run.sh -- build and run the libFuzzer targets of the channel
# parsers (`make fuzz`; not part of `make test`).
#
#   bash test/fuzz/run.sh [TARGET...]     (default: every test/fuzz/fuzz_*.c)
#
# Each target is built with Debian's clang, -fsanitize=fuzzer,address,undefined
# (every UBSan report fatal), from the backend-free parser sources alone, and
# run for FUZZ_SECONDS (default 60) from its seed corpus in
# test/fuzz/corpus/<target>/.  New inputs go to tmp_check/fuzz/<target>/corpus
# (git-ignored); a crash, leak or sanitizer report leaves its input in
# tmp_check/fuzz/<target>/ and makes the run fail.  The last line is
# "N passed, N failed".
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
CLANG=${CLANG:-$(command -v clang || command -v clang-14 || true)}
OUT=$REPO/tmp_check/fuzz

if [[ -z $CLANG ]]; then
	echo "clang not found (Debian: apt-get install clang)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

# the backend-free sources every target may use
SOURCES=(src/money.c src/channels/chan_common.c src/channels/codec.c
	src/channels/json.c src/channels/form.c src/channels/sighdr.c
	src/channels/alipay.c src/channels/wechatpay.c src/channels/stripe.c
	src/channels/adyen.c src/channels/generic.c)
CFLAGS=(-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=all -Wall -Wextra -Werror -Wno-unused-parameter
	-Wno-unused-function -I src -I src/channels)

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
	for f in test/fuzz/fuzz_*.c; do
		t=$(basename "$f" .c)
		targets+=("${t#fuzz_}")
	done
fi

passed=0
failed=0
mkdir -p "$OUT"
for t in "${targets[@]}"; do
	dir=$OUT/$t
	rm -rf "$dir"
	mkdir -p "$dir/corpus"
	echo "==> fuzz_$t: building"
	if ! "$CLANG" "${CFLAGS[@]}" "test/fuzz/fuzz_$t.c" "${SOURCES[@]}" \
		-o "$dir/fuzz_$t" >"$dir/build.log" 2>&1; then
		cat "$dir/build.log" >&2
		echo "fuzz_$t: build FAILED"
		failed=$((failed + 1))
		continue
	fi
	echo "==> fuzz_$t: running ${FUZZ_SECONDS}s (log: ${dir#"$REPO"/}/fuzz.log)"
	rc=0
	(cd "$dir" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"./fuzz_$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 -artifact_prefix="$dir/" \
		corpus "$REPO/test/fuzz/corpus/$t") >"$dir/fuzz.log" 2>&1 || rc=$?
	if ((rc != 0)) || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$dir/fuzz.log"; then
		tail -n 40 "$dir/fuzz.log"
		echo "fuzz_$t: FAILED (exit $rc; artifacts in ${dir#"$REPO"/}/)"
		failed=$((failed + 1))
	else
		grep -E '^stat::number_of_executed_units|^#[0-9]+ +DONE' "$dir/fuzz.log" | tail -n 2 || true
		echo "fuzz_$t: ok"
		passed=$((passed + 1))
	fi
done
echo "$passed passed, $failed failed"
((failed == 0))
