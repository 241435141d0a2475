#!/usr/bin/env bash
# upgrade.sh -- every released paycons version upgrades to the current one:
# same schema as a fresh install, every row kept, and the new library safe
# on an old schema until the update is run.
#
# 1. Packaging: paycons.control's default_version equals META.json's
#    version (top level and provides.paycons); every released script
#    (sql/released/paycons--V.sql) has an upgrade path to it in
#    sql/upgrade/; the installed shared library exports every C symbol that
#    a released script names (else CREATE EXTENSION ... VERSION V fails).
# 2. For each released version V: CREATE EXTENSION paycons VERSION 'V';
#    the current library on that old schema runs what needs no table and
#    refuses everything else with PC010 naming ALTER EXTENSION paycons
#    UPDATE; the schema is filled with rows in every table
#    (test/fixtures/fill_V.sql); ALTER EXTENSION paycons UPDATE; then
#    (a) the catalogs (test/fixtures/schema_catalog.sql) equal those of a
#        fresh CREATE EXTENSION paycons in another database -- the diff is
#        printed when they do not;
#    (b) every row of every table that existed before is still there with
#        the same values (in the columns it had), and the rows the update
#        adds on purpose are exactly the expected ones;
#    (c) the API works on the upgraded database.
#
# A failure of (a) almost always means that a change to sql/install/ has no
# twin in sql/upgrade/paycons--A--B.sql (see the header of that script and
# doc/operations.md, "Upgrades").
#
# Exit 0 on success.  Environment: PGHOST, PGPORT, PGUSER (a superuser),
# REPO (the checkout), PAYCONS_TMP (scratch directory).
set -euo pipefail

REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
WORK=${PAYCONS_TMP:-$(mktemp -d)}
FRESH=paycons_up_fresh_$$
DBS=()
fail=0

cleanup() {
	local db
	for db in "${DBS[@]}"; do
		dropdb --if-exists "$db" >/dev/null 2>&1 || true
	done
}
trap cleanup EXIT

q() { # q DB ARGS...: psql, unaligned tuples only, stop on error
	local db=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -At -d "$db" "$@"
}
ok() { echo "ok: $*"; }
bad() {
	echo "FAIL: $*"
	fail=1
}

# ---------------------------------------------------------------------------
# 1. Packaging

DEFAULT=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$REPO/paycons.control")
read -r META_VERSION META_PROVIDES < <(python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(m["version"], m["provides"]["paycons"]["version"])' "$REPO/META.json")
if [[ $DEFAULT == "$META_VERSION" && $DEFAULT == "$META_PROVIDES" ]]; then
	ok "paycons.control and META.json agree on version $DEFAULT"
else
	bad "paycons.control says $DEFAULT, META.json says $META_VERSION (provides: $META_PROVIDES): change them together"
fi
if [[ -e $REPO/sql/released/paycons--$DEFAULT.sql ]]; then
	bad "sql/released/paycons--$DEFAULT.sql exists: the current version's script is built from sql/install/"
fi

mapfile -t RELEASED < <(cd "$REPO/sql/released" && ls paycons--*.sql | sed 's/^paycons--//; s/\.sql$//' | sort -V)
if ((${#RELEASED[@]} == 0)); then
	bad "no released version in sql/released/"
fi

# upgrade_path FROM: print the chain of versions from FROM to DEFAULT
# through sql/upgrade/paycons--A--B.sql (first script found at each step).
upgrade_path() {
	local v=$1 next steps=0 path=$1
	while [[ $v != "$DEFAULT" ]]; do
		next=$(cd "$REPO/sql/upgrade" && ls "paycons--$v--"*.sql 2>/dev/null |
			sed "s/^paycons--$v--//; s/\.sql$//" | sort -V | tail -n 1)
		[[ -n $next ]] || return 1
		v=$next
		path="$path -> $v"
		((++steps < 50)) || return 1
	done
	echo "$path"
}
for v in "${RELEASED[@]}"; do
	if p=$(upgrade_path "$v"); then
		ok "upgrade path $p"
	else
		bad "no upgrade path from released $v to $DEFAULT in sql/upgrade/"
	fi
done

LIB=$(pg_config --pkglibdir)/paycons.so
if [[ ! -f $LIB ]]; then
	bad "the installed library $LIB is missing"
else
	nm -D --defined-only "$LIB" | awk '{ print $NF }' | sort -u >"$WORK/symbols"
	for v in "${RELEASED[@]}"; do
		missing=$(grep -o "'MODULE_PATHNAME', *'[A-Za-z0-9_]*'" "$REPO/sql/released/paycons--$v.sql" |
			sed "s/.*, *'\(.*\)'/\1/" | sort -u | comm -23 - "$WORK/symbols")
		if [[ -z $missing ]]; then
			ok "the library exports every C symbol that paycons--$v.sql names"
		else
			bad "the library lacks C symbols that the released paycons--$v.sql names (keep them, e.g. as thin wrappers): $(echo $missing)"
		fi
	done
fi

# ---------------------------------------------------------------------------
# The fresh install everything is compared with

DBS+=("$FRESH")
dropdb --if-exists "$FRESH" >/dev/null 2>&1
createdb "$FRESH"
q "$FRESH" -c 'CREATE EXTENSION paycons'
q "$FRESH" -f "$REPO/test/fixtures/schema_catalog.sql" >"$WORK/fresh.catalog"

# data_snapshot DB COLSFILE OUT: every paycons table, in the columns listed
# in COLSFILE ("table|col,col,..."; written from DB when WRITE_COLS=1),
# ordered by all of them.
data_snapshot() {
	local db=$1 cols=$2 out=$3 rel list
	if [[ ${WRITE_COLS:-0} == 1 ]]; then
		q "$db" -c "
			SELECT c.oid::regclass, string_agg(quote_ident(a.attname), ',' ORDER BY a.attnum)
			  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
			 WHERE c.relnamespace = 'paycons'::regnamespace AND c.relkind = 'r'
			 GROUP BY c.oid ORDER BY c.oid::regclass::text COLLATE \"C\"" >"$cols"
	fi
	: >"$out"
	while IFS='|' read -r rel list; do
		echo "==== $rel ($list)" >>"$out"
		if [[ $(q "$db" -c "SELECT to_regclass('$rel') IS NOT NULL") == t ]]; then
			q "$db" -c "COPY (SELECT $list FROM $rel t ORDER BY $list) TO STDOUT" >>"$out"
		else
			echo "(table dropped)" >>"$out"
		fi
	done <"$cols"
}

# refused DB WHAT SQL: the call fails with PC010 and the hint names the command
refused() {
	local db=$1 what=$2 sql=$3 out
	out=$(psql -X -q -At -d "$db" -c '\set VERBOSITY verbose' -c "$sql" 2>&1) || true
	if [[ $out == *"PC010"* && $out == *"ALTER EXTENSION paycons UPDATE"* ]]; then
		ok "$STAGE: $what refuses with PC010 and names ALTER EXTENSION paycons UPDATE"
	else
		bad "$STAGE: $what should refuse with PC010 naming ALTER EXTENSION paycons UPDATE, got: $out"
	fi
}
works() { # works DB WHAT SQL EXPECTED
	local got
	got=$(q "$1" -c "$3" 2>&1) || true
	if [[ $got == "$4" ]]; then
		ok "$STAGE: $2"
	else
		bad "$STAGE: $2: got '$got', expected '$4'"
	fi
}

# ---------------------------------------------------------------------------
# 2. Each released version

for V in "${RELEASED[@]}"; do
	OLD=paycons_up_${V//./_}_$$
	DBS+=("$OLD")
	dropdb --if-exists "$OLD" >/dev/null 2>&1
	createdb "$OLD"
	if ! q "$OLD" -c "CREATE EXTENSION paycons VERSION '$V'" >"$WORK/create-$V.log" 2>&1; then
		bad "CREATE EXTENSION paycons VERSION '$V' fails with the current library:"
		cat "$WORK/create-$V.log"
		continue
	fi
	ok "CREATE EXTENSION paycons VERSION '$V' works with the current library"
	STAGE="$V schema, current library"

	# (c) the current library on the old schema
	if [[ $V != "$DEFAULT" ]]; then
		works "$OLD" "the order_state type and the state machine work" \
			"SELECT 'paid'::paycons.order_state::text, paycons.can_transition('paying', 'paid'),
			        paycons.is_terminal('refunded'), (SELECT count(*) FROM paycons.next_states('paid')),
			        paycons.state_graph('mermaid') LIKE '%paying%'" "paid|t|t|3|t"
		works "$OLD" "hmac_sha256 works" "SELECT length(paycons.hmac_sha256('k', 'm'))" 32
		works "$OLD" "stats works" "SELECT preloaded IS NOT NULL FROM paycons.stats()" t
		refused "$OLD" "create_order" "SELECT paycons.create_order('x-1', 100, 'CNY')"
		refused "$OLD" "apply_callback" \
			"SELECT * FROM paycons.apply_callback('alipay', 'x', 'x-1', 'payment', 'success', 100, 'CNY')"
		refused "$OLD" "emit" "SELECT paycons.emit('t', 'a', 't.e', '{}')"
		refused "$OLD" "outbox_claim" "SELECT * FROM paycons.outbox_claim('c')"
		refused "$OLD" "enqueue_compensation" "SELECT paycons.enqueue_compensation('x-1', 'ext:x')"
		refused "$OLD" "set_retry_policy" "SELECT paycons.set_retry_policy('x', '1s', 2, '1min', 3)"
		refused "$OLD" "add_stock" "SELECT paycons.add_stock('MUG', 1)"
		refused "$OLD" "run_maintenance" "SELECT paycons.run_maintenance()"
	fi

	if [[ ! -f $REPO/test/fixtures/fill_$V.sql ]]; then
		bad "test/fixtures/fill_$V.sql is missing: every released version needs its data fixture"
		continue
	fi
	q "$OLD" -f "$REPO/test/fixtures/fill_$V.sql" >/dev/null
	if [[ $V != "$DEFAULT" ]]; then
		refused "$OLD" "a plain UPDATE of an order's state (its history trigger)" \
			"UPDATE paycons.orders SET state = 'cancelled' WHERE order_id = 'u-created'"
	fi
	WRITE_COLS=1 data_snapshot "$OLD" "$WORK/cols-$V" "$WORK/before-$V.data"

	# the update, in a session that was refused just before: the refusal
	# is not remembered, the success is
	psql -X -q -At -d "$OLD" >"$WORK/update-$V.log" 2>&1 <<-EOF || true
		SELECT paycons.create_order('x-1', 100, 'CNY');
		\set ON_ERROR_STOP 1
		ALTER EXTENSION paycons UPDATE;
		BEGIN;
		SELECT 'created in the same session: ' || state FROM paycons.create_order('x-1', 100, 'CNY');
		ROLLBACK;
	EOF
	got=$(q "$OLD" -c "SELECT extversion FROM pg_extension WHERE extname = 'paycons'")
	if [[ $got == "$DEFAULT" ]] && grep -q '^created in the same session: created$' "$WORK/update-$V.log"; then
		ok "ALTER EXTENSION paycons UPDATE: $V -> $DEFAULT; the session refused before works after it"
	else
		bad "ALTER EXTENSION paycons UPDATE from $V: version now '$got'; session log:"
		cat "$WORK/update-$V.log"
		continue
	fi

	STAGE="upgraded from $V"

	# (a) the same schema as a fresh install
	q "$OLD" -f "$REPO/test/fixtures/schema_catalog.sql" >"$WORK/upgraded-$V.catalog"
	if diff -u --label "fresh CREATE EXTENSION paycons ($DEFAULT)" --label "upgraded from $V" \
		"$WORK/fresh.catalog" "$WORK/upgraded-$V.catalog" >"$WORK/catalog-$V.diff"; then
		ok "upgraded from $V: the schema equals a fresh install ($(wc -l <"$WORK/fresh.catalog") catalog facts)"
	else
		bad "upgraded from $V: the schema differs from a fresh install."
		echo "  Lines with '-' exist only in a fresh install (sql/install/), lines with '+' only after"
		echo "  the upgrade: each change to sql/install/ needs its twin in sql/upgrade/ (see the"
		echo "  header of sql/upgrade/paycons--$V--$DEFAULT.sql and doc/operations.md, \"Upgrades\")."
		sed 's/^/  /' "$WORK/catalog-$V.diff" | head -n 200
	fi

	# (b) the data survived
	data_snapshot "$OLD" "$WORK/cols-$V" "$WORK/after-$V.data"
	# rows the update adds on purpose: 0.1.0's outbox retry policies fold
	# into retry_policies as outbox / outbox:<event_type>
	expected_added=""
	if [[ $V == 0.1.0 ]]; then
		expected_added=$'+outbox\t00:00:03\t2\t00:05:00\t5\t0.2\t{}\n+outbox:order.paid\t00:00:10\t1.5\t00:10:00\t20\t0.1\t{}'
	fi
	# (a table the update drops on purpose is compared through what it
	# became: its rows leave the comparison, the rows they turn into are
	# the expected additions)
	dropped=$(grep -B1 '^(table dropped)$' "$WORK/after-$V.data" | grep '^====' | sed 's/^==== //; s/ (.*//' || true)
	awk -v dropped="$dropped" 'BEGIN { n = split(dropped, d, "\n"); for (i = 1; i <= n; i++) skip["==== " d[i]] = 1 }
		/^==== / { t = $0; sub(/ \(.*/, "", t); s = (t in skip) }
		!s' "$WORK/before-$V.data" >"$WORK/before-kept-$V.data"
	awk '/^==== / { t = $0; sub(/ \(.*/, "", t) } { print }' "$WORK/after-$V.data" |
		grep -v '^(table dropped)$' >"$WORK/after-kept-$V.data" || true
	diff -U0 "$WORK/before-kept-$V.data" "$WORK/after-kept-$V.data" >"$WORK/data-$V.diff" || true
	removed=$(grep -E '^-[^-]' "$WORK/data-$V.diff" | grep -v '^-==== ' || true)
	added=$(grep -E '^\+[^+]' "$WORK/data-$V.diff" | grep -v '^+==== ' || true)
	if [[ -z $removed ]]; then
		ok "upgraded from $V: every row of every table is still there, unchanged ($(grep -vc '^====' "$WORK/before-$V.data") rows)"
	else
		bad "upgraded from $V: rows changed or lost by the update:"
		echo "$removed" | head -n 50
	fi
	if [[ $added == "$expected_added" ]]; then
		ok "upgraded from $V: the update added exactly the expected rows${expected_added:+ (the folded outbox retry policies)}"
	else
		bad "upgraded from $V: the update added rows other than expected:"
		diff <(echo "$expected_added") <(echo "$added") | head -n 50
	fi
	if [[ $V == 0.1.0 ]]; then
		if [[ $dropped == paycons.outbox_retry_policies ]]; then
			ok "upgraded from 0.1.0: paycons.outbox_retry_policies is gone (folded into retry_policies)"
		else
			bad "upgraded from 0.1.0: tables dropped: '$dropped', expected paycons.outbox_retry_policies"
		fi
	fi

	# (c) the API on the upgraded database
	works "$OLD" "after the update, a callback is applied" \
		"SELECT outcome || ' ' || state FROM paycons.apply_callback('alipay', 't-new', 'u-paying', 'payment', 'success', 1002, 'CNY')" \
		"applied paid"
	works "$OLD" "after the update, history and event ids continue" \
		"SELECT (SELECT min(id) > 23 FROM paycons.order_history WHERE order_id = 'u-paying' AND to_state::text = 'paid')
		    AND (SELECT min(id) > 4 FROM paycons.outbox WHERE aggregate_id = 'u-paying' AND event_type = 'order.paid')" t
	works "$OLD" "after the update, the folded policy drives a nack" \
		"SELECT (SELECT count(*) FROM paycons.outbox_claim('c', 100, '1 minute')) > 0
		    AND paycons.retry_delay('outbox:order.paid', 1, 0) = '10 seconds'" t
	out=$(psql -X -q -At -d "$OLD" -c '\set VERBOSITY sqlstate' \
		-c "UPDATE paycons.orders SET state = 'created' WHERE order_id = 'u-paid'" 2>&1) || true
	if [[ $out == *PC001* ]]; then
		ok "after the update, the guard refuses an illegal change (PC001)"
	else
		bad "after the update, an illegal change should be refused with PC001, got: $out"
	fi
done

if ((fail)); then
	echo "upgrade: FAILED (work files in $WORK)"
	exit 1
fi
echo "upgrade: passed"
