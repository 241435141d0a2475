/*-------------------------------------------------------------------------
 *
 * form.c
 *	  Strict application/x-www-form-urlencoded parsing (see form.h).
 *	  No backend dependency.
 *
 * IDENTIFICATION
 *	  src/channels/form.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "form.h"

/*
 * Decode s[0..len) ("+" and "%XX") into a new arena string; NULL and
 * *bad set if an escape is malformed or the result is not UTF-8 without
 * NUL.
 */
static char *
form_decode(PayconsArena *a, const char *s, size_t len, size_t *outlen,
			const char **bad)
{
	char	   *d = PayconsArenaAlloc(a, len + 1);
	size_t		o = 0;

	*bad = NULL;
	if (d == NULL)
	{
		*bad = "out of memory";
		return NULL;
	}
	for (size_t i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c == '+')
			d[o++] = ' ';
		else if (c == '%')
		{
			int			hi,
						lo;

			if (len - i < 3 ||
				(hi = PayconsHexDigit((unsigned char) s[i + 1])) < 0 ||
				(lo = PayconsHexDigit((unsigned char) s[i + 2])) < 0)
			{
				*bad = "a malformed percent escape";
				return NULL;
			}
			d[o++] = (char) ((hi << 4) | lo);
			i += 2;
		}
		else
			d[o++] = c;
	}
	d[o] = '\0';
	if (!PayconsUtf8Valid(d, o))
	{
		*bad = "text that is not UTF-8 (or contains a NUL byte)";
		return NULL;
	}
	*outlen = o;
	return d;
}

static int
form_param_cmp(const void *a, const void *b)
{
	const PayconsFormParam *pa = a;
	const PayconsFormParam *pb = b;
	size_t		m = pa->keylen < pb->keylen ? pa->keylen : pb->keylen;
	int			c = memcmp(pa->key, pb->key, m);

	if (c != 0)
		return c;
	return pa->keylen < pb->keylen ? -1 : (pa->keylen > pb->keylen ? 1 : 0);
}

PayconsChanStatus
PayconsFormParse(const char *body, size_t len, PayconsArena *a,
				 PayconsForm *out, PayconsChanError *err)
{
	size_t		npairs = 1;
	size_t		pos = 0;

	out->n = 0;
	out->params = NULL;
	for (size_t i = 0; i < len; i++)
		if (body[i] == '&')
			npairs++;
	out->params = PayconsArenaAlloc(a, sizeof(PayconsFormParam) * npairs);
	if (out->params == NULL)
		return PayconsChanFail(a, err, PCH_MALFORMED, "out of memory");

	while (pos <= len)
	{
		const char *amp = pos < len ? memchr(body + pos, '&', len - pos) : NULL;
		size_t		end = amp ? (size_t) (amp - body) : len;
		const char *eq;
		size_t		keyend;
		PayconsFormParam *prm;
		const char *bad;

		if (end > pos)
		{
			eq = memchr(body + pos, '=', end - pos);
			keyend = eq ? (size_t) (eq - body) : end;
			if (keyend == pos)
				return PayconsChanFail(a, err, PCH_MALFORMED,
									   "The form has a parameter without a name at byte %zu.",
									   pos);
			prm = &out->params[out->n];
			prm->key = form_decode(a, body + pos, keyend - pos, &prm->keylen,
								   &bad);
			if (prm->key == NULL)
				return PayconsChanFail(a, err, PCH_MALFORMED,
									   "The form has %s in a parameter name at byte %zu.",
									   bad, pos);
			if (eq)
				prm->value = form_decode(a, eq + 1, end - keyend - 1,
										 &prm->valuelen, &bad);
			else
			{
				prm->value = "";
				prm->valuelen = 0;
				bad = NULL;
			}
			if (prm->value == NULL)
				return PayconsChanFail(a, err, PCH_MALFORMED,
									   "The form has %s in the value of \"%.*s\".",
									   bad, PayconsChanClip(prm->key, prm->keylen, 64),
									   prm->key);
			out->n++;
		}
		if (amp == NULL)
			break;
		pos = end + 1;
	}
	if (out->n == 0)
		return PayconsChanFail(a, err, PCH_MALFORMED, "The form is empty.");

	qsort(out->params, out->n, sizeof(PayconsFormParam), form_param_cmp);
	for (int i = 1; i < out->n; i++)
		if (form_param_cmp(&out->params[i - 1], &out->params[i]) == 0)
			return PayconsChanFail(a, err, PCH_MALFORMED,
								   "The form has the parameter \"%.*s\" twice.",
								   PayconsChanClip(out->params[i].key,
												   out->params[i].keylen, 64),
								   out->params[i].key);
	return PCH_OK;
}

const PayconsFormParam *
PayconsFormGet(const PayconsForm *form, const char *key)
{
	PayconsFormParam probe;

	if (form->n == 0)
		return NULL;
	probe.key = key;
	probe.keylen = strlen(key);
	return bsearch(&probe, form->params, form->n, sizeof(PayconsFormParam),
				   form_param_cmp);
}
