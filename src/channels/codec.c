/*-------------------------------------------------------------------------
 *
 * codec.c
 *	  Strict base64 and hex decoding, and a constant-time comparison
 *	  (see codec.h).  No backend dependency.
 *
 * IDENTIFICATION
 *	  src/channels/codec.c
 *
 *-------------------------------------------------------------------------
 */
#include "codec.h"

/* Value of a base64 character, or -1 */
static int
codec_b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
PayconsBase64Decode(const char *src, size_t len, uint8_t *dst, size_t dstlen)
{
	size_t		ndata = len;
	size_t		out = 0;
	uint32_t	acc = 0;
	int			bits = 0;

	/* padding: only at the end, only to complete the last quantum */
	if (ndata > 0 && src[ndata - 1] == '=')
	{
		ndata--;
		if (ndata > 0 && src[ndata - 1] == '=')
			ndata--;
		if (len % 4 != 0)
			return -1;
	}
	/* one leftover character cannot hold a byte */
	if (ndata % 4 == 1)
		return -1;
	/* with padding, the data must need exactly that much of it */
	if (ndata != len && (ndata % 4) + (len - ndata) != 4)
		return -1;

	for (size_t i = 0; i < ndata; i++)
	{
		int			v = codec_b64val((unsigned char) src[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			if (out >= dstlen)
				return -1;
			dst[out++] = (uint8_t) (acc >> bits);
			acc &= (1U << bits) - 1;
		}
	}
	/* the bits left over in the last character must be zero */
	if (acc != 0)
		return -1;
	return (long) out;
}

int
PayconsHexDigit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
PayconsHexDecode(const char *src, size_t len, uint8_t *dst)
{
	if (len % 2 != 0)
		return false;
	for (size_t i = 0; i < len / 2; i++)
	{
		int			hi = PayconsHexDigit((unsigned char) src[2 * i]);
		int			lo = PayconsHexDigit((unsigned char) src[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		dst[i] = (uint8_t) ((hi << 4) | lo);
	}
	return true;
}

bool
PayconsConstantTimeEq(const uint8_t *a, const uint8_t *b, size_t len)
{
	volatile uint8_t diff = 0;

	for (size_t i = 0; i < len; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}
