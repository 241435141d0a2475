/*-------------------------------------------------------------------------
 *
 * money.h
 *	  Money as text: ISO 4217 currencies and their minor-unit exponents,
 *	  and the exact conversion of a decimal amount in major units ("12.30")
 *	  into bigint minor units (1230).
 *
 * Plain C with no dependency on the backend, so that fuzz targets and
 * parsers of channel bodies and statement files can link it alone.
 *
 * IDENTIFICATION
 *	  src/money.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_MONEY_H
#define PAYCONS_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum PayconsMoneyStatus
{
	PAYCONS_MONEY_OK = 0,
	PAYCONS_MONEY_SYNTAX,		/* not [-]digits[.digits] */
	PAYCONS_MONEY_PRECISION,	/* more fractional digits than the currency has */
	PAYCONS_MONEY_RANGE,		/* does not fit in int64 minor units */
	PAYCONS_MONEY_NEGATIVE		/* a sign where none is allowed */
} PayconsMoneyStatus;

/*
 * Minor-unit exponent of an ISO 4217 code given as exactly three bytes
 * (2 for CNY, 0 for JPY, 3 for KWD), or -1 if the code is not an active
 * ISO 4217 currency.  Case-sensitive: codes are upper case.
 */
extern int	PayconsCurrencyExponent(const char *code, size_t len);

/*
 * Parse len bytes of s as a decimal amount in major units of a currency
 * with the given exponent and store it in *minor as minor units.
 *
 * Accepted: an optional '-' (only if allow_negative), one or more digits,
 * optionally '.' and one or more digits.  Fractional digits beyond the
 * exponent are accepted only if they are zeros (the value stays exact);
 * nothing else is: no '+', blanks, exponents, thousands separators, or a
 * bare '.'.  "-0" and "-0.00" are zero.
 */
extern PayconsMoneyStatus PayconsParseMajorUnits(const char *s, size_t len,
												 int exponent,
												 bool allow_negative,
												 int64_t *minor);

/* Parse an integer amount already in minor units, same rules, no '.' */
extern PayconsMoneyStatus PayconsParseMinorUnits(const char *s, size_t len,
												 bool allow_negative,
												 int64_t *minor);

/* A sentence fragment describing a status, for errdetail */
extern const char *PayconsMoneyStatusText(PayconsMoneyStatus status);

#endif							/* PAYCONS_MONEY_H */
