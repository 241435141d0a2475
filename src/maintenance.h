/*-------------------------------------------------------------------------
 *
 * maintenance.h
 *	  Kinds of maintenance work, counted per pass and since server start.
 *
 * IDENTIFICATION
 *	  src/maintenance.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_MAINTENANCE_H
#define PAYCONS_MAINTENANCE_H

/*
 * Kinds of maintenance work, counted per pass (maintenance.c) and since
 * server start in shared memory (shmem.c).  Never renumber: the order is
 * that of the columns of paycons.stats().
 */
typedef enum PayconsCounter
{
	PCS_PASSES = 0,
	PCS_PASSES_SKIPPED,
	PCS_COMP_DONE,
	PCS_COMP_RETRIED,
	PCS_COMP_DEAD,
	PCS_EXTERNAL_SENT,
	PCS_PAYMENT_QUERIES,
	PCS_ORDERS_CLOSED,
	PCS_STOCK_COMMITTED,
	PCS_REFUND_QUERIES,
	PCS_ITEM_ERRORS
} PayconsCounter;

#define PCS_NUM_COUNTERS	(PCS_ITEM_ERRORS + 1)

#endif							/* PAYCONS_MAINTENANCE_H */
