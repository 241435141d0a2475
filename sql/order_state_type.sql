--
-- The paycons.order_state base type: text and binary I/O, operators,
-- btree and hash support, and the state-machine functions.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS paycons;
RESET client_min_messages;

-- every label round-trips through text, in lifecycle order
SELECT s, s::text AS label, paycons.is_terminal(s) AS terminal
  FROM paycons.all_states() AS s;

-- one byte, passed by value
SELECT typlen, typbyval, typalign, typstorage
  FROM pg_type WHERE oid = 'paycons.order_state'::regtype;
SELECT pg_column_size('paid'::paycons.order_state);

-- bad text input: wrong case, surrounding spaces, empty, unknown
SELECT 'Paid'::paycons.order_state;
SELECT ' paid'::paycons.order_state;
SELECT 'paid '::paycons.order_state;
SELECT ''::paycons.order_state;
SELECT 'shipping'::paycons.order_state;
-- NULL stays NULL
SELECT NULL::text::paycons.order_state IS NULL AS is_null;

-- The operators live in schema paycons, like every paycons object: a
-- session needs paycons on its search_path to write them unqualified
-- (doc/api.md), or qualifies them.
SELECT 'paid'::paycons.order_state = 'paid' AS eq;
SELECT 'paid'::paycons.order_state OPERATOR(paycons.=) 'paid' AS eq_qualified;
SET search_path = public, paycons;

-- comparison operators follow the lifecycle order
SELECT 'created'::paycons.order_state < 'paying' AS lt,
       'paid'::paycons.order_state <= 'paid' AS le,
       'refunded'::paycons.order_state > 'refunding' AS gt,
       'paid'::paycons.order_state >= 'shipped' AS ge,
       'paid'::paycons.order_state = 'paid' AS eq,
       'paid'::paycons.order_state <> 'closed' AS ne;

-- btree: sort, min/max via ORDER BY, a btree index, merge join
CREATE TEMP TABLE st (s paycons.order_state);
INSERT INTO st SELECT s FROM paycons.all_states() s ORDER BY random();
SELECT s FROM st ORDER BY s DESC;
CREATE INDEX st_btree ON st USING btree (s);
-- hash: a hash index and a hashed aggregate
CREATE INDEX st_hash ON st USING hash (s);
SET enable_sort = off;
SELECT count(DISTINCT s) AS distinct_states FROM st;
SELECT s, count(*) FROM st GROUP BY s HAVING s IN ('paid', 'closed') ORDER BY s;
RESET enable_sort;
SELECT amname, opcname, opcdefault
  FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
 WHERE opcintype = 'paycons.order_state'::regtype ORDER BY amname;

-- binary round trip through COPY ... (FORMAT binary), via files that psql
-- (the client, not the server) writes into the test's output directory:
-- the server may not be able to reach the checkout at all
\getenv abs_builddir PG_ABS_BUILDDIR
\cd :abs_builddir
\copy (SELECT s FROM paycons.all_states() s) TO 'order_state_good.bin' (FORMAT binary)
CREATE TEMP TABLE st_copy (s paycons.order_state);
\copy st_copy FROM 'order_state_good.bin' (FORMAT binary)
SELECT count(*) AS copied,
       count(*) FILTER (WHERE s IN (SELECT paycons.all_states())) AS valid
  FROM st_copy;
SELECT (SELECT array_agg(s ORDER BY s) FROM st_copy) =
       (SELECT array_agg(s ORDER BY s) FROM paycons.all_states() s) AS same_values;
-- binary input re-validates: a one-byte field holding 12 (no such state)
\copy (SELECT '\x0c'::bytea) TO 'order_state_bad.bin' (FORMAT binary)
\copy st_copy FROM 'order_state_bad.bin' (FORMAT binary)
-- and a two-byte field is refused too
\copy (SELECT '\x0300'::bytea) TO 'order_state_bad.bin' (FORMAT binary)
\copy st_copy FROM 'order_state_bad.bin' (FORMAT binary)
\! rm -f order_state_good.bin order_state_bad.bin
SELECT count(*) AS still_12 FROM st_copy;

-- the state machine functions
SELECT s AS from_state, array(SELECT paycons.next_states(s)) AS next
  FROM paycons.all_states() s;
SELECT paycons.can_transition('paying', 'paid') AS paying_paid,
       paycons.can_transition('paid', 'paying') AS paid_paying,
       paycons.can_transition('paid', 'paid') AS paid_paid;
SELECT paycons.can_transition(NULL, 'paid') IS NULL AS strict_null;
SELECT paycons.state_graph();
SELECT paycons.state_graph('mermaid');
SELECT paycons.state_graph('svg');
