/*
 * fuzz_json.c -- libFuzzer target: the strict JSON reader (src/channels/json.c).
 * Every parsed string must be valid UTF-8 without NUL; every number literal
 * the reader keeps must be inside the input.
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_json.c
 */
#include "fuzz_common.h"
#include "json.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
walk(const PayconsJson *v, const uint8_t *data, size_t size)
{
	switch (v->kind)
	{
		case PJ_STRING:
			if (!PayconsUtf8Valid(v->str, v->len))
				abort();
			fuzz_touch(v->str, v->len);
			break;
		case PJ_NUMBER:
			if ((const uint8_t *) v->str < data ||
				(const uint8_t *) v->str + v->len > data + size)
				abort();
			fuzz_touch(v->str, v->len);
			break;
		case PJ_ARRAY:
		case PJ_OBJECT:
			for (int i = 0; i < v->n; i++)
			{
				if (v->kind == PJ_OBJECT)
					fuzz_touch(v->keys[i], v->keylens[i]);
				walk(v->items[i], data, size);
			}
			break;
		default:
			break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzArena	fa = {NULL, 0};
	PayconsArena a = {fuzz_alloc, &fa};
	PayconsJson *root;
	PayconsChanError err;

	if (PayconsJsonParse((const char *) data, size, &a, &root, &err) == PCH_OK)
	{
		walk(root, data, size);
		(void) PayconsJsonGet(root, "id");
	}
	else
		fuzz_touch(err.detail, strlen(err.detail));
	fuzz_arena_free(&fa);
	return 0;
}
