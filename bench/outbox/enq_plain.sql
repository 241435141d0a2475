-- reference enqueue: 100 events per transaction by one plain INSERT
INSERT INTO plain_q (aggregate_type, aggregate_id, event_type, payload)
SELECT 'bench', 'agg-' || (:client_id * 1000 + g), 'bench.event', jsonb_build_object('n', g)
  FROM generate_series(1, 100) g;
