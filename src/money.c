/*-------------------------------------------------------------------------
 *
 * money.c
 *	  ISO 4217 minor-unit exponents and the exact conversion of decimal
 *	  amount text into bigint minor units.
 *
 * Channels and their statements write amounts in major units as text
 * ("12.30" yuan in an Alipay notification or a WeChat Pay bill, "9.99" in a
 * Stripe export); paycons keeps bigint minor units.  The conversion here is
 * done on the digits, never through a float or a rounding numeric: an
 * amount with more precision than its currency has is refused, not rounded.
 *
 * No backend dependency (see money.h): the callers turn a status into an
 * ereport naming the value, and fuzz targets link this file alone.
 *
 * IDENTIFICATION
 *	  src/money.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "money.h"

/*
 * Active ISO 4217 currency codes and their minor units (exponents), in
 * byte order for bsearch.  Funds and precious-metal codes without minor
 * units (XAU, XDR, XXX, ...) are not currencies one is paid in, and are
 * left out.
 */
typedef struct MoneyCurrency
{
	char		code[4];
	int			exponent;
} MoneyCurrency;

static const MoneyCurrency money_currencies[] = {
	{"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"ANG", 2}, {"AOA", 2},
	{"ARS", 2}, {"AUD", 2}, {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2},
	{"BDT", 2}, {"BGN", 2}, {"BHD", 3}, {"BIF", 0}, {"BMD", 2}, {"BND", 2},
	{"BOB", 2}, {"BOV", 2}, {"BRL", 2}, {"BSD", 2}, {"BTN", 2}, {"BWP", 2},
	{"BYN", 2}, {"BZD", 2}, {"CAD", 2}, {"CDF", 2}, {"CHE", 2}, {"CHF", 2},
	{"CHW", 2}, {"CLF", 4}, {"CLP", 0}, {"CNY", 2}, {"COP", 2}, {"COU", 2},
	{"CRC", 2}, {"CUP", 2}, {"CVE", 2}, {"CZK", 2}, {"DJF", 0}, {"DKK", 2},
	{"DOP", 2}, {"DZD", 2}, {"EGP", 2}, {"ERN", 2}, {"ETB", 2}, {"EUR", 2},
	{"FJD", 2}, {"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2},
	{"GMD", 2}, {"GNF", 0}, {"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2},
	{"HTG", 2}, {"HUF", 2}, {"IDR", 2}, {"ILS", 2}, {"INR", 2}, {"IQD", 3},
	{"IRR", 2}, {"ISK", 0}, {"JMD", 2}, {"JOD", 3}, {"JPY", 0}, {"KES", 2},
	{"KGS", 2}, {"KHR", 2}, {"KMF", 0}, {"KPW", 2}, {"KRW", 0}, {"KWD", 3},
	{"KYD", 2}, {"KZT", 2}, {"LAK", 2}, {"LBP", 2}, {"LKR", 2}, {"LRD", 2},
	{"LSL", 2}, {"LYD", 3}, {"MAD", 2}, {"MDL", 2}, {"MGA", 2}, {"MKD", 2},
	{"MMK", 2}, {"MNT", 2}, {"MOP", 2}, {"MRU", 2}, {"MUR", 2}, {"MVR", 2},
	{"MWK", 2}, {"MXN", 2}, {"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2},
	{"NGN", 2}, {"NIO", 2}, {"NOK", 2}, {"NPR", 2}, {"NZD", 2}, {"OMR", 3},
	{"PAB", 2}, {"PEN", 2}, {"PGK", 2}, {"PHP", 2}, {"PKR", 2}, {"PLN", 2},
	{"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2}, {"RUB", 2}, {"RWF", 0},
	{"SAR", 2}, {"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2},
	{"SHP", 2}, {"SLE", 2}, {"SOS", 2}, {"SRD", 2}, {"SSP", 2}, {"STN", 2},
	{"SVC", 2}, {"SYP", 2}, {"SZL", 2}, {"THB", 2}, {"TJS", 2}, {"TMT", 2},
	{"TND", 3}, {"TOP", 2}, {"TRY", 2}, {"TTD", 2}, {"TWD", 2}, {"TZS", 2},
	{"UAH", 2}, {"UGX", 0}, {"USD", 2}, {"USN", 2}, {"UYI", 0}, {"UYU", 2},
	{"UYW", 4}, {"UZS", 2}, {"VED", 2}, {"VES", 2}, {"VND", 0}, {"VUV", 0},
	{"WST", 2}, {"XAF", 0}, {"XCD", 2}, {"XCG", 2}, {"XOF", 0}, {"XPF", 0},
	{"YER", 2}, {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2}
};

#define MONEY_NCURRENCIES (sizeof(money_currencies) / sizeof(money_currencies[0]))

int
PayconsCurrencyExponent(const char *code, size_t len)
{
	size_t		lo = 0,
				hi = MONEY_NCURRENCIES;

	if (code == NULL || len != 3)
		return -1;
	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;
		int			c = memcmp(code, money_currencies[mid].code, 3);

		if (c == 0)
			return money_currencies[mid].exponent;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/*
 * Accumulate one decimal digit into *acc (non-negative), or report that
 * the result would leave int64.
 */
static bool
money_push_digit(int64_t *acc, int digit)
{
	if (*acc > (INT64_MAX - digit) / 10)
		return false;
	*acc = *acc * 10 + digit;
	return true;
}

PayconsMoneyStatus
PayconsParseMajorUnits(const char *s, size_t len, int exponent,
					   bool allow_negative, int64_t *minor)
{
	size_t		i = 0;
	bool		negative = false;
	int64_t		acc = 0;
	size_t		intdigits = 0;
	int			fracdigits = 0;

	if (s == NULL || exponent < 0 || exponent > 18)
		return PAYCONS_MONEY_SYNTAX;
	if (i < len && s[i] == '-')
	{
		negative = true;
		i++;
	}
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, intdigits++)
		if (!money_push_digit(&acc, s[i] - '0'))
			return PAYCONS_MONEY_RANGE;
	if (intdigits == 0)
		return PAYCONS_MONEY_SYNTAX;
	if (i < len)
	{
		size_t		fracstart;

		if (s[i] != '.')
			return PAYCONS_MONEY_SYNTAX;
		fracstart = ++i;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		{
			if (fracdigits < exponent)
			{
				if (!money_push_digit(&acc, s[i] - '0'))
					return PAYCONS_MONEY_RANGE;
				fracdigits++;
			}
			else if (s[i] != '0')
				return PAYCONS_MONEY_PRECISION;
		}
		if (i == fracstart || i < len)
			return PAYCONS_MONEY_SYNTAX;
	}
	/* scale what is missing of the fraction */
	for (; fracdigits < exponent; fracdigits++)
		if (!money_push_digit(&acc, 0))
			return PAYCONS_MONEY_RANGE;

	if (negative && acc != 0 && !allow_negative)
		return PAYCONS_MONEY_NEGATIVE;
	*minor = negative ? -acc : acc;
	return PAYCONS_MONEY_OK;
}

PayconsMoneyStatus
PayconsParseMinorUnits(const char *s, size_t len, bool allow_negative,
					   int64_t *minor)
{
	size_t		i;

	if (s == NULL)
		return PAYCONS_MONEY_SYNTAX;
	for (i = 0; i < len; i++)
		if (s[i] == '.')
			return PAYCONS_MONEY_SYNTAX;
	return PayconsParseMajorUnits(s, len, 0, allow_negative, minor);
}

const char *
PayconsMoneyStatusText(PayconsMoneyStatus status)
{
	switch (status)
	{
		case PAYCONS_MONEY_OK:
			return "a valid amount";
		case PAYCONS_MONEY_SYNTAX:
			return "not a plain decimal number (digits, optionally a point and more digits)";
		case PAYCONS_MONEY_PRECISION:
			return "more decimal places than the currency has";
		case PAYCONS_MONEY_RANGE:
			return "out of range for bigint minor units";
		case PAYCONS_MONEY_NEGATIVE:
			return "negative where a positive amount is required";
	}
	return "invalid";
}
