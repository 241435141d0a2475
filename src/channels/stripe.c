/*-------------------------------------------------------------------------
 *
 * stripe.c
 *	  The facts of a verified Stripe event (see stripe.h).  No backend
 *	  dependency.
 *
 * An event is {"id": "evt_...", "object": "event", "type": "...",
 * "data": {"object": {...}}, ...}.  The PaymentIntent's metadata is copied
 * to the Charge it creates when it is confirmed (Stripe support, "How
 * metadata works with related objects"), so charge.refunded carries the
 * order id too.  charge.refunded states the charge's total refunded
 * (amount_refunded), not the amount of this refund: it is a cumulative
 * fact, turned into the refund not yet recorded in notification.c.
 *
 * IDENTIFICATION
 *	  src/channels/stripe.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "stripe.h"

PayconsChanStatus
PayconsStripeFacts(const char *body, size_t len, PayconsArena *a,
				   PayconsNoticeFacts *f, PayconsChanError *err)
{
	PayconsJson *event;
	const PayconsJson *data;
	const PayconsJson *obj;
	const PayconsJson *metadata;
	const char *type;
	size_t		typelen;
	const char *amount_key;
	PayconsChanStatus st;

	memset(f, 0, sizeof(*f));
	if ((st = PayconsJsonParse(body, len, a, &event, err)) != PCH_OK)
		return st;
	if (event->kind != PJ_OBJECT)
		return PayconsChanFail(a, err, PCH_MALFORMED,
							   "The event is not a JSON object.");
	if ((st = PayconsJsonString(event, "id", "id", true, &f->event_id,
								&f->event_id_len, a, err)) != PCH_OK ||
		(st = PayconsJsonString(event, "type", "type", true, &type, &typelen,
								a, err)) != PCH_OK ||
		(st = PayconsJsonString(event, "account", "account", false,
								&f->merchant, &f->merchant_len, a, err)) != PCH_OK)
		return st;
	f->event_type = type;
	f->event_type_len = typelen;

	if (PayconsChanEq(type, typelen, "payment_intent.succeeded"))
	{
		f->kind = PN_PAYMENT;
		f->success = true;
		amount_key = "amount_received";
	}
	else if (PayconsChanEq(type, typelen, "payment_intent.payment_failed"))
	{
		f->kind = PN_PAYMENT;
		f->success = false;
		amount_key = "amount";
	}
	else if (PayconsChanEq(type, typelen, "charge.refunded"))
	{
		f->kind = PN_REFUND;
		f->success = true;
		f->cumulative = true;
		amount_key = "amount_refunded";
	}
	else
	{
		f->kind = PN_IGNORE;
		f->ignored_because = "not a payment or refund event";
		return PCH_OK;
	}

	if ((st = PayconsJsonObject(event, "data", "data", &data, a, err)) != PCH_OK ||
		(st = PayconsJsonObject(data, "object", "data.object", &obj, a, err)) != PCH_OK ||
		(st = PayconsJsonString(obj, "id", "data.object.id", true,
								&f->txn_id, &f->txn_len, a, err)) != PCH_OK ||
		(st = PayconsJsonString(obj, "currency", "data.object.currency", true,
								&f->currency, &f->currency_len, a, err)) != PCH_OK ||
		(st = PayconsJsonObject(obj, "metadata", "data.object.metadata",
								&metadata, a, err)) != PCH_OK ||
		(st = PayconsJsonString(metadata, PAYCONS_STRIPE_ORDER_KEY,
								"data.object.metadata." PAYCONS_STRIPE_ORDER_KEY,
								true, &f->order_id, &f->order_len, a, err)) != PCH_OK)
		return st;
	if (f->kind == PN_PAYMENT)
		st = PayconsJsonAmountText(obj, amount_key,
								   f->success ? "data.object.amount_received" :
								   "data.object.amount",
								   &f->amount, &f->amount_len, a, err);
	else
		st = PayconsJsonAmountText(obj, amount_key, "data.object.amount_refunded",
								   &f->amount, &f->amount_len, a, err);
	return st;
}
