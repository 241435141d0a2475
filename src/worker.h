/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The paycons background workers (one per listed database) and the
 *	  transaction skeleton they and the notifiers share.
 *
 * IDENTIFICATION
 *	  src/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_WORKER_H
#define PAYCONS_WORKER_H

#include "fmgr.h"
#include "nodes/pg_list.h"

/* Seconds before the postmaster restarts a worker or notifier that exited */
#define PAYCONS_RESTART_SECS	5

extern void PayconsWorkerRegister(List *databases);
extern void PayconsWorkerConnect(int i, const char *what);
extern bool PayconsRunTransaction(const char *activity,
								  void (*work) (void *arg), void *arg);
extern PGDLLEXPORT void paycons_worker_main(Datum main_arg);

#endif							/* PAYCONS_WORKER_H */
