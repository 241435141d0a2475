/*-------------------------------------------------------------------------
 *
 * alipay.c
 *	  Alipay asynchronous notifications: the content Alipay signs and the
 *	  facts of a verified notification (see alipay.h).
 *
 * The content to verify is built as Alipay's own SDK builds it for
 * notifications (AlipaySignature.getSignCheckContentV1, documented in the
 * open platform's "异步通知说明"): every parameter of the notification
 * except sign and sign_type, URL-decoded, sorted by name, written as
 * "name=value" and joined with "&" -- empty values included.  The
 * signature is base64 in the sign parameter, RSA2 = SHA256withRSA with
 * PKCS#1 v1.5 padding, verified with the merchant's copy of Alipay's
 * public key.  See doc/channels.md for the sources.
 *
 * No backend dependency.
 *
 * IDENTIFICATION
 *	  src/channels/alipay.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "alipay.h"
#include "codec.h"

/* The longest sign accepted: base64 of an RSA-8192 signature (1024 bytes) */
#define ALIPAY_MAX_SIGN_B64 1368

PayconsChanStatus
PayconsAlipayParse(const char *body, size_t len, PayconsArena *a,
				   PayconsAlipayNotice *n, PayconsChanError *err)
{
	PayconsChanStatus st;
	const PayconsFormParam *sign;
	const PayconsFormParam *sign_type;
	size_t		total = 0;
	size_t		o = 0;
	long		decoded;

	memset(n, 0, sizeof(*n));
	if ((st = PayconsFormParse(body, len, a, &n->form, err)) != PCH_OK)
		return st;

	sign = PayconsFormGet(&n->form, "sign");
	sign_type = PayconsFormGet(&n->form, "sign_type");
	if (sign == NULL || sign->valuelen == 0)
		return PayconsChanFail(a, err, PCH_BAD_SIGNATURE, "missing sign");
	if (sign_type == NULL || !PayconsChanEq(sign_type->value, sign_type->valuelen, "RSA2"))
		return PayconsChanFail(a, err, PCH_BAD_SIGNATURE,
							   "unsupported sign_type \"%.*s\" (only RSA2 is accepted)",
							   sign_type ? PayconsChanClip(sign_type->value, sign_type->valuelen, 16) : 0,
							   sign_type ? sign_type->value : "");
	if (sign->valuelen > ALIPAY_MAX_SIGN_B64)
		return PayconsChanFail(a, err, PCH_BAD_SIGNATURE, "sign too long");
	n->sign = PayconsArenaAlloc(a, PAYCONS_BASE64_MAXDECODED(sign->valuelen));
	if (n->sign == NULL)
		return PayconsChanFail(a, err, PCH_MALFORMED, "out of memory");
	decoded = PayconsBase64Decode(sign->value, sign->valuelen, n->sign,
								  PAYCONS_BASE64_MAXDECODED(sign->valuelen));
	if (decoded <= 0)
		return PayconsChanFail(a, err, PCH_BAD_SIGNATURE, "sign is not base64");
	n->signlen = (size_t) decoded;

	/* the content: the parameters are sorted by name already */
	for (int i = 0; i < n->form.n; i++)
		total += n->form.params[i].keylen + n->form.params[i].valuelen + 2;
	n->content = PayconsArenaAlloc(a, total + 1);
	if (n->content == NULL)
		return PayconsChanFail(a, err, PCH_MALFORMED, "out of memory");
	for (int i = 0; i < n->form.n; i++)
	{
		const PayconsFormParam *p = &n->form.params[i];

		if (p == sign || p == sign_type)
			continue;
		if (o > 0)
			n->content[o++] = '&';
		memcpy(n->content + o, p->key, p->keylen);
		o += p->keylen;
		n->content[o++] = '=';
		memcpy(n->content + o, p->value, p->valuelen);
		o += p->valuelen;
	}
	n->content[o] = '\0';
	n->contentlen = o;
	return PCH_OK;
}

/* A parameter's value, or NULL if absent or empty */
static const PayconsFormParam *
alipay_param(const PayconsAlipayNotice *n, const char *key)
{
	const PayconsFormParam *p = PayconsFormGet(&n->form, key);

	return (p != NULL && p->valuelen > 0) ? p : NULL;
}

static PayconsChanStatus
alipay_require(const PayconsAlipayNotice *n, const char *key,
			   const char **s, size_t *len, PayconsArena *a,
			   PayconsChanError *err)
{
	const PayconsFormParam *p = alipay_param(n, key);

	if (p == NULL)
		return PayconsChanFail(a, err, PCH_MISSING_FIELD,
							   "The notification has no \"%s\".", key);
	*s = p->value;
	*len = p->valuelen;
	return PCH_OK;
}

PayconsChanStatus
PayconsAlipayFacts(const PayconsAlipayNotice *n, PayconsArena *a,
				   PayconsNoticeFacts *f, PayconsChanError *err)
{
	const PayconsFormParam *p;
	const char *status = NULL;
	size_t		statuslen = 0;
	PayconsChanStatus st;

	memset(f, 0, sizeof(*f));

	p = alipay_param(n, "charset");
	if (p != NULL &&
		!PayconsChanEq(p->value, p->valuelen, "utf-8") &&
		!PayconsChanEq(p->value, p->valuelen, "UTF-8") &&
		!PayconsChanEq(p->value, p->valuelen, "utf8") &&
		!PayconsChanEq(p->value, p->valuelen, "UTF8"))
		return PayconsChanFail(a, err, PCH_BAD_VALUE,
							   "The notification's charset is \"%.*s\"; paycons takes UTF-8 notifications only.",
							   PayconsChanClip(p->value, p->valuelen, 32), p->value);

	if ((p = alipay_param(n, "notify_id")) != NULL)
	{
		f->event_id = p->value;
		f->event_id_len = p->valuelen;
	}
	if ((p = alipay_param(n, "app_id")) != NULL)
	{
		f->merchant = p->value;
		f->merchant_len = p->valuelen;
	}
	if ((st = alipay_require(n, "trade_status", &status, &statuslen, a, err)) != PCH_OK)
		return st;
	f->event_type = status;
	f->event_type_len = statuslen;
	if ((st = alipay_require(n, "trade_no", &f->txn_id, &f->txn_len, a, err)) != PCH_OK ||
		(st = alipay_require(n, "out_trade_no", &f->order_id, &f->order_len, a, err)) != PCH_OK)
		return st;
	if ((p = alipay_param(n, "currency")) != NULL)
	{
		f->currency = p->value;
		f->currency_len = p->valuelen;
	}
	f->amount_major = true;

	if (alipay_param(n, "gmt_refund") != NULL)
	{
		/* a refund: refund_fee is the total refunded for the trade */
		f->kind = PN_REFUND;
		f->success = true;
		f->cumulative = true;
		return alipay_require(n, "refund_fee", &f->amount, &f->amount_len, a, err);
	}
	if (PayconsChanEq(status, statuslen, "TRADE_SUCCESS") ||
		PayconsChanEq(status, statuslen, "TRADE_FINISHED"))
	{
		f->kind = PN_PAYMENT;
		f->success = true;
	}
	else if (PayconsChanEq(status, statuslen, "TRADE_CLOSED"))
	{
		f->kind = PN_PAYMENT;
		f->success = false;
	}
	else if (PayconsChanEq(status, statuslen, "WAIT_BUYER_PAY"))
	{
		f->kind = PN_IGNORE;
		f->ignored_because = "the trade waits for the buyer to pay";
		return PCH_OK;
	}
	else
		return PayconsChanFail(a, err, PCH_BAD_VALUE,
							   "The notification's trade_status \"%.*s\" is not one Alipay documents.",
							   PayconsChanClip(status, statuslen, 64), status);
	return alipay_require(n, "total_amount", &f->amount, &f->amount_len, a, err);
}
