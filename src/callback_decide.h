/*-------------------------------------------------------------------------
 *
 * callback_decide.h
 *	  The facts of a payment channel's notice, the order it is about, and
 *	  the pure decision table that says what the first delivery does.
 *
 * IDENTIFICATION
 *	  src/callback_decide.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_CALLBACK_DECIDE_H
#define PAYCONS_CALLBACK_DECIDE_H

#include "utils/jsonb.h"

#include "order_state.h"

/* The facts of one delivery, checked */
typedef struct CallbackFacts
{
	char	   *channel;
	char	   *txn_id;
	char	   *order_id;
	const char *kind;			/* "payment" or "refund" */
	const char *status;			/* "success" or "failed" */
	bool		refund;
	bool		success;
	int64		amount;
	char	   *currency;
	Jsonb	   *payload;		/* may be NULL */
	text	   *signature;		/* may be NULL */
	text	   *signed_body;	/* may be NULL */
	const char *source;			/* "callback", "query" or "statement" */
} CallbackFacts;

/* The order as the deciding delivery found it */
typedef struct CallbackOrder
{
	OrderState	state;
	int64		amount;
	char	   *currency;
	int64		paid_amount;
	int64		refunded_amount;
	bool		has_txn_id;
	/* a refund in another currency: is a refund of that money open? */
	bool		foreign_refund_open;
} CallbackOrder;

/* What the deciding delivery does */
typedef struct CallbackDecision
{
	const char *outcome;
	int			nsteps;			/* state changes, in order */
	OrderState	steps[2];
	bool		has_state;		/* false only for unknown_order */
	OrderState	final_state;
	int64		paid_amount;
	int64		refunded_amount;
	bool		set_payment;	/* record channel and channel_txn_id */
	bool		write_order;	/* the order row changes */
	const char *refund_reason;	/* non-NULL: enqueue a refund compensation */
	bool		review;			/* the money waits for resolve_review() */
} CallbackDecision;

extern void PayconsCallbackDecide(const CallbackFacts *f, bool found,
								  const CallbackOrder *o, CallbackDecision *d);

#endif							/* PAYCONS_CALLBACK_DECIDE_H */
