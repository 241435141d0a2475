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

#include "miscadmin.h"
#include "utils/guc.h"

#include "paycons.h"
#include "statement_load.h"

PG_MODULE_MAGIC;

/* paycons.statement_max_size: largest load_statement() content, kB */
int			paycons_statement_max_size = 262144;

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
	DefineCustomStringVariable("paycons.database",
							   "Database the paycons background worker maintains.",
							   "The worker connects to this one database; schedule run_maintenance() with pg_cron for others.",
							   &paycons_database,
							   "postgres",
							   PGC_POSTMASTER,
							   0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("paycons.naptime",
							"Time between two maintenance passes of the background worker.",
							NULL,
							&paycons_naptime,
							10000, 100, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("paycons.enabled",
							 "Whether the paycons background worker runs maintenance passes.",
							 "When off the worker stays idle; run_maintenance() can still be called or scheduled.",
							 &paycons_enabled,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("paycons.stuck_grace",
							"Time after pay_deadline before a paying order without payment is closed.",
							"Between pay_deadline and pay_deadline + stuck_grace the order is queried (payment.query events).",
							&paycons_stuck_grace,
							900, 0, INT_MAX / 1000,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("paycons.refund_stuck_after",
							"Time in state refunding after which an order is queried (refund.query events).",
							NULL,
							&paycons_refund_stuck_after,
							3600, 0, INT_MAX / 1000,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("paycons.batch_size",
							"Largest number of items of each kind one maintenance pass handles.",
							NULL,
							&paycons_batch_size,
							1000, 1, 1000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	if (process_shared_preload_libraries_in_progress)
	{
		PayconsStatsShmemInit();
		PayconsWorkerRegister();
	}

	/* --- end worker --- */

	/* --- statements (issue 12) --- */
	DefineCustomIntVariable("paycons.statement_max_size",
							"Largest statement file paycons.load_statement() accepts as text.",
							"Larger files are loaded with paycons.load_statement_upload().",
							&paycons_statement_max_size,
							262144, 1, 1048575,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);
	/* --- end statements --- */

	MarkGUCPrefixReserved("paycons");
}
