/*-------------------------------------------------------------------------
 *
 * order_history.c
 *	  The one writer of paycons.order_history: one row per state change of
 *	  a guarded order (from_state NULL for the creation), written by the
 *	  guard trigger's AFTER firing.
 *
 * The row is written with an ordinary INSERT (a kept SPI plan) run as the
 * extension owner, so whatever the DBA has put on order_history -- a
 * trigger of their own, a rule, a constraint, a column added with a
 * default -- applies to it as to any INSERT.  The actor recorded is the
 * role that asked for the change (the API's caller, see as_owner.c), not
 * the owner the INSERT runs as; the reason is the API's argument or
 * paycons.reason; table_name the guarded table; forced is true for a money
 * edge that the owner forced without money facts (money_edges.c).  With
 * actor and table_name every row names who and what caused it.
 *
 * IDENTIFICATION
 *	  src/order_history.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "nodes/parsenodes.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "as_owner.h"
#include "order_history.h"
#include "spi_plans.h"

static PayconsPlan history_insert = {
	"INSERT INTO paycons.order_history"
	" (order_id, table_name, from_state, to_state, at, reason, actor, txid, forced)"
	" VALUES ($1, $2, $3::paycons.order_state, $4::paycons.order_state,"
	" $5, $6, $7, $8, $9)",
	9, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, XID8OID,
	BOOLOID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

typedef struct HistoryRow
{
	Datum		values[9];
	char		nulls[9];
} HistoryRow;

static void
history_write_work(void *arg, MemoryContext caller)
{
	HistoryRow *h = (HistoryRow *) arg;

	PayconsExecPlan(&history_insert, h->values, h->nulls, 0);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("the state change of order \"%s\" was not recorded in paycons.order_history",
						TextDatumGetCString(h->values[0])),
				 errdetail("An INSERT into paycons.order_history wrote %llu rows; a rule or trigger on that table suppressed the row.",
						   (unsigned long long) SPI_processed),
				 errhint("Every state change must have its history row: remove the rule or trigger that drops it.")));
}

/*
 * Write one order_history row for a change of the row "key" of rel from
 * *from (NULL for a new row) to "to"; forced: a money edge forced by the
 * owner.
 */
void
PayconsWriteHistory(Relation rel, const char *key, const OrderState *from,
					OrderState to, bool forced)
{
	const char *reason = PayconsReason();
	HistoryRow	h;

	memset(h.nulls, ' ', sizeof(h.nulls));
	h.values[0] = CStringGetTextDatum(key);
	h.values[1] = CStringGetTextDatum(quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
																 RelationGetRelationName(rel)));
	if (from != NULL)
		h.values[2] = CStringGetTextDatum(OrderStateName(*from));
	else
		h.nulls[2] = 'n';
	h.values[3] = CStringGetTextDatum(OrderStateName(to));
	h.values[4] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	if (reason != NULL)
		h.values[5] = CStringGetTextDatum(reason);
	else
		h.nulls[5] = 'n';
	h.values[6] = CStringGetTextDatum(GetUserNameFromId(PayconsActor(), false));
	h.values[7] = FullTransactionIdGetDatum(GetTopFullTransactionId());
	h.values[8] = BoolGetDatum(forced);

	PayconsAsOwner(NULL, history_write_work, &h);
}
