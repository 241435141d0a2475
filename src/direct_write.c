/*-------------------------------------------------------------------------
 *
 * direct_write.c
 *	  Writing a row of one of our own tables without SQL: the executor's
 *	  simple insert path, as logical replication's apply worker uses it, and
 *	  an update of a row whose version the caller has in hand.
 *
 * The outbox writer, the order history writer and the order hub's direct
 * state change (order_write.c) call these on the hot path of
 * apply_callback, where parsing, planning and starting an SPI statement per
 * row would cost more than the write itself.  CHECK and NOT NULL
 * constraints are checked and indexes maintained as for any INSERT or
 * UPDATE; column defaults are not applied (the caller sets every column it
 * needs), no trigger fires and no privilege is checked (the callers are the
 * extension's own code, which does what the triggers would).
 *
 * The executor compiles a table's CHECK constraints again for every
 * statement (from their stored node trees).  Here they are compiled once
 * per backend and table and kept until a relcache invalidation of the
 * table, which any change of its constraints sends.
 *
 * IDENTIFICATION
 *	  src/direct_write.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "storage/lmgr.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "paycons.h"

/* The compiled CHECK constraints of one table */
typedef struct CheckCacheEntry
{
	Oid			relid;			/* hash key */
	bool		valid;
	int			ncheck;
	ExprState **exprs;
	MemoryContext cxt;			/* holds exprs; NULL if none */
} CheckCacheEntry;

static HTAB *check_cache = NULL;

/* The PayconsTables in use (see PayconsTableOpen) */
#define DIRECT_MAX_TABLES 8
static PayconsTable *direct_tables[DIRECT_MAX_TABLES];
static int	direct_ntables = 0;

/*
 * One relcache callback for everything this file caches: a backend has
 * only a few callback slots, shared with every other extension.
 */
static void
direct_relcache_inval(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	CheckCacheEntry *entry;

	for (int i = 0; i < direct_ntables; i++)
		if (!OidIsValid(relid) || relid == direct_tables[i]->relid)
			direct_tables[i]->valid = false;

	if (check_cache == NULL)
		return;
	if (OidIsValid(relid))
	{
		entry = hash_search(check_cache, &relid, HASH_FIND, NULL);
		if (entry != NULL)
			entry->valid = false;
		return;
	}
	hash_seq_init(&status, check_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		entry->valid = false;
}

static void
direct_register_callback(void)
{
	static bool registered = false;

	if (!registered)
	{
		CacheRegisterRelcacheCallback(direct_relcache_inval, (Datum) 0);
		registered = true;
	}
}

/* The OID of relation "name" of schema paycons, which must exist */
Oid
PayconsRelid(const char *name)
{
	Oid			relid = get_relname_relid(name, PayconsSchemaOid());

	if (!OidIsValid(relid))
		elog(ERROR, "relation paycons.%s does not exist", name);
	return relid;
}

/*
 * Open t's table with RowExclusiveLock, knowing its OID and the attribute
 * numbers of t's columns (t->attnum[], in the order of t->colnames).  They
 * are looked up on first use and again after a relcache invalidation of
 * the table (any change of its columns, constraints or triggers); *fresh
 * says whether they just were, for a caller that derives more from the
 * relation (whether its triggers allow a direct write, say).
 */
Relation
PayconsTableOpen(PayconsTable *t, bool *fresh)
{
	Relation	rel;

	Assert(t->ncols <= PAYCONS_TABLE_MAX_COLS);
	direct_register_callback();
	if (!t->registered)
	{
		if (direct_ntables >= DIRECT_MAX_TABLES)
			elog(ERROR, "too many cached paycons tables");
		direct_tables[direct_ntables++] = t;
		t->registered = true;
	}
	if (!t->valid)
		t->relid = PayconsRelid(t->relname);
	rel = table_open(t->relid, RowExclusiveLock);
	*fresh = !t->valid;
	if (!t->valid)
	{
		PayconsColumnAttnums(rel, t->colnames, t->ncols, t->attnum);
		t->valid = true;
	}
	return rel;
}

/*
 * The compiled CHECK constraints of rel, in the order of its TupleConstr
 * (the order ExecRelCheck evaluates them in), or NULL if it has none.  An
 * invalidated entry's memory is freed here, at its next use, never inside
 * the invalidation callback, which may run while an expression is being
 * evaluated.
 */
static ExprState **
direct_check_exprs(Relation rel)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	Oid			relid = RelationGetRelid(rel);
	CheckCacheEntry *entry;
	bool		found;
	MemoryContext oldcxt;

	if (constr == NULL || constr->num_check == 0)
		return NULL;

	if (check_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CheckCacheEntry);
		ctl.hcxt = CacheMemoryContext;
		check_cache = hash_create("paycons check constraints", 16, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		direct_register_callback();
	}

	entry = hash_search(check_cache, &relid, HASH_ENTER, &found);
	if (found && entry->valid && entry->ncheck == constr->num_check)
		return entry->exprs;

	if (found && entry->cxt != NULL)
		MemoryContextDelete(entry->cxt);
	entry->valid = false;
	entry->cxt = AllocSetContextCreate(CacheMemoryContext,
									   "paycons check constraints",
									   ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(entry->cxt);
	entry->ncheck = constr->num_check;
	entry->exprs = palloc(sizeof(ExprState *) * constr->num_check);
	for (int i = 0; i < constr->num_check; i++)
	{
		Expr	   *expr = (Expr *) stringToNode(constr->check[i].ccbin);

		entry->exprs[i] = ExecInitExpr(expression_planner(expr), NULL);
	}
	MemoryContextSwitchTo(oldcxt);
	entry->valid = true;
	return entry->exprs;
}

/*
 * Attribute numbers of the named columns of rel, in the order given; an
 * error if one is missing (the table is ours: a missing column is a broken
 * install, not a user error).
 */
void
PayconsColumnAttnums(Relation rel, const char *const *names, int ncols,
					 AttrNumber *attnums)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int c = 0; c < ncols; c++)
	{
		attnums[c] = InvalidAttrNumber;
		for (int a = 0; a < desc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, a);

			if (!att->attisdropped && strcmp(NameStr(att->attname), names[c]) == 0)
			{
				attnums[c] = att->attnum;
				break;
			}
		}
		if (attnums[c] == InvalidAttrNumber)
			elog(ERROR, "column \"%s\" of %s does not exist",
				 names[c], RelationGetRelationName(rel));
	}
}

/*
 * An executor state with rel as its only result relation, indexes open
 * (with what a speculative insertion needs if speculative)
 */
static ResultRelInfo *
direct_begin(Relation rel, EState **estate, bool speculative)
{
	RangeTblEntry *rte;
	ResultRelInfo *rri;

	*estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(*estate, list_make1(rte));
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	rri->ri_ConstraintExprs = direct_check_exprs(rel);
	ExecOpenIndices(rri, speculative);
	return rri;
}

static void
direct_end(ResultRelInfo *rri, EState *estate)
{
	ExecCloseIndices(rri);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
}

/* Make virtual slot hold values[]/isnull[] (one per attribute) */
static void
direct_fill_slot(TupleTableSlot *slot, Datum *values, bool *isnull)
{
	int			natts = slot->tts_tupleDescriptor->natts;

	ExecClearTuple(slot);
	memcpy(slot->tts_values, values, sizeof(Datum) * natts);
	memcpy(slot->tts_isnull, isnull, sizeof(bool) * natts);
	ExecStoreVirtualTuple(slot);
}

/* A virtual slot of rel's row type holding values[]/isnull[] */
static TupleTableSlot *
direct_slot(EState *estate, Relation rel, Datum *values, bool *isnull)
{
	TupleTableSlot *slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rel),
												  &TTSOpsVirtual);

	direct_fill_slot(slot, values, isnull);
	return slot;
}

/*
 * Insert one row into rel, which the caller has opened with
 * RowExclusiveLock.  values[]/isnull[] are indexed by attribute number - 1
 * and cover every attribute of rel.
 */
void
PayconsDirectInsert(Relation rel, Datum *values, bool *isnull)
{
	EState	   *estate;
	ResultRelInfo *rri = direct_begin(rel, &estate, false);

	ExecSimpleRelationInsert(rri, estate,
							 direct_slot(estate, rel, values, isnull));
	direct_end(rri, estate);
}

/*
 * Insert one row into rel (as PayconsDirectInsert) unless a row with the
 * same key in one of its unique indexes exists, as INSERT ... ON CONFLICT
 * DO NOTHING does: returns false, having written nothing, if one does
 * (committed, or inserted by a transaction that committed while we waited
 * for it).  The protocol is the executor's: a pre-check, then a
 * speculative insertion that is confirmed, or undone and retried if a
 * concurrent insertion of the same key got in between.  No trigger fires.
 */
bool
PayconsDirectInsertUnique(Relation rel, Datum *values, bool *isnull)
{
	EState	   *estate;
	ResultRelInfo *rri = direct_begin(rel, &estate, true);
	TupleTableSlot *slot = direct_slot(estate, rel, values, isnull);
	bool		inserted = false;

	if (RelationGetDescr(rel)->constr != NULL)
		ExecConstraints(rri, slot, estate);

	for (;;)
	{
		ItemPointerData conflict_tid;
		uint32		token;
		bool		spec_conflict = false;
		List	   *recheck;

		/* waits for an in-progress inserter of the key, then looks again */
		if (!ExecCheckIndexConstraints(rri, slot, estate, &conflict_tid, NIL))
			break;

		token = SpeculativeInsertionLockAcquire(GetCurrentTransactionId());
		table_tuple_insert_speculative(rel, slot, GetCurrentCommandId(true),
									   0, NULL, token);
		recheck = ExecInsertIndexTuples(rri, slot, estate, false, true,
										&spec_conflict, NIL);
		table_tuple_complete_speculative(rel, slot, token, !spec_conflict);
		SpeculativeInsertionLockRelease(GetCurrentTransactionId());
		list_free(recheck);
		if (!spec_conflict)
		{
			inserted = true;
			break;
		}
		/* a concurrent insertion won the race: ours is undone; look again */
	}
	direct_end(rri, estate);
	return inserted;
}

/*
 * Replace the row version at *tid of rel (opened with RowExclusiveLock)
 * with values[]/isnull[] (as for PayconsDirectInsert), the way an UPDATE
 * does: constraints are checked, the new version is written (HOT if it can
 * be), and index entries are added if it is not HOT.  If the version was
 * changed or deleted by a transaction that committed meanwhile (after
 * waiting for it), nothing is written and TM_Updated or TM_Deleted is
 * returned.  Without wait, a version another transaction is changing or
 * has locked is left alone and TM_BeingModified returned (as SKIP LOCKED
 * would).  On TM_Ok *tid is set to the new version.  The caller makes the
 * write visible to later commands (CommandCounterIncrement).
 */
TM_Result
PayconsDirectUpdate(Relation rel, ItemPointer tid, Datum *values, bool *isnull,
					bool wait)
{
	PayconsDirectWriter *w = PayconsDirectWriterBegin(rel);
	TM_Result	result = PayconsDirectWriterUpdate(w, tid, values, isnull, wait);

	PayconsDirectWriterEnd(w);
	return result;
}

/*
 * The same, for many rows of one table: the executor state is made once
 * (PayconsDirectWriterBegin), used for each row (PayconsDirectWriterUpdate)
 * and freed at the end (PayconsDirectWriterEnd).
 */
struct PayconsDirectWriter
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
};

PayconsDirectWriter *
PayconsDirectWriterBegin(Relation rel)
{
	PayconsDirectWriter *w = palloc(sizeof(PayconsDirectWriter));

	w->rel = rel;
	w->rri = direct_begin(rel, &w->estate, false);
	w->slot = ExecInitExtraTupleSlot(w->estate, RelationGetDescr(rel),
									 &TTSOpsVirtual);
	return w;
}

TM_Result
PayconsDirectWriterUpdate(PayconsDirectWriter *w, ItemPointer tid,
						  Datum *values, bool *isnull, bool wait)
{
	Relation	rel = w->rel;
	TupleDesc	desc = RelationGetDescr(rel);
	TupleTableSlot *slot = w->slot;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool		update_indexes;
	TM_Result	result;

	direct_fill_slot(slot, values, isnull);
	if (desc->constr != NULL)
		ExecConstraints(w->rri, slot, w->estate);
	result = table_tuple_update(rel, tid, slot, GetCurrentCommandId(true),
								GetActiveSnapshot(), InvalidSnapshot,
								wait, &tmfd, &lockmode,
								&update_indexes);
	switch (result)
	{
		case TM_Ok:
			if (update_indexes && w->rri->ri_NumIndices > 0)
				list_free(ExecInsertIndexTuples(w->rri, slot, w->estate, true,
												false, NULL, NIL));
			*tid = slot->tts_tid;
			break;
		case TM_Updated:
		case TM_Deleted:
			break;
		case TM_BeingModified:
			if (wait)
				elog(ERROR, "table_tuple_update of %s returned \"being modified\" after waiting",
					 RelationGetRelationName(rel));
			break;
		case TM_SelfModified:
			elog(ERROR, "row of %s updated twice in one command",
				 RelationGetRelationName(rel));
			break;
		default:
			elog(ERROR, "unexpected table_tuple_update status %d for %s",
				 (int) result, RelationGetRelationName(rel));
	}
	ExecClearTuple(slot);
	ResetPerTupleExprContext(w->estate);
	return result;
}

void
PayconsDirectWriterEnd(PayconsDirectWriter *w)
{
	direct_end(w->rri, w->estate);
	pfree(w);
}
