/*-------------------------------------------------------------------------
 *
 * paycons.c
 *	  Module entry point: the module magic block, _PG_init, and the GUCs
 *	  that are not owned by one concern.
 *
 * IDENTIFICATION
 *	  src/paycons.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "paycons.h"

PG_MODULE_MAGIC;

/* paycons.reason: the reason recorded with hand-made state changes */
char	   *paycons_reason_guc = NULL;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomStringVariable("paycons.reason",
							   "Reason recorded in paycons.order_history for state changes made outside the API.",
							   "Set it with SET LOCAL before a manual UPDATE of an order's state.",
							   &paycons_reason_guc,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	/* --- outbox GUCs and init --- */

	/* --- end outbox --- */

	/* --- worker, maintenance and shared memory GUCs and init --- */

	/* --- end worker --- */

	MarkGUCPrefixReserved("paycons");
}
