#!/usr/bin/env bash
# readme_tour.sh -- every ```sql block of README.md runs as written.
#
# The blocks run in order, in one fresh database, through psql (the way a
# reader pastes them), after creating my_app if they name it without
# creating it; the roles they use are dropped afterwards.  Every
# error they raise must be one the README shows in a "-- ERROR:  ..."
# comment, in the same order; any other error, or a documented one that
# does not happen, fails the test.  test/run.sh runs it on the main cluster
# (scripts suite) and again on a cluster without shared_preload_libraries
# (nopreload suite).
#
# Exit 0 on success.  Environment: PGHOST, PGPORT, PGUSER (a superuser),
# REPO (the checkout), PAYCONS_TMP (scratch directory).
set -euo pipefail

REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
WORK=${PAYCONS_TMP:-$(mktemp -d)}
DB=paycons_readme_$$

ROLES=()
cleanup() {
	local r
	dropdb --if-exists "$DB" >/dev/null 2>&1 || true
	for r in "${ROLES[@]}"; do
		psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
	done
}
trap cleanup EXIT

# the blocks, in order
awk '/^```sql[[:space:]]*$/ { on = 1; n++; print "-- README.md sql block " n; next }
	/^```/ { on = 0; next }
	on' "$REPO/README.md" >"$WORK/readme.sql"
blocks=$(grep -c '^-- README.md sql block ' "$WORK/readme.sql" || true)
if ((blocks == 0)); then
	echo "FAIL: no \`\`\`sql block found in README.md"
	exit 1
fi

# the errors the README says will happen
grep -o -- '-- ERROR:.*' "$WORK/readme.sql" | sed 's/^-- //' >"$WORK/documented" || true

# The roles the README uses: those it creates itself, and my_app, which
# it may only name (then a reader has it already, and so do we).
mapfile -t ROLES < <({ grep -oiE 'CREATE ROLE [a-z_][a-z0-9_]*' "$WORK/readme.sql" | awk '{ print $3 }'
	grep -q 'my_app' "$WORK/readme.sql" && echo my_app; } | sort -u)
for r in "${ROLES[@]}"; do
	psql -X -q -d postgres -c 'SET client_min_messages = warning' -c "DROP ROLE IF EXISTS $r" >/dev/null
done
if grep -q 'my_app' "$WORK/readme.sql" && ! grep -qiE 'CREATE ROLE my_app' "$WORK/readme.sql"; then
	psql -X -q -d postgres -c 'CREATE ROLE my_app' >/dev/null
fi
createdb "$DB"
psql -X -q -d "$DB" -f "$WORK/readme.sql" >"$WORK/readme.out" 2>"$WORK/readme.err" || true
grep -o 'ERROR:.*' "$WORK/readme.err" | sed 's/^psql:[^ ]* //' >"$WORK/raised" || true

echo "README.md: $blocks sql block(s), $(grep -c '' "$WORK/readme.sql") lines, run with psql in database $DB"
if diff -u --label "errors documented in README.md" --label "errors raised" \
	"$WORK/documented" "$WORK/raised"; then
	echo "ok: every statement ran; the errors raised are exactly the $(wc -l <"$WORK/documented") documented one(s)"
else
	echo "FAIL: the README's SQL does not run as written; psql's messages:"
	cat "$WORK/readme.err"
	exit 1
fi
