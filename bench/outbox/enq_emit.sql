-- paycons enqueue: 100 events per transaction through paycons.emit()
SELECT count(paycons.emit('bench', 'agg-' || (:client_id * 1000 + g), 'bench.event', jsonb_build_object('n', g)))
  FROM generate_series(1, 100) g;
