/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The paycons background workers: one per database listed in
 *	  paycons.database, each running SELECT paycons.run_maintenance() in
 *	  its database every paycons.naptime.
 *
 * Registered from _PG_init when paycons is in shared_preload_libraries:
 * for each listed database a worker (this file) and a notifier
 * (notifier.c), registered statically, so the postmaster starts them once
 * recovery has finished (BgWorkerStart_RecoveryFinished: on a standby they
 * do not run, after a promotion they start) and restarts them after
 * bgw_restart_time if they exit, or at once after a crash cycle.  The list
 * is fixed at server start (paycons.database is a postmaster setting), so
 * no launcher process is needed to follow it.
 *
 * The loop has the shape of worker_spi and autoprewarm: core's signal
 * handlers only (SIGHUP reloads the configuration, SIGTERM ends the worker
 * through die() and CHECK_FOR_INTERRUPTS), one WaitLatch per turn with
 * WL_EXIT_ON_PM_DEATH and a timeout computed from the next deadline, a
 * memory context reset every turn, and one transaction per pass that is
 * always finished before sleeping.  It idles while paycons.enabled is off,
 * and while its database lacks the extension (said once in the log).
 * paycons.wake() in its database sets its latch for an early pass.
 *
 * IDENTIFICATION
 *	  src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "notifier.h"
#include "paycons.h"
#include "shmem.h"
#include "spi_plans.h"
#include "worker.h"

/* Register the worker of listed database number i */
static void
worker_register(int i, const char *dbname)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = PAYCONS_RESTART_SECS;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "paycons");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "paycons_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "paycons worker for database \"%s\"", dbname);
	snprintf(worker.bgw_type, BGW_MAXLEN, "paycons worker");
	worker.bgw_main_arg = Int32GetDatum(i);
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

/*
 * Register a worker and a notifier for each database of paycons.database
 * (the parsed list); called from _PG_init under shared_preload_libraries.
 */
void
PayconsWorkerRegister(List *databases)
{
	ListCell   *lc;
	int			i = 0;

	foreach(lc, databases)
	{
		worker_register(i, (const char *) lfirst(lc));
		PayconsNotifierRegister(i, (const char *) lfirst(lc));
		i++;
	}
}

/* What is connecting, for the context of a failed connection */
typedef struct WorkerConnect
{
	const char *what;
	const char *dbname;
} WorkerConnect;

static void
worker_connect_context(void *arg)
{
	WorkerConnect *c = (WorkerConnect *) arg;

	errcontext("paycons %s of database \"%s\" (paycons.database); it is restarted every %d s",
			   c->what, c->dbname, PAYCONS_RESTART_SECS);
}

/*
 * Connect the calling worker or notifier ("what") to listed database
 * number i.  If the database does not exist, the FATAL error says which
 * paycons process failed and that the postmaster will try again.
 */
void
PayconsWorkerConnect(int i, const char *what)
{
	WorkerConnect c;
	ErrorContextCallback errcallback;

	c.what = what;
	c.dbname = PayconsSlotDatabase(i);
	errcallback.callback = worker_connect_context;
	errcallback.arg = &c;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	BackgroundWorkerInitializeConnection(c.dbname, NULL, 0);
	error_context_stack = errcallback.previous;
}

/*
 * Run work(arg) in a transaction of its own (the worker_spi skeleton, for
 * the worker and the notifier), reporting "activity" while it runs.
 * Returns false if it failed: the error is logged, the transaction
 * aborted, and the caller carries on.
 */
bool
PayconsRunTransaction(const char *activity, void (*work) (void *arg), void *arg)
{
	volatile bool ok = false;
	MemoryContext cxt = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, activity);
	PG_TRY();
	{
		work(arg);
		CommitTransactionCommand();
		ok = true;
	}
	PG_CATCH();
	{
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		AbortCurrentTransaction();
		FlushErrorState();
		RESUME_INTERRUPTS();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);

	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

/* One pass: run_maintenance() if the extension exists; sets *installed */
static void
worker_pass_work(void *arg)
{
	bool	   *installed = (bool *) arg;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	*installed = OidIsValid(get_extension_oid("paycons", true));
	if (*installed)
	{
		if (SPI_execute("SELECT paycons.run_maintenance()::pg_catalog.text", false, 1) != SPI_OK_SELECT)
			elog(ERROR, "SELECT paycons.run_maintenance() failed");
		if (SPI_processed == 1)
			elog(DEBUG1, "paycons worker: %s",
				 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	}
	SPI_finish();
	PopActiveSnapshot();
}

/*
 * One pass, in its own transaction.  Returns false if the database lacks
 * the extension.  An error aborts the pass's transaction, is logged, and
 * the worker carries on at the next turn.
 */
static bool
worker_pass(void)
{
	bool		installed = true;

	(void) PayconsRunTransaction("SELECT paycons.run_maintenance()",
								 worker_pass_work, &installed);
	return installed;
}

/* Entry point of the worker of listed database number main_arg */
void
paycons_worker_main(Datum main_arg)
{
	int			slot = DatumGetInt32(main_arg);
	const char *dbname;
	MemoryContext loop_cxt;
	TimestampTz next_run;
	bool		said_missing = false;
	bool		said_disabled = false;
	int			naptime_seen;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	dbname = PayconsSlotDatabase(slot);
	PayconsWorkerConnect(slot, "worker");
	PayconsProcAttach(slot, PAYCONS_PROC_WORKER);
	ereport(LOG,
			(errmsg("paycons worker started in database \"%s\" (naptime %d ms, %s)",
					dbname, paycons_naptime,
					paycons_enabled ? "enabled" : "disabled")));

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "paycons worker loop",
									 ALLOCSET_DEFAULT_SIZES);
	naptime_seen = paycons_naptime;
	next_run = GetCurrentTimestamp();

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		long		timeout;
		bool		wake = PayconsTakeWake(slot);

		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);

		if (!paycons_enabled)
		{
			if (!said_disabled)
				ereport(LOG,
						(errmsg("paycons worker is idle in database \"%s\": paycons.enabled is off",
								dbname)));
			said_disabled = true;
			next_run = now + (int64) paycons_naptime * 1000;
		}
		else if ((wake || now >= next_run) && !RecoveryInProgress())
		{
			said_disabled = false;
			next_run = now + (int64) paycons_naptime * 1000;
			if (!worker_pass())
			{
				if (!said_missing)
					ereport(LOG,
							(errmsg("paycons worker is idle: extension \"paycons\" is not installed in database \"%s\"",
									dbname),
							 errhint("Run CREATE EXTENSION paycons in that database, or remove it from paycons.database.")));
				said_missing = true;
			}
			else
			{
				if (said_missing)
					ereport(LOG,
							(errmsg("paycons worker found extension \"paycons\" in database \"%s\"; maintenance resumes",
									dbname)));
				said_missing = false;
			}
			now = GetCurrentTimestamp();
		}

		MemoryContextSwitchTo(TopMemoryContext);
		timeout = (long) ((next_run - now) / 1000);
		if (timeout < 0)
			timeout = 0;
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			if (paycons_naptime != naptime_seen)
			{
				ereport(LOG,
						(errmsg("paycons worker naptime is now %d ms", paycons_naptime)));
				/* the deadline moves with the new naptime */
				next_run = next_run - (int64) naptime_seen * 1000 +
					(int64) paycons_naptime * 1000;
				naptime_seen = paycons_naptime;
			}
			if (paycons_enabled)
				said_disabled = false;
		}
	}
}
