/*-------------------------------------------------------------------------
 *
 * spi_plans.c
 *	  Kept SPI plans and the conversion of an SPI result row into the
 *	  composite value a SQL function returns.
 *
 * Plans are prepared on first use, kept with SPI_keepplan for the life of
 * the backend, and re-prepared if SPI_plan_is_valid says they went stale.
 * Values are always passed as $n parameters, never pasted into SQL text.
 *
 * IDENTIFICATION
 *	  src/spi_plans.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"

#include "paycons.h"

/* Prepare (or re-prepare) a plan; the caller must be connected to SPI. */
static SPIPlanPtr
spi_plans_get(PayconsPlan *p)
{
	if (p->plan != NULL && !SPI_plan_is_valid(p->plan))
	{
		SPI_freeplan(p->plan);
		p->plan = NULL;
	}
	if (p->plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(p->sql, p->nargs, p->argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 p->sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		p->plan = plan;
	}
	return p->plan;
}

/*
 * Run a kept plan; returns the SPI result code.  Any negative code is an
 * internal error (the SQL is ours), reported with elog.
 */
int
PayconsExecPlan(PayconsPlan *p, Datum *values, const char *nulls,
				bool read_only, long tcount)
{
	int			rc;

	rc = SPI_execute_plan(spi_plans_get(p), values, nulls, read_only, tcount);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed for \"%s\": %s",
			 p->sql, SPI_result_code_string(rc));
	return rc;
}

/*
 * Return the first row of SPI_tuptable as this function's composite result.
 * The row is re-formed with the function's declared result descriptor in
 * the "upper" memory context (the one current before SPI_connect), so it
 * survives SPI_finish.  The SQL must select the columns of the result type
 * in order (RETURNING * of the table whose row type the function returns).
 */
Datum
PayconsReturnRow(FunctionCallInfo fcinfo, MemoryContext upper)
{
	TupleDesc	spidesc = SPI_tuptable->tupdesc;
	HeapTuple	spitup = SPI_tuptable->vals[0];
	TupleDesc	resdesc;
	MemoryContext oldcxt;
	Datum	   *values;
	bool	   *nulls;
	HeapTuple	result;

	oldcxt = MemoryContextSwitchTo(upper);
	if (get_call_result_type(fcinfo, NULL, &resdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "function returning a row called in a context that cannot accept it");
	resdesc = BlessTupleDesc(resdesc);
	if (resdesc->natts != spidesc->natts)
		elog(ERROR, "result row has %d columns, expected %d",
			 spidesc->natts, resdesc->natts);

	values = palloc(sizeof(Datum) * resdesc->natts);
	nulls = palloc(sizeof(bool) * resdesc->natts);
	heap_deform_tuple(spitup, spidesc, values, nulls);
	result = heap_form_tuple(resdesc, values, nulls);
	MemoryContextSwitchTo(oldcxt);

	return HeapTupleGetDatum(result);
}
