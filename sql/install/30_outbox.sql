/*
 * 30_outbox.sql -- the transactional outbox.
 *
 * Columns map one to one onto the Debezium outbox event router's
 * (id, aggregatetype, aggregateid, type, payload); see doc/outbox.md.
 */

CREATE TABLE paycons.outbox (
    id               bigserial PRIMARY KEY,
    aggregate_type   text NOT NULL,
    aggregate_id     text NOT NULL,
    event_type       text NOT NULL,
    payload          jsonb NOT NULL DEFAULT '{}',
    headers          jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    available_at     timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'pending'
                     CONSTRAINT outbox_status_valid CHECK (status IN ('pending', 'leased', 'acked', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_expires_at timestamptz,
    last_error       text
);
CREATE INDEX outbox_aggregate ON paycons.outbox (aggregate_type, aggregate_id, id);
COMMENT ON TABLE paycons.outbox IS
    'transactional outbox: events written in the same transaction as the change they describe';
SELECT pg_catalog.pg_extension_config_dump('paycons.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.outbox_id_seq', '');

CREATE FUNCTION paycons.emit(
    aggregate_type text,
    aggregate_id text,
    event_type text,
    payload jsonb,
    headers jsonb DEFAULT NULL,
    available_at timestamptz DEFAULT now())
    RETURNS bigint
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
    INSERT INTO paycons.outbox (aggregate_type, aggregate_id, event_type, payload, headers, available_at)
    VALUES ($1, $2, $3, COALESCE($4, '{}'::jsonb), $5, COALESCE($6, now()))
    RETURNING id
$$;
COMMENT ON FUNCTION paycons.emit(text, text, text, jsonb, jsonb, timestamptz) IS
    'write one event to the outbox in the current transaction; returns its id';

-- The order hub emits order.<new state> for every state change.
CREATE FUNCTION paycons.orders_emit_state() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
BEGIN
    PERFORM paycons.emit('order', NEW.order_id, 'order.' || NEW.state::text,
                         to_jsonb(NEW));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION paycons.orders_emit_state() IS
    'AFTER trigger on paycons.orders: one outbox event order.<state> per state change';
CREATE TRIGGER paycons_outbox_insert
    AFTER INSERT ON paycons.orders
    FOR EACH ROW EXECUTE FUNCTION paycons.orders_emit_state();
CREATE TRIGGER paycons_outbox_update
    AFTER UPDATE ON paycons.orders
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION paycons.orders_emit_state();
