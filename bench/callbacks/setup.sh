#!/usr/bin/env bash
# setup.sh DB -- create the benchmark database: paycons, the channels, the
# PL/pgSQL reference, the floor tables, sequences, and a production-like
# orders table: ORDERS orders (default 1,000,000), of which PAID (default
# 100,000) were paid by a callback through apply_callback (C): the replay
# pool of both C and PL/pgSQL (same keys, same stored rows); the others
# are created, paying, closed or cancelled.  The floor's copy of the tables
# gets the same numbers.
set -euo pipefail
DB=$1
ORDERS=${ORDERS:-1000000}
PAID=${PAID:-100000}
here=$(cd "$(dirname "$0")" && pwd)
q() { psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB" "$@"; }

dropdb --if-exists --force "$DB"   # --force: the worker and notifier are connected
createdb "$DB"
q -c "SET client_min_messages = warning; CREATE EXTENSION paycons;"
q -f "$here/plpgsql.sql"
q -f "$here/floor.sql"
q -v paid="$PAID" -v orders="$ORDERS" <<'SQL' >/dev/null
SELECT paycons.set_channel('bench_c');
SELECT paycons.set_channel('bench_p');
CREATE SEQUENCE paycons_bench.seq_c;
CREATE SEQUENCE paycons_bench.seq_p;
CREATE SEQUENCE paycons_bench.seq_f;

-- the replay pool: PAID orders paid by callback R<i>, through the real path
ALTER TABLE paycons.orders DISABLE TRIGGER USER;
INSERT INTO paycons.orders (order_id, state, amount, currency, channel, pay_deadline)
SELECT 'RC' || i, 'paying', 1000, 'CNY', 'bench', now() + interval '1 day'
  FROM generate_series(1, :paid) i;
-- the rest: orders that will never see a callback of the benchmark
INSERT INTO paycons.orders (order_id, state, amount, currency, pay_deadline)
SELECT 'X' || i, (ARRAY['created', 'paying', 'closed', 'cancelled'])[1 + i % 4]::paycons.order_state,
       1000 + i % 5000, 'CNY', now() + interval '1 day'
  FROM generate_series(1, :orders - :paid) i;
ALTER TABLE paycons.orders ENABLE TRIGGER USER;
INSERT INTO paycons_bench.orders (order_id, state, amount, currency, channel, pay_deadline)
SELECT 'RF' || i, 'paying', 1000, 'CNY', 'bench', now() + interval '1 day'
  FROM generate_series(1, :paid) i;
INSERT INTO paycons_bench.orders (order_id, state, amount, currency, pay_deadline)
SELECT 'X' || i, (ARRAY['created', 'paying', 'closed', 'cancelled'])[1 + i % 4]::paycons.order_state,
       1000 + i % 5000, 'CNY', now() + interval '1 day'
  FROM generate_series(1, :orders - :paid) i;
SELECT count(*) FROM generate_series(1, :paid) i,
       LATERAL paycons.apply_callback('bench_c', 'R' || i, 'RC' || i, 'payment', 'success', 1000, 'CNY') r
 WHERE r.outcome = 'applied';
SQL
# the floor's replay seeds, written by its own statement
q -v paid="$PAID" -v orders="$ORDERS" <<'SQL' >/dev/null
INSERT INTO paycons_bench.callbacks (channel, channel_txn_id, order_id, kind, status, amount,
                                     currency, outcome, state, applied_at, source)
SELECT 'bench_f', 'R' || i, 'RF' || i, 'payment', 'success', 1000, 'CNY', 'applied', 'paid', now(), 'callback'
  FROM generate_series(1, :paid) i;
UPDATE paycons_bench.orders SET state = 'paid', paid_amount = 1000 WHERE order_id LIKE 'RF%';
-- what the runs read: the size of the replay pool
CREATE TABLE paycons_bench.settings AS SELECT :paid::int AS paid, :'orders'::int AS orders;
SQL
q -c "VACUUM ANALYZE"
