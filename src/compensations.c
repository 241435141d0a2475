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

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "paycons.h"

PG_FUNCTION_INFO_V1(paycons_enqueue_compensation);
PG_FUNCTION_INFO_V1(paycons_complete_compensation);
PG_FUNCTION_INFO_V1(paycons_retry_delay);
PG_FUNCTION_INFO_V1(paycons_set_retry_policy);
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

static PayconsPlan comp_policy = {
	"SELECT pg_catalog.date_part('epoch', initial_interval), backoff_coefficient,"
	" pg_catalog.date_part('epoch', max_interval), max_attempts, jitter, non_retryable"
	" FROM paycons.retry_policies"
	" WHERE action OPERATOR(pg_catalog.=) ANY (ARRAY[$1, pg_catalog.split_part($1, ':', 1), '*'])"
	" ORDER BY action OPERATOR(pg_catalog.=) $1 DESC, action OPERATOR(pg_catalog.=) '*' LIMIT 1",
	1, {TEXTOID}, NULL
};

static PayconsPlan comp_insert = {
	"INSERT INTO paycons.compensations AS c (order_id, action, handler, args, run_as)"
	" VALUES ($1, $2, $3::pg_catalog.regprocedure, $4, $5::pg_catalog.regrole)"
	" ON CONFLICT ON CONSTRAINT compensations_order_action DO NOTHING RETURNING c.id",
	5, {TEXTOID, TEXTOID, OIDOID, JSONBOID, OIDOID}, NULL
};

static PayconsPlan comp_find = {
	"SELECT id FROM paycons.compensations"
	" WHERE order_id OPERATOR(pg_catalog.=) $1 AND action OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}, NULL
};

static PayconsPlan comp_claim = {
	"SELECT c.id, c.order_id, c.action, c.handler::pg_catalog.oid, c.args, c.attempts,"
	" c.run_as::pg_catalog.oid"
	" FROM paycons.compensations c"
	" WHERE c.state IN ('pending', 'waiting_external')"
	" AND c.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
	" ORDER BY c.next_attempt_at, c.id LIMIT $1 FOR UPDATE SKIP LOCKED",
	1, {INT4OID}, NULL
};

static PayconsPlan comp_lock = {
	"SELECT c.id, c.order_id, c.action, c.handler::pg_catalog.oid, c.state, c.attempts"
	" FROM paycons.compensations c WHERE c.id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
	1, {INT8OID}, NULL
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
	7, {INT8OID, TEXTOID, INT4OID, FLOAT8OID, TEXTOID, TEXTOID, TEXTOID}, NULL
};

static PayconsPlan comp_emit_dead = {
	"SELECT paycons.emit('order', c.order_id, 'compensation.dead',"
	" pg_catalog.jsonb_build_object('compensation_id', c.id, 'order_id', c.order_id,"
	" 'action', c.action, 'handler', c.handler::pg_catalog.text, 'attempts', c.attempts,"
	" 'last_sqlstate', c.last_sqlstate, 'last_error', c.last_error, 'args', c.args))"
	" FROM paycons.compensations c WHERE c.id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}, NULL
};

static PayconsPlan comp_emit_request = {
	"SELECT paycons.emit('order', c.order_id,"
	" pg_catalog.split_part(c.action, ':', 1) OPERATOR(pg_catalog.||) '.request',"
	" pg_catalog.jsonb_build_object('compensation_id', c.id, 'order_id', c.order_id,"
	" 'action', c.action, 'attempt', c.attempts, 'args', c.args))"
	" FROM paycons.compensations c WHERE c.id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}, NULL
};

static PayconsPlan comp_select = {
	"SELECT * FROM paycons.compensations WHERE id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}, NULL
};

static PayconsPlan comp_reset = {
	"UPDATE paycons.compensations SET state = 'pending', attempts = 0,"
	" next_attempt_at = pg_catalog.now(), updated_at = pg_catalog.now()"
	" WHERE id OPERATOR(pg_catalog.=) $1 RETURNING *",
	1, {INT8OID}, NULL
};

static PayconsPlan comp_find_refund = {
	"SELECT id FROM paycons.compensations"
	" WHERE order_id OPERATOR(pg_catalog.=) $1 AND handler IS NULL"
	" AND state IN ('pending', 'waiting_external', 'dead')"
	" AND CASE WHEN $3 IS NOT NULL"
	"   THEN action OPERATOR(pg_catalog.=) ('refund:' OPERATOR(pg_catalog.||) $3)"
	"   ELSE action OPERATOR(pg_catalog.~~) 'refund:%'"
	"     AND args OPERATOR(pg_catalog.->) 'amount' OPERATOR(pg_catalog.=) pg_catalog.to_jsonb($2) END"
	" ORDER BY id LIMIT 1 FOR UPDATE",
	3, {TEXTOID, INT8OID, TEXTOID}, NULL
};

static PayconsPlan comp_upsert_policy = {
	"INSERT INTO paycons.retry_policies AS p (action, initial_interval, backoff_coefficient,"
	" max_interval, max_attempts, jitter, non_retryable)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7)"
	" ON CONFLICT (action) DO UPDATE SET initial_interval = EXCLUDED.initial_interval,"
	" backoff_coefficient = EXCLUDED.backoff_coefficient, max_interval = EXCLUDED.max_interval,"
	" max_attempts = EXCLUDED.max_attempts, jitter = EXCLUDED.jitter,"
	" non_retryable = EXCLUDED.non_retryable RETURNING *",
	7, {TEXTOID, INTERVALOID, FLOAT8OID, INTERVALOID, INT4OID, FLOAT8OID, TEXTARRAYOID}, NULL
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

/* Whether sqlstate (5 characters) is listed, or its class is, in policy */
static bool
comp_non_retryable(const PayconsRetryPolicy *policy, const char *sqlstate)
{
	for (int i = 0; i < policy->n_non_retryable; i++)
	{
		const char *s = policy->non_retryable[i];

		if (strlen(s) == 2 ? strncmp(s, sqlstate, 2) == 0 : strcmp(s, sqlstate) == 0)
			return true;
	}
	return false;
}

/*
 * Load the retry policy of an action: the row of the action itself, else of
 * the part before ':' (so 'refund' covers 'refund:TXN'), else '*'.  Built-in
 * defaults apply if even '*' was deleted.  The caller is connected to SPI;
 * the policy is allocated in the current memory context.
 */
void
PayconsGetRetryPolicy(const char *action, PayconsRetryPolicy *policy)
{
	Datum		arg = CStringGetTextDatum(action);
	MemoryContext cxt = CurrentMemoryContext;

	policy->initial = 1.0;
	policy->coefficient = 2.0;
	policy->max = 300.0;
	policy->max_attempts = 10;
	policy->jitter = 0.2;
	policy->n_non_retryable = 0;
	policy->non_retryable = NULL;

	PayconsExecPlan(&comp_policy, &arg, NULL, false, 1);
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		arr;

		policy->initial = DatumGetFloat8(SPI_getbinval(tup, desc, 1, &isnull));
		policy->coefficient = DatumGetFloat8(SPI_getbinval(tup, desc, 2, &isnull));
		policy->max = DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));
		policy->max_attempts = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		policy->jitter = DatumGetFloat8(SPI_getbinval(tup, desc, 5, &isnull));
		arr = SPI_getbinval(tup, desc, 6, &isnull);
		if (!isnull)
		{
			ArrayType  *a = DatumGetArrayTypeP(arr);
			Datum	   *elems;
			bool	   *nulls;
			int			n;
			MemoryContext old = MemoryContextSwitchTo(cxt);

			deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &nulls, &n);
			policy->non_retryable = palloc(sizeof(char *) * Max(n, 1));
			for (int i = 0; i < n; i++)
				if (!nulls[i])
					policy->non_retryable[policy->n_non_retryable++] =
						TextDatumGetCString(elems[i]);
			MemoryContextSwitchTo(old);
		}
	}
}

/*
 * Seconds to wait after failed attempt number "attempt" (1 = the first):
 * the exponential base capped at max, then reduced by up to jitter of
 * itself.  sample is u in [0, 1]; a negative sample draws one.  The result
 * is always within [base * (1 - jitter), base], base <= max.
 */
double
PayconsRetryDelay(const PayconsRetryPolicy *policy, int attempt, double sample)
{
	double		base;

	if (attempt < 1)
		attempt = 1;
	base = policy->initial * pow(policy->coefficient, attempt - 1);
	if (isnan(base) || base > policy->max)
		base = policy->max;
	if (sample < 0)
		sample = pg_prng_double(&pg_global_prng_state);
	return base * (1.0 - policy->jitter * sample);
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

	PayconsExecPlan(&comp_insert, values, nulls, false, 1);
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
			PayconsExecPlan(&comp_update, uvalues, unulls, false, 0);
			PayconsExecPlan(&comp_emit_request, uvalues, NULL, false, 0);
		}
		return id;
	}

	/* It exists (enqueueing again is a no-op) */
	PayconsExecPlan(&comp_find, values, NULL, false, 1);
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
Datum
paycons_enqueue_compensation(PG_FUNCTION_ARGS)
{
	PayconsOwnerState owner;
	char	   *order_id;
	char	   *action;
	volatile Oid handler = InvalidOid;
	Jsonb	   *args;
	Oid			run_as = GetUserId();
	volatile int64 id = 0;

	PayconsRequireArg(fcinfo, 0, "order_id");
	PayconsRequireArg(fcinfo, 1, "action");
	order_id = PayconsCheckId(PG_GETARG_TEXT_PP(0), "order_id", PAYCONS_MAX_ORDER_ID);
	action = PayconsCheckId(PG_GETARG_TEXT_PP(1), "action", PAYCONS_MAX_ACTION);
	if (!PG_ARGISNULL(2))
	{
		AclResult	aclresult;

		handler = PG_GETARG_OID(2);
		comp_check_handler(handler);
		aclresult = pg_proc_aclcheck(handler, run_as, ACL_EXECUTE);
		if (aclresult != ACLCHECK_OK)
			aclcheck_error(aclresult, OBJECT_FUNCTION, get_func_name(handler));
	}
	if (PG_ARGISNULL(3))
		args = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	else
		args = PG_GETARG_JSONB_P(3);
	if (!JB_ROOT_IS_OBJECT(args) || JB_ROOT_IS_SCALAR(args))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("args of compensation \"%s\" for order \"%s\" must be a JSON object",
						action, order_id)));

	PayconsBecomeOwner(&owner, NULL);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		id = PayconsEnqueueCompensation(order_id, action, handler,
										JsonbPGetDatum(args), run_as);
		SPI_finish();
	}
	PG_FINALLY();
	{
		PayconsRestoreUser(&owner);
	}
	PG_END_TRY();

	PG_RETURN_INT64(id);
}

/* What one in-database attempt needs */
typedef struct CompCall
{
	CompItem   *item;
} CompCall;

/* Call the handler of a step as the role that enqueued it (in a subxact). */
static void
comp_call_handler(void *arg)
{
	CompItem   *item = ((CompCall *) arg)->item;
	Oid			save_userid;
	int			save_sec_context;
	FmgrInfo	flinfo;
	LOCAL_FCINFO(hcinfo, 2);

	comp_check_handler(item->handler);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	if (OidIsValid(item->run_as))
		SetUserIdAndSecContext(item->run_as,
							   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);

	fmgr_info(item->handler, &flinfo);
	InitFunctionCallInfoData(*hcinfo, &flinfo, 2, DEFAULT_COLLATION_OID,
							 NULL, NULL);
	hcinfo->args[0].value = CStringGetTextDatum(item->order_id);
	hcinfo->args[0].isnull = false;
	hcinfo->args[1].value = item->args;
	hcinfo->args[1].isnull = false;
	(void) FunctionCallInvoke(hcinfo);

	/* the subtransaction's abort restores the user on the error path */
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
	PayconsExecPlan(&comp_update, values, nulls, false, 0);
	if (strcmp(state, "dead") == 0)
		PayconsExecPlan(&comp_emit_dead, values, NULL, false, 0);
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
	PayconsExecPlan(&comp_emit_request, &id, NULL, false, 0);
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

	PayconsExecPlan(&comp_claim, &arg, NULL, false, 0);
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

			final = attempt >= policy.max_attempts ||
				comp_non_retryable(&policy, sqlstate) ||
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

	PayconsExecPlan(&comp_lock, &arg, NULL, false, 1);
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
			PayconsExecPlan(&comp_select, &arg, NULL, false, 1);
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
			PayconsExecPlan(&comp_select, &arg, NULL, false, 1);
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
	PayconsExecPlan(&comp_update, values, nulls, false, 0);
	if (strcmp(TextDatumGetCString(values[1]), "dead") == 0)
		PayconsExecPlan(&comp_emit_dead, values, NULL, false, 0);
	PayconsExecPlan(&comp_select, &arg, NULL, false, 1);
}

/*
 * paycons.complete_compensation(id, ok, detail)
 *
 * ok: the step is done (again: a no-op; a dead step that succeeded after
 * all becomes done).  Not ok: a failed attempt, retried (the request is
 * sent again when its delay passes) or dead after the last attempt.
 */
Datum
paycons_complete_compensation(PG_FUNCTION_ARGS)
{
	MemoryContext upper = CurrentMemoryContext;
	PayconsOwnerState owner;
	int64		id;
	bool		ok;
	char	   *volatile detail = NULL;
	volatile Datum result = (Datum) 0;

	PayconsRequireArg(fcinfo, 0, "id");
	PayconsRequireArg(fcinfo, 1, "ok");
	id = PG_GETARG_INT64(0);
	ok = PG_GETARG_BOOL(1);
	if (!PG_ARGISNULL(2))
		detail = text_to_cstring(PG_GETARG_TEXT_PP(2));

	PayconsBecomeOwner(&owner, NULL);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		comp_complete(id, ok, detail);
		result = PayconsReturnRow(fcinfo, upper);
		SPI_finish();
	}
	PG_FINALLY();
	{
		PayconsRestoreUser(&owner);
	}
	PG_END_TRY();

	return result;
}

/*
 * paycons.complete_refund_for(order_id, amount, payment_txn_id, detail)
 *
 * The completion the callbacks code calls when a refund succeeded: finds
 * the open (or dead) refund step of the order, by its payment's txn id if
 * given, else the oldest of that amount, and completes it.  Returns its id,
 * or NULL if there is none (a refund paycons did not ask for).
 */
Datum
paycons_complete_refund_for(PG_FUNCTION_ARGS)
{
	PayconsOwnerState owner;
	char	   *order_id;
	int64		amount;
	char	   *volatile txn = NULL;
	char	   *volatile detail = NULL;
	volatile int64 id = 0;
	volatile bool found = false;

	PayconsRequireArg(fcinfo, 0, "order_id");
	PayconsRequireArg(fcinfo, 1, "amount");
	order_id = PayconsCheckId(PG_GETARG_TEXT_PP(0), "order_id", PAYCONS_MAX_ORDER_ID);
	amount = PG_GETARG_INT64(1);
	PayconsCheckAmount(amount, "amount");
	if (!PG_ARGISNULL(2))
		txn = PayconsCheckId(PG_GETARG_TEXT_PP(2), "payment_txn_id", PAYCONS_MAX_TXN_ID);
	if (!PG_ARGISNULL(3))
		detail = text_to_cstring(PG_GETARG_TEXT_PP(3));

	PayconsBecomeOwner(&owner, NULL);
	PG_TRY();
	{
		Datum		values[3];
		char		nulls[3] = {' ', ' ', ' '};

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		values[0] = CStringGetTextDatum(order_id);
		values[1] = Int64GetDatum(amount);
		if (txn)
			values[2] = CStringGetTextDatum(txn);
		else
			nulls[2] = 'n';
		PayconsExecPlan(&comp_find_refund, values, nulls, false, 1);
		if (SPI_processed == 1)
		{
			bool		isnull;

			id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1, &isnull));
			found = true;
			comp_complete(id, true, detail ? detail : "refund succeeded");
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		PayconsRestoreUser(&owner);
	}
	PG_END_TRY();

	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_INT64(id);
}

/*
 * paycons.retry_compensation(id): a dead step gets a fresh set of
 * attempts, due now.  Operators use it once the cause is fixed.
 */
Datum
paycons_retry_compensation(PG_FUNCTION_ARGS)
{
	MemoryContext upper = CurrentMemoryContext;
	PayconsOwnerState owner;
	int64		id;
	volatile Datum result = (Datum) 0;

	PayconsRequireArg(fcinfo, 0, "id");
	id = PG_GETARG_INT64(0);

	PayconsBecomeOwner(&owner, NULL);
	PG_TRY();
	{
		Datum		arg = Int64GetDatum(id);
		char	   *state;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PayconsExecPlan(&comp_lock, &arg, NULL, false, 1);
		if (SPI_processed == 0)
			comp_not_found(id);
		state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5);
		if (strcmp(state, "dead") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_COMPENSATION_STATE),
					 errmsg("compensation %lld is %s, not dead", (long long) id, state),
					 errhint("Only dead compensations can be retried by hand.")));
		PayconsExecPlan(&comp_reset, &arg, NULL, false, 1);
		result = PayconsReturnRow(fcinfo, upper);
		SPI_finish();
	}
	PG_FINALLY();
	{
		PayconsRestoreUser(&owner);
	}
	PG_END_TRY();

	return result;
}

/* Raise PC308 for a retry policy field */
static void
comp_bad_policy(const char *action, const char *what, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_PAYCONS_INVALID_RETRY_POLICY),
			 errmsg("invalid retry policy for action \"%s\": %s", action, what),
			 detail ? errdetail("%s", detail) : 0));
}

/* An interval in seconds (as date_part('epoch', ...) computes it) */
static double
comp_interval_secs(Interval *iv)
{
	return (double) iv->time / USECS_PER_SEC +
		(double) iv->day * SECS_PER_DAY +
		(double) iv->month * DAYS_PER_MONTH * SECS_PER_DAY;
}

/*
 * paycons.retry_delay(action, attempt, jitter_sample): the delay after
 * failed attempt number "attempt" under the action's policy.  With a sample
 * in [0, 1] the result is deterministic: 0 gives the upper bound, 1 the
 * lower bound of the jitter.
 */
Datum
paycons_retry_delay(PG_FUNCTION_ARGS)
{
	PayconsOwnerState owner;
	char	   *action;
	int			attempt;
	volatile double sample = -1;
	PayconsRetryPolicy policy;
	double		secs;

	PayconsRequireArg(fcinfo, 0, "action");
	PayconsRequireArg(fcinfo, 1, "attempt");
	action = PayconsCheckId(PG_GETARG_TEXT_PP(0), "action", PAYCONS_MAX_ACTION);
	attempt = PG_GETARG_INT32(1);
	if (attempt < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("attempt must be at least 1: %d", attempt)));
	if (!PG_ARGISNULL(2))
	{
		sample = PG_GETARG_FLOAT8(2);
		if (!(sample >= 0 && sample <= 1))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("jitter_sample must be between 0 and 1: %g", sample)));
	}

	PayconsBecomeOwner(&owner, NULL);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PayconsGetRetryPolicy(action, &policy);
		SPI_finish();
	}
	PG_FINALLY();
	{
		PayconsRestoreUser(&owner);
	}
	PG_END_TRY();

	secs = PayconsRetryDelay(&policy, attempt, sample);
	/* round to microseconds, as make_interval(secs => ..) does */
	PG_RETURN_DATUM(DirectFunctionCall7(make_interval,
										Int32GetDatum(0), Int32GetDatum(0),
										Int32GetDatum(0), Int32GetDatum(0),
										Int32GetDatum(0), Int32GetDatum(0),
										Float8GetDatum(rint(secs * 1e6) / 1e6)));
}

/*
 * paycons.set_retry_policy(action, initial_interval, backoff_coefficient,
 *							max_interval, max_attempts, jitter, non_retryable)
 *
 * Every field is checked (PC308) before the row is written.
 */
Datum
paycons_set_retry_policy(PG_FUNCTION_ARGS)
{
	MemoryContext upper = CurrentMemoryContext;
	PayconsOwnerState owner;
	char	   *action;
	Interval   *initial;
	Interval   *max;
	double		coefficient;
	int			max_attempts;
	double		jitter;
	ArrayType  *non_retryable;
	Datum	   *elems;
	bool	   *elnulls;
	int			n;
	volatile Datum result = (Datum) 0;

	PayconsRequireArg(fcinfo, 0, "action");
	PayconsRequireArg(fcinfo, 1, "initial_interval");
	PayconsRequireArg(fcinfo, 2, "backoff_coefficient");
	PayconsRequireArg(fcinfo, 3, "max_interval");
	PayconsRequireArg(fcinfo, 4, "max_attempts");
	PayconsRequireArg(fcinfo, 5, "jitter");
	PayconsRequireArg(fcinfo, 6, "non_retryable");
	action = PayconsCheckId(PG_GETARG_TEXT_PP(0), "action", 128);
	initial = PG_GETARG_INTERVAL_P(1);
	coefficient = PG_GETARG_FLOAT8(2);
	max = PG_GETARG_INTERVAL_P(3);
	max_attempts = PG_GETARG_INT32(4);
	jitter = PG_GETARG_FLOAT8(5);
	non_retryable = PG_GETARG_ARRAYTYPE_P(6);

	if (!(comp_interval_secs(initial) > 0))
		comp_bad_policy(action, "initial_interval must be positive",
						DatumGetCString(DirectFunctionCall1(interval_out,
															IntervalPGetDatum(initial))));
	if (!(coefficient >= 1 && coefficient <= 100))
		comp_bad_policy(action, psprintf("backoff_coefficient %g is not between 1 and 100", coefficient),
						"A coefficient below 1 would shrink the delays.");
	if (comp_interval_secs(max) < comp_interval_secs(initial))
		comp_bad_policy(action,
						psprintf("max_interval %s is less than initial_interval %s",
								 DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(max))),
								 DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(initial)))),
						NULL);
	if (max_attempts < 1)
		comp_bad_policy(action, psprintf("max_attempts must be at least 1: %d", max_attempts), NULL);
	if (!(jitter >= 0 && jitter <= 1))
		comp_bad_policy(action, psprintf("jitter %g is not between 0 and 1", jitter), NULL);
	if (ARR_NDIM(non_retryable) > 1)
		comp_bad_policy(action, "non_retryable must be a one-dimensional array", NULL);
	deconstruct_array(non_retryable, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elnulls, &n);
	for (int i = 0; i < n; i++)
	{
		char	   *s;
		int			len;
		bool		ok = true;

		if (elnulls[i])
			comp_bad_policy(action, "non_retryable contains a NULL", NULL);
		s = TextDatumGetCString(elems[i]);
		len = strlen(s);
		if (len != 2 && len != 5)
			ok = false;
		for (int j = 0; ok && j < len; j++)
			if (!((s[j] >= '0' && s[j] <= '9') || (s[j] >= 'A' && s[j] <= 'Z')))
				ok = false;
		if (!ok)
			comp_bad_policy(action, psprintf("\"%s\" in non_retryable is not a SQLSTATE or SQLSTATE class", s),
							"Give five characters (such as 22012) or a two-character class (such as 22), digits and upper-case letters.");
	}

	PayconsBecomeOwner(&owner, NULL);
	PG_TRY();
	{
		Datum		values[7];

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		values[0] = CStringGetTextDatum(action);
		values[1] = IntervalPGetDatum(initial);
		values[2] = Float8GetDatum(coefficient);
		values[3] = IntervalPGetDatum(max);
		values[4] = Int32GetDatum(max_attempts);
		values[5] = Float8GetDatum(jitter);
		values[6] = PointerGetDatum(non_retryable);
		PayconsExecPlan(&comp_upsert_policy, values, NULL, false, 0);
		result = PayconsReturnRow(fcinfo, upper);
		SPI_finish();
	}
	PG_FINALLY();
	{
		PayconsRestoreUser(&owner);
	}
	PG_END_TRY();

	return result;
}
