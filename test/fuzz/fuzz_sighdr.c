/*
 * fuzz_sighdr.c -- libFuzzer target: the "t=...,v1=..." signature header
 * (Stripe-Signature, apply_callback's header format; src/channels/sighdr.c)
 * and the base64/hex decoders (src/channels/codec.c).
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_sighdr.c
 */
#include "codec.h"
#include "fuzz_common.h"
#include "sighdr.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	PayconsSigHeader h;
	uint8_t    *buf;
	long		n;

	if (PayconsSigHeaderParse((const char *) data, size, &h) == NULL)
	{
		if (h.nv1 < 1 || h.nv1 > PAYCONS_SIGHDR_MAX_V1 || h.t < 0 ||
			h.t_len == 0 || h.t_len > 12)
			abort();
		fuzz_touch(h.t_text, h.t_len);
	}
	buf = malloc(PAYCONS_BASE64_MAXDECODED(size) + 1);
	if (buf == NULL)
		return 0;
	n = PayconsBase64Decode((const char *) data, size, buf,
							PAYCONS_BASE64_MAXDECODED(size));
	if (n > (long) PAYCONS_BASE64_MAXDECODED(size))
		abort();
	if (n > 0)
		fuzz_touch((const char *) buf, (size_t) n);
	if (PayconsHexDecode((const char *) data, size, buf))
		fuzz_touch((const char *) buf, size / 2);
	free(buf);
	return 0;
}
