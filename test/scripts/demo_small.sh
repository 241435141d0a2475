#!/usr/bin/env bash
# demo_small.sh -- `make demo` at a small size: 500 orders on a compressed
# schedule, on the demo's own throwaway cluster (with the worker), using the
# paycons that test/run.sh built and installed.  Asserts, from the demo's
# database (the demo runs with KEEP=1; this script stops the cluster):
#   - every invariant of the report holds (demo.invariants(), whose last
#     check is paycons.verify()), and paycons.verify() itself returns no row;
#   - each part of the storm happened and paycons did what it should:
#     duplicates answered as replays, forgeries refused, wrong amounts
#     reviewed, late payments refunded, lost payments repaired by the
#     worker's query and by the statement, customers who never paid closed
#     with their stock released, refunds done (some after a failure),
#     outbox events nacked and delivered again;
#   - the report's figures are the database's;
# and that index.html, states.svg and flow.svg exist and are well-formed.
#
# Environment: REPO, PAYCONS_TMP (scratch directory), as test/run.sh sets.
set -euo pipefail

REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
WORK=${PAYCONS_TMP:-$(mktemp -d)}
OUT=$WORK/report
STATUS=0

# stop the demo's cluster (KEEP=1 left it running)
cleanup() {
	[[ -f $WORK/work/cluster.env ]] || return 0
	# shellcheck disable=SC1091
	source "$WORK/work/cluster.env"
	[[ -f $DEMO_PGDATA/postmaster.pid ]] || return 0
	if [[ $(id -u) -eq 0 && $DEMO_CLUSTER_USER != root ]]; then
		(cd / && runuser -u "$DEMO_CLUSTER_USER" -- "$DEMO_PGBIN/pg_ctl" -D "$DEMO_PGDATA" -m fast -w stop) \
			>/dev/null 2>&1 || true
	else
		"$DEMO_PGBIN/pg_ctl" -D "$DEMO_PGDATA" -m fast -w stop >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	STATUS=1
}

start=$SECONDS
if ! env -u PGHOST -u PGPORT -u PGDATABASE DEMO_SKIP_BUILD=1 KEEP=1 ORDERS=500 RATE=250 PAY_WITHIN=4 \
	GRACE=1.5 SCALE=1200 DEMO_REPORT="$OUT" DEMO_WORK="$WORK/work" \
	bash "$REPO/test/demo.sh" >"$WORK/demo.log" 2>&1; then
	echo "FAIL: the demo (500 orders) exited non-zero; its last lines:"
	tail -n 60 "$WORK/demo.log"
	exit 1
fi
echo "demo with 500 orders: exit 0 in $((SECONDS - start)) s (output: $WORK/demo.log)"

# shellcheck disable=SC1091
source "$WORK/work/cluster.env"
export PGHOST PGPORT PGUSER PGDATABASE
# (paycons in the search_path: order_state compares with its own operators)
q() { PGOPTIONS="-c search_path=public,paycons" "$DEMO_PGBIN/psql" -X -At -v ON_ERROR_STOP=1 -c "$1"; }

# 1. the invariants, from the database
bad=$(q "SELECT count(*) FROM demo.invariants() WHERE NOT ok")
checks=$(q "SELECT count(*) FROM demo.invariants()")
if [[ $bad != 0 ]]; then
	fail "$bad of $checks invariants violated:"
	q "SELECT \"check\", violations, example FROM demo.invariants() WHERE NOT ok"
else
	echo "ok: all $checks invariants hold"
fi
if [[ $(q "SELECT count(*) FROM demo.invariants() WHERE \"check\" LIKE 'paycons.verify()%'") != 1 ]]; then
	fail "demo.invariants() does not include paycons.verify()"
fi
nverify=$(q "SELECT count(*) FROM paycons.verify()")
if [[ $nverify != 0 ]]; then
	fail "paycons.verify() returned $nverify violations:"
	q "SELECT * FROM paycons.verify() LIMIT 10"
else
	echo "ok: paycons.verify() returns no violation"
fi

# 2. each part of the storm happened
expect() { # expect DESCRIPTION SQL: the SQL's count must be > 0
	local n
	n=$(q "$2")
	if [[ $n -gt 0 ]]; then
		echo "ok: $1 ($n)"
	else
		fail "$1: none"
	fi
}
expect "duplicate deliveries answered as replays" \
	"SELECT count(*) FROM shop.payment_log WHERE via = 'notification' AND duplicate"
expect "forged notifications refused (bad_signature)" \
	"SELECT count(*) FROM shop.payment_log WHERE outcome = 'bad_signature'"
expect "wrong amounts sent to review and decided by the operator" \
	"SELECT count(*) FROM paycons.callbacks WHERE outcome = 'amount_mismatch' AND review IN ('accepted', 'refunded')"
expect "failure notices after the success (ignored)" \
	"SELECT count(*) FROM paycons.callbacks WHERE kind = 'payment' AND status = 'failed' AND outcome = 'ignored'"
expect "late payments refunded" \
	"SELECT count(*) FROM paycons.callbacks c JOIN paycons.orders o USING (order_id)
	  WHERE c.outcome = 'late_payment' AND o.state = 'refunded'"
expect "lost payments found by the worker's payment.query" \
	"SELECT count(*) FROM paycons.callbacks WHERE source = 'query' AND kind = 'payment' AND outcome = 'applied'"
expect "lost payments repaired from the statement (补单)" \
	"SELECT count(*) FROM paycons.reconciliation_diffs WHERE diff = 'missing_locally' AND resolved_at IS NOT NULL"
expect "customers who never paid: closed by the worker, stock released" \
	"SELECT count(*) FROM paycons.order_history h JOIN paycons.stock_orders s USING (order_id)
	  WHERE h.to_state = 'closed' AND h.reason LIKE 'paycons:%' AND s.state = 'released'"
expect "refunds done" \
	"SELECT count(*) FROM paycons.compensations WHERE action LIKE 'refund:%' AND state = 'done'"
expect "refunds that failed at the channel first and were retried" \
	"SELECT count(*) FROM paycons.compensations WHERE action LIKE 'refund:%' AND state = 'done' AND attempts > 1"
expect "outbox events nacked, then delivered" \
	"SELECT count(*) FROM shop.delivered_events WHERE attempts > 1"
expect "statements of both channels loaded" \
	"SELECT count(DISTINCT channel) - 1 FROM paycons.statement_files"

# 3. the report says what the database says
paid=$(q "SELECT count(*) FROM paycons.orders WHERE state = 'paid'")
if grep -q "<td>paid</td><td class=\"n\">$paid</td>" "$OUT/index.html"; then
	echo "ok: index.html shows the $paid paid orders the database has"
else
	fail "index.html does not show $paid paid orders"
fi
if grep -Eq "^ paid +\| +$paid \|" "$WORK/demo.log"; then
	echo "ok: the terminal report shows the $paid paid orders"
else
	fail "the terminal report does not show $paid paid orders"
fi
if ! grep -q "every invariant holds" "$WORK/demo.log"; then
	fail "the demo did not end with its verdict"
fi

# 4. the files: present and well-formed
for f in index.html states.svg flow.svg; do
	if [[ ! -s $OUT/$f ]]; then
		fail "$f missing or empty"
	elif ! xmllint --noout "$OUT/$f" 2>"$WORK/xmllint.err"; then
		fail "$f is not well-formed:"
		head -n 5 "$WORK/xmllint.err"
	else
		echo "ok: $f well-formed ($(wc -c <"$OUT/$f") bytes)"
	fi
done
bars=$(grep -o '<rect ' "$OUT/index.html" | wc -l)
tables=$(grep -o '<table>' "$OUT/index.html" | wc -l)
if ((bars < 5 || tables < 10)); then
	fail "index.html has $bars chart bars and $tables tables"
else
	echo "ok: index.html has a chart ($bars rects) and $tables tables"
fi
if grep -q '<svg' "$OUT/states.svg" && grep -q 'needs_review' "$OUT/states.svg"; then
	echo "ok: states.svg draws paycons.state_graph()"
else
	fail "states.svg does not draw the state graph"
fi
exit $STATUS
