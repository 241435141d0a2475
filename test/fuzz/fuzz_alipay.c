/*
 * fuzz_alipay.c -- libFuzzer target: an Alipay notification body
 * (src/channels/alipay.c), parsed, its content to verify built, and its
 * facts read as if the signature had verified.
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_alipay.c
 */
#include "alipay.h"
#include "fuzz_common.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzArena	fa = {NULL, 0};
	PayconsArena a = {fuzz_alloc, &fa};
	PayconsAlipayNotice n;
	PayconsNoticeFacts f;
	PayconsChanError err;

	if (PayconsAlipayParse((const char *) data, size, &a, &n, &err) == PCH_OK)
	{
		fuzz_touch(n.content, n.contentlen);
		fuzz_touch((const char *) n.sign, n.signlen);
		if (PayconsAlipayFacts(&n, &a, &f, &err) == PCH_OK)
			fuzz_facts(&f, &a);
	}
	fuzz_arena_free(&fa);
	return 0;
}
