/*-------------------------------------------------------------------------
 *
 * outbox_write.c
 *	  Writing outbox events: OutboxWrite (shared by the row trigger and
 *	  emit()), paycons.emit, the NOTIFY request and the optional logical
 *	  decoding message for CDC pipelines.
 *
 * An event is written by an ordinary INSERT into paycons.outbox (a kept
 * SPI plan, run as the extension owner), routed to the current rotating
 * partition by its slot column: triggers, rules, constraints and defaults
 * that the DBA added to the outbox apply to it as to any INSERT.
 *
 * The current segment is paycons.outbox_slot_seq's last value, which
 * paycons.outbox_maintain() sets when it rotates.  A writer that read the
 * slot just before a rotation inserts into the previous segment; that is
 * harmless, as a segment is truncated only when it holds no event at all,
 * checked again under the truncation's lock.  The event stays where it was
 * written until it is acknowledged: nothing ever copies it, so a change
 * data capture of the table sees it inserted once.
 *
 * IDENTIFICATION
 *	  src/outbox_write.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "replication/message.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"

#include "as_owner.h"
#include "errcodes.h"
#include "notifier.h"
#include "outbox.h"
#include "paycons.h"
#include "provenance.h"
#include "registry.h"
#include "spi_plans.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(paycons_emit);

/*
 * The insert of one event.  The slot (the current segment) is
 * passed by the caller; the id comes from the column's default, drawn when
 * the statement runs, after the caller has taken its transaction id.
 */
static PayconsPlan outbox_insert = {
	"INSERT INTO paycons.outbox (aggregate_type, aggregate_id, event_type,"
	" payload, headers, created_at, available_at, slot)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
	8, {TEXTOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID, INT2OID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

/* One event to write, and its id once written */
typedef struct OutboxEvent
{
	Datum		values[8];
	char		nulls[8];
	int64		id;
} OutboxEvent;

static void
outbox_write_work(void *arg, MemoryContext caller)
{
	OutboxEvent *e = (OutboxEvent *) arg;
	bool		isnull;
	int64		last;

	/*
	 * The current segment: the slot sequence's last value, read as
	 * pg_sequence_last_value() reads it (a sequence read is no table write,
	 * and a query for it cost a tenth of an emit).
	 */
	{
		LOCAL_FCINFO(fcinfo, 1);
		Datum		result;

		InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
		fcinfo->args[0].value = ObjectIdGetDatum(PayconsRelid("outbox_slot_seq"));
		fcinfo->args[0].isnull = false;
		result = pg_sequence_last_value(fcinfo);
		isnull = fcinfo->isnull;
		last = isnull ? -1 : DatumGetInt64(result);
	}
	if (isnull || last < 0 || last >= OUTBOX_MAX_SLOTS)
		elog(ERROR, "paycons.outbox_slot_seq names no outbox segment: " INT64_FORMAT,
			 last);
	e->values[7] = Int16GetDatum((int16) last);

	/*
	 * Take the transaction id before the event id is drawn: claims rely on
	 * an event id drawn after their snapshot belonging to a transaction not
	 * running at that snapshot (see the scan hint in outbox_consumer.c).
	 */
	(void) GetCurrentTransactionId();
	PayconsExecPlan(&outbox_insert, e->values, e->nulls, 0);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("outbox event \"%s\" of %s \"%s\" was not written",
						TextDatumGetCString(e->values[2]),
						TextDatumGetCString(e->values[0]),
						TextDatumGetCString(e->values[1])),
				 errdetail("An INSERT into paycons.outbox wrote %llu rows; a rule or trigger on that table suppressed the row.",
						   (unsigned long long) SPI_processed),
				 errhint("Every event must reach the outbox: remove the rule or trigger that drops it.")));
	e->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 1, &isnull));
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
 * the trigger do that).  Arranges for NOTIFY paycons_outbox after the
 * commit (notifier.c: through the database's notifier, or queued in this
 * transaction) and, with paycons.outbox_cdc, writes a transactional
 * logical decoding message carrying the event.
 */
int64
OutboxWrite(const char *aggregate_type, const char *aggregate_id,
			const char *event_type, Jsonb *payload, Jsonb *headers,
			TimestampTz available_at)
{
	OutboxEvent e;

	memset(e.nulls, ' ', sizeof(e.nulls));
	e.values[0] = CStringGetTextDatum(aggregate_type);
	e.values[1] = CStringGetTextDatum(aggregate_id);
	e.values[2] = CStringGetTextDatum(event_type);
	e.values[3] = JsonbPGetDatum(payload);
	if (headers != NULL)
		e.values[4] = JsonbPGetDatum(headers);
	else
		e.nulls[4] = 'n';
	e.values[5] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	e.values[6] = TimestampTzGetDatum(available_at);
	PayconsAsOwner(NULL, outbox_write_work, &e);

	if (paycons_outbox_cdc)
		outbox_emit_cdc(e.id, aggregate_type, aggregate_id, event_type,
						payload, headers);
	PayconsOutboxNotifyWanted();

	return e.id;
}

/* Raise unless an event's JSON documents are within the size limit. */
void
OutboxCheckSize(Jsonb *payload, Jsonb *headers)
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
 * object without the "paycons" key, which is added naming the role that
 * emitted (provenance.c); available_at NULL means now() and must be finite.
 * A reserved aggregate type (one paycons writes itself: "order",
 * "compensation") is refused (PC025) unless the caller has the owner's
 * privileges or was allowed by paycons.allow_emit() (registry.c).
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
	if (!PayconsEmitAllowed(aggregate_type))
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_RESERVED_AGGREGATE_TYPE),
				 errmsg("aggregate type \"%s\" is reserved for events paycons writes itself",
						aggregate_type),
				 errdetail("Role \"%s\" may not emit event \"%s\" of %s \"%s\".",
						   GetUserNameFromId(GetUserId(), false), event_type,
						   aggregate_type, aggregate_id),
				 errhint("Use an aggregate type of your own, or have the extension owner run paycons.allow_emit() for the role and the aggregate type.")));

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
		if (DatumGetBool(DirectFunctionCall2(jsonb_exists, JsonbPGetDatum(headers),
											 CStringGetTextDatum(PAYCONS_ORIGIN_HEADER))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("header \"%s\" is reserved", PAYCONS_ORIGIN_HEADER),
					 errdetail("paycons writes it into every event, naming the role that caused the event.")));
	}
	headers = PayconsAddEventOrigin(headers, NULL);
	OutboxCheckSize(payload, headers);

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

