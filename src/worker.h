/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The paycons background worker.
 *
 * IDENTIFICATION
 *	  src/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_WORKER_H
#define PAYCONS_WORKER_H

extern void PayconsWorkerRegister(void);
extern PGDLLEXPORT void paycons_worker_main(Datum main_arg);

#endif							/* PAYCONS_WORKER_H */
