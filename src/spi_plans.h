/*-------------------------------------------------------------------------
 *
 * spi_plans.h
 *	  SPI plans prepared once per backend and kept, and the one runner of
 *	  them.
 *
 * A module declares one static PayconsPlan per statement (SQL text with $n
 * parameters and their types as built-in OIDs) and runs it with
 * PayconsExecPlan.  Only built-in parameter types are used (order_state
 * travels as text and is cast in the SQL), so a kept plan stays valid if
 * the extension is dropped and created again: the plan cache re-parses the
 * text.
 *
 * IDENTIFICATION
 *	  src/spi_plans.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_SPI_PLANS_H
#define PAYCONS_SPI_PLANS_H

#include "executor/spi.h"
#include "fmgr.h"

#define PAYCONS_PLAN_MAX_ARGS 16

typedef struct PayconsPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[PAYCONS_PLAN_MAX_ARGS];
	int			cursor_options; /* e.g. CURSOR_OPT_GENERIC_PLAN; 0: default */
	SPIPlanPtr	plan;			/* NULL until first use */
} PayconsPlan;

extern SPIPlanPtr PayconsPlanGet(PayconsPlan *p);
extern int	PayconsExecPlan(PayconsPlan *p, Datum *values, const char *nulls,
							long tcount);
extern Datum PayconsReturnRow(FunctionCallInfo fcinfo, MemoryContext caller);
extern TupleDesc PayconsResultDesc(FunctionCallInfo fcinfo);

#endif							/* PAYCONS_SPI_PLANS_H */
