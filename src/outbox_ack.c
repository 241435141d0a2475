/*-------------------------------------------------------------------------
 *
 * outbox_ack.c
 *	  The end of a lease: paycons.outbox_ack, outbox_nack and
 *	  outbox_redrive.
 *
 * An ack deletes the events (acknowledged events leave the hot table; a
 * segment whose events are all deleted is truncated by outbox_maintain,
 * see 30_outbox.sql).  A nack puts the event back with the
 * retry policy's backoff (retry_policy.c), or dead-letters it after its
 * last attempt.  A redrive gives dead events a fresh start.  All three
 * check every argument first and are all-or-nothing: an error about one id
 * undoes the whole call.
 *
 * IDENTIFICATION
 *	  src/outbox_ack.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "nodes/parsenodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "as_owner.h"
#include "errcodes.h"
#include "outbox.h"
#include "retry_policy.h"
#include "spi_plans.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(paycons_outbox_ack);
PG_FUNCTION_INFO_V1(paycons_outbox_nack);
PG_FUNCTION_INFO_V1(paycons_outbox_redrive);

/* Longest last_error kept, in bytes; longer ones are cut */
#define OUTBOX_MAX_ERROR	4096

/*
 * Acknowledging by row version.  The session remembers where the events of
 * its last claim were leased (partition and row version); an ack of those
 * deletes them by row version, in their partition, instead of probing the
 * primary key of every partition for every id.  The version is only a
 * hint: the statement still requires the id, the status and the lease
 * owner, so a version that has moved on (a lease that expired and was
 * claimed again, a segment truncated and reused, a slot reused after
 * pruning) deletes nothing,
 * and such ids are acknowledged by id like any others.
 */
static const char *const ack_tid_sql_template =
	"DELETE FROM paycons.outbox_%d"
	" WHERE ctid OPERATOR(pg_catalog.=) ANY ($1)"
	"   AND id OPERATOR(pg_catalog.=) ANY ($2)"
	"   AND status OPERATOR(pg_catalog.=) 'leased'"
	"   AND lease_owner OPERATOR(pg_catalog.=) $3 RETURNING id";

static PayconsPlan ack_tid_plans[OUTBOX_MAX_SLOTS];
static const Oid ack_tid_argtypes[3] = {TIDARRAYOID, INT8ARRAYOID, TEXTOID};

static PayconsPlan ack_plan = {
	"DELETE FROM paycons.outbox"
	" WHERE id OPERATOR(pg_catalog.=) ANY ($1)"
	"   AND status OPERATOR(pg_catalog.=) 'leased'"
	"   AND lease_owner OPERATOR(pg_catalog.=) $2 RETURNING id",
	2, {INT8ARRAYOID, TEXTOID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

static PayconsPlan event_plan = {
	"SELECT status, lease_owner FROM paycons.outbox"
	" WHERE id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

static PayconsPlan nack_lock_plan = {
	"SELECT o.status, o.lease_owner, o.attempts, o.event_type"
	"  FROM paycons.outbox o"
	" WHERE o.id OPERATOR(pg_catalog.=) $1"
	"   FOR UPDATE OF o",
	1, {INT8OID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

static PayconsPlan nack_update_plan = {
	"UPDATE paycons.outbox SET status = $2,"
	"       available_at = pg_catalog.now() OPERATOR(pg_catalog.+)"
	"                      pg_catalog.make_interval(secs => $3),"
	"       lease_expires_at = NULL, last_error = $4"
	" WHERE id OPERATOR(pg_catalog.=) $1 RETURNING *",
	4, {INT8OID, TEXTOID, FLOAT8OID, TEXTOID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

static PayconsPlan redrive_plan = {
	"UPDATE paycons.outbox SET status = 'pending', attempts = 0,"
	"       available_at = pg_catalog.now(), lease_expires_at = NULL"
	" WHERE id OPERATOR(pg_catalog.=) ANY ($1)"
	"   AND status OPERATOR(pg_catalog.=) 'dead' RETURNING id",
	1, {INT8ARRAYOID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

/*
 * After an all-or-nothing statement on ids changed fewer rows than asked:
 * find an id it did not change and raise the reason.  "wanted" is the
 * status the statement required; consumer the lease owner it required
 * (NULL if none).  SPI_tuptable holds the ids the statement changed
 * (RETURNING id); those are skipped.
 */
static void
outbox_explain_missing(int64 *ids, int nids, const char *wanted,
					   const char *consumer, const char *action)
{
	int64	   *done = palloc(sizeof(int64) * (SPI_processed + 1));
	uint64		ndone = SPI_processed;

	/* the ids the statement did change (RETURNING id) */
	for (uint64 i = 0; i < ndone; i++)
	{
		bool		isnull;

		done[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
											  SPI_tuptable->tupdesc, 1, &isnull));
	}

	for (int i = 0; i < nids; i++)
	{
		Datum		arg = Int64GetDatum(ids[i]);
		char	   *status;
		char	   *owner;
		bool		changed = false;

		for (uint64 j = 0; j < ndone && !changed; j++)
			changed = (done[j] == ids[i]);
		if (changed)
			continue;

		PayconsExecPlan(&event_plan, &arg, NULL, 1);
		if (SPI_processed == 0)
		{
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_OUTBOX_UNKNOWN_EVENT),
					 errmsg("outbox event " INT64_FORMAT " does not exist or was already acknowledged",
							ids[i]),
					 errdetail("Nothing was changed by this call.")));
		}
		status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		if (strcmp(status, wanted) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_OUTBOX_WRONG_STATUS),
					 errmsg("cannot %s outbox event " INT64_FORMAT ": it is %s, not %s",
							action, ids[i], status, wanted),
					 errdetail("Nothing was changed by this call.")));
		if (consumer != NULL && (owner == NULL || strcmp(owner, consumer) != 0))
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_OUTBOX_NOT_OWNER),
					 errmsg("cannot %s outbox event " INT64_FORMAT ": it is leased by consumer \"%s\", not \"%s\"",
							action, ids[i], owner ? owner : "", consumer),
					 errdetail("Its lease expired and another consumer claimed it, or the consumer name is wrong. Nothing was changed by this call.")));
	}
}

/* Work of outbox_ack() */
typedef struct AckWork
{
	int64	   *ids;
	int			nids;
	const char *consumer;
	uint64		done;
} AckWork;

static void
ack_work(void *arg, MemoryContext caller)
{
	AckWork    *a = (AckWork *) arg;
	int64	   *ids = a->ids;
	int			nids = a->nids;
	const char *consumer = a->consumer;
	uint64		done = 0;
	Datum		values[3];
	int64	   *left = palloc(sizeof(int64) * nids);
	int			nleft = 0;
	Datum	   *tids[OUTBOX_MAX_SLOTS];
	Datum	   *tid_ids[OUTBOX_MAX_SLOTS];
	int			ntids[OUTBOX_MAX_SLOTS] = {0};


	/* first by row version, those this session's last claim leased */
	for (int i = 0; i < nids; i++)
	{
		const OutboxLeased *l = OutboxFindLeased(ids[i]);

		if (l == NULL)
			left[nleft++] = ids[i];
		else
		{
			if (ntids[l->slot] == 0)
			{
				tids[l->slot] = palloc(sizeof(Datum) * nids);
				tid_ids[l->slot] = palloc(sizeof(Datum) * nids);
			}
			tids[l->slot][ntids[l->slot]] = PointerGetDatum(&l->tid);
			tid_ids[l->slot][ntids[l->slot]++] = Int64GetDatum(ids[i]);
		}
	}
	for (int slot = 0; slot < OUTBOX_MAX_SLOTS; slot++)
	{
		int64	   *deleted;
		uint64		ndeleted;

		if (ntids[slot] == 0)
			continue;
		values[0] = PointerGetDatum(construct_array(tids[slot], ntids[slot],
													TIDOID, sizeof(ItemPointerData),
													false, TYPALIGN_SHORT));
		values[1] = PointerGetDatum(construct_array(tid_ids[slot], ntids[slot],
													INT8OID, 8, FLOAT8PASSBYVAL,
													TYPALIGN_DOUBLE));
		values[2] = CStringGetTextDatum(consumer);
		PayconsExecPlan(OutboxSlotPlan(ack_tid_plans, ack_tid_sql_template, slot,
									   3, ack_tid_argtypes),
					values, NULL, 0);
		ndeleted = SPI_processed;
		done += ndeleted;
		if (ndeleted == (uint64) ntids[slot])
			continue;
		/* the ones whose version moved on: by id, below */
		deleted = palloc(sizeof(int64) * (ndeleted + 1));
		for (uint64 j = 0; j < ndeleted; j++)
		{
			bool		isnull;

			deleted[j] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[j],
													 SPI_tuptable->tupdesc,
													 1, &isnull));
		}
		for (int k = 0; k < ntids[slot]; k++)
		{
			int64		id = DatumGetInt64(tid_ids[slot][k]);
			bool		gone = false;

			for (uint64 j = 0; j < ndeleted && !gone; j++)
				gone = (deleted[j] == id);
			if (!gone)
				left[nleft++] = id;
		}
	}

	/* then by id: the others, and any whose version moved on */
	if (nleft > 0)
	{
		Datum	   *d = palloc(sizeof(Datum) * nleft);

		for (int i = 0; i < nleft; i++)
			d[i] = Int64GetDatum(left[i]);
		values[0] = PointerGetDatum(construct_array(d, nleft, INT8OID, 8,
													FLOAT8PASSBYVAL,
													TYPALIGN_DOUBLE));
		values[1] = CStringGetTextDatum(consumer);
		PayconsExecPlan(&ack_plan, values, NULL, 0);
		done += SPI_processed;
		if (SPI_processed != (uint64) nleft)
			outbox_explain_missing(left, nleft, "leased", consumer, "acknowledge");
	}
	if (done != (uint64) nids)
		elog(ERROR, "outbox_ack acknowledged " UINT64_FORMAT " of %d events",
			 done, nids);
	a->done = done;
}

/*
 * paycons.outbox_ack(ids, consumer) -> count
 *
 * Deletes the events, which must all be leased to consumer (default: this
 * session's last claimer).  An acknowledged event is never handed out
 * again.  A lease that expired but was not claimed by anyone else may
 * still be acknowledged by its owner.
 */
Datum
paycons_outbox_ack(PG_FUNCTION_ARGS)
{
	AckWork		a;

	a.ids = OutboxIdsArg(fcinfo, 0, &a.nids);
	a.consumer = OutboxConsumerArg(fcinfo, 1, false);
	a.done = 0;
	if (a.nids == 0)
		PG_RETURN_INT64(0);
	PayconsAsOwner(NULL, ack_work, &a);
	PG_RETURN_INT64((int64) a.done);
}

/* Work of outbox_nack() */
typedef struct NackWork
{
	FunctionCallInfo fcinfo;
	int64		id;
	const char *error;
	Interval   *retry_in;		/* NULL: the retry policy's backoff */
	const char *consumer;
	Datum		result;
} NackWork;

static void
nack_work(void *arg, MemoryContext caller)
{
	NackWork   *w = (NackWork *) arg;
	Datum		values[4];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	char	   *status;
	char	   *lease_owner;
	char	   *event_type;
	int32		attempts;
	double		delay;
	bool		dead;
	PayconsRetryPolicy policy;

	values[0] = Int64GetDatum(w->id);
	PayconsExecPlan(&nack_lock_plan, values, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_OUTBOX_UNKNOWN_EVENT),
				 errmsg("outbox event " INT64_FORMAT " does not exist or was already acknowledged",
						w->id)));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	status = SPI_getvalue(tup, desc, 1);
	lease_owner = SPI_getvalue(tup, desc, 2);
	attempts = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	event_type = SPI_getvalue(tup, desc, 4);
	if (strcmp(status, "leased") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_OUTBOX_WRONG_STATUS),
				 errmsg("cannot nack outbox event " INT64_FORMAT ": it is %s, not leased",
						w->id, status)));
	if (lease_owner == NULL || strcmp(lease_owner, w->consumer) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_OUTBOX_NOT_OWNER),
				 errmsg("cannot nack outbox event " INT64_FORMAT ": it is leased by consumer \"%s\", not \"%s\"",
						w->id, lease_owner ? lease_owner : "", w->consumer)));

	/* attempts counts the hand-outs: this nack ends attempt number attempts */
	PayconsGetRetryPolicy(PayconsOutboxRetryAction(event_type), &policy);
	dead = PayconsRetryIsFinal(&policy, attempts, NULL);
	if (dead)
		delay = 0;
	else if (w->retry_in != NULL)
		delay = DatumGetFloat8(DirectFunctionCall2(interval_part,
												   CStringGetTextDatum("epoch"),
												   IntervalPGetDatum(w->retry_in)));
	else
		delay = PayconsRetryDelay(&policy, attempts, -1);

	values[1] = CStringGetTextDatum(dead ? "dead" : "pending");
	values[2] = Float8GetDatum(delay);
	values[3] = CStringGetTextDatum(w->error);
	PayconsExecPlan(&nack_update_plan, values, NULL, 0);
	w->result = PayconsReturnRow(w->fcinfo, caller);
}

/*
 * paycons.outbox_nack(id, error, retry_in, consumer) -> paycons.outbox
 *
 * Gives a leased event back.  If it has used max_attempts of its retry
 * policy (action 'outbox:<event_type>', see retry_policy.c) it becomes
 * dead; otherwise it is due again after retry_in, or after the policy's
 * backoff.
 */
Datum
paycons_outbox_nack(PG_FUNCTION_ARGS)
{
	NackWork	w;
	char	   *error;

	PayconsRequireArg(fcinfo, 0, "id");
	PayconsRequireArg(fcinfo, 1, "error");
	w.fcinfo = fcinfo;
	w.id = PG_GETARG_INT64(0);
	error = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strlen(error) > OUTBOX_MAX_ERROR)
		error[pg_mbcliplen(error, strlen(error), OUTBOX_MAX_ERROR)] = '\0';
	w.error = error;
	w.retry_in = PG_ARGISNULL(2) ? NULL :
		OutboxIntervalArg(fcinfo, 2, "retry_in", true);
	w.consumer = OutboxConsumerArg(fcinfo, 3, false);
	PayconsAsOwner(NULL, nack_work, &w);
	return w.result;
}

/* Work of outbox_redrive() */
static void
redrive_work(void *arg, MemoryContext caller)
{
	AckWork    *a = (AckWork *) arg;
	Datum	   *d = palloc(sizeof(Datum) * a->nids);
	Datum		values[1];

	for (int i = 0; i < a->nids; i++)
		d[i] = Int64GetDatum(a->ids[i]);
	values[0] = PointerGetDatum(construct_array(d, a->nids, INT8OID, 8,
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	PayconsExecPlan(&redrive_plan, values, NULL, 0);
	a->done = SPI_processed;
	if (a->done != (uint64) a->nids)
		outbox_explain_missing(a->ids, a->nids, "dead", NULL, "redrive");
	if (a->done != (uint64) a->nids)
		elog(ERROR, "outbox_redrive redrove " UINT64_FORMAT " of %d events",
			 a->done, a->nids);
}

/*
 * paycons.outbox_redrive(ids) -> count
 *
 * Puts dead events back to pending, due now, with attempts reset.  Every id
 * must be dead.
 */
Datum
paycons_outbox_redrive(PG_FUNCTION_ARGS)
{
	AckWork		a;

	a.ids = OutboxIdsArg(fcinfo, 0, &a.nids);
	a.consumer = NULL;
	a.done = 0;
	if (a.nids == 0)
		PG_RETURN_INT64(0);
	PayconsAsOwner(NULL, redrive_work, &a);
	PG_RETURN_INT64((int64) a.done);
}
