/*-------------------------------------------------------------------------
 *
 * maintenance.c
 *	  paycons.run_maintenance(): one pass of everything the background
 *	  worker does.  The worker calls exactly this function, and pg_cron can
 *	  schedule exactly this function (DESIGN D2).
 *
 * A pass, in order:
 *	 1. close paying orders past pay_deadline + paycons.stuck_grace (the
 *		close enqueues release_stock through the stock trigger);
 *	 2. send payment.query for paying orders past pay_deadline, again after
 *		each backoff delay of the 'payment.query' retry policy;
 *	 3. commit the stock of paid orders whose commit failed;
 *	 4. send refund.query for orders refunding longer than
 *		paycons.refund_stuck_after, with backoff likewise;
 *	 5. forget probes of orders that left the state they probed;
 *	 6. run due compensations (compensations.c);
 *	 7. paycons.outbox_maintain(), last, because its partition rotation
 *		holds an exclusive lock until the pass commits.
 * Each step handles at most paycons.batch_size items; each item runs in a
 * subtransaction, so one failure is counted and logged, and the pass goes
 * on.  Candidate rows come from the partial indexes orders_paying_deadline
 * and orders_refunding_since, so a pass costs in proportion to the stuck
 * orders, not to the size of paycons.orders.
 *
 * A transaction-level advisory lock makes passes exclusive per database: a
 * second caller returns {"ran": false} at once.  The result is a jsonb of
 * counts per kind of action.
 *
 * IDENTIFICATION
 *	  src/maintenance.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "as_owner.h"
#include "compensations.h"
#include "maintenance.h"
#include "paycons.h"
#include "retry_policy.h"
#include "shmem.h"
#include "spi_plans.h"
#include "stock.h"
#include "subxact.h"

PG_FUNCTION_INFO_V1(paycons_run_maintenance);

/* The advisory lock of a pass: ('payc', 1) in the two-int4 key space */
#define MAINT_LOCK_KEY1		0x70617963
#define MAINT_LOCK_KEY2		1

static PayconsPlan maint_close_candidates = {
	"SELECT o.order_id FROM paycons.orders o"
	" WHERE o.state OPERATOR(paycons.=) 'paying'::paycons.order_state"
	" AND o.pay_deadline OPERATOR(pg_catalog.<=) $1"
	" ORDER BY o.pay_deadline LIMIT $2 FOR UPDATE SKIP LOCKED",
	2, {TIMESTAMPTZOID, INT4OID}, 0, NULL
};

static PayconsPlan maint_close = {
	"UPDATE paycons.orders SET state = 'closed', updated_at = pg_catalog.now()"
	" WHERE order_id OPERATOR(pg_catalog.=) $1"
	" AND state OPERATOR(paycons.=) 'paying'::paycons.order_state",
	1, {TEXTOID}, 0, NULL
};

static PayconsPlan maint_query_candidates = {
	"SELECT o.order_id, COALESCE(p.attempts, 0)"
	" FROM paycons.orders o LEFT JOIN paycons.order_probes p"
	"   ON p.order_id OPERATOR(pg_catalog.=) o.order_id AND p.kind OPERATOR(pg_catalog.=) 'payment.query'"
	" WHERE o.state OPERATOR(paycons.=) 'paying'::paycons.order_state"
	" AND o.pay_deadline OPERATOR(pg_catalog.<=) pg_catalog.now()"
	" AND (p.next_at IS NULL OR p.next_at OPERATOR(pg_catalog.<=) pg_catalog.now())"
	" ORDER BY o.pay_deadline LIMIT $1",
	1, {INT4OID}, 0, NULL
};

static PayconsPlan maint_refund_candidates = {
	"SELECT o.order_id, COALESCE(p.attempts, 0)"
	" FROM paycons.orders o LEFT JOIN paycons.order_probes p"
	"   ON p.order_id OPERATOR(pg_catalog.=) o.order_id AND p.kind OPERATOR(pg_catalog.=) 'refund.query'"
	" WHERE o.state OPERATOR(paycons.=) 'refunding'::paycons.order_state"
	" AND o.state_changed_at OPERATOR(pg_catalog.<=) $1"
	" AND (p.next_at IS NULL OR p.next_at OPERATOR(pg_catalog.<=) pg_catalog.now())"
	" ORDER BY o.state_changed_at LIMIT $2",
	2, {TIMESTAMPTZOID, INT4OID}, 0, NULL
};

static PayconsPlan maint_emit_payment_query = {
	"SELECT paycons.emit('order', o.order_id, 'payment.query',"
	" pg_catalog.jsonb_build_object('order_id', o.order_id, 'channel', o.channel,"
	" 'channel_txn_id', o.channel_txn_id, 'amount', o.amount, 'currency', o.currency,"
	" 'pay_deadline', o.pay_deadline, 'attempt', $2))"
	" FROM paycons.orders o WHERE o.order_id OPERATOR(pg_catalog.=) $1",
	2, {TEXTOID, INT4OID}, 0, NULL
};

static PayconsPlan maint_emit_refund_query = {
	"SELECT paycons.emit('order', o.order_id, 'refund.query',"
	" pg_catalog.jsonb_build_object('order_id', o.order_id, 'channel', o.channel,"
	" 'channel_txn_id', o.channel_txn_id, 'amount', o.amount,"
	" 'refunded_amount', o.refunded_amount, 'currency', o.currency,"
	" 'refunding_since', o.state_changed_at, 'attempt', $2))"
	" FROM paycons.orders o WHERE o.order_id OPERATOR(pg_catalog.=) $1",
	2, {TEXTOID, INT4OID}, 0, NULL
};

static PayconsPlan maint_probe_upsert = {
	"INSERT INTO paycons.order_probes AS p (order_id, kind, attempts, last_sent_at, next_at)"
	" VALUES ($1, $2, $3, pg_catalog.now(),"
	"         pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => $4))"
	" ON CONFLICT (order_id, kind) DO UPDATE SET attempts = EXCLUDED.attempts,"
	" last_sent_at = EXCLUDED.last_sent_at, next_at = EXCLUDED.next_at",
	4, {TEXTOID, TEXTOID, INT4OID, FLOAT8OID}, 0, NULL
};

static PayconsPlan maint_probe_forget = {
	"DELETE FROM paycons.order_probes p"
	" WHERE NOT EXISTS (SELECT 1 FROM paycons.orders o"
	"   WHERE o.order_id OPERATOR(pg_catalog.=) p.order_id"
	"   AND o.state OPERATOR(paycons.=) (CASE WHEN p.kind OPERATOR(pg_catalog.=) 'payment.query'"
	"     THEN 'paying'::paycons.order_state ELSE 'refunding'::paycons.order_state END))",
	0, {InvalidOid}, 0, NULL
};

static PayconsPlan maint_outbox_maintain = {
	"SELECT paycons.outbox_maintain()::pg_catalog.text",
	0, {InvalidOid}, 0, NULL
};

static PayconsPlan maint_stock_candidates = {
	"SELECT s.order_id FROM paycons.stock_orders s"
	" JOIN paycons.orders o ON o.order_id OPERATOR(pg_catalog.=) s.order_id"
	" WHERE s.state OPERATOR(pg_catalog.=) 'reserved'"
	" AND o.state OPERATOR(paycons.=) ANY ('{paid,fulfilling,shipped,completed}'::paycons.order_state[])"
	" LIMIT $1",
	1, {INT4OID}, 0, NULL
};

/* One stuck order to probe */
typedef struct MaintProbe
{
	char	   *order_id;
	int			attempt;		/* the number of this query */
	const char *kind;
	double		delay;			/* until the next one, in seconds */
} MaintProbe;

/* Close one order (in a subtransaction); sets *closed if it was closed */
typedef struct MaintClose
{
	char	   *order_id;
	bool		closed;
} MaintClose;

static void
maint_close_work(void *arg, MemoryContext caller)
{
	MaintClose *c = (MaintClose *) arg;
	Datum		value = CStringGetTextDatum(c->order_id);

	PayconsExecPlan(&maint_close, &value, NULL, 0);
	c->closed = (SPI_processed == 1);
}

static void
maint_close_item(void *arg)
{
	/* with the reason recorded in order_history */
	PayconsAsOwner("paycons: no payment by pay_deadline + paycons.stuck_grace",
				   maint_close_work, arg);
}

static void
maint_probe_item(void *arg)
{
	MaintProbe *p = (MaintProbe *) arg;
	Datum		values[4];

	values[0] = CStringGetTextDatum(p->order_id);
	values[1] = Int32GetDatum(p->attempt);
	PayconsExecPlan(strcmp(p->kind, "payment.query") == 0 ?
					&maint_emit_payment_query : &maint_emit_refund_query,
					values, NULL, 0);
	values[1] = CStringGetTextDatum(p->kind);
	values[2] = Int32GetDatum(p->attempt);
	values[3] = Float8GetDatum(p->delay);
	PayconsExecPlan(&maint_probe_upsert, values, NULL, 0);
}

/* Commit one paid order's stock (in a subtransaction) */
typedef struct MaintStock
{
	char	   *order_id;
	bool		committed;
} MaintStock;

static void
maint_stock_item(void *arg)
{
	MaintStock *s = (MaintStock *) arg;

	s->committed = PayconsStockCommit(s->order_id);
}

/* Call paycons.outbox_maintain() (in a subtransaction), keeping its result */
typedef struct MaintOutbox
{
	MemoryContext cxt;
	char	   *result;
} MaintOutbox;

static void
maint_outbox_item(void *arg)
{
	MaintOutbox *o = (MaintOutbox *) arg;

	PayconsExecPlan(&maint_outbox_maintain, NULL, NULL, 1);
	if (SPI_processed == 1)
	{
		char	   *val = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (val)
			o->result = MemoryContextStrdup(o->cxt, val);
	}
}

/*
 * Per-item memory: maint_item_begin() resets and enters a context for one
 * item, maint_item_end() returns to the pass's context after a loop.
 */
static MemoryContext maint_pass_cxt = NULL;
static MemoryContext maint_item_cxt = NULL;

static void
maint_item_begin(void)
{
	MemoryContextReset(maint_item_cxt);
	MemoryContextSwitchTo(maint_item_cxt);
}

static void
maint_item_end(void)
{
	MemoryContextSwitchTo(maint_pass_cxt);
}

/* Log a failed item and count it */
static void
maint_item_failed(int64 *counts, const char *what, const char *order_id,
				  ErrorData *edata)
{
	counts[PCS_ITEM_ERRORS]++;
	ereport(LOG,
			(errmsg("paycons: %s of order \"%s\" failed: %s", what, order_id,
					edata->message),
			 errdetail("SQLSTATE %s; the next maintenance pass retries it.",
					   unpack_sql_state(edata->sqlerrcode))));
	FreeErrorData(edata);
}

/* Copy column 1 (text) of each SPI row, and column 2 (int4) if wanted */
static char **
maint_collect(int *n, int **ints)
{
	char	  **ids;

	*n = (int) SPI_processed;
	ids = palloc(sizeof(char *) * Max(*n, 1));
	if (ints)
		*ints = palloc(sizeof(int) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		ids[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		if (ints)
		{
			bool		isnull;

			(*ints)[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 2, &isnull));
		}
	}
	return ids;
}

/* Steps 2 and 4: send queries for the candidates in SPI_tuptable */
static void
maint_send_probes(const char *kind, int64 *counts, PayconsCounter counter)
{
	PayconsRetryPolicy policy;
	char	  **ids;
	int		   *attempts;
	int			n;

	ids = maint_collect(&n, &attempts);
	PayconsGetRetryPolicy(kind, &policy);
	for (int i = 0; i < n; i++)
	{
		MaintProbe	p;
		ErrorData  *edata;

		maint_item_begin();

		p.order_id = ids[i];
		p.kind = kind;
		p.attempt = attempts[i] + 1;
		p.delay = PayconsRetryDelay(&policy, p.attempt, -1);
		if (PayconsTryItem(maint_probe_item, &p, &edata))
			counts[counter]++;
		else
			maint_item_failed(counts, kind, ids[i], edata);
	}
	maint_item_end();
}

/* Step 7: call paycons.outbox_maintain(); its result as text */
static char *
maint_outbox(int64 *counts)
{
	ErrorData  *edata;
	MaintOutbox o;

	o.cxt = CurrentMemoryContext;
	o.result = NULL;
	if (!PayconsTryItem(maint_outbox_item, &o, &edata))
	{
		counts[PCS_ITEM_ERRORS]++;
		ereport(LOG,
				(errmsg("paycons: paycons.outbox_maintain() failed: %s", edata->message)));
		FreeErrorData(edata);
		return pstrdup("\"error\"");
	}
	return o.result ? o.result : pstrdup("null");
}

/* Append "key": value to a JSON object under construction */
static void
maint_json_count(StringInfo buf, const char *key, int64 value)
{
	appendStringInfo(buf, ", \"%s\": " INT64_FORMAT, key, value);
}

/* The work of one pass; the caller holds the lock and is connected to SPI */
static char *
maint_pass(int64 *counts)
{
	Datum		values[2];
	char	  **ids;
	int			n;
	char	   *outbox;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	int			batch = paycons_batch_size;

	maint_pass_cxt = CurrentMemoryContext;
	maint_item_cxt = AllocSetContextCreate(CurrentMemoryContext,
										   "paycons maintenance item",
										   ALLOCSET_DEFAULT_SIZES);

	/* 1. close what waited past the deadline and the grace */
	values[0] = TimestampTzGetDatum(now - (int64) paycons_stuck_grace * USECS_PER_SEC);
	values[1] = Int32GetDatum(batch);
	PayconsExecPlan(&maint_close_candidates, values, NULL, 0);
	ids = maint_collect(&n, NULL);
	for (int i = 0; i < n; i++)
	{
		MaintClose	c = {ids[i], false};
		ErrorData  *edata;

		maint_item_begin();

		if (PayconsTryItem(maint_close_item, &c, &edata))
		{
			if (c.closed)
				counts[PCS_ORDERS_CLOSED]++;
		}
		else
			maint_item_failed(counts, "closing", ids[i], edata);
	}
	maint_item_end();

	/* 2. ask the channel about overdue payments */
	values[0] = Int32GetDatum(batch);
	PayconsExecPlan(&maint_query_candidates, values, NULL, 0);
	maint_send_probes("payment.query", counts, PCS_PAYMENT_QUERIES);

	/* 3. stock of paid orders whose commit failed in the payment's trigger */
	values[0] = Int32GetDatum(batch);
	PayconsExecPlan(&maint_stock_candidates, values, NULL, 0);
	ids = maint_collect(&n, NULL);
	for (int i = 0; i < n; i++)
	{
		MaintStock	s = {ids[i], false};
		ErrorData  *edata;

		maint_item_begin();

		if (PayconsTryItem(maint_stock_item, &s, &edata))
		{
			if (s.committed)
				counts[PCS_STOCK_COMMITTED]++;
		}
		else
			maint_item_failed(counts, "committing stock", ids[i], edata);
	}
	maint_item_end();

	/* 4. ask the channel about refunds that take too long */
	values[0] = TimestampTzGetDatum(now - (int64) paycons_refund_stuck_after * USECS_PER_SEC);
	values[1] = Int32GetDatum(batch);
	PayconsExecPlan(&maint_refund_candidates, values, NULL, 0);
	maint_send_probes("refund.query", counts, PCS_REFUND_QUERIES);

	/* 5. probes of orders that moved on */
	PayconsExecPlan(&maint_probe_forget, NULL, NULL, 0);

	/* 6. compensations */
	PayconsRunCompensations(batch, counts);

	/*
	 * 7. the outbox's own maintenance, last: its rotation takes an exclusive
	 * lock on a partition, held until this pass commits.
	 */
	outbox = maint_outbox(counts);

	return outbox;
}

/*
 * paycons.run_maintenance() returns jsonb:
 *	 {"ran": true, "orders_closed": n, "payment_queries": n,
 *	  "stock_committed": n, "refund_queries": n, "compensations_done": n,
 *	  "compensations_retried": n, "compensations_dead": n,
 *	  "external_sent": n, "item_errors": n, "outbox_maintain": <its result or null>}
 * or {"ran": false, "reason": "..."} when another pass holds the lock.
 */
/* Work of run_maintenance(): one pass; the outbox result in *result */
typedef struct MaintRun
{
	int64	   *counts;
	char	   *outbox;
} MaintRun;

static void
maint_run_work(void *arg, MemoryContext caller)
{
	MaintRun   *r = (MaintRun *) arg;
	char	   *o = maint_pass(r->counts);

	if (o)
		r->outbox = MemoryContextStrdup(caller, o);
}

Datum
paycons_run_maintenance(PG_FUNCTION_ARGS)
{
	int64		counts[PCS_NUM_COUNTERS] = {0};
	StringInfoData buf;
	MaintRun	run;

	initStringInfo(&buf);
	if (!DatumGetBool(DirectFunctionCall2(pg_try_advisory_xact_lock_int4,
										  Int32GetDatum(MAINT_LOCK_KEY1),
										  Int32GetDatum(MAINT_LOCK_KEY2))))
	{
		counts[PCS_PASSES_SKIPPED] = 1;
		PayconsStatsAdd(counts);
		appendStringInfoString(&buf, "{\"ran\": false, \"reason\": \"another run_maintenance() is in progress\"}");
		PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
	}

	run.counts = counts;
	run.outbox = NULL;
	PayconsAsOwner("paycons maintenance", maint_run_work, &run);

	counts[PCS_PASSES] = 1;
	PayconsStatsAdd(counts);

	appendStringInfoString(&buf, "{\"ran\": true");
	maint_json_count(&buf, "orders_closed", counts[PCS_ORDERS_CLOSED]);
	maint_json_count(&buf, "payment_queries", counts[PCS_PAYMENT_QUERIES]);
	maint_json_count(&buf, "stock_committed", counts[PCS_STOCK_COMMITTED]);
	maint_json_count(&buf, "refund_queries", counts[PCS_REFUND_QUERIES]);
	maint_json_count(&buf, "compensations_done", counts[PCS_COMP_DONE]);
	maint_json_count(&buf, "compensations_retried", counts[PCS_COMP_RETRIED]);
	maint_json_count(&buf, "compensations_dead", counts[PCS_COMP_DEAD]);
	maint_json_count(&buf, "external_sent", counts[PCS_EXTERNAL_SENT]);
	maint_json_count(&buf, "item_errors", counts[PCS_ITEM_ERRORS]);
	appendStringInfo(&buf, ", \"outbox_maintain\": %s}", run.outbox ? run.outbox : "null");

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
