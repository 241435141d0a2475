/*-------------------------------------------------------------------------
 *
 * subxact.h
 *	  Running one item of work in an internal subtransaction.
 *
 * IDENTIFICATION
 *	  src/subxact.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_SUBXACT_H
#define PAYCONS_SUBXACT_H

#include "utils/elog.h"

typedef void (*PayconsItemFn) (void *arg);

extern bool PayconsTryItem(PayconsItemFn fn, void *arg, ErrorData **error);

#endif							/* PAYCONS_SUBXACT_H */
