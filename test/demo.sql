-- test/demo.sql -- one order's life in paycons, for a newcomer
--
-- Run by test/demo.sh (`make demo`) in a fresh database where
-- `CREATE EXTENSION paycons` has been done, with psql echoing every statement
-- before its result.  Each step is its own transaction (psql autocommit), the
-- way an application would call the API.
--
-- What you will see:
--   1. the state machine: which moves are legal
--   2. an order created, paid for, fulfilled, shipped and completed
--   3. illegal moves refused, through the API and through a plain UPDATE
--   4. the order and its history: one row per state change

-- Show NULLs visibly in results.  (QUIET hides psql's own chatter about
-- display settings; it does not hide query results.)
\set QUIET on
\pset null '(null)'
\set QUIET off

\echo
\echo '=== 1. The state machine ==='
\echo

-- Every order is in one paycons.order_state.  From "created" an order may
-- only start paying or be cancelled:
SELECT s AS next_state_after_created
FROM paycons.next_states('created') AS s;

-- can_transition() answers for one edge.  "created" cannot jump to "paid":
-- money is only taken for an order that is paying.
SELECT paycons.can_transition('created', 'paying') AS created_to_paying,
       paycons.can_transition('created', 'paid')   AS created_to_paid,
       paycons.can_transition('paid', 'created')   AS paid_to_created;

-- The whole machine as a Mermaid diagram (paste it into any Mermaid viewer;
-- state_graph('dot') gives Graphviz instead).
\set QUIET on
\pset format unaligned
\pset tuples_only on
\set QUIET off
SELECT paycons.state_graph('mermaid');
\set QUIET on
\pset tuples_only off
\pset format aligned
\set QUIET off

\echo
\echo '=== 2. Create an order and walk it to completed ==='
\echo

-- A merchant order of 129.99 EUR.  Money is always bigint minor units
-- (cents), never float; the customer has 15 minutes to pay.
SELECT order_id, state, amount, currency, paid_amount,
       pay_deadline - created_at AS time_to_pay, metadata
FROM paycons.create_order('demo-1001', 12999, 'EUR', '15 minutes',
                          '{"customer": "alice", "sku": "book-42"}');

-- create_order is idempotent on order_id: an application that retries the
-- same call (a timeout, a double click) gets the same order back, not two.
SELECT order_id, state
FROM paycons.create_order('demo-1001', 12999, 'EUR', '15 minutes',
                          '{"customer": "alice", "sku": "book-42"}');
SELECT count(*) AS orders_named_demo_1001
FROM paycons.orders WHERE order_id = 'demo-1001';

-- The customer picks a payment channel: created -> paying.
SELECT order_id, state, channel
FROM paycons.begin_payment('demo-1001', 'card');

-- The channel confirms the payment: paying -> paid.  (In production the
-- channel's callback does this through paycons.apply_callback, which also
-- records the money; here we move the state by hand.)
SELECT order_id, state
FROM paycons.transition('demo-1001', 'paid', 'demo: payment confirmed');

-- Where can a paid order go next?
SELECT s AS next_state_after_paid
FROM paycons.orders AS o
CROSS JOIN LATERAL paycons.next_states(o.state) AS s
WHERE o.order_id = 'demo-1001';

-- The warehouse works on it, then ships it.
SELECT order_id, state
FROM paycons.transition('demo-1001', 'fulfilling', 'demo: picked in warehouse');

SELECT order_id, state
FROM paycons.transition('demo-1001', 'shipped', 'demo: handed to carrier');

\echo
\echo '=== 3. Illegal moves are refused ==='
\echo

-- A shipped order cannot go back to paying.  The refusal is an ordinary
-- error with its own SQLSTATE; this block catches it and prints it, so the
-- demo can go on.  (Had the move been accepted, the block fails the demo.)
DO $$
DECLARE
    v_state   text;
    v_message text;
    v_hint    text;
BEGIN
    BEGIN
        PERFORM paycons.transition('demo-1001', 'paying', 'demo: try to rewind');
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state   = RETURNED_SQLSTATE,
                                v_message = MESSAGE_TEXT,
                                v_hint    = PG_EXCEPTION_HINT;
        RAISE NOTICE 'refused: SQLSTATE %: %', v_state, v_message;
        IF v_hint <> '' THEN
            RAISE NOTICE 'hint: %', v_hint;
        END IF;
        RETURN;
    END;
    RAISE EXCEPTION 'shipped -> paying was accepted, but it is not a legal move';
END
$$;

-- Not only the API is guarded: a trigger on paycons.orders refuses an
-- illegal state change by any path, even a plain UPDATE typed by a DBA.
-- psql shows the error as an application would receive it.
\set ON_ERROR_STOP 0
UPDATE paycons.orders SET state = 'created' WHERE order_id = 'demo-1001';
\set ON_ERROR_STOP 1

-- Nothing changed: the order is still shipped.
SELECT order_id, state FROM paycons.orders WHERE order_id = 'demo-1001';

\echo
\echo '=== 4. Completed, and the record of how it got there ==='
\echo

-- The customer received the parcel.
SELECT order_id, state
FROM paycons.transition('demo-1001', 'completed', 'demo: delivery confirmed');

-- The order as it stands now.
SELECT order_id, state, amount, currency, channel,
       created_at <= state_changed_at AS changed_after_creation
FROM paycons.orders
WHERE order_id = 'demo-1001';

-- Its history: one row per state change, written by the guard trigger in the
-- same transaction as the change (so it can never disagree with the order).
-- from_state is NULL for the creation; actor is the role that asked; txid
-- is the transaction that made the change.  Refused moves left no row.
SELECT from_state, to_state, reason, actor,
       to_char(at, 'HH24:MI:SS.MS') AS at
FROM paycons.order_history
WHERE order_id = 'demo-1001'
ORDER BY at, txid;
