/*-------------------------------------------------------------------------
 *
 * callbacks.c
 *	  The exactly-once path of paycons.apply_callback() (whose arguments
 *	  apply_callback.c checks) and apply_notification: apply a payment
 *	  channel's payment or refund notice to its order exactly once, whatever
 *	  the channel does (replays, concurrent deliveries, out-of-order
 *	  notices, late money, forgeries).
 *
 * The inbox paycons.callbacks has primary key (channel, channel_txn_id).
 * The first delivery of a key decides the outcome and writes it there,
 * together with the order state it left; every later delivery with the
 * same facts is a replay and gets the stored answer back with duplicate =
 * true, writing nothing.  A later delivery with other facts is a conflict:
 * nothing is applied, and the attempt is kept in paycons.callback_conflicts.
 *
 * One call runs, as the extension owner:
 *
 *	1. one read (no lock) of the channel's settings, of the stored delivery
 *	   of this key, and -- only if there is none -- of the order.  A replay
 *	   ends here, after the signature check: no write, no lock.  Otherwise
 *	   the outcome is decided on the order as read.
 *	2. INSERT of the inbox row, with its outcome, ON CONFLICT DO NOTHING.
 *	   The primary key serialises the first deliveries of one key: a loser
 *	   waits for the winner, inserts nothing, and answers as a replay of
 *	   the winner's row (read with a new snapshot); it has written nothing.
 *	3. the first change of the order, provided it is still the version
 *	   step 1 read (same xmin; the UPDATE waits for a concurrent writer of
 *	   the order and re-checks its newest version) -- or, for a decision
 *	   that changes nothing, a check that it still is.  If the order
 *	   changed meanwhile (a close, another notice), it is locked FOR
 *	   UPDATE, the outcome decided again on its current version, and the
 *	   inbox row corrected: the inbox row is ours, so no other delivery of
 *	   this key can interfere.
 *	4. further state changes (created -> paying -> paid is two edges), and
 *	   for late or duplicate money a refund compensation.
 *
 * Every write is an ordinary INSERT or UPDATE (kept SPI plans), so every
 * state change goes through the order hub's triggers -- the edge is
 * checked, order_history written and order.<state> emitted into the
 * outbox -- and through whatever else the DBA has put on the tables.
 * What is decided, given the facts and the order as read, is in
 * callback_decide.c.  Nothing is written before step 2 has made this call
 * the first delivery, so a loser never needs to undo anything.
 * The reasoning depends on READ COMMITTED (each statement sees what
 * committed before it started; an UPDATE re-checks the newest version of a
 * row it had to wait for), so apply_callback refuses to run at a higher
 * isolation level, where the same races would surface as serialization
 * failures.
 *
 * apply_notification (src/channels/notification.c) enters the same path
 * through PayconsApplyVerifiedFacts (callbacks.h) with facts its channel
 * protocol verified and read from the signed body; for those the HMAC check
 * of a signature argument is skipped.  For apply_callback itself, a channel
 * that declares its body format (body_format, body_fields) has the facts
 * checked against the signed body after the signature (channels/binding.c).
 *
 * IDENTIFICATION
 *	  src/callbacks.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "as_owner.h"
#include "callbacks.h"
#include "channels/binding.h"
#include "errcodes.h"
#include "signature.h"
#include "spi_plans.h"
#include "validate.h"

static bool callbacks_text_eq(Datum d, const char *s);
static char *callbacks_text_col(HeapTuple tup, TupleDesc desc, int col,
								MemoryContext cxt);
static void callbacks_answer_stored(const CallbackFacts *f, HeapTuple tup,
									TupleDesc desc, int first,
									CallbackResult *r, MemoryContext caller);
static void callbacks_refuse_signature(const CallbackFacts *f, const char *why,
									   CallbackResult *r);
static const char *callbacks_check_signature(const CallbackFacts *f,
											 HeapTuple tup, TupleDesc desc);
static void callbacks_enqueue_refund_of(const CallbackFacts *f,
										const char *reason);
static bool callbacks_update_order_row(const CallbackFacts *f,
									   const CallbackDecision *d,
									   OrderState state,
									   TransactionId expect_xmin);
static bool callbacks_read_order(HeapTuple tup, TupleDesc desc, int first,
								 CallbackOrder *o, TransactionId *xmin);

/*
 * The plans.  All are prepared generic (CURSOR_OPT_GENERIC_PLAN): they are probes of primary keys whose best plan does not
 * depend on the values, and a custom plan per call would cost more than
 * running the statement.
 *
 * Step 1: the channel's settings, the stored delivery of this key if any,
 * and -- only when there is none -- the order, in one read without locks
 * (OFFSET 0 keeps the order probe a gated subquery: a replay skips it).
 * No row: the channel is not registered.
 */
static PayconsPlan callbacks_lookup = {
	"SELECT c.secret, c.require_signature, c.signature_format,"
	" pg_catalog.date_part('epoch', c.tolerance), c.ack, c.nack,"
	" i.order_id, i.kind, i.status, i.amount, i.currency,"
	" i.outcome, i.state, i.received_at,"
	" o.xmin, o.state, o.amount, o.currency, o.paid_amount,"
	" o.refunded_amount, o.has_txn_id,"
	" CASE WHEN c.require_signature THEN pg_catalog.to_jsonb(c)"
	" OPERATOR(pg_catalog.->>) 'body_format' END,"
	" CASE WHEN c.require_signature THEN pg_catalog.to_jsonb(c)"
	" OPERATOR(pg_catalog.->) 'body_fields' END"
	" FROM paycons.channels c"
	" LEFT JOIN paycons.callbacks i"
	" ON i.channel OPERATOR(pg_catalog.=) c.channel"
	" AND i.channel_txn_id OPERATOR(pg_catalog.=) $2"
	" LEFT JOIN LATERAL (SELECT o.xmin, o.state, o.amount, o.currency,"
	" o.paid_amount, o.refunded_amount,"
	" o.channel_txn_id IS NOT NULL AS has_txn_id"
	" FROM paycons.orders o"
	" WHERE o.order_id OPERATOR(pg_catalog.=) $3"
	" AND i.order_id IS NULL OFFSET 0) o ON true"
	" WHERE c.channel OPERATOR(pg_catalog.=) $1",
	3, {TEXTOID, TEXTOID, TEXTOID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

/* Column numbers of callbacks_lookup */
#define LK_SECRET		1
#define LK_REQUIRE		2
#define LK_FORMAT		3
#define LK_TOLERANCE	4
#define LK_ACK			5
#define LK_NACK			6
#define LK_STORED		7		/* first column of the stored delivery */
#define LK_ORDER		15		/* first column of the order (its xmin) */
/*
 * The facts the signed body must state (issue 10 item 5), read through
 * to_jsonb so that the library still works on a 0.1.0 schema, which has
 * no such columns, until ALTER EXTENSION UPDATE.
 */
#define LK_BODY_FORMAT	22
#define LK_BODY_FIELDS	23

/* The stored delivery alone, same columns as callbacks_lookup's 7..14 */
static PayconsPlan callbacks_select = {
	"SELECT order_id, kind, status, amount, currency, outcome, state, received_at"
	" FROM paycons.callbacks"
	" WHERE channel OPERATOR(pg_catalog.=) $1"
	" AND channel_txn_id OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

/* Offsets of the stored delivery's columns from its first column */
#define ST_ORDER_ID		0
#define ST_KIND			1
#define ST_STATUS		2
#define ST_AMOUNT		3
#define ST_CURRENCY		4
#define ST_OUTCOME		5
#define ST_STATE		6
#define ST_RECEIVED_AT	7

/*
 * The order again, locked: only when the optimistic update of step 3 found
 * it changed since step 1.  Same columns as callbacks_lookup's 15..21.
 */
static PayconsPlan callbacks_lock_order = {
	"SELECT xmin, state, amount, currency, paid_amount, refunded_amount,"
	" channel_txn_id IS NOT NULL"
	" FROM paycons.orders WHERE order_id OPERATOR(pg_catalog.=) $1"
	" FOR UPDATE",
	1, {TEXTOID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

/* Step 2: the inbox row; no row returned if the key is stored already */
static PayconsPlan callbacks_insert = {
	"INSERT INTO paycons.callbacks (channel, channel_txn_id, order_id, kind,"
	" status, amount, currency, payload, outcome, state, applied_at, source,"
	" review)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::paycons.order_state,"
	" CASE WHEN $11 THEN pg_catalog.now() END, $12,"
	" CASE WHEN $13 THEN 'pending' END)"
	" ON CONFLICT (channel, channel_txn_id) DO NOTHING"
	" RETURNING received_at",
	13, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID,
	JSONBOID, TEXTOID, TEXTOID, BOOLOID, TEXTOID, BOOLOID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

/*
 * Step 3 when the decision changes nothing: is the order still the version
 * step 1 read (or still absent)?
 */
static PayconsPlan callbacks_check_order = {
	"SELECT xmin FROM paycons.orders WHERE order_id OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

/*
 * A refund in another currency than the order's: is a refund of that much
 * of that currency open for the order (money of a mismatched payment,
 * refunded after review)?
 */
static PayconsPlan callbacks_foreign_refund = {
	"SELECT 1 FROM paycons.compensations c"
	" WHERE c.order_id OPERATOR(pg_catalog.=) $1 AND c.handler IS NULL"
	" AND c.action OPERATOR(pg_catalog.~~) 'refund:%'"
	" AND c.state OPERATOR(pg_catalog.=) ANY ('{pending,waiting_external,dead}'::pg_catalog.text[])"
	" AND c.args OPERATOR(pg_catalog.->>) 'currency' OPERATOR(pg_catalog.=) $2"
	" AND c.args OPERATOR(pg_catalog.->) 'amount' OPERATOR(pg_catalog.=) pg_catalog.to_jsonb($3)"
	" LIMIT 1",
	3, {TEXTOID, TEXTOID, INT8OID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

/* The decision of an inbox row taken on a stale order, corrected */
static PayconsPlan callbacks_redecide = {
	"UPDATE paycons.callbacks SET outcome = $3, state = $4::paycons.order_state,"
	" applied_at = CASE WHEN $5 THEN pg_catalog.now() END,"
	" review = CASE WHEN $6 THEN 'pending' END"
	" WHERE channel OPERATOR(pg_catalog.=) $1"
	" AND channel_txn_id OPERATOR(pg_catalog.=) $2",
	6, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID, BOOLOID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

/*
 * A change of the order.  With $7 (the xmin step 1 read) it is step 3's
 * optimistic update: it changes nothing if the order is no longer that
 * version (the UPDATE waits for a concurrent writer and re-checks the
 * newest version).  With $7 NULL the row is ours, locked.
 */
static PayconsPlan callbacks_update_order = {
	"UPDATE paycons.orders SET state = $2::paycons.order_state,"
	" paid_amount = $3, refunded_amount = $4,"
	" channel = COALESCE($5, channel),"
	" channel_txn_id = COALESCE($6, channel_txn_id),"
	" updated_at = pg_catalog.now()"
	" WHERE order_id OPERATOR(pg_catalog.=) $1"
	" AND ($7 IS NULL OR xmin OPERATOR(pg_catalog.=) $7)",
	7, {TEXTOID, TEXTOID, INT8OID, INT8OID, TEXTOID, TEXTOID, XIDOID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

static PayconsPlan callbacks_record_conflict = {
	"INSERT INTO paycons.callback_conflicts AS x (channel, channel_txn_id,"
	" order_id, kind, status, amount, currency, payload, source)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
	" ON CONFLICT ON CONSTRAINT callback_conflicts_facts DO UPDATE"
	" SET attempts = x.attempts OPERATOR(pg_catalog.+) 1,"
	" last_seen_at = pg_catalog.now(), payload = EXCLUDED.payload"
	" RETURNING first_seen_at, attempts",
	9, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID,
	JSONBOID, TEXTOID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

static PayconsPlan callbacks_enqueue_refund = {
	"SELECT paycons.enqueue_compensation($1,"
	" 'refund:' OPERATOR(pg_catalog.||) $2, NULL,"
	" pg_catalog.jsonb_build_object('channel', $3, 'channel_txn_id', $2,"
	" 'amount', $4, 'currency', $5, 'reason', $6))",
	6, {TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID, TEXTOID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

static PayconsPlan callbacks_count_bad_signature = {
	"UPDATE paycons.channels"
	" SET bad_signatures = bad_signatures OPERATOR(pg_catalog.+) 1,"
	" last_bad_signature_at = pg_catalog.now(),"
	" last_bad_signature_reason = $2"
	" WHERE channel OPERATOR(pg_catalog.=) $1",
	2, {TEXTOID, TEXTOID},
	CURSOR_OPT_GENERIC_PLAN, NULL
};

/* Does a text Datum equal a C string? */
static bool
callbacks_text_eq(Datum d, const char *s)
{
	text	   *t = DatumGetTextPP(d);
	size_t		len = VARSIZE_ANY_EXHDR(t);

	return len == strlen(s) && memcmp(VARDATA_ANY(t), s, len) == 0;
}

/* Column of an SPI result row (binary), by number */
static inline Datum
callbacks_col(HeapTuple tup, TupleDesc desc, int col, bool *isnull)
{
	return SPI_getbinval(tup, desc, col, isnull);
}

/* A text column as a C string in context cxt, or NULL */
static char *
callbacks_text_col(HeapTuple tup, TupleDesc desc, int col, MemoryContext cxt)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	text	   *t;
	char	   *s;
	size_t		len;

	if (isnull)
		return NULL;
	t = DatumGetTextPP(d);
	len = VARSIZE_ANY_EXHDR(t);
	s = MemoryContextAlloc(cxt, len + 1);
	memcpy(s, VARDATA_ANY(t), len);
	s[len] = '\0';
	return s;
}

/*
 * Answer a delivery whose key is stored already: the stored answer if the
 * facts are the same (a replay), else "conflict", recorded.  tup/desc hold
 * the stored columns from column "first" on (see ST_*).
 */
static void
callbacks_answer_stored(const CallbackFacts *f, HeapTuple tup, TupleDesc desc,
						int first, CallbackResult *r, MemoryContext caller)
{
	bool		isnull;
	bool		same;
	Datum		d;

	same = callbacks_text_eq(callbacks_col(tup, desc, first + ST_ORDER_ID, &isnull),
							 f->order_id) &&
		callbacks_text_eq(callbacks_col(tup, desc, first + ST_KIND, &isnull),
						  f->kind) &&
		callbacks_text_eq(callbacks_col(tup, desc, first + ST_STATUS, &isnull),
						  f->status) &&
		DatumGetInt64(callbacks_col(tup, desc, first + ST_AMOUNT, &isnull)) == f->amount &&
		callbacks_text_eq(callbacks_col(tup, desc, first + ST_CURRENCY, &isnull),
						  f->currency);

	if (same)
	{
		r->outcome = callbacks_text_col(tup, desc, first + ST_OUTCOME, caller);
		d = callbacks_col(tup, desc, first + ST_STATE, &isnull);
		r->has_state = !isnull;
		if (!isnull)
			r->state = DatumGetOrderState(d);
		r->duplicate = true;
		r->has_first_seen = true;
		r->first_seen = DatumGetTimestampTz(callbacks_col(tup, desc,
														  first + ST_RECEIVED_AT,
														  &isnull));
		return;
	}
	else
	{
		Datum		values[9];
		char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

		values[0] = CStringGetTextDatum(f->channel);
		values[1] = CStringGetTextDatum(f->txn_id);
		values[2] = CStringGetTextDatum(f->order_id);
		values[3] = CStringGetTextDatum(f->kind);
		values[4] = CStringGetTextDatum(f->status);
		values[5] = Int64GetDatum(f->amount);
		values[6] = CStringGetTextDatum(f->currency);
		if (f->payload != NULL)
			values[7] = JsonbPGetDatum(f->payload);
		else
			nulls[7] = 'n';
		values[8] = CStringGetTextDatum(f->source);
		PayconsExecPlan(&callbacks_record_conflict, values, nulls, 0);
		if (SPI_processed != 1)
			elog(ERROR, "could not record the conflicting callback");

		r->outcome = "conflict";
		r->has_state = false;
		r->duplicate =
			DatumGetInt32(callbacks_col(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 2, &isnull)) > 1;
		r->has_first_seen = true;
		r->first_seen =
			DatumGetTimestampTz(callbacks_col(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
	}
}

/* Refuse a delivery with a missing or bad signature, and count it. */
static void
callbacks_refuse_signature(const CallbackFacts *f, const char *why,
						   CallbackResult *r)
{
	Datum		values[2];

	values[0] = CStringGetTextDatum(f->channel);
	values[1] = CStringGetTextDatum(why);
	PayconsExecPlan(&callbacks_count_bad_signature, values, NULL, 0);

	r->outcome = "bad_signature";
	r->has_state = false;
	r->duplicate = false;
	r->has_first_seen = false;
}

/*
 * Verify the signature if the channel requires one; returns NULL if the
 * delivery may proceed, else the reason to refuse it.
 */
static const char *
callbacks_check_signature(const CallbackFacts *f, HeapTuple tup,
						  TupleDesc desc)
{
	bool		isnull;
	bytea	   *secret;
	char	   *format_name;
	PayconsSigFormat format;
	double		tolerance;
	const char *why;

	if (!DatumGetBool(callbacks_col(tup, desc, LK_REQUIRE, &isnull)))
		return NULL;

	secret = (bytea *) DatumGetPointer(callbacks_col(tup, desc, LK_SECRET,
													 &isnull));
	if (isnull)
		return "no secret configured";
	secret = pg_detoast_datum_packed((struct varlena *) secret);
	format_name = SPI_getvalue(tup, desc, LK_FORMAT);
	if (!PayconsSigFormatFromName(format_name, &format))
		elog(ERROR, "unknown signature format \"%s\" for channel \"%s\"",
			 format_name, f->channel);
	tolerance = DatumGetFloat8(callbacks_col(tup, desc, LK_TOLERANCE, &isnull));

	why = PayconsVerifySignature((const uint8 *) VARDATA_ANY(secret),
								 VARSIZE_ANY_EXHDR(secret),
								 format,
								 f->signature ? VARDATA_ANY(f->signature) : NULL,
								 f->signature ? VARSIZE_ANY_EXHDR(f->signature) : 0,
								 f->signed_body ? VARDATA_ANY(f->signed_body) : NULL,
								 f->signed_body ? VARSIZE_ANY_EXHDR(f->signed_body) : 0,
								 (int64) (tolerance * USECS_PER_SEC),
								 GetCurrentTimestamp());

	/*
	 * The signature covers the body: for a channel that declares its body
	 * format, the facts passed as arguments must be the body's.
	 */
	(void) callbacks_col(tup, desc, LK_BODY_FORMAT, &isnull);
	if (why == NULL && !isnull)
	{
		Datum		fields = callbacks_col(tup, desc, LK_BODY_FIELDS, &isnull);

		why = PayconsSignedBodyDisagrees(SPI_getvalue(tup, desc, LK_BODY_FORMAT),
										 isnull ? NULL : DatumGetJsonbP(fields),
										 VARDATA_ANY(f->signed_body),
										 VARSIZE_ANY_EXHDR(f->signed_body),
										 f->txn_id, f->order_id, f->kind,
										 f->status, f->amount, f->currency);
	}
	return why;
}

/* Enqueue the refund of this delivery's money as an external compensation. */
static void
callbacks_enqueue_refund_of(const CallbackFacts *f, const char *reason)
{
	Datum		values[6];

	values[0] = CStringGetTextDatum(f->order_id);
	values[1] = CStringGetTextDatum(f->txn_id);
	values[2] = CStringGetTextDatum(f->channel);
	values[3] = Int64GetDatum(f->amount);
	values[4] = CStringGetTextDatum(f->currency);
	values[5] = CStringGetTextDatum(reason);
	PayconsExecPlan(&callbacks_enqueue_refund, values, NULL, 0);
}

/*
 * Write the order's new state (or only its amounts) with an UPDATE through
 * the order hub's triggers.  With a valid expect_xmin, only if the order is
 * still that version: returns false if it is not.  Without, the row must
 * be there (it is locked by us).
 */
static bool
callbacks_update_order_row(const CallbackFacts *f, const CallbackDecision *d,
						   OrderState state, TransactionId expect_xmin)
{
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', 'n', 'n', 'n'};

	values[0] = CStringGetTextDatum(f->order_id);
	values[1] = CStringGetTextDatum(OrderStateName(state));
	values[2] = Int64GetDatum(d->paid_amount);
	values[3] = Int64GetDatum(d->refunded_amount);
	if (d->set_payment)
	{
		values[4] = CStringGetTextDatum(f->channel);
		values[5] = CStringGetTextDatum(f->txn_id);
		nulls[4] = nulls[5] = ' ';
	}
	if (TransactionIdIsValid(expect_xmin))
	{
		values[6] = TransactionIdGetDatum(expect_xmin);
		nulls[6] = ' ';
	}
	if (PayconsExecPlan(&callbacks_update_order, values, nulls, 0) != SPI_OK_UPDATE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the update of order \"%s\" was rewritten by a rule on paycons.orders",
						f->order_id),
				 errhint("paycons cannot keep its guarantees with an INSTEAD rule on paycons.orders; drop the rule.")));
	if (SPI_processed == 1)
		return true;
	if (!TransactionIdIsValid(expect_xmin))
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("the locked order \"%s\" could not be updated", f->order_id),
				 errdetail("An UPDATE of paycons.orders changed %llu rows; a trigger or rule on that table suppressed it.",
						   (unsigned long long) SPI_processed),
				 errhint("paycons cannot keep its guarantees when the change of an order is suppressed; remove that trigger or rule.")));
	return false;
}

/*
 * Read the order columns of an SPI row from column "first" on (xmin,
 * state, amount, currency, paid_amount, refunded_amount, has_txn_id);
 * false if they are NULL (no order).
 */
static bool
callbacks_read_order(HeapTuple tup, TupleDesc desc, int first,
					 CallbackOrder *o, TransactionId *xmin)
{
	bool		isnull;
	Datum		d = callbacks_col(tup, desc, first, &isnull);

	if (isnull)
		return false;
	*xmin = DatumGetTransactionId(d);
	o->state = DatumGetOrderState(callbacks_col(tup, desc, first + 1, &isnull));
	o->amount = DatumGetInt64(callbacks_col(tup, desc, first + 2, &isnull));
	o->currency = SPI_getvalue(tup, desc, first + 3);
	o->paid_amount = DatumGetInt64(callbacks_col(tup, desc, first + 4, &isnull));
	o->refunded_amount = DatumGetInt64(callbacks_col(tup, desc, first + 5, &isnull));
	o->has_txn_id = DatumGetBool(callbacks_col(tup, desc, first + 6, &isnull));
	o->foreign_refund_open = false;
	return true;
}

/*
 * For a successful refund in another currency than the order's, find out
 * whether it refunds money of that currency that paycons is giving back
 * (see callback_decide.c).  Only this rare case costs the lookup.
 */
static void
callbacks_check_foreign_refund(const CallbackFacts *f, CallbackOrder *o)
{
	Datum		values[3];

	if (!f->refund || !f->success || strcmp(f->currency, o->currency) == 0)
		return;
	values[0] = CStringGetTextDatum(f->order_id);
	values[1] = CStringGetTextDatum(f->currency);
	values[2] = Int64GetDatum(f->amount);
	PayconsExecPlan(&callbacks_foreign_refund, values, NULL, 1);
	o->foreign_refund_open = (SPI_processed == 1);
}

/*
 * Step 2: write the inbox row of this delivery with the decision d
 * ("applied": it changes the order or enqueues a refund), by INSERT ... ON
 * CONFLICT DO NOTHING through the inbox's triggers.  Returns false, having
 * written nothing, if the key is stored already; otherwise true, with
 * *received_at set.
 */
static bool
callbacks_insert_inbox(const CallbackFacts *f, const CallbackDecision *d,
					   bool applied, TimestampTz *received_at)
{
	Datum		args[13];
	char		nulls[13];
	bool		null;

	memset(nulls, ' ', sizeof(nulls));
	args[0] = CStringGetTextDatum(f->channel);
	args[1] = CStringGetTextDatum(f->txn_id);
	args[2] = CStringGetTextDatum(f->order_id);
	args[3] = CStringGetTextDatum(f->kind);
	args[4] = CStringGetTextDatum(f->status);
	args[5] = Int64GetDatum(f->amount);
	args[6] = CStringGetTextDatum(f->currency);
	if (f->payload != NULL)
		args[7] = JsonbPGetDatum(f->payload);
	else
		nulls[7] = 'n';
	args[8] = CStringGetTextDatum(d->outcome);
	if (d->has_state)
		args[9] = CStringGetTextDatum(OrderStateName(d->final_state));
	else
		nulls[9] = 'n';
	args[10] = BoolGetDatum(applied);
	args[11] = CStringGetTextDatum(f->source);
	args[12] = BoolGetDatum(d->review);
	PayconsExecPlan(&callbacks_insert, args, nulls, 0);
	if (SPI_processed == 0)
		return false;
	*received_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
													 SPI_tuptable->tupdesc,
													 1, &null));
	return true;
}

/*
 * Steps 2 to 4 for the first delivery of a key: the order as step 1 read it
 * is in tup/desc from column LK_ORDER on (NULL columns: no order).
 */
static void
callbacks_first_delivery(const CallbackFacts *f, HeapTuple tup, TupleDesc desc,
						 CallbackResult *r, MemoryContext caller)
{
	Datum		values[6];
	bool		isnull;
	CallbackOrder order;
	CallbackDecision d;
	TransactionId xmin = InvalidTransactionId;
	bool		found;
	bool		want_update;
	bool		still_valid;
	int			next_step = 0;

	memset(&order, 0, sizeof(order));

	/* decide on the order as read (optimistically: checked in step 3) */
	found = callbacks_read_order(tup, desc, LK_ORDER, &order, &xmin);
	if (found)
		callbacks_check_foreign_refund(f, &order);
	PayconsCallbackDecide(f, found, &order, &d);
	want_update = d.nsteps > 0 || d.write_order;

	/* 2. the inbox row: only the first delivery of this key writes it */
	if (!callbacks_insert_inbox(f, &d, want_update || d.refund_reason != NULL,
								&r->first_seen))
	{
		/*
		 * Another delivery of this key committed after step 1 (we waited
		 * for it on the primary key).  Nothing is written: answer as a
		 * replay of what it stored.
		 */
		values[0] = CStringGetTextDatum(f->channel);
		values[1] = CStringGetTextDatum(f->txn_id);
		PayconsExecPlan(&callbacks_select, values, NULL, 1);
		if (SPI_processed != 1)
			elog(ERROR, "callback \"%s\" of channel \"%s\" conflicted on insert but cannot be read",
				 f->txn_id, f->channel);
		callbacks_answer_stored(f, SPI_tuptable->vals[0],
								SPI_tuptable->tupdesc, 1, r, caller);
		return;
	}
	r->has_first_seen = true;

	/* 3. the first change, if the order is still what step 1 read */
	if (want_update)
		still_valid = callbacks_update_order_row(f, &d,
												 d.nsteps > 0 ? d.steps[0] : order.state,
												 xmin);
	else
	{
		TransactionId now_xmin = InvalidTransactionId;

		values[0] = CStringGetTextDatum(f->order_id);
		PayconsExecPlan(&callbacks_check_order, values, NULL, 1);
		if (SPI_processed == 1)
			now_xmin = DatumGetTransactionId(callbacks_col(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc,
														   1, &isnull));
		still_valid = found ? TransactionIdEquals(now_xmin, xmin) :
			!TransactionIdIsValid(now_xmin);
	}

	if (still_valid)
		next_step = 1;			/* steps[0] (if any) is done */
	else
	{
		/*
		 * The order changed between step 1 and step 3 (a concurrent close,
		 * another notice, ...).  The inbox row is ours, so no other
		 * delivery of this key can be deciding: lock the order, decide
		 * again on what it is now, and correct the inbox row.
		 */
		values[0] = CStringGetTextDatum(f->order_id);
		PayconsExecPlan(&callbacks_lock_order, values, NULL, 1);
		found = SPI_processed == 1 &&
			callbacks_read_order(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								 1, &order, &xmin);
		if (found)
			callbacks_check_foreign_refund(f, &order);
		PayconsCallbackDecide(f, found, &order, &d);

		values[0] = CStringGetTextDatum(f->channel);
		values[1] = CStringGetTextDatum(f->txn_id);
		values[2] = CStringGetTextDatum(d.outcome);
		values[3] = d.has_state ?
			CStringGetTextDatum(OrderStateName(d.final_state)) : (Datum) 0;
		values[4] = BoolGetDatum(d.nsteps > 0 || d.write_order ||
								 d.refund_reason != NULL);
		values[5] = BoolGetDatum(d.review);
		PayconsExecPlan(&callbacks_redecide, values,
						d.has_state ? NULL : "   n  ", 0);
		if (SPI_processed != 1)
			elog(ERROR, "could not correct callback \"%s\" of channel \"%s\"",
				 f->txn_id, f->channel);

		if (d.nsteps == 0 && d.write_order)
			callbacks_update_order_row(f, &d, order.state, InvalidTransactionId);
	}

	/* 4. the remaining state changes: each one legal edge, recorded */
	for (int i = next_step; i < d.nsteps; i++)
		callbacks_update_order_row(f, &d, d.steps[i], InvalidTransactionId);

	if (d.refund_reason != NULL)
		callbacks_enqueue_refund_of(f, d.refund_reason);

	r->outcome = d.outcome;
	r->has_state = d.has_state;
	r->state = d.final_state;
	r->duplicate = false;
}

/* Work of PayconsApplyCallback */
typedef struct CallbacksWork
{
	const CallbackFacts *f;
	bool		verify_signature;
	CallbackResult *r;
} CallbacksWork;

/*
 * The body of apply_callback, connected to SPI and running as the owner.
 * Strings placed in *r are allocated in "caller".
 */
static void
callbacks_apply_work(void *arg, MemoryContext caller)
{
	CallbacksWork *w = (CallbacksWork *) arg;
	const CallbackFacts *f = w->f;
	CallbackResult *r = w->r;
	Datum		values[3];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	/* 1. the channel, the stored delivery if any, else the order */
	values[0] = CStringGetTextDatum(f->channel);
	values[1] = CStringGetTextDatum(f->txn_id);
	values[2] = CStringGetTextDatum(f->order_id);
	PayconsExecPlan(&callbacks_lookup, values, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_UNKNOWN_CHANNEL),
				 errmsg("payment channel \"%s\" is not registered", f->channel),
				 errhint("Register it with paycons.set_channel().")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	if (w->verify_signature)
	{
		const char *why = callbacks_check_signature(f, tup, desc);

		if (why != NULL)
		{
			r->ack = callbacks_text_col(tup, desc, LK_NACK, caller);
			callbacks_refuse_signature(f, why, r);
			return;
		}
	}
	r->ack = callbacks_text_col(tup, desc, LK_ACK, caller);

	(void) callbacks_col(tup, desc, LK_STORED, &isnull);
	if (!isnull)
		callbacks_answer_stored(f, tup, desc, LK_STORED, r, caller);
	else
		callbacks_first_delivery(f, tup, desc, r, caller);
}

/*
 * Apply the checked facts of one delivery (see callbacks.h).  The protocol
 * depends on READ COMMITTED (see the file header).
 */
void
PayconsApplyCallback(const CallbackFacts *f, bool verify_signature,
					 CallbackResult *r, const char *fname)
{
	CallbacksWork w;

	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_CALLBACK_ISOLATION),
				 errmsg("%s must run at isolation level READ COMMITTED", fname),
				 errdetail("The current transaction uses %s.",
						   IsolationIsSerializable() ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errhint("Run the callback in its own READ COMMITTED transaction; it makes concurrent deliveries safe by itself.")));

	memset(r, 0, sizeof(*r));
	w.f = f;
	w.verify_signature = verify_signature;
	w.r = r;
	PayconsAsOwner(psprintf("%s %s %s", f->source, f->channel, f->txn_id),
				   callbacks_apply_work, &w);
}

/*
 * For apply_notification (callbacks.h): facts verified by a channel
 * protocol take the apply path without the HMAC check of a signature
 * argument.
 */
void
PayconsApplyVerifiedFacts(const char *channel, const char *txn_id,
						  const char *order_id, const char *kind,
						  const char *status, int64 amount,
						  const char *currency, Jsonb *payload,
						  const char *source, CallbackResult *r)
{
	CallbackFacts f;

	memset(&f, 0, sizeof(f));
	f.channel = pstrdup(channel);
	f.txn_id = pstrdup(txn_id);
	f.order_id = pstrdup(order_id);
	f.refund = strcmp(kind, "refund") == 0;
	f.kind = f.refund ? "refund" : "payment";
	f.success = strcmp(status, "success") == 0;
	f.status = f.success ? "success" : "failed";
	f.amount = amount;
	f.currency = pstrdup(currency);
	f.payload = payload;
	f.source = source;
	PayconsApplyCallback(&f, false, r, "paycons.apply_notification()");
}
