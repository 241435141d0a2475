/*
 * fuzz_order_state.c -- libFuzzer target: the text input of the
 * paycons.order_state type (OrderStateFromName, src/order_state_label.c,
 * which order_state_in calls) and the label of a state value.
 *
 * The input, up to its first NUL byte, is what order_state_in receives as
 * a C string (the backend never hands it a NUL).  Properties:
 *
 *	- every state's label parses back to that state, and the labels are
 *	  distinct (checked once);
 *	- an accepted input is exactly one of the labels, byte for byte (no
 *	  case folding, blanks, prefixes or trailing bytes), and the state
 *	  returned is the one whose label it is;
 *	- a refused input equals no label;
 *	- OrderStateLabel(v), for the first four bytes read as an int (as
 *	  order_state_recv's byte would be), is a label iff 0 <= v < the
 *	  number of states.
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_order_state.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "order_state_label.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every label parses to its state; labels are distinct and non-empty */
static void
order_state_round_trip(void)
{
	for (int i = 0; i < OS_NUM_STATES; i++)
	{
		const char *label = OrderStateLabel(i);
		OrderState	s = (OrderState) -1;

		if (label == NULL || label[0] == '\0' ||
			!OrderStateFromName(label, &s) || (int) s != i)
			abort();
		for (int j = 0; j < i; j++)
			if (strcmp(label, OrderStateLabel(j)) == 0)
				abort();
	}
	if (OrderStateLabel(-1) != NULL || OrderStateLabel(OS_NUM_STATES) != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	checked = 0;
	char	   *str;
	OrderState	s = (OrderState) -1;
	int			value;

	if (!checked)
	{
		order_state_round_trip();
		checked = 1;
	}

	str = malloc(size + 1);
	if (str == NULL)
		return 0;
	memcpy(str, data, size);
	str[size] = '\0';

	if (OrderStateFromName(str, &s))
	{
		const char *label = OrderStateLabel((int) s);

		if (label == NULL || strcmp(str, label) != 0)
			abort();
	}
	else
	{
		for (int i = 0; i < OS_NUM_STATES; i++)
			if (strcmp(str, OrderStateLabel(i)) == 0)
				abort();
	}
	free(str);

	if (size >= sizeof(value))
	{
		const char *label;

		memcpy(&value, data, sizeof(value));
		label = OrderStateLabel(value);
		if ((label != NULL) != (value >= 0 && value < OS_NUM_STATES))
			abort();
	}
	return 0;
}
