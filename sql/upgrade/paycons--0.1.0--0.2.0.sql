/*
 * paycons--0.1.0--0.2.0.sql -- upgrade from 0.1.0 (the first release) to
 * 0.2.0.
 *
 * Every schema change of the 0.2.0 round lands here as well as in the
 * install fragments under sql/install/; the upgrade test
 * (test/t/... and `make test`) checks that an upgraded 0.1.0 database and a
 * fresh 0.2.0 install end up with the same schema.  Sections are kept per
 * concern (one per issue) so that parallel work merges cleanly.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION paycons UPDATE TO '0.2.0'" to load this file. \quit

/* ---- issue 9: one retry-policy table, one backoff formula ---- */

-- Nacked outbox events now take their policy from paycons.retry_policies
-- (action 'outbox:<event_type>', else 'outbox', else '*'), with the same
-- formula and jitter as compensations.  The rows of the old table move over.
INSERT INTO paycons.retry_policies
    (action, initial_interval, backoff_coefficient, max_interval, max_attempts, jitter, non_retryable)
SELECT CASE WHEN r.event_type OPERATOR(pg_catalog.=) '*' THEN 'outbox'
            ELSE 'outbox:' OPERATOR(pg_catalog.||) r.event_type END,
       r.initial_interval,
       LEAST(r.backoff_coefficient, 100),
       GREATEST(r.max_interval, r.initial_interval),
       r.max_attempts, r.jitter, '{}'
  FROM paycons.outbox_retry_policies r
ON CONFLICT (action) DO NOTHING;
INSERT INTO paycons.retry_policies
    (action, initial_interval, backoff_coefficient, max_interval, max_attempts, jitter, non_retryable)
VALUES ('outbox', '1 second', 2.0, '5 minutes', 10, 0.2, '{}')
ON CONFLICT (action) DO NOTHING;
DROP TABLE paycons.outbox_retry_policies;
SELECT pg_catalog.pg_extension_config_dump('paycons.retry_policies',
    $$WHERE action NOT IN ('*', 'release_stock', 'refund', 'payment.query', 'refund.query', 'outbox')$$);
COMMENT ON TABLE paycons.retry_policies IS
    'retry policy per action -- compensation actions, payment.query/refund.query, and outbox:<event_type> for nacked events (fields as in Temporal''s RetryPolicy); looked up by exact action, then by the part before '':'', then ''*''';

/* ---- issue 11: CDC-safe outbox ---- */

-- Rotation no longer copies live events: an event stays in the segment
-- (partition) it was written to until it is acknowledged, a segment is
-- truncated only once it holds nothing, and the ring grows by a segment
-- when none is empty.  Existing events stay where they are.  The current
-- segment is now the sequence's last value itself, not its value modulo 3.
SELECT pg_catalog.setval('paycons.outbox_slot_seq',
                         (SELECT last_value OPERATOR(pg_catalog.%) 3 FROM paycons.outbox_slot_seq), true);
COMMENT ON SEQUENCE paycons.outbox_slot_seq IS
    'outbox rotation: the current segment is paycons.outbox_<last_value>';
CREATE OR REPLACE FUNCTION paycons.outbox_current_slot() RETURNS smallint
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
    SELECT last_value::pg_catalog.int2 FROM paycons.outbox_slot_seq
$$;
COMMENT ON FUNCTION paycons.outbox_current_slot() IS
    'the outbox segment (partition) new events go into';
COMMENT ON COLUMN paycons.outbox.id IS 'event id (Debezium: table.field.event.id, default id); increases with commit order within one aggregate';
COMMENT ON COLUMN paycons.outbox.aggregate_type IS 'Debezium: route.by.field=aggregate_type (routes to a topic)';
COMMENT ON COLUMN paycons.outbox.aggregate_id IS 'Debezium: table.field.event.key=aggregate_id (message key; per-aggregate FIFO)';
COMMENT ON COLUMN paycons.outbox.event_type IS 'Debezium: table.field.event.type=event_type';
COMMENT ON COLUMN paycons.outbox.payload IS 'Debezium: table.field.event.payload, default payload';
COMMENT ON COLUMN paycons.outbox.slot IS 'segment (partition) the row was written to and stays in (internal)';
COMMENT ON TABLE paycons.outbox_0 IS 'outbox segment (see paycons.outbox_maintain)';
COMMENT ON TABLE paycons.outbox_1 IS 'outbox segment (see paycons.outbox_maintain)';
COMMENT ON TABLE paycons.outbox_2 IS 'outbox segment (see paycons.outbox_maintain)';
COMMENT ON TABLE paycons.outbox_rotation IS 'when paycons.outbox_maintain() last rotated the outbox segments';
CREATE OR REPLACE FUNCTION paycons.outbox_maintain(force boolean DEFAULT false)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, paycons, pg_temp
    SET lock_timeout = '50ms'
AS $$
DECLARE
    -- (missing_ok: in a session where the library is not loaded yet)
    v_interval  interval := COALESCE(current_setting('paycons.outbox_rotate_interval', true), '10s')::interval;
    v_max       constant integer := 16;     -- OUTBOX_MAX_SLOTS in src/outbox.h
    v_last      timestamptz;
    v_cur       smallint;
    v_next      smallint;
    v_new       smallint;
    v_slots     smallint[];
    v_truncated smallint[] := '{}';
    v_waiting   smallint[] := '{}';
    v_busy      smallint[] := '{}';
    v_rotated   boolean := false;
    v_skipped   text;
    v_rel       regclass;
    v_id        bigint;
    v_locked    boolean;
    v_budget    timestamptz;
    s           smallint;
BEGIN
    SELECT rotated_at INTO v_last FROM paycons.outbox_rotation FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('rotated', false, 'current_slot', paycons.outbox_current_slot(),
                                  'skipped', 'another maintenance pass is running');
    END IF;
    v_cur := paycons.outbox_current_slot();
    SELECT array_agg(substr(c.relname, 8)::smallint ORDER BY substr(c.relname, 8)::integer)
      INTO v_slots
      FROM pg_catalog.pg_inherits i
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid
     WHERE i.inhparent OPERATOR(pg_catalog.=) 'paycons.outbox'::pg_catalog.regclass
       AND c.relname OPERATOR(pg_catalog.~) '^outbox_[0-9]+$';

    -- 1. truncate the segments that hold nothing
    FOREACH s IN ARRAY v_slots LOOP
        CONTINUE WHEN s = v_cur;
        v_rel := format('paycons.%I', 'outbox_' || s)::regclass;
        CONTINUE WHEN pg_catalog.pg_relation_size(v_rel) = 0;
        EXECUTE format('SELECT id FROM %s ORDER BY id LIMIT 1', v_rel) INTO v_id;
        IF v_id IS NOT NULL THEN
            v_waiting := v_waiting || s;
            CONTINUE;
        END IF;
        -- A transaction that has held a lock on it for over a second (a
        -- report, pg_dump) will not let go soon: do not wait for it.
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                     JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid
                    WHERE l.relation OPERATOR(pg_catalog.=) v_rel AND l.granted
                      AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
                      AND a.xact_start OPERATOR(pg_catalog.<) (pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) interval '1 second')) THEN
            v_busy := v_busy || s;
            CONTINUE;
        END IF;
        -- NOWAIT: a queued lock request would hold up every claim behind
        -- it.  Claims hold their locks for a moment only: try again every
        -- 2 ms, for at most 20 ms per segment.
        v_locked := false;
        v_budget := clock_timestamp() + interval '20 milliseconds';
        LOOP
            BEGIN
                EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', v_rel);
                v_locked := true;
            EXCEPTION WHEN lock_not_available THEN
                NULL;
            END;
            EXIT WHEN v_locked OR clock_timestamp() >= v_budget;
            PERFORM pg_catalog.pg_sleep(0.002);
        END LOOP;
        IF NOT v_locked THEN
            v_busy := v_busy || s;
            CONTINUE;
        END IF;
        -- again under the lock: a writer that read the slot before a
        -- rotation may have added an event since the first look
        EXECUTE format('SELECT id FROM %s ORDER BY id LIMIT 1', v_rel) INTO v_id;
        IF v_id IS NOT NULL THEN
            v_waiting := v_waiting || s;
            CONTINUE;
        END IF;
        BEGIN
            EXECUTE format('TRUNCATE %s', v_rel);
            v_truncated := v_truncated || s;
        EXCEPTION WHEN object_in_use THEN
            -- the statement that called us is reading the outbox itself
            v_busy := v_busy || s;
        END;
    END LOOP;

    -- 2. rotate into the next empty segment
    IF NOT force AND clock_timestamp() - v_last < v_interval THEN
        v_skipped := 'rotated less than paycons.outbox_rotate_interval ago';
    ELSE
        SELECT x INTO v_next FROM unnest(v_slots) x
         WHERE x <> v_cur
           AND pg_catalog.pg_relation_size(format('paycons.%I', 'outbox_' || x)::regclass) = 0
         ORDER BY x <= v_cur, x
         LIMIT 1;
        IF v_next IS NOT NULL THEN
            PERFORM pg_catalog.setval('paycons.outbox_slot_seq', v_next, true);
            UPDATE paycons.outbox_rotation
               SET rotated_at = clock_timestamp(), rotations = rotations + 1;
            v_cur := v_next;
            v_rotated := true;
        ELSIF cardinality(v_slots) >= v_max THEN
            v_skipped := format('no empty segment and already %s segments', cardinality(v_slots));
        ELSE
            -- 3. a new segment, current from the next pass on
            SELECT min(x) INTO v_new FROM generate_series(0, v_max - 1) x
             WHERE x <> ALL (v_slots);
            BEGIN
                EXECUTE format('CREATE TABLE paycons.%I (LIKE paycons.outbox INCLUDING DEFAULTS INCLUDING CONSTRAINTS) WITH (fillfactor = 50)',
                               'outbox_' || v_new);
                EXECUTE format('ALTER TABLE paycons.outbox ATTACH PARTITION paycons.%I FOR VALUES IN (%s)',
                               'outbox_' || v_new, v_new);
                EXECUTE format('COMMENT ON TABLE paycons.%I IS %L', 'outbox_' || v_new,
                               'outbox segment (see paycons.outbox_maintain), added when no segment was empty');
                v_slots := v_slots || v_new;
                v_skipped := format('no empty segment: added segment %s', v_new);
            EXCEPTION WHEN lock_not_available THEN
                v_skipped := 'no empty segment, and paycons.outbox was busy for longer than lock_timeout';
            END;
        END IF;
    END IF;

    RETURN jsonb_build_object('rotated', v_rotated, 'current_slot', v_cur,
                              'segments', cardinality(v_slots),
                              'truncated', to_jsonb(v_truncated),
                              'waiting', to_jsonb(v_waiting),
                              'busy', to_jsonb(v_busy))
           || CASE WHEN v_skipped IS NULL THEN '{}'::jsonb
                   ELSE jsonb_build_object('skipped', v_skipped) END;
END;
$$;
COMMENT ON FUNCTION paycons.outbox_maintain(boolean) IS
    'outbox maintenance pass: truncate the segments that hold no event, rotate into an empty one, add a segment when none is empty; never copies an event; returns what it did';

/* ---- end issue 11: CDC-safe outbox ---- */
