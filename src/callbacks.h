/*-------------------------------------------------------------------------
 *
 * callbacks.h
 *	  Applying a payment channel's notice exactly once (callbacks.c).
 *
 * IDENTIFICATION
 *	  src/callbacks.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_CALLBACKS_H
#define PAYCONS_CALLBACKS_H

#include "datatype/timestamp.h"

#include "callback_decide.h"

/* The answer to one delivery */
typedef struct CallbackResult
{
	const char *outcome;
	bool		has_state;
	OrderState	state;
	bool		duplicate;
	bool		has_first_seen;
	TimestampTz first_seen;
	char	   *ack;			/* NULL: answer with an HTTP error */
} CallbackResult;

/*
 * Apply the checked facts of one delivery exactly once, as the owner, and
 * fill *r (strings allocated in the caller's memory context).  With
 * verify_signature, the channel's HMAC signature settings are applied to
 * f->signature / f->signed_body; without, the caller has verified the
 * notice itself (a channel protocol, or a statement line).  fname names the
 * SQL function in the errors.
 */
extern void PayconsApplyCallback(const CallbackFacts *f, bool verify_signature,
								 CallbackResult *r, const char *fname);

/*
 * Apply facts that the caller has verified (a channel protocol checked the
 * notification's signature and read the facts from its body): the same
 * path as apply_callback -- the channel must be registered, the same
 * inbox, decision, races and answer -- but without apply_callback's own
 * HMAC check of a signature argument.  The caller has checked every value
 * as apply_callback checks its arguments (ids, kind, status, amount > 0,
 * currency, payload size, source).  Raises PC104 outside READ COMMITTED.
 * Strings in *r are allocated in the current memory context.
 */
extern void PayconsApplyVerifiedFacts(const char *channel, const char *txn_id,
									  const char *order_id, const char *kind,
									  const char *status, int64 amount,
									  const char *currency, Jsonb *payload,
									  const char *source, CallbackResult *r);

#endif							/* PAYCONS_CALLBACKS_H */
