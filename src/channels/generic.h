/*-------------------------------------------------------------------------
 *
 * generic.h
 *	  The generic "hmac" protocol's body: the facts of a notification read
 *	  from named fields of a JSON object or a form, as a channel declares
 *	  them (paycons.channels.body_format and body_fields).
 *
 * Used by apply_notification for channels of protocol "hmac" (the facts
 * come from these fields), and by apply_callback for channels that declare
 * a body format (the facts passed as arguments must equal them).
 * Backend-free (chan_common.h).
 *
 * IDENTIFICATION
 *	  src/channels/generic.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_GENERIC_H
#define PAYCONS_GENERIC_H

#include "chan_common.h"

typedef enum PayconsGenericFact
{
	PGF_TXN_ID = 0,
	PGF_ORDER_ID,
	PGF_KIND,
	PGF_STATUS,
	PGF_AMOUNT,
	PGF_CURRENCY,
	PGF_NFACTS
} PayconsGenericFact;

/* Names of the facts, as keys of body_fields: channel_txn_id, order_id, ... */
extern const char *const PayconsGenericFactNames[PGF_NFACTS];

typedef enum PayconsBodyFormat
{
	PBF_JSON,
	PBF_FORM
} PayconsBodyFormat;

/* Which body field holds each fact (NULL: not declared) */
typedef struct PayconsGenericFields
{
	const char *field[PGF_NFACTS];
} PayconsGenericFields;

/* What the body says for each declared fact (NULL where not declared) */
typedef struct PayconsGenericValues
{
	const char *value[PGF_NFACTS];
	size_t		len[PGF_NFACTS];
} PayconsGenericValues;

/*
 * Read the declared fields of a body: a JSON object's top-level members
 * (strings; the amount a number or a string) or a form's parameters.
 * PCH_MALFORMED if the body does not parse; PCH_MISSING_FIELD if a
 * declared field is absent or of another type.
 */
extern PayconsChanStatus PayconsGenericRead(PayconsBodyFormat format,
											const PayconsGenericFields *fields,
											const char *body, size_t len,
											PayconsArena *a,
											PayconsGenericValues *vals,
											PayconsChanError *err);

/*
 * The facts of a verified body for apply_notification: every fact must be
 * declared; kind must read "payment" or "refund" and status "success" or
 * "failed" (PCH_BAD_VALUE otherwise); the amount is integer minor units.
 */
extern PayconsChanStatus PayconsGenericFacts(const PayconsGenericValues *vals,
											 PayconsArena *a,
											 PayconsNoticeFacts *f,
											 PayconsChanError *err);

#endif							/* PAYCONS_GENERIC_H */
