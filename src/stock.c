/*-------------------------------------------------------------------------
 *
 * stock.c
 *	  Stock reservations, the in-database participant of an order's saga:
 *	  reserve (try), commit when the order is paid (confirm), release when
 *	  it is closed or cancelled (cancel).
 *
 * No oversell under any concurrency: a reservation is a conditional
 *		UPDATE paycons.stock SET reserved = reserved + q
 *		 WHERE sku = $1 AND on_hand - reserved >= q
 * whose row lock serialises concurrent reservers and whose condition is
 * re-checked on the newest row version; a CHECK (reserved <= on_hand)
 * backs it up.  Lines are locked in byte order of sku everywhere, so two
 * reservations never deadlock.  One reservation is all or nothing: any
 * line that does not fit raises an error, and the error undoes the lines
 * already taken.
 *
 * Per order, paycons.stock_orders holds the reservation's state.  As in
 * Seata's TCC, a release that finds no reservation succeeds and leaves a
 * "released" row with no lines (empty compensation), and a reservation
 * that finds a released row is refused (anti-suspension): a reservation
 * delayed past the saga's rollback can never hold stock forever.
 *
 * IDENTIFICATION
 *	  src/stock.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/rel.h"

#include "as_owner.h"
#include "compensations.h"
#include "errcodes.h"
#include "order_state.h"
#include "spi_plans.h"
#include "stock.h"
#include "subxact.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(paycons_add_stock);
PG_FUNCTION_INFO_V1(paycons_reserve_stock);
PG_FUNCTION_INFO_V1(paycons_commit_stock);
PG_FUNCTION_INFO_V1(paycons_release_stock);
PG_FUNCTION_INFO_V1(paycons_stock_on_order_state);

typedef struct StockLine
{
	char	   *sku;
	int64		quantity;
} StockLine;

static PayconsPlan stock_add = {
	"INSERT INTO paycons.stock AS s (sku, on_hand) VALUES ($1, $2)"
	" ON CONFLICT (sku) DO UPDATE SET on_hand = s.on_hand OPERATOR(pg_catalog.+) EXCLUDED.on_hand,"
	" updated_at = pg_catalog.now() RETURNING *",
	2, {TEXTOID, INT8OID}, 0, NULL
};

static PayconsPlan stock_items = {
	"SELECT pg_catalog.jsonb_typeof(e), e OPERATOR(pg_catalog.->>) 'sku',"
	" pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'sku'),"
	" e OPERATOR(pg_catalog.->>) 'quantity',"
	" pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'quantity')"
	" FROM pg_catalog.jsonb_array_elements($1) AS t(e)",
	1, {JSONBOID}, 0, NULL
};

static PayconsPlan stock_order_lock = {
	"SELECT state::pg_catalog.text FROM paycons.orders"
	" WHERE order_id OPERATOR(pg_catalog.=) $1 FOR SHARE",
	1, {TEXTOID}, 0, NULL
};

static PayconsPlan stock_header_insert = {
	"INSERT INTO paycons.stock_orders (order_id, state) VALUES ($1, $2)"
	" ON CONFLICT (order_id) DO NOTHING RETURNING 1",
	2, {TEXTOID, TEXTOID}, 0, NULL
};

static PayconsPlan stock_header_lock = {
	"SELECT state FROM paycons.stock_orders WHERE order_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
	1, {TEXTOID}, 0, NULL
};

static PayconsPlan stock_header_probe = {
	"SELECT 1 FROM paycons.stock_orders WHERE order_id OPERATOR(pg_catalog.=) $1"
	" AND state OPERATOR(pg_catalog.=) 'reserved'",
	1, {TEXTOID}, 0, NULL
};

static PayconsPlan stock_header_set = {
	"UPDATE paycons.stock_orders SET state = $2, updated_at = pg_catalog.now()"
	" WHERE order_id OPERATOR(pg_catalog.=) $1",
	2, {TEXTOID, TEXTOID}, 0, NULL
};

static PayconsPlan stock_lines = {
	"SELECT sku, quantity FROM paycons.stock_reservations"
	" WHERE order_id OPERATOR(pg_catalog.=) $1 ORDER BY sku COLLATE \"C\"",
	1, {TEXTOID}, 0, NULL
};

static PayconsPlan stock_reserve = {
	"UPDATE paycons.stock SET reserved = reserved OPERATOR(pg_catalog.+) $2,"
	" updated_at = pg_catalog.now()"
	" WHERE sku OPERATOR(pg_catalog.=) $1"
	" AND on_hand OPERATOR(pg_catalog.-) reserved OPERATOR(pg_catalog.>=) $2",
	2, {TEXTOID, INT8OID}, 0, NULL
};

static PayconsPlan stock_available = {
	"SELECT on_hand OPERATOR(pg_catalog.-) reserved FROM paycons.stock"
	" WHERE sku OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}, 0, NULL
};

static PayconsPlan stock_line_insert = {
	"INSERT INTO paycons.stock_reservations (order_id, sku, quantity) VALUES ($1, $2, $3)",
	3, {TEXTOID, TEXTOID, INT8OID}, 0, NULL
};

static PayconsPlan stock_commit_line = {
	"UPDATE paycons.stock SET on_hand = on_hand OPERATOR(pg_catalog.-) $2,"
	" reserved = reserved OPERATOR(pg_catalog.-) $2, updated_at = pg_catalog.now()"
	" WHERE sku OPERATOR(pg_catalog.=) $1",
	2, {TEXTOID, INT8OID}, 0, NULL
};

static PayconsPlan stock_release_line = {
	"UPDATE paycons.stock SET reserved = reserved OPERATOR(pg_catalog.-) $2,"
	" updated_at = pg_catalog.now()"
	" WHERE sku OPERATOR(pg_catalog.=) $1",
	2, {TEXTOID, INT8OID}, 0, NULL
};

/* Sort lines by sku, bytewise: the lock order of every stock function */
static int
stock_line_cmp(const void *a, const void *b)
{
	return strcmp(((const StockLine *) a)->sku, ((const StockLine *) b)->sku);
}

/* A quantity: a positive integer, given as a JSON number */
static int64
stock_parse_quantity(const char *text, const char *type, const char *sku)
{
	char	   *end;
	long long	q;

	if (type == NULL || strcmp(type, "number") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_INVALID_QUANTITY),
				 errmsg("quantity of sku \"%s\" must be a number, not %s",
						sku, type ? type : "missing")));
	errno = 0;
	q = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_INVALID_QUANTITY),
				 errmsg("quantity of sku \"%s\" must be a whole number: %s", sku, text)));
	if (q <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_INVALID_QUANTITY),
				 errmsg("quantity of sku \"%s\" must be positive: %lld", sku, q)));
	return (int64) q;
}

/*
 * Check items: a non-empty JSON array of {"sku": text, "quantity": n > 0}
 * objects.  Returns the lines sorted by sku, repeated skus summed.  The
 * caller is connected to SPI.
 */
static StockLine *
stock_parse_items(Jsonb *items, int *nlines)
{
	StockLine  *lines;
	int			n;
	int			out = 0;
	Datum		arg = JsonbPGetDatum(items);

	if (!JB_ROOT_IS_ARRAY(items) || JB_ROOT_IS_SCALAR(items))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("items must be a JSON array of {\"sku\": ..., \"quantity\": ...} objects")));
	n = JB_ROOT_COUNT(items);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("items must not be empty")));
	if (n > PAYCONS_MAX_ITEMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many items: %d", n),
				 errdetail("The maximum is %d lines per reservation.", PAYCONS_MAX_ITEMS)));

	PayconsExecPlan(&stock_items, &arg, NULL, 0);
	lines = palloc(sizeof(StockLine) * n);
	for (int i = 0; i < (int) SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *etype = SPI_getvalue(tup, desc, 1);
		char	   *sku = SPI_getvalue(tup, desc, 2);
		char	   *skutype = SPI_getvalue(tup, desc, 3);

		if (strcmp(etype, "object") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("item %d must be a JSON object, not %s", i + 1, etype)));
		if (skutype == NULL || strcmp(skutype, "string") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("item %d must have a string \"sku\"", i + 1)));
		lines[i].sku = PayconsCheckId(cstring_to_text(sku), "sku", PAYCONS_MAX_SKU);
		lines[i].quantity = stock_parse_quantity(SPI_getvalue(tup, desc, 4),
												 SPI_getvalue(tup, desc, 5),
												 lines[i].sku);
	}

	qsort(lines, n, sizeof(StockLine), stock_line_cmp);
	for (int i = 0; i < n; i++)
	{
		if (out > 0 && strcmp(lines[out - 1].sku, lines[i].sku) == 0)
		{
			if (pg_add_s64_overflow(lines[out - 1].quantity, lines[i].quantity,
									&lines[out - 1].quantity))
				ereport(ERROR,
						(errcode(ERRCODE_PAYCONS_INVALID_QUANTITY),
						 errmsg("quantity of sku \"%s\" is out of range", lines[i].sku)));
		}
		else
			lines[out++] = lines[i];
	}
	*nlines = out;
	return lines;
}

/* The lines of an order's reservation, in lock order (SPI connected) */
static StockLine *
stock_read_lines(const char *order_id, int *nlines)
{
	Datum		arg = CStringGetTextDatum(order_id);
	StockLine  *lines;
	int			n;

	PayconsExecPlan(&stock_lines, &arg, NULL, 0);
	n = (int) SPI_processed;
	lines = palloc(sizeof(StockLine) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		lines[i].sku = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		lines[i].quantity = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														SPI_tuptable->tupdesc, 2, &isnull));
	}
	*nlines = n;
	return lines;
}

/* Lock the reservation header of an order; returns its state or NULL */
static char *
stock_lock_header(const char *order_id)
{
	Datum		arg = CStringGetTextDatum(order_id);

	PayconsExecPlan(&stock_header_lock, &arg, NULL, 1);
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

static void
stock_set_header(const char *order_id, const char *state)
{
	Datum		values[2];

	values[0] = CStringGetTextDatum(order_id);
	values[1] = CStringGetTextDatum(state);
	PayconsExecPlan(&stock_header_set, values, NULL, 0);
}

/*
 * Commit an order's reservation: deduct its lines from on_hand and
 * reserved.  Returns false (a no-op) if there is no open reservation.
 * The caller is connected to SPI and runs as the owner.
 */
bool
PayconsStockCommit(const char *order_id)
{
	char	   *state = stock_lock_header(order_id);
	StockLine  *lines;
	int			n;

	if (state == NULL || strcmp(state, "reserved") != 0)
		return false;
	lines = stock_read_lines(order_id, &n);
	for (int i = 0; i < n; i++)
	{
		Datum		values[2];

		values[0] = CStringGetTextDatum(lines[i].sku);
		values[1] = Int64GetDatum(lines[i].quantity);
		PayconsExecPlan(&stock_commit_line, values, NULL, 0);
	}
	stock_set_header(order_id, "committed");
	return true;
}

/*
 * Release an order's reservation.  Returns true if stock was given back;
 * false for a no-op: nothing reserved (a tombstone is left so that a later
 * reservation is refused), already released, or already committed.
 */
bool
PayconsStockRelease(const char *order_id)
{
	Datum		values[2];
	char	   *state;
	StockLine  *lines;
	int			n;

	values[0] = CStringGetTextDatum(order_id);
	values[1] = CStringGetTextDatum("released");
	PayconsExecPlan(&stock_header_insert, values, NULL, 1);
	if (SPI_processed == 1)
		return false;			/* empty release: tombstone written */

	state = stock_lock_header(order_id);
	if (state == NULL || strcmp(state, "reserved") != 0)
		return false;
	lines = stock_read_lines(order_id, &n);
	for (int i = 0; i < n; i++)
	{
		Datum		lv[2];

		lv[0] = CStringGetTextDatum(lines[i].sku);
		lv[1] = Int64GetDatum(lines[i].quantity);
		PayconsExecPlan(&stock_release_line, lv, NULL, 0);
	}
	stock_set_header(order_id, "released");
	return true;
}

/* Work of add_stock(): the upsert, its row returned */
typedef struct StockAdd
{
	FunctionCallInfo fcinfo;
	const char *sku;
	int64		quantity;
	Datum		result;
} StockAdd;

static void
stock_add_work(void *arg, MemoryContext caller)
{
	StockAdd   *a = (StockAdd *) arg;
	Datum		values[2];

	values[0] = CStringGetTextDatum(a->sku);
	values[1] = Int64GetDatum(a->quantity);
	PayconsExecPlan(&stock_add, values, NULL, 0);
	a->result = PayconsReturnRow(a->fcinfo, caller);
}

/* paycons.add_stock(sku, quantity) */
Datum
paycons_add_stock(PG_FUNCTION_ARGS)
{
	StockAdd	a;

	PayconsRequireArg(fcinfo, 0, "sku");
	PayconsRequireArg(fcinfo, 1, "quantity");
	a.fcinfo = fcinfo;
	a.sku = PayconsCheckId(PG_GETARG_TEXT_PP(0), "sku", PAYCONS_MAX_SKU);
	a.quantity = PG_GETARG_INT64(1);
	if (a.quantity <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_INVALID_QUANTITY),
				 errmsg("quantity of sku \"%s\" must be positive: " INT64_FORMAT,
						a.sku, a.quantity)));

	PayconsAsOwner(NULL, stock_add_work, &a);
	return a.result;
}

/*
 * paycons.reserve_stock(order_id, items)
 *
 * For an order in created, paying or payment_failed.  Returns true when
 * the stock was reserved now, false when the same reservation existed
 * already (a replay); a different one for the same order raises PC307, a
 * reservation after the order's release raises PC306, a line that does not
 * fit raises PC305 (unknown sku PC304) and nothing is reserved.
 */
/* Work of reserve_stock() */
typedef struct StockReserve
{
	const char *order_id;
	Jsonb	   *items;
	bool		result;
} StockReserve;

static void
stock_reserve_work(void *arg, MemoryContext caller)
{
	StockReserve *r = (StockReserve *) arg;
	StockLine  *lines;
	int			n;
	Datum		values[3];
	char	   *state;

	lines = stock_parse_items(r->items, &n);

	values[0] = CStringGetTextDatum(r->order_id);
	PayconsExecPlan(&stock_order_lock, values, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_ORDER_NOT_FOUND),
				 errmsg("order \"%s\" does not exist", r->order_id),
				 errhint("Create it first with paycons.create_order().")));
	state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

	values[1] = CStringGetTextDatum("reserved");
	PayconsExecPlan(&stock_header_insert, values, NULL, 1);
	if (SPI_processed == 0)
	{
		/* The order has a reservation row already: replay, conflict or tombstone */
		char	   *hstate = stock_lock_header(r->order_id);
		StockLine  *old;
		int			nold;
		bool		same;

		if (hstate != NULL && strcmp(hstate, "released") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_RESERVATION_RELEASED),
					 errmsg("stock for order \"%s\" was already released; the reservation is refused",
							r->order_id),
					 errdetail("A release (or its empty compensation) came first; a reservation arriving after it would hold stock forever.")));
		old = stock_read_lines(r->order_id, &nold);
		same = (nold == n);
		for (int i = 0; same && i < n; i++)
			same = strcmp(old[i].sku, lines[i].sku) == 0 &&
				old[i].quantity == lines[i].quantity;
		if (!same)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_RESERVATION_CONFLICT),
					 errmsg("order \"%s\" already has a different stock reservation (%s)",
							r->order_id, hstate ? hstate : "?"),
					 errhint("Release it (cancel the order) before reserving other items.")));
		r->result = false;
	}
	else
	{
		if (strcmp(state, "created") != 0 && strcmp(state, "paying") != 0 &&
			strcmp(state, "payment_failed") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_ORDER_NOT_RESERVABLE),
					 errmsg("order \"%s\" is %s; stock can only be reserved for an unpaid open order",
							r->order_id, state)));
		for (int i = 0; i < n; i++)
		{
			Datum		lv[3];

			lv[0] = CStringGetTextDatum(lines[i].sku);
			lv[1] = Int64GetDatum(lines[i].quantity);
			PayconsExecPlan(&stock_reserve, lv, NULL, 0);
			if (SPI_processed == 0)
			{
				PayconsExecPlan(&stock_available, lv, NULL, 1);
				if (SPI_processed == 0)
					ereport(ERROR,
							(errcode(ERRCODE_PAYCONS_UNKNOWN_SKU),
							 errmsg("sku \"%s\" does not exist", lines[i].sku),
							 errhint("Add it with paycons.add_stock().")));
				ereport(ERROR,
						(errcode(ERRCODE_PAYCONS_INSUFFICIENT_STOCK),
						 errmsg("insufficient stock for sku \"%s\": " INT64_FORMAT " requested, %s available",
								lines[i].sku, lines[i].quantity,
								SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
						 errdetail("Nothing was reserved for order \"%s\".", r->order_id)));
			}
			lv[0] = values[0];
			lv[1] = CStringGetTextDatum(lines[i].sku);
			lv[2] = Int64GetDatum(lines[i].quantity);
			PayconsExecPlan(&stock_line_insert, lv, NULL, 0);
		}
		r->result = true;
	}
}

Datum
paycons_reserve_stock(PG_FUNCTION_ARGS)
{
	StockReserve r;

	PayconsRequireArg(fcinfo, 0, "order_id");
	PayconsRequireArg(fcinfo, 1, "items");
	r.order_id = PayconsCheckId(PG_GETARG_TEXT_PP(0), "order_id", PAYCONS_MAX_ORDER_ID);
	r.items = PG_GETARG_JSONB_P(1);
	r.result = false;

	PayconsAsOwner(NULL, stock_reserve_work, &r);
	PG_RETURN_BOOL(r.result);
}

/* Work of commit_stock() and release_stock() */
typedef struct StockCall
{
	const char *order_id;
	bool		release;
	bool		result;
} StockCall;

static void
stock_call_work(void *arg, MemoryContext caller)
{
	StockCall  *c = (StockCall *) arg;

	c->result = c->release ? PayconsStockRelease(c->order_id) :
		PayconsStockCommit(c->order_id);
}

/* paycons.commit_stock(order_id) */
Datum
paycons_commit_stock(PG_FUNCTION_ARGS)
{
	StockCall	c;

	PayconsRequireArg(fcinfo, 0, "order_id");
	c.order_id = PayconsCheckId(PG_GETARG_TEXT_PP(0), "order_id", PAYCONS_MAX_ORDER_ID);
	c.release = false;
	PayconsAsOwner(NULL, stock_call_work, &c);
	PG_RETURN_BOOL(c.result);
}

/*
 * paycons.release_stock(order_id, args): the handler of the release_stock
 * compensation, also callable directly.  args is not used.
 */
Datum
paycons_release_stock(PG_FUNCTION_ARGS)
{
	StockCall	c;

	PayconsRequireArg(fcinfo, 0, "order_id");
	c.order_id = PayconsCheckId(PG_GETARG_TEXT_PP(0), "order_id", PAYCONS_MAX_ORDER_ID);
	c.release = true;
	PayconsAsOwner(NULL, stock_call_work, &c);
	PG_RETURN_BOOL(c.result);
}

/* Commit in a subtransaction, from the trigger */
static void
stock_commit_item(void *arg)
{
	(void) PayconsStockCommit((const char *) arg);
}

/* Work of the trigger below */
typedef struct StockChange
{
	const char *order_id;
	OrderState	newstate;
} StockChange;

/*
 * What a change of an order to newstate means for its stock: paid commits
 * the order's reservation, in a subtransaction so that a failure never
 * undoes the payment (run_maintenance() retries it); closed or cancelled
 * enqueue the release_stock compensation if stock is reserved.
 */
static void
stock_on_change_work(void *arg, MemoryContext caller)
{
	StockChange *c = (StockChange *) arg;
	Datum		key = CStringGetTextDatum(c->order_id);

	PayconsExecPlan(&stock_header_probe, &key, NULL, 1);
	if (SPI_processed == 0)
		return;
	if (c->newstate == OS_PAID)
	{
		ErrorData  *edata;

		if (!PayconsTryItem(stock_commit_item, unconstify(char *, c->order_id),
							&edata))
			ereport(WARNING,
					(errmsg("paycons: could not commit the stock of order \"%s\": %s",
							c->order_id, edata->message),
					 errdetail("run_maintenance() will retry.")));
	}
	else
	{
		Oid			argtypes[2] = {TEXTOID, JSONBOID};
		Oid			handler;

		handler = LookupFuncName(list_make2(makeString("paycons"),
											makeString("release_stock")),
								 2, argtypes, false);
		(void) PayconsEnqueueCompensation(c->order_id, "release_stock", handler,
										  DirectFunctionCall1(jsonb_in,
															  CStringGetDatum("{}")),
										  GetUserId());	/* the owner */
	}
}

/*
 * paycons.stock_on_order_state(): AFTER UPDATE row trigger on
 * paycons.orders (fired when the state changed); see
 * stock_on_change_work.
 */
Datum
paycons_stock_on_order_state(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	int			state_att;
	int			key_att;
	bool		isnull;
	OrderState	newstate;
	StockChange change;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("paycons.stock_on_order_state() was not called by the trigger manager")));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("paycons.stock_on_order_state() must be fired AFTER UPDATE FOR EACH ROW")));

	desc = RelationGetDescr(trigdata->tg_relation);
	state_att = SPI_fnumber(desc, "state");
	key_att = SPI_fnumber(desc, "order_id");
	if (state_att <= 0 || key_att <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("table \"%s\" has no columns \"state\" and \"order_id\"",
						RelationGetRelationName(trigdata->tg_relation))));
	newstate = DatumGetOrderState(SPI_getbinval(trigdata->tg_newtuple, desc,
												state_att, &isnull));
	if (isnull)
		return PointerGetDatum(NULL);
	if (newstate != OS_PAID && newstate != OS_CLOSED && newstate != OS_CANCELLED)
		return PointerGetDatum(NULL);
	change.order_id = SPI_getvalue(trigdata->tg_newtuple, desc, key_att);
	change.newstate = newstate;
	PayconsAsOwner(NULL, stock_on_change_work, &change);
	return PointerGetDatum(NULL);
}
