/*-------------------------------------------------------------------------
 *
 * notifier.c
 *	  NOTIFY paycons_outbox without serialising the writers' commits.
 *
 * PostgreSQL serialises every committing transaction that has pending
 * notifications on one cluster-wide heavyweight lock, taken in
 * PreCommit_Notify and held through the commit's WAL flush, so a NOTIFY
 * in every writing transaction defeats group commit.  Instead, when
 * paycons.outbox_notify is on and the database is served by a notifier:
 *
 *	 - a transaction that writes outbox events only marks itself (a static
 *	   flag, no NOTIFY queued);
 *	 - at commit (XACT_EVENT_COMMIT, after the commit is visible) it sets
 *	   the database's notify flag in shared memory and, if the flag was
 *	   clear, sets the notifier's latch (PayconsNotifierPoke);
 *	 - the notifier, a small background worker per listed database, takes
 *	   the flag and sends one NOTIFY paycons_outbox in a transaction of its
 *	   own (asynchronous commit: it has nothing worth flushing), so every
 *	   commit that set the flag before is covered by one notification.
 *	   paycons.notify_interval spaces its NOTIFYs to batch more commits.
 *
 * The notifier does nothing else: a long maintenance pass of the worker
 * never delays a notification.  When no notifier serves the database (no
 * shared_preload_libraries, database not in paycons.database, notifier
 * not running, or paycons.outbox_notify = transaction) the transaction
 * queues NOTIFY paycons_outbox itself, as before; PostgreSQL folds it to
 * one per transaction.  paycons.outbox_notify = off sends nothing.
 *
 * IDENTIFICATION
 *	  src/notifier.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "notifier.h"
#include "paycons.h"
#include "shmem.h"
#include "worker.h"

/* Seconds before the postmaster restarts a notifier that exited (as a worker) */
#define NOTIFIER_RESTART_SECS	PAYCONS_RESTART_SECS

/* After a failed NOTIFY, wait this long before the next attempt */
#define NOTIFIER_RETRY_MS		1000

/* The slot whose notifier this transaction counts on, if any */
static PayconsDbSlot *notify_slot = NULL;
static bool notify_callback_registered = false;

/*
 * At the end of a transaction that counted on the notifier: after a
 * commit, poke it; after an abort or a PREPARE, forget it (a prepared
 * transaction's events are not announced when it is committed later).
 */
static void
notify_xact_callback(XactEvent event, void *arg)
{
	PayconsDbSlot *slot = notify_slot;

	if (slot == NULL)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			notify_slot = NULL;
			PayconsNotifierPoke(slot);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			notify_slot = NULL;
			break;
		default:
			break;
	}
}

/*
 * The current transaction wrote an outbox event: arrange for consumers to
 * be notified once it commits (see the file header).  Called for every
 * event; cheap after the first of a transaction.
 */
void
PayconsOutboxNotifyWanted(void)
{
	PayconsDbSlot *slot;

	if (paycons_outbox_notify == PAYCONS_NOTIFY_OFF || notify_slot != NULL)
		return;
	if (paycons_outbox_notify == PAYCONS_NOTIFY_ON &&
		(slot = PayconsNotifierSlot()) != NULL)
	{
		if (!notify_callback_registered)
		{
			RegisterXactCallback(notify_xact_callback, NULL);
			notify_callback_registered = true;
		}
		notify_slot = slot;
		return;
	}
	Async_Notify(PAYCONS_NOTIFY_CHANNEL, NULL);
}

/* Register the notifier of listed database number i (under preload) */
void
PayconsNotifierRegister(int i, const char *dbname)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = NOTIFIER_RESTART_SECS;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "paycons");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "paycons_notifier_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "paycons notifier for database \"%s\"", dbname);
	snprintf(worker.bgw_type, BGW_MAXLEN, "paycons notifier");
	worker.bgw_main_arg = Int32GetDatum(i);
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

/* The work of one notification transaction */
static void
notifier_work(void *arg)
{
	Async_Notify(PAYCONS_NOTIFY_CHANNEL, NULL);
}

/*
 * Entry point of the notifier of listed database number main_arg.  Loop:
 * if commits wait for a NOTIFY and paycons.notify_interval has passed
 * since the last one, take the flag and send one; otherwise sleep on the
 * latch until a commit sets it, or until the interval is over.
 */
void
paycons_notifier_main(Datum main_arg)
{
	int			i = DatumGetInt32(main_arg);
	TimestampTz next_allowed = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	PayconsWorkerConnect(i, "notifier");
	/* its transactions write only a commit record: never wait for a flush */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	PayconsProcAttach(i, PAYCONS_PROC_NOTIFIER);
	ereport(LOG,
			(errmsg("paycons notifier started in database \"%s\"",
					PayconsSlotDatabase(i))));

	for (;;)
	{
		long		timeout = -1;
		int			events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH;

		if (PayconsNotifyPending(i))
		{
			TimestampTz now = GetCurrentTimestamp();

			if (now >= next_allowed && PayconsTakeNotify(i))
			{
				next_allowed = now + (int64) paycons_notify_interval * 1000;
				if (PayconsRunTransaction("NOTIFY paycons_outbox",
										  notifier_work, NULL))
					PayconsCountNotification(i);
				else
				{
					/* keep the commits waiting; try again later */
					PayconsRestoreNotify(i);
					next_allowed = GetCurrentTimestamp() +
						(int64) NOTIFIER_RETRY_MS * 1000;
				}
				now = GetCurrentTimestamp();
			}
			/* commits that came meanwhile wait until the next allowed time */
			timeout = (long) Max((next_allowed - now + 999) / 1000, 0);
			events |= WL_TIMEOUT;
		}

		(void) WaitLatch(MyLatch, events, timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
}
