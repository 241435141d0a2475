/*-------------------------------------------------------------------------
 *
 * order_state_label.h
 *	  The order states and their text labels, without the backend.
 *
 * Plain C (no postgres.h), so that the fuzz target of the type's text
 * input (test/fuzz/fuzz_order_state.c) links this module alone.  The SQL
 * type, its I/O functions and the state machine are in order_state.h.
 *
 * IDENTIFICATION
 *	  src/order_state_label.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_ORDER_STATE_LABEL_H
#define PAYCONS_ORDER_STATE_LABEL_H

#include <stdbool.h>

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

/* The label of a state ("needs_review"), or NULL for a value out of range */
extern const char *OrderStateLabel(int value);

/*
 * Parse a NUL-terminated label: true and *result set if name is exactly
 * one of the labels (lower case, no blanks), false otherwise.
 */
extern bool OrderStateFromName(const char *name, OrderState *result);

#endif							/* PAYCONS_ORDER_STATE_LABEL_H */
