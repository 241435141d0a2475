/*
 * fuzz_stripe.c -- libFuzzer target: a Stripe event body's facts
 * (src/channels/stripe.c).
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_stripe.c
 */
#include "fuzz_common.h"
#include "stripe.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzArena	fa = {NULL, 0};
	PayconsArena a = {fuzz_alloc, &fa};
	PayconsNoticeFacts f;
	PayconsChanError err;

	if (PayconsStripeFacts((const char *) data, size, &a, &f, &err) == PCH_OK)
		fuzz_facts(&f, &a);
	fuzz_arena_free(&fa);
	return 0;
}
