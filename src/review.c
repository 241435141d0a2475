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
 *						compensation each), and so is what the order keeps
 *						of its currency; the order is refunding while a
 *						refund of its currency is open, else refunded if it
 *						ever took money of its currency, else closed.
 *	accept_and_refund	payments in the order's currency are taken in
 *						arrival order until the order is covered (the last
 *						one's excess refunded); the rest, and every payment
 *						in another currency, are refunded; the order
 *						becomes paid.
 *	close				nothing is pending and the order keeps nothing: the
 *						review ends, with the same end state as refund (for
 *						an over-refunded order: the loss is accepted, and
 *						recorded with the reason).
 *
 * Money in = money applied + money to refund after every decision: taken
 * payments add to paid_amount, refunded ones become refund compensations
 * (same currency ones also count in paid_amount, so that their refund
 * callbacks balance it).  The reason is mandatory and is recorded in
 * order_history with the decision.
 *
 * Never is money asked back twice.  What the order keeps is paid_amount -
 * refunded_amount - the refunds of its currency still open.  When that is
 * negative, the channel has returned money before paycons asked for it (an
 * over-refund): first the open refunds it covers are completed, then what
 * is left of it covers the pending payments of the order's currency, each
 * recorded as a done compensation refund:<txn>:returned; only the rest is
 * asked for.  A review of an over-refunded order with nothing pending ends
 * with close (refund has nothing to give back and says so).
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

/* A refund of the order's currency still open (asked for, not yet done) */
typedef struct ReviewOpenRefund
{
	int64		id;
	char	   *action;
	char	   *channel;
	char	   *txn_id;
	int64		amount;
} ReviewOpenRefund;

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
	/* open refunds of its currency */
	int			nopen;
	ReviewOpenRefund *open;
	int64		open_sum;		/* their sum, once settled (review_settle) */
	int64		held;			/* money of its currency the order keeps */
	int64		returned;		/* returned by the channel, not yet attributed */
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

/*
 * The open refunds of the order's currency ($2): what paycons has asked the
 * channel to give back and not yet seen done (dead ones are still owed).
 * Only well-formed ones (an amount in minor units) are counted.
 */
static PayconsPlan review_open_refunds = {
	"SELECT id, action, args OPERATOR(pg_catalog.->>) 'channel',"
	" args OPERATOR(pg_catalog.->>) 'channel_txn_id',"
	" (args OPERATOR(pg_catalog.->>) 'amount')::pg_catalog.int8"
	" FROM paycons.compensations"
	" WHERE order_id OPERATOR(pg_catalog.=) $1 AND handler IS NULL"
	" AND action OPERATOR(pg_catalog.~~) 'refund:%'"
	" AND state OPERATOR(pg_catalog.=) ANY ('{pending,waiting_external,dead}'::pg_catalog.text[])"
	" AND args OPERATOR(pg_catalog.->>) 'currency' OPERATOR(pg_catalog.=) $2"
	" AND pg_catalog.jsonb_typeof(args OPERATOR(pg_catalog.->) 'amount') OPERATOR(pg_catalog.=) 'number'"
	" AND args OPERATOR(pg_catalog.->>) 'amount' OPERATOR(pg_catalog.~) '^[1-9][0-9]{0,17}$'"
	" ORDER BY id FOR UPDATE",
	2, {TEXTOID, TEXTOID}, 0, NULL
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

static int64
review_sub(int64 a, int64 b, const char *order_id)
{
	int64		r;

	if (pg_sub_s64_overflow(a, b, &r))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("amount held for order \"%s\" is out of range", order_id)));
	return r;
}

/*
 * Detail of a refusal: what the order holds against what it owes, and, for
 * an over-refunded order, that the channel returned more than it was paid.
 */
static char *
review_holds(const ReviewWork *w, int64 held)
{
	char	   *s = psprintf("It holds " INT64_FORMAT " %s of " INT64_FORMAT " %s owed.",
							 held, w->currency, w->amount, w->currency);

	if (w->refunded > w->paid)
		s = psprintf("%s The channel has refunded " INT64_FORMAT " %s of the " INT64_FORMAT " %s it was paid.",
					 s, w->refunded, w->currency, w->paid, w->currency);
	return s;
}

/* Read the open refunds of the order's currency into *w (locked). */
static void
review_load_open_refunds(ReviewWork *w)
{
	Datum		values[2];

	values[0] = CStringGetTextDatum(w->order_id);
	values[1] = CStringGetTextDatum(w->currency);
	PayconsExecPlan(&review_open_refunds, values, NULL, 0);
	w->nopen = (int) SPI_processed;
	w->open = palloc0(sizeof(ReviewOpenRefund) * Max(w->nopen, 1));
	w->open_sum = 0;
	for (int i = 0; i < w->nopen; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		w->open[i].id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		w->open[i].action = SPI_getvalue(tup, desc, 2);
		w->open[i].channel = SPI_getvalue(tup, desc, 3);
		w->open[i].txn_id = SPI_getvalue(tup, desc, 4);
		w->open[i].amount = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
		w->open_sum = review_add(w->open_sum, w->open[i].amount, w->order_id);
	}
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
	review_load_open_refunds(w);
}

/* The args of a refund compensation */
static Datum
review_refund_args(const ReviewWork *w, const char *channel, const char *txn,
				   int64 amount, const char *currency)
{
	StringInfoData args;

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
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(args.data));
}

/* An action name, cut to the longest a compensation takes */
static char *
review_action(const char *prefix, const char *suffix)
{
	char	   *action = psprintf("%s%s", prefix, suffix);

	if (strlen(action) > PAYCONS_MAX_ACTION)
		action[PAYCONS_MAX_ACTION] = '\0';
	return action;
}

/* Enqueue the refund of amount of currency paid by (channel, txn) */
static void
review_refund(const ReviewWork *w, const char *channel, const char *txn,
			  const char *suffix, int64 amount, const char *currency)
{
	char	   *action = review_action(psprintf("refund:%s", txn ? txn : w->order_id),
									   suffix);

	(void) PayconsEnqueueCompensation(w->order_id, action, InvalidOid,
									  review_refund_args(w, channel, txn, amount,
														 currency),
									  GetUserId());
}

/*
 * Record that amount of the pending payment p was returned by the channel
 * already (an over-refund came before the decision): a done compensation
 * refund:<txn>:returned, nothing asked for.
 */
static void
review_returned(const ReviewWork *w, const ReviewPayment *p, int64 amount)
{
	PayconsRecordDoneCompensation(w->order_id,
								  review_action(psprintf("refund:%s", p->txn_id),
												":returned"),
								  review_refund_args(w, p->channel, p->txn_id,
													 amount, p->currency),
								  psprintf("returned by the channel before review %s: refunded_amount " INT64_FORMAT " exceeded what order \"%s\" kept (paid_amount " INT64_FORMAT ")",
										   w->decision_name, w->refunded,
										   w->order_id, w->paid));
}

/*
 * Settle what the channel returned before paycons asked for it.  What the
 * order keeps of its currency is paid - refunded - its open refunds; if
 * that is negative, the channel gave back that much more than it was asked
 * to (an over-refund).  That money is with the payer: the open refunds it
 * covers are completed (oldest first; one covered in part is completed and
 * only its remainder asked for again, as <action>:rest), and what is left
 * (w->returned) covers pending payments in review_work.  Sets w->held,
 * w->open_sum and w->returned.
 */
static void
review_settle(ReviewWork *w)
{
	int64		held;
	int64		returned;

	held = review_sub(review_sub(w->paid, w->refunded, w->order_id),
					  w->open_sum, w->order_id);
	w->returned = 0;
	w->held = held;
	if (held >= 0)
		return;

	returned = -held;
	for (int i = 0; i < w->nopen && returned > 0; i++)
	{
		ReviewOpenRefund *r = &w->open[i];
		int64		covered = Min(returned, r->amount);

		if (covered == r->amount)
			PayconsCompleteCompensation(r->id,
										psprintf("returned by the channel already: refunded_amount " INT64_FORMAT " of paid_amount " INT64_FORMAT " %s when review %s settled it",
												 w->refunded, w->paid, w->currency,
												 w->decision_name));
		else
		{
			char	   *rest = review_action(r->action, ":rest");

			PayconsCompleteCompensation(r->id,
										psprintf(INT64_FORMAT " of " INT64_FORMAT " returned by the channel already (refunded_amount " INT64_FORMAT " of paid_amount " INT64_FORMAT " %s when review %s settled it); the rest is %s",
												 covered, r->amount, w->refunded,
												 w->paid, w->currency,
												 w->decision_name, rest));
			(void) PayconsEnqueueCompensation(w->order_id, rest, InvalidOid,
											  review_refund_args(w, r->channel,
																 r->txn_id,
																 r->amount - covered,
																 w->currency),
											  GetUserId());
		}
		returned -= covered;
		w->open_sum -= covered;
		w->held += covered;
	}
	w->returned = returned;
}

/*
 * Decide which pending payments are taken (accept) for the decision, and
 * check that the decision is possible; returns the order's new state.
 */
static OrderState
review_decide(ReviewWork *w)
{
	int64		held = w->held; /* money of the order kept */
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
							 review_holds(w, held));
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
							 review_holds(w, held));
			return OS_PAID;

		case RD_REFUND:
			if (w->npay == 0 && held <= 0)
			{
				if (w->refunded > w->paid)
					review_error(w, "it holds no money to refund",
								 psprintf("The channel has already refunded " INT64_FORMAT " %s of the " INT64_FORMAT " %s it was paid: nothing is left to give back. Decision close ends the review and records the loss.",
										  w->refunded, w->currency, w->paid, w->currency));
				review_error(w, "it holds no money to refund",
							 "Close it instead: decision close.");
			}
			return OS_REFUNDING;	/* or further: see review_end_state */

		case RD_CLOSE:
			if (w->npay > 0)
				review_error(w, psprintf("%d payment(s) wait for a decision", w->npay),
							 "Accept or refund them first.");
			if (held > 0)
				review_error(w, "it still holds money",
							 psprintf("paid_amount " INT64_FORMAT ", refunded_amount " INT64_FORMAT ", refunds open " INT64_FORMAT ".",
									  w->paid, w->refunded, w->open_sum));
			return OS_CLOSED;	/* or further: see review_end_state */
	}
	return OS_CLOSED;			/* keep compiler quiet */
}

/*
 * Where refund and close leave the order, which keeps nothing afterwards:
 * refunding while a refund of its currency is open (its refund callbacks
 * take it on to refunded), else refunded if it took money of its currency
 * (all of it is back with the payer), else closed (it never had any; money
 * in another currency is given back by its refund alone).
 */
static OrderState
review_end_state(int64 paid, bool refund_open)
{
	if (refund_open)
		return OS_REFUNDING;
	return paid > 0 ? OS_REFUNDED : OS_CLOSED;
}

/* Write the order's new state and amounts; the result row in SPI_tuptable */
static void
review_write_order(const ReviewWork *w, OrderState to, int64 paid,
				   const char *channel, const char *txn)
{
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', 'n', 'n'};

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
}

static void
review_work(void *arg, MemoryContext caller)
{
	ReviewWork *w = (ReviewWork *) arg;
	OrderState	to;
	int64		paid;
	int64		owed;
	int64		returned;
	bool		refund_open;
	const char *channel = NULL;
	const char *txn = NULL;

	review_load(w);
	review_settle(w);
	to = review_decide(w);

	/* the payments: taken ones add to paid_amount, the others are refunded */
	paid = w->paid;
	owed = review_sub(w->amount, w->held, w->order_id);
	/* (accepting takes the payments: they make up for it themselves) */
	returned = w->decision == RD_REFUND ? w->returned : 0;
	refund_open = w->open_sum > 0;
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
		{
			/* what the channel returned already is not asked for again */
			int64		covered = same ? Min(returned, p->amount) : 0;

			if (covered > 0)
				review_returned(w, p, covered);
			returned -= covered;
			if (p->amount > covered)
			{
				review_refund(w, p->channel, p->txn_id, "",
							  p->amount - covered, p->currency);
				refund_open |= same;
			}
		}

		mark[0] = CStringGetTextDatum(p->channel);
		mark[1] = CStringGetTextDatum(p->txn_id);
		mark[2] = CStringGetTextDatum(p->accept ? "accepted" : "refunded");
		PayconsExecPlan(&review_mark, mark, NULL, 0);
	}
	/* refund gives back what the order keeps besides */
	if (w->decision == RD_REFUND && w->held > 0)
	{
		review_refund(w, w->channel, w->txn_id, ":review", w->held, w->currency);
		refund_open = true;
	}

	if (to != OS_PAID)
		to = review_end_state(paid, refund_open);
	/* refunded is reached through refunding: two edges, two history rows */
	if (to == OS_REFUNDED)
		review_write_order(w, OS_REFUNDING, paid, channel, txn);
	review_write_order(w, to, paid, channel, txn);
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
