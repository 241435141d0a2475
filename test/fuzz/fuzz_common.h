/*-------------------------------------------------------------------------
 *
 * fuzz_common.h
 *	  What the libFuzzer targets of the channel parsers share: a malloc
 *	  arena for PayconsArena, freed after each input, and a helper that
 *	  touches every byte a parser hands back (so that ASan sees a read of
 *	  memory the parser did not own).
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_common.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chan_common.h"

typedef struct FuzzBlock
{
	struct FuzzBlock *next;
} FuzzBlock;

typedef struct FuzzArena
{
	FuzzBlock  *blocks;
	size_t		total;
} FuzzArena;

static void *
fuzz_alloc(void *ctx, size_t size)
{
	FuzzArena  *fa = ctx;
	FuzzBlock  *b;

	/* refuse absurd totals as a backend would (1 GB palloc limit) */
	if (size > ((size_t) 1 << 30) || fa->total + size > ((size_t) 1 << 30))
		return NULL;
	b = malloc(sizeof(FuzzBlock) + size);
	if (b == NULL)
		return NULL;
	b->next = fa->blocks;
	fa->blocks = b;
	fa->total += size;
	return b + 1;
}

static void
fuzz_arena_free(FuzzArena *fa)
{
	while (fa->blocks)
	{
		FuzzBlock  *n = fa->blocks->next;

		free(fa->blocks);
		fa->blocks = n;
	}
	fa->total = 0;
}

static volatile unsigned fuzz_sink;

/* Read every byte of s[0..len) */
static void
fuzz_touch(const char *s, size_t len)
{
	unsigned	h = 0;

	if (s == NULL)
		return;
	for (size_t i = 0; i < len; i++)
		h = h * 31 + (unsigned char) s[i];
	fuzz_sink += h;
}

/* Read the facts a parser returned, and resolve them */
static void
fuzz_facts(const PayconsNoticeFacts *f, PayconsArena *a)
{
	PayconsNoticeResolved r;
	PayconsChanError err;

	fuzz_touch(f->txn_id, f->txn_len);
	fuzz_touch(f->order_id, f->order_len);
	fuzz_touch(f->amount, f->amount_len);
	fuzz_touch(f->currency, f->currency_len);
	fuzz_touch(f->merchant, f->merchant_len);
	fuzz_touch(f->event_id, f->event_id_len);
	fuzz_touch(f->event_type, f->event_type_len);
	if (f->kind != PN_IGNORE &&
		PayconsNoticeResolve(f, "CNY", a, &r, &err) == PCH_OK)
	{
		fuzz_touch(r.txn_key, strlen(r.txn_key));
		fuzz_touch(r.order_id, strlen(r.order_id));
		if (r.amount <= 0 || strlen(r.currency) != 3)
			abort();			/* Resolve promises positive amounts */
	}
}

#endif							/* FUZZ_COMMON_H */
