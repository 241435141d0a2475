#!/usr/bin/env bash
# test/demo.sh -- `make demo`: a payment storm repaired inside PostgreSQL
#
# Builds and installs paycons, starts a throwaway PostgreSQL 15 cluster WITH
# the paycons background worker, sets up a shop with an Alipay-like and a
# WeChat-Pay-v3-like channel (keys made here with openssl), and runs the
# channel simulator (test/demo/sim/, C with libpq and OpenSSL): ORDERS
# orders, notifications signed and formatted as the channels do, delivered
# on their retry schedules with duplicates, losses, forgeries, wrong
# amounts, late payments, refunds and customers who never pay; an outbox
# consumer; the day's statements reconciled; an operator's decisions.
# Then a report computed from the database, on the terminal and in
# demo-report/index.html (with demo-report/states.svg).  Exit status 1 if
# any invariant does not hold.
#
# Knobs (environment, or make variables: `make demo ORDERS=100000 KEEP=1`):
#   ORDERS      orders (default 10000)
#   RATE        orders taken per second (default 500)
#   PAY_WITHIN  seconds a customer has to pay (default 8: "30 minutes")
#   GRACE       paycons.stuck_grace in seconds (default 4)
#   SCALE       channel seconds per real second for the retry schedules (default 600)
#   SEED        the plan's random seed (default 20261202)
#   KEEP=1      leave the cluster running and say how to connect
#   DEMO_REPORT where the report goes (default demo-report/)
#   DEMO_WORK   keys, simulator, statement files (default tmp_check/demo/work)
#   DEMO_SKIP_BUILD=1  use the paycons already installed (test/scripts/demo_small.sh)
#   PAYCONS_PGBIN, PAYCONS_PGXS, PG_CONFIG: which PostgreSQL, as for test/run.sh

set -euo pipefail

DEMO_T0=$(date +%s.%N)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

ORDERS=${ORDERS:-10000}
RATE=${RATE:-500}
PAY_WITHIN=${PAY_WITHIN:-8}
GRACE=${GRACE:-4}
SCALE=${SCALE:-600}
SEED=${SEED:-20261202}
KEEP=${KEEP:-}
DEMO_REPORT=${DEMO_REPORT:-$REPO/demo-report}
DEMO_WORK=${DEMO_WORK:-$PAYCONS_CHECK_DIR/demo/work}
DB=paycons_demo

for v in ORDERS SEED; do
	if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
		paycons_err "$v must be a positive integer (got '${!v}')"
		exit 2
	fi
done
for v in RATE PAY_WITHIN GRACE SCALE; do
	if ! [[ ${!v} =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
		paycons_err "$v must be a number (got '${!v}')"
		exit 2
	fi
done

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# The cluster is stopped at the end, also on error or Ctrl-C, unless KEEP=1
# asked for it after a complete run.
KEEP_RUNNING=0
on_exit() {
	if ((KEEP_RUNNING)); then
		return 0
	fi
	paycons_stop_cluster
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

paycons_ensure_packages || exit 1
if [[ -z ${DEMO_SKIP_BUILD:-} ]]; then
	T=$(date +%s.%N)
	paycons_build_install || exit 1
	paycons_say "built and installed paycons in $(elapsed "$T") s"
fi

# ---------------------------------------------------------------------------
# The cluster: the worker on, serving the demo database, on a short fuse.

PAYCONS_TAP_DIR=$PAYCONS_CHECK_DIR/demo # (nothing of test/run.sh's to stop)
PAYCONS_EXTRA_CONF_FROM="test/demo.sh (make demo)"
PAYCONS_EXTRA_CONF="shared_preload_libraries = 'paycons'
paycons.database = '$DB'
paycons.enabled = on
paycons.naptime = '500ms'
paycons.stuck_grace = '${GRACE}s'
paycons.refund_stuck_after = '10s'
max_connections = 40
log_min_messages = warning"
paycons_start_cluster demo || exit 1

T_SETUP=$(date +%s.%N)
# (only what the demo writes is removed: the folders may be the user's)
mkdir -p "$DEMO_WORK" "$DEMO_REPORT"
rm -rf "$DEMO_WORK/keys"
rm -f "$DEMO_WORK"/{paycons-sim,sim-build.log,operator.log,cluster.env} "$DEMO_WORK"/*.csv
rm -f "$DEMO_REPORT"/{index.html,states.svg,flow.svg,operator.log,screenshot.png} "$DEMO_REPORT"/*.csv
mkdir -p "$DEMO_WORK/keys"
# how to reach this cluster (test/scripts/demo_small.sh reads it with KEEP=1)
cat >"$DEMO_WORK/cluster.env" <<ENV
PGHOST='$PGHOST'
PGPORT='$PGPORT'
PGUSER=postgres
PGDATABASE='$DB'
DEMO_PGDATA='$PAYCONS_DATA'
DEMO_CLUSTER_USER='$PAYCONS_CLUSTER_USER'
DEMO_PGBIN='$PAYCONS_PGBIN'
ENV
psql_demo() { psql -X -q -v ON_ERROR_STOP=1 -P pager=off -d "$DB" "$@"; }
createdb "$DB"
psql_demo -c 'CREATE EXTENSION paycons'

# ---------------------------------------------------------------------------
# Keys for this run only: the channels' signing keys (their public halves
# go to paycons), an attacker's key, and the APIv3 key.

K=$DEMO_WORK/keys
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/alipay_private.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/wechat_platform_private.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/attacker_private.pem" 2>/dev/null
# Alipay's console shows its public key as the bare base64 of the DER
ALIPAY_PUB=$(openssl pkey -in "$K/alipay_private.pem" -pubout -outform DER | base64 -w0)
openssl pkey -in "$K/wechat_platform_private.pem" -pubout -out "$K/wechat_platform_public.pem"
WECHAT_SERIAL=$(openssl rand -hex 20 | tr 'a-f' 'A-F')
APIV3_KEY=$(openssl rand -base64 64 | tr -dc 'A-Za-z0-9' | head -c 32)
paycons_say "keys made for this run in ${K#"$REPO"/}/ (WeChat Pay platform serial $WECHAT_SERIAL)"

# ---------------------------------------------------------------------------
# The channel simulator

CC=${CC:-cc}
INCDIR=$("$PAYCONS_PGBIN/pg_config" --includedir)
if ! "$CC" -O2 -Wall -Wextra -Werror -I"$INCDIR" -o "$DEMO_WORK/paycons-sim" \
	test/demo/sim/*.c -lpq -lcrypto -lpthread 2>"$DEMO_WORK/sim-build.log"; then
	paycons_err "the channel simulator did not build:"
	cat "$DEMO_WORK/sim-build.log" >&2
	exit 1
fi

psql_demo -o /dev/null -f test/demo/setup.sql \
	-v alipay_pub="$ALIPAY_PUB" -v wechat_pub="$(cat "$K/wechat_platform_public.pem")" \
	-v wechat_serial="$WECHAT_SERIAL" -v apiv3_key="$APIV3_KEY" \
	-v alipay_app_id=2021004100000001 -v wechat_mchid=1900000109 -v orders="$ORDERS"
psql_demo -f test/demo/report_schema.sql
psql_demo -f test/demo/report_html.sql
paycons_say "shop ready: channels alipay and wechatpay, roles shop_app, shop_consumer, shop_oncall ($(elapsed "$T_SETUP") s)"
echo

T_STORM=$(date +%s.%N)
SIM_RC=0
"$DEMO_WORK/paycons-sim" --dbname "$DB" --out "$DEMO_WORK" \
	--alipay-key "$K/alipay_private.pem" --wechat-key "$K/wechat_platform_private.pem" \
	--attacker-key "$K/attacker_private.pem" --wechat-serial "$WECHAT_SERIAL" --apiv3-key "$APIV3_KEY" \
	--operator-sql "$REPO/test/demo/operator.sql" --psql "$PAYCONS_PGBIN/psql" \
	--orders "$ORDERS" --rate "$RATE" --pay-within "$PAY_WITHIN" --grace "$GRACE" --scale "$SCALE" \
	--seed "$SEED" || SIM_RC=$?
STORM_S=$(elapsed "$T_STORM")
if ((SIM_RC == 1)); then
	paycons_err "the simulator failed; server log: $PAYCONS_PGLOG"
	exit 1
fi

# ---------------------------------------------------------------------------
# The report: every figure a query

psql_demo -f test/demo/report.sql
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
TOTAL_S=$(elapsed "$DEMO_T0")
META=$(printf '{"orders": "%s", "seconds": "%s", "load": "%s", "cores": "%s", "started": "%s"}' \
	"$ORDERS" "$TOTAL_S" "${LOAD_START%% *} at the start, ${LOAD_END%% *} at the end" "$(nproc)" \
	"$(date -d "@${DEMO_T0%.*}" '+%Y-%m-%d %H:%M:%S %Z')")
echo "SELECT demo.report_html(:'meta');" | psql_demo -At -v meta="$META" -o "$DEMO_REPORT/index.html"
psql_demo -At -c 'SELECT paycons.state_graph()' | dot -Tsvg -o "$DEMO_REPORT/states.svg"
psql_demo -At -c 'SELECT demo.flow_dot()' | dot -Tsvg -o "$DEMO_REPORT/flow.svg"
cp -r "$DEMO_WORK"/*.csv "$DEMO_WORK/operator.log" "$DEMO_REPORT/" 2>/dev/null || true

FAILED=$(psql_demo -At -c 'SELECT count(*) FROM demo.invariants() WHERE NOT ok')
echo
echo "Report: $DEMO_REPORT/index.html (states: $DEMO_REPORT/states.svg, statements and operator log beside it)"
echo "Timing: storm ${STORM_S} s, whole run ${TOTAL_S} s; load average ${LOAD_START} at the start, ${LOAD_END} at the end, $(nproc) cores"

if [[ -n $KEEP ]]; then
	KEEP_RUNNING=1
	echo
	echo "The cluster keeps running (KEEP=1). Connect with:"
	echo "  $PAYCONS_PGBIN/psql -h $PAYCONS_SOCK -p $PAYCONS_PORT -U postgres $DB"
	echo "Stop it with:"
	if paycons_is_root; then
		echo "  runuser -u $PAYCONS_CLUSTER_USER -- $PAYCONS_PGBIN/pg_ctl -D $PAYCONS_DATA stop"
	else
		echo "  $PAYCONS_PGBIN/pg_ctl -D $PAYCONS_DATA stop"
	fi
	echo "(the next make demo or make test stops it too)"
fi

if ((FAILED > 0 || SIM_RC != 0)); then
	echo
	paycons_err "$FAILED invariant(s) violated${SIM_RC:+; simulator status $SIM_RC}"
	exit 1
fi
echo
paycons_say "demo finished: every invariant holds"
