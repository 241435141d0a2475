/*-------------------------------------------------------------------------
 *
 * callbacks.h
 *	  The apply path of paycons.apply_callback() (callbacks.c), as other
 *	  modules call it: apply_notification (src/channels/notification.c)
 *	  gives it facts it has verified itself.
 *
 * IDENTIFICATION
 *	  src/callbacks.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_CALLBACKS_H
#define PAYCONS_CALLBACKS_H

#include "paycons.h"

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
