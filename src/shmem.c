/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  paycons's shared memory: counters of maintenance work since server
 *	  start, and where the background worker is (its pid and latch), for
 *	  paycons.stats() and paycons.wake().
 *
 * The segment exists only when paycons is in shared_preload_libraries
 * (requested through PG15's shmem_request_hook).  Without it the counters
 * are not kept, paycons.stats() reports zeros with preloaded = false, and
 * paycons.wake() returns false.  Counters are atomics, so any backend
 * running run_maintenance() adds to them without a lock; the worker's
 * identity is guarded by a spinlock and cleared on its exit.
 *
 * IDENTIFICATION
 *	  src/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "maintenance.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(paycons_stats);
PG_FUNCTION_INFO_V1(paycons_wake);

typedef struct PayconsShared
{
	slock_t		mutex;			/* protects the worker fields */
	pid_t		worker_pid;		/* 0 when no worker runs */
	Latch	   *worker_latch;
	TimestampTz worker_started_at;
	bool		wake_requested;
	pg_atomic_uint64 last_pass_at;	/* TimestampTz of the last pass, 0 if none */
	pg_atomic_uint64 counters[PCS_NUM_COUNTERS];
} PayconsShared;

static PayconsShared *stats_shared = NULL;
static shmem_request_hook_type stats_prev_request_hook = NULL;
static shmem_startup_hook_type stats_prev_startup_hook = NULL;

static void
stats_shmem_request(void)
{
	if (stats_prev_request_hook)
		stats_prev_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(PayconsShared)));
}

static void
stats_shmem_startup(void)
{
	bool		found;

	if (stats_prev_startup_hook)
		stats_prev_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	stats_shared = ShmemInitStruct("paycons", sizeof(PayconsShared), &found);
	if (!found)
	{
		SpinLockInit(&stats_shared->mutex);
		stats_shared->worker_pid = 0;
		stats_shared->worker_latch = NULL;
		stats_shared->worker_started_at = 0;
		stats_shared->wake_requested = false;
		pg_atomic_init_u64(&stats_shared->last_pass_at, 0);
		for (int i = 0; i < PCS_NUM_COUNTERS; i++)
			pg_atomic_init_u64(&stats_shared->counters[i], 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Install the hooks; called from _PG_init under shared_preload_libraries. */
void
PayconsShmemInit(void)
{
	stats_prev_request_hook = shmem_request_hook;
	shmem_request_hook = stats_shmem_request;
	stats_prev_startup_hook = shmem_startup_hook;
	shmem_startup_hook = stats_shmem_startup;
}

/* Add one pass's counts (no-op without shared memory) */
void
PayconsStatsAdd(const int64 *counts)
{
	if (stats_shared == NULL)
		return;
	for (int i = 0; i < PCS_NUM_COUNTERS; i++)
		if (counts[i] != 0)
			pg_atomic_fetch_add_u64(&stats_shared->counters[i], (uint64) counts[i]);
	if (counts[PCS_PASSES] != 0)
		pg_atomic_write_u64(&stats_shared->last_pass_at,
							(uint64) GetCurrentTimestamp());
}

/* Forget the worker when it exits, however it exits */
static void
stats_worker_exit(int code, Datum arg)
{
	SpinLockAcquire(&stats_shared->mutex);
	if (stats_shared->worker_pid == MyProcPid)
	{
		stats_shared->worker_pid = 0;
		stats_shared->worker_latch = NULL;
	}
	SpinLockRelease(&stats_shared->mutex);
}

/* Publish the calling worker's pid and latch */
void
PayconsStatsWorkerStarted(void)
{
	if (stats_shared == NULL)
		return;
	SpinLockAcquire(&stats_shared->mutex);
	stats_shared->worker_pid = MyProcPid;
	stats_shared->worker_latch = MyLatch;
	stats_shared->worker_started_at = GetCurrentTimestamp();
	stats_shared->wake_requested = false;
	SpinLockRelease(&stats_shared->mutex);
	before_shmem_exit(stats_worker_exit, (Datum) 0);
}

/* For the worker: was a pass asked for by paycons.wake()?  Clears the flag. */
bool
PayconsStatsTakeWake(void)
{
	bool		wake;

	if (stats_shared == NULL)
		return false;
	SpinLockAcquire(&stats_shared->mutex);
	wake = stats_shared->wake_requested;
	stats_shared->wake_requested = false;
	SpinLockRelease(&stats_shared->mutex);
	return wake;
}

/* paycons.wake(): set the worker's latch; false if there is no worker */
Datum
paycons_wake(PG_FUNCTION_ARGS)
{
	Latch	   *latch = NULL;

	if (stats_shared == NULL)
		PG_RETURN_BOOL(false);
	SpinLockAcquire(&stats_shared->mutex);
	if (stats_shared->worker_pid != 0)
	{
		latch = stats_shared->worker_latch;
		stats_shared->wake_requested = true;
	}
	SpinLockRelease(&stats_shared->mutex);
	if (latch == NULL)
		PG_RETURN_BOOL(false);
	SetLatch(latch);
	PG_RETURN_BOOL(true);
}

/* paycons.stats(): see the OUT parameters in 70_maintenance.sql */
Datum
paycons_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[4 + PCS_NUM_COUNTERS];
	bool		nulls[4 + PCS_NUM_COUNTERS] = {0};
	uint64		last;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	if (desc->natts != 4 + PCS_NUM_COUNTERS)
		elog(ERROR, "paycons.stats() has %d columns, expected %d",
			 desc->natts, 4 + PCS_NUM_COUNTERS);

	values[0] = BoolGetDatum(stats_shared != NULL);
	nulls[1] = nulls[2] = nulls[3] = true;
	for (int i = 0; i < PCS_NUM_COUNTERS; i++)
		values[4 + i] = Int64GetDatum(0);

	if (stats_shared != NULL)
	{
		SpinLockAcquire(&stats_shared->mutex);
		if (stats_shared->worker_pid != 0)
		{
			values[1] = Int32GetDatum(stats_shared->worker_pid);
			values[2] = TimestampTzGetDatum(stats_shared->worker_started_at);
			nulls[1] = nulls[2] = false;
		}
		SpinLockRelease(&stats_shared->mutex);
		last = pg_atomic_read_u64(&stats_shared->last_pass_at);
		if (last != 0)
		{
			values[3] = TimestampTzGetDatum((TimestampTz) last);
			nulls[3] = false;
		}
		for (int i = 0; i < PCS_NUM_COUNTERS; i++)
			values[4 + i] = Int64GetDatum((int64) pg_atomic_read_u64(&stats_shared->counters[i]));
	}

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
