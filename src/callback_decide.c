/*-------------------------------------------------------------------------
 *
 * callback_decide.c
 *	  The decision table of apply_callback: given the facts of a first
 *	  delivery and the order as read, what outcome, which state changes,
 *	  which amounts, and whether a refund must be enqueued.
 *
 * Pure: no table is read or written here, so the table can be read (and
 * tested) on its own; callbacks.c applies what it decides.
 *
 * IDENTIFICATION
 *	  src/callback_decide.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"

#include "callback_decide.h"

/* Add a state change to a decision */
static void
decide_step(CallbackDecision *d, OrderState to)
{
	Assert(d->nsteps < lengthof(d->steps));
	d->steps[d->nsteps++] = to;
	d->final_state = to;
	d->write_order = true;
}

/* a + b, or an error (only possible with absurd amounts) */
static int64
decide_add(int64 a, int64 b, const char *order_id)
{
	int64		r;

	if (pg_add_s64_overflow(a, b, &r))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("amount received for order \"%s\" is out of range",
						order_id)));
	return r;
}

/*
 * A successful payment: paid, late, a duplicate, or money that does not
 * match the order and waits for a review.
 */
static void
decide_payment(const CallbackFacts *f, const CallbackOrder *o,
			   CallbackDecision *d, bool same_currency)
{
	switch (o->state)
	{
		case OS_CREATED:
		case OS_PAYING:
		case OS_PAYMENT_FAILED:
			if (f->amount != o->amount || !same_currency)
			{
				/*
				 * Money that does not match the order (DESIGN D4): the
				 * order waits for a person in needs_review, never paid
				 * and never closed by the sweep; the money waits in
				 * the inbox row, marked for review, until
				 * paycons.resolve_review() accepts or refunds it.
				 */
				decide_step(d, OS_NEEDS_REVIEW);
				d->review = true;
				d->outcome = "amount_mismatch";
				break;
			}
			/* created and payment_failed reach paid through paying */
			if (o->state != OS_PAYING)
				decide_step(d, OS_PAYING);
			decide_step(d, OS_PAID);
			d->paid_amount = decide_add(o->paid_amount, f->amount,
										   f->order_id);
			d->set_payment = true;
			d->outcome = "applied";
			break;

		case OS_CLOSED:
		case OS_CANCELLED:
			/* money after the order was given up: give it back */
			d->refund_reason = "late_payment";
			d->outcome = "late_payment";
			if (!same_currency)
			{
				/*
				 * Money in another currency is not the order's money:
				 * it never counts in paid_amount, so it cannot take the
				 * order to refunding (whose end, refunded, is reached
				 * when refunded_amount catches up with paid_amount).
				 * Its refund compensation alone gives it back, as for
				 * foreign money refunded after a review; the order
				 * stays closed or cancelled.
				 */
				break;
			}
			decide_step(d, OS_REFUNDING);
			d->paid_amount = decide_add(o->paid_amount, f->amount,
										   f->order_id);
			d->set_payment = !o->has_txn_id;
			break;

		case OS_NEEDS_REVIEW:
			/*
			 * More money for an order a person must look at (a top-up
			 * of a short payment, a second attempt): it joins the
			 * review, whatever its amount.
			 */
			d->review = true;
			d->write_order = true;	/* serialises with resolve_review() */
			d->outcome = "held_for_review";
			break;

		default:
			/* the order was paid already, by another transaction */
			if (same_currency)
			{
				d->paid_amount = decide_add(o->paid_amount, f->amount,
											   f->order_id);
				d->write_order = true;
			}
			d->refund_reason = "duplicate_payment";
			d->outcome = "duplicate_payment";
			break;
	}
}

/* Decide what a first delivery does to an existing order. */
static void
decide_for_order(const CallbackFacts *f, const CallbackOrder *o,
				 CallbackDecision *d)
{
	bool		same_currency = strcmp(f->currency, o->currency) == 0;

	memset(d, 0, sizeof(*d));
	d->has_state = true;
	d->final_state = o->state;
	d->paid_amount = o->paid_amount;
	d->refunded_amount = o->refunded_amount;

	if (!f->refund && f->success)
		decide_payment(f, o, d, same_currency);
	else if (!f->refund)
	{
		/* a failure notice never downgrades */
		if (o->state == OS_PAYING)
		{
			decide_step(d, OS_PAYMENT_FAILED);
			d->outcome = "applied";
		}
		else
			d->outcome = "ignored";
	}
	else if (f->success)
	{
		int64		refunded;

		if (!same_currency && o->foreign_refund_open)
		{
			/*
			 * The refund of money paid in another currency (a mismatched
			 * payment refunded after review): it completes that refund and
			 * leaves the order's amounts, which are in its own currency.
			 */
			d->outcome = "applied";

			/*
			 * An order that holds nothing of its currency any more and
			 * still waits in refunding for this refund ends refunded.
			 * Only the library before issue 12 left orders so: it moved a
			 * closed or cancelled order to refunding for a late payment in
			 * another currency.
			 */
			if (o->state == OS_REFUNDING &&
				o->paid_amount <= o->refunded_amount)
				decide_step(d, OS_REFUNDED);
			return;
		}
		if (!same_currency)
		{
			d->outcome = "amount_mismatch";
			if (OrderStateCanTransition(o->state, OS_NEEDS_REVIEW))
				decide_step(d, OS_NEEDS_REVIEW);
			return;
		}
		refunded = decide_add(o->refunded_amount, f->amount, f->order_id);
		d->refunded_amount = refunded;
		d->write_order = true;
		if (refunded > o->paid_amount)
		{
			d->outcome = "over_refund";
			if (OrderStateCanTransition(o->state, OS_NEEDS_REVIEW))
				decide_step(d, OS_NEEDS_REVIEW);
		}
		else
		{
			d->outcome = "applied";
			if (refunded == o->paid_amount)
			{
				if (o->state != OS_REFUNDING &&
					OrderStateCanTransition(o->state, OS_REFUNDING))
					decide_step(d, OS_REFUNDING);
				if (d->final_state == OS_REFUNDING)
					decide_step(d, OS_REFUNDED);
			}
		}
	}
	else
		d->outcome = "refund_failed";
}

/*
 * Decide what the first delivery of a notice does: to the order o as it was
 * read (found), or, if there is no such order, record it as unknown.  Pure:
 * reads the facts and the order, fills the decision.
 */
void
PayconsCallbackDecide(const CallbackFacts *f, bool found,
					  const CallbackOrder *o, CallbackDecision *d)
{
	if (found)
		decide_for_order(f, o, d);
	else
	{
		/* kept so that statement reconciliation can match it later */
		memset(d, 0, sizeof(*d));
		d->outcome = "unknown_order";
		d->has_state = false;
	}
}
