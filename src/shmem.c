/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  paycons's shared memory: one slot per database.  A slot says which
 *	  processes serve the database (its background worker and its
 *	  notifier: pid, latch, start time), carries the database's wake flag
 *	  (paycons.wake()) and notify flag (commits that wrote outbox events),
 *	  and counts the maintenance work done in the database, for
 *	  paycons.stats() and the paycons.health view.
 *
 * The segment exists only when paycons is in shared_preload_libraries
 * (requested through PG15's shmem_request_hook).  Without it nothing is
 * counted, paycons.stats() says preloaded = false with NULL counters, and
 * paycons.wake() returns false.
 *
 * Slots 0 .. n-1 belong to the n databases of paycons.database, in list
 * order; they are found by name, and their worker and notifier find them
 * by number (bgw_main_arg).  The PAYCONS_EXTRA_SLOTS slots after them are
 * claimed on first use by other databases whose run_maintenance() passes
 * (pg_cron, by hand) are worth counting; a slot whose database was dropped
 * is reused when they are all taken.  Slot ownership (dboid, names) is
 * guarded by one LWLock, the processes of a slot by its spinlock; counters
 * and flags are atomics, so any backend adds to them without a lock.
 *
 * IDENTIFICATION
 *	  src/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
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
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "maintenance.h"
#include "paycons.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(paycons_stats);
PG_FUNCTION_INFO_V1(paycons_wake);

/* One process serving a database */
typedef struct PayconsProcInfo
{
	pid_t		pid;			/* 0 when not running */
	Latch	   *latch;
	TimestampTz started_at;
} PayconsProcInfo;

struct PayconsDbSlot
{
	/* guarded by PayconsShared.lock */
	NameData	dbname;			/* listed name, or the claiming database's */
	Oid			dboid;			/* InvalidOid until a process resolves it */
	bool		listed;			/* in paycons.database: worker + notifier */
	bool		in_use;			/* listed, or claimed by a database */

	/* guarded by mutex */
	slock_t		mutex;
	PayconsProcInfo procs[PAYCONS_NUM_PROC_KINDS];
	bool		wake_requested;

	/* atomics */
	pg_atomic_uint32 notify_pending;	/* commits wait for a NOTIFY */
	pg_atomic_uint64 notifications; /* NOTIFYs the notifier sent */
	pg_atomic_uint64 last_pass_at;	/* TimestampTz of the last pass, 0 if none */
	pg_atomic_uint64 counters[PCS_NUM_COUNTERS];
};

typedef struct PayconsShared
{
	LWLock	   *lock;
	int			nlisted;
	int			nslots;
	PayconsDbSlot slots[FLEXIBLE_ARRAY_MEMBER];
} PayconsShared;

static PayconsShared *shmem_shared = NULL;
static shmem_request_hook_type shmem_prev_request_hook = NULL;
static shmem_startup_hook_type shmem_prev_startup_hook = NULL;

/* paycons.database as parsed in the postmaster (inherited by children) */
static List *shmem_databases = NIL;

/* This backend's database: its name, its listed slot or its extra slot */
static NameData shmem_my_dbname;
static bool shmem_listed_known = false;
static PayconsDbSlot *shmem_listed = NULL;
static PayconsDbSlot *shmem_extra = NULL;

static Size
shmem_size(void)
{
	return add_size(offsetof(PayconsShared, slots),
					mul_size(list_length(shmem_databases) + PAYCONS_EXTRA_SLOTS,
							 sizeof(PayconsDbSlot)));
}

static void
shmem_request(void)
{
	if (shmem_prev_request_hook)
		shmem_prev_request_hook();
	RequestAddinShmemSpace(shmem_size());
	RequestNamedLWLockTranche("paycons", 1);
}

/* Empty a slot's processes, flags and counters */
static void
shmem_slot_reset(PayconsDbSlot *slot)
{
	SpinLockInit(&slot->mutex);
	memset(slot->procs, 0, sizeof(slot->procs));
	slot->wake_requested = false;
	pg_atomic_init_u32(&slot->notify_pending, 0);
	pg_atomic_init_u64(&slot->notifications, 0);
	pg_atomic_init_u64(&slot->last_pass_at, 0);
	for (int i = 0; i < PCS_NUM_COUNTERS; i++)
		pg_atomic_init_u64(&slot->counters[i], 0);
}

static void
shmem_startup(void)
{
	bool		found;

	if (shmem_prev_startup_hook)
		shmem_prev_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shmem_shared = ShmemInitStruct("paycons", shmem_size(), &found);
	if (!found)
	{
		ListCell   *lc;
		int			i = 0;

		shmem_shared->lock = &(GetNamedLWLockTranche("paycons"))->lock;
		shmem_shared->nlisted = list_length(shmem_databases);
		shmem_shared->nslots = shmem_shared->nlisted + PAYCONS_EXTRA_SLOTS;
		for (i = 0; i < shmem_shared->nslots; i++)
		{
			PayconsDbSlot *slot = &shmem_shared->slots[i];

			memset(&slot->dbname, 0, sizeof(NameData));
			slot->dboid = InvalidOid;
			slot->listed = slot->in_use = false;
			shmem_slot_reset(slot);
		}
		i = 0;
		foreach(lc, shmem_databases)
		{
			PayconsDbSlot *slot = &shmem_shared->slots[i++];

			namestrcpy(&slot->dbname, (const char *) lfirst(lc));
			slot->listed = slot->in_use = true;
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Parse a value of paycons.database: a comma-separated list of database
 * names (double-quoted if they contain commas, spaces or quotes; case is
 * kept).  The empty list is valid (no worker).  On failure returns false
 * with a sentence in *problem.  Used by the setting's check hook and by
 * the registration of the workers.
 */
bool
PayconsDatabaseListParse(const char *value, List **names, char **problem)
{
	char	   *raw = pstrdup(value ? value : "");
	List	   *list = NIL;
	ListCell   *lc;

	*names = NIL;
	*problem = NULL;
	if (!SplitGUCList(raw, ',', &list))
	{
		*problem = psprintf("\"%s\" is not a list of database names.", value);
		return false;
	}
	if (list_length(list) > PAYCONS_MAX_DATABASES)
	{
		*problem = psprintf("%d databases are listed; at most %d are allowed.",
							list_length(list), PAYCONS_MAX_DATABASES);
		return false;
	}
	foreach(lc, list)
	{
		const char *name = (const char *) lfirst(lc);

		if (name[0] == '\0')
		{
			*problem = pstrdup("A database name is empty.");
			return false;
		}
		if (strlen(name) >= NAMEDATALEN)
		{
			*problem = psprintf("Database name \"%s\" is longer than %d bytes.",
								name, NAMEDATALEN - 1);
			return false;
		}
		for (ListCell *lc2 = list_head(list); lc2 != lc; lc2 = lnext(list, lc2))
		{
			if (strcmp((const char *) lfirst(lc2), name) == 0)
			{
				*problem = psprintf("Database \"%s\" is listed twice.", name);
				return false;
			}
		}
	}
	*names = list;
	return true;
}

/*
 * Install the hooks; called from _PG_init under shared_preload_libraries
 * with the parsed paycons.database (kept in TopMemoryContext).
 */
void
PayconsShmemInit(List *databases)
{
	shmem_databases = databases;
	shmem_prev_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	shmem_prev_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
}

/* Listed slot i (for the worker and the notifier) */
static PayconsDbSlot *
shmem_listed_slot(int i)
{
	if (shmem_shared == NULL || i < 0 || i >= shmem_shared->nlisted)
		elog(ERROR, "paycons: no database slot %d", i);
	return &shmem_shared->slots[i];
}

/* The name of listed database number i */
const char *
PayconsSlotDatabase(int i)
{
	return NameStr(shmem_listed_slot(i)->dbname);
}

/* The unlisted database's extra slot; the lock is held */
static PayconsDbSlot *
shmem_lookup_extra(void)
{
	for (int i = shmem_shared->nlisted; i < shmem_shared->nslots; i++)
	{
		PayconsDbSlot *slot = &shmem_shared->slots[i];

		if (slot->in_use && slot->dboid == MyDatabaseId)
			return slot;
	}
	return NULL;
}

/* Claim a free extra slot for this database; the lock is held exclusively */
static PayconsDbSlot *
shmem_claim(void)
{
	PayconsDbSlot *slot = shmem_lookup_extra();

	if (slot != NULL)
		return slot;			/* another backend was first */
	for (int i = shmem_shared->nlisted; i < shmem_shared->nslots; i++)
	{
		slot = &shmem_shared->slots[i];
		if (!slot->in_use)
		{
			slot->dbname = shmem_my_dbname;
			slot->dboid = MyDatabaseId;
			slot->in_use = true;
			shmem_slot_reset(slot);
			return slot;
		}
	}
	return NULL;
}

/*
 * All extra slots are taken: free those of databases that no longer exist
 * (looked up in the catalog without holding the lock).
 */
static void
shmem_free_dropped(void)
{
	Oid			oids[PAYCONS_EXTRA_SLOTS];
	int			n = 0;

	LWLockAcquire(shmem_shared->lock, LW_SHARED);
	for (int i = shmem_shared->nlisted; i < shmem_shared->nslots; i++)
		oids[n++] = shmem_shared->slots[i].dboid;
	LWLockRelease(shmem_shared->lock);

	for (int k = 0; k < n; k++)
	{
		if (SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(oids[k])))
			continue;
		LWLockAcquire(shmem_shared->lock, LW_EXCLUSIVE);
		for (int i = shmem_shared->nlisted; i < shmem_shared->nslots; i++)
		{
			PayconsDbSlot *slot = &shmem_shared->slots[i];

			if (slot->in_use && slot->dboid == oids[k])
				slot->in_use = false;
		}
		LWLockRelease(shmem_shared->lock);
	}
}

/*
 * The slot of the current database, or NULL: without shared memory,
 * outside a transaction before the first lookup (the name comes from the
 * catalog), or for an unlisted database that has not claimed a slot (with
 * claim = true one is claimed if any is free).  Whether the database is
 * listed is looked up once per backend (the list is fixed at server
 * start), without a lock: listed slots never change.
 */
static PayconsDbSlot *
shmem_current_slot(bool claim)
{
	PayconsDbSlot *slot;

	if (shmem_shared == NULL)
		return NULL;
	if (!shmem_listed_known)
	{
		char	   *dbname;

		if (!OidIsValid(MyDatabaseId) || !IsTransactionState())
			return NULL;
		dbname = get_database_name(MyDatabaseId);
		if (dbname == NULL)
			return NULL;
		namestrcpy(&shmem_my_dbname, dbname);
		pfree(dbname);
		for (int i = 0; i < shmem_shared->nlisted; i++)
			if (strcmp(NameStr(shmem_shared->slots[i].dbname),
					   NameStr(shmem_my_dbname)) == 0)
				shmem_listed = &shmem_shared->slots[i];
		shmem_listed_known = true;
	}
	if (shmem_listed != NULL)
		return shmem_listed;
	if (shmem_extra != NULL)
		return shmem_extra;

	LWLockAcquire(shmem_shared->lock, LW_SHARED);
	slot = shmem_lookup_extra();
	LWLockRelease(shmem_shared->lock);
	if (slot == NULL && claim)
	{
		LWLockAcquire(shmem_shared->lock, LW_EXCLUSIVE);
		slot = shmem_claim();
		LWLockRelease(shmem_shared->lock);
		if (slot == NULL)
		{
			shmem_free_dropped();
			LWLockAcquire(shmem_shared->lock, LW_EXCLUSIVE);
			slot = shmem_claim();
			LWLockRelease(shmem_shared->lock);
		}
	}
	shmem_extra = slot;
	return slot;
}

/* Forget a process of a slot when it exits, however it exits */
static void
shmem_proc_detach(int code, Datum arg)
{
	int			i = DatumGetInt32(arg) / PAYCONS_NUM_PROC_KINDS;
	int			kind = DatumGetInt32(arg) % PAYCONS_NUM_PROC_KINDS;
	PayconsDbSlot *slot = &shmem_shared->slots[i];

	SpinLockAcquire(&slot->mutex);
	if (slot->procs[kind].pid == MyProcPid)
	{
		slot->procs[kind].pid = 0;
		slot->procs[kind].latch = NULL;
	}
	SpinLockRelease(&slot->mutex);
}

/*
 * Publish the calling process as the worker or the notifier of listed
 * database i (it is connected to it); cleared again when it exits.
 */
void
PayconsProcAttach(int i, PayconsProcKind kind)
{
	PayconsDbSlot *slot = shmem_listed_slot(i);

	LWLockAcquire(shmem_shared->lock, LW_EXCLUSIVE);
	slot->dboid = MyDatabaseId;
	LWLockRelease(shmem_shared->lock);
	shmem_my_dbname = slot->dbname;
	shmem_listed = slot;
	shmem_listed_known = true;

	SpinLockAcquire(&slot->mutex);
	slot->procs[kind].pid = MyProcPid;
	slot->procs[kind].latch = MyLatch;
	slot->procs[kind].started_at = GetCurrentTimestamp();
	if (kind == PAYCONS_PROC_WORKER)
		slot->wake_requested = false;
	SpinLockRelease(&slot->mutex);
	before_shmem_exit(shmem_proc_detach,
					  Int32GetDatum(i * PAYCONS_NUM_PROC_KINDS + (int) kind));
}

/* For the worker: was a pass asked for by paycons.wake()?  Clears the flag. */
bool
PayconsTakeWake(int i)
{
	PayconsDbSlot *slot = shmem_listed_slot(i);
	bool		wake;

	SpinLockAcquire(&slot->mutex);
	wake = slot->wake_requested;
	slot->wake_requested = false;
	SpinLockRelease(&slot->mutex);
	return wake;
}

/* For the notifier: do commits wait for a NOTIFY? */
bool
PayconsNotifyPending(int i)
{
	return pg_atomic_read_u32(&shmem_listed_slot(i)->notify_pending) != 0;
}

/*
 * For the notifier: take the notify flag (true if it was set).  A NOTIFY
 * sent after this covers every commit that set the flag before it.
 */
bool
PayconsTakeNotify(int i)
{
	return pg_atomic_exchange_u32(&shmem_listed_slot(i)->notify_pending, 0) != 0;
}

/* For the notifier: its NOTIFY failed; the commits still wait for one */
void
PayconsRestoreNotify(int i)
{
	pg_atomic_write_u32(&shmem_listed_slot(i)->notify_pending, 1);
}

/* For the notifier: count one NOTIFY sent */
void
PayconsCountNotification(int i)
{
	pg_atomic_fetch_add_u64(&shmem_listed_slot(i)->notifications, 1);
}

/*
 * The slot of the current database if a notifier serves it now, else
 * NULL (no shared memory, database not listed, notifier not running).
 * Called while writing an outbox event, in a transaction.
 */
PayconsDbSlot *
PayconsNotifierSlot(void)
{
	PayconsDbSlot *slot = shmem_current_slot(false);
	pid_t		pid;

	if (slot == NULL || !slot->listed)
		return NULL;
	SpinLockAcquire(&slot->mutex);
	pid = slot->procs[PAYCONS_PROC_NOTIFIER].pid;
	SpinLockRelease(&slot->mutex);
	return pid != 0 ? slot : NULL;
}

/*
 * After a commit that wrote outbox events became visible: make sure the
 * database's notifier sends a NOTIFY after this point.  If the flag is
 * already set, a NOTIFY is due anyway (whoever set it woke the notifier,
 * and the notifier takes the flag before it sends); otherwise set it and
 * wake the notifier.  If the notifier just exited, the flag waits for the
 * next one, which looks at it when it starts.  Never fails: it runs in the
 * commit callback.
 */
void
PayconsNotifierPoke(PayconsDbSlot *slot)
{
	Latch	   *latch;

	pg_memory_barrier();
	if (pg_atomic_read_u32(&slot->notify_pending) != 0 ||
		pg_atomic_exchange_u32(&slot->notify_pending, 1) != 0)
		return;
	SpinLockAcquire(&slot->mutex);
	latch = slot->procs[PAYCONS_PROC_NOTIFIER].latch;
	SpinLockRelease(&slot->mutex);
	if (latch != NULL)
		SetLatch(latch);
}

/*
 * Add one pass's counts to the current database's slot (claiming one if
 * the database is not listed); nothing without shared memory or a slot.
 */
void
PayconsStatsAdd(const int64 *counts)
{
	PayconsDbSlot *slot = shmem_current_slot(true);

	if (slot == NULL)
		return;
	for (int i = 0; i < PCS_NUM_COUNTERS; i++)
		if (counts[i] != 0)
			pg_atomic_fetch_add_u64(&slot->counters[i], (uint64) counts[i]);
	if (counts[PCS_PASSES] != 0)
		pg_atomic_write_u64(&slot->last_pass_at,
							(uint64) GetCurrentTimestamp());
}

/* paycons.wake(): set this database's worker's latch; false if none runs */
Datum
paycons_wake(PG_FUNCTION_ARGS)
{
	PayconsDbSlot *slot = shmem_current_slot(false);
	Latch	   *latch = NULL;

	if (slot == NULL || !slot->listed)
		PG_RETURN_BOOL(false);
	SpinLockAcquire(&slot->mutex);
	if (slot->procs[PAYCONS_PROC_WORKER].pid != 0)
	{
		latch = slot->procs[PAYCONS_PROC_WORKER].latch;
		slot->wake_requested = true;
	}
	SpinLockRelease(&slot->mutex);
	if (latch == NULL)
		PG_RETURN_BOOL(false);
	SetLatch(latch);
	PG_RETURN_BOOL(true);
}

/* Names of the counter columns of paycons.stats(), in PayconsCounter order */
static const char *const stats_counter_names[PCS_NUM_COUNTERS] = {
	"passes", "passes_skipped", "compensations_done", "compensations_retried",
	"compensations_dead", "external_sent", "payment_queries", "orders_closed",
	"stock_committed", "refund_queries", "item_errors"
};

/* One column of paycons.stats() */
typedef struct StatsColumn
{
	const char *name;
	Oid			type;
	Datum		value;
	bool		isnull;
} StatsColumn;

#define STATS_FIXED_COLUMNS 9
#define STATS_COLUMNS (STATS_FIXED_COLUMNS + PCS_NUM_COUNTERS)

/* Is the worker of a listed database running, idle, or absent, and why */
static const char *
stats_worker_status(PayconsDbSlot *slot, pid_t worker_pid)
{
	if (shmem_shared == NULL)
		return "not preloaded";
	if (slot == NULL || !slot->listed)
		return "not served";
	if (RecoveryInProgress())
		return "standby";
	if (worker_pid == 0)
		return "not running";
	if (!paycons_enabled)
		return "disabled";
	return "running";
}

/*
 * paycons.stats(): the current database's slot; see the OUT parameters in
 * 70_maintenance.sql.  Columns are matched by name, so the function also
 * serves the result types of earlier versions (a column it does not know
 * is NULL).
 */
Datum
paycons_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	StatsColumn cols[STATS_COLUMNS];
	Datum	   *values;
	bool	   *nulls;
	PayconsDbSlot *slot = shmem_current_slot(false);
	PayconsProcInfo procs[PAYCONS_NUM_PROC_KINDS];
	int			n = 0;
	uint64		last;
	bool		counted = (slot != NULL);

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);

	memset(procs, 0, sizeof(procs));
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		memcpy(procs, slot->procs, sizeof(procs));
		SpinLockRelease(&slot->mutex);
	}

#define STATS_COL(n_, t_, v_, null_) \
	(cols[n].name = (n_), cols[n].type = (t_), cols[n].value = (v_), \
	 cols[n].isnull = (null_), n++)

	STATS_COL("preloaded", BOOLOID, BoolGetDatum(shmem_shared != NULL), false);
	STATS_COL("datname", NAMEOID,
			  DirectFunctionCall1(namein, CStringGetDatum(get_database_name(MyDatabaseId))),
			  false);
	STATS_COL("served", BOOLOID, BoolGetDatum(slot != NULL && slot->listed),
			  shmem_shared == NULL);
	STATS_COL("worker_status", TEXTOID,
			  CStringGetTextDatum(stats_worker_status(slot, procs[PAYCONS_PROC_WORKER].pid)),
			  false);
	STATS_COL("worker_pid", INT4OID, Int32GetDatum(procs[PAYCONS_PROC_WORKER].pid),
			  procs[PAYCONS_PROC_WORKER].pid == 0);
	STATS_COL("worker_started_at", TIMESTAMPTZOID,
			  TimestampTzGetDatum(procs[PAYCONS_PROC_WORKER].started_at),
			  procs[PAYCONS_PROC_WORKER].pid == 0);
	STATS_COL("notifier_pid", INT4OID, Int32GetDatum(procs[PAYCONS_PROC_NOTIFIER].pid),
			  procs[PAYCONS_PROC_NOTIFIER].pid == 0);
	last = counted ? pg_atomic_read_u64(&slot->last_pass_at) : 0;
	STATS_COL("last_pass_at", TIMESTAMPTZOID, TimestampTzGetDatum((TimestampTz) last),
			  last == 0);
	STATS_COL("notifications", INT8OID,
			  Int64GetDatum(counted ? (int64) pg_atomic_read_u64(&slot->notifications) : 0),
			  !counted || !slot->listed);
	Assert(n == STATS_FIXED_COLUMNS);
	for (int i = 0; i < PCS_NUM_COUNTERS; i++)
		STATS_COL(stats_counter_names[i], INT8OID,
				  Int64GetDatum(counted ? (int64) pg_atomic_read_u64(&slot->counters[i]) : 0),
				  !counted);
#undef STATS_COL

	values = palloc0(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		nulls[a] = true;
		if (att->attisdropped)
			continue;
		for (int c = 0; c < n; c++)
		{
			if (strcmp(NameStr(att->attname), cols[c].name) != 0)
				continue;
			if (att->atttypid != cols[c].type)
				elog(ERROR, "column \"%s\" of paycons.stats() has type %u, expected %u",
					 cols[c].name, att->atttypid, cols[c].type);
			values[a] = cols[c].value;
			nulls[a] = cols[c].isnull;
		}
	}

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
