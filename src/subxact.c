/*-------------------------------------------------------------------------
 *
 * subxact.c
 *	  Running one item of maintenance work in an internal subtransaction,
 *	  so that its failure is recorded instead of aborting the whole pass.
 *
 * The shape is that of PL/pgSQL's exception blocks (exec_stmt_block):
 * BeginInternalSubTransaction, run, ReleaseCurrentSubTransaction on success
 * or RollbackAndReleaseCurrentSubTransaction on error, restoring the memory
 * context and resource owner of the caller either way.  A query cancel is
 * not swallowed: it is re-thrown after the rollback, as PL/pgSQL's
 * "WHEN OTHERS" does not catch it either.
 *
 * IDENTIFICATION
 *	  src/subxact.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "subxact.h"

/*
 * Run fn(arg) in a subtransaction.  Returns true if it succeeded (its work
 * is kept); false if it raised an error, in which case its work is rolled
 * back and *error receives a copy of the error, allocated in the caller's
 * memory context.  The caller may be connected to SPI: connections opened
 * by fn are closed by the subtransaction's end.
 */
bool
PayconsTryItem(PayconsItemFn fn, void *arg, ErrorData **error)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = false;

	*error = NULL;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);

	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		ok = true;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();

		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;

		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
		*error = edata;
	}
	PG_END_TRY();

	return ok;
}
