/*-------------------------------------------------------------------------
 *
 * outbox_consumer.c
 *	  The outbox consumer API: paycons.outbox_claim, outbox_ack,
 *	  outbox_nack and outbox_redrive.
 *
 * A claim leases due events to a named consumer for a while.  It hands out
 * only the oldest outstanding event of each aggregate: an event waits while
 * an earlier event of its aggregate is leased, waiting to be retried, or
 * dead, which gives per-aggregate FIFO.  Different aggregates flow in
 * parallel: claims lock candidate rows with FOR UPDATE SKIP LOCKED and take
 * no lock beyond the usual ROW EXCLUSIVE on the partitions, so they never
 * wait for each other.  An expired lease makes the event claimable again
 * (by any consumer), so a crashed consumer's events come back.  How a claim
 * finds the events (two passes, a scan start hint) is described at
 * claim_scan_plan and claim_hint below.
 *
 * An ack deletes the events (acknowledged events leave the hot table; the
 * partitions they leave dead tuples in are truncated by rotation, see
 * outbox_maintain in 30_outbox.sql).  A nack puts the event back with the
 * retry policy's backoff, or dead-letters it after its last attempt.
 *
 * Ack and nack must come from the consumer holding the lease: the consumer
 * argument, defaulting to the consumer of this session's last claim.  All
 * functions check every argument first and are all-or-nothing: an error
 * about one id undoes the whole call.
 *
 * IDENTIFICATION
 *	  src/outbox_consumer.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "common/pg_prng.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "storage/lmgr.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "paycons.h"

PG_FUNCTION_INFO_V1(paycons_outbox_claim);
PG_FUNCTION_INFO_V1(paycons_outbox_ack);
PG_FUNCTION_INFO_V1(paycons_outbox_nack);
PG_FUNCTION_INFO_V1(paycons_outbox_redrive);

/* The max_attempts of an event's retry policy, in SQL over row alias t */
#define OUTBOX_MAX_ATTEMPTS_SQL \
	"(SELECT r.max_attempts FROM paycons.outbox_retry_policies r" \
	"  WHERE r.event_type OPERATOR(pg_catalog.=) t.event_type" \
	"     OR r.event_type OPERATOR(pg_catalog.=) '*'" \
	"  ORDER BY r.event_type OPERATOR(pg_catalog.=) '*' LIMIT 1)"

/* How many outstanding events a claim looks at, at most */
#define OUTBOX_CLAIM_SCAN_MAX	100000

/* Longest last_error kept, in bytes; longer ones are cut */
#define OUTBOX_MAX_ERROR	4096

/* The consumer of this session's last claim (ack/nack default) */
static char outbox_session_consumer[OUTBOX_MAX_CONSUMER + 1] = "";

/*
 * Claiming is done in two passes.
 *
 * Pass 1 reads the outstanding events in id order (claim_scan_plan, through
 * a cursor) and keeps the heads: an event whose aggregate has not been seen
 * earlier in the scan.  As acknowledged events are deleted, any earlier
 * event still in the table is leased, waiting to be retried, or dead, and
 * blocks the ones after it; so the heads that are due are exactly the
 * events that may be handed out.  A hash set of the aggregates seen makes a
 * blocked event cost one lookup, not an index probe.
 *
 * Pass 2 leases up to batch of those candidates: pending ones directly
 * (outbox_lease), the others with claim_sql_template, which locks them
 * with FOR UPDATE SKIP LOCKED, re-checking that each is still due (another consumer may
 * have claimed it since pass 1), and leases them; except that an event
 * whose lease expired after its policy's last attempt (a consumer that
 * crashes on it every time) is dead-lettered instead of handed out.  A candidate cannot have
 * stopped being a head in between: an earlier event of its aggregate would
 * have had to appear, and events of one aggregate are written by
 * transactions serialised on the aggregate (the order row lock for orders),
 * so they arrive in id order.  Rotation cannot move rows in between either:
 * it needs an ACCESS EXCLUSIVE lock on a partition, and we hold ACCESS SHARE
 * from pass 1 on.
 */
static PayconsPlan claim_scan_plan = {
	"SELECT o.id,"
	"       pg_catalog.hashtextextended(o.aggregate_type OPERATOR(pg_catalog.||) E'\\x1f'"
	"                                   OPERATOR(pg_catalog.||) o.aggregate_id, 0),"
	"       (o.status OPERATOR(pg_catalog.=) 'pending'"
	"        AND o.available_at OPERATOR(pg_catalog.<=) pg_catalog.now())"
	"    OR (o.status OPERATOR(pg_catalog.=) 'leased'"
	"        AND o.lease_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()),"
	"       o.slot, o.ctid, o.status OPERATOR(pg_catalog.=) 'pending'"
	"  FROM paycons.outbox o WHERE o.id OPERATOR(pg_catalog.>=) $2"
	" ORDER BY o.id LIMIT $1",
	2, {INT4OID, INT8OID}, NULL
};

static const char *const claim_sql_template =
	"WITH c AS ("
	" SELECT o.ctid FROM paycons.outbox_%d o"
	"  WHERE o.ctid OPERATOR(pg_catalog.=) ANY ($4)"
	"    AND ((o.status OPERATOR(pg_catalog.=) 'pending'"
	"          AND o.available_at OPERATOR(pg_catalog.<=) pg_catalog.now())"
	"      OR (o.status OPERATOR(pg_catalog.=) 'leased'"
	"          AND o.lease_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()))"
	"  ORDER BY o.id LIMIT $2"
	"  FOR UPDATE OF o SKIP LOCKED),"
	" u AS ("
	" UPDATE paycons.outbox_%d t SET"
	"        status = CASE WHEN t.status OPERATOR(pg_catalog.=) 'leased'"
	"                       AND t.attempts OPERATOR(pg_catalog.>=) " OUTBOX_MAX_ATTEMPTS_SQL
	"                      THEN 'dead' ELSE 'leased' END,"
	"        last_error = CASE WHEN t.status OPERATOR(pg_catalog.=) 'leased'"
	"                       AND t.attempts OPERATOR(pg_catalog.>=) " OUTBOX_MAX_ATTEMPTS_SQL
	"                      THEN 'lease of consumer ' OPERATOR(pg_catalog.||) t.lease_owner"
	"                           OPERATOR(pg_catalog.||) ' expired after the last attempt'"
	"                      ELSE t.last_error END,"
	"        lease_owner = CASE WHEN t.status OPERATOR(pg_catalog.=) 'leased'"
	"                       AND t.attempts OPERATOR(pg_catalog.>=) " OUTBOX_MAX_ATTEMPTS_SQL
	"                      THEN t.lease_owner ELSE $1 END,"
	"        lease_expires_at = CASE WHEN t.status OPERATOR(pg_catalog.=) 'leased'"
	"                       AND t.attempts OPERATOR(pg_catalog.>=) " OUTBOX_MAX_ATTEMPTS_SQL
	"                      THEN NULL ELSE pg_catalog.now() OPERATOR(pg_catalog.+) $3 END,"
	"        attempts = CASE WHEN t.status OPERATOR(pg_catalog.=) 'leased'"
	"                       AND t.attempts OPERATOR(pg_catalog.>=) " OUTBOX_MAX_ATTEMPTS_SQL
	"                      THEN t.attempts ELSE t.attempts OPERATOR(pg_catalog.+) 1 END"
	"  WHERE t.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT c.ctid FROM c))"
	" RETURNING t.*, t.ctid AS claimed_tid)"
	"SELECT * FROM u WHERE status OPERATOR(pg_catalog.=) 'leased'";

/* Pass 2's plans, one per partition (slot), made from the template */
static PayconsPlan claim_plans[OUTBOX_NUM_SLOTS];
static const Oid claim_argtypes[4] = {TEXTOID, INT4OID, INTERVALOID, TIDARRAYOID};

/*
 * Acknowledging by row version.  The session remembers where the events of
 * its last claim were leased (partition and row version); an ack of those
 * deletes them by row version, in their partition, instead of probing the
 * primary key of every partition for every id.  The version is only a
 * hint: the statement still requires the id, the status and the lease
 * owner, so a version that has moved on (a lease that expired and was
 * claimed again, a rotation, a slot reused after pruning) deletes nothing,
 * and such ids are acknowledged by id like any others.
 */
static const char *const ack_tid_sql_template =
	"DELETE FROM paycons.outbox_%d"
	" WHERE ctid OPERATOR(pg_catalog.=) ANY ($1)"
	"   AND id OPERATOR(pg_catalog.=) ANY ($2)"
	"   AND status OPERATOR(pg_catalog.=) 'leased'"
	"   AND lease_owner OPERATOR(pg_catalog.=) $3 RETURNING id";

static PayconsPlan ack_tid_plans[OUTBOX_NUM_SLOTS];
static const Oid ack_tid_argtypes[3] = {TIDARRAYOID, INT8ARRAYOID, TEXTOID};

/* The events of this session's last claim, by id */
typedef struct OutboxLeased
{
	int64		id;
	int			slot;
	ItemPointerData tid;
} OutboxLeased;

static OutboxLeased *last_claim = NULL;	/* in TopMemoryContext */
static int	last_claim_n = 0;
static int	last_claim_cap = 0;

/*
 * The aggregates-seen set of pass 1 is keyed by a 64-bit hash of
 * (aggregate_type, aggregate_id).  Two aggregates with the same hash would
 * only make one wait for the other: never an event handed out of order.
 */
typedef int64 OutboxAggKey;

/*
 * The scan start hint.  Acknowledged events are deleted, and a scan in id
 * order would step over their dead index entries again and again: the cost
 * of a claim would grow as a drain proceeds.  So pass 1 starts at the
 * lowest id that can still be live, claim_hint, not at the beginning.
 *
 * Safety: a transaction may draw a low id and commit late.  A writer takes
 * its transaction id before it draws an event id (see OutboxWrite), and
 * ids come from one sequence without cache.  So if V is the sequence's last
 * value read at some moment and X the next transaction id to be assigned,
 * read just after, every event with id <= V belongs to a transaction with
 * xid < X.  Once the
 * oldest running transaction is at or past X, all of those have ended, and
 * a scan then sees every live event with id <= V.  The lowest id such a scan
 * sees (or V + 1 if it sees none) is a safe hint.  Rows moved by rotation
 * and rows updated by nack or redrive keep their ids and never vanish from
 * view, so they cannot fall below it either.
 *
 * The hint is per backend (consumers keep their sessions).  It is reset
 * when the id sequence is invalidated (ALTER SEQUENCE ... RESTART, DROP
 * EXTENSION): only lowering the sequence can put new events below it.
 * Lowering it with setval() while consumers run is not supported.
 */
static int64 claim_hint = 0;
static bool claim_hint_pending = false;
static int64 claim_hint_v = 0;
static TransactionId claim_hint_xmax = InvalidTransactionId;
static Oid	claim_id_seq = InvalidOid;
static bool claim_callback_registered = false;

static void
outbox_claim_inval(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == claim_id_seq)
	{
		claim_hint = 0;
		claim_hint_pending = false;
	}
}

/* Remember the sequence whose invalidation resets the hint. */
static void
outbox_claim_relids(void)
{
	if (!claim_callback_registered)
	{
		CacheRegisterRelcacheCallback(outbox_claim_inval, (Datum) 0);
		claim_callback_registered = true;
	}
	claim_id_seq = get_relname_relid("outbox_id_seq", PayconsSchemaOid());
}

static PayconsPlan ack_plan = {
	"DELETE FROM paycons.outbox"
	" WHERE id OPERATOR(pg_catalog.=) ANY ($1)"
	"   AND status OPERATOR(pg_catalog.=) 'leased'"
	"   AND lease_owner OPERATOR(pg_catalog.=) $2 RETURNING id",
	2, {INT8ARRAYOID, TEXTOID}, NULL
};

static PayconsPlan event_plan = {
	"SELECT status, lease_owner FROM paycons.outbox"
	" WHERE id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}, NULL
};

static PayconsPlan nack_lock_plan = {
	"SELECT o.status, o.lease_owner, o.attempts,"
	"       pg_catalog.date_part('epoch', p.initial_interval)::pg_catalog.float8,"
	"       p.backoff_coefficient,"
	"       pg_catalog.date_part('epoch', p.max_interval)::pg_catalog.float8,"
	"       p.max_attempts, p.jitter"
	"  FROM paycons.outbox o"
	"  LEFT JOIN LATERAL (SELECT r.* FROM paycons.outbox_retry_policies r"
	"        WHERE r.event_type OPERATOR(pg_catalog.=) o.event_type"
	"           OR r.event_type OPERATOR(pg_catalog.=) '*'"
	"        ORDER BY r.event_type OPERATOR(pg_catalog.=) '*' LIMIT 1) p ON true"
	" WHERE o.id OPERATOR(pg_catalog.=) $1"
	"   FOR UPDATE OF o",
	1, {INT8OID}, NULL
};

static PayconsPlan nack_update_plan = {
	"UPDATE paycons.outbox SET status = $2,"
	"       available_at = pg_catalog.now() OPERATOR(pg_catalog.+)"
	"                      pg_catalog.make_interval(secs => $3),"
	"       lease_expires_at = NULL, last_error = $4"
	" WHERE id OPERATOR(pg_catalog.=) $1 RETURNING *",
	4, {INT8OID, TEXTOID, FLOAT8OID, TEXTOID}, NULL
};

static PayconsPlan redrive_plan = {
	"UPDATE paycons.outbox SET status = 'pending', attempts = 0,"
	"       available_at = pg_catalog.now(), lease_expires_at = NULL"
	" WHERE id OPERATOR(pg_catalog.=) ANY ($1)"
	"   AND status OPERATOR(pg_catalog.=) 'dead' RETURNING id",
	1, {INT8ARRAYOID}, NULL
};

/*
 * Run one of our plans.  Like PayconsExecPlan, but the plan is prepared as
 * a generic plan: planning a query over the partitioned outbox costs more
 * than running it, and the generic plans are the ones we want anyway
 * (index scans driven by the parameters).
 */
static SPIPlanPtr
outbox_plan(PayconsPlan *p)
{
	if (p->plan != NULL && !SPI_plan_is_valid(p->plan))
	{
		SPI_freeplan(p->plan);
		p->plan = NULL;
	}
	if (p->plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(p->sql, p->nargs, p->argtypes,
											  CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare_cursor failed for \"%s\": %s",
				 p->sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		p->plan = plan;
	}
	return p->plan;
}

static int
outbox_exec(PayconsPlan *p, Datum *values, const char *nulls, bool read_only)
{
	int			rc;

	rc = SPI_execute_plan(outbox_plan(p), values, nulls, read_only, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed for \"%s\": %s",
			 p->sql, SPI_result_code_string(rc));
	return rc;
}

/*
 * Lock the outbox partitions (ROW EXCLUSIVE, what our statements take
 * anyway) before any of our statements takes its snapshot.  Rotation
 * TRUNCATEs a partition, which is not MVCC-safe: a snapshot taken before the
 * rotation committed but used after it would see neither the truncated rows
 * nor the moved copies.  Holding the lock first means a rotation either
 * committed before our snapshots or waits for our transaction.
 */
static void
outbox_lock_partitions(void)
{
	for (int i = 0; i < OUTBOX_NUM_SLOTS; i++)
	{
		char		name[NAMEDATALEN];
		Oid			relid;

		snprintf(name, sizeof(name), "outbox_%d", i);
		relid = PayconsRelid(name);
		LockRelationOid(relid, RowExclusiveLock);
	}
}

/* Check a consumer name argument and return it. */
static char *
outbox_consumer_arg(FunctionCallInfo fcinfo, int argno, bool required)
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
static Interval *
outbox_interval_arg(FunctionCallInfo fcinfo, int argno, const char *what,
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
static int64 *
outbox_ids_arg(FunctionCallInfo fcinfo, int argno, int *nids)
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

		outbox_exec(&event_plan, &arg, NULL, true);
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

/* The last event id drawn (0 if none since the sequence was reset). */
static int64
outbox_last_id(void)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(claim_id_seq);
	fcinfo->args[0].isnull = false;
	result = pg_sequence_last_value(fcinfo);
	return fcinfo->isnull ? 0 : DatumGetInt64(result);
}

/*
 * Pass 1 of a claim, as a scanner that pass 2 can ask for more candidates
 * (when concurrent claimers hold locks on the first ones).
 */
typedef struct OutboxClaimScan
{
	Portal		portal;
	HTAB	   *seen;			/* aggregates seen so far */
	SPITupleTable *chunk;		/* rows fetched, not yet looked at */
	uint64		next;			/* next row of chunk */
	bool		exhausted;
	bool		promote;		/* may this scan set the hint? */
	bool		first;			/* no row seen yet */
	int64		lowest;			/* lowest id seen */
} OutboxClaimScan;

static void
outbox_claim_scan_begin(OutboxClaimScan *cs)
{
	HASHCTL		ctl;
	Datum		args[2];

	outbox_claim_relids();
	/* a snapshot taken now, after outbox_lock_partitions(), for the scan */
	PushActiveSnapshot(GetTransactionSnapshot());
	cs->promote = claim_hint_pending &&
		TransactionIdPrecedesOrEquals(claim_hint_xmax, GetActiveSnapshot()->xmin);
	args[0] = Int32GetDatum(OUTBOX_CLAIM_SCAN_MAX);
	args[1] = Int64GetDatum(claim_hint);
	cs->portal = SPI_cursor_open(NULL, outbox_plan(&claim_scan_plan), args,
								 NULL, true);
	PopActiveSnapshot();		/* the portal keeps its own reference */

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(OutboxAggKey);
	ctl.entrysize = sizeof(OutboxAggKey);
	ctl.hcxt = CurrentMemoryContext;
	cs->seen = hash_create("paycons outbox claim aggregates", 1024, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	cs->chunk = NULL;
	cs->next = 0;
	cs->exhausted = false;
	cs->first = true;
	cs->lowest = 0;
}

/* Candidates of pass 2: the row versions of due heads, by partition */
typedef struct OutboxCands
{
	int			total;
	/* pending events, in id order, to lease directly (see outbox_lease) */
	int			ndirect;
	int64	   *direct_id;
	int		   *direct_slot;
	ItemPointerData *direct_tid;
	/* the others (expired leases), per partition, to lease with SQL */
	int			n[OUTBOX_NUM_SLOTS];
	Datum	   *tids[OUTBOX_NUM_SLOTS];	/* ItemPointer Datums */
	int64		first_id[OUTBOX_NUM_SLOTS];	/* lowest id of each partition's */
} OutboxCands;

/*
 * Up to "want" further due heads, in id order, as the row versions pass 1
 * read, grouped by partition.  Those versions stay where they are until
 * pass 2 has locked them: the cursor's snapshot keeps them from being
 * pruned, and rotation waits for our lock on the partitions.
 */
static void
outbox_claim_scan_next(OutboxClaimScan *cs, int want, bool direct,
					   OutboxCands *cands)
{
	memset(cands, 0, sizeof(*cands));
	for (int i = 0; i < OUTBOX_NUM_SLOTS; i++)
		cands->tids[i] = palloc(sizeof(Datum) * want);
	cands->direct_id = palloc(sizeof(int64) * want);
	cands->direct_slot = palloc(sizeof(int) * want);
	cands->direct_tid = palloc(sizeof(ItemPointerData) * want);

	while (cands->total < want && !cs->exhausted)
	{
		TupleDesc	desc;

		if (cs->chunk == NULL || cs->next >= cs->chunk->numvals)
		{
			if (cs->chunk != NULL)
				SPI_freetuptable(cs->chunk);
			/*
			 * As many rows as candidates are still wanted: in a drain
			 * nearly every row is a due head, and rows fetched but not
			 * looked at are wasted work.
			 */
			SPI_cursor_fetch(cs->portal, true, Max(want - cands->total, 100));
			cs->chunk = SPI_tuptable;
			cs->next = 0;
			if (SPI_processed == 0)
			{
				cs->exhausted = true;
				break;
			}
		}
		desc = cs->chunk->tupdesc;
		while (cs->next < cs->chunk->numvals && cands->total < want)
		{
			HeapTuple	tup = cs->chunk->vals[cs->next++];
			OutboxAggKey key;
			bool		isnull;
			bool		found;
			int64		id;
			int			slot;
			ItemPointer tid;

			id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			if (cs->first)
			{
				cs->lowest = id;
				cs->first = false;
			}
			key = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
			(void) hash_search(cs->seen, &key, HASH_ENTER, &found);
			if (found)
				continue;		/* an earlier event of its aggregate is here */
			if (!DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)))
				continue;		/* not due: it blocks its aggregate */
			slot = DatumGetInt16(SPI_getbinval(tup, desc, 4, &isnull));
			if (slot < 0 || slot >= OUTBOX_NUM_SLOTS)
				elog(ERROR, "outbox event " INT64_FORMAT " is in unknown slot %d",
					 id, slot);
			tid = (ItemPointer) DatumGetPointer(SPI_getbinval(tup, desc, 5, &isnull));
			if (direct && DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull)))
			{
				int			k = cands->ndirect++;

				cands->direct_id[k] = id;
				cands->direct_slot[k] = slot;
				ItemPointerCopy(tid, &cands->direct_tid[k]);
			}
			else
			{
				ItemPointer copy = palloc(sizeof(ItemPointerData));

				ItemPointerCopy(tid, copy);
				if (cands->n[slot] == 0)
					cands->first_id[slot] = id;
				cands->tids[slot][cands->n[slot]++] = PointerGetDatum(copy);
			}
			cands->total++;
		}
	}
}

/* End the scan and move the hint on (see the comment at claim_hint). */
static void
outbox_claim_scan_end(OutboxClaimScan *cs)
{
	SPI_cursor_close(cs->portal);
	hash_destroy(cs->seen);

	if (cs->promote)
	{
		int64		h = cs->first ? claim_hint_v + 1 : Min(cs->lowest, claim_hint_v + 1);

		if (h > claim_hint)
			claim_hint = h;
		claim_hint_pending = false;
	}
	if (!claim_hint_pending)
	{
		claim_hint_v = outbox_last_id();
		/*
		 * The next xid to be assigned; not a snapshot's xmax, which can be
		 * below the xid of a transaction still running.
		 */
		claim_hint_xmax = XidFromFullTransactionId(ReadNextFullTransactionId());
		claim_hint_pending = true;
	}
}

/*
 * Leasing a due pending event directly.  Pass 1 read its row version; if
 * that version is still the newest and nobody holds it, it is replaced by
 * the leased one with a direct update (direct_write.c) that does not wait:
 * a version another claimer has leased or is leasing is skipped, as FOR
 * UPDATE SKIP LOCKED would skip it, and a version changed since pass 1
 * (leased and committed by another claimer, acknowledged) is skipped too.
 * It writes what the SQL of pass 2 writes for a pending event, without
 * planning, sorting or locking the row first.  Expired leases, whose
 * handling depends on the retry policy, still go through pass 2's SQL, and
 * so does everything if a partition has a trigger (a user's own) or its
 * columns differ from the outbox's, or the session is in replica mode.
 */
typedef enum LeaseColumn
{
	LC_ID,
	LC_STATUS,
	LC_AVAILABLE_AT,
	LC_ATTEMPTS,
	LC_LEASE_OWNER,
	LC_LEASE_EXPIRES_AT,
	LC_NCOLS
} LeaseColumn;

static const char *const lease_colnames[LC_NCOLS] = {
	"id", "status", "available_at", "attempts", "lease_owner",
	"lease_expires_at"
};

typedef struct OutboxLeaser
{
	bool		ok;				/* may events be leased directly? */
	Relation	parts[OUTBOX_NUM_SLOTS];
	TupleTableSlot *slots[OUTBOX_NUM_SLOTS];
	PayconsDirectWriter *writers[OUTBOX_NUM_SLOTS];	/* made on first use */
	AttrNumber	attnum[LC_NCOLS];
	int			natts;
	Datum	   *values;
	bool	   *isnull;
	Datum		consumer;		/* text */
	TimestampTz now;
	TimestampTz expires;
} OutboxLeaser;

static void
outbox_leaser_begin(OutboxLeaser *l, TupleDesc rowdesc, const char *consumer,
					Interval *lease)
{
	l->ok = SessionReplicationRole == SESSION_REPLICATION_ROLE_ORIGIN;
	l->natts = rowdesc->natts;
	for (int slot = 0; slot < OUTBOX_NUM_SLOTS; slot++)
	{
		char		name[NAMEDATALEN];
		Oid			relid;
		TupleDesc	desc;

		snprintf(name, sizeof(name), "outbox_%d", slot);
		relid = PayconsRelid(name);
		l->parts[slot] = table_open(relid, RowExclusiveLock);
		l->slots[slot] = table_slot_create(l->parts[slot], NULL);
		l->writers[slot] = NULL;
		desc = RelationGetDescr(l->parts[slot]);
		if (l->parts[slot]->trigdesc != NULL || desc->natts != rowdesc->natts)
			l->ok = false;
		for (int a = 0; l->ok && a < desc->natts; a++)
		{
			Form_pg_attribute pa = TupleDescAttr(desc, a);
			Form_pg_attribute ra = TupleDescAttr(rowdesc, a);

			if (pa->atttypid != ra->atttypid || pa->attisdropped != ra->attisdropped)
				l->ok = false;
		}
	}
	if (!l->ok)
		return;
	PayconsColumnAttnums(l->parts[0], lease_colnames, LC_NCOLS, l->attnum);
	l->values = palloc(sizeof(Datum) * l->natts);
	l->isnull = palloc(sizeof(bool) * l->natts);
	l->consumer = CStringGetTextDatum(consumer);
	l->now = GetCurrentTransactionStartTimestamp();
	l->expires = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														 TimestampTzGetDatum(l->now),
														 IntervalPGetDatum(lease)));
}

static void
outbox_leaser_end(OutboxLeaser *l)
{
	for (int slot = 0; slot < OUTBOX_NUM_SLOTS; slot++)
	{
		ExecDropSingleTupleTableSlot(l->slots[slot]);
		if (l->writers[slot] != NULL)
			PayconsDirectWriterEnd(l->writers[slot]);
		table_close(l->parts[slot], NoLock);
	}
}

/*
 * Lease the version at *tid of partition slot, if it is still a due
 * pending event nobody else holds: true, with *tid set to the leased
 * version and *tuple to the leased row; false, having written nothing,
 * otherwise.
 */
static bool
outbox_lease(OutboxLeaser *l, int slot, ItemPointer tid, HeapTuple *tuple)
{
	Relation	rel = l->parts[slot];
	TupleTableSlot *ts = l->slots[slot];
	int			status = l->attnum[LC_STATUS] - 1;
	int			available = l->attnum[LC_AVAILABLE_AT] - 1;
	int			attempts = l->attnum[LC_ATTEMPTS] - 1;
	text	   *st;
	int32		n;
	bool		leased = false;

	if (!table_tuple_fetch_row_version(rel, tid, SnapshotAny, ts))
		return false;
	slot_getallattrs(ts);
	memcpy(l->values, ts->tts_values, sizeof(Datum) * l->natts);
	memcpy(l->isnull, ts->tts_isnull, sizeof(bool) * l->natts);

	st = DatumGetTextPP(l->values[status]);
	if (!l->isnull[status] && !l->isnull[available] && !l->isnull[attempts] &&
		VARSIZE_ANY_EXHDR(st) == 7 && memcmp(VARDATA_ANY(st), "pending", 7) == 0 &&
		DatumGetTimestampTz(l->values[available]) <= l->now)
	{
		if (pg_add_s32_overflow(DatumGetInt32(l->values[attempts]), 1, &n))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("attempts of an outbox event are out of range")));
		l->values[status] = CStringGetTextDatum("leased");
		l->values[attempts] = Int32GetDatum(n);
		l->values[l->attnum[LC_LEASE_OWNER] - 1] = l->consumer;
		l->isnull[l->attnum[LC_LEASE_OWNER] - 1] = false;
		l->values[l->attnum[LC_LEASE_EXPIRES_AT] - 1] = TimestampTzGetDatum(l->expires);
		l->isnull[l->attnum[LC_LEASE_EXPIRES_AT] - 1] = false;
		if (l->writers[slot] == NULL)
			l->writers[slot] = PayconsDirectWriterBegin(rel);
		if (PayconsDirectWriterUpdate(l->writers[slot], tid, l->values, l->isnull,
									  false) == TM_Ok)
		{
			*tuple = heap_form_tuple(RelationGetDescr(rel), l->values, l->isnull);
			leased = true;
		}
	}
	ExecClearTuple(ts);
	return leased;
}

/* A leased event, kept until the batch is complete */
typedef struct OutboxClaimedRow
{
	int64		id;
	int			slot;
	ItemPointerData tid;		/* the leased row version */
	HeapTuple	tuple;
} OutboxClaimedRow;

/* Remember where the n events of a claim (sorted by id) were leased */
static void
outbox_remember_claim(const OutboxClaimedRow *rows, int n)
{
	if (n > last_claim_cap)
	{
		if (last_claim != NULL)
			pfree(last_claim);
		last_claim = MemoryContextAlloc(TopMemoryContext,
										sizeof(OutboxLeased) * n);
		last_claim_cap = n;
	}
	for (int i = 0; i < n; i++)
	{
		last_claim[i].id = rows[i].id;
		last_claim[i].slot = rows[i].slot;
		last_claim[i].tid = rows[i].tid;
	}
	last_claim_n = n;
}

/* Where event id was leased by this session's last claim, or NULL */
static const OutboxLeased *
outbox_find_leased(int64 id)
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
static PayconsPlan *
outbox_slot_plan(PayconsPlan *plans, const char *template, int slot,
				 int nargs, const Oid *argtypes)
{
	PayconsPlan *p = &plans[slot];

	if (p->sql == NULL)
	{
		p->sql = MemoryContextStrdup(TopMemoryContext,
									 psprintf(template, slot, slot));
		p->nargs = nargs;
		memcpy(p->argtypes, argtypes, sizeof(Oid) * nargs);
		p->plan = NULL;
	}
	return p;
}

static int
outbox_claimed_cmp(const void *a, const void *b)
{
	int64		x = ((const OutboxClaimedRow *) a)->id;
	int64		y = ((const OutboxClaimedRow *) b)->id;

	return (x > y) - (x < y);
}

/*
 * paycons.outbox_claim(consumer, batch, lease) -> setof paycons.outbox
 *
 * Leases up to batch (1..10000) due events to consumer for lease (> 0), at
 * most one per aggregate, in id order; increments their attempts.
 */
Datum
paycons_outbox_claim(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PayconsOwnerState owner;
	char	   *consumer;
	int32		batch;
	Interval   *lease;

	PayconsRequireArg(fcinfo, 0, "consumer");
	PayconsRequireArg(fcinfo, 1, "batch");
	PayconsRequireArg(fcinfo, 2, "lease");
	consumer = outbox_consumer_arg(fcinfo, 0, true);
	batch = PG_GETARG_INT32(1);
	if (batch <= 0 || batch > OUTBOX_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_OUTBOX_BAD_BATCH),
				 errmsg("batch must be between 1 and %d: %d",
						OUTBOX_MAX_BATCH, batch)));
	lease = outbox_interval_arg(fcinfo, 2, "lease", false);

	InitMaterializedSRF(fcinfo, 0);

	PayconsBecomeOwner(&owner, NULL);
	PG_TRY();
	{
		Datum		values[4];
		OutboxClaimScan cs;
		int			got = 0;
		TupleDesc	spidesc;
		int			natts = rsinfo->setDesc->natts;
		Datum	   *rowvals = palloc(sizeof(Datum) * natts);
		bool	   *rownulls = palloc(sizeof(bool) * natts);
		OutboxClaimedRow *rows = palloc(sizeof(OutboxClaimedRow) * batch);
		OutboxLeaser leaser;
		int			id_attnum = SPI_fnumber(rsinfo->setDesc, "id");

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		outbox_lock_partitions();
		values[0] = CStringGetTextDatum(consumer);
		values[1] = Int32GetDatum(batch);
		values[2] = IntervalPGetDatum(lease);

		/*
		 * Ask pass 1 for twice what is missing (concurrent claimers may hold
		 * some), lease what pass 2 can lock, repeat until the batch is full
		 * or the scan is done.
		 */
		outbox_leaser_begin(&leaser, rsinfo->setDesc, consumer, lease);
		outbox_claim_scan_begin(&cs);
		while (got < batch)
		{
			OutboxCands cands;
			int			order[OUTBOX_NUM_SLOTS];
			int			nslots = 0;

			outbox_claim_scan_next(&cs, 2 * (batch - got), leaser.ok, &cands);
			if (cands.total == 0)
				break;

			/* pending events first, directly, in id order */
			for (int k = 0; k < cands.ndirect && got < batch; k++)
			{
				rows[got].tid = cands.direct_tid[k];
				if (!outbox_lease(&leaser, cands.direct_slot[k], &rows[got].tid,
								  &rows[got].tuple))
					continue;
				rows[got].id = cands.direct_id[k];
				rows[got].slot = cands.direct_slot[k];
				got++;
			}
			if (cands.ndirect > 0)
				CommandCounterIncrement();

			/* the partitions holding candidates, lowest first id first */
			for (int slot = 0; slot < OUTBOX_NUM_SLOTS; slot++)
			{
				int			j = nslots++;

				if (cands.n[slot] == 0)
				{
					nslots--;
					continue;
				}
				while (j > 0 && cands.first_id[order[j - 1]] > cands.first_id[slot])
				{
					order[j] = order[j - 1];
					j--;
				}
				order[j] = slot;
			}

			for (int k = 0; k < nslots && got < batch; k++)
			{
				int			slot = order[k];

				values[1] = Int32GetDatum(batch - got);
				values[3] = PointerGetDatum(construct_array(cands.tids[slot],
															cands.n[slot], TIDOID,
															sizeof(ItemPointerData),
															false, TYPALIGN_SHORT));
				outbox_exec(outbox_slot_plan(claim_plans, claim_sql_template, slot,
											 4, claim_argtypes),
							values, NULL, false);

				spidesc = SPI_tuptable->tupdesc;
				if (spidesc->natts != natts + 1)
					elog(ERROR, "outbox_claim row has %d columns, expected %d",
						 spidesc->natts, natts + 1);
				for (uint64 i = 0; i < SPI_processed && got < batch; i++)
				{
					bool		isnull;

					rows[got].tuple = SPI_copytuple(SPI_tuptable->vals[i]);
					rows[got].id = DatumGetInt64(heap_getattr(rows[got].tuple, id_attnum,
															  spidesc, &isnull));
					rows[got].slot = slot;
					ItemPointerCopy((ItemPointer) DatumGetPointer(heap_getattr(rows[got].tuple,
																			   natts + 1,
																			   spidesc,
																			   &isnull)),
									&rows[got].tid);
					got++;
				}
				SPI_freetuptable(SPI_tuptable);
			}
			if (cs.exhausted)
				break;
		}

		/* handed out in id order, whichever partitions they came from */
		qsort(rows, got, sizeof(OutboxClaimedRow), outbox_claimed_cmp);
		outbox_remember_claim(rows, got);
		for (int i = 0; i < got; i++)
		{
			heap_deform_tuple(rows[i].tuple, rsinfo->setDesc, rowvals, rownulls);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
								 rowvals, rownulls);
		}
		outbox_claim_scan_end(&cs);
		outbox_leaser_end(&leaser);
		SPI_finish();
	}
	PG_FINALLY();
	{
		PayconsRestoreUser(&owner);
	}
	PG_END_TRY();

	strlcpy(outbox_session_consumer, consumer, sizeof(outbox_session_consumer));
	return (Datum) 0;
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
	PayconsOwnerState owner;
	int64	   *ids;
	int			nids;
	char	   *consumer;
	volatile uint64 done = 0;

	ids = outbox_ids_arg(fcinfo, 0, &nids);
	consumer = outbox_consumer_arg(fcinfo, 1, false);
	if (nids == 0)
		PG_RETURN_INT64(0);

	PayconsBecomeOwner(&owner, NULL);
	PG_TRY();
	{
		Datum		values[3];
		int64	   *left = palloc(sizeof(int64) * nids);
		int			nleft = 0;
		Datum	   *tids[OUTBOX_NUM_SLOTS];
		Datum	   *tid_ids[OUTBOX_NUM_SLOTS];
		int			ntids[OUTBOX_NUM_SLOTS] = {0};

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		outbox_lock_partitions();

		/* first by row version, those this session's last claim leased */
		for (int slot = 0; slot < OUTBOX_NUM_SLOTS; slot++)
		{
			tids[slot] = palloc(sizeof(Datum) * nids);
			tid_ids[slot] = palloc(sizeof(Datum) * nids);
		}
		for (int i = 0; i < nids; i++)
		{
			const OutboxLeased *l = outbox_find_leased(ids[i]);

			if (l == NULL)
				left[nleft++] = ids[i];
			else
			{
				tids[l->slot][ntids[l->slot]] = PointerGetDatum(&l->tid);
				tid_ids[l->slot][ntids[l->slot]++] = Int64GetDatum(ids[i]);
			}
		}
		for (int slot = 0; slot < OUTBOX_NUM_SLOTS; slot++)
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
			outbox_exec(outbox_slot_plan(ack_tid_plans, ack_tid_sql_template, slot,
										 3, ack_tid_argtypes),
						values, NULL, false);
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
			outbox_exec(&ack_plan, values, NULL, false);
			done += SPI_processed;
			if (SPI_processed != (uint64) nleft)
				outbox_explain_missing(left, nleft, "leased", consumer, "acknowledge");
		}
		if (done != (uint64) nids)
			elog(ERROR, "outbox_ack acknowledged " UINT64_FORMAT " of %d events",
				 done, nids);
		SPI_finish();
	}
	PG_FINALLY();
	{
		PayconsRestoreUser(&owner);
	}
	PG_END_TRY();

	PG_RETURN_INT64((int64) done);
}

/*
 * paycons.outbox_nack(id, error, retry_in, consumer) -> paycons.outbox
 *
 * Gives a leased event back.  If it has used max_attempts of its retry
 * policy (by event_type, else '*') it becomes dead; otherwise it is due
 * again after retry_in, or after the policy's backoff:
 * min(initial_interval * backoff_coefficient ^ (attempts - 1), max_interval)
 * scaled by a random factor in [1 - jitter, 1 + jitter].
 */
Datum
paycons_outbox_nack(PG_FUNCTION_ARGS)
{
	MemoryContext upper = CurrentMemoryContext;
	PayconsOwnerState owner;
	int64		id;
	char	   *error;
	Interval   *volatile retry_in = NULL;
	char	   *consumer;
	volatile Datum result = (Datum) 0;

	PayconsRequireArg(fcinfo, 0, "id");
	PayconsRequireArg(fcinfo, 1, "error");
	id = PG_GETARG_INT64(0);
	error = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strlen(error) > OUTBOX_MAX_ERROR)
		error[pg_mbcliplen(error, strlen(error), OUTBOX_MAX_ERROR)] = '\0';
	if (!PG_ARGISNULL(2))
		retry_in = outbox_interval_arg(fcinfo, 2, "retry_in", true);
	consumer = outbox_consumer_arg(fcinfo, 3, false);

	PayconsBecomeOwner(&owner, NULL);
	PG_TRY();
	{
		Datum		values[4];
		HeapTuple	tup;
		TupleDesc	desc;
		bool		isnull;
		char	   *status;
		char	   *lease_owner;
		int32		attempts;
		double		delay;
		bool		dead;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		outbox_lock_partitions();
		values[0] = Int64GetDatum(id);
		outbox_exec(&nack_lock_plan, values, NULL, false);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_OUTBOX_UNKNOWN_EVENT),
					 errmsg("outbox event " INT64_FORMAT " does not exist or was already acknowledged",
							id)));
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		status = SPI_getvalue(tup, desc, 1);
		lease_owner = SPI_getvalue(tup, desc, 2);
		if (strcmp(status, "leased") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_OUTBOX_WRONG_STATUS),
					 errmsg("cannot nack outbox event " INT64_FORMAT ": it is %s, not leased",
							id, status)));
		if (lease_owner == NULL || strcmp(lease_owner, consumer) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_OUTBOX_NOT_OWNER),
					 errmsg("cannot nack outbox event " INT64_FORMAT ": it is leased by consumer \"%s\", not \"%s\"",
							id, lease_owner ? lease_owner : "", consumer)));
		attempts = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));

		(void) SPI_getbinval(tup, desc, 7, &isnull);
		if (isnull)
			elog(ERROR, "paycons.outbox_retry_policies has no row '*'");
		dead = attempts >= DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
		if (dead)
			delay = 0;
		else if (retry_in != NULL)
			delay = DatumGetFloat8(DirectFunctionCall2(interval_part,
													   CStringGetTextDatum("epoch"),
													   IntervalPGetDatum(retry_in)));
		else
		{
			double		initial = DatumGetFloat8(SPI_getbinval(tup, desc, 4, &isnull));
			double		coef = DatumGetFloat8(SPI_getbinval(tup, desc, 5, &isnull));
			double		maxiv = DatumGetFloat8(SPI_getbinval(tup, desc, 6, &isnull));
			double		jitter = DatumGetFloat8(SPI_getbinval(tup, desc, 8, &isnull));

			delay = initial * pow(coef, (double) Max(attempts - 1, 0));
			if (delay > maxiv || isinf(delay))
				delay = maxiv;
			delay *= 1.0 + jitter * (2.0 * pg_prng_double(&pg_global_prng_state) - 1.0);
		}

		values[1] = CStringGetTextDatum(dead ? "dead" : "pending");
		values[2] = Float8GetDatum(delay);
		values[3] = CStringGetTextDatum(error);
		outbox_exec(&nack_update_plan, values, NULL, false);
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
 * paycons.outbox_redrive(ids) -> count
 *
 * Puts dead events back to pending, due now, with attempts reset.  Every id
 * must be dead.
 */
Datum
paycons_outbox_redrive(PG_FUNCTION_ARGS)
{
	PayconsOwnerState owner;
	int64	   *ids;
	int			nids;
	volatile uint64 done = 0;

	ids = outbox_ids_arg(fcinfo, 0, &nids);
	if (nids == 0)
		PG_RETURN_INT64(0);

	PayconsBecomeOwner(&owner, NULL);
	PG_TRY();
	{
		Datum		values[1];

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		outbox_lock_partitions();
		values[0] = PG_GETARG_DATUM(0);
		outbox_exec(&redrive_plan, values, NULL, false);
		done = SPI_processed;
		if (done != (uint64) nids)
			outbox_explain_missing(ids, nids, "dead", NULL, "redrive");
		if (done != (uint64) nids)
			elog(ERROR, "outbox_redrive redrove " UINT64_FORMAT " of %d events",
				 done, nids);
		SPI_finish();
	}
	PG_FINALLY();
	{
		PayconsRestoreUser(&owner);
	}
	PG_END_TRY();

	PG_RETURN_INT64((int64) done);
}
