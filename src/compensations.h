/*-------------------------------------------------------------------------
 *
 * compensations.h
 *	  Saga compensation steps: enqueue, run due ones, complete (or record
 *	  as done) the refunds a review finds already made.
 *
 * IDENTIFICATION
 *	  src/compensations.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_COMPENSATIONS_H
#define PAYCONS_COMPENSATIONS_H

/* Limits, in bytes (documented in doc/worker.md) */
#define PAYCONS_MAX_ACTION		200

/* Callers are connected to SPI and run as the owner */
extern int64 PayconsEnqueueCompensation(const char *order_id, const char *action,
										Oid handler, Datum args, Oid run_as);
extern void PayconsRunCompensations(int limit, int64 *counts);
extern void PayconsCompleteCompensation(int64 id, const char *detail);
extern void PayconsRecordDoneCompensation(const char *order_id,
										  const char *action, Datum args,
										  const char *detail);

#endif							/* PAYCONS_COMPENSATIONS_H */
