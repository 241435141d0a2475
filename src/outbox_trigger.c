/*-------------------------------------------------------------------------
 *
 * outbox_trigger.c
 *	  paycons.outbox_trigger(): a generic AFTER row trigger that writes one
 *	  outbox event per inserted, updated or deleted row of any table.
 *
 * Arguments: aggregate type, key column [, event type [, column ...]].
 *
 *	- aggregate_type is the first argument; aggregate_id is the key column's
 *	  value (as text) in the new row, or the old row for DELETE.
 *	- The event type is, by default, "<aggregate type>.<op>" with op one of
 *	  created, updated, deleted.  A third argument without braces replaces
 *	  the prefix ("shop.item" gives shop.item.updated); with braces it is a
 *	  pattern in which {op} and {column} are replaced by the operation and
 *	  by a column's value ("order.{state}" gives order.paid).  An empty third
 *	  argument means the default.
 *	- The payload is the row as jsonb; with a column list, only those
 *	  columns, and an UPDATE that changes none of them emits nothing
 *	  ("changes" meaning a different stored value, as IS DISTINCT FROM for
 *	  the usual types).
 *
 * Like tcn.c and moddatetime.c, the trigger checks first how it was called.
 * On paycons's own tables it emits nothing for a row being restored
 * (restore.c): the restored outbox holds that row's events already.  On a
 * user's table it always emits.
 *
 * Events are written as the extension owner, so the trigger writes them
 * only for a table the owner allowed for that aggregate type (registry.c):
 * a table of the owner's (paycons.orders), or one listed by
 * paycons.allow_outbox_table(table, aggregate type).  Any other table's
 * rows are refused (PC024).  Each event's headers name the table and the
 * role that caused it (provenance.c).
 *
 * IDENTIFICATION
 *	  src/outbox_trigger.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "errcodes.h"
#include "outbox.h"
#include "provenance.h"
#include "registry.h"
#include "restore.h"

PG_FUNCTION_INFO_V1(paycons_outbox_trigger);

/*
 * Refuse a trigger created or called the wrong way.  As for any trigger
 * function (tcn.c, moddatetime.c), that is a trigger protocol violation.
 */
static void
outbox_trigger_misuse(const char *msg, Relation rel)
{
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("paycons.outbox_trigger() %s", msg),
			 rel ? errdetail("Trigger on table \"%s\".", RelationGetRelationName(rel)) : 0,
			 errhint("Use CREATE TRIGGER ... AFTER INSERT OR UPDATE OR DELETE ON t FOR EACH ROW EXECUTE FUNCTION paycons.outbox_trigger('aggregate type', 'key column' [, 'event type' [, 'column', ...]]).")));
}

/* Attribute number of a user column named by a trigger argument. */
static int
outbox_trigger_column(Relation rel, const char *name, const char *role)
{
	int			attnum = SPI_fnumber(RelationGetDescr(rel), name);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_OUTBOX_TRIGGER_COLUMN),
				 errmsg("%s \"%s\" of paycons.outbox_trigger() does not exist in table \"%s\"",
						role, name, RelationGetRelationName(rel))));
	return attnum;
}

/* A row (of type typid, RECORD if blessed) as jsonb, via to_jsonb(). */
static Jsonb *
outbox_row_to_jsonb(Datum row, Oid typid)
{
	FmgrInfo	flinfo;
	FuncExpr   *expr;

	/* to_jsonb is polymorphic: give it an expression to learn its type */
	fmgr_info(F_TO_JSONB, &flinfo);
	expr = makeFuncExpr(F_TO_JSONB, JSONBOID,
						list_make1(makeNullConst(typid, -1, InvalidOid)),
						InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	fmgr_info_set_expr((Node *) expr, &flinfo);
	return DatumGetJsonbP(FunctionCall1(&flinfo, row));
}

/*
 * Expand an event type pattern: {op} becomes the operation, {col} the
 * column's value in the row (text output; "null" for NULL).
 */
static char *
outbox_event_type(const char *pattern, const char *aggregate_type,
				  const char *op, Relation rel, HeapTuple tuple)
{
	StringInfoData buf;
	const char *p;

	initStringInfo(&buf);
	if (pattern == NULL || pattern[0] == '\0')
	{
		appendStringInfo(&buf, "%s.%s", aggregate_type, op);
		return buf.data;
	}
	if (strchr(pattern, '{') == NULL)
	{
		appendStringInfo(&buf, "%s.%s", pattern, op);
		return buf.data;
	}
	for (p = pattern; *p; p++)
	{
		const char *close;

		if (*p != '{' || (close = strchr(p, '}')) == NULL)
		{
			appendStringInfoChar(&buf, *p);
			continue;
		}
		else
		{
			char	   *name = pnstrdup(p + 1, close - p - 1);

			if (strcmp(name, "op") == 0)
				appendStringInfoString(&buf, op);
			else
			{
				int			attnum = outbox_trigger_column(rel, name,
														   "event type column");
				char	   *val = SPI_getvalue(tuple, RelationGetDescr(rel), attnum);

				appendStringInfoString(&buf, val ? val : "null");
			}
			p = close;
		}
	}
	return buf.data;
}

/*
 * The event of one row change, for a trigger with arguments args[0..nargs):
 * op is "created" (newtup only), "updated" (both) or "deleted" (oldtup
 * only).
 */
static void
outbox_row_event(Relation rel, int nargs, char **args, const char *op,
			   HeapTuple oldtup, HeapTuple newtup)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	HeapTuple	tuple = newtup != NULL ? newtup : oldtup;
	const char *aggregate_type;
	int			keyattnum;
	int			ncols;
	int		   *attnums = NULL;
	char	   *aggregate_id;
	char	   *event_type;
	Jsonb	   *payload;

	if (nargs < 2)
		outbox_trigger_misuse("needs at least two arguments: aggregate type and key column", rel);

	aggregate_type = args[0];
	if (aggregate_type[0] == '\0' || strlen(aggregate_type) > OUTBOX_MAX_TYPE)
		outbox_trigger_misuse("needs an aggregate type of 1 to 64 bytes", rel);
	keyattnum = outbox_trigger_column(rel, args[1], "key column");
	if (!PayconsOutboxTableAllowed(rel, aggregate_type))
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_OUTBOX_TABLE_NOT_ALLOWED),
				 errmsg("table \"%s\" may not write outbox events of aggregate type \"%s\"",
						RelationGetRelationName(rel), aggregate_type),
				 errdetail("paycons.outbox_trigger() writes events as the extension owner, who has not allowed this table for this aggregate type."),
				 errhint("Have the extension owner run paycons.allow_outbox_table() for the table and the aggregate type.")));

	/* The column list, if any. */
	ncols = nargs > 3 ? nargs - 3 : 0;
	if (ncols > 0)
	{
		attnums = palloc(sizeof(int) * ncols);
		for (int i = 0; i < ncols; i++)
			attnums[i] = outbox_trigger_column(rel, args[i + 3], "column");
	}

	/* An UPDATE that changes none of the listed columns emits nothing. */
	if (ncols > 0 && oldtup != NULL && newtup != NULL)
	{
		bool		changed = false;

		for (int i = 0; i < ncols && !changed; i++)
		{
			Form_pg_attribute att = TupleDescAttr(tupdesc, attnums[i] - 1);
			bool		oldnull,
						newnull;
			Datum		oldval = heap_getattr(oldtup, attnums[i], tupdesc, &oldnull);
			Datum		newval = heap_getattr(newtup, attnums[i], tupdesc, &newnull);

			if (oldnull != newnull)
				changed = true;
			else if (!oldnull &&
					 !datum_image_eq(oldval, newval, att->attbyval, att->attlen))
				changed = true;
		}
		if (!changed)
			return;
	}

	aggregate_id = SPI_getvalue(tuple, tupdesc, keyattnum);
	if (aggregate_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key column \"%s\" of table \"%s\" is null",
						args[1], RelationGetRelationName(rel)),
				 errdetail("paycons.outbox_trigger() needs the key to name the aggregate.")));
	if (aggregate_id[0] == '\0' || strlen(aggregate_id) > OUTBOX_MAX_AGGREGATE_ID)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("key \"%.32s\" of table \"%s\" is not a valid aggregate_id",
						aggregate_id, RelationGetRelationName(rel)),
				 errdetail("An aggregate_id has 1 to %d bytes; this one has %zu.",
						   OUTBOX_MAX_AGGREGATE_ID, strlen(aggregate_id))));

	event_type = outbox_event_type(nargs > 2 ? args[2] : NULL,
								   aggregate_type, op, rel, tuple);
	if (strlen(event_type) > OUTBOX_MAX_EVENT_TYPE)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("event type \"%.32s...\" is too long", event_type),
				 errdetail("The maximum is %d bytes.", OUTBOX_MAX_EVENT_TYPE)));

	/* The payload: the whole row, or a record of the listed columns. */
	if (ncols == 0)
		payload = outbox_row_to_jsonb(heap_copy_tuple_as_datum(tuple, tupdesc),
									  tupdesc->tdtypeid);
	else
	{
		TupleDesc	subdesc = CreateTemplateTupleDesc(ncols);
		Datum	   *values = palloc(sizeof(Datum) * ncols);
		bool	   *nulls = palloc(sizeof(bool) * ncols);
		HeapTuple	subtuple;

		for (int i = 0; i < ncols; i++)
		{
			TupleDescCopyEntry(subdesc, i + 1, tupdesc, attnums[i]);
			values[i] = heap_getattr(tuple, attnums[i], tupdesc, &nulls[i]);
		}
		subdesc = BlessTupleDesc(subdesc);
		subtuple = heap_form_tuple(subdesc, values, nulls);
		payload = outbox_row_to_jsonb(HeapTupleGetDatum(subtuple), RECORDOID);
	}
	OutboxCheckSize(payload, NULL);

	OutboxWrite(aggregate_type, aggregate_id, event_type, payload,
				PayconsEventOrigin(rel), GetCurrentTransactionStartTimestamp());
}

/*
 * paycons.outbox_trigger(): see the file header.  Returns NULL (the result
 * of an AFTER trigger is ignored).
 */
Datum
paycons_outbox_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Trigger    *trigger;
	Relation	rel;

	if (!CALLED_AS_TRIGGER(fcinfo))
		outbox_trigger_misuse("was not called by the trigger manager", NULL);
	rel = trigdata->tg_relation;
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		outbox_trigger_misuse("must be fired FOR EACH ROW", rel);
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		outbox_trigger_misuse("must be fired AFTER the change", rel);

	/* A restored paycons row has its events in the restored outbox. */
	if (PayconsRestoring(rel))
		return PointerGetDatum(NULL);

	trigger = trigdata->tg_trigger;
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		outbox_row_event(rel, trigger->tgnargs, trigger->tgargs, "created",
					   NULL, trigdata->tg_trigtuple);
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		outbox_row_event(rel, trigger->tgnargs, trigger->tgargs, "updated",
					   trigdata->tg_trigtuple, trigdata->tg_newtuple);
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		outbox_row_event(rel, trigger->tgnargs, trigger->tgargs, "deleted",
					   trigdata->tg_trigtuple, NULL);
	else
		outbox_trigger_misuse("must be fired by INSERT, UPDATE or DELETE", rel);

	return PointerGetDatum(NULL);
}
