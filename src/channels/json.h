/*-------------------------------------------------------------------------
 *
 * json.h
 *	  A small strict JSON reader (RFC 8259) for channel notifications.
 *
 * Why our own reader rather than PostgreSQL's jsonb: the parsers of
 * channel bodies must be plain C without ereport so that a libFuzzer
 * harness links them alone (test/fuzz/), and they need what jsonb does not
 * keep: the literal text of a number ("1130", never a float or a rounded
 * numeric, and "1e3" recognisably not an integer), and a refusal of
 * duplicate member names (jsonb keeps the last one silently, which would
 * let a signed body say one thing to a verifier and another to the facts).
 * The reader is strict: UTF-8 only, no NUL (\u0000) in strings, no lone
 * surrogates, no trailing commas or comments, at most 64 levels of nesting.
 *
 * IDENTIFICATION
 *	  src/channels/json.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_JSON_H
#define PAYCONS_JSON_H

#include "chan_common.h"

#define PAYCONS_JSON_MAX_DEPTH 64

typedef enum PayconsJsonKind
{
	PJ_NULL,
	PJ_FALSE,
	PJ_TRUE,
	PJ_NUMBER,
	PJ_STRING,
	PJ_ARRAY,
	PJ_OBJECT
} PayconsJsonKind;

typedef struct PayconsJson PayconsJson;

struct PayconsJson
{
	PayconsJsonKind kind;
	/* PJ_STRING: the decoded text; PJ_NUMBER: the literal as written */
	const char *str;
	size_t		len;
	bool		integer;		/* PJ_NUMBER: no fraction and no exponent */
	/* PJ_ARRAY and PJ_OBJECT */
	int			n;
	const char **keys;			/* PJ_OBJECT: member names (decoded) */
	size_t	   *keylens;
	PayconsJson **items;		/* elements, or member values */
};

/*
 * Parse len bytes of text as one JSON value.  Returns PCH_OK and *out, or
 * PCH_MALFORMED with err->detail naming the byte offset and the problem.
 */
extern PayconsChanStatus PayconsJsonParse(const char *text, size_t len,
										  PayconsArena *a, PayconsJson **out,
										  PayconsChanError *err);

/* Member of an object by name, or NULL (also when obj is not an object) */
extern const PayconsJson *PayconsJsonGet(const PayconsJson *obj, const char *key);

/*
 * A member that must be a string: PCH_OK and *s and *len, PCH_MISSING_FIELD if
 * it is absent or null (when required), or of another type.  path names
 * the member in messages ("resource.nonce").  If !required and the member
 * is absent or null, *s is set to NULL and PCH_OK returned.
 */
extern PayconsChanStatus PayconsJsonString(const PayconsJson *obj, const char *key,
										   const char *path, bool required,
										   const char **s, size_t *len,
										   PayconsArena *a, PayconsChanError *err);

/*
 * A member that must be an object (required): PCH_OK and *child, else
 * PCH_MISSING_FIELD naming path.
 */
extern PayconsChanStatus PayconsJsonObject(const PayconsJson *obj, const char *key,
										   const char *path,
										   const PayconsJson **child,
										   PayconsArena *a, PayconsChanError *err);

/*
 * A member that is an amount in integer minor units: a JSON number or a
 * string, whose text is returned as it is written (the money parser then
 * refuses fractions, exponents and signs).
 */
extern PayconsChanStatus PayconsJsonAmountText(const PayconsJson *obj, const char *key,
											   const char *path,
											   const char **s, size_t *len,
											   PayconsArena *a, PayconsChanError *err);

#endif							/* PAYCONS_JSON_H */
