/*-------------------------------------------------------------------------
 *
 * order_api.c
 *	  The order hub's SQL API: paycons.create_order, paycons.begin_payment
 *	  and paycons.transition, and the read API paycons.get_order and
 *	  paycons.order_history_of.
 *
 * Each function checks its arguments first (nothing is written for bad
 * input), then does its SPI work as the extension owner, so application
 * roles need EXECUTE only and no privilege on the tables; the read API
 * returns the one order asked for, nothing else.  State changes go through
 * a plain UPDATE of paycons.orders, so the guard trigger (order_guard.c) is
 * the one place that decides legality and writes history.  transition()
 * lets its caller name the target, so its work holds no money authority
 * (money_edges.c): an edge that claims money moved is refused unless the
 * caller is the owner forcing it with a reason.
 *
 * IDENTIFICATION
 *	  src/order_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "as_owner.h"
#include "errcodes.h"
#include "money_edges.h"
#include "order_state.h"
#include "spi_plans.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(paycons_create_order);
PG_FUNCTION_INFO_V1(paycons_begin_payment);
PG_FUNCTION_INFO_V1(paycons_transition);
PG_FUNCTION_INFO_V1(paycons_get_order);
PG_FUNCTION_INFO_V1(paycons_order_history_of);

/* Largest metadata document accepted, in bytes (documented in doc/api.md) */
#define ORDERS_MAX_METADATA		65536

static PayconsPlan orders_insert = {
	"INSERT INTO paycons.orders (order_id, amount, currency, pay_deadline, metadata)"
	" VALUES ($1, $2, $3, pg_catalog.now() OPERATOR(pg_catalog.+) $4, $5)"
	" ON CONFLICT (order_id) DO NOTHING RETURNING *",
	5, {TEXTOID, INT8OID, TEXTOID, INTERVALOID, JSONBOID}, 0, NULL
};

static PayconsPlan orders_select = {
	"SELECT * FROM paycons.orders WHERE order_id OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}, 0, NULL
};

static PayconsPlan orders_lock = {
	"SELECT state::pg_catalog.text, channel FROM paycons.orders"
	" WHERE order_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
	1, {TEXTOID}, 0, NULL
};

static PayconsPlan orders_set_state = {
	"UPDATE paycons.orders SET state = $2::paycons.order_state,"
	" updated_at = pg_catalog.now()"
	" WHERE order_id OPERATOR(pg_catalog.=) $1 RETURNING *",
	2, {TEXTOID, TEXTOID}, 0, NULL
};

static PayconsPlan orders_history = {
	"SELECT * FROM paycons.order_history"
	" WHERE order_id OPERATOR(pg_catalog.=) $1"
	" AND table_name OPERATOR(pg_catalog.=) 'paycons.orders'"
	" ORDER BY id",
	1, {TEXTOID}, 0, NULL
};

static PayconsPlan orders_set_paying = {
	"UPDATE paycons.orders SET state = 'paying', channel = $2,"
	" updated_at = pg_catalog.now()"
	" WHERE order_id OPERATOR(pg_catalog.=) $1 RETURNING *",
	2, {TEXTOID, TEXTOID}, 0, NULL
};

/* Raise "order not found" for an order id. */
static void
orders_not_found(const char *order_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_PAYCONS_ORDER_NOT_FOUND),
			 errmsg("order \"%s\" does not exist", order_id),
			 errhint("Create it first with paycons.create_order().")));
}

/* Column value of the first SPI result row, by name (NULL-safe) */
static Datum
orders_column(const char *name, bool *isnull)
{
	TupleDesc	desc = SPI_tuptable->tupdesc;

	return SPI_getbinval(SPI_tuptable->vals[0], desc,
						 SPI_fnumber(desc, name), isnull);
}

/*
 * Lock an order row (SELECT ... FOR UPDATE); returns its state as text and
 * its channel (or NULL).  Raises "not found".
 */
static char *
orders_lock_row(const char *order_id, char **channel)
{
	Datum		arg = CStringGetTextDatum(order_id);

	PayconsExecPlan(&orders_lock, &arg, NULL, 1);
	if (SPI_processed == 0)
		orders_not_found(order_id);
	*channel = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* Work of create_order() */
typedef struct OrdersCreate
{
	FunctionCallInfo fcinfo;
	Datum		values[5];		/* order_id, amount, currency, pay_within, metadata */
	Datum		result;
} OrdersCreate;

static void
orders_create_work(void *arg, MemoryContext caller)
{
	OrdersCreate *c = (OrdersCreate *) arg;
	char	   *order_id = TextDatumGetCString(c->values[0]);
	int64		amount = DatumGetInt64(c->values[1]);
	char	   *currency = TextDatumGetCString(c->values[2]);

	PayconsExecPlan(&orders_insert, c->values, NULL, 0);
	if (SPI_processed == 0)
	{
		bool		isnull;
		int64		old_amount;
		char	   *old_currency;
		Datum		old_metadata;

		/* It exists: same facts return it, different facts raise. */
		PayconsExecPlan(&orders_select, c->values, NULL, 1);
		if (SPI_processed == 0)
			elog(ERROR, "order \"%s\" conflicted on insert but cannot be read",
				 order_id);
		old_amount = DatumGetInt64(orders_column("amount", &isnull));
		old_currency = TextDatumGetCString(orders_column("currency", &isnull));
		old_metadata = orders_column("metadata", &isnull);
		if (old_amount != amount || strcmp(old_currency, currency) != 0 ||
			!DatumGetBool(DirectFunctionCall2(jsonb_eq, old_metadata, c->values[4])))
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_ORDER_CONFLICT),
					 errmsg("order \"%s\" already exists with different arguments",
							order_id),
					 errdetail("Existing order: amount " INT64_FORMAT " %s; requested: amount " INT64_FORMAT " %s%s.",
							   old_amount, old_currency, amount, currency,
							   (old_amount == amount && strcmp(old_currency, currency) == 0) ?
							   ", with different metadata" : ""),
					 errhint("Use a new order_id, or repeat the original arguments.")));
	}
	c->result = PayconsReturnRow(c->fcinfo, caller);
}

/*
 * paycons.create_order(order_id, amount, currency, pay_within, metadata)
 *
 * Idempotent on order_id: the same amount, currency and metadata return the
 * existing row unchanged; different ones raise PC003.  Concurrent callers
 * with the same id are serialised by the primary key (ON CONFLICT waits for
 * the other inserter).
 */
Datum
paycons_create_order(PG_FUNCTION_ARGS)
{
	OrdersCreate c;
	char	   *order_id;
	int64		amount;
	char	   *currency;
	Interval   *pay_within;
	Interval	zero = {0};
	Jsonb	   *metadata;

	PayconsRequireArg(fcinfo, 0, "order_id");
	PayconsRequireArg(fcinfo, 1, "amount");
	PayconsRequireArg(fcinfo, 2, "currency");
	PayconsRequireArg(fcinfo, 3, "pay_within");

	order_id = PayconsCheckId(PG_GETARG_TEXT_PP(0), "order_id",
							  PAYCONS_MAX_ORDER_ID);
	amount = PG_GETARG_INT64(1);
	PayconsCheckAmount(amount, "amount");
	currency = PayconsCheckCurrency(PG_GETARG_TEXT_PP(2));
	pay_within = PG_GETARG_INTERVAL_P(3);
	if (!DatumGetBool(DirectFunctionCall2(interval_gt,
										  IntervalPGetDatum(pay_within),
										  IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pay_within must be positive: \"%s\"",
						DatumGetCString(DirectFunctionCall1(interval_out,
															IntervalPGetDatum(pay_within))))));

	/* metadata is optional: NULL means an empty object */
	if (PG_ARGISNULL(4))
		metadata = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													  CStringGetDatum("{}")));
	else
		metadata = PG_GETARG_JSONB_P(4);
	if (!JB_ROOT_IS_OBJECT(metadata) || JB_ROOT_IS_SCALAR(metadata))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metadata must be a JSON object"),
				 errdetail("Got a JSON %s.",
						   JB_ROOT_IS_ARRAY(metadata) && !JB_ROOT_IS_SCALAR(metadata) ?
						   "array" : "scalar")));
	if (VARSIZE(metadata) > ORDERS_MAX_METADATA)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("metadata of order \"%s\" is too large: %zu bytes",
						order_id, (size_t) VARSIZE(metadata)),
				 errdetail("The maximum is %d bytes.", ORDERS_MAX_METADATA)));

	c.fcinfo = fcinfo;
	c.values[0] = CStringGetTextDatum(order_id);
	c.values[1] = Int64GetDatum(amount);
	c.values[2] = CStringGetTextDatum(currency);
	c.values[3] = IntervalPGetDatum(pay_within);
	c.values[4] = JsonbPGetDatum(metadata);
	PayconsAsOwner(NULL, orders_create_work, &c);
	return c.result;
}

/*
 * paycons.begin_payment(order_id, channel): created or payment_failed ->
 * paying, recording the channel.  Calling it again for an order already
 * paying returns the row (with the channel updated if it changed).
 */
/* Work of begin_payment() and transition() */
typedef struct OrdersMove
{
	FunctionCallInfo fcinfo;
	const char *order_id;
	const char *channel;		/* begin_payment */
	OrderState	to;				/* transition */
	Datum		result;
} OrdersMove;

static void
orders_begin_payment_work(void *arg, MemoryContext caller)
{
	OrdersMove *m = (OrdersMove *) arg;
	Datum		values[2];
	char	   *old_channel;

	orders_lock_row(m->order_id, &old_channel);
	values[0] = CStringGetTextDatum(m->order_id);
	values[1] = CStringGetTextDatum(m->channel);
	PayconsExecPlan(&orders_set_paying, values, NULL, 0);
	m->result = PayconsReturnRow(m->fcinfo, caller);
}

Datum
paycons_begin_payment(PG_FUNCTION_ARGS)
{
	OrdersMove	m;

	PayconsRequireArg(fcinfo, 0, "order_id");
	PayconsRequireArg(fcinfo, 1, "channel");
	m.fcinfo = fcinfo;
	m.order_id = PayconsCheckId(PG_GETARG_TEXT_PP(0), "order_id",
								PAYCONS_MAX_ORDER_ID);
	m.channel = PayconsCheckId(PG_GETARG_TEXT_PP(1), "channel",
							   PAYCONS_MAX_CHANNEL);
	PayconsAsOwner("begin_payment", orders_begin_payment_work, &m);
	return m.result;
}

/*
 * paycons.transition(order_id, to, reason): move an order along one edge of
 * the state machine.  The guard trigger refuses an illegal edge; asking for
 * the state the order is already in is refused here, as it is no edge.
 */
static void
orders_transition_work(void *arg, MemoryContext caller)
{
	OrdersMove *m = (OrdersMove *) arg;
	Datum		values[2];
	char	   *channel;
	char	   *current;

	current = orders_lock_row(m->order_id, &channel);
	if (strcmp(current, OrderStateName(m->to)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_ILLEGAL_TRANSITION),
				 errmsg("order \"%s\" is already in state \"%s\"",
						m->order_id, current),
				 errhint("Legal transitions from \"%s\": %s.", current,
						 OrderStateLegalTargets(m->to))));

	values[0] = CStringGetTextDatum(m->order_id);
	values[1] = CStringGetTextDatum(OrderStateName(m->to));
	PayconsExecPlan(&orders_set_state, values, NULL, 0);
	m->result = PayconsReturnRow(m->fcinfo, caller);
}

Datum
paycons_transition(PG_FUNCTION_ARGS)
{
	OrdersMove	m;
	char	   *reason = NULL;

	PayconsRequireArg(fcinfo, 0, "order_id");
	PayconsRequireArg(fcinfo, 1, "to_state");
	m.fcinfo = fcinfo;
	m.order_id = PayconsCheckId(PG_GETARG_TEXT_PP(0), "order_id",
								PAYCONS_MAX_ORDER_ID);
	m.to = PG_GETARG_ORDER_STATE(1);
	if (!PG_ARGISNULL(2))
		reason = text_to_cstring(PG_GETARG_TEXT_PP(2));
	PayconsAsOwnerForCaller(reason, orders_transition_work, &m);
	return m.result;
}

/* Work of get_order() and order_history_of() */
typedef struct OrdersRead
{
	FunctionCallInfo fcinfo;
	Datum		order_id;
	Datum		result;			/* get_order */
} OrdersRead;

static void
orders_get_work(void *arg, MemoryContext caller)
{
	OrdersRead *r = (OrdersRead *) arg;

	PayconsExecPlan(&orders_select, &r->order_id, NULL, 1);
	if (SPI_processed == 0)
		orders_not_found(TextDatumGetCString(r->order_id));
	r->result = PayconsReturnRow(r->fcinfo, caller);
}

/*
 * paycons.get_order(order_id) -> paycons.orders: the order's row, read as
 * the owner; PC002 if there is none.
 */
Datum
paycons_get_order(PG_FUNCTION_ARGS)
{
	OrdersRead	r;

	PayconsRequireArg(fcinfo, 0, "order_id");
	r.fcinfo = fcinfo;
	r.order_id = CStringGetTextDatum(PayconsCheckId(PG_GETARG_TEXT_PP(0),
													"order_id",
													PAYCONS_MAX_ORDER_ID));
	PayconsAsOwner(NULL, orders_get_work, &r);
	return r.result;
}

static void
orders_history_work(void *arg, MemoryContext caller)
{
	OrdersRead *r = (OrdersRead *) arg;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) r->fcinfo->resultinfo;
	TupleDesc	resdesc = rsinfo->setDesc;
	TupleDesc	spidesc;
	int		   *cols;
	Datum	   *values;
	bool	   *nulls;

	PayconsExecPlan(&orders_select, &r->order_id, NULL, 1);
	if (SPI_processed == 0)
		orders_not_found(TextDatumGetCString(r->order_id));

	PayconsExecPlan(&orders_history, &r->order_id, NULL, 0);
	spidesc = SPI_tuptable->tupdesc;

	/* columns of the result by name, as PayconsReturnRow does */
	cols = palloc(sizeof(int) * resdesc->natts);
	values = palloc(sizeof(Datum) * resdesc->natts);
	nulls = palloc(sizeof(bool) * resdesc->natts);
	for (int i = 0; i < resdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(resdesc, i);

		cols[i] = att->attisdropped ? 0 : SPI_fnumber(spidesc, NameStr(att->attname));
		if (cols[i] > 0 &&
			TupleDescAttr(spidesc, cols[i] - 1)->atttypid != att->atttypid)
			elog(ERROR, "column \"%s\" of order_history has type %u, expected %u",
				 NameStr(att->attname),
				 TupleDescAttr(spidesc, cols[i] - 1)->atttypid, att->atttypid);
	}
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		for (int i = 0; i < resdesc->natts; i++)
		{
			values[i] = (Datum) 0;
			nulls[i] = true;
			if (cols[i] > 0)
				values[i] = SPI_getbinval(SPI_tuptable->vals[row], spidesc,
										  cols[i], &nulls[i]);
		}
		/* the tuplestore copies the row into its own memory */
		tuplestore_putvalues(rsinfo->setResult, resdesc, values, nulls);
	}
}

/*
 * paycons.order_history_of(order_id) -> setof paycons.order_history: the
 * state changes of one order of paycons.orders, oldest first, read as the
 * owner; PC002 if the order does not exist.
 */
Datum
paycons_order_history_of(PG_FUNCTION_ARGS)
{
	OrdersRead	r;

	PayconsRequireArg(fcinfo, 0, "order_id");
	r.fcinfo = fcinfo;
	r.order_id = CStringGetTextDatum(PayconsCheckId(PG_GETARG_TEXT_PP(0),
													"order_id",
													PAYCONS_MAX_ORDER_ID));
	InitMaterializedSRF(fcinfo, MAT_SRF_BLESS);
	PayconsAsOwner(NULL, orders_history_work, &r);
	return (Datum) 0;
}
