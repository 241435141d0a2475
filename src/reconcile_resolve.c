/*-------------------------------------------------------------------------
 *
 * reconcile_resolve.c
 *	  paycons.resolve_diff(): an operator settles a difference that
 *	  statement reconciliation recorded in paycons.reconciliation_diffs.
 *
 * The diff is marked resolved with the operator's resolution (one of a
 * fixed set), note and name; nothing else changes (an order in
 * needs_review is settled by resolve_review, money by callbacks).  It runs
 * as the extension owner, so an operator role needs EXECUTE only;
 * resolved_by records the role that called, not the owner.
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

/* Longest note accepted, in bytes (documented in doc/reconciliation.md) */
#define RESOLVE_MAX_NOTE	1000

/* The resolutions an operator may give */
static const char *const resolve_resolutions[] = {
	"accepted", "corrected", "refunded", "written_off", "false_positive"
};

static PayconsPlan resolve_lock = {
	"SELECT resolved_at, resolution FROM paycons.reconciliation_diffs"
	" WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
	1, {INT8OID}, 0, NULL
};

static PayconsPlan resolve_update = {
	"UPDATE paycons.reconciliation_diffs"
	" SET resolved_at = pg_catalog.now(), resolution = $2, resolution_note = $3,"
	" resolved_by = $4"
	" WHERE id OPERATOR(pg_catalog.=) $1 RETURNING *",
	4, {INT8OID, TEXTOID, TEXTOID, TEXTOID}, 0, NULL
};

typedef struct ResolveDiff
{
	FunctionCallInfo fcinfo;
	int64		id;
	const char *resolution;
	const char *note;			/* may be NULL */
	Datum		result;
} ResolveDiff;

static void
resolve_work(void *arg, MemoryContext caller)
{
	ResolveDiff *r = (ResolveDiff *) arg;
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	bool		isnull;

	values[0] = Int64GetDatum(r->id);
	PayconsExecPlan(&resolve_lock, values, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_STMT_DIFF_NOT_FOUND),
				 errmsg("reconciliation difference " INT64_FORMAT " does not exist",
						r->id)));
	(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_STMT_DIFF_RESOLVED),
				 errmsg("reconciliation difference " INT64_FORMAT " is already resolved",
						r->id),
				 errdetail("It was resolved at %s: %s.",
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2))));

	values[1] = CStringGetTextDatum(r->resolution);
	if (r->note != NULL)
		values[2] = CStringGetTextDatum(r->note);
	else
		nulls[2] = 'n';
	values[3] = CStringGetTextDatum(GetUserNameFromId(PayconsActor(), false));
	PayconsExecPlan(&resolve_update, values, nulls, 0);
	r->result = PayconsReturnRow(r->fcinfo, caller);
}

/*
 * paycons.resolve_diff(id, resolution, note) -> paycons.reconciliation_diffs
 *
 * resolution: accepted, corrected, refunded, written_off or false_positive
 * (PC167 otherwise); note: up to 1000 bytes (22001).  PC165 if there is no
 * such difference, PC166 if it is resolved already.
 */
Datum
paycons_resolve_diff(PG_FUNCTION_ARGS)
{
	ResolveDiff r;
	bool		known = false;

	PayconsRequireArg(fcinfo, 0, "id");
	PayconsRequireArg(fcinfo, 1, "resolution");
	r.fcinfo = fcinfo;
	r.id = PG_GETARG_INT64(0);
	r.resolution = text_to_cstring(PG_GETARG_TEXT_PP(1));
	for (size_t i = 0; i < lengthof(resolve_resolutions); i++)
		if (strcmp(r.resolution, resolve_resolutions[i]) == 0)
			known = true;
	if (!known)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_STMT_UNKNOWN_RESOLUTION),
				 errmsg("unknown resolution \"%s\"", r.resolution),
				 errhint("Use accepted, corrected, refunded, written_off or false_positive.")));
	r.note = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (r.note != NULL && strlen(r.note) > RESOLVE_MAX_NOTE)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("the note of reconciliation difference " INT64_FORMAT " is too long",
						r.id),
				 errdetail("It has %zu bytes; the maximum is %d.", strlen(r.note),
						   RESOLVE_MAX_NOTE)));
	PayconsAsOwner(NULL, resolve_work, &r);
	return r.result;
}
