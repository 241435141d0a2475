/*-------------------------------------------------------------------------
 *
 * order_guard.c
 *	  paycons.order_guard(): the trigger that makes an illegal change of an
 *	  order_state column impossible by any path, and records every legal
 *	  change in paycons.order_history.
 *
 * Use it as a row trigger on INSERT OR UPDATE, BEFORE or AFTER or both.
 * Arguments:
 *	 1. the name of the order_state column (default "state");
 *	 2. optionally, the name of the key column: when given, the AFTER trigger
 *		writes each change to paycons.order_history with the key's text as
 *		order_id.
 * Both timings refuse what is illegal: an INSERT must start in state
 * "created"; an UPDATE that changes the state must follow an edge of the
 * state machine (see order_state.c); an UPDATE that leaves the state alone
 * passes.  The BEFORE trigger also stamps a timestamptz column
 * "state_changed_at", if the table has one, on each change.  History is
 * written AFTER the row, so that an INSERT ... ON CONFLICT DO NOTHING that
 * inserts nothing writes no history, and so that the final values (after
 * any other BEFORE trigger) are the ones checked and recorded.
 *
 * paycons.orders carries it three times: paycons_guard (BEFORE) and
 * paycons_history_insert / paycons_history_update (AFTER, the latter only
 * when the state changed).  A user's own table needs only the AFTER trigger
 * to be safe.
 *
 * IDENTIFICATION
 *	  src/order_guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "access/table.h"
#include "access/xact.h"
#include "commands/sequence.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/xid8.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "paycons.h"

PG_FUNCTION_INFO_V1(paycons_order_guard);

/*
 * order_history is written with a direct insert (direct_insert.c), not SQL:
 * the AFTER trigger runs for every state change, on the hot path of
 * apply_callback.  Its relation, sequence and column numbers are looked up
 * once and forgotten on any relcache invalidation of them; the qualified
 * name of the last guarded table is kept the same way.
 */
typedef enum HistoryColumn
{
	HC_ID,
	HC_ORDER_ID,
	HC_TABLE_NAME,
	HC_FROM_STATE,
	HC_TO_STATE,
	HC_AT,
	HC_REASON,
	HC_ACTOR,
	HC_TXID,
	HC_NCOLS
} HistoryColumn;

static const char *const history_colnames[HC_NCOLS] = {
	"id", "order_id", "table_name", "from_state", "to_state", "at",
	"reason", "actor", "txid"
};

typedef struct HistoryCache
{
	bool		valid;
	Oid			relid;			/* paycons.order_history */
	Oid			seqid;			/* paycons.order_history_id_seq */
	AttrNumber	attnum[HC_NCOLS];
	Oid			guarded_relid;	/* the table whose name is cached below */
	char		guarded_name[2 * NAMEDATALEN + 8];
} HistoryCache;

static HistoryCache history_cache;
static bool history_callback_registered = false;

static void
history_relcache_inval(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == history_cache.relid ||
		relid == history_cache.seqid)
		history_cache.valid = false;
	if (!OidIsValid(relid) || relid == history_cache.guarded_relid)
		history_cache.guarded_relid = InvalidOid;
}

/* The schema-qualified name of a guarded table, as history records it */
static const char *
history_table_name(Relation rel)
{
	if (history_cache.guarded_relid != RelationGetRelid(rel))
	{
		char	   *name;

		name = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
										  RelationGetRelationName(rel));
		strlcpy(history_cache.guarded_name, name,
				sizeof(history_cache.guarded_name));
		history_cache.guarded_relid = RelationGetRelid(rel);
	}
	return history_cache.guarded_name;
}

/*
 * Write one order_history row for a change of a row of rel (from is NULL
 * for a new row).  Also called by the order hub's direct state change
 * (order_write.c), which does what the AFTER trigger would.
 */
void
PayconsWriteHistory(Relation rel, const char *key, const OrderState *from,
					OrderState to)
{
	const char *reason = PayconsReason();
	const char *table_name;
	Relation	hist;
	Datum	   *values;
	bool	   *isnull;
	int			natts;

	if (!history_callback_registered)
	{
		CacheRegisterRelcacheCallback(history_relcache_inval, (Datum) 0);
		history_callback_registered = true;
	}
	table_name = history_table_name(rel);
	if (!history_cache.valid)
	{
		Oid			nsp = PayconsSchemaOid();

		history_cache.relid = get_relname_relid("order_history", nsp);
		history_cache.seqid = get_relname_relid("order_history_id_seq", nsp);
		if (!OidIsValid(history_cache.relid) || !OidIsValid(history_cache.seqid))
			elog(ERROR, "paycons.order_history or its sequence does not exist");
	}

	hist = table_open(history_cache.relid, RowExclusiveLock);
	if (!history_cache.valid)
	{
		PayconsColumnAttnums(hist, history_colnames, HC_NCOLS,
							 history_cache.attnum);
		history_cache.valid = true;
	}

	natts = RelationGetDescr(hist)->natts;
	values = palloc(sizeof(Datum) * natts);
	isnull = palloc(sizeof(bool) * natts);
	memset(isnull, true, sizeof(bool) * natts);

#define HC_SET(col, datum) \
	do { \
		values[history_cache.attnum[col] - 1] = (datum); \
		isnull[history_cache.attnum[col] - 1] = false; \
	} while (0)

	HC_SET(HC_ID, Int64GetDatum(nextval_internal(history_cache.seqid, false)));
	HC_SET(HC_ORDER_ID, CStringGetTextDatum(key));
	HC_SET(HC_TABLE_NAME, CStringGetTextDatum(table_name));
	if (from != NULL)
		HC_SET(HC_FROM_STATE, OrderStateGetDatum(*from));
	HC_SET(HC_TO_STATE, OrderStateGetDatum(to));
	HC_SET(HC_AT, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
	if (reason != NULL)
		HC_SET(HC_REASON, CStringGetTextDatum(reason));
	HC_SET(HC_ACTOR, CStringGetTextDatum(GetUserNameFromId(PayconsActor(), false)));
	HC_SET(HC_TXID, FullTransactionIdGetDatum(GetTopFullTransactionId()));
#undef HC_SET

	PayconsDirectInsert(hist, values, isnull);
	pfree(values);
	pfree(isnull);
	table_close(hist, NoLock);
}

/* Find a column by name; error if absent or, when typid is valid, of another type. */
static int
guard_column(Relation rel, const char *colname, Oid typid, const char *trigname)
{
	int			attnum = SPI_fnumber(RelationGetDescr(rel), colname);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" named by trigger \"%s\" does not exist in table \"%s\"",
						colname, trigname, RelationGetRelationName(rel))));
	if (OidIsValid(typid) &&
		TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid != typid)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of table \"%s\" is not of type paycons.order_state",
						colname, RelationGetRelationName(rel)),
				 errhint("Trigger \"%s\" guards a column of type paycons.order_state.",
						 trigname)));
	return attnum;
}

/*
 * Refuse an illegal change of state from -> to of the row "key" (may be
 * NULL) of rel, with the error every path reports.
 */
void
PayconsCheckTransition(Relation rel, const char *key, OrderState from,
					   OrderState to)
{
	if (!OrderStateCanTransition(from, to))
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_ILLEGAL_TRANSITION),
				 errmsg("illegal order state transition from \"%s\" to \"%s\"",
						OrderStateName(from), OrderStateName(to)),
				 key ? errdetail("Order \"%s\" in table \"%s\" is in state \"%s\".",
								 key, RelationGetRelationName(rel),
								 OrderStateName(from)) : 0,
				 errhint("Legal transitions from \"%s\": %s.",
						 OrderStateName(from), OrderStateLegalTargets(from))));
}

Datum
paycons_order_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Trigger    *trigger;
	Relation	rel;
	TupleDesc	tupdesc;
	const char *statecol = "state";
	const char *keycol = NULL;
	int			stateattnum;
	HeapTuple	newtup;
	Datum		newval;
	bool		newnull;
	OrderState	newstate;
	OrderState	oldstate = OS_CREATED;
	bool		have_old = false;
	bool		is_insert;
	bool		before;
	char	   *key = NULL;
	int			changedattnum;

	/* Check how we were called, first. */
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("paycons.order_guard() was not called by the trigger manager")));
	trigger = trigdata->tg_trigger;
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_INSTEAD(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" must be a BEFORE or AFTER ... FOR EACH ROW trigger",
						trigger->tgname),
				 errhint("Create it as AFTER INSERT OR UPDATE ... FOR EACH ROW EXECUTE FUNCTION paycons.order_guard('state', 'key_column').")));
	before = TRIGGER_FIRED_BEFORE(trigdata->tg_event);
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		is_insert = true;
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		is_insert = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" must fire on INSERT or UPDATE only",
						trigger->tgname)));
	if (trigger->tgnargs > 2)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" takes at most two arguments, got %d",
						trigger->tgname, trigger->tgnargs),
				 errhint("Arguments: the order_state column, then optionally the key column.")));
	if (trigger->tgnargs >= 1)
		statecol = trigger->tgargs[0];
	if (trigger->tgnargs == 2)
		keycol = trigger->tgargs[1];

	rel = trigdata->tg_relation;
	tupdesc = RelationGetDescr(rel);
	stateattnum = guard_column(rel, statecol, OrderStateTypeOid(),
							   trigger->tgname);
	if (keycol != NULL)
		guard_column(rel, keycol, InvalidOid, trigger->tgname);

	newtup = is_insert ? trigdata->tg_trigtuple : trigdata->tg_newtuple;
	newval = heap_getattr(newtup, stateattnum, tupdesc, &newnull);
	if (newnull)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("order state column \"%s\" of table \"%s\" must not be null",
						statecol, RelationGetRelationName(rel))));
	newstate = DatumGetOrderState(newval);

	if (keycol != NULL)
		key = SPI_getvalue(newtup, tupdesc, SPI_fnumber(tupdesc, keycol));

	if (is_insert)
	{
		if (newstate != OS_CREATED)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_INVALID_INITIAL_STATE),
					 errmsg("a new order must start in state \"created\", not \"%s\"",
							OrderStateName(newstate)),
					 key ? errdetail("Order \"%s\" in table \"%s\".",
									 key, RelationGetRelationName(rel)) : 0));
	}
	else
	{
		bool		oldnull;
		Datum		oldval = heap_getattr(trigdata->tg_trigtuple, stateattnum,
										  tupdesc, &oldnull);

		/* a NULL old state can only exist from before the trigger was added */
		if (!oldnull)
		{
			oldstate = DatumGetOrderState(oldval);
			have_old = true;
			if (oldstate == newstate)
				return PointerGetDatum(before ? newtup : NULL); /* untouched */
			PayconsCheckTransition(rel, key, oldstate, newstate);
		}
	}

	if (!before)
	{
		if (key != NULL)
			PayconsWriteHistory(rel, key, have_old ? &oldstate : NULL, newstate);
		return PointerGetDatum(NULL);	/* ignored for AFTER triggers */
	}

	/* BEFORE: stamp state_changed_at, if the table has it. */
	changedattnum = SPI_fnumber(tupdesc, "state_changed_at");
	if (changedattnum > 0 &&
		TupleDescAttr(tupdesc, changedattnum - 1)->atttypid == TIMESTAMPTZOID)
	{
		Datum		stamp = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		bool		isnull = false;

		newtup = heap_modify_tuple_by_cols(newtup, tupdesc, 1, &changedattnum,
										   &stamp, &isnull);
	}

	return PointerGetDatum(newtup);
}
