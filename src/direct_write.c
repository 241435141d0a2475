/*-------------------------------------------------------------------------
 *
 * direct_insert.c
 *	  Inserting a row into one of our own tables without SQL: the executor's
 *	  simple-insert path, as logical replication's apply worker uses it.
 *
 * The outbox writer and the order history writer call this from row
 * triggers, where parsing, planning and starting an SPI statement per row
 * would cost more than the insert itself.  CHECK and NOT NULL constraints
 * are checked and indexes maintained as for any INSERT; column defaults are
 * not applied (the caller sets every column it needs) and no privilege is
 * checked (the callers are the extension's own code).
 *
 * IDENTIFICATION
 *	  src/direct_insert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "nodes/makefuncs.h"
#include "utils/rel.h"

#include "paycons.h"

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
 * Insert one row into rel, which the caller has opened with
 * RowExclusiveLock.  values[]/isnull[] are indexed by attribute number - 1
 * and cover every attribute of rel.
 */
void
PayconsDirectInsert(Relation rel, Datum *values, bool *isnull)
{
	TupleDesc	desc = RelationGetDescr(rel);
	EState	   *estate;
	RangeTblEntry *rte;
	ResultRelInfo *rri;
	TupleTableSlot *slot;

	estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(estate, list_make1(rte));
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);

	slot = ExecInitExtraTupleSlot(estate, desc, &TTSOpsVirtual);
	ExecClearTuple(slot);
	memcpy(slot->tts_values, values, sizeof(Datum) * desc->natts);
	memcpy(slot->tts_isnull, isnull, sizeof(bool) * desc->natts);
	ExecStoreVirtualTuple(slot);

	ExecSimpleRelationInsert(rri, estate, slot);

	ExecCloseIndices(rri);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
}
