/*-------------------------------------------------------------------------
 *
 * generic.c
 *	  Facts read from declared fields of a JSON or form body (see
 *	  generic.h).  No backend dependency.
 *
 * IDENTIFICATION
 *	  src/channels/generic.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "form.h"
#include "generic.h"
#include "json.h"

const char *const PayconsGenericFactNames[PGF_NFACTS] = {
	"channel_txn_id", "order_id", "kind", "status", "amount", "currency"
};

PayconsChanStatus
PayconsGenericRead(PayconsBodyFormat format, const PayconsGenericFields *fields,
				   const char *body, size_t len, PayconsArena *a,
				   PayconsGenericValues *vals, PayconsChanError *err)
{
	PayconsChanStatus st;

	memset(vals, 0, sizeof(*vals));
	if (format == PBF_JSON)
	{
		PayconsJson *root;

		if ((st = PayconsJsonParse(body, len, a, &root, err)) != PCH_OK)
			return st;
		if (root->kind != PJ_OBJECT)
			return PayconsChanFail(a, err, PCH_MALFORMED,
								   "The body is not a JSON object.");
		for (int i = 0; i < PGF_NFACTS; i++)
		{
			const char *name = fields->field[i];

			if (name == NULL)
				continue;
			if (i == PGF_AMOUNT)
				st = PayconsJsonAmountText(root, name, name, &vals->value[i],
										   &vals->len[i], a, err);
			else
				st = PayconsJsonString(root, name, name, true, &vals->value[i],
									   &vals->len[i], a, err);
			if (st != PCH_OK)
				return st;
		}
		return PCH_OK;
	}
	else
	{
		PayconsForm form;

		if ((st = PayconsFormParse(body, len, a, &form, err)) != PCH_OK)
			return st;
		for (int i = 0; i < PGF_NFACTS; i++)
		{
			const PayconsFormParam *p;

			if (fields->field[i] == NULL)
				continue;
			p = PayconsFormGet(&form, fields->field[i]);
			if (p == NULL)
				return PayconsChanFail(a, err, PCH_MISSING_FIELD,
									   "The body has no \"%s\".", fields->field[i]);
			vals->value[i] = p->value;
			vals->len[i] = p->valuelen;
		}
		return PCH_OK;
	}
}

PayconsChanStatus
PayconsGenericFacts(const PayconsGenericValues *vals, PayconsArena *a,
					PayconsNoticeFacts *f, PayconsChanError *err)
{
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < PGF_NFACTS; i++)
		if (vals->value[i] == NULL)
			return PayconsChanFail(a, err, PCH_MISSING_FIELD,
								   "The channel declares no body field for \"%s\".",
								   PayconsGenericFactNames[i]);

	if (PayconsChanEq(vals->value[PGF_KIND], vals->len[PGF_KIND], "payment"))
		f->kind = PN_PAYMENT;
	else if (PayconsChanEq(vals->value[PGF_KIND], vals->len[PGF_KIND], "refund"))
		f->kind = PN_REFUND;
	else
		return PayconsChanFail(a, err, PCH_BAD_VALUE,
							   "The body's kind is \"%.*s\", not \"payment\" or \"refund\".",
							   PayconsChanClip(vals->value[PGF_KIND], vals->len[PGF_KIND], 32),
							   vals->value[PGF_KIND]);
	if (PayconsChanEq(vals->value[PGF_STATUS], vals->len[PGF_STATUS], "success"))
		f->success = true;
	else if (PayconsChanEq(vals->value[PGF_STATUS], vals->len[PGF_STATUS], "failed"))
		f->success = false;
	else
		return PayconsChanFail(a, err, PCH_BAD_VALUE,
							   "The body's status is \"%.*s\", not \"success\" or \"failed\".",
							   PayconsChanClip(vals->value[PGF_STATUS], vals->len[PGF_STATUS], 32),
							   vals->value[PGF_STATUS]);
	f->txn_id = vals->value[PGF_TXN_ID];
	f->txn_len = vals->len[PGF_TXN_ID];
	f->order_id = vals->value[PGF_ORDER_ID];
	f->order_len = vals->len[PGF_ORDER_ID];
	f->amount = vals->value[PGF_AMOUNT];
	f->amount_len = vals->len[PGF_AMOUNT];
	f->currency = vals->value[PGF_CURRENCY];
	f->currency_len = vals->len[PGF_CURRENCY];
	return PCH_OK;
}
