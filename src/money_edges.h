/*-------------------------------------------------------------------------
 *
 * money_edges.h
 *	  Which order state changes claim that money moved, and who may make
 *	  them: paycons's own money paths, or the extension owner forcing one
 *	  with a reason.
 *
 * IDENTIFICATION
 *	  src/money_edges.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_MONEY_EDGES_H
#define PAYCONS_MONEY_EDGES_H

#include "access/htup.h"
#include "utils/relcache.h"

#include "as_owner.h"
#include "order_state.h"

extern bool PayconsIsMoneyEdge(OrderState from, OrderState to);
extern void PayconsAsOwnerForCaller(const char *reason, PayconsOwnerWork work,
									void *arg);
extern bool PayconsCheckMoneyEdge(Relation rel, HeapTuple newtup,
								  OrderState from, OrderState to);

#endif							/* PAYCONS_MONEY_EDGES_H */
