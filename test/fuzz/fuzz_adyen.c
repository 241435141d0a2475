/*
 * fuzz_adyen.c -- libFuzzer target: an Adyen webhook body
 * (src/channels/adyen.c): its one item, the payload Adyen signs, and the
 * facts as if the HMAC had verified.
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_adyen.c
 */
#include "adyen.h"
#include "fuzz_common.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzArena	fa = {NULL, 0};
	PayconsArena a = {fuzz_alloc, &fa};
	PayconsAdyenItem item;
	PayconsNoticeFacts f;
	PayconsChanError err;

	if (PayconsAdyenParse((const char *) data, size, &a, &item, &err) == PCH_OK)
	{
		fuzz_touch(item.payload, item.payload_len);
		if (PayconsAdyenFacts(&item, &a, &f, &err) == PCH_OK)
			fuzz_facts(&f, &a);
	}
	fuzz_arena_free(&fa);
	return 0;
}
