/*-------------------------------------------------------------------------
 *
 * outbox_write.c
 *	  Writing outbox events: OutboxWrite (shared by the row trigger and
 *	  emit()), paycons.emit, the per-transaction NOTIFY and the optional
 *	  logical decoding message for CDC pipelines.
 *
 * An event is inserted straight into the current rotating partition
 * (paycons.outbox_<slot>) with the executor's simple-insert path, the way
 * logical replication's apply worker inserts rows: no SQL is parsed,
 * planned or started per event, which is what keeps the trigger cheap.
 * Index maintenance, the CHECK constraint and the partition constraint are
 * applied as for any INSERT.  No privilege is checked: the caller either is
 * a trigger on a table the user may write, or emit(), which the user may
 * EXECUTE.
 *
 * The current slot is read from paycons.outbox_slot_seq, which
 * paycons.outbox_maintain() advances when it rotates the partitions.  A
 * writer that read the slot just before a rotation inserts into the
 * previous partition; that is harmless, as rotation moves every live event
 * of a partition before truncating it.
 *
 * IDENTIFICATION
 *	  src/outbox_write.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "replication/message.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "paycons.h"

PG_FUNCTION_INFO_V1(paycons_emit);

/* GUCs, defined in paycons.c */
bool		paycons_outbox_cdc = false;
bool		paycons_outbox_notify = true;
int			paycons_outbox_rotate_interval = 10000;

/* The columns of paycons.outbox, in the order of outbox_colnames[] */
typedef enum OutboxColumn
{
	OBX_ID,
	OBX_AGGREGATE_TYPE,
	OBX_AGGREGATE_ID,
	OBX_EVENT_TYPE,
	OBX_PAYLOAD,
	OBX_HEADERS,
	OBX_CREATED_AT,
	OBX_AVAILABLE_AT,
	OBX_STATUS,
	OBX_ATTEMPTS,
	OBX_SLOT,
	OBX_NCOLS
} OutboxColumn;

static const char *const outbox_colnames[OBX_NCOLS] = {
	"id", "aggregate_type", "aggregate_id", "event_type", "payload",
	"headers", "created_at", "available_at", "status", "attempts", "slot"
};

/*
 * OIDs of the outbox relations and the attribute numbers of the columns we
 * set, looked up once and forgotten on any relcache invalidation of them
 * (TRUNCATE of a partition, DROP EXTENSION).
 */
typedef struct OutboxCache
{
	bool		valid;
	Oid			id_seq;
	Oid			slot_seq;
	Oid			part[OUTBOX_NUM_SLOTS];
	AttrNumber	attnum[OUTBOX_NUM_SLOTS][OBX_NCOLS];
	bool		attnum_valid[OUTBOX_NUM_SLOTS];
} OutboxCache;

static OutboxCache outbox_cache;
static bool outbox_callback_registered = false;

static void
outbox_relcache_inval(Datum arg, Oid relid)
{
	if (!outbox_cache.valid)
		return;
	if (!OidIsValid(relid) || relid == outbox_cache.id_seq ||
		relid == outbox_cache.slot_seq)
	{
		outbox_cache.valid = false;
		return;
	}
	for (int i = 0; i < OUTBOX_NUM_SLOTS; i++)
		if (relid == outbox_cache.part[i])
			outbox_cache.valid = false;
}

static void
outbox_cache_fill(void)
{
	if (outbox_cache.valid)
		return;
	if (!outbox_callback_registered)
	{
		CacheRegisterRelcacheCallback(outbox_relcache_inval, (Datum) 0);
		outbox_callback_registered = true;
	}
	memset(&outbox_cache, 0, sizeof(outbox_cache));
	outbox_cache.id_seq = PayconsRelid("outbox_id_seq");
	outbox_cache.slot_seq = PayconsRelid("outbox_slot_seq");
	for (int i = 0; i < OUTBOX_NUM_SLOTS; i++)
	{
		char		name[NAMEDATALEN];

		snprintf(name, sizeof(name), "outbox_%d", i);
		outbox_cache.part[i] = PayconsRelid(name);
	}
	outbox_cache.valid = true;
}

/* Attribute numbers of our columns in partition rel (cached). */
static AttrNumber *
outbox_attnums(int slot, Relation rel)
{
	if (!outbox_cache.attnum_valid[slot])
	{
		PayconsColumnAttnums(rel, outbox_colnames, OBX_NCOLS,
							 outbox_cache.attnum[slot]);
		outbox_cache.attnum_valid[slot] = true;
	}
	return outbox_cache.attnum[slot];
}

/*
 * The current slot.  Reading the sequence needs SELECT on it, which only the
 * extension owner has, so the read is done as the owner.
 */
static int
outbox_current_slot(void)
{
	PayconsOwnerState owner;
	volatile int64 last = 0;

	PayconsBecomeOwner(&owner, NULL);
	PG_TRY();
	{
		last = DatumGetInt64(DirectFunctionCall1(pg_sequence_last_value,
												 ObjectIdGetDatum(outbox_cache.slot_seq)));
	}
	PG_FINALLY();
	{
		PayconsRestoreUser(&owner);
	}
	PG_END_TRY();

	return (int) (last % OUTBOX_NUM_SLOTS);
}

/* Append the logical decoding message of one event (paycons.outbox_cdc). */
static void
outbox_emit_cdc(int64 id, const char *aggregate_type, const char *aggregate_id,
				const char *event_type, Jsonb *payload, Jsonb *headers)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"id\": " INT64_FORMAT ", \"aggregate_type\": ", id);
	escape_json(&buf, aggregate_type);
	appendStringInfoString(&buf, ", \"aggregate_id\": ");
	escape_json(&buf, aggregate_id);
	appendStringInfoString(&buf, ", \"event_type\": ");
	escape_json(&buf, event_type);
	appendStringInfoString(&buf, ", \"payload\": ");
	(void) JsonbToCString(&buf, &payload->root, VARSIZE(payload));
	appendStringInfoString(&buf, ", \"headers\": ");
	if (headers != NULL)
		(void) JsonbToCString(&buf, &headers->root, VARSIZE(headers));
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoChar(&buf, '}');

	LogLogicalMessage("paycons", buf.data, buf.len, true);
	pfree(buf.data);
}

/*
 * OutboxWrite: insert one event into the outbox in the current transaction
 * and return its id.  The arguments must already be validated (emit() and
 * the trigger do that).  Queues NOTIFY paycons_outbox (folded by
 * PostgreSQL into one per transaction) and, with paycons.outbox_cdc, a
 * transactional logical decoding message carrying the event.
 */
int64
OutboxWrite(const char *aggregate_type, const char *aggregate_id,
			const char *event_type, Jsonb *payload, Jsonb *headers,
			TimestampTz available_at)
{
	int			slot;
	int64		id;
	Relation	rel;
	AttrNumber *attnum;
	Datum	   *values;
	bool	   *isnull;

	outbox_cache_fill();
	slot = outbox_current_slot();

	/*
	 * Take the transaction id before drawing the event id: claims rely on
	 * an event id drawn after their snapshot belonging to a transaction not
	 * running at that snapshot (see the scan hint in outbox_consumer.c).
	 */
	(void) GetCurrentTransactionId();
	id = nextval_internal(outbox_cache.id_seq, false);

	rel = table_open(outbox_cache.part[slot], RowExclusiveLock);
	attnum = outbox_attnums(slot, rel);

	values = palloc(sizeof(Datum) * RelationGetDescr(rel)->natts);
	isnull = palloc(sizeof(bool) * RelationGetDescr(rel)->natts);
	memset(isnull, true, sizeof(bool) * RelationGetDescr(rel)->natts);

#define OBX_SET(col, datum) \
	do { \
		values[attnum[col] - 1] = (datum); \
		isnull[attnum[col] - 1] = false; \
	} while (0)

	OBX_SET(OBX_ID, Int64GetDatum(id));
	OBX_SET(OBX_AGGREGATE_TYPE, CStringGetTextDatum(aggregate_type));
	OBX_SET(OBX_AGGREGATE_ID, CStringGetTextDatum(aggregate_id));
	OBX_SET(OBX_EVENT_TYPE, CStringGetTextDatum(event_type));
	OBX_SET(OBX_PAYLOAD, JsonbPGetDatum(payload));
	if (headers != NULL)
		OBX_SET(OBX_HEADERS, JsonbPGetDatum(headers));
	OBX_SET(OBX_CREATED_AT, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
	OBX_SET(OBX_AVAILABLE_AT, TimestampTzGetDatum(available_at));
	OBX_SET(OBX_STATUS, CStringGetTextDatum("pending"));
	OBX_SET(OBX_ATTEMPTS, Int32GetDatum(0));
	OBX_SET(OBX_SLOT, Int16GetDatum((int16) slot));
#undef OBX_SET

	PayconsDirectInsert(rel, values, isnull);
	pfree(values);
	pfree(isnull);
	table_close(rel, NoLock);

	if (paycons_outbox_cdc)
		outbox_emit_cdc(id, aggregate_type, aggregate_id, event_type,
						payload, headers);
	if (paycons_outbox_notify)
		Async_Notify("paycons_outbox", NULL);

	return id;
}

/* Raise unless a JSON document is within the size limit. */
static void
outbox_check_size(Jsonb *payload, Jsonb *headers)
{
	Size		size = VARSIZE(payload) + (headers ? VARSIZE(headers) : 0);

	if (size > OUTBOX_MAX_PAYLOAD)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("outbox event is too large: %zu bytes", (size_t) size),
				 errdetail("The maximum for payload and headers together is %d bytes.",
						   OUTBOX_MAX_PAYLOAD)));
}

/*
 * paycons.emit(aggregate_type, aggregate_id, event_type, payload, headers,
 * available_at) -> id
 *
 * Writes one event in the caller's transaction.  The three names are
 * required identifiers (not empty, no control characters, at most 64, 128
 * and 128 bytes); payload NULL means '{}'; headers must be NULL or a JSON
 * object; available_at NULL means now() and must be finite.
 */
Datum
paycons_emit(PG_FUNCTION_ARGS)
{
	char	   *aggregate_type;
	char	   *aggregate_id;
	char	   *event_type;
	Jsonb	   *payload;
	Jsonb	   *headers = NULL;
	TimestampTz available_at;

	PayconsRequireArg(fcinfo, 0, "aggregate_type");
	PayconsRequireArg(fcinfo, 1, "aggregate_id");
	PayconsRequireArg(fcinfo, 2, "event_type");
	aggregate_type = PayconsCheckId(PG_GETARG_TEXT_PP(0), "aggregate_type",
									OUTBOX_MAX_TYPE);
	aggregate_id = PayconsCheckId(PG_GETARG_TEXT_PP(1), "aggregate_id",
								  OUTBOX_MAX_AGGREGATE_ID);
	event_type = PayconsCheckId(PG_GETARG_TEXT_PP(2), "event_type",
								OUTBOX_MAX_EVENT_TYPE);

	if (PG_ARGISNULL(3))
		payload = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													 CStringGetDatum("{}")));
	else
		payload = PG_GETARG_JSONB_P(3);

	if (!PG_ARGISNULL(4))
	{
		headers = PG_GETARG_JSONB_P(4);
		if (!JB_ROOT_IS_OBJECT(headers) || JB_ROOT_IS_SCALAR(headers))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("headers must be a JSON object"),
					 errdetail("Got %s.",
							   JsonbToCString(NULL, &headers->root,
											  VARSIZE(headers)))));
	}
	outbox_check_size(payload, headers);

	if (PG_ARGISNULL(5))
		available_at = GetCurrentTransactionStartTimestamp();
	else
	{
		available_at = PG_GETARG_TIMESTAMPTZ(5);
		if (TIMESTAMP_NOT_FINITE(available_at))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("available_at must be finite")));
	}

	PG_RETURN_INT64(OutboxWrite(aggregate_type, aggregate_id, event_type,
								payload, headers, available_at));
}

/* Exposed for the trigger, which applies the same size limit. */
void
OutboxCheckSize(Jsonb *payload)
{
	outbox_check_size(payload, NULL);
}
