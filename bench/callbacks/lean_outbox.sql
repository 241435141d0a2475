/*
 * Optional variant: the interim order.<state> emission replaced by a lean
 * one (a plain-SQL INSERT in a trigger function without a SET clause and
 * without the call through paycons.emit()), standing in for the C outbox
 * trigger that is being written.  Same rows, same payload.
 */
CREATE OR REPLACE FUNCTION paycons_bench.orders_emit_state_lean() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO paycons.outbox (aggregate_type, aggregate_id, event_type, payload)
    VALUES ('order', NEW.order_id, 'order.' || NEW.state::text, to_jsonb(NEW));
    RETURN NULL;
END;
$$;
SET search_path = paycons, pg_catalog;
DROP TRIGGER paycons_outbox_update ON paycons.orders;
CREATE TRIGGER paycons_outbox_update
    AFTER UPDATE ON paycons.orders
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION paycons_bench.orders_emit_state_lean();
