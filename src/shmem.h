/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  paycons's shared memory: maintenance counters, the worker's identity
 *	  and latch.  Present only under shared_preload_libraries.
 *
 * IDENTIFICATION
 *	  src/shmem.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_SHMEM_H
#define PAYCONS_SHMEM_H

extern void PayconsShmemInit(void);
extern void PayconsStatsAdd(const int64 *counts);
extern void PayconsStatsWorkerStarted(void);
extern bool PayconsStatsTakeWake(void);

#endif							/* PAYCONS_SHMEM_H */
