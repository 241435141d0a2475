#!/usr/bin/env bash
# dump_restore.sh -- a paycons database survives pg_dump and a restore,
# with no option, by every usual path.
#
# A database is filled through the API with every kind of row
# (test/fixtures/every_row.sql: orders in all twelve states, history,
# inbox, conflicts, outbox rows in every partition with leases, attempts
# and dead letters, compensations, stock and reservations, a statement and
# its differences, probes, channels with a secret, customised retry
# policies).  Then it is dumped and restored by
#   A  pg_dump -Fc + pg_restore                 into an empty database
#      (A2: pg_restore -j 2, A3: pg_restore --single-transaction)
#   B  pg_dump -Fp | psql                       into an empty database
#   C  pg_dump --data-only | psql               into a fresh CREATE EXTENSION paycons
#   D  pg_dump --data-only --disable-triggers   the same, after the documented TRUNCATE
#   E  pg_restore with session_replication_role = replica
# and every paycons table (each outbox partition apart) and sequence must
# read back byte for byte as in the source, ordered by key.  Afterwards the
# API works on the restored database (a callback, a claim, new ids), the
# guard still refuses an illegal INSERT and UPDATE; a dump that leaves the
# channel secrets out (F: --exclude-table-data of paycons.channels and paycons.channel_keys) restores
# the rest; and a dump by a role that may not read the tables fails
# instead of leaving something out.
#
# Exit 0 on success.  Environment: PGHOST, PGPORT, PGUSER (a superuser),
# REPO (the checkout), PAYCONS_TMP (scratch directory).
set -euo pipefail

REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
WORK=${PAYCONS_TMP:-$(mktemp -d)}
SRC=paycons_dr_src_$$
DBS=("$SRC")
fail=0

cleanup() {
	local db
	for db in "${DBS[@]}"; do
		dropdb --if-exists "$db" >/dev/null 2>&1 || true
	done
	dropuser --if-exists regress_dr_dumper >/dev/null 2>&1 || true
	dropuser --if-exists regress_dr_emitter >/dev/null 2>&1 || true
}
trap cleanup EXIT

q() { # q DB SQL...: run SQL, unaligned tuples only, stop on error
	local db=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -At -d "$db" "$@"
}

# snapshot DB OUT: every paycons table (each partition apart), ordered by
# its primary key (or by the whole row), and every paycons sequence; one
# psql session writes them all.
snapshot() {
	local db=$1 out=$2
	q "$db" -c "
		SELECT cmd FROM (
		SELECT format(E'\\\\echo ==== %s\\nCOPY (SELECT * FROM %s t ORDER BY %s) TO STDOUT;',
		              c.oid::regclass, c.oid::regclass,
		              COALESCE((SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)
		                          FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, n), pg_attribute a
		                         WHERE i.indrelid = c.oid AND i.indisprimary
		                           AND a.attrelid = c.oid AND a.attnum = k.attnum),
		                       't::text COLLATE \"C\"')) AS cmd
		  FROM pg_class c
		 WHERE c.relnamespace = 'paycons'::regnamespace AND c.relkind = 'r'
		UNION ALL
		SELECT format(E'\\\\echo ==== sequence %s\\nSELECT last_value, is_called FROM %s;',
		              c.oid::regclass, c.oid::regclass)
		  FROM pg_class c
		 WHERE c.relnamespace = 'paycons'::regnamespace AND c.relkind = 'S') s
		 ORDER BY cmd COLLATE \"C\"" >"$out.sql"
	q "$db" -f "$out.sql" >"$out"
}

# compare NAME DB: the restored DB reads back exactly as the source.
compare() {
	local name=$1 db=$2
	snapshot "$db" "$WORK/$name.snap"
	if diff -u --label "source" --label "restored ($name)" "$WORK/src.snap" "$WORK/$name.snap" >"$WORK/$name.diff"; then
		echo "ok: $name: every paycons table and sequence equal ($(grep -vc '^====' "$WORK/$name.snap") rows)"
	else
		echo "FAIL: $name: restored data differs from the source:"
		head -n 60 "$WORK/$name.diff"
		fail=1
	fi
}

newdb() { # newdb NAME [with-extension]
	DBS+=("$1")
	dropdb --if-exists "$1" >/dev/null 2>&1
	createdb "$1"
	if [[ ${2:-} == with-extension ]]; then
		# what a data-only restore needs first: the extension, and the
		# application's own objects that paycons rows name (schema public)
		q "$1" -c 'CREATE EXTENSION paycons' >/dev/null
		if [[ $(q "$SRC" -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") != 0 ]]; then
			pg_dump --schema-only --table='public.*' "$SRC" | q "$1" >/dev/null
		fi
	fi
}

# ---------------------------------------------------------------------------
echo "source: filling $SRC through the API"
createdb "$SRC"
dropuser --if-exists regress_dr_emitter >/dev/null 2>&1 || true
createuser regress_dr_emitter
q "$SRC" -c 'CREATE EXTENSION paycons' -f "$REPO/test/fixtures/every_row.sql" >"$WORK/fill.log"

# the source really has every kind of row
check_src() { # check_src WHAT SQL EXPECTED
	local got
	got=$(q "$SRC" -c "$2")
	if [[ $got == "$3" ]]; then
		echo "ok: source has $1"
	else
		echo "FAIL: source should have $1: got '$got', expected '$3'"
		fail=1
	fi
}
check_src "orders in all twelve states" \
	"SELECT count(DISTINCT state) FROM paycons.orders" 12
check_src "rows in every paycons table (none empty)" \
	"SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_class c
	  WHERE c.relnamespace = 'paycons'::regnamespace AND c.relkind = 'r'
	    AND (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', c.oid::regclass),
	                                             false, true, '')))[1]::text = '0'" ""
check_src "leased, pending and dead events" \
	"SELECT string_agg(DISTINCT status, ',' ORDER BY status) FROM paycons.outbox" "dead,leased,pending"
check_src "compensations pending, done and dead" \
	"SELECT string_agg(DISTINCT state, ',' ORDER BY state) FROM paycons.compensations" "dead,done,waiting_external"
check_src "a customised built-in retry policy" \
	"SELECT max_attempts FROM paycons.retry_policies WHERE action = 'refund'" 7
check_src "a channel secret" \
	"SELECT secret IS NOT NULL FROM paycons.channels WHERE channel = 'signed'" t
snapshot "$SRC" "$WORK/src.snap"

# ---------------------------------------------------------------------------
# A: custom format, pg_restore into an empty database
pg_dump -Fc -f "$WORK/src.dump" "$SRC"
newdb paycons_dr_a_$$
if pg_restore -d paycons_dr_a_$$ "$WORK/src.dump" >"$WORK/a.log" 2>&1; then
	compare "A pg_dump -Fc + pg_restore" paycons_dr_a_$$
else
	echo "FAIL: A: pg_restore failed:"
	cat "$WORK/a.log"
	fail=1
fi

# A2, A3: the same, in parallel and in one transaction
for variant in "A2:-j 2" "A3:--single-transaction"; do
	name=${variant%%:*} opt=${variant#*:}
	newdb "paycons_dr_${name,,}_$$"
	# shellcheck disable=SC2086
	if pg_restore $opt -d "paycons_dr_${name,,}_$$" "$WORK/src.dump" >"$WORK/$name.log" 2>&1; then
		compare "$name pg_restore $opt" "paycons_dr_${name,,}_$$"
	else
		echo "FAIL: $name: pg_restore $opt failed:"
		cat "$WORK/$name.log"
		fail=1
	fi
done

# B: plain format through psql into an empty database
newdb paycons_dr_b_$$
if pg_dump -Fp "$SRC" | psql -X -q -v ON_ERROR_STOP=1 -d paycons_dr_b_$$ >"$WORK/b.log" 2>&1; then
	compare "B pg_dump -Fp | psql" paycons_dr_b_$$
else
	echo "FAIL: B: psql stopped on an error:"
	cat "$WORK/b.log"
	fail=1
fi

# C: data only, into a database where CREATE EXTENSION paycons has run
newdb paycons_dr_c_$$ with-extension
if pg_dump --data-only "$SRC" | psql -X -q -v ON_ERROR_STOP=1 -d paycons_dr_c_$$ >"$WORK/c.log" 2>&1; then
	compare "C pg_dump --data-only | psql" paycons_dr_c_$$
else
	echo "FAIL: C: psql stopped on an error:"
	cat "$WORK/c.log"
	fail=1
fi

# D: data only with --disable-triggers: the replacing triggers are off too,
# so first empty the two tables CREATE EXTENSION fills (doc/operations.md)
newdb paycons_dr_d_$$ with-extension
q paycons_dr_d_$$ -c 'TRUNCATE paycons.retry_policies, paycons.outbox_rotation'
if pg_dump --data-only --disable-triggers "$SRC" |
	psql -X -q -v ON_ERROR_STOP=1 -d paycons_dr_d_$$ >"$WORK/d.log" 2>&1; then
	compare "D pg_dump --data-only --disable-triggers | psql" paycons_dr_d_$$
else
	echo "FAIL: D: psql stopped on an error:"
	cat "$WORK/d.log"
	fail=1
fi

# E: pg_restore in replica mode (no ordinary trigger fires at all)
newdb paycons_dr_e_$$
if PGOPTIONS='-c session_replication_role=replica' \
	pg_restore -d paycons_dr_e_$$ "$WORK/src.dump" >"$WORK/e.log" 2>&1; then
	compare "E pg_restore, session_replication_role = replica" paycons_dr_e_$$
else
	echo "FAIL: E: pg_restore failed:"
	cat "$WORK/e.log"
	fail=1
fi

# ---------------------------------------------------------------------------
# After the restore (A): the API works, ids go on, the guard still guards.
R=paycons_dr_a_$$
check() { # check WHAT SQL EXPECTED
	local got
	got=$(q "$R" -c "$2" 2>&1) || true
	if [[ $got == "$3" ]]; then
		echo "ok: after restore: $1"
	else
		echo "FAIL: after restore: $1: got '$got', expected '$3'"
		fail=1
	fi
}
refused() { # refused WHAT SQL SQLSTATE
	local got
	got=$(psql -X -q -At -d "$R" -v VERBOSITY=sqlstate -c "\\set VERBOSITY sqlstate" -c "$2" 2>&1) || true
	if [[ $got == *"$3"* ]]; then
		echo "ok: after restore: $1 is refused ($3)"
	else
		echo "FAIL: after restore: $1 should be refused with $3, got: $got"
		fail=1
	fi
}
maxid() { q "$1" -c "SELECT COALESCE(max(id), 0) FROM paycons.$2"; }
hist_before=$(maxid "$R" order_history)
event_before=$(maxid "$R" outbox)
check "a new callback is applied" \
	"SELECT outcome || ' ' || state FROM paycons.apply_callback('alipay', 't-new', 'o-stuck', 'payment', 'success', 500, 'USD')" \
	"applied paid"
check "its replay is a duplicate" \
	"SELECT duplicate FROM paycons.apply_callback('alipay', 't-new', 'o-stuck', 'payment', 'success', 500, 'USD')" t
check "the forged callback of the restored channel secret is still refused" \
	"SELECT outcome FROM paycons.apply_callback('signed', 't-forged-2', 'o-created', 'payment', 'success', 1000, 'CNY', NULL, 'deadbeef', 'body')" \
	"bad_signature"
check "history ids continue after the restored ones" \
	"SELECT min(id) > $hist_before FROM paycons.order_history WHERE order_id = 'o-stuck' AND to_state::text = 'paid'" t
check "event ids continue after the restored ones" \
	"SELECT min(id) > $event_before FROM paycons.outbox WHERE aggregate_id = 'o-stuck' AND event_type = 'order.paid'" t
check "the restored leases are acknowledged by their consumer" \
	"SELECT paycons.outbox_ack(array_agg(id), 'consumer-1') = count(*) AND count(*) > 0
	   FROM paycons.outbox WHERE status = 'leased' AND lease_owner = 'consumer-1'" t
check "a claim hands out the next events" \
	"SELECT count(*) > 0 FROM paycons.outbox_claim('after-restore', 100, '1 minute')" t
check "run_maintenance works" "SELECT paycons.run_maintenance() ->> 'ran'" true
refused "the owner's INSERT of a paid order" \
	"INSERT INTO paycons.orders (order_id, state, amount, currency, pay_deadline) VALUES ('o-raw', 'paid', 1, 'CNY', now())" \
	PC007
refused "an UPDATE from paid back to created" \
	"UPDATE paycons.orders SET state = 'created' WHERE order_id = 'o-paid'" PC001
refused "an UPDATE of a refunded order" \
	"UPDATE paycons.orders SET state = 'paid' WHERE order_id = 'o-refunded'" PC001

# ---------------------------------------------------------------------------
# A dump without the channel secrets: the owner leaves paycons.channels out
pg_dump -Fc --exclude-table-data=paycons.channels --exclude-table-data=paycons.channel_keys -f "$WORK/nosecrets.dump" "$SRC"
newdb paycons_dr_f_$$
if pg_restore -d paycons_dr_f_$$ "$WORK/nosecrets.dump" >"$WORK/f.log" 2>&1 &&
	[[ $(q paycons_dr_f_$$ -c "SELECT count(*) FROM paycons.channels") == 0 &&
		$(q paycons_dr_f_$$ -c "SELECT count(*) FROM paycons.orders") == $(q "$SRC" -c "SELECT count(*) FROM paycons.orders") ]]; then
	echo "ok: F --exclude-table-data=paycons.channels and channel_keys: restored without channels, orders complete"
else
	echo "FAIL: F: a dump without paycons.channels did not restore as expected:"
	cat "$WORK/f.log"
	fail=1
fi
out=$(psql -X -q -At -d paycons_dr_f_$$ -c '\set VERBOSITY sqlstate' \
	-c "SELECT * FROM paycons.apply_callback('alipay', 't-x', 'o-paying', 'payment', 'success', 1000, 'CNY')" 2>&1) || true
if [[ $out == *PC106* ]]; then
	echo "ok: F: until set_channel() registers it again, the channel's callbacks are refused (PC106)"
else
	echo "FAIL: F: a callback of an unregistered channel should be refused with PC106, got: $out"
	fail=1
fi

# ---------------------------------------------------------------------------
# Who may dump: the tables (channel secrets above all) are the owner's.  A
# role that may not read them cannot make a dump that silently lacks them.
createuser regress_dr_dumper
if pg_dump -U regress_dr_dumper -Fc -f "$WORK/denied.dump" "$SRC" >"$WORK/denied.log" 2>&1; then
	echo "FAIL: a dump by a role without privileges on the paycons tables succeeded"
	fail=1
elif grep -q 'permission denied for' "$WORK/denied.log"; then
	echo "ok: a dump by a role that may not read the paycons tables fails: $(grep -m1 -o 'permission denied for [a-z]* [a-z_]*' "$WORK/denied.log")"
else
	echo "FAIL: the dump by an unprivileged role failed otherwise:"
	cat "$WORK/denied.log"
	fail=1
fi

if ((fail)); then
	echo "dump_restore: FAILED"
	exit 1
fi
echo "dump_restore: passed"
