/*-------------------------------------------------------------------------
 *
 * adyen.h
 *	  Adyen standard webhooks: one NotificationRequestItem, signed with
 *	  HMAC-SHA256 (hex key) in additionalData.hmacSignature.
 *
 * Backend-free (chan_common.h): the parse gives the signed payload and the
 * signature; notification.c checks the HMAC; PayconsAdyenFacts reads the
 * facts.
 *
 * IDENTIFICATION
 *	  src/channels/adyen.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_ADYEN_H
#define PAYCONS_ADYEN_H

#include "chan_common.h"
#include "json.h"

typedef struct PayconsAdyenItem
{
	const PayconsJson *item;	/* the NotificationRequestItem */
	/*
	 * "pspReference:originalReference:merchantAccountCode:
	 * merchantReference:value:currency:eventCode:success"
	 */
	char	   *payload;
	size_t		payload_len;
	uint8_t		signature[32];	/* additionalData.hmacSignature, decoded */
	bool		has_signature;
} PayconsAdyenItem;

/*
 * Parse a body {"live": ..., "notificationItems": [{"NotificationRequestItem":
 * {...}}]} with exactly one item (PCH_MALFORMED otherwise).  A missing or
 * undecodable hmacSignature leaves has_signature false (bad_signature).
 */
extern PayconsChanStatus PayconsAdyenParse(const char *body, size_t len,
										   PayconsArena *a,
										   PayconsAdyenItem *item,
										   PayconsChanError *err);

/*
 * The facts of a verified item:
 *	- eventCode AUTHORISATION: payment pspReference, success as "success";
 *	- REFUND: refund pspReference (the refund's), success as "success";
 *	- REFUND_FAILED: refund pspReference failed;
 *	- every other eventCode: ignored.
 * Order id merchantReference, amount.value minor units of amount.currency,
 * merchant merchantAccountCode.
 */
extern PayconsChanStatus PayconsAdyenFacts(const PayconsAdyenItem *item,
										   PayconsArena *a,
										   PayconsNoticeFacts *f,
										   PayconsChanError *err);

#endif							/* PAYCONS_ADYEN_H */
