/*-------------------------------------------------------------------------
 *
 * outbox_claim.c
 *	  paycons.outbox_claim(): lease due events to a consumer.
 *
 * A claim leases due events to a named consumer for a while.  It hands out
 * only the oldest outstanding event of each aggregate: an event waits while
 * an earlier event of its aggregate is leased, waiting to be retried, or
 * dead, which gives per-aggregate FIFO.  Different aggregates flow in
 * parallel: claims lock candidate rows with FOR UPDATE SKIP LOCKED and take
 * no lock beyond the usual ROW EXCLUSIVE on the partitions, so they never
 * wait for each other.  An expired lease makes the event claimable again
 * (by any consumer), so a crashed consumer's events come back.  Every
 * write is an ordinary UPDATE through SPI.
 *
 * IDENTIFICATION
 *	  src/outbox_claim.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "nodes/parsenodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "as_owner.h"
#include "errcodes.h"
#include "outbox.h"
#include "spi_plans.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(paycons_outbox_claim);

/*
 * The max_attempts of an event's retry policy (action 'outbox:<type>',
 * else 'outbox', else '*': see retry_policy.c), in SQL over row alias t
 */
#define OUTBOX_MAX_ATTEMPTS_SQL \
	"(SELECT r.max_attempts FROM paycons.retry_policies r" \
	"  WHERE r.action OPERATOR(pg_catalog.=) ANY (ARRAY['outbox:' OPERATOR(pg_catalog.||) t.event_type, 'outbox', '*'])" \
	"  ORDER BY r.action OPERATOR(pg_catalog.=) ('outbox:' OPERATOR(pg_catalog.||) t.event_type) DESC," \
	"           r.action OPERATOR(pg_catalog.=) '*' LIMIT 1)"

/* How many outstanding events a claim looks at, at most */
#define OUTBOX_CLAIM_SCAN_MAX	100000

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
 * Pass 2 leases up to batch of those candidates with claim_sql_template,
 * per partition, which locks them with FOR UPDATE SKIP LOCKED, re-checking
 * that each is still due (another consumer may have claimed it since pass
 * 1), and leases them; except that an event
 * whose lease expired after its policy's last attempt (a consumer that
 * crashes on it every time) is dead-lettered instead of handed out.  A candidate cannot have
 * stopped being a head in between: an earlier event of its aggregate would
 * have had to appear, and events of one aggregate are written by
 * transactions serialised on the aggregate (the order row lock for orders),
 * so they arrive in id order.  Rotation never moves rows, and it cannot
 * truncate a segment in between: that needs an ACCESS EXCLUSIVE lock on the
 * segment, and we hold ACCESS SHARE on every segment from pass 1 on.
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
	2, {INT4OID, INT8OID},
	CURSOR_OPT_GENERIC_PLAN, NULL
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
static PayconsPlan claim_plans[OUTBOX_MAX_SLOTS];
static const Oid claim_argtypes[4] = {TEXTOID, INT4OID, INTERVALOID, TIDARRAYOID};


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
 * sees (or V + 1 if it sees none) is a safe hint.  Rotation never moves a
 * row, and rows updated by claim, nack or redrive keep their ids and never
 * vanish from view, so they cannot fall below it either.
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
	claim_id_seq = PayconsRelid("outbox_id_seq");
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
	/* a snapshot taken now, for the scan */
	PushActiveSnapshot(GetTransactionSnapshot());
	cs->promote = claim_hint_pending &&
		TransactionIdPrecedesOrEquals(claim_hint_xmax, GetActiveSnapshot()->xmin);
	args[0] = Int32GetDatum(OUTBOX_CLAIM_SCAN_MAX);
	args[1] = Int64GetDatum(claim_hint);
	cs->portal = SPI_cursor_open(NULL, PayconsPlanGet(&claim_scan_plan), args,
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
	int			n[OUTBOX_MAX_SLOTS];
	Datum	   *tids[OUTBOX_MAX_SLOTS];	/* ItemPointer Datums */
	int64		first_id[OUTBOX_MAX_SLOTS];	/* lowest id of each partition's */
} OutboxCands;

/*
 * Up to "want" further due heads, in id order, as the row versions pass 1
 * read, grouped by partition.  Those versions stay where they are until
 * pass 2 has locked them: the cursor's snapshot keeps them from being
 * pruned, and a truncation would wait for our lock on the segments.
 */
static void
outbox_claim_scan_next(OutboxClaimScan *cs, int want, OutboxCands *cands)
{
	memset(cands, 0, sizeof(*cands));

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
			if (slot < 0 || slot >= OUTBOX_MAX_SLOTS)
				elog(ERROR, "outbox event " INT64_FORMAT " is in unknown slot %d",
					 id, slot);
			tid = (ItemPointer) DatumGetPointer(SPI_getbinval(tup, desc, 5, &isnull));
			{
				ItemPointer copy = palloc(sizeof(ItemPointerData));

				ItemPointerCopy(tid, copy);
				if (cands->n[slot] == 0)
				{
					cands->first_id[slot] = id;
					cands->tids[slot] = palloc(sizeof(Datum) * want);
				}
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

/* A leased event, kept until the batch is complete */
typedef struct OutboxClaimedRow
{
	OutboxLeased where;
	HeapTuple	tuple;
} OutboxClaimedRow;

static int
outbox_claimed_cmp(const void *a, const void *b)
{
	int64		x = ((const OutboxClaimedRow *) a)->where.id;
	int64		y = ((const OutboxClaimedRow *) b)->where.id;

	return (x > y) - (x < y);
}

/*
 * Where each column of the result row type (paycons.outbox's row type:
 * dropped columns included, in table order) is in the claim's SPI result
 * (RETURNING t.*, claimed_tid): found by name, 0 for a dropped column.
 * Also the SPI columns of the id and of the leased row version.
 */
static int *
claim_column_map(TupleDesc resdesc, TupleDesc spidesc, int *id_col, int *tid_col)
{
	int		   *map = palloc0(sizeof(int) * Max(resdesc->natts, 1));

	for (int a = 0; a < resdesc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(resdesc, a);

		if (!att->attisdropped)
			map[a] = SPI_fnumber(spidesc, NameStr(att->attname));
		if (map[a] < 0)
			map[a] = 0;
	}
	*id_col = SPI_fnumber(spidesc, "id");
	*tid_col = SPI_fnumber(spidesc, "claimed_tid");
	if (*id_col <= 0 || *tid_col <= 0)
		elog(ERROR, "outbox_claim's statement returned no id or claimed_tid");
	return map;
}

/* Work of outbox_claim() */
typedef struct ClaimWork
{
	ReturnSetInfo *rsinfo;
	const char *consumer;
	int32		batch;
	Interval   *lease;
} ClaimWork;

static void
claim_work(void *arg, MemoryContext caller)
{
	ClaimWork  *w = (ClaimWork *) arg;
	ReturnSetInfo *rsinfo = w->rsinfo;
	int32		batch = w->batch;
	Datum		values[4];
	OutboxClaimScan cs;
	int			got = 0;
	TupleDesc	spidesc;
	int			natts = rsinfo->setDesc->natts;
	Datum	   *rowvals = palloc(sizeof(Datum) * natts);
	bool	   *rownulls = palloc(sizeof(bool) * natts);
	OutboxClaimedRow *rows = palloc(sizeof(OutboxClaimedRow) * batch);
	OutboxLeased *leased;
	int		   *colmap = NULL;
	int			id_col = 0;
	int			tid_col = 0;

	values[0] = CStringGetTextDatum(w->consumer);
	values[1] = Int32GetDatum(batch);
	values[2] = IntervalPGetDatum(w->lease);

	/*
	 * Ask pass 1 for twice what is missing (concurrent claimers may hold
	 * some), lease what pass 2 can lock, repeat until the batch is full or
	 * the scan is done.
	 */
	outbox_claim_scan_begin(&cs);
	while (got < batch)
	{
		OutboxCands cands;
		int			order[OUTBOX_MAX_SLOTS];
		int			nslots = 0;

		outbox_claim_scan_next(&cs, 2 * (batch - got), &cands);
		if (cands.total == 0)
			break;

		/* the partitions holding candidates, lowest first id first */
		for (int slot = 0; slot < OUTBOX_MAX_SLOTS; slot++)
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
			PayconsExecPlan(OutboxSlotPlan(claim_plans, claim_sql_template, slot,
										   4, claim_argtypes),
							values, NULL, 0);

			spidesc = SPI_tuptable->tupdesc;
			if (colmap == NULL)
				colmap = claim_column_map(rsinfo->setDesc, spidesc, &id_col, &tid_col);
			for (uint64 i = 0; i < SPI_processed && got < batch; i++)
			{
				bool		isnull;
				HeapTuple	tup = SPI_tuptable->vals[i];

				rows[got].where.id = DatumGetInt64(SPI_getbinval(tup, spidesc, id_col,
																 &isnull));
				rows[got].where.slot = slot;
				ItemPointerCopy((ItemPointer) DatumGetPointer(SPI_getbinval(tup, spidesc,
																			tid_col,
																			&isnull)),
								&rows[got].where.tid);
				/* the result row, in the function's row type, by column name */
				for (int a = 0; a < natts; a++)
				{
					rowvals[a] = (Datum) 0;
					rownulls[a] = true;
					if (colmap[a] > 0)
						rowvals[a] = SPI_getbinval(tup, spidesc, colmap[a], &rownulls[a]);
				}
				rows[got].tuple = heap_form_tuple(rsinfo->setDesc, rowvals, rownulls);
				got++;
			}
			SPI_freetuptable(SPI_tuptable);
		}
		if (cs.exhausted)
			break;
	}

	/* handed out in id order, whichever partitions they came from */
	qsort(rows, got, sizeof(OutboxClaimedRow), outbox_claimed_cmp);
	leased = palloc(sizeof(OutboxLeased) * Max(got, 1));
	for (int i = 0; i < got; i++)
	{
		leased[i] = rows[i].where;
		tuplestore_puttuple(rsinfo->setResult, rows[i].tuple);
	}
	OutboxRememberClaim(leased, got, w->consumer);
	outbox_claim_scan_end(&cs);
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
	ClaimWork	w;

	PayconsRequireArg(fcinfo, 0, "consumer");
	PayconsRequireArg(fcinfo, 1, "batch");
	PayconsRequireArg(fcinfo, 2, "lease");
	w.consumer = OutboxConsumerArg(fcinfo, 0, true);
	w.batch = PG_GETARG_INT32(1);
	if (w.batch <= 0 || w.batch > OUTBOX_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_OUTBOX_BAD_BATCH),
				 errmsg("batch must be between 1 and %d: %d",
						OUTBOX_MAX_BATCH, w.batch)));
	w.lease = OutboxIntervalArg(fcinfo, 2, "lease", false);

	InitMaterializedSRF(fcinfo, 0);
	w.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PayconsAsOwner(NULL, claim_work, &w);
	return (Datum) 0;
}
