-- bench/outbox/setup.sql: tables and helpers for bench/outbox/run.sh
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS paycons;

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

-- The reference queue: a plain, trigger-less table with the outbox's columns,
-- defaults and indexes (not partitioned).  Enqueue is a plain INSERT into
-- it, drain a plain DELETE ... SKIP LOCKED.
CREATE TABLE plain_q (
    id               bigserial PRIMARY KEY,
    aggregate_type   text NOT NULL,
    aggregate_id     text NOT NULL,
    event_type       text NOT NULL,
    payload          jsonb NOT NULL DEFAULT '{}',
    headers          jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    available_at     timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'leased', 'acked', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_expires_at timestamptz,
    last_error       text
);
CREATE INDEX plain_q_aggregate ON plain_q (aggregate_type, aggregate_id, id);

-- Fill either queue with n events over n/10 aggregates in one transaction.
-- The transaction takes its id before it draws event ids, as emit() does
-- (the claim's scan hint relies on it; see doc/outbox.md, Rules of use).
CREATE PROCEDURE fill(tbl text, n int) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_current_xact_id();
    EXECUTE format('INSERT INTO %s (aggregate_type, aggregate_id, event_type, payload)
                    SELECT ''bench'', ''agg-'' || (g %% %s), ''bench.event'', jsonb_build_object(''n'', g)
                      FROM generate_series(1, %s) g', tbl, greatest(n / 10, 1), n);
END;
$$;
