/*-------------------------------------------------------------------------
 *
 * order_history.h
 *	  The one writer of paycons.order_history.
 *
 * IDENTIFICATION
 *	  src/order_history.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_ORDER_HISTORY_H
#define PAYCONS_ORDER_HISTORY_H

#include "order_state.h"
#include "utils/relcache.h"

extern void PayconsWriteHistory(Relation rel, const char *key,
								const OrderState *from, OrderState to,
								bool forced);

#endif							/* PAYCONS_ORDER_HISTORY_H */
