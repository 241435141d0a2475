/*
 * fuzz_form.c -- libFuzzer target: application/x-www-form-urlencoded
 * parsing (src/channels/form.c).  Parameters come back sorted, unique,
 * decoded to UTF-8 without NUL.
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_form.c
 */
#include "form.h"
#include "fuzz_common.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzArena	fa = {NULL, 0};
	PayconsArena a = {fuzz_alloc, &fa};
	PayconsForm form;
	PayconsChanError err;

	if (PayconsFormParse((const char *) data, size, &a, &form, &err) == PCH_OK)
	{
		for (int i = 0; i < form.n; i++)
		{
			const PayconsFormParam *p = &form.params[i];

			if (!PayconsUtf8Valid(p->key, p->keylen) ||
				!PayconsUtf8Valid(p->value, p->valuelen) || p->keylen == 0)
				abort();
			if (i > 0)
			{
				const PayconsFormParam *q = &form.params[i - 1];
				size_t		m = q->keylen < p->keylen ? q->keylen : p->keylen;
				int			c = memcmp(q->key, p->key, m);

				if (c > 0 || (c == 0 && q->keylen >= p->keylen))
					abort();	/* not sorted, or a duplicate */
			}
		}
		if (form.n > 0)
			(void) PayconsFormGet(&form, form.params[0].key);
	}
	fuzz_arena_free(&fa);
	return 0;
}
