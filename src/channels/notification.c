/*-------------------------------------------------------------------------
 *
 * notification.c
 *	  paycons.apply_notification(channel, body, headers): one call per real
 *	  webhook.  The channel's protocol verifies the notification (RSA
 *	  signature, HMAC), decrypts it where the channel encrypts, and reads the
 *	  facts from the verified body only; then the facts take apply_callback's
 *	  exactly-once path (callbacks.c, PayconsApplyVerifiedFacts): the same
 *	  inbox, outcomes and races.
 *
 * One call:
 *	1. as the extension owner, reads the channel's settings and its active
 *	   keys (paycons.channels, paycons.channel_keys: readable by the owner
 *	   only);
 *	2. verifies, decrypts and parses (notice_verify.c) with the protocol's
 *	   plain C functions (alipay.c, wechatpay.c, stripe.c, adyen.c,
 *	   generic.c; crypto.c for OpenSSL, signature.c for HMAC) -- a notification that fails
 *	   verification or decryption is answered bad_signature, counted on the
 *	   channel, and nothing else is written; a verified body that cannot be
 *	   parsed, or states an impossible amount or currency, is an error with
 *	   its own SQLSTATE (PC120-PC125), nothing written;
 *	3. events that are no payment or refund fact are answered "ignored"
 *	   with the channel's ack, writing nothing (no inbox row: the inbox
 *	   holds money facts, and an ignored event is idempotent by writing
 *	   nothing);
 *	4. a cumulative refund (a channel stating the total refunded so far) is
 *	   turned into the part not yet recorded on the order, under a
 *	   transaction-level advisory lock per channel and order;
 *	5. applies the facts through apply_callback's path.
 *
 * IDENTIFICATION
 *	  src/channels/notification.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "as_owner.h"
#include "callbacks.h"
#include "errcodes.h"
#include "spi_plans.h"
#include "validate.h"
#include "notice_verify.h"
#include "notification.h"

PG_FUNCTION_INFO_V1(paycons_apply_notification);

/* Classid of the advisory locks that serialise cumulative refunds */
#define NOTIFY_REFUND_LOCK_CLASS 1885430378		/* 'pcrj' */


/* The answer */
typedef struct NotifyResult
{
	CallbackResult cb;
	int			ack_status;
	char	   *ack_body;
	char	   *order_id;
	char	   *txn_id;
} NotifyResult;

/* Work handed to PayconsAsOwner */
typedef struct NotifyWork
{
	NotifyChannel *ch;
	/* for the cumulative refund adjustment */
	const char *txn_key;
	const char *order_id;
	const char *currency;
	int64		total;
	int64		amount;			/* out */
	bool		ignore;			/* out: nothing left to record */
	/* for the bad signature count */
	const char *reason;
	MemoryContext upper;
} NotifyWork;

static PayconsPlan notify_channel_plan = {
	"SELECT c.protocol, c.secret, c.signature_format,"
	" pg_catalog.date_part('epoch', c.tolerance), c.ack, c.nack,"
	" c.ack_status, c.nack_status, c.body_format, c.body_fields,"
	" c.signature_header, c.default_currency, c.merchant_id"
	" FROM paycons.channels c"
	" WHERE c.channel OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}, 0, NULL
};

static PayconsPlan notify_keys_plan = {
	"SELECT k.key_id, k.kind, k.key FROM paycons.channel_keys k"
	" WHERE k.channel OPERATOR(pg_catalog.=) $1 AND k.retired_at IS NULL"
	" ORDER BY k.created_at DESC, k.key_id LIMIT 16",
	1, {TEXTOID}, 0, NULL
};

static PayconsPlan notify_count_bad_signature = {
	"UPDATE paycons.channels"
	" SET bad_signatures = bad_signatures OPERATOR(pg_catalog.+) 1,"
	" last_bad_signature_at = pg_catalog.now(),"
	" last_bad_signature_reason = $2"
	" WHERE channel OPERATOR(pg_catalog.=) $1",
	2, {TEXTOID, TEXTOID}, 0, NULL
};

static PayconsPlan notify_refund_lock = {
	"SELECT pg_catalog.pg_advisory_xact_lock(" CppAsString2(NOTIFY_REFUND_LOCK_CLASS) ","
	" pg_catalog.hashtext($1 OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) $2))",
	2, {TEXTOID, TEXTOID}, 0, NULL
};

static PayconsPlan notify_stored_amount = {
	"SELECT amount FROM paycons.callbacks"
	" WHERE channel OPERATOR(pg_catalog.=) $1"
	" AND channel_txn_id OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}, 0, NULL
};

static PayconsPlan notify_order_refunded = {
	"SELECT refunded_amount, currency FROM paycons.orders"
	" WHERE order_id OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}, 0, NULL
};

/* palloc for the parsers */
static void *
notify_alloc(void *ctx, size_t size)
{
	return palloc(size);
}

/* A text column as a C string in cxt, or NULL */
static char *
notify_text_col(HeapTuple tup, TupleDesc desc, int col, MemoryContext cxt)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	if (isnull)
		return NULL;
	return MemoryContextStrdup(cxt, TextDatumGetCString(d));
}

/* A bytea column copied into cxt, or NULL */
static uint8 *
notify_bytea_col(HeapTuple tup, TupleDesc desc, int col, MemoryContext cxt,
				 size_t *len)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	bytea	   *b;
	uint8	   *copy;

	*len = 0;
	if (isnull)
		return NULL;
	b = DatumGetByteaPP(d);
	*len = VARSIZE_ANY_EXHDR(b);
	copy = MemoryContextAlloc(cxt, *len + 1);
	memcpy(copy, VARDATA_ANY(b), *len);
	return copy;
}

/* Step 1: the channel and its keys (connected to SPI, as the owner) */
static void
notify_load_channel(void *warg, MemoryContext caller)
{
	NotifyWork *w = (NotifyWork *) warg;
	NotifyChannel *ch = w->ch;
	Datum		arg = CStringGetTextDatum(ch->name);
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	char	   *protocol;
	Datum		d;

	PayconsExecPlan(&notify_channel_plan, &arg, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_UNKNOWN_CHANNEL),
				 errmsg("payment channel \"%s\" is not registered", ch->name),
				 errhint("Register it with paycons.set_channel().")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	protocol = notify_text_col(tup, desc, 1, w->upper);
	ch->protocol = NP_HMAC;
	for (int i = 0; i < (int) lengthof(NotifyProtocolNames); i++)
		if (strcmp(protocol, NotifyProtocolNames[i]) == 0)
			ch->protocol = (NotifyProtocol) i;
	ch->secret = notify_bytea_col(tup, desc, 2, w->upper, &ch->secretlen);
	ch->signature_format = notify_text_col(tup, desc, 3, w->upper);
	ch->tolerance = DatumGetFloat8(SPI_getbinval(tup, desc, 4, &isnull));
	ch->ack = notify_text_col(tup, desc, 5, w->upper);
	ch->nack = notify_text_col(tup, desc, 6, w->upper);
	ch->ack_status = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
	ch->nack_status = DatumGetInt32(SPI_getbinval(tup, desc, 8, &isnull));
	ch->body_format = notify_text_col(tup, desc, 9, w->upper);
	d = SPI_getbinval(tup, desc, 10, &isnull);
	if (!isnull)
	{
		MemoryContext old = MemoryContextSwitchTo(w->upper);

		ch->body_fields = DatumGetJsonbPCopy(d);
		MemoryContextSwitchTo(old);
	}
	ch->signature_header = notify_text_col(tup, desc, 11, w->upper);
	ch->default_currency = notify_text_col(tup, desc, 12, w->upper);
	ch->merchant_id = notify_text_col(tup, desc, 13, w->upper);

	PayconsExecPlan(&notify_keys_plan, &arg, NULL, NOTIFY_MAX_KEYS);
	ch->nkeys = 0;
	for (uint64 i = 0; i < SPI_processed && ch->nkeys < NOTIFY_MAX_KEYS; i++)
	{
		NotifyKey  *k = &ch->keys[ch->nkeys++];

		tup = SPI_tuptable->vals[i];
		desc = SPI_tuptable->tupdesc;
		k->key_id = notify_text_col(tup, desc, 1, w->upper);
		k->kind = notify_text_col(tup, desc, 2, w->upper);
		k->key = notify_bytea_col(tup, desc, 3, w->upper, &k->keylen);
	}
}

/* Count a refused notification on its channel (as apply_callback does) */
static void
notify_count_bad(void *arg, MemoryContext caller)
{
	NotifyWork *w = (NotifyWork *) arg;
	Datum		values[2];

	values[0] = CStringGetTextDatum(w->ch->name);
	values[1] = CStringGetTextDatum(w->reason);
	PayconsExecPlan(&notify_count_bad_signature, values, NULL, 0);
}

/*
 * Step 4: a cumulative refund (the total refunded so far) becomes the part
 * the order has not recorded yet.  Serialised per channel and order by a
 * transaction-level advisory lock, so that two notices of one payment
 * count its refunds once; each statement after the lock sees what the
 * notice before committed (READ COMMITTED).  A replay of a stored key
 * keeps its stored amount, so that it is answered as a duplicate.
 */
static void
notify_adjust_refund(void *arg, MemoryContext caller)
{
	NotifyWork *w = (NotifyWork *) arg;
	Datum		values[2];
	bool		isnull;

	values[0] = CStringGetTextDatum(w->ch->name);
	values[1] = CStringGetTextDatum(w->order_id);
	PayconsExecPlan(&notify_refund_lock, values, NULL, 0);

	w->amount = w->total;
	w->ignore = false;
	/*
	 * Not read-only: each statement takes a new snapshot, and sees what a
	 * notice we waited for on the lock committed.
	 */
	values[1] = CStringGetTextDatum(w->txn_key);
	PayconsExecPlan(&notify_stored_amount, values, NULL, 1);
	if (SPI_processed == 1)
	{
		w->amount = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1,
												&isnull));
		return;
	}
	values[0] = CStringGetTextDatum(w->order_id);
	PayconsExecPlan(&notify_order_refunded, values, NULL, 1);
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		int64		refunded = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		char	   *currency = SPI_getvalue(tup, desc, 2);

		if (strcmp(currency, w->currency) == 0)
		{
			if (w->total <= refunded)
				w->ignore = true;
			else
				w->amount = w->total - refunded;
		}
	}
}

static Jsonb *
notify_payload(const NotifyChannel *ch, const PayconsNoticeFacts *f, int64 total)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoString(&s, "{\"protocol\": ");
	escape_json(&s, NotifyProtocolNames[ch->protocol]);
	if (f->event_id != NULL)
	{
		appendStringInfoString(&s, ", \"event_id\": ");
		escape_json(&s, pnstrdup(f->event_id, f->event_id_len));
	}
	if (f->event_type != NULL)
	{
		appendStringInfoString(&s, ", \"event_type\": ");
		escape_json(&s, pnstrdup(f->event_type, f->event_type_len));
	}
	if (f->cumulative)
		appendStringInfo(&s, ", \"refunded_total\": " INT64_FORMAT, total);
	appendStringInfoChar(&s, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data)));
}

/* A fact from the body as an identifier, checked as apply_callback checks */
static char *
notify_check_id(const char *s, const char *what, int maxbytes)
{
	pg_verifymbstr(s, strlen(s), false);
	return PayconsCheckId(cstring_to_text(s), what, maxbytes);
}

/*
 * paycons.apply_notification(channel text, body text, headers jsonb)
 *	 -> (outcome, state, duplicate, first_seen_at, ack_status, ack_body,
 *		 order_id, channel_txn_id)
 *
 * See the file header and doc/channels.md.
 */
Datum
paycons_apply_notification(PG_FUNCTION_ARGS)
{
	NotifyChannel ch;
	NotifyWork	w;
	NotifyVerdict v;
	NotifyResult r;
	PayconsArena arena = {notify_alloc, NULL};
	text	   *bodyt;
	const char *body;
	size_t		len;
	Jsonb	   *headers;
	TupleDesc	desc;
	Datum		values[8];
	bool		nulls[8];

	PayconsRequireArg(fcinfo, 0, "channel");
	PayconsRequireArg(fcinfo, 1, "body");
	PayconsRequireArg(fcinfo, 2, "headers");
	memset(&ch, 0, sizeof(ch));
	ch.name = PayconsCheckId(PG_GETARG_TEXT_PP(0), "channel", PAYCONS_MAX_CHANNEL);
	bodyt = PG_GETARG_TEXT_PP(1);
	body = VARDATA_ANY(bodyt);
	len = VARSIZE_ANY_EXHDR(bodyt);
	if (len > NOTIFY_MAX_BODY)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("notification body for channel \"%s\" is too large: %zu bytes",
						ch.name, len),
				 errdetail("The maximum is %d bytes.", NOTIFY_MAX_BODY)));
	headers = PG_GETARG_JSONB_P(2);
	if (!JB_ROOT_IS_OBJECT(headers))
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_NOTIFICATION_HEADERS),
				 errmsg("headers of a notification for channel \"%s\" must be a JSON object",
						ch.name),
				 errhint("Pass the request headers as {\"Name\": \"value\", ...}; '{}' if there are none.")));
	if (VARSIZE(headers) > NOTIFY_MAX_HEADERS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("headers of a notification for channel \"%s\" are too large: %zu bytes",
						ch.name, (size_t) VARSIZE(headers)),
				 errdetail("The maximum is %d bytes.", NOTIFY_MAX_HEADERS)));
	desc = PayconsResultDesc(fcinfo);

	/* 1. the channel and its keys */
	memset(&w, 0, sizeof(w));
	w.ch = &ch;
	w.upper = CurrentMemoryContext;
	PayconsAsOwner(NULL, notify_load_channel, &w);

	memset(&r, 0, sizeof(r));
	r.ack_status = ch.ack_status;
	r.ack_body = ch.ack;

	/* 2. verify, decrypt, parse */
	NotifyVerify(&ch, body, len, headers, &arena, &v);

	/* the notification must be for this channel's merchant, if it names one */
	if (v.kind != NV_BAD_SIGNATURE && ch.merchant_id != NULL &&
		!PayconsChanEq(v.facts.merchant, v.facts.merchant_len, ch.merchant_id) &&
		(v.kind == NV_FACTS || v.facts.merchant != NULL))
	{
		v.kind = NV_BAD_SIGNATURE;
		v.reason = "notification for another merchant account";
	}

	if (v.kind == NV_BAD_SIGNATURE)
	{
		w.reason = v.reason;
		PayconsAsOwner(NULL, notify_count_bad, &w);
		r.cb.outcome = "bad_signature";
		r.ack_status = ch.nack_status;
		r.ack_body = ch.nack;
	}
	else if (v.kind == NV_IGNORED)
		r.cb.outcome = "ignored";
	else
	{
		PayconsNoticeResolved res;
		PayconsChanError err;
		const PayconsNoticeFacts *f = &v.facts;
		char	   *txn_key;
		char	   *order_id;
		int64		amount;

		if (PayconsNoticeResolve(f, ch.default_currency, &arena, &res, &err) != PCH_OK)
			NotifyRaise(&ch, &err);
		txn_key = notify_check_id(res.txn_key, "channel_txn_id", PAYCONS_MAX_TXN_ID);
		order_id = notify_check_id(res.order_id, "order_id", PAYCONS_MAX_ORDER_ID);
		amount = res.amount;

		/* 4. a cumulative refund: the part not recorded yet */
		if (f->cumulative)
		{
			w.txn_key = txn_key;
			w.order_id = order_id;
			w.currency = res.currency;
			w.total = res.amount;
			PayconsAsOwner(NULL, notify_adjust_refund, &w);
			amount = w.amount;
		}
		if (f->cumulative && w.ignore)
		{
			r.cb.outcome = "ignored";
			r.order_id = order_id;
		}
		else
		{
			/* 5. apply_callback's exactly-once path */
			PayconsApplyVerifiedFacts(ch.name, txn_key, order_id,
									  f->kind == PN_REFUND ? "refund" : "payment",
									  f->success ? "success" : "failed",
									  amount, res.currency,
									  notify_payload(&ch, f, res.amount),
									  "callback", &r.cb);
			r.order_id = order_id;
			r.txn_id = txn_key;
		}
	}

	memset(nulls, false, sizeof(nulls));
	values[0] = CStringGetTextDatum(r.cb.outcome);
	if (r.cb.has_state)
		values[1] = OrderStateGetDatum(r.cb.state);
	else
		nulls[1] = true;
	values[2] = BoolGetDatum(r.cb.duplicate);
	if (r.cb.has_first_seen)
		values[3] = TimestampTzGetDatum(r.cb.first_seen);
	else
		nulls[3] = true;
	values[4] = Int32GetDatum(r.ack_status);
	if (r.ack_body != NULL)
		values[5] = CStringGetTextDatum(r.ack_body);
	else
		nulls[5] = true;
	if (r.order_id != NULL)
		values[6] = CStringGetTextDatum(r.order_id);
	else
		nulls[6] = true;
	if (r.txn_id != NULL)
		values[7] = CStringGetTextDatum(r.txn_id);
	else
		nulls[7] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
