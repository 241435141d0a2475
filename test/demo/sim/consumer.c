/*-------------------------------------------------------------------------
 *
 * consumer.c
 *	  The shop's outbox consumer: LISTEN paycons_outbox, claim a batch,
 *	  act on each event, acknowledge (recording every delivered event in
 *	  the shop's own table in the same transaction), or give an event
 *	  back with outbox_nack when a downstream service fails.
 *
 * What it acts on:
 *	  payment.query   asks the channel; a payment the channel has is fed
 *					  back through apply_callback(..., source => 'query')
 *	  refund.request  calls the channel's refund API; Alipay answers at once
 *					  (fed back through apply_callback, keyed by the refund
 *					  request number the Alipay bill lists), WeChat Pay
 *					  answers with a notification; a refused attempt is
 *					  reported with complete_compensation(id, false, ...)
 *	  refund.query	  feeds back the refunds the channel has
 *	  order.closed	  (the demo's customers who pay too late pay now)
 *	  order.paid	  (the demo's customers who send goods back ask now)
 *	  order.refunded  gives back stock still reserved (see README: an
 *					  order refunded out of needs_review keeps it otherwise)
 *
 * IDENTIFICATION
 *	  test/demo/sim/consumer.c
 *
 *-------------------------------------------------------------------------
 */
#include "sim.h"

#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#define BATCH 500

static const char *claim_sql =
"SELECT id, event_type, aggregate_id, attempts,"
"       (payload->>'compensation_id'), (payload->>'attempt'),"
"       (payload->'args'->>'amount'), (payload->'args'->>'channel_txn_id')"
"  FROM paycons.outbox_claim('shop', $1::int, '30 seconds')";

static const char *ack_sql =
"INSERT INTO shop.delivered_events (id, event_type, aggregate_id, attempts)"
" SELECT u.id, u.event_type, u.aggregate_id, u.attempts"
"   FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[]) AS u(id, event_type, aggregate_id, attempts)"
"  WHERE (SELECT paycons.outbox_ack($1::bigint[])) IS NOT NULL"
" ON CONFLICT (id) DO NOTHING";

/* the channel's answer, fed back as a fact established by the shop */
static const char *answer_sql =
"WITH c AS (SELECT * FROM paycons.apply_callback($1, $2, $3, $4, 'success', $5::bigint, 'CNY',"
"                                               $6::jsonb, source => 'query')),"
"     l AS (INSERT INTO shop.payment_log (via, channel, outcome, duplicate, order_id, channel_txn_id)"
"           SELECT $7, $1, c.outcome, c.duplicate, $3, $2 FROM c)"
" SELECT outcome FROM c";

typedef struct Consumer
{
	PGconn	   *conn;
	Rng			rng;
	/* the acknowledgements of this batch */
	char	   *ids,
			   *types,
			   *aggs,
			   *atts;
	size_t		ids_len,
				types_len,
				aggs_len,
				atts_len;
	int			nack;
} Consumer;

static Order *
order_of(const char *order_id)
{
	int			idx;

	if (strncmp(order_id, "SO-", 3) != 0)
		return NULL;
	idx = atoi(order_id + 3) - 1;
	if (idx < 0 || idx >= world.norders || strcmp(world.orders[idx].id, order_id) != 0)
		return NULL;
	return &world.orders[idx];
}

/* append to a text[] literal, quoting every element */
static void
arr_add(char **arr, size_t *len, const char *v)
{
	size_t		need = *len + 2 * strlen(v) + 8;
	char	   *p;

	*arr = realloc(*arr, need + 2);
	if (!*arr)
		die("out of memory");
	p = *arr + *len;
	*p++ = *len ? ',' : '{';
	*p++ = '"';
	for (; *v; v++)
	{
		if (*v == '"' || *v == '\\')
			*p++ = '\\';
		*p++ = *v;
	}
	*p++ = '"';
	*p = '\0';
	*len = p - *arr;
}

static void
arr_close(char **arr, size_t *len)
{
	if (*len == 0)
		arr_add(arr, len, "");	/* never used empty */
	(*arr)[(*len)++] = '}';
	(*arr)[*len] = '\0';
}

static void
feed_back(Consumer *c, Order *o, const char *kind, const char *txn, int64_t amount,
		  const char *payload, const char *via)
{
	char		amt[32];
	PGresult   *res;

	snprintf(amt, sizeof(amt), "%lld", (long long) amount);
	res = exec_retry(c->conn, "answer", true, 7,
					 (const char *[]) {CHANNEL_NAME(o->ch), txn, o->id, kind, amt, payload, via});
	exec_ok(c->conn, res, PGRES_TUPLES_OK, "apply the channel's answer");
}

static bool
nack(Consumer *c, const char *id, const char *error)
{
	PGresult   *res = exec_retry(c->conn,
								 "SELECT status FROM paycons.outbox_nack($1::bigint, $2, '300 milliseconds')",
								 false, 2, (const char *[]) {id, error});

	exec_ok(c->conn, res, PGRES_TUPLES_OK, "outbox_nack");
	c->nack++;
	return false;
}

/* payment.query: ask the channel, feed back what it says */
static bool
on_payment_query(Consumer *c, Order *o, const char *id)
{
	char		txn[40],
				payload[160];
	int64_t		amount;
	const char *state;

	if (rng_unif(&c->rng) < 0.10)
		return nack(c, id, o->ch == CH_WECHAT ? "query order API: SYSTEMERROR, try again"
					: "alipay.trade.query: ACQ.SYSTEM_ERROR");
	if (channel_query(o, txn, sizeof(txn), &amount, &state))
	{
		snprintf(payload, sizeof(payload), "{\"api\": \"%s\", \"trade_state\": \"%s\"}",
				 o->ch == CH_WECHAT ? "v3/pay/transactions/out-trade-no" : "alipay.trade.query", state);
		feed_back(c, o, "payment", txn, amount, payload, "query");
	}
	return true;				/* NOTPAY: nothing to report */
}

/* refund.request: call the channel's refund API */
static bool
on_refund_request(Consumer *c, Order *o, const char *id, const char *comp, const char *attempt,
				  const char *amount, const char *pay_txn)
{
	Refund	   *r;
	int			rc;

	if (!comp || !attempt || !amount)
		die("refund.request %s without compensation_id, attempt or amount", id);
	rc = channel_refund(o, atol(comp), atoi(attempt), atoll(amount), pay_txn, &r);
	if (rc == 1)
	{
		char		payload[200];

		snprintf(payload, sizeof(payload),
				 "{\"api\": \"alipay.trade.refund\", \"fund_change\": \"Y\", \"trade_no\": \"%s\"}", o->txn);
		feed_back(c, o, "refund", r->request_no, r->amount, payload, "refund_api");
		channel_refund_notify_later(o, r);
	}
	else if (rc < 0)
	{
		PGresult   *res = exec_retry(c->conn,
									 "SELECT state FROM paycons.complete_compensation($1::bigint, false, $2)",
									 false, 2, (const char *[]) {comp, "alipay.trade.refund: ACQ.SYSTEM_ERROR"});

		exec_ok(c->conn, res, PGRES_TUPLES_OK, "complete_compensation(false)");
	}
	return true;
}

/* refund.query: the channel's refunds of the order, fed back */
static bool
on_refund_query(Consumer *c, Order *o)
{
	int			i;

	for (i = 0; i < o->nrefunds; i++)
	{
		Refund	   *r = &o->refunds[i];

		if (!r->ok)
			continue;
		if (o->ch == CH_ALIPAY)
			feed_back(c, o, "refund", r->request_no, r->amount,
					  "{\"api\": \"alipay.trade.fastpay.refund.query\"}", "query");
		else
			feed_back(c, o, "refund", r->refund_id, r->amount,
					  "{\"api\": \"v3/refund/domestic/refunds\"}", "query");
	}
	return true;
}

/* handle one event; true: acknowledge it */
static bool
handle(Consumer *c, PGresult *res, int row)
{
	const char *id = PQgetvalue(res, row, 0);
	const char *type = PQgetvalue(res, row, 1);
	const char *agg = PQgetvalue(res, row, 2);
	int			attempts = atoi(PQgetvalue(res, row, 3));
	Order	   *o = order_of(agg);

	/* a downstream service (warehouse, points) is briefly unavailable */
	if (attempts == 1 && rng_unif(&c->rng) < 0.02)
		return nack(c, id, "warehouse service: HTTP 503");
	if (o == NULL)
		return true;
	if (strcmp(type, "payment.query") == 0)
		return on_payment_query(c, o, id);
	if (strcmp(type, "refund.request") == 0)
		return on_refund_request(c, o, id,
								 PQgetisnull(res, row, 4) ? NULL : PQgetvalue(res, row, 4),
								 PQgetisnull(res, row, 5) ? NULL : PQgetvalue(res, row, 5),
								 PQgetisnull(res, row, 6) ? NULL : PQgetvalue(res, row, 6),
								 PQgetvalue(res, row, 7));
	if (strcmp(type, "refund.query") == 0)
		return on_refund_query(c, o);
	if (strcmp(type, "order.closed") == 0)
		customer_pays_late(o);
	else if (strcmp(type, "order.paid") == 0)
		shop_plans_refund(o);
	else if (strcmp(type, "order.refunded") == 0)
	{
		PGresult   *r = exec_retry(c->conn, "SELECT paycons.release_stock($1)", false, 1,
								   (const char *[]) {agg});

		exec_ok(c->conn, r, PGRES_TUPLES_OK, "release_stock");
	}
	return true;
}

static void
wait_for_notify(PGconn *conn, double seconds)
{
	int			sock = PQsocket(conn);
	fd_set		fds;
	struct timeval tv;
	PGnotify   *n;

	FD_ZERO(&fds);
	FD_SET(sock, &fds);
	tv.tv_sec = 0;
	tv.tv_usec = (long) (seconds * 1e6);
	if (select(sock + 1, &fds, NULL, NULL, &tv) > 0)
		PQconsumeInput(conn);
	while ((n = PQnotifies(conn)) != NULL)
		PQfreemem(n);
}

void *
consumer_main(void *arg)
{
	Consumer	c = {0};
	PGresult   *res;
	char		batch[16];

	(void) arg;
	c.conn = connect_as("shop_consumer");
	c.rng.s = params.seed * 31337 + 17;
	exec_ok(c.conn, PQexec(c.conn, "LISTEN paycons_outbox"), PGRES_COMMAND_OK, "LISTEN");
	exec_ok(c.conn, PQprepare(c.conn, "claim", claim_sql, 1, NULL), PGRES_COMMAND_OK, "prepare claim");
	exec_ok(c.conn, PQprepare(c.conn, "ack", ack_sql, 4, NULL), PGRES_COMMAND_OK, "prepare ack");
	exec_ok(c.conn, PQprepare(c.conn, "answer", answer_sql, 7, NULL), PGRES_COMMAND_OK, "prepare answer");
	snprintf(batch, sizeof(batch), "%d", BATCH);

	for (;;)
	{
		int			i,
					n,
					acks = 0;
		bool		stop;

		pthread_mutex_lock(&world.lock);
		stop = world.stop;
		pthread_mutex_unlock(&world.lock);
		if (stop)
			break;

		res = PQexecPrepared(c.conn, "claim", 1, (const char *[]) {batch}, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			fprintf(stderr, "\nconsumer: claim failed: %s", PQerrorMessage(c.conn));
			PQclear(res);
			wait_for_notify(c.conn, 0.2);
			continue;
		}
		n = PQntuples(res);
		c.ids_len = c.types_len = c.aggs_len = c.atts_len = 0;
		for (i = 0; i < n; i++)
		{
			if (!handle(&c, res, i))
				continue;
			arr_add(&c.ids, &c.ids_len, PQgetvalue(res, i, 0));
			arr_add(&c.types, &c.types_len, PQgetvalue(res, i, 1));
			arr_add(&c.aggs, &c.aggs_len, PQgetvalue(res, i, 2));
			arr_add(&c.atts, &c.atts_len, PQgetvalue(res, i, 3));
			acks++;
		}
		PQclear(res);
		if (acks > 0)
		{
			arr_close(&c.ids, &c.ids_len);
			arr_close(&c.types, &c.types_len);
			arr_close(&c.aggs, &c.aggs_len);
			arr_close(&c.atts, &c.atts_len);
			res = exec_retry(c.conn, "ack", true, 4, (const char *[]) {c.ids, c.types, c.aggs, c.atts});
			exec_ok(c.conn, res, PGRES_COMMAND_OK, "outbox_ack");
		}
		if (n == 0)
			wait_for_notify(c.conn, 0.1);
	}
	PQfinish(c.conn);
	return NULL;
}
