/*-------------------------------------------------------------------------
 *
 * paycons.h
 *	  Declarations shared by the paycons source files: the order state
 *	  machine, our SQLSTATEs, input validation, and the "run as the
 *	  extension owner" helpers used by the SQL API.
 *
 * Each .c file under src/ owns one concern; this header is the only place
 * where they meet.
 *
 * IDENTIFICATION
 *	  src/paycons.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_H
#define PAYCONS_H

#include "postgres.h"
#include "fmgr.h"
#include "executor/spi.h"
#include "utils/elog.h"

/*
 * SQLSTATEs of our own, class PC.  Every code is listed, with its meaning,
 * in doc/errors.md; keep the two in step.  Ranges: PC0xx orders and the state
 * machine, PC1xx callbacks, PC2xx outbox, PC3xx compensations, stock and
 * maintenance.
 */
#define ERRCODE_PAYCONS_ILLEGAL_TRANSITION	MAKE_SQLSTATE('P','C','0','0','1')
#define ERRCODE_PAYCONS_ORDER_NOT_FOUND		MAKE_SQLSTATE('P','C','0','0','2')
#define ERRCODE_PAYCONS_ORDER_CONFLICT		MAKE_SQLSTATE('P','C','0','0','3')
#define ERRCODE_PAYCONS_INVALID_AMOUNT		MAKE_SQLSTATE('P','C','0','0','4')
#define ERRCODE_PAYCONS_INVALID_CURRENCY	MAKE_SQLSTATE('P','C','0','0','5')
#define ERRCODE_PAYCONS_INVALID_IDENTIFIER	MAKE_SQLSTATE('P','C','0','0','6')
#define ERRCODE_PAYCONS_INVALID_INITIAL_STATE MAKE_SQLSTATE('P','C','0','0','7')

/* --- callbacks (PC1xx): callbacks.c and friends --- */
#define ERRCODE_PAYCONS_INVALID_CALLBACK_KIND	MAKE_SQLSTATE('P','C','1','0','1')
#define ERRCODE_PAYCONS_INVALID_CALLBACK_STATUS	MAKE_SQLSTATE('P','C','1','0','2')
#define ERRCODE_PAYCONS_INVALID_CALLBACK_SOURCE	MAKE_SQLSTATE('P','C','1','0','3')
#define ERRCODE_PAYCONS_CALLBACK_ISOLATION		MAKE_SQLSTATE('P','C','1','0','4')
#define ERRCODE_PAYCONS_INVALID_CHANNEL_SETTING	MAKE_SQLSTATE('P','C','1','0','5')
#define ERRCODE_PAYCONS_UNKNOWN_CHANNEL			MAKE_SQLSTATE('P','C','1','0','6')

#include "datatype/timestamp.h"

/* Length of an HMAC-SHA256 digest */
#define PAYCONS_HMAC_LEN		32

typedef enum PayconsSigFormat
{
	PAYCONS_SIG_HEX,			/* hex digest of the body */
	PAYCONS_SIG_BASE64,			/* base64 digest of the body */
	PAYCONS_SIG_HEADER			/* t=<unix>,v1=<hex> over "<t>.<body>" */
} PayconsSigFormat;

/* signature.c */
extern bool PayconsTimingSafeEqual(const uint8 *a, const uint8 *b, size_t len);
extern void PayconsHmacSha256(const uint8 *key, size_t keylen,
							  const uint8 *prefix, size_t prefixlen,
							  const uint8 *message, size_t messagelen,
							  uint8 *out);
extern bool PayconsSigFormatFromName(const char *name, PayconsSigFormat *format);
extern const char *PayconsVerifySignature(const uint8 *key, size_t keylen,
										  PayconsSigFormat format,
										  const char *sig, size_t siglen,
										  const char *body, size_t bodylen,
										  int64 tolerance_usecs,
										  TimestampTz now);

/* --- end callbacks --- */

/* --- outbox (PC2xx): outbox*.c --- */

/* --- end outbox --- */

/* --- compensations, stock, maintenance, worker (PC3xx) --- */

/* --- end compensations --- */

/* Limits on identifiers, in bytes (documented in doc/api.md) */
#define PAYCONS_MAX_ORDER_ID	64
#define PAYCONS_MAX_CHANNEL		64
#define PAYCONS_MAX_TXN_ID		128

/*
 * The order states.  The numeric values are the on-disk representation of
 * paycons.order_state (one byte) and define its sort order: never renumber,
 * only append.
 */
typedef enum OrderState
{
	OS_CREATED = 0,
	OS_PAYING,
	OS_PAYMENT_FAILED,
	OS_PAID,
	OS_FULFILLING,
	OS_SHIPPED,
	OS_COMPLETED,
	OS_CLOSED,
	OS_CANCELLED,
	OS_REFUNDING,
	OS_NEEDS_REVIEW,
	OS_REFUNDED
} OrderState;

#define OS_NUM_STATES	(OS_REFUNDED + 1)

#define DatumGetOrderState(d)	((OrderState) DatumGetChar(d))
#define OrderStateGetDatum(s)	CharGetDatum((char) (s))
#define PG_GETARG_ORDER_STATE(n) DatumGetOrderState(PG_GETARG_DATUM(n))
#define PG_RETURN_ORDER_STATE(s) return OrderStateGetDatum(s)

/* order_state.c */
extern const char *OrderStateName(OrderState s);
extern bool OrderStateFromName(const char *name, OrderState *result);
extern bool OrderStateCanTransition(OrderState from, OrderState to);
extern bool OrderStateIsTerminal(OrderState s);
extern char *OrderStateLegalTargets(OrderState from);
extern Oid	OrderStateTypeOid(void);

/* validate.c: each raises a specific ERROR naming the value, or returns */
extern void PayconsRequireArg(FunctionCallInfo fcinfo, int argno,
							  const char *argname);
extern char *PayconsCheckId(text *value, const char *what, int maxbytes);
extern void PayconsCheckAmount(int64 amount, const char *what);
extern char *PayconsCheckCurrency(text *value);

/* owner.c: run SPI work as the extension owner, remembering the caller */
typedef struct PayconsOwnerState
{
	Oid			save_userid;
	int			save_sec_context;
	Oid			prev_actor;
	const char *prev_reason;
} PayconsOwnerState;

extern void PayconsBecomeOwner(PayconsOwnerState *state, const char *reason);
extern void PayconsRestoreUser(PayconsOwnerState *state);
extern Oid	PayconsActor(void);
extern const char *PayconsReason(void);
extern Oid	PayconsSchemaOid(void);

/*
 * spi_plans.c: SPI plans prepared once per backend and kept.  A module
 * declares one static PayconsPlan per statement (SQL text with $n
 * parameters, their types as built-in OIDs) and runs it with PayconsExecPlan.
 * Only built-in parameter types are used (order_state travels as text and is
 * cast in the SQL), so a kept plan stays valid if the extension is dropped
 * and created again: the plan cache re-parses the text.
 */
#define PAYCONS_PLAN_MAX_ARGS 16

typedef struct PayconsPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[PAYCONS_PLAN_MAX_ARGS];
	SPIPlanPtr	plan;			/* NULL until first use */
} PayconsPlan;

extern int	PayconsExecPlan(PayconsPlan *p, Datum *values, const char *nulls,
							bool read_only, long tcount);
extern Datum PayconsReturnRow(FunctionCallInfo fcinfo, MemoryContext upper);

/* paycons.c: GUCs */
extern char *paycons_reason_guc;

#endif							/* PAYCONS_H */
