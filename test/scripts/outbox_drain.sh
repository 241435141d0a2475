#!/bin/bash
# outbox_drain.sh -- bounded concurrent drain of the outbox.
#
# 100,000 events over 1,000 aggregates; 4 consumer processes claim batches
# of 100 and fail 5% of events at random (nack, retried after the retry
# policy's backoff); a fifth process runs paycons.outbox_maintain() every
# second with a rotation interval of 2 s, so segments rotate and are
# truncated (once empty) under the drain.
# Each consumer commits its claim at once (the lease protects the events),
# then records what it processed in drain_log in the same transaction as
# its ack/nack.  Afterwards: every event acknowledged exactly
# once, nothing left or dead, and per aggregate the successful processings
# follow id order.  Exit 0 = pass.  Env: PGHOST, PGPORT, PGUSER.
set -euo pipefail

DB=outbox_drain_$$
EVENTS=${EVENTS:-100000}
AGGREGATES=${AGGREGATES:-1000}
CONSUMERS=${CONSUMERS:-4}
PSQL="psql -X -q -v ON_ERROR_STOP=1 -d $DB"

cleanup() {
    for p in ${PIDS:-}; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    dropdb --if-exists "$DB" >/dev/null 2>&1 || true
}
trap cleanup EXIT

createdb "$DB"
$PSQL <<SQL
SET client_min_messages = warning;
CREATE EXTENSION paycons;
-- fast retries so the test stays short; enough attempts that none dies
INSERT INTO paycons.retry_policies
       (action, initial_interval, backoff_coefficient, max_interval, max_attempts, jitter)
VALUES ('outbox:drain.event', '10 ms', 2, '100 ms', 1000, 0.2);
CREATE TABLE drain_log (
    seq          bigserial PRIMARY KEY,
    event_id     bigint NOT NULL,
    aggregate_id text NOT NULL,
    consumer     text NOT NULL,
    outcome      text NOT NULL
);
CREATE PROCEDURE drain_consumer(name text) LANGUAGE plpgsql AS \$\$
DECLARE
    ids   bigint[];
    aggs  text[];
    acked bigint[];
BEGIN
    LOOP
        -- the claim commits at once: from here the lease protects the events
        SELECT array_agg(id ORDER BY id), array_agg(aggregate_id ORDER BY id)
          INTO ids, aggs
          FROM paycons.outbox_claim(name, 100, '30 seconds');
        COMMIT;
        IF ids IS NULL THEN
            EXIT WHEN NOT EXISTS (SELECT 1 FROM paycons.outbox);
            PERFORM pg_sleep(0.005);
            CONTINUE;
        END IF;
        -- "processing": recorded in the same transaction as the ack/nack
        acked := '{}';
        FOR i IN 1 .. array_length(ids, 1) LOOP
            IF random() < 0.05 THEN
                PERFORM paycons.outbox_nack(ids[i], 'random failure', NULL, name);
                INSERT INTO drain_log (event_id, aggregate_id, consumer, outcome)
                VALUES (ids[i], aggs[i], name, 'nack');
            ELSE
                INSERT INTO drain_log (event_id, aggregate_id, consumer, outcome)
                VALUES (ids[i], aggs[i], name, 'ack');
                acked := acked || ids[i];
            END IF;
        END LOOP;
        PERFORM paycons.outbox_ack(acked, name);
        COMMIT;
    END LOOP;
END;
\$\$;
SELECT count(paycons.emit('drain', 'agg-' || (g % $AGGREGATES), 'drain.event',
                          jsonb_build_object('n', g)))
  FROM generate_series(1, $EVENTS) g;
SQL

start=$(date +%s.%N)
PIDS=""
for i in $(seq 1 "$CONSUMERS"); do
    $PSQL -c "CALL drain_consumer('consumer-$i')" &
    PIDS="$PIDS $!"
done
CONSUMER_PIDS=$PIDS
# maintenance while the consumers run
(
    while true; do
        $PSQL -At -c "SET paycons.outbox_rotate_interval = '2s'; SELECT paycons.outbox_maintain()" >/dev/null
        sleep 1
    done
) &
MAINT=$!
PIDS="$PIDS $MAINT"

status=0
for p in $CONSUMER_PIDS; do
    wait "$p" || status=1
done
kill "$MAINT" 2>/dev/null || true
wait "$MAINT" 2>/dev/null || true
PIDS=""
end=$(date +%s.%N)
if [ $status -ne 0 ]; then
    echo "FAIL: a consumer failed"
    exit 1
fi

$PSQL -At <<SQL
\pset fieldsep ' '
SELECT 'drained in ' || round(($end - $start)::numeric, 1) || ' s; acks ' ||
       count(*) FILTER (WHERE outcome = 'ack') || ', nacks ' ||
       count(*) FILTER (WHERE outcome = 'nack') || ', rotations ' ||
       (SELECT rotations FROM paycons.outbox_rotation)
  FROM drain_log;
DO \$\$
DECLARE
    v bigint;
BEGIN
    SELECT count(*) INTO v FROM paycons.outbox;
    IF v <> 0 THEN RAISE EXCEPTION 'FAIL: % events left in the outbox', v; END IF;
    SELECT count(DISTINCT event_id) INTO v FROM drain_log WHERE outcome = 'ack';
    IF v <> $EVENTS THEN RAISE EXCEPTION 'FAIL: % distinct events acknowledged, expected $EVENTS', v; END IF;
    SELECT count(*) INTO v FROM drain_log WHERE outcome = 'ack';
    IF v <> $EVENTS THEN RAISE EXCEPTION 'FAIL: % acks for $EVENTS events (some acknowledged twice)', v; END IF;
    -- per aggregate, successful processing in id order
    SELECT count(*) INTO v FROM (
        SELECT event_id, lag(event_id) OVER (PARTITION BY aggregate_id ORDER BY seq) AS prev
          FROM drain_log WHERE outcome = 'ack') s
     WHERE prev > event_id;
    IF v <> 0 THEN RAISE EXCEPTION 'FAIL: % acks out of id order within their aggregate', v; END IF;
    -- nothing processed after its own ack, nothing processed by two at once
    SELECT count(*) INTO v FROM drain_log n JOIN drain_log a
        ON a.event_id = n.event_id AND a.outcome = 'ack' AND n.seq > a.seq;
    IF v <> 0 THEN RAISE EXCEPTION 'FAIL: % events handed out again after their ack', v; END IF;
    SELECT count(*) INTO v FROM drain_log WHERE outcome = 'nack';
    IF v = 0 THEN RAISE EXCEPTION 'FAIL: no nacks happened'; END IF;
END;
\$\$;
SELECT 'PASS';
SQL
