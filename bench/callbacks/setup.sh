#!/usr/bin/env bash
# setup.sh DB -- create the benchmark database: paycons, the two channels,
# the PL/pgSQL reference, the floor tables, sequences, and 10,000 callbacks
# already applied by each variant (for the replay runs).
set -euo pipefail
DB=$1
here=$(cd "$(dirname "$0")" && pwd)
q() { psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB" "$@"; }

dropdb --if-exists "$DB"
createdb "$DB"
q -c "SET client_min_messages = warning; CREATE EXTENSION paycons;"
q -f "$here/plpgsql.sql"
q -f "$here/floor.sql"
q <<'SQL' >/dev/null
SELECT paycons.set_channel('bench_c');
SELECT paycons.set_channel('bench_p');
CREATE SEQUENCE paycons_bench.seq_c;
CREATE SEQUENCE paycons_bench.seq_p;
CREATE SEQUENCE paycons_bench.seq_f;

-- replay seeds: 10,000 orders per variant, each paid by callback R<i>
ALTER TABLE paycons.orders DISABLE TRIGGER USER;
INSERT INTO paycons.orders (order_id, state, amount, currency, channel, pay_deadline)
SELECT p || i, 'paying', 1000, 'CNY', 'bench', now() + interval '1 day'
  FROM generate_series(1, 10000) i, unnest(ARRAY['RC', 'RP']) p;
ALTER TABLE paycons.orders ENABLE TRIGGER USER;
INSERT INTO paycons_bench.orders (order_id, state, amount, currency, channel, pay_deadline)
SELECT 'RF' || i, 'paying', 1000, 'CNY', 'bench', now() + interval '1 day'
  FROM generate_series(1, 10000) i;
SELECT count(*) FROM generate_series(1, 10000) i,
       LATERAL paycons.apply_callback('bench_c', 'R' || i, 'RC' || i, 'payment', 'success', 1000, 'CNY') r;
SELECT count(*) FROM generate_series(1, 10000) i,
       LATERAL paycons_bench.apply_callback_plpgsql('bench_p', 'R' || i, 'RP' || i, 'payment', 'success', 1000, 'CNY') r;
SQL
# the floor's replay seeds, written by its own statement
q <<'SQL' >/dev/null
INSERT INTO paycons_bench.callbacks (channel, channel_txn_id, order_id, kind, status, amount,
                                     currency, outcome, state, applied_at, source)
SELECT 'bench_f', 'R' || i, 'RF' || i, 'payment', 'success', 1000, 'CNY', 'applied', 'paid', now(), 'callback'
  FROM generate_series(1, 10000) i;
UPDATE paycons_bench.orders SET state = 'paid', paid_amount = 1000 WHERE order_id LIKE 'RF%';
SQL
q -c "VACUUM ANALYZE"
