/*-------------------------------------------------------------------------
 *
 * order_state.c
 *	  The paycons.order_state base type: a one-byte, pass-by-value label for
 *	  the state of an order, with text and binary I/O, comparison and hash
 *	  support, and the table of legal edges of the order state machine.
 *
 * The edge table below is the single definition of which transitions are
 * legal; the guard trigger, the SQL functions can_transition/next_states and
 * the state_graph() renderer all read it.  It must match the table in
 * DESIGN.md.  The labels and their parser are backend-free, in
 * order_state_label.c; the functions here add the errors.
 *
 * IDENTIFICATION
 *	  src/order_state.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "as_owner.h"
#include "order_state.h"

PG_FUNCTION_INFO_V1(order_state_in);
PG_FUNCTION_INFO_V1(order_state_out);
PG_FUNCTION_INFO_V1(order_state_recv);
PG_FUNCTION_INFO_V1(order_state_send);
PG_FUNCTION_INFO_V1(order_state_eq);
PG_FUNCTION_INFO_V1(order_state_ne);
PG_FUNCTION_INFO_V1(order_state_lt);
PG_FUNCTION_INFO_V1(order_state_le);
PG_FUNCTION_INFO_V1(order_state_gt);
PG_FUNCTION_INFO_V1(order_state_ge);
PG_FUNCTION_INFO_V1(order_state_cmp);
PG_FUNCTION_INFO_V1(order_state_hash);
PG_FUNCTION_INFO_V1(order_state_hash_extended);
PG_FUNCTION_INFO_V1(paycons_can_transition);
PG_FUNCTION_INFO_V1(paycons_is_terminal);
PG_FUNCTION_INFO_V1(paycons_next_states);
PG_FUNCTION_INFO_V1(paycons_all_states);
PG_FUNCTION_INFO_V1(paycons_state_graph);

#define EDGE(s)		(1U << (s))

/* Legal edges: order_state_edges[from] is the bit set of legal targets. */
static const uint32 order_state_edges[OS_NUM_STATES] = {
	/* created (needs_review: money arrived that does not match) */
	EDGE(OS_PAYING) | EDGE(OS_CANCELLED) | EDGE(OS_NEEDS_REVIEW),
	/* paying */
	EDGE(OS_PAID) | EDGE(OS_PAYMENT_FAILED) | EDGE(OS_CLOSED) | EDGE(OS_CANCELLED) |
	EDGE(OS_NEEDS_REVIEW),
	/* payment_failed */
	EDGE(OS_PAYING) | EDGE(OS_CLOSED) | EDGE(OS_CANCELLED) | EDGE(OS_NEEDS_REVIEW),
	/* paid */
	EDGE(OS_FULFILLING) | EDGE(OS_REFUNDING) | EDGE(OS_NEEDS_REVIEW),
	/* fulfilling */
	EDGE(OS_SHIPPED) | EDGE(OS_REFUNDING),
	/* shipped */
	EDGE(OS_COMPLETED) | EDGE(OS_REFUNDING),
	/* completed */
	EDGE(OS_REFUNDING),
	/* closed: money arrived after close */
	EDGE(OS_REFUNDING),
	/* cancelled: money arrived after cancel */
	EDGE(OS_REFUNDING),
	/* refunding */
	EDGE(OS_REFUNDED) | EDGE(OS_NEEDS_REVIEW),
	/* needs_review */
	EDGE(OS_PAID) | EDGE(OS_REFUNDING) | EDGE(OS_CLOSED),
	/* refunded: terminal */
	0
};

static inline int
order_state_cmp_internal(OrderState a, OrderState b)
{
	return (a > b) - (a < b);
}

/*
 * Validate a value read from disk or from the wire.  A byte outside the
 * known range can only come from binary input or corruption.
 */
static inline OrderState
order_state_check(int value)
{
	if (value < 0 || value >= OS_NUM_STATES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary value %d for type order_state", value),
				 errdetail("Valid values are 0 to %d.", OS_NUM_STATES - 1)));
	return (OrderState) value;
}

/* Name of a state (the label used by text I/O). */
const char *
OrderStateName(OrderState s)
{
	return OrderStateLabel(order_state_check((int) s));
}

/* Is from -> to an edge of the state machine?  A state never leads to itself. */
bool
OrderStateCanTransition(OrderState from, OrderState to)
{
	order_state_check((int) from);
	order_state_check((int) to);
	return (order_state_edges[from] & EDGE(to)) != 0;
}

/* A state with no outgoing edge. */
bool
OrderStateIsTerminal(OrderState s)
{
	return order_state_edges[order_state_check((int) s)] == 0;
}

/*
 * Comma-separated list of the legal targets of a state, palloc'd in the
 * current memory context; "none" for a terminal state.  Used in error hints.
 */
char *
OrderStateLegalTargets(OrderState from)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < OS_NUM_STATES; i++)
	{
		if (order_state_edges[from] & EDGE(i))
		{
			if (buf.len > 0)
				appendStringInfoString(&buf, ", ");
			appendStringInfoString(&buf, OrderStateLabel(i));
		}
	}
	if (buf.len == 0)
		appendStringInfoString(&buf, "none");
	return buf.data;
}

/*
 * OID of paycons.order_state.  Not cached: a syscache probe is cheap, and
 * the extension may be dropped and created again within one session.
 */
Oid
OrderStateTypeOid(void)
{
	Oid			typoid;

	typoid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
							 CStringGetDatum("order_state"),
							 ObjectIdGetDatum(PayconsSchemaOid()));
	if (!OidIsValid(typoid))
		elog(ERROR, "type paycons.order_state does not exist");
	return typoid;
}

/*
 * order_state_in: text -> order_state.  Anything but an exact label is
 * rejected with 22P02, naming the input and listing the valid labels.
 */
Datum
order_state_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	OrderState	s;
	StringInfoData valid;

	if (OrderStateFromName(str, &s))
		PG_RETURN_ORDER_STATE(s);

	initStringInfo(&valid);
	for (int i = 0; i < OS_NUM_STATES; i++)
		appendStringInfo(&valid, "%s%s", i > 0 ? ", " : "", OrderStateLabel(i));

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input value for order_state: \"%s\"", str),
			 errdetail("Valid values are: %s.", valid.data),
			 errhint("Labels are lower case, without surrounding spaces.")));
	PG_RETURN_VOID();			/* keep compiler quiet */
}

Datum
order_state_out(PG_FUNCTION_ARGS)
{
	OrderState	s = PG_GETARG_ORDER_STATE(0);

	PG_RETURN_CSTRING(pstrdup(OrderStateName(s)));
}

/* Binary input: one byte, re-validated. */
Datum
order_state_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			value = pq_getmsgbyte(buf);

	PG_RETURN_ORDER_STATE(order_state_check(value));
}

/* Binary output: one byte. */
Datum
order_state_send(PG_FUNCTION_ARGS)
{
	OrderState	s = PG_GETARG_ORDER_STATE(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, (uint8) s);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

#define ORDER_STATE_CMP_FUNC(name, op) \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	PG_RETURN_BOOL(order_state_cmp_internal(PG_GETARG_ORDER_STATE(0), \
											PG_GETARG_ORDER_STATE(1)) op 0); \
}

ORDER_STATE_CMP_FUNC(order_state_eq, ==)
ORDER_STATE_CMP_FUNC(order_state_ne, !=)
ORDER_STATE_CMP_FUNC(order_state_lt, <)
ORDER_STATE_CMP_FUNC(order_state_le, <=)
ORDER_STATE_CMP_FUNC(order_state_gt, >)
ORDER_STATE_CMP_FUNC(order_state_ge, >=)

Datum
order_state_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(order_state_cmp_internal(PG_GETARG_ORDER_STATE(0),
											 PG_GETARG_ORDER_STATE(1)));
}

Datum
order_state_hash(PG_FUNCTION_ARGS)
{
	return hash_uint32((uint32) PG_GETARG_ORDER_STATE(0));
}

Datum
order_state_hash_extended(PG_FUNCTION_ARGS)
{
	return hash_uint32_extended((uint32) PG_GETARG_ORDER_STATE(0),
								PG_GETARG_INT64(1));
}

/* paycons.can_transition(from, to) */
Datum
paycons_can_transition(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(OrderStateCanTransition(PG_GETARG_ORDER_STATE(0),
										   PG_GETARG_ORDER_STATE(1)));
}

/* paycons.is_terminal(state) */
Datum
paycons_is_terminal(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(OrderStateIsTerminal(PG_GETARG_ORDER_STATE(0)));
}

/*
 * Shared body of next_states() and all_states(): return, one per call, the
 * states whose bit is set in the mask kept in user_fctx.
 */
static Datum
order_state_srf(FunctionCallInfo fcinfo, uint32 mask)
{
	FuncCallContext *funcctx;
	uint32		remaining;

	if (SRF_IS_FIRSTCALL())
	{
		funcctx = SRF_FIRSTCALL_INIT();
		funcctx->user_fctx = (void *) (uintptr_t) mask;
	}
	funcctx = SRF_PERCALL_SETUP();
	remaining = (uint32) (uintptr_t) funcctx->user_fctx;

	if (remaining != 0)
	{
		int			next = 0;

		while ((remaining & EDGE(next)) == 0)
			next++;
		funcctx->user_fctx = (void *) (uintptr_t) (remaining & ~EDGE(next));
		SRF_RETURN_NEXT(funcctx, OrderStateGetDatum(next));
	}
	SRF_RETURN_DONE(funcctx);
}

/* paycons.next_states(state): legal targets, in state order */
Datum
paycons_next_states(PG_FUNCTION_ARGS)
{
	return order_state_srf(fcinfo,
						   order_state_edges[order_state_check(PG_GETARG_ORDER_STATE(0))]);
}

/* paycons.all_states(): every state, in state order */
Datum
paycons_all_states(PG_FUNCTION_ARGS)
{
	return order_state_srf(fcinfo, EDGE(OS_NUM_STATES) - 1);
}

/*
 * paycons.state_graph(format): the machine as Graphviz DOT ('dot') or a
 * Mermaid state diagram ('mermaid'), rendered from the edge table.
 */
Datum
paycons_state_graph(PG_FUNCTION_ARGS)
{
	char	   *format = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		dot;
	StringInfoData buf;

	if (strcmp(format, "dot") == 0)
		dot = true;
	else if (strcmp(format, "mermaid") == 0)
		dot = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown state graph format: \"%s\"", format),
				 errhint("Use 'dot' or 'mermaid'.")));

	initStringInfo(&buf);
	if (dot)
	{
		appendStringInfoString(&buf, "digraph order_state {\n"
							   "  rankdir=LR;\n"
							   "  node [shape=box, style=rounded];\n");
		appendStringInfo(&buf, "  %s [style=\"rounded,bold\"];\n",
						 OrderStateLabel(OS_CREATED));
		for (int i = 0; i < OS_NUM_STATES; i++)
			if (order_state_edges[i] == 0)
				appendStringInfo(&buf, "  %s [peripheries=2];\n",
								 OrderStateLabel(i));
	}
	else
		appendStringInfo(&buf, "stateDiagram-v2\n  [*] --> %s\n",
						 OrderStateLabel(OS_CREATED));

	for (int from = 0; from < OS_NUM_STATES; from++)
	{
		for (int to = 0; to < OS_NUM_STATES; to++)
		{
			if ((order_state_edges[from] & EDGE(to)) == 0)
				continue;
			if (dot)
				appendStringInfo(&buf, "  %s -> %s;\n",
								 OrderStateLabel(from), OrderStateLabel(to));
			else
				appendStringInfo(&buf, "  %s --> %s\n",
								 OrderStateLabel(from), OrderStateLabel(to));
		}
		if (!dot && order_state_edges[from] == 0)
			appendStringInfo(&buf, "  %s --> [*]\n", OrderStateLabel(from));
	}
	if (dot)
		appendStringInfoString(&buf, "}\n");

	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}
