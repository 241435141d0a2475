/*-------------------------------------------------------------------------
 *
 * codec.h
 *	  Strict base64 and hex decoding of signatures, keys and ciphertexts.
 *
 * Backend-free (see chan_common.h).  apply_callback's signature check
 * (src/signature.c) uses the same decoders, so that a base64 digest is
 * accepted with or without its "=" padding wherever paycons reads one.
 *
 * IDENTIFICATION
 *	  src/channels/codec.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_CODEC_H
#define PAYCONS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most bytes len characters of base64 can decode to */
#define PAYCONS_BASE64_MAXDECODED(len) (((len) + 3) / 4 * 3)

/*
 * Decode standard base64 (RFC 4648 section 4: A-Z a-z 0-9 + /), with the
 * "=" padding or without it.  Nothing else is accepted: no blanks or line
 * breaks, no URL-safe alphabet, no data after padding, no non-zero bits
 * left over in the last character.  Returns the number of bytes written
 * to dst (which has room for dstlen), or -1 if the text is not such base64
 * or does not fit.
 */
extern long PayconsBase64Decode(const char *src, size_t len,
								uint8_t *dst, size_t dstlen);

/* The value of a hex digit (either case), or -1 */
extern int	PayconsHexDigit(unsigned char c);

/*
 * Decode exactly len characters of hex (either case, len even) into
 * len / 2 bytes.  Returns false if a character is not a hex digit or len
 * is odd.
 */
extern bool PayconsHexDecode(const char *src, size_t len, uint8_t *dst);

/*
 * Compare two byte strings of the same length in time that depends on the
 * length only, not on where they first differ.
 */
extern bool PayconsConstantTimeEq(const uint8_t *a, const uint8_t *b,
								  size_t len);

#endif							/* PAYCONS_CODEC_H */
