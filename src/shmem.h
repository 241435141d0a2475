/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  paycons's shared memory: one slot per database with the processes
 *	  that serve it (worker and notifier), its wake and notify flags and
 *	  its maintenance counters.  Present only under shared_preload_libraries.
 *
 * IDENTIFICATION
 *	  src/shmem.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_SHMEM_H
#define PAYCONS_SHMEM_H

#include "nodes/pg_list.h"

/* Most databases paycons.database may list */
#define PAYCONS_MAX_DATABASES	32

/*
 * Slots for databases not in paycons.database whose run_maintenance()
 * passes (pg_cron, by hand) are counted too; claimed on first use.
 */
#define PAYCONS_EXTRA_SLOTS		16

/* The processes that serve a listed database */
typedef enum PayconsProcKind
{
	PAYCONS_PROC_WORKER = 0,	/* maintenance passes */
	PAYCONS_PROC_NOTIFIER		/* NOTIFY paycons_outbox for many commits */
} PayconsProcKind;

#define PAYCONS_NUM_PROC_KINDS	2

/* One database's slot (opaque outside shmem.c) */
typedef struct PayconsDbSlot PayconsDbSlot;

/* postmaster, from _PG_init under shared_preload_libraries */
extern bool PayconsDatabaseListParse(const char *value, List **names,
									 char **problem);
extern void PayconsShmemInit(List *databases);

/* the worker and the notifier of listed database number i */
extern const char *PayconsSlotDatabase(int i);
extern void PayconsProcAttach(int i, PayconsProcKind kind);
extern bool PayconsTakeWake(int i);
extern bool PayconsNotifyPending(int i);
extern bool PayconsTakeNotify(int i);
extern void PayconsRestoreNotify(int i);
extern void PayconsCountNotification(int i);

/* any backend */
extern void PayconsStatsAdd(const int64 *counts);
extern PayconsDbSlot *PayconsNotifierSlot(void);
extern void PayconsNotifierPoke(PayconsDbSlot *slot);

#endif							/* PAYCONS_SHMEM_H */
