/*-------------------------------------------------------------------------
 *
 * binding.h
 *	  Signatures bind the facts: the body format a channel declares
 *	  (paycons.channels.body_format and body_fields), read from its jsonb
 *	  setting, and apply_callback's check that the facts it was given are
 *	  the ones its signed body states.
 *
 * IDENTIFICATION
 *	  src/channels/binding.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_BINDING_H
#define PAYCONS_BINDING_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "generic.h"

/*
 * The field names of a body_fields setting (a JSON object from fact name
 * to field name, validated by set_channel).  Names are palloc'd.
 */
extern void PayconsBodyFieldsFromJsonb(Jsonb *fields, PayconsGenericFields *out);

/* "json" or "form" as a PayconsBodyFormat; elog for anything else */
extern PayconsBodyFormat PayconsBodyFormatFromName(const char *name);

/*
 * For apply_callback on a channel with a declared body format: NULL if
 * every declared fact in the signed body equals the argument, else the
 * reason to refuse the delivery as bad_signature ("signed body disagrees
 * with order_id", "signed body is not valid json", ...).  Raises nothing.
 */
extern const char *PayconsSignedBodyDisagrees(const char *format, Jsonb *fields,
											  const char *body, size_t len,
											  const char *txn_id,
											  const char *order_id,
											  const char *kind,
											  const char *status,
											  int64 amount,
											  const char *currency);

#endif							/* PAYCONS_BINDING_H */
