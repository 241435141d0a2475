/*-------------------------------------------------------------------------
 *
 * sighdr.h
 *	  The "t=<unix seconds>,v1=<hex>[,v1=<hex>...]" signature header: Stripe's
 *	  Stripe-Signature, and apply_callback's "header" signature format.
 *
 * Elements are separated by commas, blanks around them are ignored, in
 * any order; "t" must appear exactly once; every "v1" is a hex HMAC-SHA256
 * digest (several while a secret is rotated); other schemes (v0, ...) are
 * ignored.  Backend-free (chan_common.h).
 *
 * IDENTIFICATION
 *	  src/channels/sighdr.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_SIGHDR_H
#define PAYCONS_SIGHDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* At most this many v1 digests are looked at in one header */
#define PAYCONS_SIGHDR_MAX_V1	8
#define PAYCONS_SIGHDR_DIGEST	32

typedef struct PayconsSigHeader
{
	int64_t		t;				/* seconds since 1970 */
	const char *t_text;			/* t as sent: the signed message starts with it */
	size_t		t_len;
	int			nv1;
	uint8_t		v1[PAYCONS_SIGHDR_MAX_V1][PAYCONS_SIGHDR_DIGEST];
} PayconsSigHeader;

/*
 * Parse a header.  Returns NULL and fills *h, or the reason it cannot be
 * used ("malformed signature header", "no v1 signature in header",
 * "malformed timestamp in signature header").  A v1 element that is not 64
 * hex digits is skipped, as if it were another scheme.
 */
extern const char *PayconsSigHeaderParse(const char *hdr, size_t len,
										 PayconsSigHeader *h);

#endif							/* PAYCONS_SIGHDR_H */
