/*
 * 10_order_state.sql -- the order_state base type, its operators and
 * operator classes, and the state machine functions.
 */

CREATE TYPE paycons.order_state;

CREATE FUNCTION paycons.order_state_in(cstring) RETURNS paycons.order_state
    AS 'MODULE_PATHNAME', 'order_state_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION paycons.order_state_out(paycons.order_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'order_state_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION paycons.order_state_recv(internal) RETURNS paycons.order_state
    AS 'MODULE_PATHNAME', 'order_state_recv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION paycons.order_state_send(paycons.order_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'order_state_send'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE paycons.order_state (
    INPUT = paycons.order_state_in,
    OUTPUT = paycons.order_state_out,
    RECEIVE = paycons.order_state_recv,
    SEND = paycons.order_state_send,
    INTERNALLENGTH = 1,
    PASSEDBYVALUE,
    ALIGNMENT = char,
    STORAGE = plain
);
COMMENT ON TYPE paycons.order_state IS
    'state of an order: one byte, sorted in lifecycle order; legal edges enforced by paycons.order_guard()';

CREATE FUNCTION paycons.order_state_eq(paycons.order_state, paycons.order_state) RETURNS bool
    AS 'MODULE_PATHNAME', 'order_state_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION paycons.order_state_ne(paycons.order_state, paycons.order_state) RETURNS bool
    AS 'MODULE_PATHNAME', 'order_state_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION paycons.order_state_lt(paycons.order_state, paycons.order_state) RETURNS bool
    AS 'MODULE_PATHNAME', 'order_state_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION paycons.order_state_le(paycons.order_state, paycons.order_state) RETURNS bool
    AS 'MODULE_PATHNAME', 'order_state_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION paycons.order_state_gt(paycons.order_state, paycons.order_state) RETURNS bool
    AS 'MODULE_PATHNAME', 'order_state_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION paycons.order_state_ge(paycons.order_state, paycons.order_state) RETURNS bool
    AS 'MODULE_PATHNAME', 'order_state_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION paycons.order_state_cmp(paycons.order_state, paycons.order_state) RETURNS int4
    AS 'MODULE_PATHNAME', 'order_state_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION paycons.order_state_hash(paycons.order_state) RETURNS int4
    AS 'MODULE_PATHNAME', 'order_state_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION paycons.order_state_hash_extended(paycons.order_state, int8) RETURNS int8
    AS 'MODULE_PATHNAME', 'order_state_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

COMMENT ON FUNCTION paycons.order_state_in(cstring) IS 'text input of order_state';
COMMENT ON FUNCTION paycons.order_state_out(paycons.order_state) IS 'text output of order_state';
COMMENT ON FUNCTION paycons.order_state_recv(internal) IS 'binary input of order_state (validated)';
COMMENT ON FUNCTION paycons.order_state_send(paycons.order_state) IS 'binary output of order_state';
COMMENT ON FUNCTION paycons.order_state_eq(paycons.order_state, paycons.order_state) IS 'implementation of = for order_state';
COMMENT ON FUNCTION paycons.order_state_ne(paycons.order_state, paycons.order_state) IS 'implementation of <> for order_state';
COMMENT ON FUNCTION paycons.order_state_lt(paycons.order_state, paycons.order_state) IS 'implementation of < for order_state';
COMMENT ON FUNCTION paycons.order_state_le(paycons.order_state, paycons.order_state) IS 'implementation of <= for order_state';
COMMENT ON FUNCTION paycons.order_state_gt(paycons.order_state, paycons.order_state) IS 'implementation of > for order_state';
COMMENT ON FUNCTION paycons.order_state_ge(paycons.order_state, paycons.order_state) IS 'implementation of >= for order_state';
COMMENT ON FUNCTION paycons.order_state_cmp(paycons.order_state, paycons.order_state) IS 'btree comparison for order_state';
COMMENT ON FUNCTION paycons.order_state_hash(paycons.order_state) IS 'hash of order_state';
COMMENT ON FUNCTION paycons.order_state_hash_extended(paycons.order_state, int8) IS 'seeded hash of order_state';

CREATE OPERATOR paycons.= (
    LEFTARG = paycons.order_state, RIGHTARG = paycons.order_state,
    FUNCTION = paycons.order_state_eq,
    COMMUTATOR = OPERATOR(paycons.=), NEGATOR = OPERATOR(paycons.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR paycons.<> (
    LEFTARG = paycons.order_state, RIGHTARG = paycons.order_state,
    FUNCTION = paycons.order_state_ne,
    COMMUTATOR = OPERATOR(paycons.<>), NEGATOR = OPERATOR(paycons.=),
    RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR paycons.< (
    LEFTARG = paycons.order_state, RIGHTARG = paycons.order_state,
    FUNCTION = paycons.order_state_lt,
    COMMUTATOR = OPERATOR(paycons.>), NEGATOR = OPERATOR(paycons.>=),
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR paycons.<= (
    LEFTARG = paycons.order_state, RIGHTARG = paycons.order_state,
    FUNCTION = paycons.order_state_le,
    COMMUTATOR = OPERATOR(paycons.>=), NEGATOR = OPERATOR(paycons.>),
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR paycons.> (
    LEFTARG = paycons.order_state, RIGHTARG = paycons.order_state,
    FUNCTION = paycons.order_state_gt,
    COMMUTATOR = OPERATOR(paycons.<), NEGATOR = OPERATOR(paycons.<=),
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR paycons.>= (
    LEFTARG = paycons.order_state, RIGHTARG = paycons.order_state,
    FUNCTION = paycons.order_state_ge,
    COMMUTATOR = OPERATOR(paycons.<=), NEGATOR = OPERATOR(paycons.<),
    RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS paycons.order_state_ops
    DEFAULT FOR TYPE paycons.order_state USING btree AS
        OPERATOR 1 paycons.<,
        OPERATOR 2 paycons.<=,
        OPERATOR 3 paycons.=,
        OPERATOR 4 paycons.>=,
        OPERATOR 5 paycons.>,
        FUNCTION 1 paycons.order_state_cmp(paycons.order_state, paycons.order_state);
COMMENT ON OPERATOR CLASS paycons.order_state_ops USING btree IS 'default btree class for order_state (lifecycle order)';

CREATE OPERATOR CLASS paycons.order_state_hash_ops
    DEFAULT FOR TYPE paycons.order_state USING hash AS
        OPERATOR 1 paycons.=,
        FUNCTION 1 paycons.order_state_hash(paycons.order_state),
        FUNCTION 2 paycons.order_state_hash_extended(paycons.order_state, int8);
COMMENT ON OPERATOR CLASS paycons.order_state_hash_ops USING hash IS 'default hash class for order_state';

CREATE FUNCTION paycons.can_transition(from_state paycons.order_state, to_state paycons.order_state)
    RETURNS bool
    AS 'MODULE_PATHNAME', 'paycons_can_transition'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION paycons.can_transition(paycons.order_state, paycons.order_state) IS
    'true if from_state -> to_state is an edge of the order state machine';

CREATE FUNCTION paycons.next_states(state paycons.order_state)
    RETURNS SETOF paycons.order_state
    AS 'MODULE_PATHNAME', 'paycons_next_states'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 4;
COMMENT ON FUNCTION paycons.next_states(paycons.order_state) IS
    'the legal targets of a state, in state order';

CREATE FUNCTION paycons.all_states()
    RETURNS SETOF paycons.order_state
    AS 'MODULE_PATHNAME', 'paycons_all_states'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 12;
COMMENT ON FUNCTION paycons.all_states() IS 'every order state, in state order';

CREATE FUNCTION paycons.is_terminal(state paycons.order_state)
    RETURNS bool
    AS 'MODULE_PATHNAME', 'paycons_is_terminal'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION paycons.is_terminal(paycons.order_state) IS
    'true if no transition leaves this state';

CREATE FUNCTION paycons.state_graph(format text DEFAULT 'dot')
    RETURNS text
    AS 'MODULE_PATHNAME', 'paycons_state_graph'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION paycons.state_graph(text) IS
    'the order state machine as Graphviz DOT (''dot'') or a Mermaid state diagram (''mermaid'')';
