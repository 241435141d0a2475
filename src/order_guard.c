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
 * A row that a restore brings back (the extension owner's COPY
 * paycons.<table> FROM STDIN, see restore.c) is let in as it was stored,
 * in whatever state, and no history is written for it: the restored
 * order_history has it.
 *
 * paycons.orders carries it three times: paycons_guard (BEFORE) and
 * paycons_history_insert / paycons_history_update (AFTER, the latter only
 * when the state changed).  A user's own table needs only the AFTER trigger
 * to be safe.
 *
 * History is written as the extension owner, so the guard writes it only
 * for a table the owner allowed (registry.c): one of the owner's own, or
 * one listed by paycons.allow_guarded_table().  On any other table the
 * guard with a key column refuses every row (PC023); without a key column
 * it checks the state machine and writes nothing, which is always allowed.
 *
 * On paycons.orders a legal change must also satisfy the money rules
 * (money_edges.c): an edge that claims money moved is taken only by
 * paycons's money paths or forced by the owner with a reason, and the
 * history row of a forced one says so.
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
#include "executor/spi.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "errcodes.h"
#include "money_edges.h"
#include "order_history.h"
#include "order_state.h"
#include "registry.h"
#include "restore.h"

PG_FUNCTION_INFO_V1(paycons_order_guard);

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
static void
guard_check_transition(Relation rel, const char *key, OrderState from,
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
	bool		forced = false;

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

	/* A restored row comes back as it was stored, with no new history. */
	if (is_insert && PayconsRestoring(rel))
		return PointerGetDatum(before ? trigdata->tg_trigtuple : NULL);

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
			guard_check_transition(rel, key, oldstate, newstate);
			forced = PayconsCheckMoneyEdge(rel, newtup, oldstate, newstate);
		}
	}

	if (!before)
	{
		if (key != NULL)
		{
			if (!PayconsHistoryAllowed(rel))
				ereport(ERROR,
						(errcode(ERRCODE_PAYCONS_HISTORY_NOT_ALLOWED),
						 errmsg("table \"%s\" may not write paycons.order_history",
								RelationGetRelationName(rel)),
						 errdetail("Trigger \"%s\" names key column \"%s\", so it would record the change of order \"%s\" as the extension owner, who has not allowed this table.",
								   trigger->tgname, keycol, key),
						 errhint("Drop the key column argument to use the guard for state checks only, or have the extension owner run paycons.allow_guarded_table() for the table.")));
			PayconsWriteHistory(rel, key, have_old ? &oldstate : NULL, newstate,
								forced);
		}
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
