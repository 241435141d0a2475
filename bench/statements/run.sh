#!/usr/bin/env bash
# bench/statements/run.sh -- load + reconcile a WeChat Pay trade bill of
# LINES lines (issue 12) against a hand-written SQL anti-join doing only the
# matching step, in the same invocation, on the same cluster.
#
#   PGHOST=... PGPORT=... PGUSER=postgres LINES=1000000 ROUNDS=3 bash bench/statements/run.sh
#   (or: LINES=1000000 bash bench/run.sh statements)
#
# Setup (not timed): a database with LINES orders created, paying and, but
# for the seeded 0.3% the channel alone knows, called back through the
# paycons API (setup.sql: about 1% of the orders carry a difference of some
# class); the bill generated as WeChat Pay writes it (bill.sql) and COPYed
# into an upload table; the same lines parsed into a plain table ref_lines
# for the reference.  That database is the template of every round.
#
# Each round, in a fresh copy of the template (CREATE DATABASE ... TEMPLATE,
# FILE_COPY), after an untimed warm-up anti-join and a CHECKPOINT before
# each timed step, times in this order:
#   antijoin  reference: antijoin.sql over ref_lines (the matching step only)
#   sqlload   second reference, for context: sqlload.sql (a check-free SQL
#             parse of the upload table into a plain table) + antijoin.sql
#             over that table
#   paycons   paycons.load_statement_upload(...) then
#             paycons.reconcile_statement(...), two transactions
# and checks that paycons found exactly the seeded differences and the
# reference exactly the seeded missing lines and callbacks.
#
# Figures: per round and medians, in ms, and the ratio
#   antijoin / paycons  (reference time over paycons' load + reconcile time;
#   1.0 = as fast as the anti-join; the issue 12 target >= 0.8 means paycons
#   takes at most 1.25x the anti-join's time)
# and the same against sqlload.  Only the ratios mean anything: the machine
# is shared; its load average is logged.
#
# Env: LINES (100000), ROUNDS (3), OUT (bench/RESULTS-statements.md,
# overwritten), KEEP (set: keep the databases), REUSE (set: use the template
# a KEEP run left, of the same LINES; valid only while the extension's SQL
# is unchanged, e.g. between C changes), TMPDIR.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LINES=${LINES:-100000}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-$HERE/../RESULTS-statements.md}
BASE=bench_stmt_base
RUN=bench_stmt_run
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench_stmt.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
PSQL=(psql -X -q -v ON_ERROR_STOP=1)

load() { cut -d' ' -f1-3 /proc/loadavg; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
log() { echo "$*" | tee -a "$WORK/out"; }

log "# Statement load + reconcile vs a SQL anti-join (issue 12)"
log ""
log "Command: \`LINES=$LINES ROUNDS=$ROUNDS bash bench/statements/run.sh\` ($(date -u '+%Y-%m-%d %H:%M UTC'));"
log "PostgreSQL $("${PSQL[@]}" -At -d postgres -c 'SHOW server_version'), fsync = $("${PSQL[@]}" -At -d postgres -c 'SHOW fsync'),"
log "synchronous_commit = $("${PSQL[@]}" -At -d postgres -c 'SHOW synchronous_commit'), shared_buffers = $("${PSQL[@]}" -At -d postgres -c 'SHOW shared_buffers'), $(nproc) cores."
log ""

# ---------------------------------------------------------------------------
# Setup: the template database
setup() {
	dropdb --if-exists "$BASE"
	createdb "$BASE"
	local start=$SECONDS t0 t1
	"${PSQL[@]}" -d "$BASE" -v n="$LINES" -f "$HERE/setup.sql" >/dev/null
	log "setup: $LINES orders and their callbacks in $((SECONDS - start)) s (load $(load))"
	"${PSQL[@]}" -d "$BASE" -At -f "$HERE/bill.sql" >"$WORK/bill.csv"
	t0=$(date +%s.%N)
	"${PSQL[@]}" -d "$BASE" -c "\\copy upload (line) FROM '$WORK/bill.csv' (FORMAT csv, DELIMITER E'\\x1f', QUOTE E'\\x1e')"
	t1=$(date +%s.%N)
	log "bill: $(wc -l <"$WORK/bill.csv") lines, $(($(stat -c %s "$WORK/bill.csv") / 1048576)) MB;" \
		"COPY into the upload table $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", (b - a) * 1000}') ms (not timed below)"
	"${PSQL[@]}" -d "$BASE" -v lines_table=ref_lines -f "$HERE/sqlload.sql"
	"${PSQL[@]}" -d "$BASE" -c 'CREATE TABLE ref_lines_b (LIKE ref_lines INCLUDING ALL)' \
		-c 'VACUUM (ANALYZE)' -c 'CHECKPOINT'
	rm -f "$WORK/bill.csv"
}
dropdb --if-exists "$RUN"
if [[ -n ${REUSE:-} ]] &&
	[[ $("${PSQL[@]}" -d "$BASE" -At -c 'SELECT count(*) FROM seed' 2>/dev/null) == "$LINES" ]]; then
	log "setup: reusing the template database $BASE ($LINES orders)"
else
	setup
fi

# ---------------------------------------------------------------------------
# One round: prints "antijoin_ms sqlload_ms load_ms reconcile_ms"
round() {
	dropdb --if-exists "$RUN"
	createdb -T "$BASE" -S file_copy "$RUN"
	"${PSQL[@]}" -d "$RUN" -At -F " " -v lines_table=ref_lines -v here="$HERE" <<'SQL'
\set QUIET on
-- warm-up (not timed): the tables the steps read
\i :here/antijoin.sql
TRUNCATE ref_diffs;
SELECT count(*) FROM upload \gset
CHECKPOINT;

SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
\i :here/antijoin.sql
SELECT round((extract(epoch FROM clock_timestamp()) - :t0) * 1000) AS antijoin \gset
SELECT count(*) FILTER (WHERE diff = 'missing_locally') = e.repaired
       AND count(*) FILTER (WHERE diff = 'missing_in_statement') = e.missing_in_statement AS ok
  FROM ref_diffs, expected e GROUP BY e.repaired, e.missing_in_statement \gset
\if :ok
\else
  \warn 'the anti-join did not find the seeded differences'
  SELECT 1/0;
\endif
TRUNCATE ref_diffs;
CHECKPOINT;

\set lines_table ref_lines_b
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
\i :here/sqlload.sql
\i :here/antijoin.sql
SELECT round((extract(epoch FROM clock_timestamp()) - :t0) * 1000) AS sqlload \gset
CHECKPOINT;

SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT status FROM paycons.load_statement_upload('wxbench', '2026-11-20', 'wechatpay_tradebill', 'upload') \gset
SELECT extract(epoch FROM clock_timestamp()) AS t1 \gset
SELECT lines, matched, repaired, differences, missing_in_statement, deferred
  FROM paycons.reconcile_statement('wxbench', '2026-11-20') \gset r_
SELECT extract(epoch FROM clock_timestamp()) AS t2 \gset
SELECT :'status' = 'loaded' AND :r_lines = e.lines AND :r_repaired = e.repaired
       AND :r_differences = e.differences AND :r_missing_in_statement = e.missing_in_statement
       AND :r_deferred = e.deferred AND :r_matched = e.lines - e.repaired - e.differences AS ok,
       (SELECT count(*) FROM paycons.reconciliation_diffs) = e.repaired + e.differences + e.missing_in_statement AS ok2
  FROM expected e \gset
\if :ok
\else
  \warn 'paycons did not find the seeded differences'
  SELECT 1/0;
\endif
\if :ok2
\else
  \warn 'paycons recorded other differences than the seeded ones'
  SELECT 1/0;
\endif
SELECT :antijoin, :sqlload, round((:t1 - :t0) * 1000), round((:t2 - :t1) * 1000);
SQL
}

for r in $(seq "$ROUNDS"); do
	before=$(load)
	round >"$WORK/round"
	read -r aj sl ld rc < <(tail -1 "$WORK/round")
	echo "$r $aj $sl $ld $rc" >>"$WORK/rounds"
	log "round $r: antijoin $aj ms; sqlload+antijoin $sl ms; paycons load $ld ms + reconcile $rc ms = $((ld + rc)) ms;" \
		"ratio antijoin/paycons $(awk -v a="$aj" -v p="$((ld + rc))" 'BEGIN {printf "%.3f", a / p}')" \
		"(load average before/after: $before / $(load))"
done
[[ -n ${KEEP:-} ]] || { dropdb --if-exists "$RUN"; dropdb --if-exists "$BASE"; }

# ---------------------------------------------------------------------------
# Medians
col() { awk -v c="$1" '{print $c}' "$WORK/rounds" | median; }
ratio() { awk -v c="$1" '{printf "%.4f\n", $c / ($4 + $5)}' "$WORK/rounds" | median; }
log ""
log "| lines | rounds | antijoin ms | sqlload+antijoin ms | paycons load ms | paycons reconcile ms | **antijoin / paycons** | sqlload+antijoin / paycons |"
log "|---|---|---|---|---|---|---|---|"
log "| $LINES | $ROUNDS | $(col 2) | $(col 3) | $(col 4) | $(col 5) | **$(ratio 2)** | $(ratio 3) |"
log ""
log "Medians over the rounds (ratios: median of the per-round ratios). Ratio = reference time / paycons load + reconcile time; >= 0.8 means paycons takes at most 1.25x the reference's time."
cp "$WORK/out" "$OUT"
