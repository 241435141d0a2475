/*-------------------------------------------------------------------------
 *
 * outbox_consumer.c
 *	  What the outbox consumer API shares: the checks of its arguments,
 *	  the partition lock every call takes first, and the session's memory
 *	  of its last claim (which consumer, and where its events were leased).
 *
 * The API itself is in outbox_claim.c (outbox_claim) and outbox_ack.c
 * (outbox_ack, outbox_nack, outbox_redrive).  Ack and nack must come from
 * the consumer holding the lease: the consumer argument, defaulting to the
 * consumer of this session's last claim.
 *
 * IDENTIFICATION
 *	  src/outbox_consumer.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/parsenodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "as_owner.h"
#include "errcodes.h"
#include "outbox.h"
#include "validate.h"

/* The consumer of this session's last claim (ack/nack default) */
static char outbox_session_consumer[OUTBOX_MAX_CONSUMER + 1] = "";

/* The events of this session's last claim, by id */
static OutboxLeased *last_claim = NULL;	/* in TopMemoryContext */
static int	last_claim_n = 0;
static int	last_claim_cap = 0;

/*
 * No lock is taken here before the statements' snapshots.  Rotation never
 * moves an event, and it TRUNCATEs a segment only when no event at all is
 * left in it (checked under its ACCESS EXCLUSIVE lock, see outbox_maintain
 * in 30_outbox.sql).  TRUNCATE is not MVCC-safe, but a snapshot taken before
 * a truncation and used after it misses only events that were deleted
 * (acknowledged) before the truncation: no claim may hand those out anyway,
 * and their absence unblocks nothing that their acknowledgement had not
 * already unblocked.  Between pass 1 and pass 2 of a claim, and between a
 * statement's scan and its writes, the statement's own lock on the segment
 * keeps it from being truncated.
 */

/* Check a consumer name argument and return it. */
char *
OutboxConsumerArg(FunctionCallInfo fcinfo, int argno, bool required)
{
	if (PG_ARGISNULL(argno))
	{
		if (required)
			PayconsRequireArg(fcinfo, argno, "consumer");
		if (outbox_session_consumer[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_OUTBOX_NO_CONSUMER),
					 errmsg("no consumer given and none claimed in this session"),
					 errhint("Pass the consumer name that claimed the events.")));
		return pstrdup(outbox_session_consumer);
	}
	return PayconsCheckId(PG_GETARG_TEXT_PP(argno), "consumer",
						  OUTBOX_MAX_CONSUMER);
}

/* A positive interval, or raise PC202 naming the argument. */
Interval *
OutboxIntervalArg(FunctionCallInfo fcinfo, int argno, const char *what,
					bool allow_zero)
{
	Interval   *iv = PG_GETARG_INTERVAL_P(argno);
	Interval	zero = {0};
	int			cmp = DatumGetInt32(DirectFunctionCall2(interval_cmp,
														IntervalPGetDatum(iv),
														IntervalPGetDatum(&zero)));

	if (cmp < 0 || (cmp == 0 && !allow_zero))
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_OUTBOX_BAD_INTERVAL),
				 errmsg("%s must be %s: \"%s\"", what,
						allow_zero ? "zero or positive" : "positive",
						DatumGetCString(DirectFunctionCall1(interval_out,
															IntervalPGetDatum(iv))))));
	return iv;
}

/*
 * The ids of an int8[] argument, sorted and without duplicates; raises for
 * NULL elements and for more than OUTBOX_MAX_BATCH of them.
 */
int64 *
OutboxIdsArg(FunctionCallInfo fcinfo, int argno, int *nids)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int64	   *ids;
	int			k = 0;

	PayconsRequireArg(fcinfo, argno, "ids");
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("ids must be a one-dimensional array")));
	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	if (n > OUTBOX_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_OUTBOX_BAD_BATCH),
				 errmsg("too many ids: %d", n),
				 errdetail("At most %d ids per call.", OUTBOX_MAX_BATCH)));
	ids = palloc(sizeof(int64) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("ids must not contain null")));
		ids[i] = DatumGetInt64(elems[i]);
	}
	/* sort and drop duplicates (insertion sort is fine for a batch) */
	for (int i = 1; i < n; i++)
	{
		int64		v = ids[i];
		int			j = i - 1;

		while (j >= 0 && ids[j] > v)
		{
			ids[j + 1] = ids[j];
			j--;
		}
		ids[j + 1] = v;
	}
	for (int i = 0; i < n; i++)
		if (k == 0 || ids[k - 1] != ids[i])
			ids[k++] = ids[i];
	*nids = k;
	return ids;
}

/*
 * Remember where the n events of a claim (sorted by id) were leased, and
 * the consumer they were leased to.
 */
void
OutboxRememberClaim(const OutboxLeased *rows, int n, const char *consumer)
{
	if (n > last_claim_cap)
	{
		if (last_claim != NULL)
			pfree(last_claim);
		last_claim = MemoryContextAlloc(TopMemoryContext,
										sizeof(OutboxLeased) * n);
		last_claim_cap = n;
	}
	memcpy(last_claim, rows, sizeof(OutboxLeased) * n);
	last_claim_n = n;
	strlcpy(outbox_session_consumer, consumer, sizeof(outbox_session_consumer));
}

/* Where event id was leased by this session's last claim, or NULL */
const OutboxLeased *
OutboxFindLeased(int64 id)
{
	int			lo = 0,
				hi = last_claim_n - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (last_claim[mid].id == id)
			return &last_claim[mid];
		if (last_claim[mid].id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* A per-partition plan made from a template taking the slot twice */
PayconsPlan *
OutboxSlotPlan(PayconsPlan *plans, const char *template, int slot,
				 int nargs, const Oid *argtypes)
{
	PayconsPlan *p = &plans[slot];

	if (p->sql == NULL)
	{
		p->sql = MemoryContextStrdup(TopMemoryContext,
									 psprintf(template, slot, slot));
		p->nargs = nargs;
		memcpy(p->argtypes, argtypes, sizeof(Oid) * nargs);
		p->cursor_options = CURSOR_OPT_GENERIC_PLAN;
		p->plan = NULL;
	}
	return p;
}
