/*-------------------------------------------------------------------------
 *
 * order_state.h
 *	  The paycons.order_state type and the order state machine.  The
 *	  states and their labels are in order_state_label.h (backend-free).
 *
 * IDENTIFICATION
 *	  src/order_state.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_ORDER_STATE_H
#define PAYCONS_ORDER_STATE_H

#include "fmgr.h"

#include "order_state_label.h"

#define DatumGetOrderState(d)	((OrderState) DatumGetChar(d))
#define OrderStateGetDatum(s)	CharGetDatum((char) (s))
#define PG_GETARG_ORDER_STATE(n) DatumGetOrderState(PG_GETARG_DATUM(n))
#define PG_RETURN_ORDER_STATE(s) return OrderStateGetDatum(s)

extern const char *OrderStateName(OrderState s);
extern bool OrderStateCanTransition(OrderState from, OrderState to);
extern bool OrderStateIsTerminal(OrderState s);
extern char *OrderStateLegalTargets(OrderState from);
extern Oid	OrderStateTypeOid(void);

#endif							/* PAYCONS_ORDER_STATE_H */
