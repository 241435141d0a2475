/*-------------------------------------------------------------------------
 *
 * binding.c
 *	  Signatures bind the facts (issue 10, item 5): for a channel that
 *	  declares the format of its signed bodies, apply_callback refuses a
 *	  delivery whose arguments are not what the signed body states.
 *
 * Without a declared format the signature covers an opaque body, and a
 * captured signed body could be replayed with any facts under a new
 * transaction id; with one, the transaction id, order id, amount and
 * currency (and kind and status where declared) are read from the body by
 * the generic reader (generic.c) and compared.  A body that does not parse
 * binds nothing and is refused too.
 *
 * IDENTIFICATION
 *	  src/channels/binding.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "binding.h"
#include "money.h"

/* palloc for the parsers */
static void *
binding_alloc(void *ctx, size_t size)
{
	return palloc(size);
}

void
PayconsBodyFieldsFromJsonb(Jsonb *fields, PayconsGenericFields *out)
{
	memset(out, 0, sizeof(*out));
	if (fields == NULL || !JB_ROOT_IS_OBJECT(fields))
		return;
	for (int i = 0; i < PGF_NFACTS; i++)
	{
		JsonbValue	key;
		JsonbValue *v;

		key.type = jbvString;
		key.val.string.val = (char *) PayconsGenericFactNames[i];
		key.val.string.len = strlen(PayconsGenericFactNames[i]);
		v = findJsonbValueFromContainer(&fields->root, JB_FOBJECT, &key);
		if (v != NULL && v->type == jbvString && v->val.string.len > 0)
			out->field[i] = pnstrdup(v->val.string.val, v->val.string.len);
	}
}

PayconsBodyFormat
PayconsBodyFormatFromName(const char *name)
{
	if (strcmp(name, "json") == 0)
		return PBF_JSON;
	if (strcmp(name, "form") == 0)
		return PBF_FORM;
	elog(ERROR, "unknown body format \"%s\"", name);
	return PBF_JSON;			/* keep compiler quiet */
}

const char *
PayconsSignedBodyDisagrees(const char *format, Jsonb *fields,
						   const char *body, size_t len,
						   const char *txn_id, const char *order_id,
						   const char *kind, const char *status,
						   int64 amount, const char *currency)
{
	PayconsArena arena = {binding_alloc, NULL};
	PayconsGenericFields names;
	PayconsGenericValues vals;
	PayconsChanError err;
	const char *args[PGF_NFACTS];

	PayconsBodyFieldsFromJsonb(fields, &names);
	if (PayconsGenericRead(PayconsBodyFormatFromName(format), &names,
						   body, len, &arena, &vals, &err) != PCH_OK)
		return psprintf("signed body does not state the facts: %s", err.detail);

	args[PGF_TXN_ID] = txn_id;
	args[PGF_ORDER_ID] = order_id;
	args[PGF_KIND] = kind;
	args[PGF_STATUS] = status;
	args[PGF_AMOUNT] = NULL;
	args[PGF_CURRENCY] = currency;
	for (int i = 0; i < PGF_NFACTS; i++)
	{
		if (vals.value[i] == NULL)
			continue;
		if (i == PGF_AMOUNT)
		{
			int64_t		body_amount;

			if (PayconsParseMinorUnits(vals.value[i], vals.len[i], false,
									   &body_amount) != PAYCONS_MONEY_OK ||
				body_amount != amount)
				return "signed body disagrees with amount";
		}
		else if (!PayconsChanEq(vals.value[i], vals.len[i], args[i]))
			return psprintf("signed body disagrees with %s",
							PayconsGenericFactNames[i]);
	}
	return NULL;
}
