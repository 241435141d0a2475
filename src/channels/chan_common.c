/*-------------------------------------------------------------------------
 *
 * chan_common.c
 *	  The allocator, error and facts helpers shared by the channel protocol
 *	  parsers (see chan_common.h).  No backend dependency.
 *
 * IDENTIFICATION
 *	  src/channels/chan_common.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "chan_common.h"
#include "money.h"

/* Longest detail text; longer ones are cut */
#define CHAN_DETAIL_MAX 512

void *
PayconsArenaAlloc(PayconsArena *a, size_t size)
{
	return a->alloc(a->ctx, size == 0 ? 1 : size);
}

char *
PayconsArenaStrndup(PayconsArena *a, const char *s, size_t len)
{
	char	   *d = PayconsArenaAlloc(a, len + 1);

	if (d == NULL)
		return NULL;
	if (len > 0)
		memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

PayconsChanStatus
PayconsChanFail(PayconsArena *a, PayconsChanError *err, PayconsChanStatus status,
				const char *fmt,...)
{
	char	   *buf = PayconsArenaAlloc(a, CHAN_DETAIL_MAX);
	va_list		ap;

	err->status = status;
	if (buf == NULL)
	{
		err->detail = "out of memory";
		return status;
	}
	va_start(ap, fmt);
	vsnprintf(buf, CHAN_DETAIL_MAX, fmt, ap);
	va_end(ap);
	err->detail = buf;
	return status;
}

int
PayconsChanClip(const char *s, size_t len, int max)
{
	size_t		n = len;

	if (s == NULL)
		return 0;
	if (n <= (size_t) max)
		return (int) n;
	n = (size_t) max;
	/* do not cut a multi-byte character: back up over continuation bytes */
	while (n > 0 && (((unsigned char) s[n]) & 0xC0) == 0x80)
		n--;
	return (int) n;
}

bool
PayconsUtf8Valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = p[i];
		size_t		n;
		uint32_t	cp;
		uint32_t	min;

		if (c == 0)
			return false;
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0)
		{
			n = 1;
			cp = c & 0x1F;
			min = 0x80;
		}
		else if ((c & 0xF0) == 0xE0)
		{
			n = 2;
			cp = c & 0x0F;
			min = 0x800;
		}
		else if ((c & 0xF8) == 0xF0)
		{
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		}
		else
			return false;
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++)
		{
			if ((p[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

bool
PayconsChanEq(const char *field, size_t len, const char *s)
{
	return field != NULL && strlen(s) == len && memcmp(field, s, len) == 0;
}

PayconsChanStatus
PayconsNoticeResolve(const PayconsNoticeFacts *f, const char *default_currency,
					 PayconsArena *a, PayconsNoticeResolved *r,
					 PayconsChanError *err)
{
	const char *cur;
	size_t		curlen;
	int			exponent;
	int64_t		amount = 0;
	PayconsMoneyStatus ms;
	char		suffix[48];

	memset(r, 0, sizeof(*r));

	if (f->txn_id == NULL)
		return PayconsChanFail(a, err, PCH_MISSING_FIELD,
							   "The notification names no transaction id.");
	if (f->order_id == NULL)
		return PayconsChanFail(a, err, PCH_MISSING_FIELD,
							   "The notification names no merchant order id.");
	if (f->amount == NULL)
		return PayconsChanFail(a, err, PCH_MISSING_FIELD,
							   "The notification states no amount.");

	/* the currency: the body's (upper-cased), else the channel's default */
	if (f->currency != NULL)
	{
		cur = f->currency;
		curlen = f->currency_len;
	}
	else if (default_currency != NULL)
	{
		cur = default_currency;
		curlen = strlen(default_currency);
	}
	else
		return PayconsChanFail(a, err, PCH_MISSING_FIELD,
							   "The notification states no currency and the channel has no default currency.");
	if (curlen != 3)
		return PayconsChanFail(a, err, PCH_BAD_CURRENCY,
							   "The currency \"%.*s\" is not a three-letter ISO 4217 code.",
							   PayconsChanClip(cur, curlen, 16), cur);
	for (int i = 0; i < 3; i++)
	{
		char		c = cur[i];

		if (c >= 'a' && c <= 'z')
			c = (char) (c - 'a' + 'A');
		if (c < 'A' || c > 'Z')
			return PayconsChanFail(a, err, PCH_BAD_CURRENCY,
								   "The currency \"%.*s\" is not a three-letter ISO 4217 code.",
								   (int) curlen, cur);
		r->currency[i] = c;
	}
	r->currency[3] = '\0';
	exponent = PayconsCurrencyExponent(r->currency, 3);
	if (exponent < 0)
		return PayconsChanFail(a, err, PCH_BAD_CURRENCY,
							   "The currency \"%s\" is not an active ISO 4217 currency.",
							   r->currency);

	/* the amount, exactly */
	if (f->amount_major)
		ms = PayconsParseMajorUnits(f->amount, f->amount_len, exponent, false,
									&amount);
	else
		ms = PayconsParseMinorUnits(f->amount, f->amount_len, false, &amount);
	if (ms == PAYCONS_MONEY_SYNTAX && !f->amount_major)
		return PayconsChanFail(a, err, PCH_BAD_AMOUNT,
							   "The amount \"%.*s\" is not a whole number of minor units.",
							   PayconsChanClip(f->amount, f->amount_len, 64),
							   f->amount);
	if (ms != PAYCONS_MONEY_OK)
		return PayconsChanFail(a, err, PCH_BAD_AMOUNT,
							   "The amount \"%.*s\" is %s.",
							   PayconsChanClip(f->amount, f->amount_len, 64),
							   f->amount, PayconsMoneyStatusText(ms));
	if (amount <= 0)
		return PayconsChanFail(a, err, PCH_BAD_AMOUNT,
							   "The amount \"%.*s\" is not positive.",
							   PayconsChanClip(f->amount, f->amount_len, 64),
							   f->amount);
	r->amount = amount;

	/* the inbox key */
	if (f->cumulative)
		snprintf(suffix, sizeof(suffix), ":refunded:%lld", (long long) amount);
	else if (!f->success)
		snprintf(suffix, sizeof(suffix), ":failed");
	else
		suffix[0] = '\0';
	r->txn_id = PayconsArenaStrndup(a, f->txn_id, f->txn_len);
	r->order_id = PayconsArenaStrndup(a, f->order_id, f->order_len);
	r->txn_key = PayconsArenaAlloc(a, f->txn_len + strlen(suffix) + 1);
	if (r->txn_id == NULL || r->order_id == NULL || r->txn_key == NULL)
		return PayconsChanFail(a, err, PCH_MALFORMED, "out of memory");
	memcpy(r->txn_key, f->txn_id, f->txn_len);
	strcpy(r->txn_key + f->txn_len, suffix);
	return PCH_OK;
}
