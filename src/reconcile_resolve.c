/*-------------------------------------------------------------------------
 *
 * reconcile_resolve.c
 *	  paycons.resolve_diff(): an operator settles a difference that
 *	  statement reconciliation recorded in paycons.reconciliation_diffs.
 *
 * The diff is marked resolved with the operator's note and name; nothing
 * else changes (an order in needs_review is settled by review resolution,
 * money by callbacks).  It runs as the extension owner, so an operator
 * role needs EXECUTE only; resolved_by records the role that called.
 *
 * IDENTIFICATION
 *	  src/reconcile_resolve.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "as_owner.h"
#include "errcodes.h"
#include "spi_plans.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(paycons_resolve_diff);

/* Longest resolution note accepted, in bytes (documented in doc/reconciliation.md) */
#define RESOLVE_MAX_NOTE	1000

static PayconsPlan resolve_lock = {
	"SELECT resolved_at IS NOT NULL FROM paycons.reconciliation_diffs"
	" WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
	1, {INT8OID}, 0, NULL
};

static PayconsPlan resolve_update = {
	"UPDATE paycons.reconciliation_diffs"
	" SET resolved_at = pg_catalog.now(), resolution = $2, resolved_by = $3"
	" WHERE id OPERATOR(pg_catalog.=) $1 RETURNING *",
	3, {INT8OID, TEXTOID, TEXTOID}, 0, NULL
};

typedef struct ResolveDiff
{
	FunctionCallInfo fcinfo;
	int64		id;
	char	   *resolution;
	Datum		result;
} ResolveDiff;

static void
resolve_work(void *arg, MemoryContext caller)
{
	ResolveDiff *r = (ResolveDiff *) arg;
	Datum		values[3];
	bool		isnull;

	values[0] = Int64GetDatum(r->id);
	PayconsExecPlan(&resolve_lock, values, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_DIFF_NOT_FOUND),
				 errmsg("reconciliation difference " INT64_FORMAT " does not exist",
						r->id)));
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
								   SPI_tuptable->tupdesc, 1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_DIFF_RESOLVED),
				 errmsg("reconciliation difference " INT64_FORMAT " is resolved already",
						r->id),
				 errhint("Its resolution and resolved_at say how and when.")));

	values[1] = CStringGetTextDatum(r->resolution);
	values[2] = CStringGetTextDatum(GetUserNameFromId(PayconsActor(), false));
	PayconsExecPlan(&resolve_update, values, NULL, 0);
	r->result = PayconsReturnRow(r->fcinfo, caller);
}

/*
 * paycons.resolve_diff(id, resolution) -> paycons.reconciliation_diffs
 *
 * Marks an open difference resolved: resolved_at now, the note in
 * resolution, the calling role in resolved_by.  PC027 if there is no such
 * difference, PC028 if it is resolved already; the note must not be empty
 * (22023) nor longer than 1000 bytes (22001).
 */
Datum
paycons_resolve_diff(PG_FUNCTION_ARGS)
{
	ResolveDiff r;
	size_t		len;

	PayconsRequireArg(fcinfo, 0, "id");
	PayconsRequireArg(fcinfo, 1, "resolution");
	r.fcinfo = fcinfo;
	r.id = PG_GETARG_INT64(0);
	r.resolution = text_to_cstring(PG_GETARG_TEXT_PP(1));
	len = strlen(r.resolution);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the resolution of reconciliation difference " INT64_FORMAT " must not be empty",
						r.id),
				 errhint("Say what was done about it.")));
	if (len > RESOLVE_MAX_NOTE)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("the resolution of reconciliation difference " INT64_FORMAT " is too long",
						r.id),
				 errdetail("It has %zu bytes; the maximum is %d.", len,
						   RESOLVE_MAX_NOTE)));
	PayconsAsOwner(NULL, resolve_work, &r);
	return r.result;
}
