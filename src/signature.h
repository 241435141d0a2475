/*-------------------------------------------------------------------------
 *
 * signature.h
 *	  Verification of HMAC-SHA256 callback signatures.
 *
 * IDENTIFICATION
 *	  src/signature.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_SIGNATURE_H
#define PAYCONS_SIGNATURE_H

#include "datatype/timestamp.h"

/* Length of an HMAC-SHA256 digest */
#define PAYCONS_HMAC_LEN		32

typedef enum PayconsSigFormat
{
	PAYCONS_SIG_HEX,			/* hex digest of the body */
	PAYCONS_SIG_BASE64,			/* base64 digest of the body */
	PAYCONS_SIG_HEADER			/* t=<unix>,v1=<hex> over "<t>.<body>" */
} PayconsSigFormat;

extern bool PayconsTimingSafeEqual(const uint8 *a, const uint8 *b, size_t len);
extern void PayconsHmacSha256(const uint8 *key, size_t keylen,
							  const uint8 *prefix, size_t prefixlen,
							  const uint8 *message, size_t messagelen,
							  uint8 *out);
extern bool PayconsSigFormatFromName(const char *name, PayconsSigFormat *format);
extern const char *PayconsVerifySignature(const uint8 *key, size_t keylen,
										  PayconsSigFormat format,
										  const char *sig, size_t siglen,
										  const char *body, size_t bodylen,
										  int64 tolerance_usecs,
										  TimestampTz now);

#endif							/* PAYCONS_SIGNATURE_H */
