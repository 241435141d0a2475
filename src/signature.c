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
 * any order, separated by commas.  Other elements are ignored.  The header
 * and the digests are decoded by the backend-free helpers that the
 * channel protocols share (channels/sighdr.c, channels/codec.c): base64
 * is accepted with or without its padding.
 *
 * IDENTIFICATION
 *	  src/signature.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/hmac.h"
#include "datatype/timestamp.h"
#include "utils/builtins.h"

#include "channels/codec.h"
#include "channels/sighdr.h"
#include "signature.h"

PG_FUNCTION_INFO_V1(paycons_hmac_sha256);

/* Unix epoch (1970-01-01) in PostgreSQL's epoch (2000-01-01), in seconds */
#define SIGNATURE_UNIX_EPOCH_OFFSET \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

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
	return PayconsConstantTimeEq(a, b, len);
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

/* Decode exactly PAYCONS_HMAC_LEN bytes of hex (either case); false if not. */
static bool
signature_decode_hex(const char *src, size_t len, uint8 *dst)
{
	return len == 2 * PAYCONS_HMAC_LEN && PayconsHexDecode(src, len, dst);
}

/*
 * Decode base64 that yields exactly PAYCONS_HMAC_LEN bytes, padded (44
 * characters) or not (43, as doc/callbacks.md promises; PostgreSQL 15's
 * pg_b64_decode wants the padding); false if not.
 */
static bool
signature_decode_base64(const char *src, size_t len, uint8 *dst)
{
	uint8		buf[PAYCONS_BASE64_MAXDECODED(44)];

	if (len < 43 || len > 44)
		return false;
	if (PayconsBase64Decode(src, len, buf, sizeof(buf)) != PAYCONS_HMAC_LEN)
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
	PayconsSigHeader h;
	const char *why;
	TimestampTz t_ts;
	uint8		expected[PAYCONS_HMAC_LEN];
	char		prefix[32];
	bool		match = false;

	if ((why = PayconsSigHeaderParse(sig, siglen, &h)) != NULL)
		return why;

	t_ts = (TimestampTz) (h.t - SIGNATURE_UNIX_EPOCH_OFFSET) * USECS_PER_SEC;
	if (t_ts < now - tolerance_usecs || t_ts > now + tolerance_usecs)
		return "timestamp outside tolerance";

	/* the signed message is "<t as sent>." followed by the body */
	memcpy(prefix, h.t_text, h.t_len);
	prefix[h.t_len] = '.';
	PayconsHmacSha256(key, keylen, (const uint8 *) prefix, h.t_len + 1,
					  (const uint8 *) body, bodylen, expected);

	/* look at every candidate, so the time does not tell which matched */
	for (int i = 0; i < h.nv1; i++)
		match |= PayconsTimingSafeEqual(h.v1[i], expected, PAYCONS_HMAC_LEN);
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
