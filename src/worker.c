/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The paycons background worker: every paycons.naptime it runs
 *	  SELECT paycons.run_maintenance() in the database paycons.database.
 *
 * Registered from _PG_init when paycons is in shared_preload_libraries.
 * The loop has the shape of worker_spi and autoprewarm: core's signal
 * handlers only (SIGHUP reloads the configuration, SIGTERM ends the worker
 * through die() and CHECK_FOR_INTERRUPTS), one WaitLatch per turn with
 * WL_EXIT_ON_PM_DEATH and a timeout computed from the next deadline, a
 * memory context reset every turn, and one transaction per pass that is
 * always finished before sleeping.  The worker starts once recovery has
 * finished (BgWorkerStart_RecoveryFinished): on a standby it does not run,
 * and after a promotion the postmaster starts it.  It idles while
 * paycons.enabled is off, and while its database lacks the extension (said
 * once in the log).  paycons.wake() sets its latch for an early pass.  A
 * crash restarts it after bgw_restart_time.
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

#include "paycons.h"
#include "shmem.h"
#include "spi_plans.h"
#include "worker.h"

/* Seconds before the postmaster restarts a crashed worker */
#define WORKER_RESTART_SECS		5

/* Register the worker; called from _PG_init under shared_preload_libraries. */
void
PayconsWorkerRegister(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = WORKER_RESTART_SECS;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "paycons");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "paycons_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "paycons worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "paycons worker");
	worker.bgw_main_arg = (Datum) 0;
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

/*
 * One pass, in its own transaction (the worker_spi skeleton).  Returns
 * false if the database lacks the extension.  An error aborts the pass's
 * transaction, is logged, and the worker carries on at the next turn.
 */
static bool
worker_pass(void)
{
	volatile bool installed = true;
	MemoryContext cxt = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		if (!OidIsValid(get_extension_oid("paycons", true)))
			installed = false;
		else
		{
			pgstat_report_activity(STATE_RUNNING, "SELECT paycons.run_maintenance()");
			if (SPI_execute("SELECT paycons.run_maintenance()::pg_catalog.text", false, 1) != SPI_OK_SELECT)
				elog(ERROR, "SELECT paycons.run_maintenance() failed");
			if (SPI_processed == 1)
				elog(DEBUG1, "paycons worker: %s",
					 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
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

	pgstat_report_stat(true);
	pgstat_report_activity(STATE_IDLE, NULL);
	return installed;
}

/* Entry point of the worker process */
void
paycons_worker_main(Datum main_arg)
{
	MemoryContext loop_cxt;
	TimestampTz next_run;
	bool		said_missing = false;
	bool		said_disabled = false;
	int			naptime_seen;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(paycons_database, NULL, 0);
	PayconsStatsWorkerStarted();
	ereport(LOG,
			(errmsg("paycons worker started in database \"%s\" (naptime %d ms, %s)",
					paycons_database, paycons_naptime,
					paycons_enabled ? "enabled" : "disabled")));

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "paycons worker loop",
									 ALLOCSET_DEFAULT_SIZES);
	naptime_seen = paycons_naptime;
	next_run = GetCurrentTimestamp();

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		long		timeout;
		bool		wake = PayconsStatsTakeWake();

		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);

		if (!paycons_enabled)
		{
			if (!said_disabled)
				ereport(LOG, (errmsg("paycons worker is idle: paycons.enabled is off")));
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
									paycons_database),
							 errhint("Run CREATE EXTENSION paycons in that database, or set paycons.database.")));
				said_missing = true;
			}
			else
			{
				if (said_missing)
					ereport(LOG, (errmsg("paycons worker found extension \"paycons\"; maintenance resumes")));
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
