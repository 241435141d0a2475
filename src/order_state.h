/*-------------------------------------------------------------------------
 *
 * order_state.h
 *	  The paycons.order_state type and the order state machine.
 *
 * IDENTIFICATION
 *	  src/order_state.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_ORDER_STATE_H
#define PAYCONS_ORDER_STATE_H

#include "fmgr.h"

/*
 * The order states.  The numeric values are the on-disk representation of
 * paycons.order_state (one byte) and define its sort order: never renumber,
 * only append.
 */
typedef enum OrderState
{
	OS_CREATED = 0,
	OS_PAYING,
	OS_PAYMENT_FAILED,
	OS_PAID,
	OS_FULFILLING,
	OS_SHIPPED,
	OS_COMPLETED,
	OS_CLOSED,
	OS_CANCELLED,
	OS_REFUNDING,
	OS_NEEDS_REVIEW,
	OS_REFUNDED
} OrderState;

#define OS_NUM_STATES	(OS_REFUNDED + 1)

#define DatumGetOrderState(d)	((OrderState) DatumGetChar(d))
#define OrderStateGetDatum(s)	CharGetDatum((char) (s))
#define PG_GETARG_ORDER_STATE(n) DatumGetOrderState(PG_GETARG_DATUM(n))
#define PG_RETURN_ORDER_STATE(s) return OrderStateGetDatum(s)

extern const char *OrderStateName(OrderState s);
extern bool OrderStateFromName(const char *name, OrderState *result);
extern bool OrderStateCanTransition(OrderState from, OrderState to);
extern bool OrderStateIsTerminal(OrderState s);
extern char *OrderStateLegalTargets(OrderState from);
extern Oid	OrderStateTypeOid(void);

#endif							/* PAYCONS_ORDER_STATE_H */
