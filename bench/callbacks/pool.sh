#!/usr/bin/env bash
# pool.sh DB VARIANT COUNT -- add COUNT fresh paying orders for the next
# new-callback run of VARIANT (c, p or f), numbered after its sequence.
# Inserted directly (triggers off): this is fixture, not the measured path.
set -euo pipefail
DB=$1 V=$2 COUNT=$3
case $V in
  c) tbl=paycons.orders prefix=C ;;
  p) tbl=paycons.orders prefix=P ;;
  f) tbl=paycons_bench.orders prefix=F ;;
esac
psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB" <<SQL
ALTER TABLE $tbl DISABLE TRIGGER USER;
INSERT INTO $tbl (order_id, state, amount, currency, channel, pay_deadline)
SELECT '$prefix' || i, 'paying', 1000, 'CNY', 'bench', now() + interval '1 day'
  FROM generate_series((SELECT last_value + CASE WHEN is_called THEN 1 ELSE 0 END
                          FROM paycons_bench.seq_$V),
                       (SELECT last_value + CASE WHEN is_called THEN 1 ELSE 0 END
                          FROM paycons_bench.seq_$V) + $COUNT - 1) i
ON CONFLICT DO NOTHING;
ALTER TABLE $tbl ENABLE TRIGGER USER;
SQL
