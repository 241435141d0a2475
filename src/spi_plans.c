/*-------------------------------------------------------------------------
 *
 * spi_plans.c
 *	  Kept SPI plans, the one runner of them, and the conversion of an SPI
 *	  result row into the composite value a SQL function returns.
 *
 * Plans are prepared on first use with the plan's cursor options (generic
 * for the probes of primary keys on the hot paths, where planning would
 * cost more than running), kept with SPI_keepplan for the life of the
 * backend, and re-prepared if SPI_plan_is_valid says they went stale, as
 * ri_triggers.c does.  Values are always passed as $n parameters, never
 * pasted into SQL text.
 *
 * IDENTIFICATION
 *	  src/spi_plans.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_rewrite.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "as_owner.h"
#include "spi_plans.h"

/*
 * An INSERT ... ON CONFLICT into a table of ours failed to plan because the
 * DBA put an INSERT or UPDATE rule on the table (PostgreSQL refuses ON
 * CONFLICT there).  paycons writes those rows exactly once through ON
 * CONFLICT, so it cannot honour such a rule: say so, naming the rules.
 */
static void
spi_plans_refuse_rules(const PayconsPlan *p)
{
	const char *into = strstr(p->sql, "INSERT INTO paycons.");
	char		relname[NAMEDATALEN];
	size_t		len;
	Oid			relid;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	StringInfoData rules;

	if (into == NULL)
		return;
	into += strlen("INSERT INTO paycons.");
	len = strcspn(into, " (");
	if (len == 0 || len >= NAMEDATALEN)
		return;
	memcpy(relname, into, len);
	relname[len] = '\0';
	relid = get_relname_relid(relname, PayconsSchemaOid());
	if (!OidIsValid(relid))
		return;
	/* the INSERT and UPDATE rules of the table, by name, from pg_rewrite */
	initStringInfo(&rules);
	rel = table_open(RewriteRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_rewrite_ev_class, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, RewriteRelRulenameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_rewrite r = (Form_pg_rewrite) GETSTRUCT(tup);

		if (r->ev_type != '0' + CMD_INSERT && r->ev_type != '0' + CMD_UPDATE)
			continue;
		appendStringInfo(&rules, "%s\"%s\"", rules.len > 0 ? ", " : "",
						 NameStr(r->rulename));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (rules.len == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("paycons cannot honour rule %s on table paycons.%s",
					rules.data, relname),
			 errdetail("paycons writes this table exactly once with INSERT ... ON CONFLICT, which PostgreSQL does not allow on a table with INSERT or UPDATE rules."),
			 errhint("Drop the rule; a trigger can do what it did.")));
}

/* The kept plan of p, prepared (again) if needed; SPI must be connected. */
SPIPlanPtr
PayconsPlanGet(PayconsPlan *p)
{
	if (p->plan != NULL && !SPI_plan_is_valid(p->plan))
	{
		SPI_freeplan(p->plan);
		p->plan = NULL;
	}
	if (p->plan == NULL)
	{
		MemoryContext cxt = CurrentMemoryContext;
		volatile SPIPlanPtr plan = NULL;

		PG_TRY();
		{
			plan = SPI_prepare_cursor(p->sql, p->nargs, p->argtypes,
									  p->cursor_options);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			if (edata->sqlerrcode != ERRCODE_FEATURE_NOT_SUPPORTED ||
				strstr(p->sql, " ON CONFLICT ") == NULL)
				PG_RE_THROW();
			FlushErrorState();
			spi_plans_refuse_rules(p);
			ReThrowError(edata);
		}
		PG_END_TRY();

		if (plan == NULL)
			elog(ERROR, "SPI_prepare_cursor failed for \"%s\": %s",
				 p->sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed for \"%s\"", p->sql);
		p->plan = plan;
	}
	return p->plan;
}

/*
 * Run a kept plan (read-write, as the current snapshot rules of SPI say);
 * returns the SPI result code.  Any negative code is an internal error (the
 * SQL is ours), reported with elog.
 */
int
PayconsExecPlan(PayconsPlan *p, Datum *values, const char *nulls, long tcount)
{
	int			rc;

	rc = SPI_execute_plan(PayconsPlanGet(p), values, nulls, false, tcount);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed for \"%s\": %s",
			 p->sql, SPI_result_code_string(rc));
	return rc;
}

/*
 * Return the first row of SPI_tuptable as this function's composite result.
 * Each column of the function's declared result type is taken from the SPI
 * column of the same name (NULL if the SPI row has none; dropped columns
 * are skipped), so the result follows the table's row type whatever ALTER
 * TABLE did to it, and the order of the SELECT list does not matter.  The
 * row is formed in the "caller" memory context (the one current before
 * SPI_connect), so it survives SPI_finish.
 */
Datum
PayconsReturnRow(FunctionCallInfo fcinfo, MemoryContext caller)
{
	TupleDesc	spidesc = SPI_tuptable->tupdesc;
	HeapTuple	spitup = SPI_tuptable->vals[0];
	TupleDesc	resdesc;
	MemoryContext oldcxt;
	Datum	   *values;
	bool	   *nulls;
	HeapTuple	result;

	oldcxt = MemoryContextSwitchTo(caller);
	if (get_call_result_type(fcinfo, NULL, &resdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "function returning a row called in a context that cannot accept it");
	resdesc = BlessTupleDesc(resdesc);

	values = palloc(sizeof(Datum) * resdesc->natts);
	nulls = palloc(sizeof(bool) * resdesc->natts);
	for (int i = 0; i < resdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(resdesc, i);
		int			col;

		values[i] = (Datum) 0;
		nulls[i] = true;
		if (att->attisdropped)
			continue;
		col = SPI_fnumber(spidesc, NameStr(att->attname));
		if (col <= 0)
			continue;
		if (TupleDescAttr(spidesc, col - 1)->atttypid != att->atttypid)
			elog(ERROR, "column \"%s\" of the result has type %u, expected %u",
				 NameStr(att->attname),
				 TupleDescAttr(spidesc, col - 1)->atttypid, att->atttypid);
		values[i] = SPI_getbinval(spitup, spidesc, col, &nulls[i]);
	}
	result = heap_form_tuple(resdesc, values, nulls);
	MemoryContextSwitchTo(oldcxt);

	return HeapTupleGetDatum(result);
}

/*
 * The blessed result row descriptor of a function returning a composite,
 * made once per call site and kept in fn_extra (fn_mcxt lives as long as
 * the call site).
 */
TupleDesc
PayconsResultDesc(FunctionCallInfo fcinfo)
{
	TupleDesc	desc = (TupleDesc) fcinfo->flinfo->fn_extra;

	if (desc == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "function returning a row called in a context that cannot accept it");
		desc = BlessTupleDesc(CreateTupleDescCopy(desc));
		MemoryContextSwitchTo(oldcxt);
		fcinfo->flinfo->fn_extra = desc;
	}
	return desc;
}
