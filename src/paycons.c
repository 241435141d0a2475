/*-------------------------------------------------------------------------
 *
 * paycons.c
 *	  Module entry point: the module magic block, _PG_init, and every
 *	  paycons.* setting (definition and storage).
 *
 * paycons works without shared_preload_libraries (DESIGN D6): then there
 * are no background workers and no shared memory, and the setting only
 * read at server start (paycons.database) is not defined at all -- a
 * PGC_POSTMASTER setting cannot be created after startup.  Shared memory
 * is requested and the workers (a worker and a notifier per listed
 * database) registered only while the postmaster is processing
 * shared_preload_libraries, as autoprewarm does.
 *
 * IDENTIFICATION
 *	  src/paycons.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "notifier.h"
#include "paycons.h"
#include "shmem.h"
#include "worker.h"

PG_MODULE_MAGIC;

bool		paycons_preloaded = false;

char	   *paycons_reason_guc = NULL;

bool		paycons_outbox_cdc = false;
int			paycons_outbox_notify = PAYCONS_NOTIFY_ON;
int			paycons_outbox_rotate_interval = 10000;
int			paycons_notify_interval = 5;

char	   *paycons_database = NULL;
int			paycons_naptime = 10000;
bool		paycons_enabled = true;
int			paycons_stuck_grace = 900;
int			paycons_refund_stuck_after = 3600;
int			paycons_batch_size = 1000;

int			paycons_statement_max_size = 262144;

void		_PG_init(void);

/* paycons.outbox_notify: on, off, transaction (and boolean spellings) */
static const struct config_enum_entry outbox_notify_options[] = {
	{"on", PAYCONS_NOTIFY_ON, false},
	{"off", PAYCONS_NOTIFY_OFF, false},
	{"transaction", PAYCONS_NOTIFY_TRANSACTION, false},
	{"true", PAYCONS_NOTIFY_ON, true},
	{"false", PAYCONS_NOTIFY_OFF, true},
	{"yes", PAYCONS_NOTIFY_ON, true},
	{"no", PAYCONS_NOTIFY_OFF, true},
	{"1", PAYCONS_NOTIFY_ON, true},
	{"0", PAYCONS_NOTIFY_OFF, true},
	{NULL, 0, false}
};

/* paycons.database must be a list of distinct database names */
static bool
check_database_list(char **newval, void **extra, GucSource source)
{
	List	   *names;
	char	   *problem;

	if (PayconsDatabaseListParse(*newval, &names, &problem))
	{
		list_free(names);
		return true;
	}
	GUC_check_errdetail("%s", problem);
	return false;
}

void
_PG_init(void)
{
	/* order hub */
	DefineCustomStringVariable("paycons.reason",
							   "Reason recorded in paycons.order_history for state changes made outside the API.",
							   "Set it with SET LOCAL before a manual UPDATE of an order's state.",
							   &paycons_reason_guc,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	/* outbox */
	DefineCustomBoolVariable("paycons.outbox_cdc",
							 "Also write every outbox event to the WAL as a logical decoding message (prefix \"paycons\").",
							 "For CDC pipelines (Debezium and the like) that read events from a logical replication slot.",
							 &paycons_outbox_cdc,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomEnumVariable("paycons.outbox_notify",
							 "How consumers are told that outbox events were committed (NOTIFY paycons_outbox).",
							 "on: through the database's notifier, one NOTIFY for many commits, else one per writing transaction; "
							 "transaction: one NOTIFY per writing transaction, at its commit; off: none.",
							 &paycons_outbox_notify,
							 PAYCONS_NOTIFY_ON,
							 outbox_notify_options,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("paycons.notify_interval",
							"Shortest time between two NOTIFY paycons_outbox of a database's notifier.",
							"Commits within the interval share one notification; 0 sends as soon as the previous one is out.",
							&paycons_notify_interval,
							5, 0, 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("paycons.outbox_rotate_interval",
							"Minimum time between two rotations of the outbox partitions by paycons.outbox_maintain().",
							NULL,
							&paycons_outbox_rotate_interval,
							10000, 1, 86400000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	/* maintenance (run_maintenance(), with or without the worker) */
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

	/* statements */
	DefineCustomIntVariable("paycons.statement_max_size",
							"Largest statement file paycons.load_statement() accepts as text.",
							"Larger files are loaded with paycons.load_statement_upload().",
							&paycons_statement_max_size,
							262144, 1, 1048575,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	/* the background worker: reloadable settings */
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

	/*
	 * Only at server start: the worker's database, its shared memory and
	 * the worker itself.  Loaded later (CREATE EXTENSION, LOAD, the first
	 * call of a paycons function in a server without preload), paycons
	 * defines none of them and everything else works.
	 */
	if (process_shared_preload_libraries_in_progress)
	{
		List	   *databases;
		char	   *problem;
		const char *raw;
		MemoryContext oldcxt;

		paycons_preloaded = true;

		/*
		 * A bad list must stop the server, not fall back to the default:
		 * look at the value from postgresql.conf before defining it.
		 */
		raw = GetConfigOption("paycons.database", true, false);
		if (raw != NULL && !PayconsDatabaseListParse(raw, &databases, &problem))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for parameter \"paycons.database\": \"%s\"", raw),
					 errdetail("%s", problem)));
		DefineCustomStringVariable("paycons.database",
								   "Databases the paycons background workers serve (comma-separated).",
								   "Each listed database gets a worker (maintenance passes) and a notifier; "
								   "schedule run_maintenance() with pg_cron for others.",
								   &paycons_database,
								   "postgres",
								   PGC_POSTMASTER,
								   GUC_LIST_INPUT,
								   check_database_list, NULL, NULL);
		oldcxt = MemoryContextSwitchTo(TopMemoryContext);
		if (!PayconsDatabaseListParse(paycons_database, &databases, &problem))
			elog(ERROR, "paycons.database \"%s\" passed its check but cannot be parsed: %s",
				 paycons_database, problem);
		MemoryContextSwitchTo(oldcxt);
		PayconsShmemInit(databases);
		PayconsWorkerRegister(databases);
	}

	MarkGUCPrefixReserved("paycons");
}
