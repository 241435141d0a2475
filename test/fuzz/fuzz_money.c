/*
 * fuzz_money.c -- libFuzzer target: ISO 4217 exponents and the exact
 * conversion of decimal text into minor units (src/money.c), which every
 * channel notification and statement line goes through.
 *
 * Input: the first byte chooses the exponent (bits 0-4: 0..30, 31 means
 * -1; the parser takes 0..18) and bit 5 allows a sign; the rest is the
 * amount text.  Properties, checked against a reference written here in
 * 128-bit arithmetic (a different method from money.c's digit-by-digit
 * overflow test):
 *
 *	- accepted iff the text is [-]digits[.digits], its fractional digits
 *	  beyond the exponent are all zeros, the value fits in int64 minor
 *	  units, and it is not negative unless a sign is allowed; the value is
 *	  then exactly the reference's (never a silent int64 overflow);
 *	- each refusal names a true reason: SYNTAX only for text outside the
 *	  grammar (or an exponent outside 0..18), PRECISION only with a
 *	  significant digit beyond the exponent, RANGE only when the digits
 *	  read exceed int64, NEGATIVE only for a non-zero amount with a sign;
 *	- round trip: an accepted value printed back with the exponent's
 *	  number of decimals ("-12.30") parses to the same value, also with a
 *	  trailing zero; with one more significant digit it is refused as
 *	  PRECISION; PayconsParseMinorUnits agrees with exponent 0;
 *	- PayconsCurrencyExponent: -1 unless three upper-case letters, else an
 *	  ISO 4217 exponent (0, 2, 3 or 4).
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_money.c
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the reference finds in a text */
typedef struct RefMoney
{
	bool		grammar;		/* [-]digits[.digits], nothing else */
	bool		negative;		/* starts with '-' */
	bool		significant_excess;	/* a non-zero fractional digit at or
									 * beyond the exponent, in the run of
									 * digits after the point */
	bool		overflow;		/* the digits, scaled, exceed INT64_MAX */
	__int128	magnitude;		/* valid when !overflow */
} RefMoney;

/*
 * The reference: scan the grammar and compute the scaled magnitude of the
 * leading digits (integer run, then up to `exponent` digits of the run
 * after a point, then zeros to the exponent) in 128 bits, saturating.
 */
static void
ref_money(const char *s, size_t len, int exponent, RefMoney *r)
{
	const __int128 limit = (__int128) INT64_MAX;
	size_t		i = 0,
				intstart,
				intend,
				fracstart = 0,
				fracend = 0;
	bool		point = false;
	__int128	m = 0;

	memset(r, 0, sizeof(*r));
	if (i < len && s[i] == '-')
	{
		r->negative = true;
		i++;
	}
	intstart = i;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	intend = i;
	if (i < len && s[i] == '.')
	{
		point = true;
		fracstart = ++i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		fracend = i;
	}
	r->grammar = intend > intstart && i == len && (!point || fracend > fracstart);

	for (size_t k = intstart; k < intend && !r->overflow; k++)
	{
		m = m * 10 + (s[k] - '0');
		r->overflow = m > limit;
	}
	for (int k = 0; k < exponent && !r->overflow; k++)
	{
		size_t		pos = fracstart + (size_t) k;
		int			d = (point && pos < fracend) ? s[pos] - '0' : 0;

		m = m * 10 + d;
		r->overflow = m > limit;
	}
	if (point)
		for (size_t pos = fracstart + (size_t) (exponent > 0 ? exponent : 0);
			 pos < fracend; pos++)
			if (s[pos] != '0')
				r->significant_excess = true;
	r->magnitude = m;
}

/* Print minor units back as major units with `exponent` decimals */
static size_t
money_print(int64_t minor, int exponent, char *buf, size_t bufsize)
{
	char		digits[32];
	int			n;
	size_t		len = 0;
	uint64_t	mag = minor < 0 ? (uint64_t) 0 - (uint64_t) minor : (uint64_t) minor;

	n = snprintf(digits, sizeof(digits), "%0*llu", exponent + 1,
				 (unsigned long long) mag);
	if (n <= 0 || (size_t) n + 3 > bufsize)
		abort();
	if (minor < 0)
		buf[len++] = '-';
	memcpy(buf + len, digits, (size_t) (n - exponent));
	len += (size_t) (n - exponent);
	if (exponent > 0)
	{
		buf[len++] = '.';
		memcpy(buf + len, digits + n - exponent, (size_t) exponent);
		len += (size_t) exponent;
	}
	return len;
}

static void
expect(PayconsMoneyStatus got, PayconsMoneyStatus want, int64_t value,
	   int64_t want_value)
{
	if (got != want || (want == PAYCONS_MONEY_OK && value != want_value))
		abort();
}

/* Known answers, so that a harness that checks nothing cannot pass */
static void
money_known_answers(void)
{
	int64_t		v = 0;

	expect(PayconsParseMajorUnits("12.30", 5, 2, false, &v), PAYCONS_MONEY_OK, v, 1230);
	expect(PayconsParseMajorUnits("12.3", 4, 2, false, &v), PAYCONS_MONEY_OK, v, 1230);
	expect(PayconsParseMajorUnits("12.300", 6, 2, false, &v), PAYCONS_MONEY_OK, v, 1230);
	expect(PayconsParseMajorUnits("12.301", 6, 2, false, &v), PAYCONS_MONEY_PRECISION, v, 0);
	expect(PayconsParseMajorUnits("-1.5", 4, 3, true, &v), PAYCONS_MONEY_OK, v, -1500);
	expect(PayconsParseMajorUnits("-1.5", 4, 3, false, &v), PAYCONS_MONEY_NEGATIVE, v, 0);
	expect(PayconsParseMajorUnits("-0.00", 5, 2, false, &v), PAYCONS_MONEY_OK, v, 0);
	expect(PayconsParseMajorUnits("92233720368547758.07", 20, 2, false, &v),
		   PAYCONS_MONEY_OK, v, INT64_MAX);
	expect(PayconsParseMajorUnits("92233720368547758.08", 20, 2, false, &v),
		   PAYCONS_MONEY_RANGE, v, 0);
	expect(PayconsParseMajorUnits("1e3", 3, 0, false, &v), PAYCONS_MONEY_SYNTAX, v, 0);
	expect(PayconsParseMajorUnits("1.", 2, 2, false, &v), PAYCONS_MONEY_SYNTAX, v, 0);
	expect(PayconsParseMajorUnits(".5", 2, 2, false, &v), PAYCONS_MONEY_SYNTAX, v, 0);
	expect(PayconsParseMinorUnits("1230", 4, false, &v), PAYCONS_MONEY_OK, v, 1230);
	expect(PayconsParseMinorUnits("12.30", 5, false, &v), PAYCONS_MONEY_SYNTAX, v, 0);
	if (PayconsCurrencyExponent("CNY", 3) != 2 || PayconsCurrencyExponent("JPY", 3) != 0 ||
		PayconsCurrencyExponent("KWD", 3) != 3 || PayconsCurrencyExponent("CLF", 3) != 4 ||
		PayconsCurrencyExponent("cny", 3) != -1 || PayconsCurrencyExponent("XXX", 3) != -1)
		abort();
}

/* The reason given for a refusal must be true of the text */
static void
check_refusal(PayconsMoneyStatus st, const RefMoney *r, bool exponent_ok,
			  bool allow_negative)
{
	switch (st)
	{
		case PAYCONS_MONEY_SYNTAX:
			if (exponent_ok && r->grammar)
				abort();
			break;
		case PAYCONS_MONEY_PRECISION:
			if (!exponent_ok || !r->significant_excess)
				abort();
			break;
		case PAYCONS_MONEY_RANGE:
			if (!exponent_ok || !r->overflow)
				abort();
			break;
		case PAYCONS_MONEY_NEGATIVE:
			if (!exponent_ok || !r->grammar || r->significant_excess ||
				r->overflow || !r->negative || r->magnitude == 0 || allow_negative)
				abort();
			break;
		default:
			abort();			/* PAYCONS_MONEY_OK or a value out of the enum */
	}
}

/* An accepted value prints back and parses to itself */
static void
check_round_trip(int64_t value, int exponent)
{
	char		buf[48];
	size_t		len = money_print(value, exponent, buf, sizeof(buf) - 2);
	int64_t		again = 0;

	expect(PayconsParseMajorUnits(buf, len, exponent, true, &again),
		   PAYCONS_MONEY_OK, again, value);
	if (value >= 0)
		expect(PayconsParseMajorUnits(buf, len, exponent, false, &again),
			   PAYCONS_MONEY_OK, again, value);
	if (exponent == 0)
	{
		expect(PayconsParseMinorUnits(buf, len, true, &again),
			   PAYCONS_MONEY_OK, again, value);
		buf[len] = '.';
		buf[len + 1] = '0';
		expect(PayconsParseMajorUnits(buf, len + 2, 0, true, &again),
			   PAYCONS_MONEY_OK, again, value);
		buf[len + 1] = '1';
		expect(PayconsParseMajorUnits(buf, len + 2, 0, true, &again),
			   PAYCONS_MONEY_PRECISION, again, 0);
	}
	else
	{
		buf[len] = '0';
		expect(PayconsParseMajorUnits(buf, len + 1, exponent, true, &again),
			   PAYCONS_MONEY_OK, again, value);
		buf[len] = '7';
		expect(PayconsParseMajorUnits(buf, len + 1, exponent, true, &again),
			   PAYCONS_MONEY_PRECISION, again, 0);
	}
}

static void
check_currency(const char *s, size_t len)
{
	int			e;

	if (len != 3 && PayconsCurrencyExponent(s, len) != -1)
		abort();
	if (len < 3)
		return;
	e = PayconsCurrencyExponent(s, 3);
	if (e != -1 && e != 0 && e != 2 && e != 3 && e != 4)
		abort();
	if (e >= 0)
		for (int i = 0; i < 3; i++)
			if (s[i] < 'A' || s[i] > 'Z')
				abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool known_checked = false;
	const char *s;
	size_t		len;
	int			exponent;
	bool		allow_negative,
				exponent_ok;
	int64_t		value = 0,
				minor = 0;
	PayconsMoneyStatus st,
				stminor;
	RefMoney	r;

	if (!known_checked)
	{
		money_known_answers();
		known_checked = true;
	}
	if (size < 1)
		return 0;
	exponent = (data[0] & 0x1f) == 0x1f ? -1 : (data[0] & 0x1f);
	allow_negative = (data[0] & 0x20) != 0;
	exponent_ok = exponent >= 0 && exponent <= 18;
	s = (const char *) data + 1;
	len = size - 1;

	check_currency(s, len);

	ref_money(s, len, exponent, &r);
	st = PayconsParseMajorUnits(s, len, exponent, allow_negative, &value);
	if (exponent_ok && r.grammar && !r.significant_excess && !r.overflow &&
		(allow_negative || !r.negative || r.magnitude == 0))
	{
		int64_t		want = (int64_t) (r.negative ? -r.magnitude : r.magnitude);

		expect(st, PAYCONS_MONEY_OK, value, want);
		check_round_trip(value, exponent);
	}
	else
		check_refusal(st, &r, exponent_ok, allow_negative);

	/* minor units: the same as exponent 0 for text without a point */
	stminor = PayconsParseMinorUnits(s, len, allow_negative, &minor);
	if (memchr(s, '.', len) != NULL)
	{
		if (stminor != PAYCONS_MONEY_SYNTAX)
			abort();
	}
	else
	{
		int64_t		v0 = 0;
		PayconsMoneyStatus st0 = PayconsParseMajorUnits(s, len, 0,
														allow_negative, &v0);

		if (stminor != st0 || (st0 == PAYCONS_MONEY_OK && minor != v0))
			abort();
	}
	return 0;
}
