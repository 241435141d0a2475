/*-------------------------------------------------------------------------
 *
 * form.h
 *	  Strict application/x-www-form-urlencoded bodies (Alipay's
 *	  notifications, and the generic "form" body format).
 *
 * "k=v&k2=v2": pairs separated by "&" (empty pairs skipped), the name
 * ending at the first "=", "+" meaning a blank and "%XX" a byte.  Refused:
 * a malformed "%" escape, a name that is empty or given twice (a signature
 * over one value and facts from the other must be impossible), and decoded
 * text that is not UTF-8 or contains NUL.  Backend-free (chan_common.h).
 *
 * IDENTIFICATION
 *	  src/channels/form.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_FORM_H
#define PAYCONS_FORM_H

#include "chan_common.h"

typedef struct PayconsFormParam
{
	const char *key;			/* decoded */
	size_t		keylen;
	const char *value;			/* decoded */
	size_t		valuelen;
} PayconsFormParam;

typedef struct PayconsForm
{
	int			n;
	PayconsFormParam *params;	/* sorted by name (bytewise) */
} PayconsForm;

extern PayconsChanStatus PayconsFormParse(const char *body, size_t len,
										  PayconsArena *a, PayconsForm *out,
										  PayconsChanError *err);

/* A parameter by name, or NULL */
extern const PayconsFormParam *PayconsFormGet(const PayconsForm *form,
											  const char *key);

#endif							/* PAYCONS_FORM_H */
