#!/usr/bin/env bash
# test/fuzz/run_statement.sh [SECONDS] -- build and run the statement parser
# fuzz target (libFuzzer, clang) over the seeds in test/fuzz/corpus/statement.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
out=tmp_check/fuzz
mkdir -p "$out/corpus"
cp test/fuzz/corpus/statement/* "$out/corpus/"
clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
	test/fuzz/statement_fuzz.c src/statement_parse.c src/statement_formats.c \
	src/statement_fields.c src/money.c -o "$out/statement_fuzz"
"$out/statement_fuzz" -max_total_time="$secs" -max_len=70000 "$out/corpus"
