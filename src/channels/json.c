/*-------------------------------------------------------------------------
 *
 * json.c
 *	  A small strict JSON reader for channel notifications (see json.h for
 *	  why paycons has its own).  No backend dependency.
 *
 * Recursive descent over the bytes, nesting limited to
 * PAYCONS_JSON_MAX_DEPTH.  Duplicate member names are found by sorting the
 * names of each object (O(n log n), so a hostile body with many members
 * costs no quadratic time).  Strings without escapes point into the input;
 * others are decoded into the arena.
 *
 * IDENTIFICATION
 *	  src/channels/json.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "json.h"

typedef struct JsonParser
{
	const char *text;
	size_t		len;
	size_t		pos;
	int			depth;
	PayconsArena *arena;
	PayconsChanError *err;
} JsonParser;

typedef struct JsonKey
{
	const char *key;
	size_t		len;
} JsonKey;

static PayconsChanStatus json_value(JsonParser *p, PayconsJson **out);

static PayconsChanStatus
json_fail(JsonParser *p, const char *what)
{
	return PayconsChanFail(p->arena, p->err, PCH_MALFORMED,
						   "The JSON is invalid at byte %zu: %s.", p->pos, what);
}

static void
json_skip_ws(JsonParser *p)
{
	while (p->pos < p->len)
	{
		char		c = p->text[p->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static PayconsJson *
json_node(JsonParser *p, PayconsJsonKind kind)
{
	PayconsJson *n = PayconsArenaAlloc(p->arena, sizeof(PayconsJson));

	if (n != NULL)
	{
		memset(n, 0, sizeof(*n));
		n->kind = kind;
	}
	return n;
}

static int
json_hex4(const char *s)
{
	int			v = 0;

	for (int i = 0; i < 4; i++)
	{
		int			d = PayconsHexDigit((unsigned char) s[i]);

		if (d < 0)
			return -1;
		v = (v << 4) | d;
	}
	return v;
}

/* Append code point cp as UTF-8 */
static size_t
json_put_utf8(char *d, uint32_t cp)
{
	if (cp < 0x80)
	{
		d[0] = (char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		d[0] = (char) (0xC0 | (cp >> 6));
		d[1] = (char) (0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000)
	{
		d[0] = (char) (0xE0 | (cp >> 12));
		d[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
		d[2] = (char) (0x80 | (cp & 0x3F));
		return 3;
	}
	d[0] = (char) (0xF0 | (cp >> 18));
	d[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
	d[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
	d[3] = (char) (0x80 | (cp & 0x3F));
	return 4;
}

/*
 * A string; p->pos is at the opening quote.  On success *s and *slen is the
 * decoded text (valid UTF-8, no NUL).
 */
static PayconsChanStatus
json_string(JsonParser *p, const char **s, size_t *slen)
{
	size_t		start = ++p->pos;
	size_t		end;
	bool		escapes = false;
	char	   *buf;
	size_t		o = 0;

	/* find the end, checking for raw control characters */
	for (end = start; end < p->len; end++)
	{
		unsigned char c = (unsigned char) p->text[end];

		if (c == '"')
			break;
		if (c < 0x20)
		{
			p->pos = end;
			return json_fail(p, "control character in a string");
		}
		if (c == '\\')
		{
			escapes = true;
			end++;				/* skip the escaped character */
		}
	}
	if (end >= p->len)
	{
		p->pos = p->len;
		return json_fail(p, "unterminated string");
	}
	if (!PayconsUtf8Valid(p->text + start, end - start))
	{
		p->pos = start;
		return json_fail(p, "a string is not valid UTF-8");
	}
	if (!escapes)
	{
		*s = p->text + start;
		*slen = end - start;
		p->pos = end + 1;
		return PCH_OK;
	}

	/* decoding never makes a string longer */
	buf = PayconsArenaAlloc(p->arena, end - start);
	if (buf == NULL)
		return json_fail(p, "out of memory");
	for (size_t i = start; i < end; i++)
	{
		char		c = p->text[i];
		uint32_t	cp;
		int			v;

		if (c != '\\')
		{
			buf[o++] = c;
			continue;
		}
		c = p->text[++i];
		switch (c)
		{
			case '"':
			case '\\':
			case '/':
				buf[o++] = c;
				break;
			case 'b':
				buf[o++] = '\b';
				break;
			case 'f':
				buf[o++] = '\f';
				break;
			case 'n':
				buf[o++] = '\n';
				break;
			case 'r':
				buf[o++] = '\r';
				break;
			case 't':
				buf[o++] = '\t';
				break;
			case 'u':
				if (end - i - 1 < 4 || (v = json_hex4(p->text + i + 1)) < 0)
				{
					p->pos = i;
					return json_fail(p, "bad \\u escape");
				}
				i += 4;
				cp = (uint32_t) v;
				if (cp >= 0xDC00 && cp <= 0xDFFF)
				{
					p->pos = i;
					return json_fail(p, "lone low surrogate");
				}
				if (cp >= 0xD800 && cp <= 0xDBFF)
				{
					int			lo;

					if (end - i - 1 < 6 || p->text[i + 1] != '\\' ||
						p->text[i + 2] != 'u' ||
						(lo = json_hex4(p->text + i + 3)) < 0xDC00 ||
						lo > 0xDFFF)
					{
						p->pos = i;
						return json_fail(p, "lone high surrogate");
					}
					i += 6;
					cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t) lo - 0xDC00);
				}
				if (cp == 0)
				{
					p->pos = i;
					return json_fail(p, "\\u0000 in a string");
				}
				o += json_put_utf8(buf + o, cp);
				break;
			default:
				p->pos = i;
				return json_fail(p, "unknown escape");
		}
	}
	*s = buf;
	*slen = o;
	p->pos = end + 1;
	return PCH_OK;
}

/* A number, kept as its literal text */
static PayconsChanStatus
json_number(JsonParser *p, PayconsJson **out)
{
	size_t		start = p->pos;
	const char *t = p->text;
	PayconsJson *n;
	bool		integer = true;

	if (p->pos < p->len && t[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len)
		return json_fail(p, "incomplete number");
	if (t[p->pos] == '0')
		p->pos++;
	else if (t[p->pos] >= '1' && t[p->pos] <= '9')
		while (p->pos < p->len && t[p->pos] >= '0' && t[p->pos] <= '9')
			p->pos++;
	else
		return json_fail(p, "bad number");
	if (p->pos < p->len && t[p->pos] == '.')
	{
		size_t		d;

		integer = false;
		d = ++p->pos;
		while (p->pos < p->len && t[p->pos] >= '0' && t[p->pos] <= '9')
			p->pos++;
		if (p->pos == d)
			return json_fail(p, "no digits after a decimal point");
	}
	if (p->pos < p->len && (t[p->pos] == 'e' || t[p->pos] == 'E'))
	{
		size_t		d;

		integer = false;
		p->pos++;
		if (p->pos < p->len && (t[p->pos] == '+' || t[p->pos] == '-'))
			p->pos++;
		d = p->pos;
		while (p->pos < p->len && t[p->pos] >= '0' && t[p->pos] <= '9')
			p->pos++;
		if (p->pos == d)
			return json_fail(p, "no digits in an exponent");
	}
	n = json_node(p, PJ_NUMBER);
	if (n == NULL)
		return json_fail(p, "out of memory");
	n->str = t + start;
	n->len = p->pos - start;
	n->integer = integer;
	*out = n;
	return PCH_OK;
}

static bool
json_literal(JsonParser *p, const char *word)
{
	size_t		wl = strlen(word);

	if (p->len - p->pos < wl || memcmp(p->text + p->pos, word, wl) != 0)
		return false;
	p->pos += wl;
	return true;
}

static int
json_key_cmp(const void *a, const void *b)
{
	const JsonKey *ka = a;
	const JsonKey *kb = b;
	size_t		m = ka->len < kb->len ? ka->len : kb->len;
	int			c = memcmp(ka->key, kb->key, m);

	if (c != 0)
		return c;
	return ka->len < kb->len ? -1 : (ka->len > kb->len ? 1 : 0);
}

/* Grow the element arrays of a container to hold one more */
static bool
json_grow(JsonParser *p, PayconsJson *n, int *cap)
{
	int			newcap;
	PayconsJson **items;

	if (n->n < *cap)
		return true;
	newcap = *cap == 0 ? 8 : *cap * 2;
	items = PayconsArenaAlloc(p->arena, sizeof(PayconsJson *) * newcap);
	if (items == NULL)
		return false;
	if (n->n > 0)
		memcpy(items, n->items, sizeof(PayconsJson *) * n->n);
	n->items = items;
	if (n->kind == PJ_OBJECT)
	{
		const char **keys = PayconsArenaAlloc(p->arena, sizeof(char *) * newcap);
		size_t	   *keylens = PayconsArenaAlloc(p->arena, sizeof(size_t) * newcap);

		if (keys == NULL || keylens == NULL)
			return false;
		if (n->n > 0)
		{
			memcpy(keys, n->keys, sizeof(char *) * n->n);
			memcpy(keylens, n->keylens, sizeof(size_t) * n->n);
		}
		n->keys = keys;
		n->keylens = keylens;
	}
	*cap = newcap;
	return true;
}

/* An object or an array; p->pos is at its opening bracket */
static PayconsChanStatus
json_container(JsonParser *p, PayconsJsonKind kind, PayconsJson **out)
{
	char		close = kind == PJ_OBJECT ? '}' : ']';
	PayconsJson *n = json_node(p, kind);
	int			cap = 0;
	PayconsChanStatus st;

	if (n == NULL)
		return json_fail(p, "out of memory");
	if (++p->depth > PAYCONS_JSON_MAX_DEPTH)
		return json_fail(p, "nested too deeply");
	p->pos++;
	json_skip_ws(p);
	if (p->pos < p->len && p->text[p->pos] == close)
		p->pos++;
	else
	{
		for (;;)
		{
			const char *key = NULL;
			size_t		keylen = 0;
			PayconsJson *v;

			json_skip_ws(p);
			if (kind == PJ_OBJECT)
			{
				if (p->pos >= p->len || p->text[p->pos] != '"')
					return json_fail(p, "expected a member name");
				if ((st = json_string(p, &key, &keylen)) != PCH_OK)
					return st;
				json_skip_ws(p);
				if (p->pos >= p->len || p->text[p->pos] != ':')
					return json_fail(p, "expected ':'");
				p->pos++;
			}
			if ((st = json_value(p, &v)) != PCH_OK)
				return st;
			if (!json_grow(p, n, &cap))
				return json_fail(p, "out of memory");
			if (kind == PJ_OBJECT)
			{
				n->keys[n->n] = key;
				n->keylens[n->n] = keylen;
			}
			n->items[n->n++] = v;
			json_skip_ws(p);
			if (p->pos < p->len && p->text[p->pos] == ',')
			{
				p->pos++;
				continue;
			}
			if (p->pos < p->len && p->text[p->pos] == close)
			{
				p->pos++;
				break;
			}
			return json_fail(p, kind == PJ_OBJECT ? "expected ',' or '}'" :
							 "expected ',' or ']'");
		}
	}
	p->depth--;

	/* refuse duplicate member names */
	if (kind == PJ_OBJECT && n->n > 1)
	{
		JsonKey    *sorted = PayconsArenaAlloc(p->arena, sizeof(JsonKey) * n->n);

		if (sorted == NULL)
			return json_fail(p, "out of memory");
		for (int i = 0; i < n->n; i++)
		{
			sorted[i].key = n->keys[i];
			sorted[i].len = n->keylens[i];
		}
		qsort(sorted, n->n, sizeof(JsonKey), json_key_cmp);
		for (int i = 1; i < n->n; i++)
			if (json_key_cmp(&sorted[i - 1], &sorted[i]) == 0)
				return PayconsChanFail(p->arena, p->err, PCH_MALFORMED,
									   "The JSON has the member name \"%.*s\" twice in one object.",
									   PayconsChanClip(sorted[i].key, sorted[i].len, 64),
									   sorted[i].key);
	}
	*out = n;
	return PCH_OK;
}

static PayconsChanStatus
json_value(JsonParser *p, PayconsJson **out)
{
	char		c;

	json_skip_ws(p);
	if (p->pos >= p->len)
		return json_fail(p, "unexpected end");
	c = p->text[p->pos];
	switch (c)
	{
		case '{':
			return json_container(p, PJ_OBJECT, out);
		case '[':
			return json_container(p, PJ_ARRAY, out);
		case '"':
			{
				PayconsJson *n = json_node(p, PJ_STRING);
				PayconsChanStatus st;

				if (n == NULL)
					return json_fail(p, "out of memory");
				if ((st = json_string(p, &n->str, &n->len)) != PCH_OK)
					return st;
				*out = n;
				return PCH_OK;
			}
		case 't':
			if (!json_literal(p, "true"))
				return json_fail(p, "unexpected word");
			*out = json_node(p, PJ_TRUE);
			return *out ? PCH_OK : json_fail(p, "out of memory");
		case 'f':
			if (!json_literal(p, "false"))
				return json_fail(p, "unexpected word");
			*out = json_node(p, PJ_FALSE);
			return *out ? PCH_OK : json_fail(p, "out of memory");
		case 'n':
			if (!json_literal(p, "null"))
				return json_fail(p, "unexpected word");
			*out = json_node(p, PJ_NULL);
			return *out ? PCH_OK : json_fail(p, "out of memory");
		default:
			if (c == '-' || (c >= '0' && c <= '9'))
				return json_number(p, out);
			return json_fail(p, "unexpected character");
	}
}

PayconsChanStatus
PayconsJsonParse(const char *text, size_t len, PayconsArena *a,
				 PayconsJson **out, PayconsChanError *err)
{
	JsonParser	p;
	PayconsChanStatus st;

	p.text = text;
	p.len = len;
	p.pos = 0;
	p.depth = 0;
	p.arena = a;
	p.err = err;
	*out = NULL;
	if ((st = json_value(&p, out)) != PCH_OK)
		return st;
	json_skip_ws(&p);
	if (p.pos != p.len)
		return json_fail(&p, "data after the value");
	return PCH_OK;
}

const PayconsJson *
PayconsJsonGet(const PayconsJson *obj, const char *key)
{
	size_t		kl = strlen(key);

	if (obj == NULL || obj->kind != PJ_OBJECT)
		return NULL;
	for (int i = 0; i < obj->n; i++)
		if (obj->keylens[i] == kl && memcmp(obj->keys[i], key, kl) == 0)
			return obj->items[i];
	return NULL;
}

PayconsChanStatus
PayconsJsonString(const PayconsJson *obj, const char *key, const char *path,
				  bool required, const char **s, size_t *len,
				  PayconsArena *a, PayconsChanError *err)
{
	const PayconsJson *v = PayconsJsonGet(obj, key);

	*s = NULL;
	*len = 0;
	if (v == NULL || v->kind == PJ_NULL)
	{
		if (!required)
			return PCH_OK;
		return PayconsChanFail(a, err, PCH_MISSING_FIELD,
							   "The notification has no \"%s\".", path);
	}
	if (v->kind != PJ_STRING)
		return PayconsChanFail(a, err, PCH_MISSING_FIELD,
							   "The notification's \"%s\" is not a string.", path);
	*s = v->str;
	*len = v->len;
	return PCH_OK;
}

PayconsChanStatus
PayconsJsonObject(const PayconsJson *obj, const char *key, const char *path,
				  const PayconsJson **child, PayconsArena *a,
				  PayconsChanError *err)
{
	const PayconsJson *v = PayconsJsonGet(obj, key);

	*child = NULL;
	if (v == NULL || v->kind == PJ_NULL)
		return PayconsChanFail(a, err, PCH_MISSING_FIELD,
							   "The notification has no \"%s\".", path);
	if (v->kind != PJ_OBJECT)
		return PayconsChanFail(a, err, PCH_MISSING_FIELD,
							   "The notification's \"%s\" is not an object.", path);
	*child = v;
	return PCH_OK;
}

PayconsChanStatus
PayconsJsonAmountText(const PayconsJson *obj, const char *key, const char *path,
					  const char **s, size_t *len,
					  PayconsArena *a, PayconsChanError *err)
{
	const PayconsJson *v = PayconsJsonGet(obj, key);

	*s = NULL;
	*len = 0;
	if (v == NULL || v->kind == PJ_NULL)
		return PayconsChanFail(a, err, PCH_MISSING_FIELD,
							   "The notification has no \"%s\".", path);
	if (v->kind != PJ_NUMBER && v->kind != PJ_STRING)
		return PayconsChanFail(a, err, PCH_MISSING_FIELD,
							   "The notification's \"%s\" is not a number.", path);
	*s = v->str;
	*len = v->len;
	return PCH_OK;
}
