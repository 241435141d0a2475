/*-------------------------------------------------------------------------
 *
 * adyen.c
 *	  Adyen standard webhooks: the signed payload of a notification item
 *	  and its facts (see adyen.h).  No backend dependency.
 *
 * The payload, as Adyen's "Verify HMAC signatures" page builds it: the
 * values of pspReference, originalReference, merchantAccountCode,
 * merchantReference, amount.value, amount.currency, eventCode and success,
 * joined with ":" in that order, an absent value being empty (so
 * "7914073381342284::TestMerchant:..." when there is no
 * originalReference).  The key is given as hex; the signature is the
 * base64 of the HMAC-SHA256 digest.
 *
 * IDENTIFICATION
 *	  src/channels/adyen.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "adyen.h"
#include "codec.h"

/* The text of a scalar member for the signed payload ("" if absent) */
static bool
adyen_field(const PayconsJson *obj, const char *key, const char **s, size_t *len)
{
	const PayconsJson *v = PayconsJsonGet(obj, key);

	*s = "";
	*len = 0;
	if (v == NULL || v->kind == PJ_NULL)
		return true;
	switch (v->kind)
	{
		case PJ_STRING:
		case PJ_NUMBER:
			*s = v->str;
			*len = v->len;
			return true;
		case PJ_TRUE:
			*s = "true";
			*len = 4;
			return true;
		case PJ_FALSE:
			*s = "false";
			*len = 5;
			return true;
		default:
			return false;
	}
}

PayconsChanStatus
PayconsAdyenParse(const char *body, size_t len, PayconsArena *a,
				  PayconsAdyenItem *item, PayconsChanError *err)
{
	static const char *const names[8] = {
		"pspReference", "originalReference", "merchantAccountCode",
		"merchantReference", "value", "currency", "eventCode", "success"
	};
	PayconsJson *root;
	const PayconsJson *items;
	const PayconsJson *wrapper;
	const PayconsJson *amount;
	const PayconsJson *extra;
	const char *vals[8];
	size_t		lens[8];
	size_t		total = 0;
	size_t		o = 0;
	const char *sig;
	size_t		siglen;
	uint8_t		sigbuf[48];
	PayconsChanStatus st;

	memset(item, 0, sizeof(*item));
	if ((st = PayconsJsonParse(body, len, a, &root, err)) != PCH_OK)
		return st;
	items = PayconsJsonGet(root, "notificationItems");
	if (items == NULL || items->kind != PJ_ARRAY || items->n != 1)
		return PayconsChanFail(a, err, PCH_MALFORMED,
							   "The webhook does not carry exactly one item in \"notificationItems\".");
	wrapper = items->items[0];
	item->item = PayconsJsonGet(wrapper, "NotificationRequestItem");
	if (item->item == NULL || item->item->kind != PJ_OBJECT)
		return PayconsChanFail(a, err, PCH_MALFORMED,
							   "The webhook's item has no \"NotificationRequestItem\" object.");

	amount = PayconsJsonGet(item->item, "amount");
	if (amount != NULL && amount->kind != PJ_OBJECT && amount->kind != PJ_NULL)
		return PayconsChanFail(a, err, PCH_MALFORMED,
							   "The item's \"amount\" is not an object.");
	for (int i = 0; i < 8; i++)
	{
		const PayconsJson *from = (i == 4 || i == 5) ? amount : item->item;

		if (!adyen_field(from, names[i], &vals[i], &lens[i]))
			return PayconsChanFail(a, err, PCH_MALFORMED,
								   "The item's \"%s\" is not a scalar.", names[i]);
		/*
		 * A ':' inside a value could move a field boundary without changing
		 * the signed payload.  Only merchantReference (the merchant's own
		 * text) may hold one: every other field is then colon-free, so the
		 * payload still splits one way only.
		 */
		if (memchr(vals[i], ':', lens[i]) != NULL && i != 3)
			return PayconsChanFail(a, err, PCH_MALFORMED,
								   "The item's \"%s\" contains a colon.", names[i]);
		total += lens[i] + 1;
	}
	item->payload = PayconsArenaAlloc(a, total + 1);
	if (item->payload == NULL)
		return PayconsChanFail(a, err, PCH_MALFORMED, "out of memory");
	for (int i = 0; i < 8; i++)
	{
		if (i > 0)
			item->payload[o++] = ':';
		memcpy(item->payload + o, vals[i], lens[i]);
		o += lens[i];
	}
	item->payload[o] = '\0';
	item->payload_len = o;

	extra = PayconsJsonGet(item->item, "additionalData");
	if (extra != NULL && extra->kind == PJ_OBJECT &&
		PayconsJsonString(extra, "hmacSignature", "additionalData.hmacSignature",
						  false, &sig, &siglen, a, err) == PCH_OK &&
		sig != NULL && siglen <= 64 &&
		PayconsBase64Decode(sig, siglen, sigbuf, sizeof(sigbuf)) == 32)
	{
		memcpy(item->signature, sigbuf, 32);
		item->has_signature = true;
	}
	return PCH_OK;
}

PayconsChanStatus
PayconsAdyenFacts(const PayconsAdyenItem *item, PayconsArena *a,
				  PayconsNoticeFacts *f, PayconsChanError *err)
{
	const PayconsJson *it = item->item;
	const PayconsJson *amount;
	const char *code;
	size_t		codelen;
	const char *success;
	size_t		successlen;
	bool		refund_failed = false;
	PayconsChanStatus st;

	memset(f, 0, sizeof(*f));
	if ((st = PayconsJsonString(it, "eventCode", "eventCode", true, &code,
								&codelen, a, err)) != PCH_OK)
		return st;
	f->event_type = code;
	f->event_type_len = codelen;
	if (!adyen_field(it, "merchantAccountCode", &f->merchant, &f->merchant_len) ||
		!adyen_field(it, "success", &success, &successlen))
		return PayconsChanFail(a, err, PCH_MALFORMED, "The item is malformed.");
	if (f->merchant_len == 0)
		f->merchant = NULL;

	if (PayconsChanEq(code, codelen, "AUTHORISATION"))
		f->kind = PN_PAYMENT;
	else if (PayconsChanEq(code, codelen, "REFUND"))
		f->kind = PN_REFUND;
	else if (PayconsChanEq(code, codelen, "REFUND_FAILED"))
	{
		f->kind = PN_REFUND;
		refund_failed = true;
	}
	else
	{
		f->kind = PN_IGNORE;
		f->ignored_because = "not a payment or refund event";
		return PCH_OK;
	}

	if (PayconsChanEq(success, successlen, "true"))
		f->success = !refund_failed;
	else if (PayconsChanEq(success, successlen, "false"))
		f->success = false;
	else
		return PayconsChanFail(a, err, PCH_BAD_VALUE,
							   "The item's \"success\" is \"%.*s\", not \"true\" or \"false\".",
							   PayconsChanClip(success, successlen, 16), success);

	if ((st = PayconsJsonString(it, "pspReference", "pspReference", true,
								&f->txn_id, &f->txn_len, a, err)) != PCH_OK ||
		(st = PayconsJsonString(it, "merchantReference", "merchantReference", true,
								&f->order_id, &f->order_len, a, err)) != PCH_OK ||
		(st = PayconsJsonObject(it, "amount", "amount", &amount, a, err)) != PCH_OK ||
		(st = PayconsJsonAmountText(amount, "value", "amount.value",
									&f->amount, &f->amount_len, a, err)) != PCH_OK ||
		(st = PayconsJsonString(amount, "currency", "amount.currency", true,
								&f->currency, &f->currency_len, a, err)) != PCH_OK)
		return st;
	return PCH_OK;
}
