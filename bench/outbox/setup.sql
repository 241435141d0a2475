-- bench/outbox/setup.sql: tables and helpers for bench/outbox/run.sh
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS paycons;
CREATE EXTENSION IF NOT EXISTS pgq;

-- trigger overhead: three identical tables
CREATE TABLE items_none (id int PRIMARY KEY, qty int NOT NULL, note text);
CREATE TABLE items_c    (LIKE items_none INCLUDING ALL);
CREATE TABLE items_plpg (LIKE items_none INCLUDING ALL);
INSERT INTO items_none SELECT g, 0, 'item ' || g FROM generate_series(1, 10000) g;
INSERT INTO items_c    SELECT * FROM items_none;
INSERT INTO items_plpg SELECT * FROM items_none;

CREATE TRIGGER items_c_outbox AFTER INSERT OR UPDATE OR DELETE ON items_c
    FOR EACH ROW EXECUTE FUNCTION paycons.outbox_trigger('item', 'id');

-- The same trigger written in PL/pgSQL: same row, same event, same NOTIFY.
CREATE FUNCTION items_plpg_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    INSERT INTO paycons.outbox (aggregate_type, aggregate_id, event_type, payload)
    VALUES (TG_ARGV[0], r.id::text,
            TG_ARGV[0] || '.' || CASE TG_OP WHEN 'INSERT' THEN 'created'
                                            WHEN 'UPDATE' THEN 'updated'
                                            ELSE 'deleted' END,
            to_jsonb(r));
    PERFORM pg_notify('paycons_outbox', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER items_plpg_outbox AFTER INSERT OR UPDATE OR DELETE ON items_plpg
    FOR EACH ROW EXECUTE FUNCTION items_plpg_outbox('item');

-- plain SQL queue: the reference drain
CREATE TABLE plain_q (
    id           bigserial PRIMARY KEY,
    aggregate_id text NOT NULL,
    event_type   text NOT NULL,
    payload      jsonb NOT NULL
);

-- PgQ: one queue, ticks every 100 events, one consumer
SELECT pgq.create_queue('bench_q');
SELECT pgq.set_queue_config('bench_q', 'ticker_max_count', '100');
SELECT pgq.register_consumer('bench_q', 'bench_c');

CREATE PROCEDURE fill_pgq(n int) LANGUAGE plpgsql AS $$
BEGIN
    FOR b IN 0 .. (n / 100) - 1 LOOP
        PERFORM pgq.insert_event('bench_q', 'bench.event',
                                 jsonb_build_object('n', g)::text)
           FROM generate_series(b * 100 + 1, b * 100 + 100) g;
        COMMIT;
        PERFORM pgq.ticker('bench_q');
        COMMIT;
    END LOOP;
END;
$$;

-- one PgQ consumer step: next batch, read its events, finish it
CREATE FUNCTION pgq_step() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    bid bigint;
    n   bigint;
BEGIN
    bid := pgq.next_batch('bench_q', 'bench_c');
    IF bid IS NULL THEN
        RETURN 0;
    END IF;
    SELECT count(*) INTO n FROM pgq.get_batch_events(bid);
    PERFORM pgq.finish_batch(bid);
    RETURN n;
END;
$$;
