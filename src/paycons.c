/*-------------------------------------------------------------------------
 *
 * paycons.c
 *	  Module entry point: the module magic block, _PG_init, and the GUCs
 *	  that are not owned by one concern.
 *
 * IDENTIFICATION
 *	  src/paycons.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "paycons.h"

PG_MODULE_MAGIC;

/* paycons.reason: the reason recorded with hand-made state changes */
char	   *paycons_reason_guc = NULL;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomStringVariable("paycons.reason",
							   "Reason recorded in paycons.order_history for state changes made outside the API.",
							   "Set it with SET LOCAL before a manual UPDATE of an order's state.",
							   &paycons_reason_guc,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	/* --- outbox GUCs and init --- */
	DefineCustomBoolVariable("paycons.outbox_cdc",
							 "Also write every outbox event to the WAL as a logical decoding message (prefix \"paycons\").",
							 "For CDC pipelines (Debezium and the like) that read events from a logical replication slot.",
							 &paycons_outbox_cdc,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("paycons.outbox_notify",
							 "Send NOTIFY paycons_outbox once per transaction that writes outbox events.",
							 "Turn it off for transactions that must be prepared (two-phase commit refuses pending notifications).",
							 &paycons_outbox_notify,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("paycons.outbox_rotate_interval",
							"Minimum time between two rotations of the outbox partitions by paycons.outbox_maintain().",
							NULL,
							&paycons_outbox_rotate_interval,
							10000, 1, 86400000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	/* --- end outbox --- */

	/* --- worker, maintenance and shared memory GUCs and init --- */

	/* --- end worker --- */

	MarkGUCPrefixReserved("paycons");
}
