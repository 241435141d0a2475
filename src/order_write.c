/*-------------------------------------------------------------------------
 *
 * order_write.c
 *	  A change of one paycons.orders row by the extension's own C code,
 *	  written directly (direct_write.c) with the work of the order hub's
 *	  row triggers done in line.
 *
 * An UPDATE of paycons.orders runs four row triggers: paycons_guard
 * (BEFORE: refuse an illegal edge, stamp state_changed_at) and, when the
 * state changed, paycons_history_update, paycons_outbox_update and
 * paycons_stock (AFTER, in that order: the order of their names).  Going
 * through SQL and the trigger manager for each applied payment costs more
 * than the writes themselves, so apply_callback uses this instead: the same
 * check, the same stamp, the same history row, the same order.<state>
 * event (made by the outbox trigger's own code with that trigger's
 * arguments) and the same stock consequence, in the same order.
 *
 * It is only equivalent while the triggers are the ones the extension
 * installed, so PayconsOrderDirectOk() says whether it may be used: every
 * UPDATE trigger of the table must be one of those four, calling its
 * extension function and enabled as installed, and the session must not be
 * in replica mode (where triggers fire differently).  A user's own trigger
 * on paycons.orders, or one of ours disabled, sends the callers back to
 * SQL, where the trigger manager does everything.
 *
 * IDENTIFICATION
 *	  src/order_write.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "paycons.h"

typedef enum OrderColumn
{
	OC_ORDER_ID,
	OC_STATE,
	OC_PAID_AMOUNT,
	OC_REFUNDED_AMOUNT,
	OC_CHANNEL,
	OC_CHANNEL_TXN_ID,
	OC_UPDATED_AT,
	OC_STATE_CHANGED_AT,
	OC_NCOLS
} OrderColumn;

static const char *const order_colnames[OC_NCOLS] = {
	"order_id", "state", "paid_amount", "refunded_amount", "channel",
	"channel_txn_id", "updated_at", "state_changed_at"
};

/* The triggers an UPDATE of paycons.orders may meet on the direct path */
typedef enum HubTrigger
{
	HT_GUARD,
	HT_HISTORY,
	HT_OUTBOX,
	HT_STOCK,
	HT_COUNT
} HubTrigger;

static const struct
{
	const char *name;
	const char *function;
	bool		before;
} hub_triggers[HT_COUNT] = {
	{"paycons_guard", "order_guard", true},
	{"paycons_history_update", "order_guard", false},
	{"paycons_outbox_update", "outbox_trigger", false},
	{"paycons_stock", "stock_on_order_state", false},
};

static PayconsTable orders_table = {
	.relname = "orders", .ncols = OC_NCOLS, .colnames = order_colnames
};

/* May the table be written directly?  Derived when orders_table is filled. */
static bool order_direct_ok = false;

/* Is trigger t the extension's hub trigger "which", as installed? */
static bool
order_is_hub_trigger(const Trigger *t, HubTrigger which)
{
	if (strcmp(t->tgname, hub_triggers[which].name) != 0)
		return false;
	if (t->tgenabled != TRIGGER_FIRES_ON_ORIGIN)
		return false;
	if (!TRIGGER_FOR_ROW(t->tgtype) ||
		(TRIGGER_FOR_BEFORE(t->tgtype) != hub_triggers[which].before))
		return false;
	if (get_func_namespace(t->tgfoid) != PayconsSchemaOid())
		return false;
	return strcmp(get_func_name(t->tgfoid), hub_triggers[which].function) == 0;
}

/* Are the UPDATE triggers of rel exactly the hub's, as installed? */
static bool
order_triggers_are_ours(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;
	bool		seen[HT_COUNT] = {false};

	if (td == NULL)
		return false;
	for (int i = 0; i < td->numtriggers; i++)
	{
		const Trigger *t = &td->triggers[i];
		bool		known = false;

		if (!TRIGGER_FOR_UPDATE(t->tgtype))
			continue;
		for (int h = 0; h < HT_COUNT && !known; h++)
		{
			if (!seen[h] && order_is_hub_trigger(t, h))
				seen[h] = known = true;
		}
		if (!known)
			return false;
	}
	for (int h = 0; h < HT_COUNT; h++)
		if (!seen[h])
			return false;
	return true;
}

/* Open paycons.orders, knowing its columns and whether it may be written directly */
static Relation
order_open(void)
{
	bool		fresh;
	Relation	rel = PayconsTableOpen(&orders_table, &fresh);

	if (fresh)
		order_direct_ok = order_triggers_are_ours(rel) &&
			!(rel->rd_rel->relrowsecurity && rel->rd_rel->relforcerowsecurity);
	return rel;
}

/*
 * May PayconsOrderWrite() be used now, with the same effect as an UPDATE
 * of paycons.orders?  See the file header.
 */
bool
PayconsOrderDirectOk(void)
{
	Relation	rel;

	if (SessionReplicationRole != SESSION_REPLICATION_ROLE_ORIGIN)
		return false;
	rel = order_open();
	table_close(rel, NoLock);
	return order_direct_ok;
}

/* The hub's outbox trigger of rel (checked present by order_open) */
static const Trigger *
order_outbox_trigger(Relation rel)
{
	for (int i = 0; i < rel->trigdesc->numtriggers; i++)
	{
		const Trigger *t = &rel->trigdesc->triggers[i];

		if (strcmp(t->tgname, hub_triggers[HT_OUTBOX].name) == 0)
			return t;
	}
	elog(ERROR, "trigger %s of paycons.orders is missing",
		 hub_triggers[HT_OUTBOX].name);
	return NULL;				/* keep the compiler quiet */
}

/*
 * Write change c to the version at *tid of order order_id, a version this
 * transaction has read.  Returns false, having written nothing, if a
 * transaction that committed meanwhile changed or deleted that version
 * (the caller reads the order again, under lock, and decides again);
 * otherwise true, with *tid set to the new version.
 *
 * The caller is connected to SPI, runs as the extension owner and has
 * checked PayconsOrderDirectOk() in this transaction.
 */
bool
PayconsOrderWrite(const char *order_id, ItemPointer tid,
				  const PayconsOrderChange *c)
{
	Relation	rel = order_open();
	TupleDesc	desc = RelationGetDescr(rel);
	TupleTableSlot *oldslot;
	HeapTuple	oldtup;
	HeapTuple	newtup;
	Datum	   *values;
	bool	   *isnull;
	OrderState	oldstate;
	bool		changed;
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	if (!order_direct_ok)
		elog(ERROR, "paycons.orders cannot be written directly: its triggers are not the installed ones");

	oldslot = table_slot_create(rel, NULL);
	if (!table_tuple_fetch_row_version(rel, tid, SnapshotAny, oldslot))
		elog(ERROR, "order \"%s\" has no row version at (%u,%u)", order_id,
			 ItemPointerGetBlockNumber(tid), ItemPointerGetOffsetNumber(tid));
	oldtup = ExecCopySlotHeapTuple(oldslot);
	ExecDropSingleTupleTableSlot(oldslot);

	values = palloc(sizeof(Datum) * desc->natts);
	isnull = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(oldtup, desc, values, isnull);

#define OC_IDX(col) (orders_table.attnum[col] - 1)
#define OC_SET(col, datum) \
	do { \
		values[OC_IDX(col)] = (datum); \
		isnull[OC_IDX(col)] = false; \
	} while (0)

	if (isnull[OC_IDX(OC_STATE)])
		elog(ERROR, "order \"%s\" has a null state", order_id);
	oldstate = DatumGetOrderState(values[OC_IDX(OC_STATE)]);
	changed = oldstate != c->state;

	/* what paycons_guard does BEFORE the row is written */
	if (changed)
	{
		PayconsCheckTransition(rel, order_id, oldstate, c->state);
		OC_SET(OC_STATE, OrderStateGetDatum(c->state));
		OC_SET(OC_STATE_CHANGED_AT, TimestampTzGetDatum(now));
	}
	OC_SET(OC_PAID_AMOUNT, Int64GetDatum(c->paid_amount));
	OC_SET(OC_REFUNDED_AMOUNT, Int64GetDatum(c->refunded_amount));
	if (c->channel != NULL)
		OC_SET(OC_CHANNEL, CStringGetTextDatum(c->channel));
	if (c->txn_id != NULL)
		OC_SET(OC_CHANNEL_TXN_ID, CStringGetTextDatum(c->txn_id));
	OC_SET(OC_UPDATED_AT, TimestampTzGetDatum(now));
#undef OC_SET
#undef OC_IDX

	switch (PayconsDirectUpdate(rel, tid, values, isnull, true))
	{
		case TM_Ok:
			break;
		default:
			table_close(rel, NoLock);
			return false;
	}
	CommandCounterIncrement();

	/* what the AFTER triggers do, in the order they would fire */
	if (changed)
	{
		const Trigger *outbox = order_outbox_trigger(rel);

		newtup = heap_form_tuple(desc, values, isnull);
		PayconsWriteHistory(rel, order_id, &oldstate, c->state);
		OutboxRowEvent(rel, outbox->tgnargs, outbox->tgargs, "updated",
					   oldtup, newtup);
		PayconsStockOnStateChange(order_id, c->state);
		CommandCounterIncrement();
	}
	table_close(rel, NoLock);
	return true;
}
