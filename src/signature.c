/*-------------------------------------------------------------------------
 *
 * signature.c
 *	  Verification of payment channel callback signatures: HMAC-SHA256 with
 *	  PostgreSQL's own common/hmac.h, digest decoding (hex, base64), the
 *	  "t=<unix>,v1=<hex>" header form with a timestamp tolerance, and a
 *	  constant-time comparison.
 *
 * Nothing here reads a table or raises an error for a bad signature: the
 * verifier returns NULL for a good signature, or a short reason for a bad
 * one, which apply_callback (callbacks.c) records and counts.  Only an
 * internal failure of the HMAC implementation is an ERROR.
 *
 * The header form follows the convention of several payment providers:
 * the signed message is the decimal timestamp, a ".", then the raw body;
 * the header carries "t=<seconds since 1970>" and one or more "v1=<hex
 * digest>" elements (more than one while a secret is being rotated), in
 * any order, separated by commas.  Other elements are ignored.
 *
 * IDENTIFICATION
 *	  src/signature.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"
#include "common/cryptohash.h"
#include "common/hmac.h"
#include "datatype/timestamp.h"
#include "utils/builtins.h"

#include "signature.h"

PG_FUNCTION_INFO_V1(paycons_hmac_sha256);

/* At most this many v1= elements are looked at in one header */
#define SIGNATURE_MAX_V1	8

/* Unix epoch (1970-01-01) in PostgreSQL's epoch (2000-01-01), in seconds */
#define SIGNATURE_UNIX_EPOCH_OFFSET \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

static inline int signature_hexval(char c);
static bool signature_decode_hex(const char *src, size_t len, uint8 *dst);
static bool signature_decode_base64(const char *src, size_t len, uint8 *dst);
static const char *signature_verify_header(const uint8 *key, size_t keylen,
										   const char *sig, size_t siglen,
										   const char *body, size_t bodylen,
										   int64 tolerance_usecs,
										   TimestampTz now);

/*
 * Compare two byte strings of the same length in time that depends on the
 * length only, not on where they first differ.
 */
bool
PayconsTimingSafeEqual(const uint8 *a, const uint8 *b, size_t len)
{
	volatile uint8 diff = 0;

	for (size_t i = 0; i < len; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

/*
 * out := HMAC-SHA256(key, prefix || message).  prefix may be NULL.  An
 * internal failure of the implementation is an ERROR.
 */
void
PayconsHmacSha256(const uint8 *key, size_t keylen,
				  const uint8 *prefix, size_t prefixlen,
				  const uint8 *message, size_t messagelen,
				  uint8 *out)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);

	if (ctx == NULL)
		elog(ERROR, "could not create an HMAC-SHA256 context");
	if (pg_hmac_init(ctx, key, keylen) < 0 ||
		(prefix != NULL && pg_hmac_update(ctx, prefix, prefixlen) < 0) ||
		pg_hmac_update(ctx, message, messagelen) < 0 ||
		pg_hmac_final(ctx, out, PAYCONS_HMAC_LEN) < 0)
	{
		const char *msg = pstrdup(pg_hmac_error(ctx));

		pg_hmac_free(ctx);
		elog(ERROR, "HMAC-SHA256 failed: %s", msg);
	}
	pg_hmac_free(ctx);
}

/* Value of one hex digit, or -1 */
static inline int
signature_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode exactly PAYCONS_HMAC_LEN bytes of hex (either case); false if not. */
static bool
signature_decode_hex(const char *src, size_t len, uint8 *dst)
{
	if (len != 2 * PAYCONS_HMAC_LEN)
		return false;
	for (size_t i = 0; i < PAYCONS_HMAC_LEN; i++)
	{
		int			hi = signature_hexval(src[2 * i]);
		int			lo = signature_hexval(src[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		dst[i] = (uint8) ((hi << 4) | lo);
	}
	return true;
}

/* Decode base64 that yields exactly PAYCONS_HMAC_LEN bytes; false if not. */
static bool
signature_decode_base64(const char *src, size_t len, uint8 *dst)
{
	char		buf[2 * PAYCONS_HMAC_LEN];

	/* 32 bytes are 43 characters unpadded, 44 padded */
	if (len < 43 || len > 44)
		return false;
	if (pg_b64_decode(src, (int) len, buf, sizeof(buf)) != PAYCONS_HMAC_LEN)
		return false;
	memcpy(dst, buf, PAYCONS_HMAC_LEN);
	return true;
}

/* Name of a signature format as stored in paycons.channels, or false */
bool
PayconsSigFormatFromName(const char *name, PayconsSigFormat *format)
{
	if (strcmp(name, "hex") == 0)
		*format = PAYCONS_SIG_HEX;
	else if (strcmp(name, "base64") == 0)
		*format = PAYCONS_SIG_BASE64;
	else if (strcmp(name, "header") == 0)
		*format = PAYCONS_SIG_HEADER;
	else
		return false;
	return true;
}

/*
 * Verify the header form "t=<unix>,v1=<hex>[,v1=<hex>...]".  Returns NULL
 * if one v1 digest matches HMAC(key, "<t>." || body) and t is within
 * tolerance_usecs of now; else the reason.
 */
static const char *
signature_verify_header(const uint8 *key, size_t keylen,
						const char *sig, size_t siglen,
						const char *body, size_t bodylen,
						int64 tolerance_usecs, TimestampTz now)
{
	const char *t_str = NULL;
	size_t		t_len = 0;
	uint8		candidates[SIGNATURE_MAX_V1][PAYCONS_HMAC_LEN];
	int			ncandidates = 0;
	bool		malformed = false;
	const char *p = sig;
	const char *end = sig + siglen;
	int64		t = 0;
	TimestampTz t_ts;
	uint8		expected[PAYCONS_HMAC_LEN];
	char		prefix[32];
	bool		match = false;

	while (p < end)
	{
		const char *comma = memchr(p, ',', end - p);
		const char *elem_end = comma ? comma : end;
		const char *q = p;

		/* skip blanks around the element */
		while (q < elem_end && (*q == ' ' || *q == '\t'))
			q++;
		while (elem_end > q && (elem_end[-1] == ' ' || elem_end[-1] == '\t'))
			elem_end--;

		if (elem_end - q > 2 && q[0] == 't' && q[1] == '=')
		{
			if (t_str != NULL)
				malformed = true;	/* two timestamps */
			t_str = q + 2;
			t_len = elem_end - t_str;
		}
		else if (elem_end - q > 3 && q[0] == 'v' && q[1] == '1' && q[2] == '=')
		{
			if (ncandidates < SIGNATURE_MAX_V1 &&
				signature_decode_hex(q + 3, elem_end - q - 3,
									 candidates[ncandidates]))
				ncandidates++;
		}
		p = comma ? comma + 1 : end;
	}

	if (malformed || t_str == NULL)
		return "malformed signature header";
	if (ncandidates == 0)
		return "no v1 signature in header";
	if (t_len == 0 || t_len > 12)
		return "malformed timestamp in signature header";
	for (size_t i = 0; i < t_len; i++)
	{
		if (t_str[i] < '0' || t_str[i] > '9')
			return "malformed timestamp in signature header";
		t = t * 10 + (t_str[i] - '0');
	}

	t_ts = (TimestampTz) (t - SIGNATURE_UNIX_EPOCH_OFFSET) * USECS_PER_SEC;
	if (t_ts < now - tolerance_usecs || t_ts > now + tolerance_usecs)
		return "timestamp outside tolerance";

	/* the signed message is "<t as sent>." followed by the body */
	memcpy(prefix, t_str, t_len);
	prefix[t_len] = '.';
	PayconsHmacSha256(key, keylen, (const uint8 *) prefix, t_len + 1,
					  (const uint8 *) body, bodylen, expected);

	/* look at every candidate, so the time does not tell which matched */
	for (int i = 0; i < ncandidates; i++)
		match |= PayconsTimingSafeEqual(candidates[i], expected,
										PAYCONS_HMAC_LEN);
	return match ? NULL : "signature mismatch";
}

/*
 * Verify a callback signature under key in the channel's format.  Returns
 * NULL if it is good, else a short reason ("missing signature", "signature
 * mismatch", ...).  sig and body may be NULL (missing).
 */
const char *
PayconsVerifySignature(const uint8 *key, size_t keylen,
					   PayconsSigFormat format,
					   const char *sig, size_t siglen,
					   const char *body, size_t bodylen,
					   int64 tolerance_usecs, TimestampTz now)
{
	uint8		given[PAYCONS_HMAC_LEN];
	uint8		expected[PAYCONS_HMAC_LEN];

	if (key == NULL || keylen == 0)
		return "no secret configured";
	if (sig == NULL || siglen == 0)
		return "missing signature";
	if (body == NULL)
		return "missing signed body";

	switch (format)
	{
		case PAYCONS_SIG_HEADER:
			return signature_verify_header(key, keylen, sig, siglen,
										   body, bodylen,
										   tolerance_usecs, now);
		case PAYCONS_SIG_HEX:
			if (!signature_decode_hex(sig, siglen, given))
				return "malformed signature";
			break;
		case PAYCONS_SIG_BASE64:
			if (!signature_decode_base64(sig, siglen, given))
				return "malformed signature";
			break;
	}

	PayconsHmacSha256(key, keylen, NULL, 0,
					  (const uint8 *) body, bodylen, expected);
	if (!PayconsTimingSafeEqual(given, expected, PAYCONS_HMAC_LEN))
		return "signature mismatch";
	return NULL;
}

/*
 * paycons.hmac_sha256(key bytea, message bytea) -> bytea
 *
 * The digest apply_callback computes, for signing test callbacks and for
 * checking a channel's secret by hand.
 */
Datum
paycons_hmac_sha256(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	bytea	   *message = PG_GETARG_BYTEA_PP(1);
	bytea	   *result = palloc(VARHDRSZ + PAYCONS_HMAC_LEN);

	PayconsHmacSha256((const uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
					  NULL, 0,
					  (const uint8 *) VARDATA_ANY(message),
					  VARSIZE_ANY_EXHDR(message),
					  (uint8 *) VARDATA(result));
	SET_VARSIZE(result, VARHDRSZ + PAYCONS_HMAC_LEN);
	PG_RETURN_BYTEA_P(result);
}
