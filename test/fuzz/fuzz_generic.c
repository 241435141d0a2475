/*
 * fuzz_generic.c -- libFuzzer target: the generic protocol's declared
 * fields (src/channels/generic.c), read from a JSON or (first byte odd) a
 * form body, and turned into facts.
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_generic.c
 */
#include "fuzz_common.h"
#include "generic.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzArena	fa = {NULL, 0};
	PayconsArena a = {fuzz_alloc, &fa};
	PayconsGenericFields fields = {{"id", "order", "kind", "status", "amount", "currency"}};
	PayconsGenericValues vals;
	PayconsNoticeFacts f;
	PayconsChanError err;

	if (size < 1)
		return 0;
	if (PayconsGenericRead((data[0] & 1) ? PBF_FORM : PBF_JSON, &fields,
						   (const char *) data + 1, size - 1, &a, &vals, &err) == PCH_OK &&
		PayconsGenericFacts(&vals, &a, &f, &err) == PCH_OK)
		fuzz_facts(&f, &a);
	fuzz_arena_free(&fa);
	return 0;
}
