/*-------------------------------------------------------------------------
 *
 * validate.h
 *	  Checks of the arguments of the paycons SQL API; each raises a
 *	  specific ERROR naming the value, or returns.
 *
 * IDENTIFICATION
 *	  src/validate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_VALIDATE_H
#define PAYCONS_VALIDATE_H

#include "fmgr.h"

/* Limits on identifiers, in bytes (documented in doc/api.md) */
#define PAYCONS_MAX_ORDER_ID	64
#define PAYCONS_MAX_CHANNEL		64
#define PAYCONS_MAX_TXN_ID		128

extern void PayconsRequireArg(FunctionCallInfo fcinfo, int argno,
							  const char *argname);
extern char *PayconsCheckId(text *value, const char *what, int maxbytes);
extern void PayconsCheckAmount(int64 amount, const char *what);
extern char *PayconsCheckCurrency(text *value);

#endif							/* PAYCONS_VALIDATE_H */
