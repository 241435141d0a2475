/*-------------------------------------------------------------------------
 *
 * review.c
 *	  paycons.resolve_review(): an operator's decision about an order in
 *	  needs_review and the money waiting there.
 *
 * Money that does not match its order -- a short or excess payment, a
 * payment in another currency, more money while the order is in review --
 * never marks the order paid and is never lost: apply_callback moves the
 * order to needs_review and marks the payment's inbox row review =
 * 'pending' (callback_decide.c).  Nothing but this call takes it out again
 * (the stuck-order sweep does not touch needs_review).  Decisions:
 *
 *	accept				the pending payments, all in the order's currency,
 *						are taken: they must cover what is still owed; the
 *						order becomes paid; any excess is refunded.
 *	refund				every pending payment is refunded (a refund
 *						compensation each); the order is refunding if it
 *						holds money of its currency, else closed.  With no
 *						pending payment, what the order holds is refunded.
 *	accept_and_refund	payments in the order's currency are taken in
 *						arrival order until the order is covered (the last
 *						one's excess refunded); the rest, and every payment
 *						in another currency, are refunded; the order
 *						becomes paid.
 *	close				nothing is held (no pending payment, nothing paid
 *						that was not refunded): the order is closed.
 *
 * Money in = money applied + money to refund after every decision: taken
 * payments add to paid_amount, refunded ones become refund compensations
 * (same currency ones also count in paid_amount, so that their refund
 * callbacks balance it).  The reason is mandatory and is recorded in
 * order_history with the decision.
 *
 * IDENTIFICATION
 *	  src/review.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "as_owner.h"
#include "compensations.h"
#include "errcodes.h"
#include "order_state.h"
#include "spi_plans.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(paycons_resolve_review);

/* Longest reason accepted, in bytes */
#define REVIEW_MAX_REASON	1024

typedef enum ReviewDecision
{
	RD_ACCEPT,
	RD_REFUND,
	RD_ACCEPT_AND_REFUND,
	RD_CLOSE
} ReviewDecision;

/* One payment waiting for the decision */
typedef struct ReviewPayment
{
	char	   *channel;
	char	   *txn_id;
	int64		amount;
	char	   *currency;
	bool		accept;			/* decided: taken (else refunded) */
} ReviewPayment;

/* The order and what the decision does to it */
typedef struct ReviewWork
{
	FunctionCallInfo fcinfo;
	const char *order_id;
	ReviewDecision decision;
	const char *decision_name;
	Datum		result;
	/* the order, locked */
	char	   *state;
	int64		amount;
	char	   *currency;
	int64		paid;
	int64		refunded;
	char	   *channel;
	char	   *txn_id;
	/* pending payments */
	int			npay;
	ReviewPayment *pay;
} ReviewWork;

static PayconsPlan review_lock_order = {
	"SELECT state::pg_catalog.text, amount, currency, paid_amount, refunded_amount,"
	" channel, channel_txn_id"
	" FROM paycons.orders WHERE order_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
	1, {TEXTOID}, 0, NULL
};

static PayconsPlan review_pending = {
	"SELECT channel, channel_txn_id, amount, currency FROM paycons.callbacks"
	" WHERE order_id OPERATOR(pg_catalog.=) $1"
	" AND review OPERATOR(pg_catalog.=) 'pending'"
	" ORDER BY received_at, channel, channel_txn_id FOR UPDATE",
	1, {TEXTOID}, 0, NULL
};

static PayconsPlan review_mark = {
	"UPDATE paycons.callbacks SET review = $3, reviewed_at = pg_catalog.now()"
	" WHERE channel OPERATOR(pg_catalog.=) $1"
	" AND channel_txn_id OPERATOR(pg_catalog.=) $2",
	3, {TEXTOID, TEXTOID, TEXTOID}, 0, NULL
};

static PayconsPlan review_update_order = {
	"UPDATE paycons.orders SET state = $2::paycons.order_state, paid_amount = $3,"
	" channel = COALESCE(channel, $4), channel_txn_id = COALESCE(channel_txn_id, $5),"
	" updated_at = pg_catalog.now()"
	" WHERE order_id OPERATOR(pg_catalog.=) $1 RETURNING *",
	5, {TEXTOID, TEXTOID, INT8OID, TEXTOID, TEXTOID}, 0, NULL
};

static void
review_error(const ReviewWork *w, const char *msg, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_PAYCONS_REVIEW_DECISION),
			 errmsg("cannot %s order \"%s\": %s", w->decision_name,
					w->order_id, msg),
			 detail ? errdetail("%s", detail) : 0,
			 errhint("See paycons.resolve_review() in doc/callbacks.md.")));
}

static int64
review_add(int64 a, int64 b, const char *order_id)
{
	int64		r;

	if (pg_add_s64_overflow(a, b, &r))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("amount held for order \"%s\" is out of range", order_id)));
	return r;
}

/* Read the locked order and its pending payments into *w. */
static void
review_load(ReviewWork *w)
{
	Datum		key = CStringGetTextDatum(w->order_id);
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	PayconsExecPlan(&review_lock_order, &key, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_ORDER_NOT_FOUND),
				 errmsg("order \"%s\" does not exist", w->order_id)));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	w->state = SPI_getvalue(tup, desc, 1);
	w->amount = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	w->currency = SPI_getvalue(tup, desc, 3);
	w->paid = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	w->refunded = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
	w->channel = SPI_getvalue(tup, desc, 6);
	w->txn_id = SPI_getvalue(tup, desc, 7);
	if (strcmp(w->state, "needs_review") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_ORDER_NOT_IN_REVIEW),
				 errmsg("order \"%s\" is %s, not needs_review", w->order_id, w->state),
				 errhint("Only an order in needs_review waits for a review decision.")));

	PayconsExecPlan(&review_pending, &key, NULL, 0);
	w->npay = (int) SPI_processed;
	w->pay = palloc0(sizeof(ReviewPayment) * Max(w->npay, 1));
	for (int i = 0; i < w->npay; i++)
	{
		tup = SPI_tuptable->vals[i];
		desc = SPI_tuptable->tupdesc;
		w->pay[i].channel = SPI_getvalue(tup, desc, 1);
		w->pay[i].txn_id = SPI_getvalue(tup, desc, 2);
		w->pay[i].amount = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		w->pay[i].currency = SPI_getvalue(tup, desc, 4);
	}
}

/* Enqueue the refund of amount of currency paid by (channel, txn) */
static void
review_refund(const ReviewWork *w, const char *channel, const char *txn,
			  const char *suffix, int64 amount, const char *currency)
{
	StringInfoData args;
	char	   *action;

	initStringInfo(&args);
	appendStringInfoString(&args, "{\"channel\": ");
	escape_json(&args, channel ? channel : "");
	appendStringInfoString(&args, ", \"channel_txn_id\": ");
	escape_json(&args, txn ? txn : "");
	appendStringInfo(&args, ", \"amount\": " INT64_FORMAT ", \"currency\": ", amount);
	escape_json(&args, currency);
	appendStringInfoString(&args, ", \"reason\": ");
	escape_json(&args, psprintf("review: %s", w->decision_name));
	appendStringInfoChar(&args, '}');

	action = psprintf("refund:%s%s", txn ? txn : w->order_id, suffix);
	if (strlen(action) > PAYCONS_MAX_ACTION)
		action[PAYCONS_MAX_ACTION] = '\0';
	(void) PayconsEnqueueCompensation(w->order_id, action, InvalidOid,
									  DirectFunctionCall1(jsonb_in,
														  CStringGetDatum(args.data)),
									  GetUserId());
}

/*
 * Decide which pending payments are taken (accept) for the decision, and
 * check that the decision is possible; returns the order's new state.
 */
static OrderState
review_decide(ReviewWork *w)
{
	int64		held = w->paid - w->refunded;	/* money of the order kept */
	bool		foreign = false;

	for (int i = 0; i < w->npay; i++)
		if (strcmp(w->pay[i].currency, w->currency) != 0)
			foreign = true;

	switch (w->decision)
	{
		case RD_ACCEPT:
			if (foreign)
				review_error(w, "a payment in another currency cannot be accepted",
							 "Refund it: decision refund or accept_and_refund.");
			for (int i = 0; i < w->npay; i++)
			{
				w->pay[i].accept = true;
				held = review_add(held, w->pay[i].amount, w->order_id);
			}
			if (held < w->amount)
				review_error(w, "the money held does not cover it",
							 psprintf("It holds " INT64_FORMAT " %s of " INT64_FORMAT " %s owed.",
									  held, w->currency, w->amount, w->currency));
			return OS_PAID;

		case RD_ACCEPT_AND_REFUND:
			for (int i = 0; i < w->npay; i++)
			{
				if (held >= w->amount || strcmp(w->pay[i].currency, w->currency) != 0)
					continue;
				w->pay[i].accept = true;
				held = review_add(held, w->pay[i].amount, w->order_id);
			}
			if (held < w->amount)
				review_error(w, "the money held in its currency does not cover it",
							 psprintf("It holds " INT64_FORMAT " %s of " INT64_FORMAT " %s owed.",
									  held, w->currency, w->amount, w->currency));
			return OS_PAID;

		case RD_REFUND:
			for (int i = 0; i < w->npay; i++)
				if (strcmp(w->pay[i].currency, w->currency) == 0)
					held = review_add(held, w->pay[i].amount, w->order_id);
			if (w->npay == 0 && held <= 0)
				review_error(w, "it holds no money to refund",
							 "Close it instead: decision close.");
			return held > 0 ? OS_REFUNDING : OS_CLOSED;

		case RD_CLOSE:
			if (w->npay > 0)
				review_error(w, psprintf("%d payment(s) wait for a decision", w->npay),
							 "Accept or refund them first.");
			if (held != 0)
				review_error(w, "it still holds money",
							 psprintf("paid_amount " INT64_FORMAT ", refunded_amount " INT64_FORMAT ".",
									  w->paid, w->refunded));
			return OS_CLOSED;
	}
	return OS_CLOSED;			/* keep compiler quiet */
}

static void
review_work(void *arg, MemoryContext caller)
{
	ReviewWork *w = (ReviewWork *) arg;
	OrderState	to;
	int64		paid;
	int64		owed;
	const char *channel = NULL;
	const char *txn = NULL;
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', 'n', 'n'};

	review_load(w);
	to = review_decide(w);

	/* the payments: taken ones add to paid_amount, the others are refunded */
	paid = w->paid;
	owed = w->amount - (w->paid - w->refunded);
	for (int i = 0; i < w->npay; i++)
	{
		ReviewPayment *p = &w->pay[i];
		Datum		mark[3];
		bool		same = strcmp(p->currency, w->currency) == 0;

		if (same)
			paid = review_add(paid, p->amount, w->order_id);
		if (p->accept)
		{
			/* what a taken payment brings beyond the amount owed goes back */
			if (p->amount > owed)
				review_refund(w, p->channel, p->txn_id, ":excess",
							  p->amount - owed, p->currency);
			owed -= Min(p->amount, owed);
			channel = p->channel;
			txn = p->txn_id;
		}
		else
			review_refund(w, p->channel, p->txn_id, "", p->amount, p->currency);

		mark[0] = CStringGetTextDatum(p->channel);
		mark[1] = CStringGetTextDatum(p->txn_id);
		mark[2] = CStringGetTextDatum(p->accept ? "accepted" : "refunded");
		PayconsExecPlan(&review_mark, mark, NULL, 0);
	}
	/* no payment pending: what the order holds is refunded */
	if (w->decision == RD_REFUND && w->npay == 0)
		review_refund(w, w->channel, w->txn_id, ":review", w->paid - w->refunded,
					  w->currency);

	values[0] = CStringGetTextDatum(w->order_id);
	values[1] = CStringGetTextDatum(OrderStateName(to));
	values[2] = Int64GetDatum(paid);
	if (channel != NULL)
	{
		values[3] = CStringGetTextDatum(channel);
		values[4] = CStringGetTextDatum(txn);
		nulls[3] = nulls[4] = ' ';
	}
	PayconsExecPlan(&review_update_order, values, nulls, 0);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("the review decision for order \"%s\" was not written",
						w->order_id),
				 errdetail("A trigger or rule on paycons.orders suppressed the update.")));
	w->result = PayconsReturnRow(w->fcinfo, caller);
}

/*
 * paycons.resolve_review(order_id, decision, reason) -> paycons.orders
 *
 * See the file header.  Raises PC002 for an unknown order, PC008 for an
 * order not in needs_review, PC009 for a decision that is unknown or not
 * possible (with what the order holds), 22004 for a NULL argument.
 */
Datum
paycons_resolve_review(PG_FUNCTION_ARGS)
{
	ReviewWork	w;
	char	   *decision;
	char	   *reason;

	PayconsRequireArg(fcinfo, 0, "order_id");
	PayconsRequireArg(fcinfo, 1, "decision");
	PayconsRequireArg(fcinfo, 2, "reason");
	memset(&w, 0, sizeof(w));
	w.fcinfo = fcinfo;
	w.order_id = PayconsCheckId(PG_GETARG_TEXT_PP(0), "order_id",
								PAYCONS_MAX_ORDER_ID);
	decision = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strcmp(decision, "accept") == 0)
		w.decision = RD_ACCEPT;
	else if (strcmp(decision, "refund") == 0)
		w.decision = RD_REFUND;
	else if (strcmp(decision, "accept_and_refund") == 0)
		w.decision = RD_ACCEPT_AND_REFUND;
	else if (strcmp(decision, "close") == 0)
		w.decision = RD_CLOSE;
	else
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_REVIEW_DECISION),
				 errmsg("invalid review decision: \"%s\"", decision),
				 errhint("The decision is accept, refund, accept_and_refund or close.")));
	w.decision_name = decision;
	reason = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (reason[0] == '\0' || strlen(reason) > REVIEW_MAX_REASON)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the reason of a review decision must have 1 to %d bytes",
						REVIEW_MAX_REASON)));

	PayconsAsOwner(psprintf("review %s: %s", decision, reason), review_work, &w);
	return w.result;
}
