/*-------------------------------------------------------------------------
 *
 * order_state_label.c
 *	  The text labels of the order states and the parser of a label: the
 *	  part of paycons.order_state's text I/O that needs no backend.
 *
 * order_state.c wraps these in the type's input and output functions
 * (which raise errors); the fuzz target test/fuzz/fuzz_order_state.c links
 * this file alone.
 *
 * IDENTIFICATION
 *	  src/order_state_label.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "order_state_label.h"

/* Labels, indexed by OrderState.  Text I/O is exact: lower case, no spaces. */
static const char *const order_state_labels[OS_NUM_STATES] = {
	"created",
	"paying",
	"payment_failed",
	"paid",
	"fulfilling",
	"shipped",
	"completed",
	"closed",
	"cancelled",
	"refunding",
	"needs_review",
	"refunded"
};

const char *
OrderStateLabel(int value)
{
	if (value < 0 || value >= OS_NUM_STATES)
		return NULL;
	return order_state_labels[value];
}

bool
OrderStateFromName(const char *name, OrderState *result)
{
	for (int i = 0; i < OS_NUM_STATES; i++)
	{
		if (strcmp(name, order_state_labels[i]) == 0)
		{
			*result = (OrderState) i;
			return true;
		}
	}
	return false;
}
