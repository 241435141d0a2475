#!/usr/bin/env bash
# test/scripts/stock_concurrency.sh -- no oversell under concurrency.
#
# 8 pgbench clients race to reserve units of one hot sku (50 on hand, 1-3
# per order) plus one unit of a plentiful sku, for 400 orders, while others cancel orders (enqueueing release_stock) and run
# run_maintenance() (which releases them; concurrent passes skip).  At the
# end: reserved never exceeded on_hand (the CHECK would have refused it), the
# stock's reserved count equals the sum of the open reservations' lines, and
# every order holds all of its reservation or nothing.
# Needs PGHOST/PGPORT/PGUSER; creates and drops its own database.
set -euo pipefail
DB=paycons_stock_concurrency_$$
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d "$DB")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; dropdb --if-exists "$DB" >/dev/null 2>&1 || true' EXIT

createdb "$DB"
"${PSQL[@]}" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION paycons;
SELECT paycons.add_stock('hot', 50);
SELECT paycons.add_stock('side', 1000000);
SELECT paycons.create_order('sc-' || g, 100, 'USD') FROM generate_series(1, 400) g;
-- pgbench ends a client on any error: refusals are caught and counted
CREATE TABLE refusals (sqlstate text);
CREATE FUNCTION try_reserve(o text, q int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM paycons.reserve_stock(o, jsonb_build_array(
        jsonb_build_object('sku', 'side', 'quantity', 1),
        jsonb_build_object('sku', 'hot', 'quantity', q)));
EXCEPTION WHEN SQLSTATE 'PC305' OR SQLSTATE 'PC306' OR SQLSTATE 'PC307' OR SQLSTATE 'PC311' THEN
    INSERT INTO refusals VALUES (SQLSTATE);
END;
$$;
CREATE FUNCTION try_cancel(o text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM paycons.transition(o, 'cancelled');
EXCEPTION WHEN SQLSTATE 'PC001' THEN
    NULL;
END;
$$;
SQL

cat >"$WORK/reserve.sql" <<'EOF2'
\set o random(1, 400)
SELECT try_reserve('sc-' || :o, 1 + :o % 3);
EOF2
cat >"$WORK/cancel.sql" <<'EOF2'
\set o random(301, 400)
SELECT try_cancel('sc-' || :o);
EOF2
cat >"$WORK/maint.sql" <<'EOF2'
SELECT paycons.run_maintenance();
EOF2

pgbench -n -c 8 -j 2 -T 15 -d "$DB" \
	-f "$WORK/reserve.sql@10" -f "$WORK/cancel.sql@2" -f "$WORK/maint.sql@1" >"$WORK/pgbench.log" 2>&1 ||
	{ cat "$WORK/pgbench.log"; echo "pgbench failed"; exit 1; }
grep -E "^number of (transactions actually processed|failed)" "$WORK/pgbench.log" || true

# release whatever the cancels enqueued that no pass ran yet
"${PSQL[@]}" -c "SELECT paycons.run_maintenance()" >/dev/null

"${PSQL[@]}" -At <<'SQL' >"$WORK/check.out"
SELECT 'hot on_hand=' || on_hand || ' reserved=' || reserved FROM paycons.stock WHERE sku = 'hot';
SELECT 'refusals=' || count(*) FROM refusals;
SELECT 'reserved orders=' || count(*) FROM paycons.stock_orders WHERE state = 'reserved';
SELECT 'released orders=' || count(*) FROM paycons.stock_orders WHERE state = 'released';
SELECT 'CHECK ledger ' || (s.reserved = COALESCE((SELECT sum(r.quantity) FROM paycons.stock_reservations r
        JOIN paycons.stock_orders o USING (order_id) WHERE o.state = 'reserved' AND r.sku = 'hot'), 0))
  FROM paycons.stock s WHERE s.sku = 'hot';
SELECT 'CHECK no_oversell ' || bool_and(reserved <= on_hand) FROM paycons.stock;
SELECT 'CHECK all_or_nothing ' || NOT EXISTS (
    SELECT 1 FROM paycons.stock_orders o WHERE o.state = 'reserved'
       AND (SELECT count(*) FROM paycons.stock_reservations r WHERE r.order_id = o.order_id) <> 2);
SELECT 'CHECK cancelled_released ' || NOT EXISTS (
    SELECT 1 FROM paycons.orders o JOIN paycons.stock_orders s USING (order_id)
     WHERE o.state::text = 'cancelled' AND s.state = 'reserved');
SELECT 'CHECK sold_out_refused ' || (count(*) > 0) FROM refusals WHERE sqlstate = 'PC305';
SELECT 'CHECK stock_in_use ' || (reserved > 0) FROM paycons.stock WHERE sku = 'hot';
SELECT 'CHECK side_matches ' || (s.reserved = (SELECT count(*) FROM paycons.stock_orders WHERE state = 'reserved'))
  FROM paycons.stock s WHERE s.sku = 'side';
SQL
cat "$WORK/check.out"
if grep -q '^CHECK .* f$' "$WORK/check.out"; then
	echo "FAILED"
	exit 1
fi
echo "ok"
