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
#include "access/tableam.h"
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
#include "datatype/timestamp.h"
#include "utils/jsonb.h"

#define ERRCODE_PAYCONS_OUTBOX_BAD_BATCH	MAKE_SQLSTATE('P','C','2','0','1')
#define ERRCODE_PAYCONS_OUTBOX_BAD_INTERVAL MAKE_SQLSTATE('P','C','2','0','2')
#define ERRCODE_PAYCONS_OUTBOX_UNKNOWN_EVENT MAKE_SQLSTATE('P','C','2','0','3')
#define ERRCODE_PAYCONS_OUTBOX_NOT_OWNER	MAKE_SQLSTATE('P','C','2','0','4')
#define ERRCODE_PAYCONS_OUTBOX_WRONG_STATUS MAKE_SQLSTATE('P','C','2','0','5')
#define ERRCODE_PAYCONS_OUTBOX_NO_CONSUMER	MAKE_SQLSTATE('P','C','2','0','6')
#define ERRCODE_PAYCONS_OUTBOX_TRIGGER_MISUSE MAKE_SQLSTATE('P','C','2','0','7')
#define ERRCODE_PAYCONS_OUTBOX_TRIGGER_COLUMN MAKE_SQLSTATE('P','C','2','0','8')

/* Limits (documented in doc/outbox.md) */
#define OUTBOX_MAX_TYPE			64	/* aggregate_type, bytes */
#define OUTBOX_MAX_AGGREGATE_ID	128 /* aggregate_id, bytes */
#define OUTBOX_MAX_EVENT_TYPE	128 /* event_type, bytes */
#define OUTBOX_MAX_CONSUMER		64	/* consumer name, bytes */
#define OUTBOX_MAX_PAYLOAD		(1024 * 1024)	/* payload + headers, bytes */
#define OUTBOX_MAX_BATCH		10000	/* claim batch, ack/redrive array */
#define OUTBOX_NUM_SLOTS		3	/* rotating partitions outbox_0..2 */

/* outbox_write.c: write one event (the trigger and emit() share it) */
extern int64 OutboxWrite(const char *aggregate_type, const char *aggregate_id,
						 const char *event_type, Jsonb *payload,
						 Jsonb *headers, TimestampTz available_at);
extern void OutboxCheckSize(Jsonb *payload);
extern void OutboxRowEvent(Relation rel, int nargs, char **args, const char *op,
						   HeapTuple oldtup, HeapTuple newtup);

/* paycons.c: outbox GUCs */
extern bool paycons_outbox_cdc;
extern bool paycons_outbox_notify;
extern int	paycons_outbox_rotate_interval;

/* --- end outbox --- */

/* --- compensations, stock, maintenance, worker (PC3xx) --- */
#define ERRCODE_PAYCONS_INVALID_HANDLER		MAKE_SQLSTATE('P','C','3','0','1')
#define ERRCODE_PAYCONS_UNKNOWN_HANDLER		MAKE_SQLSTATE('P','C','3','0','2')
#define ERRCODE_PAYCONS_INVALID_QUANTITY	MAKE_SQLSTATE('P','C','3','0','3')
#define ERRCODE_PAYCONS_UNKNOWN_SKU			MAKE_SQLSTATE('P','C','3','0','4')
#define ERRCODE_PAYCONS_INSUFFICIENT_STOCK	MAKE_SQLSTATE('P','C','3','0','5')
#define ERRCODE_PAYCONS_RESERVATION_RELEASED MAKE_SQLSTATE('P','C','3','0','6')
#define ERRCODE_PAYCONS_RESERVATION_CONFLICT MAKE_SQLSTATE('P','C','3','0','7')
#define ERRCODE_PAYCONS_INVALID_RETRY_POLICY MAKE_SQLSTATE('P','C','3','0','8')
#define ERRCODE_PAYCONS_COMPENSATION_NOT_FOUND MAKE_SQLSTATE('P','C','3','0','9')
#define ERRCODE_PAYCONS_COMPENSATION_STATE	MAKE_SQLSTATE('P','C','3','1','0')
#define ERRCODE_PAYCONS_ORDER_NOT_RESERVABLE MAKE_SQLSTATE('P','C','3','1','1')

/* Limits of this section, in bytes or items (documented in doc/operations.md) */
#define PAYCONS_MAX_SKU			64
#define PAYCONS_MAX_ACTION		200
#define PAYCONS_MAX_ITEMS		1000

/*
 * Kinds of maintenance work, counted per pass (maintenance.c) and since
 * server start in shared memory (stats.c).  Never renumber: the order is
 * that of the columns of paycons.stats().
 */
typedef enum PayconsCounter
{
	PCS_PASSES = 0,
	PCS_PASSES_SKIPPED,
	PCS_COMP_DONE,
	PCS_COMP_RETRIED,
	PCS_COMP_DEAD,
	PCS_EXTERNAL_SENT,
	PCS_PAYMENT_QUERIES,
	PCS_ORDERS_CLOSED,
	PCS_STOCK_COMMITTED,
	PCS_REFUND_QUERIES,
	PCS_ITEM_ERRORS
} PayconsCounter;

#define PCS_NUM_COUNTERS	(PCS_ITEM_ERRORS + 1)

/* A retry policy, with intervals in seconds (compensations.c) */
typedef struct PayconsRetryPolicy
{
	double		initial;
	double		coefficient;
	double		max;
	int			max_attempts;
	double		jitter;
	int			n_non_retryable;
	char	  **non_retryable;	/* SQLSTATEs or classes */
} PayconsRetryPolicy;

/* subxact.c: run one item in an internal subtransaction */
typedef void (*PayconsItemFn) (void *arg);
extern bool PayconsTryItem(PayconsItemFn fn, void *arg, ErrorData **error);

/* compensations.c (callers connected to SPI, running as the owner) */
extern void PayconsGetRetryPolicy(const char *action, PayconsRetryPolicy *policy);
extern double PayconsRetryDelay(const PayconsRetryPolicy *policy, int attempt,
								double sample);
extern int64 PayconsEnqueueCompensation(const char *order_id, const char *action,
										Oid handler, Datum args, Oid run_as);
extern void PayconsRunCompensations(int limit, int64 *counts);

/* stock.c (callers connected to SPI, running as the owner) */
extern bool PayconsStockCommit(const char *order_id);
extern bool PayconsStockRelease(const char *order_id);

/* stats.c: shared memory (present only under shared_preload_libraries) */
extern void PayconsStatsShmemInit(void);
extern void PayconsStatsAdd(const int64 *counts);
extern void PayconsStatsWorkerStarted(void);
extern bool PayconsStatsTakeWake(void);

/* worker.c */
extern void PayconsWorkerRegister(void);
extern PGDLLEXPORT void paycons_worker_main(Datum main_arg);

/* paycons.c: GUCs of the worker and of run_maintenance() */
extern char *paycons_database;
extern int	paycons_naptime;
extern bool paycons_enabled;
extern int	paycons_stuck_grace;
extern int	paycons_refund_stuck_after;
extern int	paycons_batch_size;

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

/* stock.c: what a change of state means for an order's stock */
extern void PayconsStockOnStateChange(const char *order_id, OrderState newstate);

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
extern Oid	PayconsOwnerOid(void);

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

/* direct_write.c: write a row of one of our tables without SQL */
extern void PayconsColumnAttnums(Relation rel, const char *const *names,
								 int ncols, AttrNumber *attnums);
extern void PayconsDirectInsert(Relation rel, Datum *values, bool *isnull);
extern bool PayconsDirectInsertUnique(Relation rel, Datum *values, bool *isnull);
extern Oid	PayconsRelid(const char *name);

/* A table of ours whose OID and column numbers are cached */
#define PAYCONS_TABLE_MAX_COLS 16

typedef struct PayconsTable
{
	const char *relname;		/* in schema paycons */
	int			ncols;
	const char *const *colnames;
	/* filled by PayconsTableOpen */
	bool		registered;
	bool		valid;
	Oid			relid;
	AttrNumber	attnum[PAYCONS_TABLE_MAX_COLS];
} PayconsTable;

extern Relation PayconsTableOpen(PayconsTable *t, bool *fresh);
extern TM_Result PayconsDirectUpdate(Relation rel, ItemPointer tid,
									 Datum *values, bool *isnull, bool wait);
typedef struct PayconsDirectWriter PayconsDirectWriter;
extern PayconsDirectWriter *PayconsDirectWriterBegin(Relation rel);
extern TM_Result PayconsDirectWriterUpdate(PayconsDirectWriter *w,
										   ItemPointer tid, Datum *values,
										   bool *isnull, bool wait);
extern void PayconsDirectWriterEnd(PayconsDirectWriter *w);

/* order_guard.c: the guard's check and history, for order_write.c too */
extern void PayconsCheckTransition(Relation rel, const char *key,
								   OrderState from, OrderState to);
extern void PayconsWriteHistory(Relation rel, const char *key,
								const OrderState *from, OrderState to);

/*
 * order_write.c: a change of one paycons.orders row with the hub
 * triggers' work done in line.  channel and txn_id NULL: left as they are.
 */
typedef struct PayconsOrderChange
{
	OrderState	state;
	int64		paid_amount;
	int64		refunded_amount;
	const char *channel;
	const char *txn_id;
} PayconsOrderChange;

extern bool PayconsOrderDirectOk(void);
extern bool PayconsOrderWrite(const char *order_id, ItemPointer tid,
							  const PayconsOrderChange *c);

/* paycons.c: GUCs */
extern char *paycons_reason_guc;

#endif							/* PAYCONS_H */
