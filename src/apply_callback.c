/*-------------------------------------------------------------------------
 *
 * apply_callback.c
 *	  The SQL function paycons.apply_callback(): its arguments checked (each
 *	  bad one raises its own SQLSTATE, naming the value, before anything is
 *	  written), the facts handed to the exactly-once path of callbacks.c,
 *	  and the answer returned as a row.
 *
 * IDENTIFICATION
 *	  src/apply_callback.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "apply_callback.h"
#include "as_owner.h"
#include "callbacks.h"
#include "errcodes.h"
#include "spi_plans.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(paycons_apply_callback);

/*
 * Check the arguments; raise a specific error for the first bad one.
 * Nothing has been written yet.
 */
static void
apply_callback_check_args(FunctionCallInfo fcinfo, CallbackFacts *f)
{
	char	   *s;

	PayconsRequireArg(fcinfo, 0, "channel");
	PayconsRequireArg(fcinfo, 1, "channel_txn_id");
	PayconsRequireArg(fcinfo, 2, "order_id");
	PayconsRequireArg(fcinfo, 3, "kind");
	PayconsRequireArg(fcinfo, 4, "status");
	PayconsRequireArg(fcinfo, 5, "amount");
	PayconsRequireArg(fcinfo, 6, "currency");
	PayconsRequireArg(fcinfo, 10, "source");

	f->channel = PayconsCheckId(PG_GETARG_TEXT_PP(0), "channel",
								PAYCONS_MAX_CHANNEL);
	f->txn_id = PayconsCheckId(PG_GETARG_TEXT_PP(1), "channel_txn_id",
							   PAYCONS_MAX_TXN_ID);
	f->order_id = PayconsCheckId(PG_GETARG_TEXT_PP(2), "order_id",
								 PAYCONS_MAX_ORDER_ID);

	s = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (strcmp(s, "payment") == 0)
		f->refund = false;
	else if (strcmp(s, "refund") == 0)
		f->refund = true;
	else
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_INVALID_CALLBACK_KIND),
				 errmsg("invalid callback kind: \"%s\"", s),
				 errhint("The kind is \"payment\" or \"refund\".")));
	f->kind = f->refund ? "refund" : "payment";

	s = text_to_cstring(PG_GETARG_TEXT_PP(4));
	if (strcmp(s, "success") == 0)
		f->success = true;
	else if (strcmp(s, "failed") == 0)
		f->success = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_INVALID_CALLBACK_STATUS),
				 errmsg("invalid callback status: \"%s\"", s),
				 errhint("The status is \"success\" or \"failed\".")));
	f->status = f->success ? "success" : "failed";

	f->amount = PG_GETARG_INT64(5);
	PayconsCheckAmount(f->amount, "amount");
	f->currency = PayconsCheckCurrency(PG_GETARG_TEXT_PP(6));

	f->payload = PG_ARGISNULL(7) ? NULL : PG_GETARG_JSONB_P(7);
	if (f->payload != NULL && VARSIZE(f->payload) > CALLBACKS_MAX_PAYLOAD)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("payload of callback \"%s\" is too large: %zu bytes",
						f->txn_id, (size_t) VARSIZE(f->payload)),
				 errdetail("The maximum is %d bytes.", CALLBACKS_MAX_PAYLOAD),
				 errhint("Keep the fields reconciliation needs, not the whole notice.")));

	f->signature = PG_ARGISNULL(8) ? NULL : PG_GETARG_TEXT_PP(8);
	if (f->signature != NULL &&
		VARSIZE_ANY_EXHDR(f->signature) > CALLBACKS_MAX_SIGNATURE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("signature of callback \"%s\" is too long: %zu bytes",
						f->txn_id, (size_t) VARSIZE_ANY_EXHDR(f->signature)),
				 errdetail("The maximum is %d bytes.", CALLBACKS_MAX_SIGNATURE)));

	f->signed_body = PG_ARGISNULL(9) ? NULL : PG_GETARG_TEXT_PP(9);
	if (f->signed_body != NULL &&
		VARSIZE_ANY_EXHDR(f->signed_body) > CALLBACKS_MAX_SIGNED_BODY)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("signed body of callback \"%s\" is too large: %zu bytes",
						f->txn_id, (size_t) VARSIZE_ANY_EXHDR(f->signed_body)),
				 errdetail("The maximum is %d bytes.", CALLBACKS_MAX_SIGNED_BODY)));

	s = text_to_cstring(PG_GETARG_TEXT_PP(10));
	if (strcmp(s, "callback") == 0)
		f->source = "callback";
	else if (strcmp(s, "query") == 0)
		f->source = "query";
	else if (strcmp(s, "statement") == 0)
	{
		/*
		 * A statement line carries no signature of its own: the statement is
		 * the channel's record, loaded by the operator.  Only the extension
		 * owner (reconcile_statement runs as the owner) may claim it, or any
		 * role could skip the signature check by saying so.
		 */
		if (!has_privs_of_role(GetUserId(), PayconsOwnerOid()))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to apply callback \"%s\" with source \"statement\"",
							f->txn_id),
					 errhint("Statement lines are applied by paycons.reconcile_statement().")));
		f->source = "statement";
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_INVALID_CALLBACK_SOURCE),
				 errmsg("invalid callback source: \"%s\"", s),
				 errhint("The source is \"callback\", \"query\" or \"statement\".")));
}

/*
 * paycons.apply_callback(channel, channel_txn_id, order_id, kind, status,
 *		amount, currency, payload, signature, signed_body, source)
 *	 -> (outcome, state, duplicate, first_seen_at, ack)
 *
 * See the file header for the protocol and doc/callbacks.md for the
 * outcomes.  Bad arguments raise before anything is written; a missing or
 * bad signature (when the channel requires one) returns "bad_signature"
 * having changed nothing but the channel's counter.
 */
Datum
paycons_apply_callback(PG_FUNCTION_ARGS)
{
	CallbackFacts f;
	CallbackResult r;
	TupleDesc	desc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	memset(&f, 0, sizeof(f));
	apply_callback_check_args(fcinfo, &f);
	desc = PayconsResultDesc(fcinfo);

	/* statement lines are vouched for by the statement (owner only) */
	PayconsApplyCallback(&f, strcmp(f.source, "statement") != 0, &r,
						 "paycons.apply_callback()");

	values[0] = CStringGetTextDatum(r.outcome);
	if (r.has_state)
		values[1] = OrderStateGetDatum(r.state);
	else
		nulls[1] = true;
	values[2] = BoolGetDatum(r.duplicate);
	if (r.has_first_seen)
		values[3] = TimestampTzGetDatum(r.first_seen);
	else
		nulls[3] = true;
	if (r.ack != NULL)
		values[4] = CStringGetTextDatum(r.ack);
	else
		nulls[4] = true;

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
