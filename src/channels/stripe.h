/*-------------------------------------------------------------------------
 *
 * stripe.h
 *	  Stripe webhook events: the facts of a verified event body.
 *
 * The signature (header Stripe-Signature, "t=...,v1=...", HMAC-SHA256 of
 * "<t>.<body>" with the endpoint's signing secret) is parsed by sighdr.h
 * and checked in notification.c.  Backend-free (chan_common.h).
 *
 * IDENTIFICATION
 *	  src/channels/stripe.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_STRIPE_H
#define PAYCONS_STRIPE_H

#include "chan_common.h"
#include "json.h"

/* The metadata key that carries the merchant's order id */
#define PAYCONS_STRIPE_ORDER_KEY "order_id"

/*
 * The facts of a verified event body:
 *	- payment_intent.succeeded: payment data.object.id succeeded, amount
 *	  amount_received;
 *	- payment_intent.payment_failed: payment data.object.id failed, amount
 *	  amount;
 *	- charge.refunded: the cumulative refund amount_refunded of charge
 *	  data.object.id;
 *	- every other event type: ignored.
 * Amounts are integer minor units, currency lower case, the order id in
 * data.object.metadata.order_id; merchant is the event's "account"
 * (connected accounts) if present.
 */
extern PayconsChanStatus PayconsStripeFacts(const char *body, size_t len,
											PayconsArena *a,
											PayconsNoticeFacts *f,
											PayconsChanError *err);

#endif							/* PAYCONS_STRIPE_H */
