/*-------------------------------------------------------------------------
 *
 * sighdr.c
 *	  Parsing of the "t=...,v1=..." signature header (see sighdr.h).
 *	  No backend dependency.
 *
 * IDENTIFICATION
 *	  src/channels/sighdr.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "codec.h"
#include "sighdr.h"

const char *
PayconsSigHeaderParse(const char *hdr, size_t len, PayconsSigHeader *h)
{
	const char *p = hdr;
	const char *end = hdr + len;
	bool		malformed = false;

	memset(h, 0, sizeof(*h));
	if (hdr == NULL)
		return "malformed signature header";
	while (p < end)
	{
		const char *comma = memchr(p, ',', end - p);
		const char *elem_end = comma ? comma : end;
		const char *q = p;

		while (q < elem_end && (*q == ' ' || *q == '\t'))
			q++;
		while (elem_end > q && (elem_end[-1] == ' ' || elem_end[-1] == '\t'))
			elem_end--;

		if (elem_end - q >= 2 && q[0] == 't' && q[1] == '=')
		{
			if (h->t_text != NULL)
				malformed = true;	/* two timestamps */
			h->t_text = q + 2;
			h->t_len = elem_end - h->t_text;
		}
		else if (elem_end - q > 3 && q[0] == 'v' && q[1] == '1' && q[2] == '=')
		{
			if (h->nv1 < PAYCONS_SIGHDR_MAX_V1 &&
				elem_end - q - 3 == 2 * PAYCONS_SIGHDR_DIGEST &&
				PayconsHexDecode(q + 3, elem_end - q - 3, h->v1[h->nv1]))
				h->nv1++;
		}
		p = comma ? comma + 1 : end;
	}

	if (malformed || h->t_text == NULL)
		return "malformed signature header";
	if (h->nv1 == 0)
		return "no v1 signature in header";
	if (h->t_len == 0 || h->t_len > 12)
		return "malformed timestamp in signature header";
	for (size_t i = 0; i < h->t_len; i++)
	{
		if (h->t_text[i] < '0' || h->t_text[i] > '9')
			return "malformed timestamp in signature header";
		h->t = h->t * 10 + (h->t_text[i] - '0');
	}
	return NULL;
}
