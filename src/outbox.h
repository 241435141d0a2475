/*-------------------------------------------------------------------------
 *
 * outbox.h
 *	  The transactional outbox: limits, writing events (outbox_write.c,
 *	  shared by the row trigger and emit()), and what the consumer API
 *	  files share.
 *
 * IDENTIFICATION
 *	  src/outbox.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_OUTBOX_H
#define PAYCONS_OUTBOX_H

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "storage/itemptr.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "spi_plans.h"

/* Limits (documented in doc/outbox.md) */
#define OUTBOX_MAX_TYPE			64	/* aggregate_type, bytes */
#define OUTBOX_MAX_AGGREGATE_ID	128 /* aggregate_id, bytes */
#define OUTBOX_MAX_EVENT_TYPE	128 /* event_type, bytes */
#define OUTBOX_MAX_CONSUMER		64	/* consumer name, bytes */
#define OUTBOX_MAX_PAYLOAD		(1024 * 1024)	/* payload + headers, bytes */
#define OUTBOX_MAX_BATCH		10000	/* claim batch, ack/redrive array */
#define OUTBOX_MAX_SLOTS		16	/* segments outbox_0..15 (outbox_maintain's v_max) */

/* outbox_write.c */
extern int64 OutboxWrite(const char *aggregate_type, const char *aggregate_id,
						 const char *event_type, Jsonb *payload,
						 Jsonb *headers, TimestampTz available_at);
extern void OutboxCheckSize(Jsonb *payload, Jsonb *headers);

/* outbox_consumer.c: what claim (outbox_claim.c) and ack (outbox_ack.c) share */
typedef struct OutboxLeased
{
	int64		id;
	int			slot;			/* segment (partition) */
	ItemPointerData tid;		/* the leased row version */
} OutboxLeased;

extern char *OutboxConsumerArg(FunctionCallInfo fcinfo, int argno, bool required);
extern Interval *OutboxIntervalArg(FunctionCallInfo fcinfo, int argno,
								   const char *what, bool allow_zero);
extern int64 *OutboxIdsArg(FunctionCallInfo fcinfo, int argno, int *nids);
extern void OutboxRememberClaim(const OutboxLeased *rows, int n,
								const char *consumer);
extern const OutboxLeased *OutboxFindLeased(int64 id);
extern PayconsPlan *OutboxSlotPlan(PayconsPlan *plans, const char *template,
								   int slot, int nargs, const Oid *argtypes);

#endif							/* PAYCONS_OUTBOX_H */
