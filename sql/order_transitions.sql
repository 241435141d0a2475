--
-- All 144 (from, to) pairs: can_transition() and the guard trigger both
-- agree with the edge table written out here from DESIGN.md.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS paycons;
RESET client_min_messages;

CREATE TEMP TABLE design_edges (from_state text, to_state text);
INSERT INTO design_edges VALUES
  ('created', 'paying'), ('created', 'cancelled'), ('created', 'needs_review'),
  ('paying', 'paid'), ('paying', 'payment_failed'), ('paying', 'closed'), ('paying', 'cancelled'),
  ('paying', 'needs_review'),
  ('payment_failed', 'paying'), ('payment_failed', 'closed'), ('payment_failed', 'cancelled'),
  ('payment_failed', 'needs_review'),
  ('paid', 'fulfilling'), ('paid', 'refunding'), ('paid', 'needs_review'),
  ('fulfilling', 'shipped'), ('fulfilling', 'refunding'),
  ('shipped', 'completed'), ('shipped', 'refunding'),
  ('completed', 'refunding'),
  ('closed', 'refunding'),
  ('cancelled', 'refunding'),
  ('refunding', 'refunded'), ('refunding', 'needs_review'),
  ('needs_review', 'paid'), ('needs_review', 'refunding'), ('needs_review', 'closed');

-- a table guarded by the same trigger (BEFORE, no history) for the raw check
CREATE TEMP TABLE probe (id int PRIMARY KEY, state paycons.order_state NOT NULL);
CREATE TRIGGER probe_guard BEFORE INSERT OR UPDATE ON probe
    FOR EACH ROW EXECUTE FUNCTION paycons.order_guard('state');
INSERT INTO probe VALUES (1, 'created');

-- For each pair: put the row in "from" with the guard disabled, then try
-- the UPDATE to "to" with the guard enabled.
CREATE TEMP TABLE guard_says (from_state text, to_state text, allowed bool, sqlstate text);
DO $$
DECLARE
    a paycons.order_state;
    b paycons.order_state;
BEGIN
    FOR a IN SELECT paycons.all_states() LOOP
        FOR b IN SELECT paycons.all_states() LOOP
            ALTER TABLE probe DISABLE TRIGGER probe_guard;
            UPDATE probe SET state = a WHERE id = 1;
            ALTER TABLE probe ENABLE TRIGGER probe_guard;
            BEGIN
                UPDATE probe SET state = b WHERE id = 1;
                INSERT INTO guard_says VALUES (a::text, b::text, true, NULL);
            EXCEPTION WHEN OTHERS THEN
                INSERT INTO guard_says VALUES (a::text, b::text, false, SQLSTATE);
            END;
        END LOOP;
    END LOOP;
END;
$$;

-- 144 pairs; self-pairs are "no change" for a raw UPDATE (allowed, no edge)
SELECT count(*) AS pairs FROM guard_says;
SELECT count(*) AS disagreements
  FROM guard_says g
  JOIN LATERAL (SELECT paycons.can_transition(g.from_state::paycons.order_state,
                                              g.to_state::paycons.order_state) AS can) c ON true
 WHERE c.can IS DISTINCT FROM EXISTS (SELECT 1 FROM design_edges d
                                       WHERE d.from_state = g.from_state
                                         AND d.to_state = g.to_state)
    OR (g.from_state <> g.to_state AND g.allowed IS DISTINCT FROM c.can);
-- every refusal carries the illegal-transition SQLSTATE
SELECT sqlstate, count(*) FROM guard_says WHERE NOT allowed GROUP BY sqlstate;
-- the full matrix, as the guard decided it (x = allowed, . = refused, = = same state)
SELECT from_state,
       string_agg(CASE WHEN from_state = to_state THEN '='
                       WHEN allowed THEN 'x' ELSE '.' END, '  '
                  ORDER BY to_state::paycons.order_state) AS "cr pg pf pd fu sh co cl ca rf nr rd"
  FROM guard_says
 GROUP BY from_state
 ORDER BY from_state::paycons.order_state;
