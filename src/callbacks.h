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
 * notice itself (a channel protocol, or a statement line).
 */
extern void PayconsApplyCallback(const CallbackFacts *f, bool verify_signature,
								 CallbackResult *r);

#endif							/* PAYCONS_CALLBACKS_H */
