/*-------------------------------------------------------------------------
 *
 * compensations.c
 *	  Saga compensation steps: enqueueing, retry policies and backoff, the
 *	  retry loop run by run_maintenance(), and the completion of external
 *	  steps.
 *
 * A step is one row of paycons.compensations, unique on (order_id, action).
 * An in-database step names a handler, a function (order_id text, args
 * jsonb); each attempt calls it in a subtransaction as the role that
 * enqueued the step.  A failed attempt records its SQLSTATE and message and
 * is retried after a delay of
 *		min(initial * coefficient^(attempt - 1), max) * (1 - jitter * u)
 * with u uniform in [0, 1), unless its SQLSTATE is non-retryable or it was
 * the last attempt: then the step is dead and a compensation.dead event is
 * written to the outbox, so that a person is told.
 *
 * An external step (handler NULL) is sent as an outbox command
 * "<action prefix>.request" (e.g. refund.request for action 'refund:TXN')
 * when it is enqueued, and again each time its delay passes without an
 * answer; paycons.complete_compensation() brings the answer back.
 *
 * IDENTIFICATION
 *	  src/compensations.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "as_owner.h"
#include "compensations.h"
#include "errcodes.h"
#include "maintenance.h"
#include "retry_policy.h"
#include "spi_plans.h"
#include "subxact.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(paycons_enqueue_compensation);
PG_FUNCTION_INFO_V1(paycons_complete_compensation);
PG_FUNCTION_INFO_V1(paycons_retry_compensation);
PG_FUNCTION_INFO_V1(paycons_complete_refund_for);

/* One due step, copied out of SPI's result */
typedef struct CompItem
{
	int64		id;
	char	   *order_id;
	char	   *action;
	Oid			handler;		/* InvalidOid: external */
	Datum		args;			/* jsonb */
	int			attempts;
	Oid			run_as;
} CompItem;

static PayconsPlan comp_insert = {
	"INSERT INTO paycons.compensations AS c (order_id, action, handler, args, run_as)"
	" VALUES ($1, $2, $3::pg_catalog.regprocedure, $4, $5::pg_catalog.regrole)"
	" ON CONFLICT ON CONSTRAINT compensations_order_action DO NOTHING RETURNING c.id",
	5, {TEXTOID, TEXTOID, OIDOID, JSONBOID, OIDOID}, 0, NULL
};

/* A step recorded as done at once: money the channel already returned */
static PayconsPlan comp_insert_done = {
	"INSERT INTO paycons.compensations AS c (order_id, action, args, run_as,"
	" state, done_at, detail)"
	" VALUES ($1, $2, $3, $4::pg_catalog.regrole, 'done', pg_catalog.now(), $5)"
	" ON CONFLICT ON CONSTRAINT compensations_order_action DO NOTHING",
	5, {TEXTOID, TEXTOID, JSONBOID, OIDOID, TEXTOID}, 0, NULL
};

static PayconsPlan comp_find = {
	"SELECT id FROM paycons.compensations"
	" WHERE order_id OPERATOR(pg_catalog.=) $1 AND action OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}, 0, NULL
};

static PayconsPlan comp_claim = {
	"SELECT c.id, c.order_id, c.action, c.handler::pg_catalog.oid, c.args, c.attempts,"
	" c.run_as::pg_catalog.oid"
	" FROM paycons.compensations c"
	" WHERE c.state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'waiting_external'])"
	" AND c.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
	" ORDER BY c.next_attempt_at, c.id LIMIT $1 FOR UPDATE SKIP LOCKED",
	1, {INT4OID}, 0, NULL
};

static PayconsPlan comp_lock = {
	"SELECT c.id, c.order_id, c.action, c.handler::pg_catalog.oid, c.state, c.attempts"
	" FROM paycons.compensations c WHERE c.id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
	1, {INT8OID}, 0, NULL
};

/*
 * Record the outcome of an attempt.  $4 is the delay in seconds before the
 * next attempt (NULL: leave next_attempt_at); $5/$6/$7 are kept when NULL.
 */
static PayconsPlan comp_update = {
	"UPDATE paycons.compensations SET state = $2, attempts = $3,"
	" next_attempt_at = CASE WHEN $4 IS NULL THEN next_attempt_at"
	"   ELSE pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => $4) END,"
	" last_error = COALESCE($5, last_error), last_sqlstate = COALESCE($6, last_sqlstate),"
	" detail = COALESCE($7, detail),"
	" done_at = CASE WHEN $2 OPERATOR(pg_catalog.=) 'done' THEN pg_catalog.now() END,"
	" updated_at = pg_catalog.now(), last_attempt_at = pg_catalog.now()"
	" WHERE id OPERATOR(pg_catalog.=) $1",
	7, {INT8OID, TEXTOID, INT4OID, FLOAT8OID, TEXTOID, TEXTOID, TEXTOID}, 0, NULL
};

static PayconsPlan comp_emit_dead = {
	"SELECT paycons.emit('order', c.order_id, 'compensation.dead',"
	" pg_catalog.jsonb_build_object('compensation_id', c.id, 'order_id', c.order_id,"
	" 'action', c.action, 'handler', c.handler::pg_catalog.text, 'attempts', c.attempts,"
	" 'last_sqlstate', c.last_sqlstate, 'last_error', c.last_error, 'args', c.args))"
	" FROM paycons.compensations c WHERE c.id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}, 0, NULL
};

static PayconsPlan comp_emit_request = {
	"SELECT paycons.emit('order', c.order_id,"
	" pg_catalog.split_part(c.action, ':', 1) OPERATOR(pg_catalog.||) '.request',"
	" pg_catalog.jsonb_build_object('compensation_id', c.id, 'order_id', c.order_id,"
	" 'action', c.action, 'attempt', c.attempts, 'args', c.args))"
	" FROM paycons.compensations c WHERE c.id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}, 0, NULL
};

static PayconsPlan comp_select = {
	"SELECT * FROM paycons.compensations WHERE id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}, 0, NULL
};

static PayconsPlan comp_reset = {
	"UPDATE paycons.compensations SET state = 'pending', attempts = 0,"
	" next_attempt_at = pg_catalog.now(), updated_at = pg_catalog.now()"
	" WHERE id OPERATOR(pg_catalog.=) $1 RETURNING *",
	1, {INT8OID}, 0, NULL
};

static PayconsPlan comp_find_refund = {
	"SELECT id FROM paycons.compensations"
	" WHERE order_id OPERATOR(pg_catalog.=) $1 AND handler IS NULL"
	" AND state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'waiting_external', 'dead'])"
	" AND CASE WHEN $3 IS NOT NULL"
	"   THEN action OPERATOR(pg_catalog.=) ('refund:' OPERATOR(pg_catalog.||) $3)"
	"   ELSE action OPERATOR(pg_catalog.~~) 'refund:%'"
	"     AND args OPERATOR(pg_catalog.->) 'amount' OPERATOR(pg_catalog.=) pg_catalog.to_jsonb($2) END"
	" ORDER BY id LIMIT 1 FOR UPDATE",
	3, {TEXTOID, INT8OID, TEXTOID}, 0, NULL
};

/*
 * Check that a handler exists and has the signature (text, jsonb) of a
 * plain function returning one value.  Raises PC302 or PC301.
 */
static void
comp_check_handler(Oid handler)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	bool		ok;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(handler));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_UNKNOWN_HANDLER),
				 errmsg("compensation handler with OID %u does not exist", handler)));
	proc = (Form_pg_proc) GETSTRUCT(tup);
	ok = proc->prokind == PROKIND_FUNCTION && !proc->proretset &&
		proc->pronargs == 2 &&
		proc->proargtypes.values[0] == TEXTOID &&
		proc->proargtypes.values[1] == JSONBOID;
	ReleaseSysCache(tup);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_INVALID_HANDLER),
				 errmsg("function %s cannot be a compensation handler",
						format_procedure(handler)),
				 errdetail("A handler is a function (order_id text, args jsonb) returning one value, not a procedure, aggregate or set-returning function.")));
}

/* Copy a compensations row's text column out of SPI (NULL-safe) */
static char *
comp_text(HeapTuple tup, TupleDesc desc, int col)
{
	return SPI_getvalue(tup, desc, col);
}

/*
 * Insert a step, or find the existing one of (order_id, action): returns
 * its id.  An external step (handler InvalidOid) is sent at once: its first
 * request goes to the outbox in the caller's transaction.  The caller is
 * connected to SPI and runs as the owner; arguments are already checked.
 */
int64
PayconsEnqueueCompensation(const char *order_id, const char *action,
						   Oid handler, Datum args, Oid run_as)
{
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int64		id;

	values[0] = CStringGetTextDatum(order_id);
	values[1] = CStringGetTextDatum(action);
	values[2] = ObjectIdGetDatum(handler);
	if (!OidIsValid(handler))
		nulls[2] = 'n';
	values[3] = args;
	values[4] = ObjectIdGetDatum(run_as);

	PayconsExecPlan(&comp_insert, values, nulls, 1);
	if (SPI_processed == 1)
	{
		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1, &isnull));
		if (!OidIsValid(handler))
		{
			PayconsRetryPolicy policy;
			Datum		uvalues[7];
			char		unulls[7] = {' ', ' ', ' ', ' ', 'n', 'n', 'n'};

			PayconsGetRetryPolicy(action, &policy);
			uvalues[0] = Int64GetDatum(id);
			uvalues[1] = CStringGetTextDatum("waiting_external");
			uvalues[2] = Int32GetDatum(1);
			uvalues[3] = Float8GetDatum(PayconsRetryDelay(&policy, 1, -1));
			PayconsExecPlan(&comp_update, uvalues, unulls, 0);
			PayconsExecPlan(&comp_emit_request, uvalues, NULL, 0);
		}
		return id;
	}

	/* It exists (enqueueing again is a no-op) */
	PayconsExecPlan(&comp_find, values, NULL, 1);
	if (SPI_processed != 1)
		elog(ERROR, "compensation (%s, %s) conflicted on insert but cannot be read",
			 order_id, action);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * paycons.enqueue_compensation(order_id, action, handler, args)
 *
 * Idempotent on (order_id, action): a second call returns the first step's
 * id and changes nothing.  The caller needs EXECUTE on the handler, which
 * will run as the caller's role.
 */
/* Work of paycons.enqueue_compensation() */
typedef struct CompEnqueue
{
	const char *order_id;
	const char *action;
	Oid			handler;
	Datum		args;
	Oid			run_as;
	int64		id;
} CompEnqueue;

static void
comp_enqueue_work(void *arg, MemoryContext caller)
{
	CompEnqueue *e = (CompEnqueue *) arg;

	e->id = PayconsEnqueueCompensation(e->order_id, e->action, e->handler,
									   e->args, e->run_as);
}

Datum
paycons_enqueue_compensation(PG_FUNCTION_ARGS)
{
	CompEnqueue e;
	Jsonb	   *args;

	PayconsRequireArg(fcinfo, 0, "order_id");
	PayconsRequireArg(fcinfo, 1, "action");
	e.order_id = PayconsCheckId(PG_GETARG_TEXT_PP(0), "order_id", PAYCONS_MAX_ORDER_ID);
	e.action = PayconsCheckId(PG_GETARG_TEXT_PP(1), "action", PAYCONS_MAX_ACTION);
	e.handler = InvalidOid;
	e.run_as = GetUserId();
	if (!PG_ARGISNULL(2))
	{
		AclResult	aclresult;

		e.handler = PG_GETARG_OID(2);
		comp_check_handler(e.handler);
		aclresult = pg_proc_aclcheck(e.handler, e.run_as, ACL_EXECUTE);
		if (aclresult != ACLCHECK_OK)
			aclcheck_error(aclresult, OBJECT_FUNCTION, get_func_name(e.handler));
	}
	if (PG_ARGISNULL(3))
		args = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	else
		args = PG_GETARG_JSONB_P(3);
	if (!JB_ROOT_IS_OBJECT(args) || JB_ROOT_IS_SCALAR(args))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("args of compensation \"%s\" for order \"%s\" must be a JSON object",
						e.action, e.order_id)));
	e.args = JsonbPGetDatum(args);

	PayconsAsOwner(NULL, comp_enqueue_work, &e);
	PG_RETURN_INT64(e.id);
}

/* What one in-database attempt needs */
typedef struct CompCall
{
	CompItem   *item;
} CompCall;

/*
 * Call the handler of a step (in a subtransaction) as the role that
 * enqueued it, still security-restricted, with the search_path of the
 * session that runs maintenance, not the owner's pinned one: a handler is
 * that role's own code.
 */
static void
comp_call_handler(void *arg)
{
	CompItem   *item = ((CompCall *) arg)->item;
	const char *path = PayconsCallerSearchPath();
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	FmgrInfo	flinfo;
	LOCAL_FCINFO(hcinfo, 2);

	comp_check_handler(item->handler);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	if (OidIsValid(item->run_as))
		SetUserIdAndSecContext(item->run_as,
							   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	save_nestlevel = NewGUCNestLevel();
	if (path != NULL)
		(void) set_config_option("search_path", path,
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);

	fmgr_info(item->handler, &flinfo);
	InitFunctionCallInfoData(*hcinfo, &flinfo, 2, DEFAULT_COLLATION_OID,
							 NULL, NULL);
	hcinfo->args[0].value = CStringGetTextDatum(item->order_id);
	hcinfo->args[0].isnull = false;
	hcinfo->args[1].value = item->args;
	hcinfo->args[1].isnull = false;
	(void) FunctionCallInvoke(hcinfo);

	/* the subtransaction's abort restores both on the error path */
	AtEOXact_GUC(true, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/* Write the outcome of one attempt */
static void
comp_record(int64 id, const char *state, int attempts, double delay,
			const char *error, const char *sqlstate)
{
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', 'n'};

	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(state);
	values[2] = Int32GetDatum(attempts);
	if (delay < 0)
		nulls[3] = 'n';
	else
		values[3] = Float8GetDatum(delay);
	if (error)
		values[4] = CStringGetTextDatum(error);
	else
		nulls[4] = 'n';
	if (sqlstate)
		values[5] = CStringGetTextDatum(sqlstate);
	else
		nulls[5] = 'n';
	PayconsExecPlan(&comp_update, values, nulls, 0);
	if (strcmp(state, "dead") == 0)
		PayconsExecPlan(&comp_emit_dead, values, NULL, 0);
}

/* Send (or re-send) an external step's request */
static void
comp_send_external(void *arg)
{
	CompItem   *item = ((CompCall *) arg)->item;
	PayconsRetryPolicy policy;
	Datum		id = Int64GetDatum(item->id);

	PayconsGetRetryPolicy(item->action, &policy);
	comp_record(item->id, "waiting_external", item->attempts + 1,
				PayconsRetryDelay(&policy, item->attempts + 1, -1), NULL, NULL);
	PayconsExecPlan(&comp_emit_request, &id, NULL, 0);
}

/*
 * Run up to limit due steps, each in its own subtransaction, adding what
 * happened to counts[].  The caller is connected to SPI, runs as the owner
 * and holds the maintenance lock; steps locked by others are skipped.
 */
void
PayconsRunCompensations(int limit, int64 *counts)
{
	Datum		arg = Int32GetDatum(limit);
	CompItem   *items;
	int			n;
	PayconsRetryPolicy policy;
	const char *policy_action = NULL;
	MemoryContext pass_cxt = CurrentMemoryContext;
	MemoryContext itemcxt;

	PayconsExecPlan(&comp_claim, &arg, NULL, 0);
	n = (int) SPI_processed;
	if (n == 0)
		return;

	items = palloc(sizeof(CompItem) * n);
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;

		items[i].id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		items[i].order_id = comp_text(tup, desc, 2);
		items[i].action = comp_text(tup, desc, 3);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		items[i].handler = isnull ? InvalidOid : DatumGetObjectId(d);
		d = SPI_getbinval(tup, desc, 5, &isnull);
		items[i].args = PointerGetDatum(PG_DETOAST_DATUM_COPY(d));
		items[i].attempts = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
		d = SPI_getbinval(tup, desc, 7, &isnull);
		items[i].run_as = isnull ? InvalidOid : DatumGetObjectId(d);
	}

	/*
	 * Each attempt allocates in its own context, reset afterwards: a handler
	 * called through fmgr keeps its caches (a SQL function's plans) in the
	 * memory of its FmgrInfo, and a pass may run thousands.
	 */
	itemcxt = AllocSetContextCreate(CurrentMemoryContext,
									"paycons compensation attempt",
									ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < n; i++)
	{
		CompItem   *item = &items[i];
		CompCall	call = {item};
		ErrorData  *edata;
		int			attempt = item->attempts + 1;

		MemoryContextReset(itemcxt);
		MemoryContextSwitchTo(itemcxt);

		/* steps of one action usually come together: look its policy up once */
		if (policy_action == NULL || strcmp(policy_action, item->action) != 0)
		{
			MemoryContextSwitchTo(pass_cxt);
			PayconsGetRetryPolicy(item->action, &policy);
			policy_action = item->action;
			MemoryContextSwitchTo(itemcxt);
		}

		if (!OidIsValid(item->handler))
		{
			/* External: out of attempts while waiting means dead. */
			if (item->attempts >= policy.max_attempts)
			{
				comp_record(item->id, "dead", item->attempts, -1,
							"no answer from the external party after the last attempt",
							NULL);
				counts[PCS_COMP_DEAD]++;
			}
			else if (PayconsTryItem(comp_send_external, &call, &edata))
				counts[PCS_EXTERNAL_SENT]++;
			else
			{
				counts[PCS_ITEM_ERRORS]++;
				ereport(LOG,
						(errmsg("paycons: could not send compensation %lld (%s) of order \"%s\": %s",
								(long long) item->id, item->action, item->order_id,
								edata->message)));
			}
			continue;
		}

		if (PayconsTryItem(comp_call_handler, &call, &edata))
		{
			comp_record(item->id, "done", attempt, -1, NULL, NULL);
			counts[PCS_COMP_DONE]++;
		}
		else
		{
			const char *sqlstate = unpack_sql_state(edata->sqlerrcode);
			bool		final;

			final = PayconsRetryIsFinal(&policy, attempt, sqlstate) ||
				edata->sqlerrcode == ERRCODE_PAYCONS_UNKNOWN_HANDLER ||
				edata->sqlerrcode == ERRCODE_PAYCONS_INVALID_HANDLER;
			if (final)
			{
				comp_record(item->id, "dead", attempt, -1, edata->message, sqlstate);
				counts[PCS_COMP_DEAD]++;
			}
			else
			{
				comp_record(item->id, "pending", attempt,
							PayconsRetryDelay(&policy, attempt, -1),
							edata->message, sqlstate);
				counts[PCS_COMP_RETRIED]++;
			}
			FreeErrorData(edata);
		}
	}
	MemoryContextSwitchTo(pass_cxt);
	MemoryContextDelete(itemcxt);
}

/* Raise "compensation not found" */
static void
comp_not_found(int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_PAYCONS_COMPENSATION_NOT_FOUND),
			 errmsg("compensation %lld does not exist", (long long) id)));
}

/*
 * Complete an external step (the caller is connected to SPI as the owner);
 * leaves the resulting row in SPI_tuptable.
 */
static void
comp_complete(int64 id, bool ok, const char *detail)
{
	Datum		arg = Int64GetDatum(id);
	HeapTuple	tup;
	TupleDesc	desc;
	char	   *state;
	char	   *action;
	bool		isnull;
	int			attempts;
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', 'n', 'n', 'n', ' '};

	PayconsExecPlan(&comp_lock, &arg, NULL, 1);
	if (SPI_processed == 0)
		comp_not_found(id);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	action = SPI_getvalue(tup, desc, 3);
	state = SPI_getvalue(tup, desc, 5);
	attempts = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
	(void) SPI_getbinval(tup, desc, 4, &isnull);
	if (!isnull)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_COMPENSATION_STATE),
				 errmsg("compensation %lld (%s) runs in the database and cannot be completed from outside",
						(long long) id, action),
				 errhint("Only external compensations (handler NULL) are completed with complete_compensation().")));

	values[0] = arg;
	values[2] = Int32GetDatum(attempts);
	if (detail)
		values[6] = CStringGetTextDatum(detail);
	else
		nulls[6] = 'n';

	if (ok)
	{
		if (strcmp(state, "done") == 0)
		{
			PayconsExecPlan(&comp_select, &arg, NULL, 1);
			return;
		}
		values[1] = CStringGetTextDatum("done");
	}
	else
	{
		PayconsRetryPolicy policy;

		if (strcmp(state, "done") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_COMPENSATION_STATE),
					 errmsg("compensation %lld (%s) is already done", (long long) id, action),
					 errdetail("A failure cannot be reported for a step that succeeded.")));
		if (strcmp(state, "dead") == 0)
		{
			PayconsExecPlan(&comp_select, &arg, NULL, 1);
			return;
		}
		PayconsGetRetryPolicy(action, &policy);
		values[4] = CStringGetTextDatum(detail ? detail : "failed (no detail given)");
		nulls[4] = ' ';
		if (attempts >= policy.max_attempts)
			values[1] = CStringGetTextDatum("dead");
		else
		{
			values[1] = CStringGetTextDatum("pending");
			values[3] = Float8GetDatum(PayconsRetryDelay(&policy, Max(attempts, 1), -1));
			nulls[3] = ' ';
		}
	}
	PayconsExecPlan(&comp_update, values, nulls, 0);
	if (strcmp(TextDatumGetCString(values[1]), "dead") == 0)
		PayconsExecPlan(&comp_emit_dead, values, NULL, 0);
	PayconsExecPlan(&comp_select, &arg, NULL, 1);
}

/*
 * Complete external step id as done, with detail (the caller is connected
 * to SPI and runs as the owner): a review found the money it asks for
 * already returned.  Completing a done step again changes nothing.
 */
void
PayconsCompleteCompensation(int64 id, const char *detail)
{
	comp_complete(id, true, detail);
}

/*
 * Record an external step that is done already, without sending anything:
 * a refund the channel made before paycons asked for it (the caller is
 * connected to SPI and runs as the owner).  A step of that (order_id,
 * action) that exists already is left as it is.
 */
void
PayconsRecordDoneCompensation(const char *order_id, const char *action,
							  Datum args, const char *detail)
{
	Datum		values[5];

	values[0] = CStringGetTextDatum(order_id);
	values[1] = CStringGetTextDatum(action);
	values[2] = args;
	values[3] = ObjectIdGetDatum(GetUserId());
	values[4] = CStringGetTextDatum(detail);
	PayconsExecPlan(&comp_insert_done, values, NULL, 0);
}

/*
 * paycons.complete_compensation(id, ok, detail)
 *
 * ok: the step is done (again: a no-op; a dead step that succeeded after
 * all becomes done).  Not ok: a failed attempt, retried (the request is
 * sent again when its delay passes) or dead after the last attempt.
 */
/* Work of complete_compensation() and retry_compensation() */
typedef struct CompCallArgs
{
	FunctionCallInfo fcinfo;
	int64		id;
	bool		ok;
	const char *detail;
	Datum		result;
} CompCallArgs;

static void
comp_complete_work(void *arg, MemoryContext caller)
{
	CompCallArgs *c = (CompCallArgs *) arg;

	comp_complete(c->id, c->ok, c->detail);
	c->result = PayconsReturnRow(c->fcinfo, caller);
}

Datum
paycons_complete_compensation(PG_FUNCTION_ARGS)
{
	CompCallArgs c;

	PayconsRequireArg(fcinfo, 0, "id");
	PayconsRequireArg(fcinfo, 1, "ok");
	c.fcinfo = fcinfo;
	c.id = PG_GETARG_INT64(0);
	c.ok = PG_GETARG_BOOL(1);
	c.detail = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));

	PayconsAsOwner(NULL, comp_complete_work, &c);
	return c.result;
}

/*
 * paycons.complete_refund_for(order_id, amount, payment_txn_id, detail)
 *
 * The completion the callbacks code calls when a refund succeeded: finds
 * the open (or dead) refund step of the order, by its payment's txn id if
 * given, else the oldest of that amount, and completes it.  Returns its id,
 * or NULL if there is none (a refund paycons did not ask for).
 */
/* Work of complete_refund_for() */
typedef struct CompRefund
{
	const char *order_id;
	int64		amount;
	const char *txn;
	const char *detail;
	bool		found;
	int64		id;
} CompRefund;

static void
comp_refund_work(void *arg, MemoryContext caller)
{
	CompRefund *r = (CompRefund *) arg;
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = CStringGetTextDatum(r->order_id);
	values[1] = Int64GetDatum(r->amount);
	if (r->txn)
		values[2] = CStringGetTextDatum(r->txn);
	else
		nulls[2] = 'n';
	PayconsExecPlan(&comp_find_refund, values, nulls, 1);
	if (SPI_processed == 1)
	{
		bool		isnull;

		r->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1, &isnull));
		r->found = true;
		comp_complete(r->id, true, r->detail ? r->detail : "refund succeeded");
	}
}

Datum
paycons_complete_refund_for(PG_FUNCTION_ARGS)
{
	CompRefund	r;

	PayconsRequireArg(fcinfo, 0, "order_id");
	PayconsRequireArg(fcinfo, 1, "amount");
	r.order_id = PayconsCheckId(PG_GETARG_TEXT_PP(0), "order_id", PAYCONS_MAX_ORDER_ID);
	r.amount = PG_GETARG_INT64(1);
	PayconsCheckAmount(r.amount, "amount");
	r.txn = PG_ARGISNULL(2) ? NULL :
		PayconsCheckId(PG_GETARG_TEXT_PP(2), "payment_txn_id", PAYCONS_MAX_TXN_ID);
	r.detail = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	r.found = false;
	r.id = 0;

	PayconsAsOwner(NULL, comp_refund_work, &r);
	if (!r.found)
		PG_RETURN_NULL();
	PG_RETURN_INT64(r.id);
}

/*
 * paycons.retry_compensation(id): a dead step gets a fresh set of
 * attempts, due now.  Operators use it once the cause is fixed.
 */
static void
comp_retry_work(void *arg, MemoryContext caller)
{
	CompCallArgs *c = (CompCallArgs *) arg;
	Datum		id = Int64GetDatum(c->id);
	char	   *state;

	PayconsExecPlan(&comp_lock, &id, NULL, 1);
	if (SPI_processed == 0)
		comp_not_found(c->id);
	state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5);
	if (strcmp(state, "dead") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_COMPENSATION_STATE),
				 errmsg("compensation %lld is %s, not dead", (long long) c->id, state),
				 errhint("Only dead compensations can be retried by hand.")));
	PayconsExecPlan(&comp_reset, &id, NULL, 1);
	c->result = PayconsReturnRow(c->fcinfo, caller);
}

Datum
paycons_retry_compensation(PG_FUNCTION_ARGS)
{
	CompCallArgs c;

	PayconsRequireArg(fcinfo, 0, "id");
	c.fcinfo = fcinfo;
	c.id = PG_GETARG_INT64(0);
	PayconsAsOwner(NULL, comp_retry_work, &c);
	return c.result;
}
